/* Unit tests of worker/batch.c: each job's plan (apply, defer, dead) and the
 * finish.lua records a batch settles into for every kind of outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "dead.h"
#include "log.h"

#define NOW 1795672800000ull

static void add_job(batch *b, const char *id, job_op_kind op, const char *key, uint64_t ts, uint64_t reaped,
                    void (*tweak)(invq_job *))
{
    invq_job *j = job_new();
    assert_non_null(j);
    assert_int_equal(job_set_id(j, id), 0);
    j->ts = ts;
    int o = job_add_op(j, op, op == JOB_OP_EXPIRE ? 1000 : 0, false, 0);
    assert_true(o >= 0);
    assert_int_equal(job_op_add_key(j, (size_t)o, key, strlen(key), false), 0);
    if (tweak != NULL)
        tweak(j);
    job_limits lim;
    job_limits_default(&lim);
    uint8_t *out = NULL;
    size_t len = 0;
    job_error err;
    assert_int_equal(job_encode(j, &lim, &out, &len, &err), 0);
    assert_int_equal(batch_add(b, out, len, reaped), 0);
    free(out);
    job_free(j);
}

static void later(invq_job *j)
{
    j->after_ms = 60000;
    j->has_after_ms = true;
}

static void redo(invq_job *j)
{
    j->redo_ms = 500;
    j->has_redo_ms = true;
}

static void fourth(invq_job *j)
{
    j->attempt = 4;
    j->has_attempt = true;
}

static batch_policy policy(void)
{
    batch_policy p = { .max_attempts = 5, .backoff_base_ms = 200, .backoff_max_ms = 60000, .consumer = "host-1-abcd-0" };
    job_limits_default(&p.limits);
    return p;
}

/* Finds the n-th record of `kind` in the settled argv; returns its first argument index. */
static int find_record(const argv_buf *a, char kind, int nth)
{
    size_t i = 0;
    while (i < a->n) {
        char k = a->argv[i][0];
        if (k == kind && nth-- == 0)
            return (int)i + 1;
        i += k == 'z' ? 3 : 2;
    }
    return -1;
}

static void test_plan_and_settle(void **state)
{
    log_init(LOG_ERROR, LOG_TEXT);
    batch b;
    batch_init(&b);
    add_job(&b, "ok", JOB_OP_DEL, "k1", NOW - 10, 0, NULL);         /* 0 */
    add_job(&b, "perm", JOB_OP_BUMP, "txt", NOW, 0, NULL);          /* 1 */
    assert_int_equal(batch_add(&b, "\xc1junk", 5, 0), 0);           /* 2 */
    add_job(&b, "later", JOB_OP_DEL, "k2", NOW, 0, later);          /* 3 */
    add_job(&b, "redo", JOB_OP_DEL, "k1", NOW, 0, redo);            /* 4: same key as job 0 */
    add_job(&b, "killer", JOB_OP_DEL, "k3", NOW, 5, NULL);          /* 5 */
    add_job(&b, "flaky", JOB_OP_EXPIRE, "k4", NOW, 0, NULL);        /* 6 */
    add_job(&b, "last", JOB_OP_DEL, "k5", NOW, 0, fourth);          /* 7 */
    batch_policy p = policy();
    rng r;
    rng_seed(&r, 3);
    assert_int_equal(batch_plan_all(&b, &p, NOW, &r), 0);
    assert_int_equal(b.jobs[0].plan, PLAN_APPLY);
    assert_int_equal(b.jobs[2].plan, PLAN_DEAD);
    assert_int_equal(b.jobs[3].plan, PLAN_DEFER);
    assert_int_equal(b.jobs[5].plan, PLAN_DEAD);
    assert_int_equal(b.napply, 5);
    /* entries: del k1 (jobs 0, 4), bump txt, expire k4, del k5 */
    assert_int_equal(b.co.nentries, 4);
    cache_result res[4];
    for (size_t i = 0; i < b.co.nentries; i++) {
        const cache_entry *e = &b.co.entries[i];
        res[i] = (cache_result){ CACHE_OK, NULL, NULL };
        if (e->op == JOB_OP_BUMP)
            res[i] = (cache_result){ CACHE_PERMANENT, "not_integer", "ERR value is not an integer or out of range" };
        if (e->op == JOB_OP_EXPIRE || (e->len == 2 && memcmp(e->key, "k5", 2) == 0))
            res[i] = (cache_result){ CACHE_TRANSIENT, "loading", "LOADING Redis is loading" };
    }
    argv_buf a;
    argv_init(&a);
    batch_outcome oc;
    assert_int_equal(batch_settle(&b, res, &p, NOW, &r, NULL, &a, &oc), 0);
    argv_finalize(&a);
    assert_int_equal(oc.done, 2);     /* ok, redo */
    assert_int_equal(oc.retried, 1);  /* flaky */
    assert_int_equal(oc.dead, 4);     /* perm, junk, killer, last */
    assert_int_equal(oc.deferred, 2); /* later, redo copy */

    job_limits lim;
    job_limits_default(&lim);
    /* dead records, in batch order: perm, junk, killer, last */
    const char *reasons[] = { "not_integer: bump txt: ERR value is not an integer or out of range", "malformed",
                              "max_attempts: consumer died while processing it 5 times",
                              "max_attempts: 5 attempts, last: loading: del k5: LOADING Redis is loading" };
    for (int i = 0; i < 4; i++) {
        int at = find_record(&a, 'd', i);
        assert_true(at > 0);
        dead_record *d = NULL;
        job_error err;
        assert_int_equal(dead_decode((const uint8_t *)a.argv[at], a.lens[at], &lim, &d, &err), 0);
        assert_non_null(strstr(d->reason, reasons[i]));
        assert_string_equal(d->consumer, "host-1-abcd-0");
        if (i == 1) {
            assert_null(d->id);
            assert_int_equal(d->job_len, 5);
            assert_memory_equal(d->job, "\xc1junk", 5);
        }
        if (i == 3)
            assert_int_equal(d->attempts, 5);
        dead_free(d);
    }
    assert_int_equal(find_record(&a, 'd', 4), -1);
    /* 'z': later (unchanged bytes at ts+after_ms), redo copy, flaky retry */
    int at = find_record(&a, 'z', 0);
    assert_memory_equal(a.argv[at + 1], b.bytes + b.jobs[3].off, b.jobs[3].len);
    assert_string_equal(a.argv[at], "1795672860000");
    invq_job *j = NULL;
    job_error err;
    at = find_record(&a, 'z', 1);
    assert_string_equal(a.argv[at], "1795672800500");
    assert_int_equal(job_decode((const uint8_t *)a.argv[at + 1], a.lens[at + 1], &lim, &j, &err), 0);
    assert_string_equal(j->id, "redo");
    assert_true(j->redo_done);
    job_free(j);
    at = find_record(&a, 'z', 2);
    assert_int_equal(job_decode((const uint8_t *)a.argv[at + 1], a.lens[at + 1], &lim, &j, &err), 0);
    assert_string_equal(j->id, "flaky");
    assert_int_equal(j->attempt, 1);
    assert_int_equal(j->nerrs, 1);
    assert_int_equal(j->first_failed_ms, NOW);
    uint64_t due = strtoull(a.argv[at], NULL, 10);
    assert_true(due >= NOW && due <= NOW + 200);
    job_free(j);
    /* the reaped job's count is cleared */
    at = find_record(&a, 'h', 0);
    assert_memory_equal(a.argv[at], b.bytes + b.jobs[5].off, b.jobs[5].len);
    argv_deinit(&a);
    batch_deinit(&b);
}

