/* Unit tests of the job codec: round trips, builders, limits, hostile input,
 * job_rewrite_meta and dead-letter records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dead.h"
#include "job.h"
#include "key_policy.h"

static invq_job *sample_job(void)
{
    static const uint8_t binkey[] = {0x00, 0xff, 0x10, 0x00};
    invq_job *job = job_new();
    int op;

    assert_non_null(job);
    assert_int_equal(job_set_id(job, "job-42"), 0);
    assert_int_equal(job_set_src(job, "orders"), 0);
    assert_int_equal(job_set_fam(job, "user"), 0);
    job->ts = 1700000000123ull;
    job->has_redo_ms = true;
    job->redo_ms = 500;
    op = job_add_op(job, JOB_OP_DEL, 0, false, 0);
    assert_int_equal(op, 0);
    assert_int_equal(job_op_add_key(job, 0, "user:1", 6, false), 0);
    assert_int_equal(job_op_add_key(job, 0, binkey, sizeof(binkey), true), 0);
    assert_int_equal(job_add_op(job, JOB_OP_BUMP, 0, false, 0), 1);
    assert_int_equal(job_op_add_key(job, 1, "ver:user:1", 10, false), 0);
    assert_int_equal(job_add_op(job, JOB_OP_EXPIRE, 60000, true, 10), 2);
    assert_int_equal(job_op_add_key(job, 2, "sess:9", 6, false), 0);
    return job;
}

static void assert_jobs_equal(const invq_job *a, const invq_job *b)
{
    size_t i, k;

    assert_int_equal(a->v, b->v);
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->ts, b->ts);
    if (a->src || b->src)
        assert_string_equal(a->src, b->src);
    if (a->fam || b->fam)
        assert_string_equal(a->fam, b->fam);
    assert_int_equal(a->has_after_ms, b->has_after_ms);
    assert_int_equal(a->after_ms, b->after_ms);
    assert_int_equal(a->has_redo_ms, b->has_redo_ms);
    assert_int_equal(a->redo_ms, b->redo_ms);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->first_failed_ms, b->first_failed_ms);
    assert_int_equal(a->redo_done, b->redo_done);
    assert_int_equal(a->nerrs, b->nerrs);
    for (i = 0; i < a->nerrs; i++)
        assert_string_equal(a->errs[i], b->errs[i]);
    assert_int_equal(a->nops, b->nops);
    for (i = 0; i < a->nops; i++) {
        const job_op *x = &a->ops[i], *y = &b->ops[i];
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->ttl_ms, y->ttl_ms);
        assert_int_equal(x->has_jitter, y->has_jitter);
        assert_int_equal(x->jitter_pct, y->jitter_pct);
        assert_int_equal(x->nkeys, y->nkeys);
        for (k = 0; k < x->nkeys; k++) {
            assert_int_equal(x->keys[k].len, y->keys[k].len);
            assert_int_equal(x->keys[k].bin, y->keys[k].bin);
            assert_memory_equal(x->keys[k].data, y->keys[k].data, x->keys[k].len);
        }
    }
}

static void test_round_trip(void **state)
{
    invq_job *job = sample_job(), *back = NULL;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    job_error err;

    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, NULL, &back, &err), 0);
    assert_non_null(back);
    assert_jobs_equal(job, back);
    assert_true(back->ops[0].keys[1].bin);
    assert_false(back->ops[0].keys[0].bin);
    /* Encoding the decoded job gives the same bytes. */
    assert_int_equal(job_encode(back, NULL, &buf2, &len2, &err), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf);
    free(buf2);
    job_free(job);
    job_free(back);
}

static void test_decoded_job_is_editable(void **state)
{
    invq_job *job = sample_job(), *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    job_error err;
    int i;

    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, NULL, &back, &err), 0);
    free(buf);
    /* Builders work on a decoded job (whose strings live in its pool). */
    assert_int_equal(job_set_id(back, "job-43"), 0);
    assert_int_equal(job_set_src(back, NULL), 0);
    for (i = 0; i < 20; i++)
        assert_int_equal(job_op_add_key(back, 0, "extra", 5, false), 0);
    assert_int_equal(job_add_op(back, JOB_OP_DEL, 0, false, 0), 3);
    assert_int_equal(job_op_add_key(back, 3, "k", 1, true), 0);
    for (i = 0; i < 12; i++)
        assert_int_equal(job_add_err(back, i % 2 ? "timeout" : "LOADING"), 0);
    assert_int_equal(back->nerrs, JOB_MAX_ERRS);
    assert_string_equal(back->id, "job-43");
    assert_null(back->src);
    assert_int_equal(back->ops[0].nkeys, 22);
    job_free(back);
    job_free(job);
}

