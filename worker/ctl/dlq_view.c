/* Rendering of dead-letter entries: JSON summary/full objects and the
 * human-readable `dlq show` text. Keys are always shown safely (see
 * output_safe_bytes). */
#include "dlq_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "output.h"
#include "timefmt.h"

#define KEY_CAP 200 /* bytes of a key shown before cutting */

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, output_json_text(v));
}

static void set_uint(json_t *o, const char *k, uint64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static json_t *job_error_json(const job_error *err)
{
    char msg[320];
    job_error_format(err, msg, sizeof msg);
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(job_err_code(err->code)));
    json_object_set_new(o, "field", output_json_text(err->field));
    json_object_set_new(o, "message", output_json_text(msg));
    return o;
}

json_t *dlq_view_summary_json(const dlq_entry *e, uint64_t now)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set_str(o, "ref", e->ref);
    json_object_set_new(o, "corrupt", json_boolean(!e->rec));
    if (!e->rec) {
        set_uint(o, "size", e->raw_len);
        json_object_set_new(o, "record_error", job_error_json(&e->rec_err));
        return o;
    }
    set_str(o, "id", e->rec->id);
    set_str(o, "reason", e->rec->reason);
    set_uint(o, "attempts", e->rec->attempts);
    set_uint(o, "first_failed_ms", e->rec->first_failed_ms);
    set_uint(o, "last_failed_ms", e->rec->last_failed_ms);
    json_object_set_new(o, "age_ms", json_integer((json_int_t)now - (json_int_t)e->rec->last_failed_ms));
    set_str(o, "consumer", e->rec->consumer);
    set_str(o, "family", e->job ? e->job->fam : NULL);
    set_str(o, "source", e->job ? e->job->src : NULL);
    set_uint(o, "nkeys", dlq_entry_nkeys(e));
    json_t *keys = json_array();
    size_t shown = 0;
    for (size_t i = 0; e->job && i < e->job->nops && shown < 5; i++)
        for (size_t k = 0; k < e->job->ops[i].nkeys && shown < 5; k++, shown++)
            json_array_append_new(keys, output_json_bytes(e->job->ops[i].keys[k].data,
                                                          e->job->ops[i].keys[k].len, KEY_CAP));
    json_object_set_new(o, "keys", keys);
    json_object_set_new(o, "job_error", e->job ? json_null() : job_error_json(&e->job_err));
    return o;
}

static json_t *job_json(const invq_job *j)
{
    json_t *o = json_object();
    set_uint(o, "v", j->v);
    set_str(o, "id", j->id);
    set_uint(o, "ts", j->ts);
    set_str(o, "source", j->src);
    set_str(o, "family", j->fam);
    json_object_set_new(o, "after_ms", j->has_after_ms ? json_integer((json_int_t)j->after_ms) : json_null());
    json_object_set_new(o, "redo_ms", j->has_redo_ms ? json_integer((json_int_t)j->redo_ms) : json_null());
    json_t *ops = json_array();
    for (size_t i = 0; i < j->nops; i++) {
        const job_op *op = &j->ops[i];
        json_t *jo = json_object();
        set_str(jo, "op", job_op_name(op->kind));
        if (op->kind == JOB_OP_EXPIRE) {
            set_uint(jo, "ttl_ms", op->ttl_ms);
            if (op->has_jitter)
                set_uint(jo, "jitter_pct", op->jitter_pct);
        }
        json_t *keys = json_array();
        for (size_t k = 0; k < op->nkeys; k++)
            json_array_append_new(keys, output_json_bytes(op->keys[k].data, op->keys[k].len, KEY_CAP));
        json_object_set_new(jo, "keys", keys);
        json_array_append_new(ops, jo);
    }
    json_object_set_new(o, "ops", ops);
    return o;
}

json_t *dlq_view_full_json(const dlq_entry *e, uint64_t now, const dlq_oversized *ov)
{
    json_t *o = dlq_view_summary_json(e, now);
    if (!o)
        return NULL;
    json_object_del(o, "keys");
    char hex[200];
    if (!e->rec) {
        output_hex_head(e->raw, e->raw_len, 32, hex, sizeof hex);
        set_str(o, "hex_head", hex);
        return o;
    }
    json_t *errs = json_array();
    for (size_t i = 0; i < e->rec->nerrs; i++)
        json_array_append_new(errs, output_json_text(e->rec->errs[i] ? e->rec->errs[i] : ""));
    json_object_set_new(o, "errs", errs);
    if (e->rec->job_key) {
        set_uint(o, "job_size", e->rec->job_size);
        set_str(o, "job_key", e->rec->job_key);
        json_object_set_new(o, "job_key_present", json_boolean(ov && ov->present));
        if (ov && ov->present) {
            output_hex_head(ov->head, ov->head_len, 32, hex, sizeof hex);
            set_str(o, "job_hex_head", hex);
        }
        return o;
    }
    set_uint(o, "job_size", e->rec->job_len);
    if (e->job) {
        json_object_set_new(o, "job", job_json(e->job));
    } else {
        output_hex_head(e->rec->job, e->rec->job_len, 32, hex, sizeof hex);
        set_str(o, "job_hex_head", hex);
        char *b64 = base64_encode(e->rec->job, e->rec->job_len);
        set_str(o, "job_b64", b64);
        free(b64);
    }
    return o;
}

