/* Deferred work: a job with after_ms is not applied before ts+after_ms and is
 * applied after it; a job with redo_ms deletes its key at once and again
 * redo_ms later (the delayed double delete), and only once more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

typedef struct key_wait {
    redisContext *c;
    const char *key;
} key_wait;

/* The deferred job is parked in delayed (the batch that held it finished). */
static bool parked(void *ctx)
{
    const key_wait *kw = ctx;
    return wt_zcard(kw->c, kw->key) == 1;
}

static uint8_t *deferred_job(const char *id, const char *key, bool redo, uint64_t ms, uint64_t ts,
                             size_t *len)
{
    const char *keys[1] = {key};
    invq_job *job = wt_job_build(id, JOB_OP_DEL, keys, 1, 0);
    uint8_t *out;
    job->ts = ts;
    if (redo) {
        job->redo_ms = ms;
        job->has_redo_ms = true;
    } else {
        job->after_ms = ms;
        job->has_after_ms = true;
    }
    out = wt_encode(job, len);
    job_free(job);
    return out;
}

int main(void)
{
    rfix *srv;
    redisContext *c;
    char log[512], delayed[128];
    const char *marker[] = {"d:marker"};
    uint8_t *job;
    size_t len;
    wt_proc *w;
    uint64_t ts, gone_at;
    key_wait kw;

    wt_worker_path();
    srv = wt_server(NULL);
    c = wt_connect(srv);
    wt_qkey(delayed, sizeof(delayed), "delayed");
    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);
    w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");

    /* after_ms: deferred by 2 s; an immediate job pushed after it is applied first. */
    wt_cmd(c, "MSET d:later 1 d:marker 1");
    ts = wt_wall_ms();
    job = deferred_job("after", "d:later", false, 2000, ts, &len);
    wt_push(c, job, len);
    free(job);
    wt_push1(c, "marker", JOB_OP_DEL, marker, 1, 0);
    WT_CHECK(wt_wait_gone(c, "d:marker", WT_DEADLINE_MS), "the immediate job was not applied");
    /* The marker's DEL lands before the batch's finish script parks the
     * deferred job: wait for it to be parked, while after_ms still runs. */
    kw = (key_wait){c, delayed};
    uint64_t now = wt_wall_ms();
    bool is_parked = now < ts + 1900 && wt_wait_for(parked, &kw, (int)(ts + 1900 - now));
    if (wt_wall_ms() < ts + 1900) {
        WT_CHECK(wt_exists(c, "d:later") == 1, "the deferred job was applied before after_ms");
        WT_CHECK(is_parked, "the deferred job is not in delayed");
    } else {
        wt_note("machine too slow to observe the key before after_ms; checking the time only");
    }
    WT_CHECK(wt_wait_gone(c, "d:later", WT_DEADLINE_MS), "the deferred job was never applied");
    gone_at = wt_wall_ms();
    wt_note("after_ms=2000: applied %llu ms after ts", (unsigned long long)(gone_at - ts));
    WT_CHECK(gone_at >= ts + 2000, "applied %llu ms after ts, before after_ms",
             (unsigned long long)(gone_at - ts));

    /* redo_ms: deleted now, re-created by a racing reader, deleted again 1.5 s later. */
    wt_cmd(c, "SET d:redo 1");
    ts = wt_wall_ms();
    job = deferred_job("redo", "d:redo", true, 1500, ts, &len);
    wt_push(c, job, len);
    free(job);
    WT_CHECK(wt_wait_gone(c, "d:redo", WT_DEADLINE_MS), "first delete of the redo job missing");
    wt_cmd(c, "SET d:redo stale-refill");
    WT_CHECK(wt_exists(c, "d:redo") == 1, "refill");
    WT_CHECK(wt_wait_gone(c, "d:redo", WT_DEADLINE_MS), "the second (redo) delete never came");
    gone_at = wt_wall_ms();
    wt_note("redo_ms=1500: second delete %llu ms after ts", (unsigned long long)(gone_at - ts));
    WT_CHECK(gone_at >= ts + 1500, "second delete came before redo_ms");
    WT_CHECK(wt_zcard(c, delayed) == 0, "something left in delayed: the redo would repeat");
    {
        char dead[128];
        WT_CHECK(wt_llen(c, wt_qkey(dead, sizeof(dead), "dead")) == 0, "unexpected dead letters");
    }

    wt_worker_stop(w);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
    wt_note("ok after_ms and redo_ms honoured");
    return 0;
}