static void second_op_reserved(invq_job *j)
{
    int o = job_add_op(j, JOB_OP_BUMP, 0, false, 0);
    assert_true(o >= 0);
    assert_int_equal(job_op_add_key(j, (size_t)o, "app:{q}:dead", 12, false), 0);
}

/* A job naming a key of a namespace the worker serves is dead whole: none of
 * its keys (not even the harmless ones) reaches the cache entries. */
static void test_reserved_key(void **state)
{
    log_init(LOG_ERROR, LOG_TEXT);
    static const char *const ns[] = { "invq", "app" };
    batch b;
    batch_init(&b);
    add_job(&b, "ok", JOB_OP_DEL, "invqx:1", NOW, 0, NULL);
    add_job(&b, "queue", JOB_OP_DEL, "invq:{default}:pending", NOW, 0, NULL);
    add_job(&b, "mixed", JOB_OP_DEL, "user:1", NOW, 0, second_op_reserved);
    add_job(&b, "later", JOB_OP_EXPIRE, "invq:{other}:delayed", NOW, 0, later);
    batch_policy p = policy();
    p.reserved_ns = ns;
    p.nreserved_ns = 2;
    rng r;
    rng_seed(&r, 3);
    assert_int_equal(batch_plan_all(&b, &p, NOW, &r), 0);
    assert_int_equal(b.jobs[0].plan, PLAN_APPLY);
    assert_int_equal(b.jobs[1].plan, PLAN_DEAD);
    assert_string_equal(b.jobs[1].reason, "key_not_allowed: del invq:{default}:pending: reserved for the queue");
    assert_int_equal(b.jobs[2].plan, PLAN_DEAD);
    assert_string_equal(b.jobs[2].reason, "key_not_allowed: bump app:{q}:dead: reserved for the queue");
    /* refused before it is deferred: it would never become applicable */
    assert_int_equal(b.jobs[3].plan, PLAN_DEAD);
    assert_int_equal(b.napply, 1);
    assert_int_equal(b.co.nentries, 1);
    assert_memory_equal(b.co.entries[0].key, "invqx:1", 7);
    batch_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_and_settle),
        cmocka_unit_test(test_reserved_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
