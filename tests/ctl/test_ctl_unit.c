/* Unit tests (no server) for invqctl's pure helpers: time parsing and
 * formatting, base64, safe rendering of keys and text, entry refs, and the
 * dead-letter filters on records built with the codec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "dead.h"
#include "dlq_entry.h"
#include "output.h"
#include "timefmt.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void check_age(int64_t ms, const char *want)
{
    char buf[32];
    timefmt_age(ms, buf, sizeof buf);
    if (strcmp(buf, want) != 0) {
        fprintf(stderr, "timefmt_age(%lld) = %s, want %s\n", (long long)ms, buf, want);
        failures++;
    }
}

static void test_timefmt(void)
{
    check_age(450, "450ms");
    check_age(12345, "12.3s");
    check_age(192000, "3m12s");
    check_age(2 * 3600000 + 5 * 60000, "2h05m");
    check_age(3 * 86400000LL + 4 * 3600000, "3d04h");
    check_age(-1500, "-1.5s");

    char buf[40];
    timefmt_rfc3339(1795672800123ull, buf, sizeof buf);
    CHECK(strcmp(buf, "2026-11-26T06:00:00.123Z") == 0);

    uint64_t t, now = 1795672800000ull;
    CHECK(timefmt_parse_time("2026-11-26T06:00:00Z", now, &t) == 0 && t == 1795672800000ull);
    CHECK(timefmt_parse_time("2026-11-26T06:00:00.5Z", now, &t) == 0 && t == 1795672800500ull);
    CHECK(timefmt_parse_time("2026-11-26T07:00:00+01:00", now, &t) == 0 && t == 1795672800000ull);
    CHECK(timefmt_parse_time("15m", now, &t) == 0 && t == now - 900000);
    CHECK(timefmt_parse_time("2h ago", now, &t) == 0 && t == now - 7200000);
    CHECK(timefmt_parse_time("3d", now, &t) == 0 && t == now - 3 * 86400000ull);
    CHECK(timefmt_parse_time("500ms", now, &t) == 0 && t == now - 500);
    CHECK(timefmt_parse_time("yesterday", now, &t) == -EINVAL);
    CHECK(timefmt_parse_time("2026-13-01T00:00:00Z", now, &t) == -EINVAL);
    CHECK(timefmt_parse_time("2026-11-26T06:00:00", now, &t) == -EINVAL);
    CHECK(timefmt_parse_time("15x", now, &t) == -EINVAL);
    CHECK(timefmt_parse_time("", now, &t) == -EINVAL);
}

static void test_base64(void)
{
    static const uint8_t data[] = {0, 1, 2, 0xff, 0xfe, 'a'};
    for (size_t n = 0; n <= sizeof data; n++) {
        char *s = base64_encode(data, n);
        uint8_t *back = NULL;
        size_t len = 99;
        CHECK(s && base64_decode(s, &back, &len) == 0 && len == n && memcmp(back, data, n) == 0);
        free(s);
        free(back);
    }
    char *s = base64_encode((const uint8_t *)"hello", 5);
    CHECK(strcmp(s, "aGVsbG8=") == 0);
    free(s);
    uint8_t *out = NULL;
    size_t len;
    CHECK(base64_decode("aGVsbG8", &out, &len) == -EINVAL);   /* no padding */
    CHECK(base64_decode("aGVs bG8=", &out, &len) == -EINVAL); /* stray space */
    CHECK(base64_decode("a!==", &out, &len) == -EINVAL);
    CHECK(out == NULL);
}

static void test_safe(void)
{
    char *s = output_safe_bytes("a\x00\xff\\b", 5, 0);
    CHECK(strcmp(s, "a\\x00\\xff\\\\b") == 0);
    free(s);
    s = output_safe_bytes("abcdefghij", 10, 4);
    CHECK(strcmp(s, "abcd...(+6 bytes)") == 0);
    free(s);
    s = output_term_text("ok\x1b[31m\n");
    CHECK(strcmp(s, "ok\\x1b[31m\\x0a") == 0);
    free(s);
    json_t *j = output_json_text("bad \xff utf8");
    CHECK(j && strcmp(json_string_value(j), "bad \\xff utf8") == 0);
    json_decref(j);
}

