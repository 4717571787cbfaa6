/* Runs every golden vector of schemas/vectors/manifest.json through
 * job_decode() and checks exactly the documented result: the decoded job for
 * valid ones (and, for canonical ones, that job_encode() gives back the same
 * bytes), the error code and field path for invalid ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "dead.h"
#include "job.h"
#include "key_policy.h"

static const char *vectors_dir;
static json_t *manifest;

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[4096];
    uint8_t *buf;
    long size;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", vectors_dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Decodes a key of the JSON mapping: a string, or {"$bin": base64}. */
static size_t b64_decode(const char *in, uint8_t *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    size_t n = 0;
    int bits = 0;

    for (; *in && *in != '='; in++) {
        const char *p = strchr(alphabet, *in);
        assert_non_null(p);
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static void check_key(const char *name, const job_key *key, json_t *want)
{
    uint8_t buf[2048];

    if (json_is_string(want)) {
        if (key->bin || key->len != json_string_length(want) ||
            memcmp(key->data, json_string_value(want), key->len) != 0)
            fail_msg("%s: str key differs from %s", name, json_string_value(want));
    } else {
        const char *b64 = json_string_value(json_object_get(want, "$bin"));
        size_t n;
        assert_non_null(b64);
        assert_true(strlen(b64) <= sizeof(buf) * 4 / 3);
        n = b64_decode(b64, buf);
        if (!key->bin || key->len != n || memcmp(key->data, buf, n) != 0)
            fail_msg("%s: bin key differs from %s", name, b64);
    }
}

static void check_uint(const char *name, const char *field, bool has, uint64_t got, json_t *job)
{
    json_t *want = json_object_get(job, field);

    if (want == NULL) {
        if (has)
            fail_msg("%s: %s decoded but not expected", name, field);
        return;
    }
    if (!has || got != (uint64_t)json_integer_value(want))
        fail_msg("%s: %s is %llu, expected %lld", name, field, (unsigned long long)got,
                 (long long)json_integer_value(want));
}

static void check_str(const char *name, const char *field, const char *got, json_t *job)
{
    json_t *want = json_object_get(job, field);

    if (want == NULL && got == NULL)
        return;
    if (want == NULL || got == NULL || strcmp(got, json_string_value(want)) != 0)
        fail_msg("%s: %s is \"%s\", expected \"%s\"", name, field, got ? got : "(null)",
                 want ? json_string_value(want) : "(absent)");
}

static void check_job(const char *name, const invq_job *job, json_t *want)
{
    json_t *ops = json_object_get(want, "ops"), *errs = json_object_get(want, "errs");
    size_t i, k;

    check_uint(name, "v", true, job->v, want);
    check_str(name, "id", job->id, want);
    check_uint(name, "ts", true, job->ts, want);
    check_str(name, "src", job->src, want);
    check_str(name, "fam", job->fam, want);
    check_uint(name, "after_ms", job->has_after_ms, job->after_ms, want);
    check_uint(name, "redo_ms", job->has_redo_ms, job->redo_ms, want);
    check_uint(name, "attempt", job->has_attempt, job->attempt, want);
    check_uint(name, "first_failed_ms", job->has_first_failed_ms, job->first_failed_ms, want);
    assert_int_equal(job->redo_done, json_is_true(json_object_get(want, "redo")));
    assert_int_equal(job->nerrs, json_array_size(errs));
    for (i = 0; i < job->nerrs; i++)
        assert_string_equal(job->errs[i], json_string_value(json_array_get(errs, i)));
    assert_int_equal(job->nops, json_array_size(ops));
    for (i = 0; i < job->nops; i++) {
        const job_op *op = &job->ops[i];
        json_t *wop = json_array_get(ops, i), *keys = json_object_get(wop, "keys");
        assert_string_equal(job_op_name(op->kind), json_string_value(json_object_get(wop, "op")));
        check_uint(name, "ttl_ms", op->kind == JOB_OP_EXPIRE, op->ttl_ms, wop);
        check_uint(name, "jitter_pct", op->has_jitter, op->jitter_pct, wop);
        assert_int_equal(op->nkeys, json_array_size(keys));
        for (k = 0; k < op->nkeys; k++)
            check_key(name, &op->keys[k], json_array_get(keys, k));
    }
}

static void run_vector(json_t *vec, size_t *nvalid, size_t *ninvalid)
{
    const char *name = json_string_value(json_object_get(vec, "name"));
    uint8_t *buf, *enc = NULL, *copy = NULL;
    size_t len, enclen, copylen;
    invq_job *job = NULL;
    job_error err;
    int rc;

    buf = read_file(json_string_value(json_object_get(vec, "file")), &len);
    rc = job_decode(buf, len, NULL, &job, &err);
    if (json_is_true(json_object_get(vec, "valid"))) {
        if (rc != 0) {
            char msg[320];
            job_error_format(&err, msg, sizeof(msg));
            fail_msg("%s: expected valid, got %s", name, msg);
        }
        check_job(name, job, json_object_get(vec, "job"));
        if (json_is_true(json_object_get(vec, "canonical"))) {
            assert_int_equal(job_encode(job, NULL, &enc, &enclen, &err), 0);
            if (enclen != len || memcmp(enc, buf, len) != 0)
                fail_msg("%s: job_encode() does not give back the vector's bytes", name);
            free(enc);
        }
        /* With no worker fields, rewriting without meta is an exact copy. */
        if (!job->has_attempt && job->nerrs == 0 && !job->redo_done && !job->has_first_failed_ms) {
            assert_int_equal(job_rewrite_meta(buf, len, NULL, &copy, &copylen), 0);
            assert_int_equal(copylen, len);
            assert_memory_equal(copy, buf, len);
            free(copy);
        }
        job_free(job);
        (*nvalid)++;
    } else {
        json_t *want = json_object_get(vec, "error");
        const char *code = json_string_value(json_object_get(want, "code"));
        const char *field = json_string_value(json_object_get(want, "field"));
        if (rc == 0)
            fail_msg("%s: expected %s, decoded fine", name, code);
        assert_null(job);
        if (strcmp(job_err_code(rc), code) != 0 || strcmp(err.field, field) != 0 || err.code != rc)
            fail_msg("%s: expected %s at \"%s\", got %s at \"%s\" (%s)", name, code, field, job_err_code(rc),
                     err.field, err.reason);
        assert_true(err.reason[0] != '\0');
        (*ninvalid)++;
    }
    free(buf);
}

static void test_all_vectors(void **state)
{
    json_t *vectors = json_object_get(manifest, "vectors");
    size_t i, nvalid = 0, ninvalid = 0;

    assert_true(json_array_size(vectors) > 0);
    for (i = 0; i < json_array_size(vectors); i++)
        run_vector(json_array_get(vectors, i), &nvalid, &ninvalid);
    assert_true(nvalid >= 15);
    assert_true(ninvalid >= 25);
    printf("# %zu valid and %zu invalid vectors checked\n", nvalid, ninvalid);
}

static void check_dead(json_t *entry)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    json_t *want = json_object_get(entry, "record"), *errs = json_object_get(want, "errs");
    const char *b64 = json_string_value(json_object_get(json_object_get(want, "job"), "$bin"));
    uint8_t *buf, *enc = NULL, *jobbytes;
    size_t len, enclen, n, i;
    dead_record *rec = NULL;
    job_error err;

    buf = read_file(json_string_value(json_object_get(entry, "file")), &len);
    if (dead_decode(buf, len, NULL, &rec, &err) != 0)
        fail_msg("%s: dead_decode failed: %s %s", name, err.field, err.reason);
    jobbytes = malloc(strlen(b64) + 1);
    assert_non_null(jobbytes);
    n = b64_decode(b64, jobbytes);
    assert_int_equal(rec->job_len, n);
    assert_memory_equal(rec->job, jobbytes, n);
    free(jobbytes);
    assert_string_equal(rec->reason, json_string_value(json_object_get(want, "reason")));
    assert_string_equal(rec->consumer, json_string_value(json_object_get(want, "consumer")));
    assert_int_equal(rec->attempts, json_integer_value(json_object_get(want, "attempts")));
    assert_int_equal(rec->first_failed_ms, json_integer_value(json_object_get(want, "first_failed_ms")));
    assert_int_equal(rec->last_failed_ms, json_integer_value(json_object_get(want, "last_failed_ms")));
    check_str(name, "id", rec->id, want);
    assert_int_equal(rec->nerrs, json_array_size(errs));
    for (i = 0; i < rec->nerrs; i++)
        assert_string_equal(rec->errs[i], json_string_value(json_array_get(errs, i)));
    check_str(name, "job_key", rec->job_key, want);
    assert_int_equal(rec->job_size, json_integer_value(json_object_get(want, "job_size")));
    /* The C encoder writes the same bytes. */
    assert_int_equal(dead_encode(rec, &enc, &enclen), 0);
    if (enclen != len || memcmp(enc, buf, len) != 0)
        fail_msg("%s: dead_encode() does not give back the vector's bytes", name);
    free(enc);
    dead_free(rec);
    free(buf);
}

static void test_dead_records(void **state)
{
    json_t *recs = json_object_get(manifest, "dead_records");
    size_t i;

    assert_true(json_array_size(recs) >= 2);
    for (i = 0; i < json_array_size(recs); i++)
        check_dead(json_array_get(recs, i));
}

/* The reserved-key rule (job-v1.md 3.1) on the manifest's cases. */
static void test_reserved_keys(void **state)
{
    json_t *cases = json_object_get(manifest, "reserved_keys");
    size_t i;

    assert_true(json_array_size(cases) >= 10);
    for (i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *key = json_object_get(c, "key");
        const char *ns = json_string_value(json_object_get(c, "ns"));
        uint8_t buf[256];
        size_t len;
        if (json_is_string(key)) {
            len = strlen(json_string_value(key));
            memcpy(buf, json_string_value(key), len);
        } else {
            len = b64_decode(json_string_value(json_object_get(key, "$bin")), buf);
        }
        if (job_key_reserved(buf, len, ns) != json_is_true(json_object_get(c, "reserved")))
            fail_msg("reserved-key case %zu (ns \"%s\"): job_key_reserved() disagrees with the manifest", i, ns);
    }
    printf("# %zu reserved-key cases checked\n", json_array_size(cases));
}

static void test_limits_match_header(void **state)
{
    json_t *lim = json_object_get(manifest, "limits");

    assert_int_equal(json_integer_value(json_object_get(lim, "max_payload")), JOB_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(json_integer_value(json_object_get(lim, "max_keys")), JOB_DEFAULT_MAX_KEYS);
    assert_int_equal(json_integer_value(json_object_get(lim, "max_key_len")), JOB_DEFAULT_MAX_KEY_LEN);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_vectors),
        cmocka_unit_test(test_dead_records),
        cmocka_unit_test(test_reserved_keys),
        cmocka_unit_test(test_limits_match_header),
    };
    char path[4096];
    json_error_t jerr;
    int rc;

    vectors_dir = argc > 1 ? argv[1] : getenv("INVQ_VECTORS_DIR");
    if (vectors_dir == NULL) {
        fprintf(stderr, "usage: %s VECTORS_DIR (or INVQ_VECTORS_DIR)\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/manifest.json", vectors_dir);
    manifest = json_load_file(path, 0, &jerr);
    if (manifest == NULL) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(manifest);
    return rc;
}
