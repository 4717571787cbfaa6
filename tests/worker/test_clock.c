/* Server-side clocks: workers whose host clocks are an hour off (the
 * INVQ_TEST_CLOCK_SKEW_MS hook) heartbeat, reap and promote delayed jobs by
 * the queue Redis's clock. A worker an hour behind is not reaped while it
 * lives, a dead worker an hour ahead is reaped as soon as it is silent for
 * --reap-after-ms, and a job with after_ms comes due by the server's clock
 * whichever way the worker's clock is off. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

#define HOUR_MS 3600000LL

static redisContext *g_c;

static long long server_ms(void)
{
    redisReply *r = redisCommand(g_c, "TIME");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "TIME");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* The heartbeat score of worker pid's consumer 0, or -1 when not registered. */
static long long score_of(pid_t pid)
{
    redisReply *r = redisCommand(g_c, "ZRANGE invq:{default}:consumers 0 -1 WITHSCORES");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "ZRANGE");
    char tag[32];
    snprintf(tag, sizeof tag, "-%d-", (int)pid);
    long long score = -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strstr(r->element[i]->str, tag) != NULL)
            score = atoll(r->element[i + 1]->str);
    freeReplyObject(r);
    return score;
}

static wt_proc *start_skewed(const char *url, const char *log, const char *skew)
{
    const char *extra[] = { "--consumers", "1", NULL };
    setenv("INVQ_TEST_CLOCK_SKEW_MS", skew, 1);
    wt_proc *w = wt_worker_start(url, NULL, log, extra);
    unsetenv("INVQ_TEST_CLOCK_SKEW_MS");
    WT_CHECK(w != NULL, "worker did not start");
    return w;
}

typedef struct reg {
    pid_t pid;
} reg;

static bool registered(void *ctx)
{
    return score_of(((reg *)ctx)->pid) >= 0;
}

static bool gone(void *ctx)
{
    return score_of(((reg *)ctx)->pid) < 0;
}

static bool fake_reaped(void *ctx)
{
    (void)ctx;
    redisReply *r = redisCommand(g_c, "ZSCORE invq:{default}:consumers fake-1-0");
    WT_CHECK(r != NULL, "ZSCORE");
    bool done = r->type == REDIS_REPLY_NIL;
    freeReplyObject(r);
    return done;
}

static bool key_gone(void *ctx)
{
    return wt_exists(g_c, ctx) == 0;
}

/* A job deleting `key`, due after_ms after now (the real clock). */
static void push_later(const char *id, const char *key, uint64_t after_ms)
{
    const char *k[] = { key };
    invq_job *j = wt_job_build(id, JOB_OP_DEL, k, 1, 0);
    j->after_ms = after_ms;
    j->has_after_ms = true;
    size_t len;
    uint8_t *b = wt_encode(j, &len);
    wt_push(g_c, b, len);
    free(b);
    job_free(j);
}

int main(void)
{
    wt_worker_path();
    rfix *srv = wt_server(NULL);
    g_c = wt_connect(srv);
    char loga[512], logb[512], logc[512];
    snprintf(loga, sizeof loga, "%s/ahead.log", rfix_dir(srv));
    snprintf(logb, sizeof logb, "%s/behind.log", rfix_dir(srv));
    snprintf(logc, sizeof logc, "%s/ahead2.log", rfix_dir(srv));

    wt_set_log(logb);
    wt_proc *a = start_skewed(rfix_url(srv), loga, "3600000");
    wt_proc *b = start_skewed(rfix_url(srv), logb, "-3600000");
    reg ra = { wt_proc_pid(a) }, rb = { wt_proc_pid(b) };
    WT_CHECK(wt_wait_for(registered, &ra, WT_DEADLINE_MS), "the worker an hour ahead never registered");
    WT_CHECK(wt_wait_for(registered, &rb, WT_DEADLINE_MS), "the worker an hour behind never registered");

    /* Heartbeats carry the server's time, not the hosts'. */
    long long now = server_ms();
    long long sa = score_of(ra.pid), sb = score_of(rb.pid);
    wt_note("heartbeats: ahead %+lld ms, behind %+lld ms from the server's clock", sa - now, sb - now);
    WT_CHECK(sa > now - 60000 && sa < now + 60000, "the worker an hour ahead heartbeats %lld ms off", sa - now);
    WT_CHECK(sb > now - 60000 && sb < now + 60000, "the worker an hour behind heartbeats %lld ms off", sb - now);

    /* A consumer silent for 100 s by the server's clock is reaped: the
     * reapers run; and neither live worker is reaped meanwhile. */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ZADD invq:{default}:consumers %lld fake-1-0", now - 100000);
    wt_cmd(g_c, cmd);
    WT_CHECK(wt_wait_for(fake_reaped, NULL, WT_DEADLINE_MS), "the silent consumer was never reaped");
    WT_CHECK(score_of(ra.pid) >= 0 && score_of(rb.pid) >= 0, "a live worker was reaped");
    const char *reaped_line[] = { "dead consumer reaped", NULL };
    char pid_a[32], pid_b[32];
    snprintf(pid_a, sizeof pid_a, "-%d-", (int)ra.pid);
    snprintf(pid_b, sizeof pid_b, "-%d-", (int)rb.pid);
    const char *reaped_a[] = { "dead consumer reaped", pid_a, NULL };
    const char *reaped_b[] = { "dead consumer reaped", pid_b, NULL };
    WT_CHECK(wt_file_count(loga, reaped_b) == 0 && wt_file_count(logb, reaped_a) == 0, "a live worker was reaped");
    wt_note("silent consumer reaped (%d + %d reap lines), both live workers still registered",
            wt_file_count(loga, reaped_line), wt_file_count(logb, reaped_line));

    /* The worker an hour ahead dies: the one an hour behind reaps it after
     * --reap-after-ms (1 s), not an hour or two later. */
    wt_proc_signal(a, SIGKILL);
    wt_proc_free(a);
    WT_CHECK(wt_wait_for(gone, &ra, WT_DEADLINE_MS), "the dead worker (an hour ahead) was not reaped");
    wt_note("the dead worker was reaped by the one an hour behind");

    /* A delayed job comes due by the server's clock for a worker an hour behind... */
    wt_cmd(g_c, "SET later:1 x");
    push_later("later-1", "later:1", 1500);
    WT_CHECK(wt_wait_for(key_gone, (void *)"later:1", WT_DEADLINE_MS), "the delayed job never came due (worker behind)");
    WT_CHECK(wt_stat(g_c, "deferred") == 1, "deferred %lld, want 1", wt_stat(g_c, "deferred"));
    wt_worker_stop(b);

    /* ... and is not applied early by a worker an hour ahead. */
    wt_set_log(logc);
    wt_proc *c = start_skewed(rfix_url(srv), logc, "3600000");
    reg rc = { wt_proc_pid(c) };
    WT_CHECK(wt_wait_for(registered, &rc, WT_DEADLINE_MS), "the second worker ahead never registered");
    wt_cmd(g_c, "SET later:2 x");
    push_later("later-2", "later:2", 1500);
    WT_CHECK(wt_wait_for(key_gone, (void *)"later:2", WT_DEADLINE_MS), "the delayed job never came due (worker ahead)");
    WT_CHECK(wt_stat(g_c, "deferred") == 2, "the worker ahead applied the job without deferring it (deferred %lld)",
             wt_stat(g_c, "deferred"));
    wt_worker_stop(c);
    wt_set_log(NULL);
    redisFree(g_c);
    wt_server_free(srv);
    return 0;
}
