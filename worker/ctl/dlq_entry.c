/* Decoding and matching of dead-letter entries for invqctl. */
#include "dlq_entry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha1.h>

#include "output.h"

void dlq_ref(const void *raw, size_t raw_len, char *ref)
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, raw_len, raw);
    sha1_digest(&ctx, sizeof digest, digest);
    ref[0] = '@';
    for (int i = 0; i < 6; i++)
        snprintf(ref + 1 + 2 * i, 3, "%02x", digest[i]);
}

int dlq_entry_init(dlq_entry *e, const void *raw, size_t raw_len)
{
    memset(e, 0, sizeof *e);
    e->raw = malloc(raw_len ? raw_len : 1);
    if (!e->raw)
        return -ENOMEM;
    if (raw_len)
        memcpy(e->raw, raw, raw_len);
    e->raw_len = raw_len;
    dlq_ref(raw, raw_len, e->ref);

    /* Records may carry jobs that broke the limits the worker enforces, so
     * read them with generous bounds: we only display and move them. */
    job_limits lim = {.max_payload = 64u * 1024u * 1024u, .max_keys = 1000000u, .max_key_len = 1u << 20};
    int rc = dead_decode(e->raw, raw_len, &lim, &e->rec, &e->rec_err);
    if (rc == JOB_ENOMEM)
        return -ENOMEM;
    if (rc < 0) {
        e->rec = NULL;
        return 0;
    }
    if (e->rec->job_key) {
        /* an oversized job: its bytes are in a key of their own (dlq job) */
        snprintf(e->job_err.reason, sizeof e->job_err.reason, "the job's %llu bytes are kept in %s",
                 (unsigned long long)e->rec->job_size, e->rec->job_key);
        e->job_err.code = JOB_ETOOLARGE;
        return 0;
    }
    rc = job_decode(e->rec->job, e->rec->job_len, &lim, &e->job, &e->job_err);
    if (rc == JOB_ENOMEM) {
        dlq_entry_deinit(e);
        return -ENOMEM;
    }
    if (rc < 0)
        e->job = NULL;
    return 0;
}

void dlq_entry_deinit(dlq_entry *e)
{
    free(e->raw);
    dead_free(e->rec);
    job_free(e->job);
    memset(e, 0, sizeof *e);
}

bool dlq_filter_active(const dlq_filter *f)
{
    return f->reason || f->family || f->source || f->has_since || f->has_until;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool dlq_filter_match(const dlq_filter *f, const dlq_entry *e)
{
    if (!dlq_filter_active(f))
        return true;
    if (!e->rec)
        return false;
    if (f->reason && (!e->rec->reason || !strstr(e->rec->reason, f->reason)))
        return false;
    if (f->family && !(e->job && str_eq(e->job->fam, f->family)))
        return false;
    if (f->source && !(e->job && str_eq(e->job->src, f->source)))
        return false;
    if (f->has_since && e->rec->last_failed_ms < f->since_ms)
        return false;
    if (f->has_until && e->rec->last_failed_ms > f->until_ms)
        return false;
    return true;
}

bool dlq_entry_is(const dlq_entry *e, const char *sel)
{
    if (sel[0] == '@')
        return strcmp(sel, e->ref) == 0;
    if (e->rec && e->rec->id && strcmp(e->rec->id, sel) == 0)
        return true;
    return e->job && e->job->id && strcmp(e->job->id, sel) == 0;
}

size_t dlq_entry_nkeys(const dlq_entry *e)
{
    size_t n = 0;
    if (e->job)
        for (size_t i = 0; i < e->job->nops; i++)
            n += e->job->ops[i].nkeys;
    return n;
}

char *dlq_entry_keys_summary(const dlq_entry *e, size_t max)
{
    size_t total = dlq_entry_nkeys(e);
    size_t cap = 256, len = 0, shown = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; e->job && i < e->job->nops && shown < max; i++) {
        const job_op *op = &e->job->ops[i];
        for (size_t k = 0; k < op->nkeys && shown < max; k++, shown++) {
            char *s = output_safe_bytes(op->keys[k].data, op->keys[k].len, 64);
            if (!s) {
                free(out);
                return NULL;
            }
            size_t need = len + strlen(s) + 3;
            if (need > cap) {
                cap = need * 2;
                char *n = realloc(out, cap);
                if (!n) {
                    free(s);
                    free(out);
                    return NULL;
                }
                out = n;
            }
            len += (size_t)sprintf(out + len, "%s%s", shown ? ", " : "", s);
            free(s);
        }
    }
    if (total > shown) {
        char tail[40];
        int n = snprintf(tail, sizeof tail, "%s(+%zu)", shown ? " " : "", total - shown);
        char *nb = realloc(out, len + (size_t)n + 1);
        if (!nb) {
            free(out);
            return NULL;
        }
        out = nb;
        memcpy(out + len, tail, (size_t)n + 1);
    }
    return out;
}
