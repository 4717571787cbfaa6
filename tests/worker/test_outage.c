/* Outages: while the cache Redis is down, or hangs past --command-timeout-ms,
 * the worker burns no attempts (no retries, no dead letters) and applies
 * everything once it is back; a queue Redis that restarts (with AOF) is
 * reconnected to and nothing is lost. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "faultproxy.h"
#include "wtest.h"

static const char *const persistent_conf[] = {"appendonly yes", "appendfsync always", NULL};

typedef struct drained {
    redisContext *qc;
    redisContext *cc;
    long long done;
} drained;

/* Every key deleted, nothing pending, delayed or in a processing list. */
static bool all_drained(void *ctx)
{
    drained *d = ctx;
    char key[128];
    return wt_dbsize(d->cc) == 0 && wt_llen(d->qc, wt_qkey(key, sizeof(key), "pending")) == 0 &&
           wt_zcard(d->qc, wt_qkey(key, sizeof(key), "delayed")) == 0 &&
           wt_count_keys(d->qc, "invq:{default}:processing:*") == 0 && wt_stat(d->qc, "done") >= d->done;
}

static void push_dels(redisContext *qc, redisContext *cc, const char *prefix, int from, int to)
{
    for (int i = from; i < to; i++) {
        char key[64], id[64];
        const char *keys[1] = {key};
        size_t len;
        uint8_t *job;
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        if (cc != NULL) {
            wt_cmd(cc, "SET %s v", key);
        }
        job = wt_job1(id, JOB_OP_DEL, keys, 1, 0, &len);
        wt_push(qc, job, len);
        free(job);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void stop_worker(wt_proc *w)
{
    int st = 0;
    WT_CHECK(wt_proc_signal(w, SIGTERM) == 0, "SIGTERM");
    WT_CHECK(wt_proc_wait(w, WT_DEADLINE_MS, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "worker exit status %d", st);
    wt_proc_free(w);
}

static void test_cache_down(void)
{
    rfix_opts copts = {.conf_lines = persistent_conf};
    rfix *queue = wt_server(NULL);
    rfix *cache = wt_server(&copts);
    redisContext *qc = wt_connect(queue);
    redisContext *cc = wt_connect(cache);
    char log[512], dead[128];
    wt_proc *w;
    drained d = {qc, cc, 1};

    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(queue));
    wt_set_log(log);
    w = wt_worker_start(rfix_url(queue), rfix_url(cache), log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    push_dels(qc, cc, "warm", 0, 1);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "the first job was not applied");

    /* Keys to delete survive the restart through the AOF. */
    for (int i = 0; i < 50; i++) {
        wt_cmd(cc, "SET o:%d v", i);
    }
    redisFree(cc);
    WT_CHECK(rfix_stop(cache) == 0, "stopping the cache");
    push_dels(qc, NULL, "o", 0, 50);
    sleep_ms(3000); /* the outage itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the cache was down");
    WT_CHECK(wt_stat(qc, "retried") == 0, "attempts burned during the outage: retried=%lld",
             wt_stat(qc, "retried"));
    WT_CHECK(wt_llen(qc, wt_qkey(dead, sizeof(dead), "dead")) == 0, "dead letters during the outage");
    WT_CHECK(rfix_restart(cache) == 0, "restarting the cache");
    cc = wt_connect(cache);
    WT_CHECK(wt_dbsize(cc) == 50, "the AOF did not bring back the keys (%lld)", wt_dbsize(cc));
    d = (drained){qc, cc, 51};
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS),
             "not applied after the cache returned: dbsize=%lld done=%lld", wt_dbsize(cc), wt_stat(qc, "done"));
    WT_CHECK(wt_stat(qc, "retried") == 0, "retried=%lld after the outage", wt_stat(qc, "retried"));
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead=%lld after the outage", wt_stat(qc, "dead"));
    wt_note("cache down 3 s: done=%lld retried=0 dead=0", wt_stat(qc, "done"));
    stop_worker(w);
    redisFree(qc);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(queue);
    wt_server_free(cache);
}

static void test_queue_restart(void)
{
    rfix_opts qopts = {.conf_lines = persistent_conf};
    rfix *queue = wt_server(&qopts);
    rfix *cache = wt_server(NULL);
    redisContext *qc = wt_connect(queue);
    redisContext *cc = wt_connect(cache);
    char log[512];
    const char *extra[] = {"--batch", "10", NULL};
    wt_proc *w;
    drained d = {qc, cc, 100};

    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(queue));
    wt_set_log(log);
    w = wt_worker_start(rfix_url(queue), rfix_url(cache), log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    push_dels(qc, cc, "a", 0, 100);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "first 100 jobs not applied");

    /* Jobs in flight when the queue server goes away. */
    push_dels(qc, cc, "b", 0, 300);
    redisFree(qc);
    WT_CHECK(rfix_stop(queue) == 0, "stopping the queue");
    sleep_ms(1000); /* the outage itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the queue was down");
    WT_CHECK(rfix_restart(queue) == 0, "restarting the queue");
    qc = wt_connect(queue);
    push_dels(qc, cc, "c", 0, 100);
    d = (drained){qc, cc, 500};
    if (!wt_wait_for(all_drained, &d, WT_DEADLINE_MS)) {
        char key[128];
        WT_CHECK(false, "lost or stuck jobs after the queue restart: cache keys left=%lld done=%lld pending=%lld "
                 "processing lists=%lld",
                 wt_dbsize(cc), wt_stat(qc, "done"), wt_llen(qc, wt_qkey(key, sizeof(key), "pending")),
                 wt_count_keys(qc, "invq:{default}:processing:*"));
    }
    wt_note("queue restart: 500 jobs, done=%lld (duplicates %lld)", wt_stat(qc, "done"), wt_stat(qc, "done") - 500);
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead=%lld", wt_stat(qc, "dead"));
    stop_worker(w);
    redisFree(qc);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(queue);
    wt_server_free(cache);
}

static void test_cache_hangs(void)
{
    rfix *queue = wt_server(NULL);
    rfix *cache = wt_server(NULL);
    redisContext *qc = wt_connect(queue);
    redisContext *cc = wt_connect(cache);
    faultproxy *proxy = NULL;
    char log[512];
    const char *extra[] = {"--command-timeout-ms", "300", "--connect-timeout-ms", "300", NULL};
    wt_proc *w;
    drained d = {qc, cc, 1};

    WT_CHECK(faultproxy_new(&proxy, rfix_socket(cache), NULL, 0) == 0, "proxy");
    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(queue));
    wt_set_log(log);
    w = wt_worker_start(rfix_url(queue), faultproxy_url(proxy), log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    push_dels(qc, cc, "warm", 0, 1);
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS), "the first job was not applied");

    /* The cache stops answering in time: every reply comes 2 s late. */
    faultproxy_set_delay(proxy, 2000);
    push_dels(qc, cc, "h", 0, 30);
    sleep_ms(2500); /* the hang itself */
    WT_CHECK(wt_proc_running(w), "the worker died while the cache hung");
    WT_CHECK(wt_stat(qc, "retried") == 0, "attempts burned by timeouts: retried=%lld", wt_stat(qc, "retried"));
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead letters from timeouts: %lld", wt_stat(qc, "dead"));
    /* Back to normal, and every connection reset once for good measure. */
    faultproxy_set_delay(proxy, 0);
    faultproxy_drop_all(proxy);
    d = (drained){qc, cc, 31};
    WT_CHECK(wt_wait_for(all_drained, &d, WT_DEADLINE_MS),
             "not applied after the cache recovered: keys left=%lld done=%lld", wt_dbsize(cc), wt_stat(qc, "done"));
    WT_CHECK(wt_stat(qc, "retried") == 0 && wt_stat(qc, "dead") == 0, "retried=%lld dead=%lld",
             wt_stat(qc, "retried"), wt_stat(qc, "dead"));
    wt_note("cache hung 2.5 s (timeout 300 ms): done=%lld retried=0 dead=0", wt_stat(qc, "done"));
    stop_worker(w);
    faultproxy_free(proxy);
    redisFree(qc);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(queue);
    wt_server_free(cache);
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
