/* Queue keys of the wrong type, and the queue Redis out of memory, against
 * a real worker: every script checks before it writes, so no job is lost;
 * the worker holds its work, logs the incident once (not on every retry),
 * answers /readyz 503 with the reason, sets invq_queue_blocked, and resumes
 * by itself once the key is fixed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_e2e.h"
#include "wtest.h"

#define FAILING "queue script failing"
#define RESUMED "queue scripts succeed again"

typedef struct qk_case {
    const char *name;
    void (*setup)(redisContext *c); /* jobs and keys before the worker starts */
    long long jobs;                 /* jobs setup pushed: never fewer held */
    const char *breaks;             /* the command that breaks a key */
    const char *reason;             /* what /readyz must say (a part of it) */
    const char *fix;                /* the operator's fix */
    void (*check)(redisContext *c); /* the outcome once fixed */
} qk_case;

static redisContext *g_c;

/* Jobs the queue holds: pending, every processing list, delayed. */
static long long jobs_held(redisContext *c)
{
    long long n = 0;
    redisReply *t = redisCommand(c, "TYPE invq:{default}:pending");
    if (t != NULL && t->type == REDIS_REPLY_STATUS && strcmp(t->str, "list") == 0)
        n += wt_llen(c, "invq:{default}:pending");
    freeReplyObject(t);
    t = redisCommand(c, "TYPE invq:{default}:delayed");
    if (t != NULL && t->type == REDIS_REPLY_STATUS && strcmp(t->str, "zset") == 0)
        n += wt_zcard(c, "invq:{default}:delayed");
    freeReplyObject(t);
    redisReply *keys = redisCommand(c, "KEYS invq:{default}:processing:*");
    WT_CHECK(keys != NULL && keys->type == REDIS_REPLY_ARRAY, "KEYS");
    for (size_t i = 0; i < keys->elements; i++)
        n += wt_llen(c, keys->element[i]->str);
    freeReplyObject(keys);
    return n;
}

static size_t count_in_file(const char *path, const char *needle)
{
    const char *needles[] = { needle, NULL };
    return (size_t)wt_file_count(path, needles);
}

static void push_dels(redisContext *c, const char *prefix, int n)
{
    wt_push_dels(c, c, prefix, 0, n);
}

typedef struct errors_wait {
    int port;
    double at_least;
} errors_wait;

static double script_errors(int port)
{
    static const char *const scripts[] = { "fetch", "finish", "release", "promote",
                                           "reap",  "sample", "heartbeat", "blmove" };
    double n = 0;
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        char series[96];
        snprintf(series, sizeof series, "invq_queue_script_errors_total{script=\"%s\"}", scripts[i]);
        double v = e2e_metric(port, series);
        n += v > 0 ? v : 0;
    }
    return n;
}

static bool errors_grew(void *ctx)
{
    const errors_wait *m = ctx;
    return script_errors(m->port) >= m->at_least;
}

typedef struct reason_wait {
    int port;
    const char *reason;
    char body[512];
} reason_wait;

/* /readyz answers 503 naming the reason (before the first queue script
 * ran it may still say the queue is not connected). */
static bool ready_names(void *ctx)
{
    reason_wait *r = ctx;
    return e2e_get(r->port, "/readyz", r->body, sizeof r->body, 5000) == 503 && strstr(r->body, r->reason) != NULL;
}

