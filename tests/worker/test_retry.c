/* Transient errors of a command (not of the node: those use no attempt,
 * tests/worker/test_failover.c), injected by the fault proxy: BUSY on the
 * next 3 DEL replies is retried with growing backoff caps and then
 * succeeds; TRYAGAIN on PEXPIRE is retried too; a BUSY that never ends
 * exhausts --max-attempts and lands in the DLQ with attempts=3 and the
 * last error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"
#include "wtest.h"

/* Queue and cache servers, a worker that reaches the cache through the proxy. */
typedef struct env {
    wt_pair p;
    faultproxy *proxy;
    wt_proc *worker;
} env;

static void env_start(env *e, const char *const *extra)
{
    memset(e, 0, sizeof(*e));
    wt_pair_start(&e->p, NULL, NULL);
    WT_CHECK(faultproxy_new(&e->proxy, rfix_socket(e->p.cache), NULL, 0) == 0, "proxy");
    e->worker = wt_worker_start(rfix_url(e->p.queue), faultproxy_url(e->proxy), e->p.log, extra);
    WT_CHECK(e->worker != NULL, "worker did not start");
}

static void env_stop(env *e)
{
    wt_worker_stop(e->worker);
    faultproxy_free(e->proxy);
    wt_pair_stop(&e->p);
}

/* Records each retry copy of the job seen in delayed: its attempt and the
 * delay its score asks for. */
typedef struct observer {
    redisContext *qc;
    redisContext *cc;
    const char *key;
    uint64_t attempts_seen[16];
    int64_t delays[16];
    size_t n;
} observer;

static bool observe(void *ctx)
{
    observer *o = ctx;
    char key[128];
    redisReply *r = redisCommand(o->qc, "ZRANGE %s 0 -1 WITHSCORES", wt_qkey(key, sizeof(key), "delayed"));
    uint64_t now = wt_wall_ms();
    if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            job_limits lim;
            job_error err;
            invq_job *j = NULL;
            job_limits_default(&lim);
            if (job_decode((const uint8_t *)r->element[i]->str, r->element[i]->len, &lim, &j, &err) == 0) {
                if ((o->n == 0 || o->attempts_seen[o->n - 1] != j->attempt) && o->n < 16) {
                    o->attempts_seen[o->n] = j->attempt;
                    o->delays[o->n] = (int64_t)strtoll(r->element[i + 1]->str, NULL, 10) - (int64_t)now;
                    o->n++;
                }
                job_free(j);
            }
        }
    }
    freeReplyObject(r);
    return wt_exists(o->cc, o->key) == 0;
}

static void test_busy_then_success(void)
{
    const char *extra[] = {"--max-attempts", "5", "--backoff-base-ms", "200", "--backoff-max-ms", "5000", NULL};
    const char *keys[] = {"r:1", "r:2"};
    env e;
    observer o;
    char dead[128];

    env_start(&e, extra);
    wt_cmd(e.p.cc, "MSET r:1 a r:2 b");
    WT_CHECK(faultproxy_fail_next(e.proxy, "DEL", 3, "BUSY Redis is busy running a script.") == 0 &&
                 faultproxy_fail_next(e.proxy, "UNLINK", 3, "BUSY Redis is busy running a script.") == 0,
             "rule");
    wt_push1(e.p.qc, "retry-1", JOB_OP_DEL, keys, 2, 0);

    memset(&o, 0, sizeof(o));
    o.qc = e.p.qc;
    o.cc = e.p.cc;
    o.key = "r:1";
    WT_CHECK(wt_wait_for(observe, &o, WT_DEADLINE_MS), "the keys were never deleted");
    WT_CHECK(wt_wait_stat(e.p.qc, "done", 1, WT_DEADLINE_MS), "the job was never acknowledged");
    WT_CHECK(wt_exists(e.p.cc, "r:2") == 0, "r:2 still there");
    WT_CHECK(faultproxy_injected(e.proxy) == 3, "injected %ld errors, want 3", faultproxy_injected(e.proxy));
    WT_CHECK(wt_stat(e.p.qc, "retried") == 3, "retried=%lld, want 3", wt_stat(e.p.qc, "retried"));
    WT_CHECK(wt_llen(e.p.qc, wt_qkey(dead, sizeof(dead), "dead")) == 0, "dead letters after a transient error");
    /* Each retry copy seen carries a higher attempt, and its delay stays under
     * that attempt's cap base*2^(attempt-1) (full jitter: random below the cap). */
    for (size_t i = 0; i < o.n; i++) {
        int64_t cap = 200LL << (o.attempts_seen[i] - 1);
        wt_note("retry copy: attempt=%llu delay=%lld ms (cap %lld)", (unsigned long long)o.attempts_seen[i],
                (long long)o.delays[i], (long long)cap);
        WT_CHECK(o.attempts_seen[i] >= 1 && o.attempts_seen[i] <= 3, "attempt %llu out of range",
                 (unsigned long long)o.attempts_seen[i]);
        WT_CHECK(i == 0 || o.attempts_seen[i] > o.attempts_seen[i - 1], "attempt counter did not grow");
        WT_CHECK(o.delays[i] <= cap + 50, "delay %lld over the cap %lld", (long long)o.delays[i], (long long)cap);
    }
    env_stop(&e);
}

