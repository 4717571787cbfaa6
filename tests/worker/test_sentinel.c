/* invq-worker on redis-sentinel:// URLs (queue and cache both on the
 * Sentinel-managed master) against real redis-server processes: a backlog
 * drains, and a SENTINEL FAILOVER in the middle of the drain loses nothing —
 * on the new master every key is gone, nothing is pending, delayed, in a
 * processing list or dead. To be sure the failover lands mid-drain, the old
 * master's writes are paused (CLIENT PAUSE WRITE) once the drain runs: the
 * batches in flight there never finish, and must be applied again on the
 * new master. Also a Sentinel URL whose first sentinel is dead, and over
 * TLS (rediss-sentinel://). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel_fixture.h"
#include "tls_certs.h"
#include "wtest.h"

typedef struct drain_ctx {
    redisContext *c;
    const char *pattern;
} drain_ctx;

static bool drained(void *ctx)
{
    drain_ctx *d = ctx;
    char key[128];
    return wt_count_keys(d->c, d->pattern) == 0 && wt_llen(d->c, wt_qkey(key, sizeof key, "pending")) == 0 &&
           wt_zcard(d->c, wt_qkey(key, sizeof key, "delayed")) == 0 &&
           wt_count_keys(d->c, "invq:{default}:processing:*") == 0;
}

typedef struct progress_ctx {
    redisContext *c;
    long long want;
} progress_ctx;

static bool some_done(void *ctx)
{
    progress_ctx *p = ctx;
    return wt_stat(p->c, "done") >= p->want;
}

static redisContext *connect_node(rfix *f)
{
    redisContext *c = rfix_connect(f);
    WT_CHECK(c != NULL, "connect to %s", rfix_url(f));
    return c;
}

int main(void)
{
    const char *exe = wt_worker_path();
    (void)exe;
    sfix *s;
    int rc = sfix_start(&s, NULL);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0, "sentinel set");
    rfix *m0 = sfix_node(s, 0), *m1 = sfix_node(s, 1);
    redisContext *c0 = connect_node(m0), *c1 = connect_node(m1);
    char log[512], url[1024];
    snprintf(log, sizeof log, "%s/worker.log", rfix_dir(m0));
    wt_set_log(log);
    const int njobs = wt_under_valgrind() ? 3000 : 30000;

    /* The backlog, replicated before the worker starts. */
    wt_push_dels_bulk(c0, c0, "sf", 0, njobs);
    wt_cmd(c0, "WAIT 1 30000");

    const char *extra[] = { "--batch", "20", "--consumers", "2", "--max-attempts", "1000",
                            "--connect-timeout-ms", "20000", "--command-timeout-ms", "20000", NULL };
    /* TLS under memcheck (the valgrind pass) takes seconds a handshake */
    const char *slow[] = { "--consumers", "1", "--connect-timeout-ms", "60000", "--command-timeout-ms", "60000",
                           NULL };
    wt_proc *w = wt_worker_start(sfix_url(s), sfix_url(s), log, extra);
    WT_CHECK(w != NULL, "worker start");
    progress_ctx p = { c0, 100 };
    WT_CHECK(wt_wait_for(some_done, &p, WT_DEADLINE_MS), "nothing applied on the first master");
    wt_cmd(c0, "CLIENT PAUSE 120000 WRITE");
    char pending[128];
    /* reads go on during the pause: what is left for the new master */
    long long done_before = wt_stat(c0, "done");
    long long left = wt_llen(c0, wt_qkey(pending, sizeof pending, "pending"));
    WT_CHECK(left > 0 && done_before < njobs, "the drain was over before the failover");
    WT_CHECK(sfix_failover(s) == 0, "failover");
    redisFree(c1); /* Sentinel killed the clients of the node it promoted */
    c1 = connect_node(m1);
    wt_note("failover with %lld of %d jobs done and %lld pending when the old master stopped taking writes",
            done_before, njobs, left);
    drain_ctx d = { c1, "sf:*" };
    WT_CHECK(wt_wait_for(drained, &d, WT_DEADLINE_MS), "not drained on the new master: keys %lld, pending %lld",
             wt_count_keys(c1, "sf:*"), wt_llen(c1, pending));
    char dead[128];
    WT_CHECK(wt_llen(c1, wt_qkey(dead, sizeof dead, "dead")) == 0, "dead letters after the failover");
    WT_CHECK(wt_file_contains(log, "Sentinel names"), "the master switch is not in the log");
    WT_CHECK(wt_stat(c1, "done") >= njobs, "done %lld < %d", wt_stat(c1, "done"), njobs);
    wt_cmd(c0, "CLIENT UNPAUSE");
    wt_note("drained on the new master: done %lld, retried %lld; %lld jobs were in flight on the old master and "
            "applied again on the new one", wt_stat(c1, "done"), wt_stat(c1, "retried"), njobs - done_before - left);
    wt_worker_stop(w);

    /* A dead sentinel first in the list: the next one answers. */
    snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:1,%s#%s", sfix_hosts(s), sfix_name(s));
    wt_push_dels_bulk(c1, c1, "sf2", 0, 100);
    w = wt_worker_start(url, NULL, log, slow);
    drain_ctx d2 = { c1, "sf2:*" };
    WT_CHECK(wt_wait_for(drained, &d2, WT_DEADLINE_MS), "not drained with a dead sentinel listed first");
    wt_worker_stop(w);
    wt_set_log(NULL);
    redisFree(c0);
    redisFree(c1);
    sfix_free(s);

    /* Every link over TLS: sentinels, master and replica. */
    rfix_certs *certs;
    WT_CHECK(rfix_certs_make(&certs) == 0, "certificates");
    rfix_tls t = { .cert = certs->server, .key = certs->server_key, .ca = certs->ca };
    sfix_opts so = { .sentinels = 2, .tls = &t };
    WT_CHECK(sfix_start(&s, &so) == 0, "TLS sentinel set");
    c0 = connect_node(sfix_node(s, 0));
    snprintf(log, sizeof log, "%s/worker.log", rfix_dir(sfix_node(s, 0)));
    wt_set_log(log);
    wt_push_dels_bulk(c0, c0, "sf3", 0, 100);
    snprintf(url, sizeof url, "rediss-sentinel://%s?ssl_ca_certs=%s#%s", sfix_hosts(s), certs->ca, sfix_name(s));
    w = wt_worker_start(url, NULL, log, slow);
    drain_ctx d3 = { c0, "sf3:*" };
    WT_CHECK(wt_wait_for(drained, &d3, 3 * WT_DEADLINE_MS), "not drained over rediss-sentinel://");
    wt_worker_stop(w);
    wt_note("rediss-sentinel:// drained");
    redisFree(c0);
    sfix_free(s);
    rfix_certs_free(certs);
    wt_set_log(NULL);
    printf("worker sentinel ok\n");
    return 0;
}
