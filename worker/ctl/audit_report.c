/* The audit's results (audit.h): their lifetime, and their rendering as a
 * table for people or as JSON lines. Keys and values are rendered binary
 * safe (output_safe_bytes): printable ASCII as is, "\\", other bytes \xNN. */
#include "audit_report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define VALUE_CAP 256 /* bytes of a key or value shown in a report */

const char *const audit_skip_names[AUDIT_NSKIP] = {
    [AUDIT_SKIP_GONE] = "gone",
    [AUDIT_SKIP_LEASE] = "lease",
    [AUDIT_SKIP_UNKNOWN_MARKER] = "unknown_marker",
    [AUDIT_SKIP_WRONG_TYPE] = "wrong_type",
    [AUDIT_SKIP_OLD_VERSION] = "old_version",
    [AUDIT_SKIP_BAD_VERSION] = "bad_version",
    [AUDIT_SKIP_UNSETTLED] = "unsettled",
    [AUDIT_SKIP_UNFIT] = "unfit",
};

void audit_result_init(audit_result *r, const fam_family *f)
{
    memset(r, 0, sizeof(*r));
    r->family = f;
}

static void examples_free(audit_example *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].cached);
        free(e[i].source);
        free(e[i].reason);
    }
    free(e);
}

void audit_result_deinit(audit_result *r)
{
    free(r->source);
    examples_free(r->examples, r->nexamples);
    examples_free(r->unfit, r->nunfit);
    free(r->error_msg);
    memset(r, 0, sizeof(*r));
}

void audit_result_fail(audit_result *r, int code, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "invqctl: audit: family %s: %s\n", r->family->name, msg);
    if (r->error)
        return;
    r->error = code;
    r->error_msg = strdup(msg);
}

uint64_t audit_result_stale_total(const audit_result *r)
{
    return r->stale + r->orphan;
}

static double ratio(uint64_t stale, uint64_t checked)
{
    return checked ? (double)stale / (double)checked : NAN;
}

static uint64_t skipped_total(const audit_result *r)
{
    uint64_t n = 0;
    for (int i = 0; i < AUDIT_NSKIP; i++)
        n += r->skipped[i];
    return n;
}

static const char *outcome_name(audit_outcome o)
{
    return o == AUDIT_STALE ? "stale" : o == AUDIT_ORPHAN ? "orphan" : o == AUDIT_UNFIT ? "unfit" : "ok";
}

/* ------------------------------------------------------------ people */

static void print_value(FILE *f, const char *label, bool present, bool negative, const char *data, size_t len,
                        const char *absent)
{
    if (negative) {
        fprintf(f, "%s a negative entry (no such row)", label);
    } else if (!present) {
        fprintf(f, "%s %s", label, absent);
    } else {
        char *s = output_safe_bytes(data, len, VALUE_CAP);
        fprintf(f, "%s \"%s\"", label, s ? s : "?");
        free(s);
    }
}

static void print_details(const audit_result *r, FILE *f)
{
    const char *name = r->family->name;
    if (skipped_total(r)) {
        fprintf(f, "%s: skipped", name);
        const char *sep = " ";
        for (int i = 0; i < AUDIT_NSKIP; i++)
            if (r->skipped[i]) {
                fprintf(f, "%s%s %llu", sep, audit_skip_names[i], (unsigned long long)r->skipped[i]);
                sep = ", ";
            }
        fputc('\n', f);
    }
    for (size_t i = 0; i < r->nexamples; i++) {
        const audit_example *e = &r->examples[i];
        char *key = output_safe_bytes(e->key, e->keylen, VALUE_CAP);
        fprintf(f, "%s: %s %s: ", name, outcome_name(e->outcome), key ? key : "?");
        print_value(f, "cached", e->cached != NULL, e->cached_negative, e->cached, e->cachedlen, "(empty)");
        print_value(f, ", source", e->source_row, false, e->source, e->sourcelen, "has no row");
        fputc('\n', f);
        free(key);
    }
    for (size_t i = 0; i < r->nunfit; i++) {
        char *key = output_safe_bytes(r->unfit[i].key, r->unfit[i].keylen, VALUE_CAP);
        char *why = output_term_text(r->unfit[i].reason ? r->unfit[i].reason : "");
        fprintf(f, "%s: unfit %s: %s (not queried)\n", name, key ? key : "?", why ? why : "?");
        free(key);
        free(why);
    }
    if (r->error) {
        char *msg = output_term_text(r->error_msg ? r->error_msg : "failed");
        fprintf(f, "%s: FAILED: %s\n", name, msg ? msg : "failed");
        free(msg);
    }
}

void audit_report_table(const audit_result *r, size_t n, FILE *f)
{
    static const char *const head[] = {"FAMILY", "SOURCE", "SAMPLED", "CHECKED", "OK", "STALE", "ORPHAN",
                                       "RECHECKED", "SKIPPED", "STALE%", "TIME"};
    out_table *t = out_table_new(11, head);
    if (!t)
        return;
    out_table_cap(t, 1, 48);
    for (size_t i = 0; i < n; i++) {
        char c[9][32];
        const audit_result *x = &r[i];
        snprintf(c[0], 32, "%llu", (unsigned long long)x->sampled);
        snprintf(c[1], 32, "%llu", (unsigned long long)x->checked);
        snprintf(c[2], 32, "%llu", (unsigned long long)x->ok);
        snprintf(c[3], 32, "%llu", (unsigned long long)x->stale);
        snprintf(c[4], 32, "%llu", (unsigned long long)x->orphan);
        snprintf(c[5], 32, "%llu", (unsigned long long)x->rechecked);
        snprintf(c[6], 32, "%llu", (unsigned long long)skipped_total(x));
        if (x->checked)
            snprintf(c[7], 32, "%.2f%%", 100.0 * ratio(audit_result_stale_total(x), x->checked));
        else
            snprintf(c[7], 32, "-");
        snprintf(c[8], 32, "%.1fs", x->duration_s);
        char *src = output_term_text(x->source ? x->source : "");
        const char *cells[] = {x->family->name, src, c[0], c[1], c[2], c[3], c[4], c[5], c[6],
                               x->error ? "FAILED" : c[7], c[8]};
        out_table_add(t, cells);
        free(src);
    }
    out_table_print(t, f);
    out_table_free(t);
    for (size_t i = 0; i < n; i++)
        print_details(&r[i], f);
}

