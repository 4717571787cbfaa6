/* libinvq over TLS and Sentinel, sync and async producers:
 * - rediss:// with the CA: jobs are on the queue; the wrong CA: the send
 *   fails with INVQ_ETLS naming the reason, or is spooled when a spool is
 *   configured (nothing is lost, nothing sent unverified); a CA file that
 *   is not there fails invq_producer_new()/invq_async_new() with INVQ_ETLS;
 * - redis-sentinel://: jobs land on the master; through a SENTINEL
 *   FAILOVER every job sent ends up on the new master — the old master,
 *   with min-replicas-to-write 1 as docs advise, refuses what reaches it
 *   (NOREPLICAS), those jobs are spooled and replayed — and the producer
 *   follows the switch by itself (sync: its once-a-second check; async: the
 *   rlink's). */
#include <string.h>

#include <uv.h>

#include <invq/invq.h>

#include "ptest.h"
#include "sentinel_fixture.h"
#include "tls_certs.h"

#define PENDING "invq:{default}:pending"

static rfix_certs *certs;

/* ---- async helpers ---- */

typedef struct acall {
    int status; /* 99: not yet */
} acall;

static void on_sent(invq_async *a, int status, void *data)
{
    ((acall *)data)->status = status;
}

static void on_closed(invq_async *a, void *data)
{
    *(int *)data = 1;
}

static void run_until(uv_loop_t *loop, const int *v)
{
    for (int i = 0; i < 10000000 && *v == 99; i++)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(*v != 99);
}

/* Sends one one-key delete on a; returns the callback's status. */
static int async_send1(uv_loop_t *loop, invq_async *a, const char *key)
{
    invq_job *j = invq_job_new();
    const char *keys[] = { key };
    acall c = { 99 };
    CHECK(invq_job_del(j, (const void *const *)keys, NULL, 1) == 0);
    CHECK_RC(invq_async_send(a, j, on_sent, &c), 0);
    invq_job_free(j);
    run_until(loop, &c.status);
    return c.status;
}

static void async_close(uv_loop_t *loop, invq_async *a)
{
    int closed = 0;
    invq_async_close(a, on_closed, &closed);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0 && closed);
}

static int sync_send1(invq_producer *p, const char *key)
{
    const char *keys[] = { key };
    return invq_delete_keys(p, (const void *const *)keys, NULL, 1);
}

/* ---- a timer so that the loop keeps turning while nothing else runs ---- */
static void on_tick(uv_timer_t *t) {}

static void test_tls(uv_loop_t *loop)
{
    rfix_tls t = { .cert = certs->server, .key = certs->server_key, .ca = certs->ca };
    rfix_opts fo = { .tls = &t };
    rfix *f = ptest_server(&fo);
    char url[2048], err[512];
    invq_options o;
    invq_producer *p;
    invq_async *a;

    /* the right CA: sync and async */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(f), certs->ca);
    invq_options_init(&o);
    o.url = url;
    o.connect_timeout_ms = o.command_timeout_ms = 20000; /* TLS under valgrind on a loaded machine */
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), 0);
    CHECK_RC(sync_send1(p, "tls:1"), INVQ_SENT);
    invq_producer_free(p);
    CHECK_RC(invq_async_new(loop, &o, &a, err, sizeof err), 0);
    CHECK_RC(async_send1(loop, a, "tls:2"), INVQ_SENT);
    async_close(loop, a);
    CHECK(queue_len(f, PENDING) == 2);

    /* the wrong CA: refused with the reason; with a spool, spooled */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(f), certs->wrong_ca);
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), 0);
    CHECK_RC(sync_send1(p, "tls:3"), INVQ_ETLS);
    printf("# sync, wrong CA: %s\n", invq_producer_errstr(p));
    CHECK(strstr(invq_producer_errstr(p), "certificate verify failed"));
    invq_producer_free(p);
    char *dir = make_temp_dir();
    o.spool_dir = dir;
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), 0);
    CHECK_RC(sync_send1(p, "tls:4"), INVQ_SPOOLED);
    invq_producer_free(p);
    char *adir = make_temp_dir(); /* its own spool: empty, so the job waits for the first connect */
    o.spool_dir = adir;
    CHECK_RC(invq_async_new(loop, &o, &a, err, sizeof err), 0);
    CHECK_RC(async_send1(loop, a, "tls:5"), INVQ_SPOOLED);
    printf("# async, wrong CA: %s\n", invq_async_errstr(a));
    CHECK(strstr(invq_async_errstr(a), "certificate verify failed"));
    async_close(loop, a);
    CHECK(queue_len(f, PENDING) == 2); /* nothing went through an unverified connection */
    /* the right CA again: the spool is replayed */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(f), certs->ca);
    o.spool_dir = dir;
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), 0);
    CHECK_RC(invq_flush_spool(p), 0);
    invq_producer_free(p);
    o.spool_dir = adir;
    CHECK_RC(invq_async_new(loop, &o, &a, err, sizeof err), 0);
    int st6 = async_send1(loop, a, "tls:6"); /* queued behind tls:5 when that file was adopted */
    CHECK(st6 == INVQ_SENT || st6 == INVQ_SPOOLED);
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    invq_spool_stats st;
    for (int i = 0; i < 1000000; i++) {
        invq_async_spool_stats(a, &st);
        if (st.pending_jobs == 0 && queue_len(f, PENDING) == 5)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    async_close(loop, a);
    CHECK(queue_len(f, PENDING) == 5);
    o.spool_dir = NULL;
    remove_dir(dir);
    remove_dir(adir);
    free(dir);
    free(adir);

    /* a CA file that is not there */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s/missing.pem", rfix_port(f), certs->dir);
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), INVQ_ETLS);
    CHECK(p == NULL && strstr(err, "ssl_ca_certs") && strstr(err, "No such file"));
    CHECK_RC(invq_async_new(loop, &o, &a, err, sizeof err), INVQ_ETLS);
    rfix_free(f);
    printf("# TLS: sync and async ok\n");
}