static void test_tryagain_on_pexpire(void)
{
    const char *extra[] = {"--backoff-base-ms", "50", NULL};
    const char *keys[] = {"t:1"};
    env e;
    long long pttl;

    env_start(&e, extra);
    wt_cmd(e.p.cc, "SET t:1 v PX 600000");
    WT_CHECK(faultproxy_fail_next(e.proxy, "PEXPIRE", 1, "TRYAGAIN Multiple keys request during rehashing of slot") == 0, "rule");
    wt_push1(e.p.qc, "exp-1", JOB_OP_EXPIRE, keys, 1, 30000);
    WT_CHECK(wt_wait_stat(e.p.qc, "done", 1, WT_DEADLINE_MS), "the job was never acknowledged");
    pttl = wt_pttl(e.p.cc, "t:1");
    WT_CHECK(pttl > 0 && pttl <= 30000, "PTTL %lld after the retry", pttl);
    WT_CHECK(faultproxy_injected(e.proxy) == 1, "injected %ld", faultproxy_injected(e.proxy));
    WT_CHECK(wt_stat(e.p.qc, "retried") == 1, "retried=%lld, want 1", wt_stat(e.p.qc, "retried"));
    WT_CHECK(wt_stat(e.p.qc, "dead") == 0, "dead=%lld", wt_stat(e.p.qc, "dead"));
    env_stop(&e);
}

static void test_max_attempts(void)
{
    const char *extra[] = {"--max-attempts", "3", "--backoff-base-ms", "20", "--backoff-max-ms", "100", NULL};
    const char *keys[] = {"m:1"};
    const char *later[] = {"m:later"};
    env e;
    dead_record **recs;
    size_t n;

    env_start(&e, extra);
    wt_cmd(e.p.cc, "SET m:1 5");
    wt_cmd(e.p.cc, "SET m:later x");
    WT_CHECK(faultproxy_fail_next(e.proxy, "INCR", -1, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.") == 0, "rule");
    wt_push1(e.p.qc, "max-1", JOB_OP_BUMP, keys, 1, 0);
    WT_CHECK(wt_wait_stat(e.p.qc, "dead", 1, WT_DEADLINE_MS), "never dead-lettered");
    n = wt_dead_records(e.p.qc, &recs);
    WT_CHECK(n == 1, "%zu dead letters", n);
    wt_note("max attempts: reason=\"%s\" attempts=%llu errs=%zu first=%llu last=%llu", recs[0]->reason,
            (unsigned long long)recs[0]->attempts, recs[0]->nerrs, (unsigned long long)recs[0]->first_failed_ms,
            (unsigned long long)recs[0]->last_failed_ms);
    WT_CHECK(recs[0]->attempts == 3, "attempts=%llu, want 3", (unsigned long long)recs[0]->attempts);
    WT_CHECK(strstr(recs[0]->reason, "BUSY") != NULL || strstr(recs[0]->reason, "max_attempts") != NULL,
             "reason \"%s\" names neither the error nor max_attempts", recs[0]->reason);
    WT_CHECK(recs[0]->id != NULL && strcmp(recs[0]->id, "max-1") == 0, "id");
    WT_CHECK(recs[0]->first_failed_ms > 0 && recs[0]->first_failed_ms <= recs[0]->last_failed_ms,
             "first/last failed times");
    WT_CHECK(wt_stat(e.p.qc, "retried") == 2, "retried=%lld, want 2", wt_stat(e.p.qc, "retried"));
    WT_CHECK(faultproxy_injected(e.proxy) == 3, "INCR attempted %ld times, want 3", faultproxy_injected(e.proxy));
    WT_CHECK(wt_get_int(e.p.cc, "m:1") == 5, "m:1 changed: %lld", wt_get_int(e.p.cc, "m:1"));
    wt_dead_records_free(recs, n);
    /* The worker carries on. */
    wt_push1(e.p.qc, "after-max", JOB_OP_DEL, later, 1, 0);
    WT_CHECK(wt_wait_stat(e.p.qc, "done", 1, WT_DEADLINE_MS), "the next job was not applied");
    WT_CHECK(wt_exists(e.p.cc, "m:later") == 0, "m:later still there");
    env_stop(&e);
}

int main(void)
{
    wt_worker_path();
    test_busy_then_success();
    wt_note("ok BUSY x3 retried, then applied");
    test_tryagain_on_pexpire();
    wt_note("ok TRYAGAIN on PEXPIRE retried");
    test_max_attempts();
    wt_note("ok max attempts -> DLQ");
    return 0;
}