static void run_case(rfix *srv, const qk_case *k)
{
    redisContext *c = g_c;
    char log[512], addr[64], body[512];
    wt_cmd(c, "FLUSHALL");
    snprintf(log, sizeof log, "%s/%s.log", rfix_dir(srv), k->name);
    wt_set_log(log);
    k->setup(c);
    wt_cmd(c, k->breaks);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *extra[] = { "--http-addr", addr, "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, extra);
    WT_CHECK(w != NULL, "worker did not start");

    /* Broken: not ready, with the reason; nothing lost. */
    reason_wait rw = { .port = port, .reason = k->reason };
    WT_CHECK(wt_wait_for(ready_names, &rw, WT_DEADLINE_MS), "%s: /readyz says '%s', want '%s'", k->name, rw.body,
             k->reason);
    WT_CHECK(e2e_metric(port, "invq_queue_blocked") == 1, "%s: invq_queue_blocked not 1", k->name);
    WT_CHECK(e2e_metric(port, "invq_ready") == 0, "%s: invq_ready not 0", k->name);
    /* the scripts keep being retried meanwhile, silently */
    errors_wait m = { port, script_errors(port) + 3 };
    WT_CHECK(wt_wait_for(errors_grew, &m, WT_DEADLINE_MS), "%s: no retries", k->name);
    WT_CHECK(wt_proc_running(w), "%s: the worker died", k->name);
    long long held = jobs_held(c);
    WT_CHECK(held >= k->jobs, "%s: %lld jobs held while broken, %lld pushed: jobs lost", k->name, held, k->jobs);
    size_t lines = count_in_file(log, FAILING);
    WT_CHECK(lines == 1, "%s: the incident was logged %zu times, want once", k->name, lines);
    wt_note("%s: /readyz 503 '%.*s', %lld jobs held, %.0f failed runs logged once", k->name,
            (int)strcspn(body, "\n"), body, held, script_errors(port));

    /* Fixed: the worker resumes by itself. */
    wt_cmd(c, k->fix);
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    e2e_wait_metric(port, "invq_ready", 1);
    WT_CHECK(e2e_metric(port, "invq_queue_blocked") == 0, "%s: invq_queue_blocked stayed 1", k->name);
    k->check(c);
    WT_CHECK(count_in_file(log, RESUMED) == 1, "%s: no single 'resuming' line", k->name);
    wt_worker_stop(w);
    wt_set_log(NULL);
}

/* ---- :dead: a string; a permanent failure must still reach the DLQ ---- */

static void setup_dead(redisContext *c)
{
    const char *bad[] = { "txt:1" };
    wt_cmd(c, "SET txt:1 abc");
    push_dels(c, "d", 20);
    wt_push1(c, "to-dlq", JOB_OP_BUMP, bad, 1, 0);
}

static void check_dead(redisContext *c)
{
    WT_CHECK(wt_wait_stat(c, "done", 20, WT_DEADLINE_MS), "dead: the deletes were not applied");
    WT_CHECK(wt_wait_stat(c, "dead", 1, WT_DEADLINE_MS), "dead: the failing job never reached the DLQ");
    dead_record **recs;
    size_t n = wt_dead_records(c, &recs);
    WT_CHECK(n == 1 && recs[0]->id != NULL && strcmp(recs[0]->id, "to-dlq") == 0, "dead: %zu records", n);
    wt_dead_records_free(recs, n);
    WT_CHECK(wt_count_keys(c, "d:*") == 0, "dead: keys left");
}

/* ---- :delayed: a hash; a deferred job must not vanish ---- */

static void later(invq_job *j)
{
    j->after_ms = 3600000;
    j->has_after_ms = true;
}

static void setup_delayed(redisContext *c)
{
    const char *k[] = { "later:1" };
    push_dels(c, "dl", 10);
    invq_job *j = wt_job_build("deferred", JOB_OP_DEL, k, 1, 0);
    later(j);
    size_t len;
    uint8_t *b = wt_encode(j, &len);
    wt_push(c, b, len);
    free(b);
    job_free(j);
}

static void check_delayed(redisContext *c)
{
    WT_CHECK(wt_wait_stat(c, "done", 10, WT_DEADLINE_MS), "delayed: deletes not applied");
    WT_CHECK(wt_wait_stat(c, "deferred", 1, WT_DEADLINE_MS), "delayed: the deferred job was not settled");
    WT_CHECK(wt_zcard(c, "invq:{default}:delayed") == 1, "delayed: the deferred job is not in delayed");
}

/* ---- :pending: a string; due jobs must stay in delayed ---- */

static void setup_pending(redisContext *c)
{
    for (int i = 0; i < 5; i++) {
        char id[32], key[32];
        snprintf(id, sizeof id, "due-%d", i);
        snprintf(key, sizeof key, "due:%d", i);
        const char *k[] = { key };
        size_t len;
        uint8_t *b = wt_job1(id, JOB_OP_DEL, k, 1, 0, &len);
        wt_cmd(c, "SET %s v", key);
        redisReply *r = redisCommand(c, "ZADD invq:{default}:delayed 1 %b", b, len);
        WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "ZADD");
        freeReplyObject(r);
        free(b);
    }
}

