/* Waves of delete jobs for the queue tests (see waves.h). */
#include "waves.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "wtest.h"

enum { WAVE_MAX_PER_JOB = 64 };

void wave_key(char *buf, size_t len, int w, int i)
{
    snprintf(buf, len, "w%d:k:%d", w, i);
}

void wave_set(redisContext *cc, int w, int jobs, int per_job)
{
    for (int i = 0; i < jobs * per_job; i++) {
        char k[48];
        wave_key(k, sizeof k, w, i);
        redisAppendCommand(cc, "SET %s x", k);
    }
    for (int i = 0; i < jobs * per_job; i++) {
        redisReply *r = NULL;
        WT_CHECK(redisGetReply(cc, (void **)&r) == REDIS_OK && r != NULL, "SET reply");
        freeReplyObject(r);
    }
}

invq_job *wave_job(int w, int j, int per_job)
{
    char k[WAVE_MAX_PER_JOB][48];
    const void *keys[WAVE_MAX_PER_JOB];
    size_t lens[WAVE_MAX_PER_JOB];
    WT_CHECK(per_job > 0 && per_job <= WAVE_MAX_PER_JOB, "per_job %d", per_job);
    for (int i = 0; i < per_job; i++) {
        wave_key(k[i], sizeof k[i], w, j * per_job + i);
        keys[i] = k[i];
        lens[i] = strlen(k[i]);
    }
    invq_job *job = invq_job_new();
    WT_CHECK(job != NULL && invq_job_del(job, keys, lens, (size_t)per_job) == 0, "job");
    return job;
}

typedef struct wave_tally {
    int left, failed;
} wave_tally;

static void on_sent(invq_async *a, int status, void *data)
{
    (void)a;
    wave_tally *t = data;
    t->left--;
    t->failed += status != INVQ_SENT;
}

void wave_send_async(const invq_options *o, int w, int jobs, int per_job)
{
    uv_loop_t loop;
    invq_async *a = NULL;
    char err[512];
    wave_tally t = { jobs, 0 };
    WT_CHECK(uv_loop_init(&loop) == 0, "loop");
    WT_CHECK(invq_async_new(&loop, o, &a, err, sizeof err) == 0, "async: %s", err);
    for (int j = 0; j < jobs; j++) {
        invq_job *job = wave_job(w, j, per_job);
        WT_CHECK(invq_async_send(a, job, on_sent, &t) == 0, "async send: %s", invq_async_errstr(a));
        invq_job_free(job);
    }
    long long deadline = rfix_now_ms() + WT_DEADLINE_MS;
    while (t.left > 0 && rfix_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    WT_CHECK(t.left == 0 && t.failed == 0, "async: %d left, %d failed", t.left, t.failed);
    invq_async_close(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    WT_CHECK(uv_loop_close(&loop) == 0, "loop left busy");
}
