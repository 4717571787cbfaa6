/* Failover semantics against real servers: an error that says the node is
 * not a writable master (READONLY, LOADING, MASTERDOWN, NOREPLICAS) is a
 * connection problem — the batch is held, the connection dropped and made
 * again, the batch applied again — and uses no attempt. Every worker here
 * runs with --max-attempts 1, so a single attempt used would dead-letter
 * the job at once:
 *  - the fault proxy answers the cache's DEL / INCR with each error;
 *  - the fault proxy answers the queue's scripts (EVALSHA) with them;
 *  - a plain redis:// cache flipped to a replica (REPLICAOF) and back,
 *    with one warning logged for the whole incident;
 *  - a Sentinel cache failed over (SENTINEL FAILOVER) under a steady
 *    stream of jobs.
 * Each checks: nothing dead-lettered, stats.retried 0, every key gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"
#include "sentinel_fixture.h"
#include "wtest.h"


static const char *const strict[] = { "--max-attempts", "1", "--consumers", "2", NULL };

static void check_clean(redisContext *qc, const char *what)
{
    char key[128];
    WT_CHECK(wt_llen(qc, wt_qkey(key, sizeof key, "dead")) == 0, "%s: %lld dead letters", what,
             wt_llen(qc, wt_qkey(key, sizeof key, "dead")));
    WT_CHECK(wt_stat(qc, "dead") == 0, "%s: stats.dead %lld", what, wt_stat(qc, "dead"));
    WT_CHECK(wt_stat(qc, "retried") == 0, "%s: stats.retried %lld: an attempt was used", what,
             wt_stat(qc, "retried"));
}

/* The cache's commands answered with each node error (not forwarded). */
static void test_cache_node_errors(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    faultproxy *fp;
    WT_CHECK(faultproxy_new(&fp, rfix_socket(p.cache), NULL, 0) == 0, "proxy");
    long long done = 0;
    for (size_t i = 0; i < WT_NODE_ERRORS; i++) {
        /* a fresh worker per error: the reconnect backoff of one does not
         * slow the next down (it grows until a connection stays up 5 s) */
        wt_proc *w = wt_worker_start(rfix_url(p.queue), faultproxy_url(fp), p.log, strict);
        WT_CHECK(w != NULL, "worker");
        char key[32], id[32], vkey[32];
        snprintf(key, sizeof key, "fe:%zu", i);
        snprintf(vkey, sizeof vkey, "fe:v:%zu", i);
        snprintf(id, sizeof id, "fe-%zu", i);
        wt_cmd(p.cc, "SET %s x", key);
        wt_cmd(p.cc, "SET %s 7", vkey);
        WT_CHECK(faultproxy_fail_next(fp, "DEL", 2, wt_node_errors[i]) == 0, "rule");
        const char *k[] = { key };
        wt_push1(p.qc, id, JOB_OP_DEL, k, 1, 0);
        WT_CHECK(wt_wait_stat(p.qc, "done", ++done, WT_DEADLINE_MS), "%s: the DEL job was never acknowledged",
                 wt_node_errors[i]);
        WT_CHECK(wt_exists(p.cc, key) == 0, "%s: %s still there", wt_node_errors[i], key);
        WT_CHECK(faultproxy_fail_next(fp, "INCR", 1, wt_node_errors[i]) == 0, "rule");
        const char *v[] = { vkey };
        snprintf(id, sizeof id, "fe-bump-%zu", i);
        wt_push1(p.qc, id, JOB_OP_BUMP, v, 1, 0);
        WT_CHECK(wt_wait_stat(p.qc, "done", ++done, WT_DEADLINE_MS), "%s: the bump job was never acknowledged",
                 wt_node_errors[i]);
        /* the refused INCRs never reached the server: applied exactly once */
        WT_CHECK(wt_get_int(p.cc, vkey) == 8, "%s: %s is %lld, want 8", wt_node_errors[i], vkey,
                 wt_get_int(p.cc, vkey));
        check_clean(p.qc, wt_node_errors[i]);
        wt_note("cache %.*s: held, reconnected, applied; no attempt used", (int)strcspn(wt_node_errors[i], " "),
                wt_node_errors[i]);
        wt_worker_stop(w);
    }
    WT_CHECK(faultproxy_injected(fp) == (long)(WT_NODE_ERRORS * 3), "injected %ld", faultproxy_injected(fp));
    for (size_t i = 0; i < WT_NODE_ERRORS; i++)
        wt_cmd(p.cc, "DEL fe:v:%d", (int)i); /* the version keys stay by design */
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    faultproxy_free(fp);
    wt_pair_stop(&p);
}