static void check_pending(redisContext *c)
{
    WT_CHECK(wt_wait_stat(c, "done", 5, WT_DEADLINE_MS), "pending: the due jobs were not applied");
    WT_CHECK(wt_count_keys(c, "due:*") == 0, "pending: keys left");
}

/* ---- :stats: a counter that is not a number; and the hash a string ---- */

static void setup_dels10(redisContext *c)
{
    push_dels(c, "s", 10);
}

static void check_counter(redisContext *c)
{
    WT_CHECK(wt_wait_stat(c, "done", 10, WT_DEADLINE_MS), "stats: done %lld", wt_stat(c, "done"));
    WT_CHECK(wt_count_keys(c, "s:*") == 0, "stats: keys left");
    WT_CHECK(jobs_held(c) == 0, "stats: jobs still held");
}

/* ---- :consumers: a string; the heartbeat fails, so nothing is fetched ---- */

static void check_consumers(redisContext *c)
{
    check_counter(c);
    WT_CHECK(wt_zcard(c, "invq:{default}:consumers") == 2, "consumers: not registered");
}

/* ---- the queue Redis out of memory (maxmemory, noeviction) ---- */

static void setup_oom(redisContext *c)
{
    const char *k[] = { "v:1" };
    push_dels(c, "s", 10);
    wt_push1(c, "bump", JOB_OP_BUMP, k, 1, 0);
    wt_cmd(c, "CONFIG SET maxmemory-policy noeviction");
}

static void check_oom(redisContext *c)
{
    WT_CHECK(wt_wait_stat(c, "done", 11, WT_DEADLINE_MS), "oom: done %lld", wt_stat(c, "done"));
    WT_CHECK(wt_get_int(c, "v:1") >= 1, "oom: the bump was not applied");
}

int main(void)
{
    wt_worker_path();
    rfix *srv = wt_server(NULL);
    g_c = wt_connect(srv);
    const qk_case cases[] = {
        { "dead", setup_dead, 21, "SET invq:{default}:dead str",
          "queue key invq:{default}:dead has type string, expected list", "DEL invq:{default}:dead", check_dead },
        { "delayed", setup_delayed, 11, "HSET invq:{default}:delayed a b",
          "queue key invq:{default}:delayed has type hash, expected zset", "DEL invq:{default}:delayed",
          check_delayed },
        { "pending", setup_pending, 5, "SET invq:{default}:pending str",
          "queue key invq:{default}:pending has type string, expected list", "DEL invq:{default}:pending",
          check_pending },
        { "stats-field", setup_dels10, 10, "HSET invq:{default}:stats done abc",
          "queue key invq:{default}:stats field done is not an integer", "HSET invq:{default}:stats done 0",
          check_counter },
        { "stats", setup_dels10, 10, "SET invq:{default}:stats str",
          "queue key invq:{default}:stats has type string, expected hash", "DEL invq:{default}:stats",
          check_counter },
        { "reaped", setup_dels10, 10, "SET invq:{default}:reaped str",
          "queue key invq:{default}:reaped has type string, expected hash", "DEL invq:{default}:reaped",
          check_counter },
        { "consumers", setup_dels10, 10, "SET invq:{default}:consumers str",
          "invq:{default}:consumers", "DEL invq:{default}:consumers", check_consumers },
        { "oom", setup_oom, 11, "CONFIG SET maxmemory 1", "queue redis out of memory: OOM",
          "CONFIG SET maxmemory 0", check_oom },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(srv, &cases[i]);
        wt_note("ok %s", cases[i].name);
    }
    redisFree(g_c);
    wt_server_free(srv);
    return 0;
}