/* Prints "label value" with control bytes in value escaped. */
static void print_text(const char *indent, int width, const char *label, const char *value)
{
    char *t = output_term_text(value ? value : "-");
    printf("%s%-*s %s\n", indent, width, label, t ? t : "?");
    free(t);
}

static void print_time(const char *label, uint64_t ms, uint64_t now)
{
    char abs[40], age[32];
    timefmt_rfc3339(ms, abs, sizeof abs);
    timefmt_age((int64_t)now - (int64_t)ms, age, sizeof age);
    printf("%-15s %s (%s ago)\n", label, abs, age);
}

static void print_job(const invq_job *j, uint64_t now)
{
    printf("job:\n");
    print_text("  ", 13, "id", j->id);
    printf("  %-13s %" PRIu64 "\n", "version", j->v);
    char abs[40], age[32];
    timefmt_rfc3339(j->ts, abs, sizeof abs);
    timefmt_age((int64_t)now - (int64_t)j->ts, age, sizeof age);
    printf("  %-13s %s (%s ago)\n", "enqueued", abs, age);
    print_text("  ", 13, "source", j->src);
    print_text("  ", 13, "family", j->fam);
    if (j->has_after_ms)
        printf("  %-13s %" PRIu64 "\n", "after_ms", j->after_ms);
    if (j->has_redo_ms)
        printf("  %-13s %" PRIu64 "\n", "redo_ms", j->redo_ms);
    for (size_t i = 0; i < j->nops; i++) {
        const job_op *op = &j->ops[i];
        printf("  op %zu: %s", i, job_op_name(op->kind));
        if (op->kind == JOB_OP_EXPIRE) {
            printf(" ttl_ms=%" PRIu64, op->ttl_ms);
            if (op->has_jitter)
                printf(" jitter_pct=%u", op->jitter_pct);
        }
        printf(", %zu key%s\n", op->nkeys, op->nkeys == 1 ? "" : "s");
        for (size_t k = 0; k < op->nkeys; k++) {
            char *s = output_safe_bytes(op->keys[k].data, op->keys[k].len, KEY_CAP);
            printf("    %s%s\n", s ? s : "?", op->keys[k].bin ? "  (bin)" : "");
            free(s);
        }
    }
}

void dlq_view_print(const dlq_entry *e, uint64_t now, const dlq_oversized *ov)
{
    char hex[200], msg[320];
    printf("%-15s %s\n", "entry", e->ref);
    if (!e->rec) {
        job_error_format(&e->rec_err, msg, sizeof msg);
        printf("%-15s CORRUPT RECORD: %s\n", "status", msg);
        output_hex_head(e->raw, e->raw_len, 32, hex, sizeof hex);
        printf("%-15s %zu bytes: %s\n", "raw", e->raw_len, hex);
        printf("(a corrupt record can be purged by its ref, not requeued)\n");
        return;
    }
    const dead_record *r = e->rec;
    print_text("", 15, "id", r->id ? r->id : "- (job not decodable)");
    print_text("", 15, "reason", r->reason);
    printf("%-15s %" PRIu64 "\n", "attempts", r->attempts);
    print_time("first failed", r->first_failed_ms, now);
    print_time("last failed", r->last_failed_ms, now);
    print_text("", 15, "consumer", r->consumer);
    printf("%-15s %zu\n", "errors", r->nerrs);
    for (size_t i = 0; i < r->nerrs; i++) {
        char num[24];
        snprintf(num, sizeof num, "%zu.", i + 1);
        print_text("  ", 0, num, r->errs[i] ? r->errs[i] : "");
    }
    if (r->job_key) {
        printf("%-15s %llu bytes, too large to keep in the record\n", "job size",
               (unsigned long long)r->job_size);
        print_text("", 15, "job key", r->job_key);
        if (ov && ov->present) {
            output_hex_head(ov->head, ov->head_len, 32, hex, sizeof hex);
            printf("%-15s %s\n", "hex head", hex);
            printf("(`invqctl dlq job %s > FILE` writes the job's bytes; requeue pushes them back from the key)\n",
                   e->ref);
        } else {
            printf("%-15s the key is %s: the job's bytes are not kept any more\n", "status",
                   ov && strcmp(ov->type, "none") != 0 ? "not a string" : "gone");
        }
        return;
    }
    printf("%-15s %zu bytes\n", "job size", r->job_len);
    if (e->job) {
        print_job(e->job, now);
    } else {
        job_error_format(&e->job_err, msg, sizeof msg);
        printf("%-15s UNDECODABLE: %s\n", "job", msg);
        output_hex_head(r->job, r->job_len, 32, hex, sizeof hex);
        printf("%-15s %s\n", "hex head", hex);
        printf("(requeue puts these bytes back unchanged; the worker will dead-letter them again)\n");
    }
}