static void test_builders_validate(void **state)
{
    invq_job *job = job_new();
    uint8_t *buf = NULL;
    size_t len = 0;
    job_error err;
    char msg[320];

    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), JOB_EMISSING);
    assert_string_equal(err.field, "id");
    assert_null(buf);
    assert_int_equal(job_set_id(job, "a"), 0);
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), JOB_EEMPTY);
    assert_string_equal(err.field, "ops");
    assert_int_equal(job_add_op(job, (job_op_kind)9, 0, false, 0), JOB_EUNKNOWNOP);
    assert_int_equal(job_add_op(job, JOB_OP_EXPIRE, 0, false, 0), 0);
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), JOB_EEMPTY);
    assert_string_equal(err.field, "ops[0].keys");
    assert_int_equal(job_op_add_key(job, 0, "k", 1, false), 0);
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), JOB_EBADVALUE);
    assert_string_equal(err.field, "ops[0].ttl_ms");
    job_error_format(&err, msg, sizeof(msg));
    assert_string_equal(msg, "bad_value ops[0].ttl_ms: ttl_ms must be > 0");
    job->ops[0].ttl_ms = 1000;
    assert_int_equal(job_op_add_key(job, 0, "", 0, false), 0);
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), JOB_EEMPTY);
    assert_string_equal(err.field, "ops[0].keys[1]");
    assert_string_equal(job_err_code(JOB_EEMPTY), "empty");
    assert_string_equal(job_err_code(12345), "unknown");
    job_free(job);
}

static void test_limits(void **state)
{
    job_limits lim = {.max_payload = 200, .max_keys = 3, .max_key_len = 8};
    invq_job *job = job_new(), *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    job_error err;
    int i;

    assert_int_equal(job_set_id(job, "lim"), 0);
    assert_int_equal(job_add_op(job, JOB_OP_DEL, 0, false, 0), 0);
    assert_int_equal(job_op_add_key(job, 0, "12345678", 8, false), 0);
    assert_int_equal(job_encode(job, &lim, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, &lim, &back, &err), 0);
    job_free(back);
    free(buf);
    assert_int_equal(job_op_add_key(job, 0, "123456789", 9, false), 0);
    assert_int_equal(job_encode(job, &lim, &buf, &len, &err), JOB_EKEYTOOLONG);
    /* The default limits accept it; a stricter decoder refuses it. */
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, &lim, &back, &err), JOB_EKEYTOOLONG);
    assert_string_equal(err.field, "ops[0].keys[1]");
    assert_null(back);
    free(buf);
    job->ops[0].nkeys = 1;
    free(job->ops[0].keys[1].data);
    for (i = 0; i < 3; i++)
        assert_int_equal(job_op_add_key(job, 0, "k", 1, false), 0);
    assert_int_equal(job_encode(job, &lim, &buf, &len, &err), JOB_ETOOMANYKEYS);
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, &lim, &back, &err), JOB_ETOOMANYKEYS);
    assert_string_equal(err.field, "ops[0].keys");
    lim.max_payload = len - 1;
    lim.max_keys = 100;
    assert_int_equal(job_decode(buf, len, &lim, &back, &err), JOB_ETOOLARGE);
    assert_string_equal(err.field, "");
    free(buf);
    job_free(job);
}

static void test_uint64_max(void **state)
{
    invq_job *job = sample_job(), *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    job_error err;

    job->ts = UINT64_MAX;
    job->after_ms = UINT64_MAX;
    job->has_after_ms = true;
    assert_int_equal(job_encode(job, NULL, &buf, &len, &err), 0);
    assert_int_equal(job_decode(buf, len, NULL, &back, &err), 0);
    assert_true(back->ts == UINT64_MAX);
    assert_true(back->after_ms == UINT64_MAX);
    free(buf);
    job_free(back);
    job_free(job);
}

