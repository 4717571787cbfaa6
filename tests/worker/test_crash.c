/* Crash recovery: a worker SIGKILLed in the middle of a batch leaves its
 * processing list behind; a second worker's reaper returns those jobs to
 * pending and every job gets applied, none lost, none dead-lettered. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "faultproxy.h"
#include "wtest.h"

enum { NJOBS = 2000 };

typedef struct drained {
    redisContext *qc;
    redisContext *cc;
    long long consumers;
} drained;

static bool all_drained(void *ctx)
{
    drained *d = ctx;
    char key[128], cons[128];
    return wt_dbsize(d->cc) == 0 && wt_llen(d->qc, wt_qkey(key, sizeof(key), "pending")) == 0 &&
           wt_zcard(d->qc, wt_qkey(key, sizeof(key), "delayed")) == 0 &&
           wt_count_keys(d->qc, "invq:{default}:processing:*") == 0 &&
           wt_zcard(d->qc, wt_qkey(cons, sizeof(cons), "consumers")) == d->consumers;
}

typedef struct progress {
    redisContext *qc;
} progress;

/* The first worker has jobs in a processing list and has finished some. */
static bool mid_work(void *ctx)
{
    progress *p = ctx;
    return wt_stat(p->qc, "done") > 0 && wt_count_keys(p->qc, "invq:{default}:processing:*") > 0;
}

static long long processing_items(redisContext *qc)
{
    long long total = 0;
    redisReply *r = redisCommand(qc, "KEYS invq:{default}:processing:*");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "KEYS");
    for (size_t i = 0; i < r->elements; i++) {
        total += wt_llen(qc, r->element[i]->str);
    }
    freeReplyObject(r);
    return total;
}

int main(void)
{
    rfix *queue, *cache;
    redisContext *qc, *cc;
    faultproxy *proxy = NULL;
    char loga[512], logb[512], dead[128];
    const char *extra_a[] = {"--batch", "10", "--consumers", "2", NULL};
    const char *extra_b[] = {"--batch", "100", "--consumers", "2", NULL};
    wt_proc *a, *b;
    progress pr;
    drained d;
    long long stranded;
    int st = 0;

    wt_worker_path();
    queue = wt_server(NULL);
    cache = wt_server(NULL);
    qc = wt_connect(queue);
    cc = wt_connect(cache);
    snprintf(loga, sizeof(loga), "%s/worker-a.log", rfix_dir(queue));
    snprintf(logb, sizeof(logb), "%s/worker-b.log", rfix_dir(queue));

    for (int i = 0; i < NJOBS; i++) {
        char key[32], id[32];
        const char *keys[1] = {key};
        size_t len;
        uint8_t *job;
        snprintf(key, sizeof(key), "k:%d", i);
        snprintf(id, sizeof(id), "crash-%d", i);
        wt_cmd(cc, "SET %s v", key);
        job = wt_job1(id, JOB_OP_DEL, keys, 1, 0, &len);
        wt_push(qc, job, len);
        free(job);
    }

    /* Worker A reaches the cache through a proxy that slows every reply, so
     * batches are always in flight when it dies. */
    WT_CHECK(faultproxy_new(&proxy, rfix_socket(cache), NULL, 0) == 0, "proxy");
    faultproxy_set_delay(proxy, 30);
    wt_set_log(loga);
    a = wt_worker_start(rfix_url(queue), faultproxy_url(proxy), loga, extra_a);
    WT_CHECK(a != NULL, "worker A did not start");
    pr.qc = qc;
    WT_CHECK(wt_wait_for(mid_work, &pr, WT_DEADLINE_MS), "worker A never got going");
    WT_CHECK(wt_proc_signal(a, SIGKILL) == 0, "SIGKILL");
    WT_CHECK(wt_proc_wait(a, WT_DEADLINE_MS, &st) == 0 && WIFSIGNALED(st), "worker A did not die");
    wt_proc_free(a);
    stranded = processing_items(qc);
    wt_note("worker A killed: done=%lld, %lld jobs stranded in processing lists, %lld cache keys left",
            wt_stat(qc, "done"), stranded, wt_dbsize(cc));
    WT_CHECK(stranded > 0, "nothing was in flight when worker A died");
    WT_CHECK(wt_dbsize(cc) > 0, "worker A finished everything before it was killed");

    wt_set_log(logb);
    b = wt_worker_start(rfix_url(queue), rfix_url(cache), logb, extra_b);
    WT_CHECK(b != NULL, "worker B did not start");
    d = (drained){qc, cc, 2};
    if (!wt_wait_for(all_drained, &d, WT_DEADLINE_MS)) {
        char key[128];
        WT_CHECK(false, "not recovered: cache keys left=%lld pending=%lld processing=%lld consumers=%lld",
                 wt_dbsize(cc), wt_llen(qc, wt_qkey(key, sizeof(key), "pending")), processing_items(qc),
                 wt_zcard(qc, wt_qkey(key, sizeof(key), "consumers")));
    }
    WT_CHECK(wt_llen(qc, wt_qkey(dead, sizeof(dead), "dead")) == 0, "dead letters after one crash");
    wt_note("recovered: done=%lld (enqueued %d, %lld finished twice) reaped=%lld", wt_stat(qc, "done"), NJOBS,
            wt_stat(qc, "done") - NJOBS, wt_stat(qc, "reaped"));
    WT_CHECK(wt_stat(qc, "done") >= NJOBS, "done=%lld < %d", wt_stat(qc, "done"), NJOBS);

    WT_CHECK(wt_proc_signal(b, SIGTERM) == 0, "SIGTERM");
    WT_CHECK(wt_proc_wait(b, WT_DEADLINE_MS, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "worker B exit status %d", st);
    wt_proc_free(b);
    faultproxy_free(proxy);
    redisFree(qc);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(queue);
    wt_server_free(cache);
    wt_note("ok kill -9 mid-batch: every job recovered");
    return 0;
}