/* The queue's scripts answered with each node error: the consumer
 * reconnects and releases its list (nothing lost, no attempt). */
static void test_queue_node_errors(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    faultproxy *fp;
    WT_CHECK(faultproxy_new(&fp, rfix_socket(p.queue), NULL, 0) == 0, "proxy");
    /* one consumer: once a job after the last refusal is done, its queue
     * link is up, and the shutdown can release its list */
    const char *one[] = { "--max-attempts", "1", "--consumers", "1", NULL };
    wt_proc *w = wt_worker_start(faultproxy_url(fp), rfix_url(p.cache), p.log, one);
    WT_CHECK(w != NULL, "worker");
    int n = 0;
    for (size_t i = 0; i < WT_NODE_ERRORS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "fq%zu", i);
        WT_CHECK(faultproxy_fail_next(fp, "EVALSHA", 2, wt_node_errors[i]) == 0, "rule");
        wt_push_dels(p.qc, p.cc, prefix, 0, 50);
        n += 50;
        WT_CHECK(wt_wait_stat(p.qc, "done", n, WT_DEADLINE_MS), "%s: done %lld of %d", wt_node_errors[i],
                 wt_stat(p.qc, "done"), n);
        char pat[32];
        snprintf(pat, sizeof pat, "%s:*", prefix);
        WT_CHECK(wt_count_keys(p.cc, pat) == 0, "%s: keys left", wt_node_errors[i]);
        check_clean(p.qc, wt_node_errors[i]);
        uint64_t t0 = wt_mono_ms();
        while (faultproxy_injected(fp) < (long)(2 * (i + 1)) && wt_mono_ms() - t0 < WT_DEADLINE_MS)
            rfix_sleep_ms(10);
    }
    wt_push_dels(p.qc, p.cc, "fqlast", 0, 1);
    WT_CHECK(wt_wait_stat(p.qc, "done", n + 1, WT_DEADLINE_MS), "the last job was not applied");
    wt_note("queue scripts refused with READONLY/LOADING/MASTERDOWN/NOREPLICAS: %ld refusals, nothing lost",
            faultproxy_injected(fp));
    WT_CHECK(faultproxy_injected(fp) >= (long)WT_NODE_ERRORS, "injected %ld", faultproxy_injected(fp));
    wt_worker_stop(w);
    faultproxy_free(fp);
    wt_pair_stop(&p);
}

static bool cache_empty(void *ctx)
{
    return wt_count_keys(ctx, "fr:*") == 0;
}

/* A plain redis:// cache that becomes a replica (REPLICAOF) while jobs
 * wait, then master again: held, not dead-lettered, one warning. */
