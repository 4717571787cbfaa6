/* Outages: while the cache Redis is down, or hangs past --command-timeout-ms,
 * the worker burns no attempts (no retries, no dead letters) and applies
 * everything once it is back; a queue Redis that restarts (with AOF) is
 * reconnected to and nothing is lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faultproxy.h"
#include "wtest.h"

static const char *const persistent_conf[] = {"appendonly yes", "appendfsync always", NULL};

typedef struct drained {
    redisContext *qc;
    redisContext *cc;
    long long done;
} drained;

/* Every key deleted, nothing pending, delayed or in a processing list, and
 * at least `done` jobs acknowledged. */
static bool all_drained(void *ctx)
{
    drained *d = ctx;
    return wt_drained(d->qc, d->cc) && wt_stat(d->qc, "done") >= d->done;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_cache_down(void)
{
    rfix_opts copts = {.conf_lines = persistent_conf};
    wt_pair p;
    char dead[128];
    wt_proc *w;
    drained d;

    wt_pair_start(&p, NULL, &copts);
    d = (drained){p.qc, p.cc, 1};
    w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    wt_push_dels(p.qc, p.cc, "warm", 0, 1);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "the first job was not applied");

    /* Keys to delete survive the restart through the AOF. */
    for (int i = 0; i < 50; i++) {
        wt_cmd(p.cc, "SET o:%d v", i);
    }
    redisFree(p.cc);
    WT_CHECK(rfix_stop(p.cache) == 0, "stopping the cache");
    wt_push_dels(p.qc, NULL, "o", 0, 50);
    sleep_ms(3000); /* the outage itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the cache was down");
    WT_CHECK(wt_stat(p.qc, "retried") == 0, "attempts burned during the outage: retried=%lld",
             wt_stat(p.qc, "retried"));
    WT_CHECK(wt_llen(p.qc, wt_qkey(dead, sizeof(dead), "dead")) == 0, "dead letters during the outage");
    WT_CHECK(rfix_restart(p.cache) == 0, "restarting the cache");
    p.cc = wt_connect(p.cache);
    WT_CHECK(wt_dbsize(p.cc) == 50, "the AOF did not bring back the keys (%lld)", wt_dbsize(p.cc));
    d = (drained){p.qc, p.cc, 51};
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS),
             "not applied after the cache returned: dbsize=%lld done=%lld", wt_dbsize(p.cc), wt_stat(p.qc, "done"));
    WT_CHECK(wt_stat(p.qc, "retried") == 0, "retried=%lld after the outage", wt_stat(p.qc, "retried"));
    WT_CHECK(wt_stat(p.qc, "dead") == 0, "dead=%lld after the outage", wt_stat(p.qc, "dead"));
    wt_note("cache down 3 s: done=%lld retried=0 dead=0", wt_stat(p.qc, "done"));
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

static void test_queue_restart(void)
{
    rfix_opts qopts = {.conf_lines = persistent_conf};
    wt_pair p;
    const char *extra[] = {"--batch", "10", NULL};
    wt_proc *w;
    drained d;

    wt_pair_start(&p, &qopts, NULL);
    d = (drained){p.qc, p.cc, 100};
    w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    wt_push_dels(p.qc, p.cc, "a", 0, 100);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "first 100 jobs not applied");

    /* Jobs in flight when the queue server goes away. */
    wt_push_dels(p.qc, p.cc, "b", 0, 300);
    redisFree(p.qc);
    WT_CHECK(rfix_stop(p.queue) == 0, "stopping the queue");
    sleep_ms(1000); /* the outage itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the queue was down");
    WT_CHECK(rfix_restart(p.queue) == 0, "restarting the queue");
    p.qc = wt_connect(p.queue);
    wt_push_dels(p.qc, p.cc, "c", 0, 100);
    d = (drained){p.qc, p.cc, 500};
    if (!wt_wait_for(all_drained, &d, WT_DEADLINE_MS)) {
        char key[128];
        WT_CHECK(false, "lost or stuck jobs after the queue restart: cache keys left=%lld done=%lld pending=%lld "
                 "processing lists=%lld",
                 wt_dbsize(p.cc), wt_stat(p.qc, "done"), wt_llen(p.qc, wt_qkey(key, sizeof(key), "pending")),
                 wt_count_keys(p.qc, "invq:{default}:processing:*"));
    }
    wt_note("queue restart: 500 jobs, done=%lld (duplicates %lld)", wt_stat(p.qc, "done"), wt_stat(p.qc, "done") - 500);
    WT_CHECK(wt_stat(p.qc, "dead") == 0, "dead=%lld", wt_stat(p.qc, "dead"));
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

static void test_cache_hangs(void)
{
    wt_pair p;
    faultproxy *proxy = NULL;
    const char *extra[] = {"--command-timeout-ms", "300", "--connect-timeout-ms", "300", NULL};
    wt_proc *w;
    drained d;

    wt_pair_start(&p, NULL, NULL);
    d = (drained){p.qc, p.cc, 1};
    WT_CHECK(faultproxy_new(&proxy, rfix_socket(p.cache), NULL, 0) == 0, "proxy");
    w = wt_worker_start(rfix_url(p.queue), faultproxy_url(proxy), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    wt_push_dels(p.qc, p.cc, "warm", 0, 1);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "the first job was not applied");

    /* The cache stops answering in time: every reply comes 2 s late. */
    faultproxy_set_delay(proxy, 2000);
    wt_push_dels(p.qc, p.cc, "h", 0, 30);
    sleep_ms(2500); /* the hang itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the cache hung");
    WT_CHECK(wt_stat(p.qc, "retried") == 0, "attempts burned by timeouts: retried=%lld", wt_stat(p.qc, "retried"));
    WT_CHECK(wt_stat(p.qc, "dead") == 0, "dead letters from timeouts: %lld", wt_stat(p.qc, "dead"));
    /* Back to normal, and every connection reset once for good measure. */
    faultproxy_set_delay(proxy, 0);
    faultproxy_drop_all(proxy);
    d = (drained){p.qc, p.cc, 31};
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS),
             "not applied after the cache recovered: keys left=%lld done=%lld", wt_dbsize(p.cc), wt_stat(p.qc, "done"));
    WT_CHECK(wt_stat(p.qc, "retried") == 0 && wt_stat(p.qc, "dead") == 0, "retried=%lld dead=%lld",
             wt_stat(p.qc, "retried"), wt_stat(p.qc, "dead"));
    wt_note("cache hung 2.5 s (timeout 300 ms): done=%lld retried=0 dead=0", wt_stat(p.qc, "done"));
    wt_worker_stop(w);
    faultproxy_free(proxy);
    wt_pair_stop(&p);
}

int main(void)
{
    wt_worker_path();
    test_cache_hangs();
    wt_note("ok cache hangs past the command timeout: no attempt burned, applied after");
    test_cache_down();
    wt_note("ok cache down: no attempt burned, applied after");
    test_queue_restart();
    wt_note("ok queue restart: reconnected, nothing lost");
    return 0;
}
