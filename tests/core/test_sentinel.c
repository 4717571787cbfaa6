/* Sentinel URLs against real `redis-server --sentinel` processes: the sync
 * connect finds the master even when the first sentinel listed is dead,
 * sentinels with their own password (sentinel_password),
 * an unknown master name is named in the error, a replica is refused by
 * the ROLE check (sync and uvredis), an rlink follows a SENTINEL FAILOVER
 * to the new master while it runs, all sentinels unreachable is a connect
 * failure that says so, and the same over TLS (rediss-sentinel://). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <uv.h>

#include "error.h"
#include "ptest.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "rlink.h"
#include "sentinel_fixture.h"
#include "tls_certs.h"
#include "uvredis.h"

/* A loopback port nothing listens on. */
static int dead_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);
    return ntohs(a.sin_port);
}

/* Sync connect; returns the port of the node reached (from INFO), 0 on failure (err filled). */
static int sync_port(const char *url, char *err, size_t errlen)
{
    redis_url u;
    redisContext *c;
    CHECK(redis_url_parse(url, &u, err, errlen) == 0);
    int rc = redis_sync_connect(&u, 20000, 20000, &c, err, errlen);
    redis_url_deinit(&u);
    if (rc < 0)
        return 0;
    redisReply *r = redisCommand(c, "INFO server");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING);
    const char *p = strstr(r->str, "tcp_port:");
    int port = p ? atoi(p + 9) : 0;
    if (port == 0 && (p = strstr(r->str, "tls_port:")) != NULL) /* not shown by 7.0: use the config */
        port = atoi(p + 9);
    freeReplyObject(r);
    r = redisCommand(c, "ROLE");
    CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && strcmp(r->element[0]->str, "master") == 0);
    freeReplyObject(r);
    redisFree(c);
    return port ? port : -1;
}

/* ---- rlink ---- */

typedef struct lctx {
    int ups;
    int resets;
    int connect_failures;
    char addr[300];
    char error[600];
    int closed;
} lctx;

static void l_state(rlink *l, bool up, void *data) {}

static void l_event(rlink *l, const rlink_event *ev, void *data)
{
    lctx *c = data;
    if (ev->kind == RLINK_EV_UP) {
        c->ups++;
        snprintf(c->addr, sizeof c->addr, "%s", ev->addr);
    } else if (ev->kind == RLINK_EV_RESET || ev->kind == RLINK_EV_LOST) {
        c->resets++;
        snprintf(c->error, sizeof c->error, "%s", ev->error);
    } else if (ev->kind == RLINK_EV_CONNECT_FAILED) {
        c->connect_failures++;
        snprintf(c->error, sizeof c->error, "%s", ev->error);
    }
}

static void l_closed(rlink *l, void *data)
{
    ((lctx *)data)->closed = 1;
}

static void l_open(rlink *l, uv_loop_t *loop, redis_url *u, const char *url, lctx *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    CHECK(redis_url_parse(url, u, err, sizeof err) == 0);
    rlink_opts o = { .target = "queue", .url = u, .url_text = "test", .connect_timeout_ms = 20000,
                     .command_timeout_ms = 20000, .backoff_base_ms = 20, .backoff_max_ms = 200,
                     .sentinel_check_ms = 100, .on_state = l_state, .on_event = l_event, .data = c };
    CHECK_RC(rlink_init(l, loop, &o), 0);
    rlink_start(l);
}

static void l_close(rlink *l, uv_loop_t *loop, redis_url *u, lctx *c)
{
    rlink_close(l, l_closed, c);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0 && c->closed);
    redis_url_deinit(u);
}

static bool spin_until(uv_loop_t *loop, const int *v, int want, const volatile int *stop)
{
    for (int i = 0; i < 10000000 && *v < want && !(stop && *stop < 0); i++)
        uv_run(loop, UV_RUN_ONCE);
    return *v >= want;
}

typedef struct failover_job {
    sfix *s;
    volatile int done; /* 1 ok, -1 failed */
} failover_job;

static void *run_failover(void *arg)
{
    failover_job *j = arg;
    j->done = sfix_failover(j->s) == 0 ? 1 : -1;
    return NULL;
}

static void on_conn(uvredis *rr, int status, void *data)
{
    *(int *)data = status;
}

/* A timer that keeps the loop turning while another thread works. */
static void on_tick(uv_timer_t *t) {}

