/* One batch from decode to settlement: plan each job, coalesce what is to be
 * applied, then turn per-entry cache results into finish.lua records. */
#include "batch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "dead.h"
#include "key_policy.h"
#include "log.h"
#include "reserve.h"

void batch_init(batch *b)
{
    memset(b, 0, sizeof *b);
    coalesce_init(&b->co);
}

void batch_reset(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        job_free(b->jobs[i].job);
        free(b->jobs[i].reason);
    }
    b->n = 0;
    b->used = 0;
    b->napply = 0;
    coalesce_reset(&b->co);
}

void batch_deinit(batch *b)
{
    batch_reset(b);
    free(b->bytes);
    free(b->jobs);
    coalesce_deinit(&b->co);
    memset(b, 0, sizeof *b);
}

int batch_add(batch *b, const void *data, size_t len, uint64_t reaped)
{
    if (array_reserve((void **)&b->bytes, &b->cap, b->used + len, 1, 65536) < 0 ||
        array_reserve((void **)&b->jobs, &b->cap_jobs, b->n + 1, sizeof *b->jobs, 256) < 0)
        return -ENOMEM;
    if (len > 0)
        memcpy(b->bytes + b->used, data, len);
    b->jobs[b->n++] = (batch_job){ .off = b->used, .len = len, .reaped = reaped };
    b->used += len;
    return 0;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int plan_one(batch *b, batch_job *bj, const batch_policy *p, uint64_t now_ms, rng *r)
{
    job_error err;
    memset(&err, 0, sizeof err);
    int rc = job_decode(b->bytes + bj->off, bj->len, &p->limits, &bj->job, &err);
    if (rc == JOB_ENOMEM)
        return -ENOMEM;
    if (rc < 0) {
        bj->plan = PLAN_DEAD;
        bj->attempt_no = bj->reaped + 1;
        bj->reason = dup_printf("%s: %s: %s", job_err_code(err.code), err.field[0] ? err.field : "(payload)",
                                err.reason);
        return bj->reason != NULL ? 0 : -ENOMEM;
    }
    invq_job *job = bj->job;
    uint64_t before = job->attempt + bj->reaped;
    bj->attempt_no = before + 1;
    if (before >= p->max_attempts) {
        bj->plan = PLAN_DEAD;
        bj->attempt_no = before;
        if (bj->reaped > 0)
            bj->reason = dup_printf("max_attempts: consumer died while processing it %" PRIu64 " times",
                                    bj->reaped);
        else
            bj->reason = dup_printf("max_attempts: already attempted %" PRIu64 " times", before);
        return bj->reason != NULL ? 0 : -ENOMEM;
    }
    char refused[JOB_KEY_DESC_MAX + 64];
    if (job_reserved_reason(job, p->reserved_ns, p->nreserved_ns, refused, sizeof refused)) {
        /* a job is one unit: nothing of it is applied */
        bj->plan = PLAN_DEAD;
        bj->reason = strdup(refused);
        return bj->reason != NULL ? 0 : -ENOMEM;
    }
    if (job->has_after_ms && job->ts + job->after_ms > now_ms) {
        bj->plan = PLAN_DEFER;
        return 0;
    }
    bj->plan = PLAN_APPLY;
    bj->edge_first = (uint32_t)b->co.nedges;
    for (size_t o = 0; o < job->nops; o++) {
        const job_op *op = &job->ops[o];
        for (size_t k = 0; k < op->nkeys; k++) {
            uint64_t ttl = 0;
            if (op->kind == JOB_OP_EXPIRE)
                ttl = op->has_jitter ? backoff_ttl_jitter(r, op->ttl_ms, op->jitter_pct) : op->ttl_ms;
            if (coalesce_add(&b->co, op->kind, op->keys[k].data, op->keys[k].len, ttl) < 0)
                return -ENOMEM;
        }
    }
    bj->edge_count = (uint32_t)(b->co.nedges - bj->edge_first);
    b->napply++;
    return 0;
}

int batch_plan_all(batch *b, const batch_policy *p, uint64_t now_ms, rng *r)
{
    for (size_t i = 0; i < b->n; i++) {
        int rc = plan_one(b, &b->jobs[i], p, now_ms, r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const char *reason_code(const char *reason, char *buf, size_t len)
{
    const char *colon = strchr(reason, ':');
    size_t n = colon != NULL ? (size_t)(colon - reason) : strlen(reason);
    if (n >= len)
        n = len - 1;
    memcpy(buf, reason, n);
    buf[n] = '\0';
    return buf;
}

/* Collects the job's earlier reasons plus `reason` (at most JOB_MAX_ERRS). */
static size_t gather_errs(const invq_job *job, const char *reason, const char **errs)
{
    size_t n = 0;
    if (job != NULL) {
        size_t first = job->nerrs + 1 > JOB_MAX_ERRS ? job->nerrs + 1 - JOB_MAX_ERRS : 0;
        for (size_t i = first; i < job->nerrs; i++)
            errs[n++] = job->errs[i];
    }
    errs[n++] = reason;
    return n;
}

static int push_dead(batch *b, batch_job *bj, const char *reason, const batch_policy *p, uint64_t now_ms,
                     metrics *m, argv_buf *out)
{
    const invq_job *job = bj->job;
    const char *errs[JOB_MAX_ERRS + 1];
    size_t nerrs = gather_errs(job, reason, errs);
    uint8_t *orig = NULL;
    size_t orig_len = 0;
    if (job != NULL && job_rewrite_meta(b->bytes + bj->off, bj->len, NULL, &orig, &orig_len) < 0)
        return -ENOMEM;
    dead_record rec = {
        .job = orig != NULL ? orig : b->bytes + bj->off,
        .job_len = orig != NULL ? orig_len : bj->len,
        .reason = (char *)reason,
        .attempts = bj->attempt_no,
        .first_failed_ms = job != NULL && job->has_first_failed_ms ? job->first_failed_ms : now_ms,
        .last_failed_ms = now_ms,
        .consumer = (char *)p->consumer,
        .id = job != NULL ? job->id : NULL,
        .errs = (char **)errs,
        .nerrs = nerrs,
    };
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int rc = dead_encode(&rec, &enc, &enc_len);
    free(orig);
    if (rc < 0)
        return -ENOMEM;
    if (argv_push_str(out, "d") < 0 || argv_push_owned(out, enc, enc_len) < 0)
        return -ENOMEM;
    char code[48];
    if (m != NULL)
        metrics_dead_letter(m, reason_code(reason, code, sizeof code));
    log_event(LOG_WARN, "job dead-lettered", LOG_S("job", job != NULL ? job->id : NULL),
              LOG_S("fam", job != NULL ? job->fam : NULL), LOG_S("src", job != NULL ? job->src : NULL),
              LOG_N("attempt", bj->attempt_no), LOG_S("reason", reason), LOG_S("consumer", p->consumer));
    return 0;
}

static int push_retry(batch *b, batch_job *bj, const char *reason, const batch_policy *p, uint64_t now_ms,
                      rng *r, argv_buf *out)
{
    const invq_job *job = bj->job;
    const char *errs[JOB_MAX_ERRS + 1];
    size_t nerrs = gather_errs(job, reason, errs);
    job_meta meta = {
        .attempt = bj->attempt_no,
        .first_failed_ms = job->has_first_failed_ms ? job->first_failed_ms : now_ms,
        .redo_done = job->redo_done,
        .errs = errs,
        .nerrs = nerrs,
    };
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    if (job_rewrite_meta(b->bytes + bj->off, bj->len, &meta, &copy, &copy_len) < 0)
        return -ENOMEM;
    uint64_t delay = backoff_full_jitter(r, p->backoff_base_ms, p->backoff_max_ms, bj->attempt_no);
    if (argv_push_str(out, "z") < 0 || argv_push_u64(out, now_ms + delay) < 0 ||
        argv_push_owned(out, copy, copy_len) < 0)
        return -ENOMEM;
    log_event(LOG_INFO, "job retry scheduled", LOG_S("job", job->id), LOG_S("fam", job->fam),
              LOG_S("src", job->src), LOG_N("attempt", bj->attempt_no), LOG_N("delay_ms", delay),
              LOG_S("reason", reason));
    return 0;
}

static int push_redo(batch *b, batch_job *bj, uint64_t now_ms, argv_buf *out)
{
    const invq_job *job = bj->job;
    job_meta meta = {
        .attempt = job->attempt,
        .first_failed_ms = job->has_first_failed_ms ? job->first_failed_ms : 0,
        .redo_done = true,
        .errs = (const char *const *)job->errs,
        .nerrs = job->nerrs,
    };
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    if (job_rewrite_meta(b->bytes + bj->off, bj->len, &meta, &copy, &copy_len) < 0)
        return -ENOMEM;
    if (argv_push_str(out, "z") < 0 || argv_push_u64(out, now_ms + job->redo_ms) < 0 ||
        argv_push_owned(out, copy, copy_len) < 0)
        return -ENOMEM;
    return 0;
}

/* The first failed entry of a job, permanent failures first; NULL if all ok. */
static const cache_result *job_failure(const batch *b, const batch_job *bj, const cache_result *results,
                                       const cache_entry **entry)
{
    const cache_result *worst = NULL;
    for (uint32_t i = 0; i < bj->edge_count; i++) {
        uint32_t e = b->co.edges[bj->edge_first + i];
        const cache_result *res = &results[e];
        if (res->status == CACHE_OK)
            continue;
        if (worst == NULL || (res->status == CACHE_PERMANENT && worst->status != CACHE_PERMANENT)) {
            worst = res;
            *entry = &b->co.entries[e];
        }
    }
    return worst;
}

static int settle_applied(batch *b, batch_job *bj, const cache_result *results, const batch_policy *p,
                          uint64_t now_ms, rng *r, metrics *m, argv_buf *out, batch_outcome *oc)
{
    const cache_entry *entry = NULL;
    const cache_result *fail = job_failure(b, bj, results, &entry);
    if (fail == NULL) {
        oc->done++;
        if (m != NULL)
            metrics_lag(m, now_ms > bj->job->ts ? (double)(now_ms - bj->job->ts) / 1000.0 : 0.0);
        if (bj->job->has_redo_ms && !bj->job->redo_done) {
            oc->deferred++;
            return push_redo(b, bj, now_ms, out);
        }
        return 0;
    }
    char key[JOB_KEY_DESC_MAX];
    job_describe_key(key, sizeof key, entry->key, entry->len);
    /* Redis's message is cut so that a dead-letter record stays within its
     * bound (job-v1.md §7) */
    char *reason = dup_printf("%s: %s %s: %.512s", fail->code, job_op_name(entry->op), key,
                              fail->msg != NULL ? fail->msg : "");
    if (reason == NULL)
        return -ENOMEM;
    int rc;
    if (fail->status == CACHE_PERMANENT) {
        oc->dead++;
        rc = push_dead(b, bj, reason, p, now_ms, m, out);
    } else if (bj->attempt_no >= p->max_attempts) {
        char *last = dup_printf("max_attempts: %" PRIu64 " attempts, last: %s", bj->attempt_no, reason);
        oc->dead++;
        rc = last != NULL ? push_dead(b, bj, last, p, now_ms, m, out) : -ENOMEM;
        free(last);
    } else {
        oc->retried++;
        rc = push_retry(b, bj, reason, p, now_ms, r, out);
    }
    free(reason);
    return rc;
}

static void count_keys(const batch *b, const cache_result *results, metrics *m)
{
    uint64_t n[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < b->co.nentries; i++) {
        if (results[i].status == CACHE_OK)
            n[b->co.entries[i].op & 3]++;
    }
    for (int op = JOB_OP_DEL; op <= JOB_OP_EXPIRE; op++) {
        if (n[op] > 0)
            metrics_keys(m, job_op_name((job_op_kind)op), n[op]);
    }
}

int batch_settle(batch *b, const cache_result *results, const batch_policy *p, uint64_t now_ms, rng *r,
                 metrics *m, argv_buf *out, batch_outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    for (size_t i = 0; i < b->n; i++) {
        batch_job *bj = &b->jobs[i];
        int rc = 0;
        switch (bj->plan) {
        case PLAN_DEAD:
            oc->dead++;
            rc = push_dead(b, bj, bj->reason, p, now_ms, m, out);
            break;
        case PLAN_DEFER:
            oc->deferred++;
            if (argv_push_str(out, "z") < 0 || argv_push_u64(out, bj->job->ts + bj->job->after_ms) < 0 ||
                argv_push(out, b->bytes + bj->off, bj->len) < 0)
                rc = -ENOMEM;
            break;
        case PLAN_APPLY:
            rc = settle_applied(b, bj, results, p, now_ms, r, m, out, oc);
            break;
        }
        if (rc < 0)
            return rc;
        /* a deferred job keeps its reap count: its bytes come back unchanged */
        if (bj->reaped > 0 && bj->plan != PLAN_DEFER &&
            (argv_push_str(out, "h") < 0 || argv_push(out, b->bytes + bj->off, bj->len) < 0))
            return -ENOMEM;
    }
    if (m != NULL) {
        if (results != NULL)
            count_keys(b, results, m);
        if (oc->done > 0)
            metrics_jobs_finished(m, "done", oc->done);
        if (oc->retried > 0)
            metrics_jobs_finished(m, "retried", oc->retried);
        if (oc->dead > 0)
            metrics_jobs_finished(m, "dead", oc->dead);
    }
    return 0;
}