static void test_hostile_lengths(void **state)
{
    uint8_t dd[14], str32[] = {0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
    invq_job *job = NULL;
    dead_record *rec = NULL;
    job_error err;

    memset(dd, 0xdd, sizeof(dd));
    assert_int_equal(job_decode(dd, sizeof(dd), NULL, &job, &err), JOB_EBADLENGTH);
    assert_null(job);
    assert_int_equal(job_decode(str32, sizeof(str32), NULL, &job, &err), JOB_EBADLENGTH);
    assert_int_equal(dead_decode(dd, sizeof(dd), NULL, &rec, &err), JOB_EBADLENGTH);
    assert_null(rec);
    assert_int_equal(job_decode(dd, 0, NULL, &job, &err), JOB_ETRUNCATED);
}

/* Builds {"v":1,"id":"m","ts":5,"ops":[...],"zz":[1,{"a":nil}],<extra>} by hand. */
static size_t hand_job(uint8_t *out, const uint8_t *extra, size_t extra_len, uint8_t nentries)
{
    static const uint8_t base[] = {
        0xa1, 'v', 0x01, 0xa2, 'i', 'd', 0xa1, 'm', 0xa2, 't', 's', 0x05,
        0xa3, 'o', 'p', 's', 0x91, 0x82, 0xa2, 'o', 'p', 0xa3, 'd', 'e', 'l',
        0xa4, 'k', 'e', 'y', 's', 0x91, 0xa1, 'k',
        0xa2, 'z', 'z', 0x92, 0x01, 0x81, 0xa1, 'a', 0xc0,
    };
    out[0] = (uint8_t)(0x80 | nentries);
    memcpy(out + 1, base, sizeof(base));
    if (extra_len > 0)
        memcpy(out + 1 + sizeof(base), extra, extra_len);
    return 1 + sizeof(base) + extra_len;
}

static void test_rewrite_meta(void **state)
{
    uint8_t orig[128], *with = NULL, *again = NULL, *stripped = NULL, *copy = NULL;
    size_t olen = hand_job(orig, NULL, 0, 5), wlen, alen, slen, clen;
    const char *errs1[] = {"timeout: cache"};
    const char *errs2[] = {"timeout: cache", "LOADING: cache"};
    job_meta m1 = {.attempt = 1, .first_failed_ms = 1700000000000ull, .errs = errs1, .nerrs = 1};
    job_meta m2 = {.attempt = 2, .first_failed_ms = 1700000000000ull, .redo_done = true, .errs = errs2, .nerrs = 2};
    invq_job *job = NULL;
    job_error err;

    assert_int_equal(job_decode(orig, olen, NULL, &job, &err), 0);
    job_free(job);
    /* meta NULL and nothing to strip: an exact copy. */
    assert_int_equal(job_rewrite_meta(orig, olen, NULL, &copy, &clen), 0);
    assert_int_equal(clen, olen);
    assert_memory_equal(copy, orig, olen);
    free(copy);
    /* Add, then replace, the worker fields; the unknown "zz" survives. */
    assert_int_equal(job_rewrite_meta(orig, olen, &m1, &with, &wlen), 0);
    assert_memory_equal(with + 1, orig + 1, olen - 1);
    assert_int_equal(job_rewrite_meta(with, wlen, &m2, &again, &alen), 0);
    assert_int_equal(job_decode(again, alen, NULL, &job, &err), 0);
    assert_int_equal(job->attempt, 2);
    assert_int_equal(job->first_failed_ms, 1700000000000ull);
    assert_true(job->redo_done);
    assert_int_equal(job->nerrs, 2);
    assert_string_equal(job->errs[1], "LOADING: cache");
    job_free(job);
    /* Stripping gives back the producer's bytes. */
    assert_int_equal(job_rewrite_meta(again, alen, NULL, &stripped, &slen), 0);
    assert_int_equal(slen, olen);
    assert_memory_equal(stripped, orig, olen);
    assert_int_equal(job_rewrite_meta(orig, olen - 1, NULL, &copy, &clen), JOB_ETRUNCATED);
    assert_null(copy);
    free(with);
    free(again);
    free(stripped);
}

static void test_rewrite_meta_many_errs(void **state)
{
    const char *errs[10] = {"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"};
    job_meta m = {.attempt = 10, .errs = errs, .nerrs = 10};
    uint8_t orig[128], *out = NULL;
    size_t olen = hand_job(orig, NULL, 0, 5), outlen;
    invq_job *job = NULL;
    job_error err;

    assert_int_equal(job_rewrite_meta(orig, olen, &m, &out, &outlen), 0);
    assert_int_equal(job_decode(out, outlen, NULL, &job, &err), 0);
    assert_int_equal(job->nerrs, JOB_MAX_ERRS);
    assert_string_equal(job->errs[0], "e2");
    assert_string_equal(job->errs[7], "e9");
    job_free(job);
    free(out);
}

static void test_duplicates(void **state)
{
    static const uint8_t dup_unknown[] = {0xa1, 'x', 0x01, 0xa1, 'x', 0x02};
    static const uint8_t dup_known[] = {0xa2, 'i', 'd', 0xa1, 'n'};
    uint8_t buf[128];
    size_t len;
    invq_job *job = NULL;
    job_error err;

    len = hand_job(buf, dup_unknown, sizeof(dup_unknown), 7);
    assert_int_equal(job_decode(buf, len, NULL, &job, &err), JOB_EDUPLICATE);
    assert_string_equal(err.field, "x");
    len = hand_job(buf, dup_known, sizeof(dup_known), 6);
    assert_int_equal(job_decode(buf, len, NULL, &job, &err), JOB_EDUPLICATE);
    assert_string_equal(err.field, "id");
    assert_null(job);
}

static void test_dead_round_trip(void **state)
{
    uint8_t jobbytes[] = {0xc1, 0x00, 0xff, 0xdd};
    char e0[] = "timeout: cache", e1[] = "wrong_type: ops[0] WRONGTYPE";
    char reason[] = "malformed: not msgpack", consumer[] = "host-1:42", id[] = "job-7";
    char *errs[] = {e0, e1};
    dead_record rec = {
        .job = jobbytes, .job_len = sizeof(jobbytes), .reason = reason,
        .attempts = 3, .first_failed_ms = 10, .last_failed_ms = 20, .consumer = consumer,
        .id = NULL, .errs = errs, .nerrs = 2,
    };
    dead_record *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    job_error err;

    assert_int_equal(dead_encode(&rec, &buf, &len), 0);
    assert_int_equal(dead_decode(buf, len, NULL, &back, &err), 0);
    assert_int_equal(back->job_len, sizeof(jobbytes));
    assert_memory_equal(back->job, jobbytes, sizeof(jobbytes));
    assert_string_equal(back->reason, rec.reason);
    assert_int_equal(back->attempts, 3);
    assert_int_equal(back->first_failed_ms, 10);
    assert_int_equal(back->last_failed_ms, 20);
    assert_string_equal(back->consumer, "host-1:42");
    assert_null(back->id);
    assert_int_equal(back->nerrs, 2);
    assert_string_equal(back->errs[1], errs[1]);
    dead_free(back);
    free(buf);

    rec.id = id;
    assert_int_equal(dead_encode(&rec, &buf, &len), 0);
    assert_int_equal(dead_decode(buf, len, NULL, &back, &err), 0);
    assert_string_equal(back->id, "job-7");
    dead_free(back);
    /* A job is not a dead record. */
    assert_int_equal(dead_decode(buf, len - 1, NULL, &back, &err), JOB_EBADLENGTH);
    free(buf);
    dead_free(NULL);
}

static void test_dead_missing_field(void **state)
{
    static const uint8_t rec[] = {0x81, 0xa3, 'j', 'o', 'b', 0xc4, 0x01, 0x00};
    dead_record *back = NULL;
    job_error err;

    assert_int_equal(dead_decode(rec, sizeof(rec), NULL, &back, &err), JOB_EMISSING);
    assert_string_equal(err.field, "reason");
    assert_null(back);
}

static void test_dead_oversized(void **state)
{
    char reason[] = "too_large: (payload): payload is 9 bytes, limit 8";
    char consumer[] = "c-1", key[] = "invq:{default}:oversized:c-1:5:1";
    char *errs[] = {reason};
    dead_record rec = {
        .job = NULL, .job_len = 0, .reason = reason, .attempts = 1, .first_failed_ms = 5, .last_failed_ms = 5,
        .consumer = consumer, .errs = errs, .nerrs = 1, .job_key = key, .job_size = 9,
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    dead_record *back = NULL;
    job_error err;

    assert_int_equal(dead_encode(&rec, &buf, &len), 0);
    assert_int_equal(dead_decode(buf, len, NULL, &back, &err), 0);
    assert_int_equal(back->job_len, 0);
    assert_string_equal(back->job_key, rec.job_key);
    assert_int_equal(back->job_size, 9);
    dead_free(back);
    free(buf);

    /* job_size without job_key, and the reverse, are refused. */
    static const uint8_t half[] = {0x87, 0xa3, 'j', 'o', 'b', 0xc4, 0x00, 0xa6, 'r', 'e', 'a', 's', 'o', 'n', 0xa1,
                                   'x', 0xa8, 'a', 't', 't', 'e', 'm', 'p', 't', 's', 0x01, 0xaf, 'f', 'i', 'r',
                                   's', 't', '_', 'f', 'a', 'i', 'l', 'e', 'd', '_', 'm', 's', 0x01, 0xae, 'l',
                                   'a', 's', 't', '_', 'f', 'a', 'i', 'l', 'e', 'd', '_', 'm', 's', 0x01, 0xa8,
                                   'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0xa1, 'c', 0xa8, 'j', 'o', 'b', '_',
                                   's', 'i', 'z', 'e', 0x09};
    assert_int_equal(dead_decode(half, sizeof(half), NULL, &back, &err), JOB_EMISSING);
    assert_string_equal(err.field, "job_key");
    /* An oversized record keeps no bytes in `job`. */
    static const uint8_t job1[] = {0x01};
    rec.job = (uint8_t *)job1;
    rec.job_len = 1;
    assert_int_equal(dead_encode(&rec, &buf, &len), 0);
    assert_int_equal(dead_decode(buf, len, NULL, &back, &err), JOB_EBADVALUE);
    assert_string_equal(err.field, "job");
    free(buf);
}

static void test_reserved_keys(void **state)
{
    static const uint8_t bin[] = {'i', 'n', 'v', 'q', ':', 0xff, 0x00, '\\'};
    const char *ns[] = {"other", "invq"};
    invq_job *job = job_new();
    job_key_ref at = {99, 99};
    char reason[512];

    assert_true(job_key_reserved("invq:{default}:pending", 22, "invq"));
    assert_true(job_key_reserved("invq:", 5, "invq"));
    assert_false(job_key_reserved("invq", 4, "invq"));
    assert_false(job_key_reserved("invqx:1", 7, "invq"));
    assert_false(job_key_reserved("invq:1", 6, ""));
    assert_false(job_key_reserved("invq:1", 6, NULL));
    /* only the first len bytes count */
    assert_false(job_key_reserved("invq:1", 4, "invq"));

    assert_non_null(job);
    assert_int_equal(job_add_op(job, JOB_OP_DEL, 0, false, 0), 0);
    assert_int_equal(job_op_add_key(job, 0, "user:1", 6, false), 0);
    assert_false(job_find_reserved(job, ns, 2, &at));
    assert_false(job_reserved_reason(job, ns, 2, reason, sizeof(reason)));
    assert_int_equal(job_add_op(job, JOB_OP_BUMP, 0, false, 0), 1);
    assert_int_equal(job_op_add_key(job, 1, "v:1", 3, false), 0);
    assert_int_equal(job_op_add_key(job, 1, bin, sizeof(bin), true), 0);
    assert_true(job_find_reserved(job, ns, 2, &at));
    assert_int_equal(at.op, 1);
    assert_int_equal(at.key, 1);
    assert_false(job_find_reserved(job, ns, 1, &at));
    assert_true(job_reserved_reason(job, ns, 2, reason, sizeof(reason)));
    assert_string_equal(reason, "key_not_allowed: bump invq:\\xff\\x00\\x5c: reserved for the queue");
    job_free(job);

    /* Without a detail (keys outside every family), and a cut key. */
    char key[100];
    memset(key, 'k', sizeof(key));
    job_reason_key_not_allowed(reason, sizeof(reason), JOB_OP_EXPIRE, key, sizeof(key), NULL);
    assert_string_equal(reason, "key_not_allowed: expire kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...");
    job_describe_key(reason, 8, "abcdefgh", 8);
    assert_string_equal(reason, "abc"); /* room is kept for one \\xNN */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decoded_job_is_editable),
        cmocka_unit_test(test_builders_validate),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_uint64_max),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_rewrite_meta),
        cmocka_unit_test(test_rewrite_meta_many_errs),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_dead_round_trip),
        cmocka_unit_test(test_dead_missing_field),
        cmocka_unit_test(test_dead_oversized),
        cmocka_unit_test(test_reserved_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
