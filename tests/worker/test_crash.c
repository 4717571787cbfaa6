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

/* Everything applied and exactly `consumers` consumers registered. */
static bool all_drained(void *ctx)
{
    drained *d = ctx;
    char cons[128];
    return wt_drained(d->qc, d->cc) && wt_zcard(d->qc, wt_qkey(cons, sizeof(cons), "consumers")) == d->consumers;
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
    wt_pair p;
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
    wt_pair_start(&p, NULL, NULL);
    snprintf(loga, sizeof(loga), "%s/worker-a.log", rfix_dir(p.queue));
    snprintf(logb, sizeof(logb), "%s/worker-b.log", rfix_dir(p.queue));
    wt_push_dels(p.qc, p.cc, "k", 0, NJOBS);

    /* Worker A reaches the cache through a proxy that slows every reply, so
     * batches are always in flight when it dies. */
    WT_CHECK(faultproxy_new(&proxy, rfix_socket(p.cache), NULL, 0) == 0, "proxy");
    faultproxy_set_delay(proxy, 30);
    wt_set_log(loga);
    a = wt_worker_start(rfix_url(p.queue), faultproxy_url(proxy), loga, extra_a);
    WT_CHECK(a != NULL, "worker A did not start");
    pr.qc = p.qc;
    WT_CHECK(wt_wait_for(mid_work, &pr, WT_DEADLINE_MS), "worker A never got going");
    WT_CHECK(wt_proc_signal(a, SIGKILL) == 0, "SIGKILL");
    WT_CHECK(wt_proc_wait(a, WT_DEADLINE_MS, &st) == 0 && WIFSIGNALED(st), "worker A did not die");
    wt_proc_free(a);
    stranded = processing_items(p.qc);
    wt_note("worker A killed: done=%lld, %lld jobs stranded in processing lists, %lld cache keys left",
            wt_stat(p.qc, "done"), stranded, wt_dbsize(p.cc));
    WT_CHECK(stranded > 0, "nothing was in flight when worker A died");
    WT_CHECK(wt_dbsize(p.cc) > 0, "worker A finished everything before it was killed");

    wt_set_log(logb);
    b = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), logb, extra_b);
    WT_CHECK(b != NULL, "worker B did not start");
    d = (drained){p.qc, p.cc, 2};
    if (!wt_wait_for(all_drained, &d, WT_DEADLINE_MS)) {
        char key[128];
        WT_CHECK(false, "not recovered: cache keys left=%lld pending=%lld processing=%lld consumers=%lld",
                 wt_dbsize(p.cc), wt_llen(p.qc, wt_qkey(key, sizeof(key), "pending")), processing_items(p.qc),
                 wt_zcard(p.qc, wt_qkey(key, sizeof(key), "consumers")));
    }
    WT_CHECK(wt_llen(p.qc, wt_qkey(dead, sizeof(dead), "dead")) == 0, "dead letters after one crash");
    wt_note("recovered: done=%lld (enqueued %d, %lld finished twice) reaped=%lld", wt_stat(p.qc, "done"), NJOBS,
            wt_stat(p.qc, "done") - NJOBS, wt_stat(p.qc, "reaped"));
    WT_CHECK(wt_stat(p.qc, "done") >= NJOBS, "done=%lld < %d", wt_stat(p.qc, "done"), NJOBS);

    wt_worker_stop(b);
    faultproxy_free(proxy);
    wt_pair_stop(&p);
    wt_note("ok kill -9 mid-batch: every job recovered");
    return 0;
}
