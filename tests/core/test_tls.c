/* TLS (rediss://) against Redis's own TLS listener, through both paths of
 * the one TLS implementation: the async adapter (uvredis, tlspipe on the
 * caller's loop) and the sync connect (redis_sync, tlspipe on its thread).
 * Cases: the right CA (commands, a pipelined burst, 3 MiB each way), the
 * wrong CA, an expired certificate, a host name mismatch (and the
 * parameters that relax each check), client certificates required by the
 * server (none, a good one, one by another CA), a plain server, missing
 * files, a handshake that never finishes, a server killed mid-connection.
 * A recording relay proves that nothing reaches the network in clear: not
 * the password, not a command, whether the handshake succeeds or fails. */
#include <errno.h>
#include <poll.h>
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
#include "tls.h"
#include "tls_certs.h"
#include "uvredis.h"

static rfix_certs *certs;

/* Generous: a TLS handshake under valgrind on a loaded machine takes seconds. */
#define CONNECT_MS 20000
/* For the handshakes that never finish: long enough for the TCP connect to
 * be done even under valgrind, so the timeout is the handshake's. */
#define STALL_MS 1000

/* ------------------------------------------------------------ async */

typedef struct actx {
    int connect_status; /* 1: not yet */
    int lost_status;
    int reply_status;
    long long reply_int;
    size_t reply_len;
    int closed;
    char err[512];
} actx;

static void a_connect(uvredis *r, int status, void *data)
{
    actx *c = data;
    c->connect_status = status;
    snprintf(c->err, sizeof c->err, "%s", uvredis_errstr(r));
}

static void a_lost(uvredis *r, int status, void *data)
{
    actx *c = data;
    c->lost_status = status;
    snprintf(c->err, sizeof c->err, "%s", uvredis_errstr(r));
}

static void a_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    actx *c = data;
    c->reply_status = status;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        c->reply_int = reply->integer;
    if (reply && reply->type == REDIS_REPLY_STRING)
        c->reply_len = reply->len;
}

static void a_closed(uvredis *r, void *data)
{
    ((actx *)data)->closed = 1;
}

static void run_until(uv_loop_t *loop, const int *flag)
{
    for (int i = 0; i < 1000000 && *flag == 1; i++)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(*flag != 1);
}

static uvredis *a_open(uv_loop_t *loop, const char *url, actx *c, int connect_timeout)
{
    redis_url u;
    uvredis *r;
    char err[512];
    uvredis_opts o = { .connect_timeout_ms = connect_timeout, .command_timeout_ms = CONNECT_MS,
                       .on_connect = a_connect, .on_lost = a_lost, .data = c };
    memset(c, 0, sizeof *c);
    c->connect_status = c->lost_status = c->reply_status = 1;
    CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
    CHECK_RC(uvredis_new(loop, &u, &o, &r, err, sizeof err), 0);
    redis_url_deinit(&u);
    return r;
}

static void a_close(uv_loop_t *loop, uvredis *r, actx *c)
{
    uvredis_close(r, a_closed, c);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0);
    CHECK(c->closed);
}

/* Connects, and on success runs INCR; returns the connect status, the
 * message in err. */
static int a_try(uv_loop_t *loop, const char *url, char *err, size_t errlen)
{
    actx c;
    uvredis *r = a_open(loop, url, &c, CONNECT_MS);
    run_until(loop, &c.connect_status);
    if (c.connect_status == 0) {
        const char *incr[] = { "INCR", "tls:n" };
        CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, a_reply, &c), 0);
        run_until(loop, &c.reply_status);
        CHECK(c.reply_status == 0 && c.reply_int > 0);
    }
    snprintf(err, errlen, "%s", c.err);
    a_close(loop, r, &c);
    return c.connect_status;
}

/* ------------------------------------------------------------- sync */

static int s_try(const char *url, char *err, size_t errlen)
{
    redis_url u;
    redisContext *c;
    CHECK(redis_url_parse(url, &u, err, errlen) == 0);
    int rc = redis_sync_connect(&u, CONNECT_MS, CONNECT_MS, &c, err, errlen);
    redis_url_deinit(&u);
    if (rc == 0) {
        redisReply *r = redisCommand(c, "INCR tls:n");
        CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0);
        freeReplyObject(r);
        redisFree(c);
    }
    return rc;
}