static void test_replicaof_flip(void)
{
    rfix_opts tcp = { .tcp = true };
    wt_pair p;
    wt_pair_start(&p, NULL, &tcp);
    rfix *other = wt_server(&tcp);
    redisContext *oc = wt_connect(other);
    wt_cmd(p.cc, "REPLICAOF %s %d", rfix_host(other), rfix_port(other));
    for (int i = 0; i < 200; i++)
        wt_cmd(oc, "SET fr:%d x", i);
    wt_cmd(oc, "WAIT 1 10000");
    WT_CHECK(wt_count_keys(p.cc, "fr:*") == 200, "not replicated");
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, strict);
    WT_CHECK(w != NULL, "worker");
    wt_push_dels(p.qc, NULL, "fr", 0, 200);
    /* the worker meets READONLY: wait until it has, for a while */
    const char *needle[] = { "cache redis connection reset", "READONLY", NULL };
    uint64_t t0 = wt_mono_ms();
    while (wt_file_count(p.log, needle) == 0 && wt_mono_ms() - t0 < WT_DEADLINE_MS)
        rfix_sleep_ms(20);
    WT_CHECK(wt_file_count(p.log, needle) == 1, "READONLY not met");
    /* a few rounds of reconnecting to the replica */
    long long held = wt_count_keys(p.cc, "fr:*");
    rfix_sleep_ms(1500);
    WT_CHECK(wt_stat(p.qc, "done") == 0, "applied on a replica?");
    check_clean(p.qc, "replica");
    wt_cmd(p.cc, "REPLICAOF NO ONE");
    WT_CHECK(wt_wait_for(cache_empty, p.cc, WT_DEADLINE_MS), "keys left after the node became master");
    WT_CHECK(wt_wait_stat(p.qc, "done", 200, WT_DEADLINE_MS), "done %lld", wt_stat(p.qc, "done"));
    check_clean(p.qc, "after REPLICAOF NO ONE");
    int warns = wt_file_count(p.log, needle);
    const char *breaker[] = { "circuit breaker open", "\"warn\"", NULL };
    wt_note("replica for 1.5 s with %lld keys held: %d warning(s) for READONLY, %d breaker warning(s)", held,
            warns, wt_file_count(p.log, breaker));
    WT_CHECK(warns == 1, "%d READONLY warnings: want one per incident", warns);
    WT_CHECK(wt_file_count(p.log, breaker) == 1, "breaker warned %d times", wt_file_count(p.log, breaker));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    wt_worker_stop(w);
    redisFree(oc);
    wt_server_free(other);
    wt_pair_stop(&p);
}

/* A Sentinel cache failed over while jobs keep coming. With WAIT: SENTINEL
 * FAILOVER does not wait for the replica, so a delete the old master had
 * acknowledged but not yet replicated would come back on the new master
 * (worker_wait measures that); --cache-wait-replicas 1 acknowledges only
 * what the replica has. */
static void test_sentinel_failover(void)
{
    sfix *s;
    int rc = sfix_start(&s, NULL);
    if (rc == RFIX_SKIP)
        return;
    WT_CHECK(rc == 0, "sentinel set");
    wt_pair p;
    memset(&p, 0, sizeof p);
    p.queue = wt_server(NULL);
    p.qc = wt_connect(p.queue);
    snprintf(p.log, sizeof p.log, "%s/worker.log", rfix_dir(p.queue));
    wt_set_log(p.log);
    redisContext *m = wt_connect(sfix_master(s));
    const char *extra[] = { "--max-attempts", "1", "--consumers", "2", "--batch", "20", "--cache-wait-replicas", "1",
                            NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), sfix_url(s), p.log, extra);
    WT_CHECK(w != NULL, "worker");
    const int per = wt_under_valgrind() ? 100 : 1000;
    wt_push_dels_bulk(p.qc, m, "fs", 0, per);
    WT_CHECK(sfix_wait_replicated(s) == 0, "replicated");
    WT_CHECK(wt_wait_stat(p.qc, "done", 10, WT_DEADLINE_MS), "nothing applied");
    /* keys on the master that the failover keeps, and jobs for them */
    wt_push_dels_bulk(p.qc, m, "fs", per, 2 * per);
    WT_CHECK(sfix_wait_replicated(s) == 0, "replicated");
    long long before = wt_stat(p.qc, "done");
    WT_CHECK(sfix_failover(s) == 0, "failover");
    redisFree(m);
    m = wt_connect(sfix_master(s));
    wt_push_dels_bulk(p.qc, m, "fs", 2 * per, 3 * per);
    WT_CHECK(wt_wait_stat(p.qc, "done", 3 * per, WT_DEADLINE_MS), "done %lld of %d", wt_stat(p.qc, "done"), 3 * per);
    WT_CHECK(wt_count_keys(m, "fs:*") == 0, "%lld keys left on the new master", wt_count_keys(m, "fs:*"));
    check_clean(p.qc, "sentinel failover");
    wt_note("sentinel failover with %lld of %d jobs done: all applied on the new master, none dead, none retried",
            before, 3 * per);
    wt_worker_stop(w);
    redisFree(m);
    wt_pair_stop(&p);
    sfix_free(s);
}

int main(void)
{
    wt_worker_path();
    test_cache_node_errors();
    test_queue_node_errors();
    test_replicaof_flip();
    test_sentinel_failover();
    printf("worker failover ok\n");
    return 0;
}