/* ------------------------------------------------------------ JSON */

static json_t *bytes_or_null(bool present, const char *data, size_t len)
{
    return present ? output_json_bytes(data, len, VALUE_CAP) : json_null();
}

static json_t *ratio_json(uint64_t stale, uint64_t checked)
{
    return checked ? json_real(ratio(stale, checked)) : json_null();
}

static json_t *examples_json(const audit_example *e, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_object();
        if (!o)
            break;
        json_object_set_new(o, "key", output_json_bytes(e[i].key, e[i].keylen, VALUE_CAP));
        json_object_set_new(o, "outcome", json_string(outcome_name(e[i].outcome)));
        if (e[i].outcome == AUDIT_UNFIT) {
            json_object_set_new(o, "reason", output_json_text(e[i].reason));
        } else {
            json_object_set_new(o, "cached", bytes_or_null(e[i].cached != NULL, e[i].cached, e[i].cachedlen));
            json_object_set_new(o, "cached_len", json_integer((json_int_t)e[i].cachedlen));
            json_object_set_new(o, "cached_negative", json_boolean(e[i].cached_negative));
            json_object_set_new(o, "source", bytes_or_null(e[i].source_row, e[i].source, e[i].sourcelen));
            json_object_set_new(o, "source_len", json_integer((json_int_t)e[i].sourcelen));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *family_json(const audit_result *r)
{
    json_t *o = json_object(), *skipped = json_object();
    if (!o || !skipped) {
        json_decref(o);
        json_decref(skipped);
        return NULL;
    }
    for (int i = 0; i < AUDIT_NSKIP; i++)
        json_object_set_new(skipped, audit_skip_names[i], json_integer((json_int_t)r->skipped[i]));
    json_object_set_new(o, "family", json_string(r->family->name));
    json_object_set_new(o, "source", output_json_text(r->source));
    json_object_set_new(o, "scanned", json_integer((json_int_t)r->scanned));
    json_object_set_new(o, "sampled", json_integer((json_int_t)r->sampled));
    json_object_set_new(o, "checked", json_integer((json_int_t)r->checked));
    json_object_set_new(o, "ok", json_integer((json_int_t)r->ok));
    json_object_set_new(o, "stale", json_integer((json_int_t)r->stale));
    json_object_set_new(o, "orphan", json_integer((json_int_t)r->orphan));
    json_object_set_new(o, "stale_ratio", ratio_json(audit_result_stale_total(r), r->checked));
    json_object_set_new(o, "negative", json_integer((json_int_t)r->negative));
    json_object_set_new(o, "rechecked", json_integer((json_int_t)r->rechecked));
    json_object_set_new(o, "skipped", skipped);
    json_object_set_new(o, "duration_s", json_real(round(r->duration_s * 1000) / 1000));
    json_object_set_new(o, "examples", examples_json(r->examples, r->nexamples));
    json_object_set_new(o, "unfit", examples_json(r->unfit, r->nunfit));
    json_object_set_new(o, "error", r->error ? json_pack("{s:i, s:o}", "exit_code", r->error, "message",
                                                         output_json_text(r->error_msg))
                                             : json_null());
    return o;
}

int audit_report_json(const audit_result *r, size_t n)
{
    uint64_t t[7] = {0};
    double dur = 0;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = output_json_line(family_json(&r[i]));
        if (rc)
            return rc;
        t[0] += r[i].sampled;
        t[1] += r[i].checked;
        t[2] += r[i].ok;
        t[3] += r[i].stale;
        t[4] += r[i].orphan;
        t[5] += r[i].rechecked;
        t[6] += skipped_total(&r[i]);
        dur += r[i].duration_s;
        failed += r[i].error != 0;
    }
    if (n < 2)
        return 0;
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "family", json_null());
    json_object_set_new(o, "families", json_integer((json_int_t)n));
    json_object_set_new(o, "failed", json_integer((json_int_t)failed));
    json_object_set_new(o, "sampled", json_integer((json_int_t)t[0]));
    json_object_set_new(o, "checked", json_integer((json_int_t)t[1]));
    json_object_set_new(o, "ok", json_integer((json_int_t)t[2]));
    json_object_set_new(o, "stale", json_integer((json_int_t)t[3]));
    json_object_set_new(o, "orphan", json_integer((json_int_t)t[4]));
    json_object_set_new(o, "stale_ratio", ratio_json(t[3] + t[4], t[1]));
    json_object_set_new(o, "rechecked", json_integer((json_int_t)t[5]));
    json_object_set_new(o, "skipped", json_integer((json_int_t)t[6]));
    json_object_set_new(o, "duration_s", json_real(round(dur * 1000) / 1000));
    return output_json_line(o);
}