/* Both paths must agree: same code, a message containing each fragment. */
static void both(uv_loop_t *loop, const char *url, int want, const char *frag1, const char *frag2)
{
    char ea[512] = "", es[512] = "";
    int ra = a_try(loop, url, ea, sizeof ea);
    int rs = s_try(url, es, sizeof es);
    printf("# %s\n#   async %d: %s\n#   sync  %d: %s\n", url, ra, ea, rs, es);
    CHECK(ra == want && rs == want);
    if (frag1)
        CHECK(strstr(ea, frag1) && strstr(es, frag1));
    if (frag2)
        CHECK(strstr(ea, frag2) && strstr(es, frag2));
}

/* ----------------------------------------------------- recording relay */

typedef struct relay {
    int lfd;
    int port;
    int target_port;
    pthread_t th;
    pthread_mutex_t mu;
    unsigned char *seen; /* client -> server bytes */
    size_t nseen;
} relay;

static void *relay_run(void *arg)
{
    relay *r = arg;
    for (;;) {
        int c = accept(r->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->target_port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
            close(c);
            close(s);
            continue;
        }
        struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = s, .events = POLLIN } };
        unsigned char buf[65536];
        for (bool open = true; open;) {
            if (poll(p, 2, -1) < 0)
                break;
            for (int i = 0; i < 2; i++) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
                if (n <= 0) {
                    open = false;
                    break;
                }
                if (i == 0) {
                    pthread_mutex_lock(&r->mu);
                    r->seen = realloc(r->seen, r->nseen + (size_t)n);
                    memcpy(r->seen + r->nseen, buf, (size_t)n);
                    r->nseen += (size_t)n;
                    pthread_mutex_unlock(&r->mu);
                }
                if (send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
                    open = false;
                    break;
                }
            }
        }
        close(c);
        close(s);
    }
}

static void relay_start(relay *r, int target_port)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->target_port = target_port;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(r->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(r->lfd, 8) == 0);
    CHECK(getsockname(r->lfd, (struct sockaddr *)&a, &len) == 0);
    r->port = ntohs(a.sin_port);
    CHECK(pthread_create(&r->th, NULL, relay_run, r) == 0);
}

/* True when the client sent `needle` in clear at any point. */
static bool relay_saw(relay *r, const char *needle)
{
    size_t n = strlen(needle);
    bool found = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i + n <= r->nseen && !found; i++)
        found = memcmp(r->seen + i, needle, n) == 0;
    pthread_mutex_unlock(&r->mu);
    return found;
}

