/* Checks an in-memory job against the v1 spec and the limits before it is
 * encoded (job_decode() applies the same rules to the wire bytes). */
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"
#include "job.h"

static int check_name(const char *s, const char *field, job_error *err)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n > JOB_MAX_NAME_LEN)
        return codec_err(err, JOB_EBADVALUE, field, "%s is %zu bytes, limit %u", field, n, JOB_MAX_NAME_LEN);
    return 0;
}

static int check_op(const job_op *op, size_t i, const job_limits *lim, size_t *total, job_error *err)
{
    char field[96];
    size_t k;

    if (job_op_name(op->kind) == NULL) {
        snprintf(field, sizeof(field), "ops[%zu].op", i);
        return codec_err(err, JOB_EUNKNOWNOP, field, "op kind %d is not del, bump or expire", (int)op->kind);
    }
    snprintf(field, sizeof(field), "ops[%zu].keys", i);
    if (op->nkeys == 0)
        return codec_err(err, JOB_EEMPTY, field, "an op needs at least one key");
    if (op->nkeys > lim->max_keys - *total)
        return codec_err(err, JOB_ETOOMANYKEYS, field, "job has more than %zu keys", lim->max_keys);
    *total += op->nkeys;
    for (k = 0; k < op->nkeys; k++) {
        const job_key *key = &op->keys[k];
        if (key->len == 0 || key->len > lim->max_key_len) {
            snprintf(field, sizeof(field), "ops[%zu].keys[%zu]", i, k);
            if (key->len == 0)
                return codec_err(err, JOB_EEMPTY, field, "key is empty");
            return codec_err(err, JOB_EKEYTOOLONG, field, "key is %zu bytes, limit %zu", key->len,
                             lim->max_key_len);
        }
    }
    if (op->kind == JOB_OP_EXPIRE) {
        if (op->ttl_ms == 0) {
            snprintf(field, sizeof(field), "ops[%zu].ttl_ms", i);
            return codec_err(err, JOB_EBADVALUE, field, "ttl_ms must be > 0");
        }
        if (op->has_jitter && op->jitter_pct > 100) {
            snprintf(field, sizeof(field), "ops[%zu].jitter_pct", i);
            return codec_err(err, JOB_EBADVALUE, field, "jitter_pct is %u, limit 100", op->jitter_pct);
        }
    }
    return 0;
}

int job_validate(const invq_job *job, const job_limits *lim, job_error *err)
{
    job_limits defaults;
    size_t i, n, total = 0;
    int rc;

    lim = codec_limits(lim, &defaults);
    if (job == NULL)
        return codec_err(err, JOB_EBADVALUE, "", "no job");
    if (job->v == 0 || job->v > JOB_SCHEMA_VERSION)
        return codec_err(err, JOB_EVERSION, "v", "version %llu, supported 1..%d", (unsigned long long)job->v,
                         JOB_SCHEMA_VERSION);
    if (job->id == NULL)
        return codec_err(err, JOB_EMISSING, "id", "id is required");
    n = strlen(job->id);
    if (n == 0)
        return codec_err(err, JOB_EEMPTY, "id", "id is empty");
    if (n > JOB_MAX_ID_LEN)
        return codec_err(err, JOB_EBADVALUE, "id", "id is %zu bytes, limit %u", n, JOB_MAX_ID_LEN);
    if (job->nops == 0)
        return codec_err(err, JOB_EEMPTY, "ops", "a job needs at least one op");
    for (i = 0; i < job->nops; i++)
        if ((rc = check_op(&job->ops[i], i, lim, &total, err)) < 0)
            return rc;
    if ((rc = check_name(job->src, "src", err)) < 0 || (rc = check_name(job->fam, "fam", err)) < 0)
        return rc;
    if (job->nerrs > JOB_MAX_ERRS)
        return codec_err(err, JOB_EBADVALUE, "errs", "%zu reasons, limit %u", job->nerrs, JOB_MAX_ERRS);
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    return 0;
}
