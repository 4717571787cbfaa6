/* Three invq-worker processes on one queue: every job is applied at least
 * once; jobs applied more than once are counted and reported.
 *
 * Each job deletes k:<i> and bumps ver:<i>, keys no other job names. A
 * version key shared by several jobs could not tell: a batch touches each
 * distinct key once, so two jobs of one batch bumping the same key raise it
 * by one, and a batch can hold jobs taken far apart in the queue (the job a
 * BLMOVE brought, and those a later take added while other consumers took
 * a hundred more). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "wtest.h"

enum { NJOBS = 3000, NWORKERS = 3 };

typedef struct drained {
    redisContext *qc;
    redisContext *cc;
} drained;

static bool all_applied(void *ctx)
{
    drained *d = ctx;
    char key[128];
    return wt_stat(d->qc, "done") >= NJOBS && wt_llen(d->qc, wt_qkey(key, sizeof(key), "pending")) == 0 &&
           wt_count_keys(d->qc, "invq:{default}:processing:*") == 0 && wt_count_keys(d->cc, "k:*") == 0;
}

/* Every worker has registered its consumers: all of them take part. */
static bool all_registered(void *ctx)
{
    char key[128];
    return wt_zcard(ctx, wt_qkey(key, sizeof(key), "consumers")) == NWORKERS * 2;
}

int main(void)
{
    rfix *queue, *cache;
    redisContext *qc, *cc;
    wt_proc *w[NWORKERS];
    char logs[NWORKERS][512];
    const char *extra[] = {"--batch", "16", "--consumers", "2", NULL};
    drained d;
    long long bumps = 0, done;

    wt_worker_path();
    queue = wt_server(NULL);
    cache = wt_server(NULL);
    qc = wt_connect(queue);
    cc = wt_connect(cache);
    for (int i = 0; i < NWORKERS; i++) {
        snprintf(logs[i], sizeof(logs[i]), "%s/worker-%d.log", rfix_dir(queue), i);
        w[i] = wt_worker_start(rfix_url(queue), rfix_url(cache), logs[i], extra);
        WT_CHECK(w[i] != NULL, "worker %d did not start", i);
    }
    wt_set_log(logs[0]);
    /* under memcheck a worker can take seconds to start: wait for all three,
     * or the others may finish everything (and SIGTERM meet one not yet
     * running) */
    WT_CHECK(wt_wait_for(all_registered, qc, WT_DEADLINE_MS), "not every worker registered its consumers");
    for (int i = 0; i < NJOBS; i++) {
        char key[32], ver[32], id[32];
        invq_job *job = job_new();
        size_t len;
        uint8_t *bytes;
        snprintf(key, sizeof(key), "k:%d", i);
        snprintf(ver, sizeof(ver), "ver:%d", i);
        snprintf(id, sizeof(id), "pool-%d", i);
        wt_cmd(cc, "SET %s v", key);
        WT_CHECK(job != NULL && job_set_id(job, id) == 0, "job");
        job->ts = wt_wall_ms();
        WT_CHECK(job_add_op(job, JOB_OP_DEL, 0, false, 0) == 0 && job_op_add_key(job, 0, key, strlen(key), false) == 0,
                 "del op");
        WT_CHECK(job_add_op(job, JOB_OP_BUMP, 0, false, 0) == 1 && job_op_add_key(job, 1, ver, strlen(ver), false) == 0,
                 "bump op");
        bytes = wt_encode(job, &len);
        job_free(job);
        wt_push(qc, bytes, len);
        free(bytes);
    }
    d = (drained){qc, cc};
    WT_CHECK(wt_wait_for(all_applied, &d, WT_DEADLINE_MS), "not all applied: done=%lld keys left=%lld",
             wt_stat(qc, "done"), wt_count_keys(cc, "k:*"));
    for (int i = 0; i < NJOBS; i++) {
        char ver[32];
        long long v;
        snprintf(ver, sizeof(ver), "ver:%d", i);
        v = wt_get_int(cc, ver);
        WT_CHECK(v >= 1, "%s = %lld: the bump of job pool-%d was lost", ver, v, i);
        bumps += v;
    }
    done = wt_stat(qc, "done");
    wt_note("3 workers: enqueued=%d done=%lld duplicates(done)=%lld bumps=%lld duplicates(bumps)=%lld", NJOBS, done,
            done - NJOBS, bumps, bumps - NJOBS);
    WT_CHECK(done >= NJOBS, "done < enqueued");
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead=%lld", wt_stat(qc, "dead"));
    for (int i = 0; i < NWORKERS; i++) {
        int st = 0;
        WT_CHECK(wt_proc_signal(w[i], SIGTERM) == 0, "SIGTERM %d", i);
        WT_CHECK(wt_proc_wait(w[i], WT_DEADLINE_MS, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "worker %d exit status %d", i, st);
        wt_proc_free(w[i]);
    }
    redisFree(qc);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(queue);
    wt_server_free(cache);
    wt_note("ok three workers on one queue");
    return 0;
}