static size_t relay_bytes(relay *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nseen;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void relay_stop(relay *r)
{
    shutdown(r->lfd, SHUT_RDWR);
    close(r->lfd);
    pthread_join(r->th, NULL);
    free(r->seen);
    pthread_mutex_destroy(&r->mu);
}

/* ------------------------------------------------------------- main */

static rfix *tls_server(const char *cert, const char *key, bool auth_clients, const char *const *conf)
{
    rfix_tls t = { .cert = cert, .key = key, .ca = certs->ca, .auth_clients = auth_clients };
    rfix_opts o = { .tls = &t, .conf_lines = conf };
    return ptest_server(&o);
}

int main(void)
{
    uv_loop_t loop;
    char url[2048], err[512];
    int rc = rfix_certs_make(&certs);
    if (rc == 77)
        return 77;
    CHECK(rc == 0);
    CHECK(uv_loop_init(&loop) == 0);
    const char *acl[] = { "user alice on >s3cret-pw ~* &* +@all", NULL };
    rfix *good = tls_server(certs->server, certs->server_key, false, acl);
    rfix *expired = tls_server(certs->expired, certs->expired_key, false, NULL);
    rfix *other = tls_server(certs->other, certs->other_key, false, NULL);
    rfix *mtls = tls_server(certs->server, certs->server_key, true, NULL);
    rfix *plain = ptest_server(&(rfix_opts){ .tcp = true });
    int gp = rfix_port(good);

    /* The right CA: both paths connect, AUTH and SELECT go through TLS. */
    snprintf(url, sizeof url, "rediss://alice:s3cret-pw@127.0.0.1:%d/2?ssl_ca_certs=%s", gp, certs->ca);
    both(&loop, url, 0, NULL, NULL);
    snprintf(url, sizeof url, "rediss://localhost:%d?ssl_ca_certs=%s", gp, certs->ca);
    both(&loop, url, 0, NULL, NULL); /* by name: SNI and the DNS name check */

    /* A pipelined burst and 3 MiB each way through the async pump. */
    {
        actx c;
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", gp, certs->ca);
        uvredis *r = a_open(&loop, url, &c, CONNECT_MS);
        run_until(&loop, &c.connect_status);
        CHECK(c.connect_status == 0);
        const char *del[] = { "DEL", "tls:burst" };
        CHECK_RC(uvredis_command_argv(r, 2, del, NULL, a_reply, &c), 0);
        run_until(&loop, &c.reply_status);
        const char *incr[] = { "INCR", "tls:burst" };
        for (int i = 0; i < 5000; i++)
            CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, NULL, NULL), 0);
        c.reply_status = 1;
        CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, a_reply, &c), 0);
        run_until(&loop, &c.reply_status);
        CHECK(c.reply_status == 0 && c.reply_int == 5001);
        size_t big_len = 3u << 20; /* three times the pump's buffer bound, in each direction */
        char *big = malloc(big_len);
        CHECK(big != NULL);
        memset(big, 'x', big_len);
        const char *set[] = { "SET", "tls:big", big };
        size_t set_lens[] = { 3, 7, big_len };
        c.reply_status = 1;
        CHECK_RC(uvredis_command_argv(r, 3, set, set_lens, a_reply, &c), 0);
        free(big);
        run_until(&loop, &c.reply_status);
        CHECK(c.reply_status == 0);
        const char *get[] = { "GET", "tls:big" };
        c.reply_status = 1;
        CHECK_RC(uvredis_command_argv(r, 2, get, NULL, a_reply, &c), 0);
        run_until(&loop, &c.reply_status);
        CHECK(c.reply_status == 0 && c.reply_len == big_len);
        a_close(&loop, r, &c);
        /* the same 3 MiB back through the sync path */
        redis_url u;
        redisContext *sc;
        CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
        CHECK_RC(redis_sync_connect(&u, CONNECT_MS, CONNECT_MS, &sc, err, sizeof err), 0);
        redis_url_deinit(&u);
        redisReply *rep = redisCommand(sc, "GET tls:big");
        CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && rep->len == big_len);
        freeReplyObject(rep);
        redisFree(sc);
        printf("# 5000 pipelined INCRs and 3 MiB each way over TLS\n");
    }

    /* The wrong CA, an expired certificate, a name mismatch: refused with the reason. */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", gp, certs->wrong_ca);
    both(&loop, url, INVQ_ETLS, "certificate verify failed", "certificate"); /* "self-signed certificate in certificate chain": Redis sends its CA along */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(expired), certs->ca);
    both(&loop, url, INVQ_ETLS, "certificate verify failed", "certificate has expired");
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(other), certs->ca);
    both(&loop, url, INVQ_ETLS, "certificate verify failed", "IP address mismatch");
    snprintf(url, sizeof url, "rediss://localhost:%d?ssl_ca_certs=%s", rfix_port(other), certs->ca);
    both(&loop, url, INVQ_ETLS, "certificate verify failed", "hostname mismatch");
    /* ... unless the URL relaxes exactly that check */
    snprintf(url, sizeof url, "rediss://localhost:%d?ssl_ca_certs=%s&ssl_check_hostname=false", rfix_port(other),
             certs->ca);
    both(&loop, url, 0, NULL, NULL);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_cert_reqs=none", gp, certs->wrong_ca);
    both(&loop, url, 0, NULL, NULL);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_cert_reqs=none", rfix_port(expired));
    both(&loop, url, 0, NULL, NULL);

    /* Client certificates (--tls-auth-clients yes). */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(mtls), certs->ca);
    both(&loop, url, INVQ_ETLS, "client certificate", "ssl_certfile");
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s",
             rfix_port(mtls), certs->ca, certs->client, certs->client_key);
    both(&loop, url, 0, NULL, NULL);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s",
             rfix_port(mtls), certs->ca, certs->client_bad, certs->client_bad_key);
    both(&loop, url, INVQ_ETLS, "certificate", "ssl_certfile");

    /* A server that does not speak TLS on that port: Redis waits for the end
     * of an inline command that never comes, the handshake times out. */
    {
        actx c;
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(plain), certs->ca);
        uvredis *r = a_open(&loop, url, &c, STALL_MS);
        run_until(&loop, &c.connect_status);
        printf("# plain server: %s\n", c.err);
        CHECK(c.connect_status == INVQ_ETIMEOUT && strstr(c.err, "TLS handshake with") && strstr(c.err, "speak TLS"));
        a_close(&loop, r, &c);
        redis_url u;
        redisContext *sc;
        CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
        CHECK_RC(redis_sync_connect(&u, STALL_MS, STALL_MS, &sc, err, sizeof err), INVQ_ETIMEOUT);
        CHECK(strstr(err, "speak TLS"));
        redis_url_deinit(&u);
    }

    /* TLS files that cannot be used: refused before connecting. */
    {
        redis_url u;
        uvredis *r;
        uvredis_opts o = { .on_connect = a_connect };
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s/none.pem", gp, certs->dir);
        CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
        CHECK_RC(tls_check_files(&u, err, sizeof err), INVQ_ETLS);
        CHECK(strstr(err, "ssl_ca_certs") && strstr(err, "No such file"));
        CHECK_RC(uvredis_new(&loop, &u, &o, &r, err, sizeof err), INVQ_ETLS);
        CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
        redis_url_deinit(&u);
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_certfile=%s&ssl_keyfile=%s", gp, certs->client,
                 certs->server_key);
        CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
        CHECK_RC(tls_check_files(&u, err, sizeof err), INVQ_ETLS);
        CHECK(strstr(err, "is not the key of"));
        redis_url_deinit(&u);
        printf("# unusable files: %s\n", err);
    }

    /* Nothing in clear: through a relay that records what the client sends,
     * a refused handshake and a good session never show the password or a
     * command. */
    {
        relay rl;
        relay_start(&rl, gp);
        snprintf(url, sizeof url, "rediss://alice:s3cret-pw@127.0.0.1:%d?ssl_ca_certs=%s", rl.port, certs->wrong_ca);
        char ea[512];
        CHECK(a_try(&loop, url, ea, sizeof ea) == INVQ_ETLS);
        CHECK(s_try(url, ea, sizeof ea) == INVQ_ETLS);
        /* IP SANs do not match "127.0.0.1"-less hosts: use the right CA now */
        snprintf(url, sizeof url, "rediss://alice:s3cret-pw@127.0.0.1:%d?ssl_ca_certs=%s", rl.port, certs->ca);
        CHECK(a_try(&loop, url, ea, sizeof ea) == 0);
        CHECK(s_try(url, ea, sizeof ea) == 0);
        CHECK(relay_bytes(&rl) > 0);
        CHECK(!relay_saw(&rl, "s3cret-pw") && !relay_saw(&rl, "alice") && !relay_saw(&rl, "AUTH") &&
              !relay_saw(&rl, "INCR") && !relay_saw(&rl, "tls:n") && !relay_saw(&rl, "PING"));
        printf("# relay saw %zu bytes from the client, none in clear\n", relay_bytes(&rl));
        relay_stop(&rl);
    }

    /* A handshake that never finishes (the server is stopped). */
    {
        CHECK(rfix_pause(good) == 0);
        actx c;
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", gp, certs->ca);
        uvredis *r = a_open(&loop, url, &c, STALL_MS);
        run_until(&loop, &c.connect_status);
        printf("# stalled handshake: %s\n", c.err);
        CHECK(c.connect_status == INVQ_ETIMEOUT && strstr(c.err, "TLS handshake with"));
        a_close(&loop, r, &c);
        redis_url u;
        redisContext *sc;
        CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
        CHECK_RC(redis_sync_connect(&u, STALL_MS, STALL_MS, &sc, err, sizeof err), INVQ_ETIMEOUT);
        redis_url_deinit(&u);
        CHECK(rfix_resume(good) == 0);
    }

    /* The server dies under an open connection: the command and the link fail. */
    {
        actx c;
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", gp, certs->ca);
        uvredis *r = a_open(&loop, url, &c, CONNECT_MS);
        run_until(&loop, &c.connect_status);
        CHECK(c.connect_status == 0);
        const char *blpop[] = { "BLPOP", "tls:never", "5" };
        CHECK_RC(uvredis_command_argv(r, 3, blpop, NULL, a_reply, &c), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
        CHECK(rfix_kill(good) == 0);
        run_until(&loop, &c.lost_status);
        printf("# server killed: %s\n", c.err);
        CHECK(c.reply_status == INVQ_EIO && c.lost_status == INVQ_EIO);
        a_close(&loop, r, &c);
    }

    CHECK(uv_loop_close(&loop) == 0);
    rfix_free(good);
    rfix_free(expired);
    rfix_free(other);
    rfix_free(mtls);
    rfix_free(plain);
    rfix_certs_free(certs);
    printf("tls ok\n");
    return 0;
}