int main(void)
{
    uv_loop_t loop;
    uv_timer_t tick;
    char url[1024], err[1024], port_s[32];
    sfix *s;
    int rc = sfix_start(&s, NULL);
    if (rc == RFIX_SKIP)
        return 77;
    CHECK(rc == 0);
    CHECK(uv_loop_init(&loop) == 0);
    int mport = rfix_port(sfix_node(s, 0)), rport = rfix_port(sfix_node(s, 1));
    snprintf(port_s, sizeof port_s, ":%d/", mport);

    /* Sync: the first sentinel listed is dead, the next ones answer. */
    snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%d,%s#%s", dead_port(), sfix_hosts(s), sfix_name(s));
    CHECK(sync_port(url, err, sizeof err) == mport);
    snprintf(url, sizeof url, "redis-sentinel://%s#nosuchmaster", sfix_hosts(s));
    CHECK(sync_port(url, err, sizeof err) == 0);
    printf("# unknown master: %s\n", err);
    CHECK(strstr(err, "does not know a master named 'nosuchmaster'"));

    /* A replica where a master is required: refused by ROLE, sync and async. */
    {
        redis_url su, node;
        snprintf(url, sizeof url, "%s", sfix_url(s));
        CHECK(redis_url_parse(url, &su, err, sizeof err) == 0);
        CHECK(redis_url_node(&su, 0, "127.0.0.1", rport, &node) == 0);
        redisContext *c;
        CHECK_RC(redis_sync_connect(&node, 20000, 20000, &c, err, sizeof err), INVQ_ECONNECT);
        printf("# replica: %s\n", err);
        CHECK(strstr(err, "is not the master (ROLE says slave)"));
        uvredis *r;
        int st = 1;
        uvredis_opts o = { .connect_timeout_ms = 20000, .on_connect = on_conn, .data = &st };
        CHECK_RC(uvredis_new(&loop, &node, &o, &r, err, sizeof err), 0);
        while (st == 1)
            uv_run(&loop, UV_RUN_ONCE);
        CHECK(st == INVQ_ECONNECT && strstr(uvredis_errstr(r), "is not the master"));
        uvredis_close(r, NULL, NULL);
        CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
        redis_url_deinit(&node);
        redis_url_deinit(&su);
    }

    /* rlink: up on the master, follows a SENTINEL FAILOVER while running. */
    {
        rlink l;
        redis_url u;
        lctx c;
        l_open(&l, &loop, &u, sfix_url(s), &c);
        CHECK(spin_until(&loop, &c.ups, 1, NULL));
        printf("# rlink up on %s\n", c.addr);
        CHECK(strstr(c.addr, port_s) != NULL);
        failover_job j = { .s = s };
        pthread_t th;
        uv_timer_init(&loop, &tick);
        uv_timer_start(&tick, on_tick, 10, 10);
        CHECK(pthread_create(&th, NULL, run_failover, &j) == 0);
        CHECK(spin_until(&loop, &c.ups, 2, &j.done));
        pthread_join(th, NULL);
        CHECK(j.done == 1);
        printf("# after the failover: %s (%s)\n", c.addr, c.error);
        snprintf(port_s, sizeof port_s, ":%d/", rport);
        CHECK(strstr(c.addr, port_s) != NULL && c.resets >= 1);
        uv_close((uv_handle_t *)&tick, NULL);
        l_close(&l, &loop, &u, &c);
    }

    /* No sentinel reachable: a connect failure that says so. */
    {
        rlink l;
        redis_url u;
        lctx c;
        snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d#%s", dead_port(), dead_port(),
                 sfix_name(s));
        l_open(&l, &loop, &u, url, &c);
        CHECK(spin_until(&loop, &c.connect_failures, 2, NULL));
        printf("# no sentinel: %s\n", c.error);
        CHECK(strstr(c.error, "no sentinel named master") && strstr(c.error, "refused") && c.ups == 0);
        l_close(&l, &loop, &u, &c);
    }
    sfix_free(s);

    /* Sentinels with a password of their own: sentinel_password, not the
     * master's credentials, authenticates to them. */
    {
        sfix_opts po = { .sentinels = 1, .sentinel_password = "sent-pw" };
        CHECK(sfix_start(&s, &po) == 0);
        snprintf(url, sizeof url, "redis-sentinel://%s?sentinel_password=sent-pw#%s", sfix_hosts(s), sfix_name(s));
        CHECK(sync_port(url, err, sizeof err) == rfix_port(sfix_node(s, 0)));
        rlink l;
        redis_url u;
        lctx c;
        l_open(&l, &loop, &u, url, &c);
        CHECK(spin_until(&loop, &c.ups, 1, NULL));
        l_close(&l, &loop, &u, &c);
        snprintf(url, sizeof url, "redis-sentinel://%s#%s", sfix_hosts(s), sfix_name(s));
        CHECK(sync_port(url, err, sizeof err) == 0);
        printf("# sentinel without its password: %s\n", err);
        CHECK(strstr(err, "NOAUTH") != NULL);
        sfix_free(s);
    }

    /* TLS everywhere: rediss-sentinel:// with the CA as parameter. */
    {
        rfix_certs *certs;
        CHECK(rfix_certs_make(&certs) == 0);
        rfix_tls t = { .cert = certs->server, .key = certs->server_key, .ca = certs->ca };
        sfix_opts so = { .sentinels = 2, .tls = &t };
        CHECK(sfix_start(&s, &so) == 0);
        snprintf(url, sizeof url, "rediss-sentinel://%s?ssl_ca_certs=%s#%s", sfix_hosts(s), certs->ca, sfix_name(s));
        CHECK(sync_port(url, err, sizeof err) != 0);
        rlink l;
        redis_url u;
        lctx c;
        l_open(&l, &loop, &u, url, &c);
        CHECK(spin_until(&loop, &c.ups, 1, NULL));
        printf("# TLS rlink up on %s\n", c.addr);
        CHECK(strncmp(c.addr, "rediss://127.0.0.1:", 19) == 0);
        l_close(&l, &loop, &u, &c);
        snprintf(url, sizeof url, "rediss-sentinel://%s?ssl_ca_certs=%s#%s", sfix_hosts(s), certs->wrong_ca,
                 sfix_name(s));
        CHECK(sync_port(url, err, sizeof err) == 0);
        printf("# TLS wrong CA: %s\n", err);
        CHECK(strstr(err, "certificate verify failed"));
        sfix_free(s);
        rfix_certs_free(certs);
    }

    CHECK(uv_loop_close(&loop) == 0);
    printf("sentinel ok\n");
    return 0;
}