static void test_sentinel(uv_loop_t *loop)
{
    sfix *s;
    CHECK(sfix_start(&s, NULL) == 0);
    rfix *m0 = sfix_node(s, 0), *m1 = sfix_node(s, 1);
    char err[512], key[64];
    char *dir = make_temp_dir(), *adir = make_temp_dir();
    invq_options o;
    invq_producer *p;
    invq_async *a;
    invq_options_init(&o);
    o.url = sfix_url(s);
    o.spool_dir = dir;
    o.connect_timeout_ms = o.command_timeout_ms = 20000;
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof err), 0);
    CHECK_RC(sync_send1(p, "s:sync0"), INVQ_SENT);
    o.spool_dir = adir;
    CHECK_RC(invq_async_new(loop, &o, &a, err, sizeof err), 0);
    CHECK_RC(async_send1(loop, a, "s:async0"), INVQ_SENT);
    CHECK(queue_len(m0, PENDING) == 2);

    /* replicated before the failover; then the old master refuses writes
     * once it has no replica */
    CHECK(sfix_wait_replicated(s) == 0);
    redisReply *r = rfix_command(m0, "CONFIG SET min-replicas-to-write 1");
    CHECK(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    CHECK(sfix_failover(s) == 0);

    /* Send until both producers write to the new master; every job must
     * end up there (the spooled ones once replayed). */
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    int sent = 0, spooled = 0, n = 0;
    bool sync_moved = false, async_moved = false;
    for (; n < 100000 && !(sync_moved && async_moved); n++) {
        long long before = queue_len(m1, PENDING);
        snprintf(key, sizeof key, "s:sync%d", n + 1);
        int rc = sync_send1(p, key);
        CHECK(rc == INVQ_SENT || rc == INVQ_SPOOLED);
        sync_moved = rc == INVQ_SENT && queue_len(m1, PENDING) > before;
        sent += rc == INVQ_SENT;
        spooled += rc == INVQ_SPOOLED;
        before = queue_len(m1, PENDING);
        snprintf(key, sizeof key, "s:async%d", n + 1);
        rc = async_send1(loop, a, key);
        CHECK(rc == INVQ_SENT || rc == INVQ_SPOOLED);
        /* a spooled job is replayed before a later one can be confirmed */
        for (int i = 0; i < 1000000 && rc == INVQ_SPOOLED; i++) {
            invq_spool_stats sst;
            invq_async_spool_stats(a, &sst);
            if (sst.pending_jobs == 0)
                break;
            uv_run(loop, UV_RUN_ONCE);
        }
        async_moved = rc == INVQ_SENT && queue_len(m1, PENDING) > before;
        sent += rc == INVQ_SENT;
        spooled += rc == INVQ_SPOOLED;
    }
    CHECK(sync_moved && async_moved);
    /* a send is confirmed only once the spool before it was replayed */
    invq_spool_stats st;
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 0);
    invq_async_spool_stats(a, &st);
    CHECK(st.pending_jobs == 0);
    invq_producer_free(p);
    uv_close((uv_handle_t *)&tick, NULL);
    async_close(loop, a);
    long long on_new = queue_len(m1, PENDING), on_old = queue_len(m0, PENDING);
    printf("# after the failover: %d sends each (%d confirmed, %d spooled); %lld jobs on the new master, %lld on "
           "the old\n", n, sent, spooled, on_new, on_old);
    CHECK(on_new == 2 + 2 * n); /* the two sent before the failover were replicated */
    CHECK(on_old == 2);         /* nothing was accepted by the demoted master */
    remove_dir(dir);
    remove_dir(adir);
    free(dir);
    free(adir);
    sfix_free(s);
}

int main(void)
{
    uv_loop_t loop;
    int rc = rfix_certs_make(&certs);
    if (rc == 77)
        return 77;
    CHECK(rc == 0);
    CHECK(uv_loop_init(&loop) == 0);
    test_tls(&loop);
    test_sentinel(&loop);
    CHECK(uv_loop_close(&loop) == 0);
    rfix_certs_free(certs);
    printf("transport ok\n");
    return 0;
}