static uint8_t *record(const char *id, const char *fam, const char *src, const char *reason, uint64_t last,
                       size_t *len)
{
    invq_job *job = job_new();
    job_set_id(job, id);
    job->ts = 1;
    if (fam)
        job_set_fam(job, fam);
    if (src)
        job_set_src(job, src);
    int op = job_add_op(job, JOB_OP_DEL, 0, false, 0);
    job_op_add_key(job, (size_t)op, "k\x01", 2, true);
    job_limits lim;
    job_limits_default(&lim);
    uint8_t *jb = NULL, *out = NULL;
    size_t jl = 0;
    job_error err;
    CHECK(job_encode(job, &lim, &jb, &jl, &err) == 0);
    char *errs[] = {(char *)reason};
    dead_record rec = {.job = jb, .job_len = jl, .reason = (char *)reason, .attempts = 3,
                       .first_failed_ms = last - 10, .last_failed_ms = last, .consumer = (char *)"c1",
                       .id = (char *)id, .errs = errs, .nerrs = 1};
    CHECK(dead_encode(&rec, &out, len) == 0);
    free(jb);
    job_free(job);
    return out;
}

static void test_entries(void)
{
    size_t len;
    uint8_t *raw = record("job-1", "users", "api", "not_integer: ERR x", 5000, &len);
    dlq_entry e;
    CHECK(dlq_entry_init(&e, raw, len) == 0);
    CHECK(e.rec && e.job && strcmp(e.rec->id, "job-1") == 0);
    CHECK(e.ref[0] == '@' && strlen(e.ref) == DLQ_REF_LEN);
    char ref[DLQ_REF_LEN + 1];
    dlq_ref(raw, len, ref);
    CHECK(strcmp(ref, e.ref) == 0);
    CHECK(dlq_entry_is(&e, "job-1") && dlq_entry_is(&e, ref) && !dlq_entry_is(&e, "job-2"));
    CHECK(dlq_entry_nkeys(&e) == 1);
    char *keys = dlq_entry_keys_summary(&e, 3);
    CHECK(strcmp(keys, "k\\x01") == 0);
    free(keys);

    dlq_filter f = {0};
    CHECK(!dlq_filter_active(&f) && dlq_filter_match(&f, &e));
    f.reason = "integer";
    CHECK(dlq_filter_match(&f, &e));
    f.family = "orders";
    CHECK(!dlq_filter_match(&f, &e));
    f.family = "users";
    f.source = "api";
    f.has_since = true;
    f.since_ms = 5000;
    f.has_until = true;
    f.until_ms = 5000;
    CHECK(dlq_filter_match(&f, &e));
    f.since_ms = 5001;
    CHECK(!dlq_filter_match(&f, &e));
    dlq_entry_deinit(&e);
    free(raw);

    /* A corrupt record: no crash, kept raw, matches no filter. */
    static const uint8_t junk[] = {0x85, 'x', 'y'};
    CHECK(dlq_entry_init(&e, junk, sizeof junk) == 0);
    CHECK(!e.rec && !e.job && e.rec_err.code != 0 && e.raw_len == 3);
    dlq_filter none = {0};
    CHECK(dlq_filter_match(&none, &e) && !dlq_filter_match(&f, &e));
    CHECK(!dlq_entry_is(&e, "job-1"));
    dlq_entry_deinit(&e);
}

static void test_table(void)
{
    const char *h[] = {"A", "LONGER"};
    out_table *t = out_table_new(2, h);
    const char *r1[] = {"xxxxxxxxxx", NULL};
    CHECK(out_table_add(t, r1) == 0);
    out_table_cap(t, 0, 6);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    out_table_print(t, f);
    fclose(f);
    CHECK(strcmp(buf, "A       LONGER\nxxx...  -\n") == 0);
    free(buf);
    CHECK(out_table_rows(t) == 1);
    out_table_free(t);
}

int main(void)
{
    test_timefmt();
    test_base64();
    test_safe();
    test_entries();
    test_table();
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
