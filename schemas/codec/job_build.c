/* Building and freeing jobs in memory: the constructors, setters and
 * appenders that producers use and job_decode() fills. */
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "job.h"

void job_limits_default(job_limits *l)
{
    l->max_payload = JOB_DEFAULT_MAX_PAYLOAD;
    l->max_keys = JOB_DEFAULT_MAX_KEYS;
    l->max_key_len = JOB_DEFAULT_MAX_KEY_LEN;
}

const char *job_op_name(job_op_kind kind)
{
    switch (kind) {
    case JOB_OP_DEL: return "del";
    case JOB_OP_BUMP: return "bump";
    case JOB_OP_EXPIRE: return "expire";
    default: return NULL;
    }
}

invq_job *job_new(void)
{
    invq_job *job = calloc(1, sizeof(*job));

    if (job != NULL)
        job->v = JOB_SCHEMA_VERSION;
    return job;
}

void job_free(invq_job *job)
{
    size_t i, k;

    if (job == NULL)
        return;
    for (i = 0; i < job->nops; i++) {
        job_op *op = &job->ops[i];
        for (k = 0; k < op->nkeys; k++)
            job_release(job, op->keys[k].data);
        job_release(job, op->keys);
    }
    job_release(job, job->ops);
    job_release(job, job->id);
    job_release(job, job->src);
    job_release(job, job->fam);
    for (i = 0; i < job->nerrs; i++)
        job_release(job, job->errs[i]);
    job_release(job, job->errs);
    free(job);
}

static int set_str(invq_job *job, char **slot, const char *s)
{
    char *copy = NULL;

    if (s != NULL && (copy = strdup(s)) == NULL)
        return JOB_ENOMEM;
    job_release(job, *slot);
    *slot = copy;
    return 0;
}

int job_set_id(invq_job *job, const char *id)
{
    return set_str(job, &job->id, id);
}

int job_set_src(invq_job *job, const char *src)
{
    return set_str(job, &job->src, src);
}

int job_set_fam(invq_job *job, const char *fam)
{
    return set_str(job, &job->fam, fam);
}

int job_add_op(invq_job *job, job_op_kind kind, uint64_t ttl_ms, bool has_jitter, uint32_t jitter_pct)
{
    job_op *op;

    if (job_op_name(kind) == NULL)
        return JOB_EUNKNOWNOP;
    if (job->nops > (size_t)INT32_MAX)
        return JOB_ETOOMANYKEYS;
    if (job->nops == job->cap_ops || job_pool_owns(job, job->ops)) {
        size_t cap = job->cap_ops ? job->cap_ops * 2 : 2;
        job_op *ops;
        if (job_pool_owns(job, job->ops)) {
            ops = malloc(cap * sizeof(*ops));
            if (ops != NULL && job->nops > 0)
                memcpy(ops, job->ops, job->nops * sizeof(*ops));
        } else {
            ops = realloc(job->ops, cap * sizeof(*ops));
        }
        if (ops == NULL)
            return JOB_ENOMEM;
        job->ops = ops;
        job->cap_ops = cap;
    }
    op = &job->ops[job->nops];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    if (kind == JOB_OP_EXPIRE) {
        op->ttl_ms = ttl_ms;
        op->has_jitter = has_jitter;
        op->jitter_pct = has_jitter ? jitter_pct : 0;
    }
    return (int)job->nops++;
}

int job_op_add_key(invq_job *job, size_t op_index, const void *key, size_t len, bool bin)
{
    job_op *op;
    uint8_t *data;

    if (op_index >= job->nops || (key == NULL && len > 0))
        return JOB_EBADVALUE;
    op = &job->ops[op_index];
    if (op->nkeys == op->cap_keys) {
        size_t cap = op->cap_keys ? op->cap_keys * 2 : 4;
        job_key *keys;
        if (job_pool_owns(job, op->keys)) {
            keys = malloc(cap * sizeof(*keys));
            if (keys != NULL && op->nkeys > 0)
                memcpy(keys, op->keys, op->nkeys * sizeof(*keys));
        } else {
            keys = realloc(op->keys, cap * sizeof(*keys));
        }
        if (keys == NULL)
            return JOB_ENOMEM;
        op->keys = keys;
        op->cap_keys = cap;
    }
    data = malloc(len ? len : 1);
    if (data == NULL)
        return JOB_ENOMEM;
    if (len > 0)
        memcpy(data, key, len);
    op->keys[op->nkeys].data = data;
    op->keys[op->nkeys].len = len;
    op->keys[op->nkeys].bin = bin;
    op->nkeys++;
    return 0;
}

int job_add_err(invq_job *job, const char *reason)
{
    char *copy;

    if (reason == NULL)
        return JOB_EBADVALUE;
    if (job->errs == NULL) {
        job->errs = calloc(JOB_MAX_ERRS, sizeof(*job->errs));
        if (job->errs == NULL)
            return JOB_ENOMEM;
    }
    if ((copy = strdup(reason)) == NULL)
        return JOB_ENOMEM;
    if (job->nerrs == JOB_MAX_ERRS) {
        job_release(job, job->errs[0]);
        memmove(job->errs, job->errs + 1, (JOB_MAX_ERRS - 1) * sizeof(*job->errs));
        job->nerrs--;
    }
    job->errs[job->nerrs++] = copy;
    return 0;
}
