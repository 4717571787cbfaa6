/* The public job builder (invq_job_*): a thin layer over the codec's job
 * that adds ids, binary-safe keys with str/bin chosen by UTF-8 validity, and
 * INVQ_* status codes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>

#include "error.h"
#include "job.h"
#include "job_limits.h"
#include "key_policy.h"
#include "ulid.h"
#include "utf8.h"

static int from_codec(int rc)
{
    return rc == JOB_ENOMEM ? INVQ_ENOMEM : INVQ_EINVAL;
}

INVQ_API invq_job *invq_job_new(void)
{
    char id[ULID_LEN + 1];
    invq_job *job;
    if (ulid_make(id) < 0)
        return NULL;
    if (!(job = job_new()))
        return NULL;
    if (job_set_id(job, id) < 0) {
        job_free(job);
        return NULL;
    }
    job->ts = ulid_now_ms();
    return job;
}

INVQ_API void invq_job_free(invq_job *job)
{
    job_free(job);
}

INVQ_API const char *invq_job_id(const invq_job *job)
{
    return job->id;
}

static int add_op(invq_job *job, job_op_kind kind, const void *const *keys, const size_t *lens,
                  size_t n, uint64_t ttl_ms, int jitter_pct)
{
    int idx, rc;
    if (!job || !keys || n == 0)
        return INVQ_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!keys[i])
            return INVQ_EINVAL;
    if (kind == JOB_OP_EXPIRE && (ttl_ms == 0 || jitter_pct > 100 || jitter_pct < -1))
        return INVQ_EINVAL;
    idx = job_add_op(job, kind, ttl_ms, jitter_pct >= 0, jitter_pct >= 0 ? (uint32_t)jitter_pct : 0);
    if (idx < 0)
        return from_codec(idx);
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(keys[i]);
        rc = job_op_add_key(job, (size_t)idx, keys[i], len, !utf8_valid(keys[i], len));
        if (rc < 0)
            return from_codec(rc);
    }
    return 0;
}

INVQ_API int invq_job_del(invq_job *job, const void *const *keys, const size_t *lens, size_t n)
{
    return add_op(job, JOB_OP_DEL, keys, lens, n, 0, -1);
}

INVQ_API int invq_job_bump(invq_job *job, const void *const *keys, const size_t *lens, size_t n)
{
    return add_op(job, JOB_OP_BUMP, keys, lens, n, 0, -1);
}

INVQ_API int invq_job_expire(invq_job *job, const void *const *keys, const size_t *lens, size_t n,
                             uint64_t ttl_ms, int jitter_pct)
{
    return add_op(job, JOB_OP_EXPIRE, keys, lens, n, ttl_ms, jitter_pct);
}

static int check_name(const char *s)
{
    return s && strlen(s) <= JOB_MAX_NAME_LEN ? 0 : INVQ_EINVAL;
}

INVQ_API int invq_job_set_family(invq_job *job, const char *family)
{
    if (!job || check_name(family) < 0)
        return INVQ_EINVAL;
    int rc = job_set_fam(job, family);
    return rc < 0 ? from_codec(rc) : 0;
}

INVQ_API int invq_job_set_source(invq_job *job, const char *source)
{
    if (!job || check_name(source) < 0)
        return INVQ_EINVAL;
    int rc = job_set_src(job, source);
    return rc < 0 ? from_codec(rc) : 0;
}

INVQ_API int invq_job_set_after_ms(invq_job *job, uint64_t after_ms)
{
    if (!job)
        return INVQ_EINVAL;
    job->after_ms = after_ms;
    job->has_after_ms = true;
    return 0;
}

INVQ_API int invq_job_set_redo_ms(invq_job *job, uint64_t redo_ms)
{
    if (!job)
        return INVQ_EINVAL;
    job->redo_ms = redo_ms;
    job->has_redo_ms = true;
    return 0;
}

int job_status_from_codec(int rc)
{
    switch (rc) {
    case 0: return 0;
    case JOB_ENOMEM: return INVQ_ENOMEM;
    case JOB_ETOOLARGE:
    case JOB_EKEYTOOLONG:
    case JOB_ETOOMANYKEYS: return INVQ_ELIMIT;
    default: return INVQ_EJOB;
    }
}

int job_encode_checked(const invq_job *job, const job_limits *lim, const char *ns, uint8_t **out,
                       size_t *outlen, char *err, size_t errlen)
{
    job_error je;
    char msg[400];
    int rc;
    memset(&je, 0, sizeof(je));
    if (!job)
        return err_set(err, errlen, INVQ_EINVAL, "job is NULL");
    if (job_reserved_reason(job, &ns, 1, msg, sizeof(msg)))
        return err_set(err, errlen, INVQ_EJOB, "job %s: %s", job->id ? job->id : "?", msg);
    rc = job_encode(job, lim, out, outlen, &je);
    if (rc == 0)
        return 0;
    job_error_format(&je, msg, sizeof(msg));
    return err_set(err, errlen, job_status_from_codec(rc), "job %s: %s", job->id ? job->id : "?", msg);
}

void job_limits_from_options(const invq_options *o, job_limits *lim)
{
    job_limits_default(lim);
    if (o && o->max_payload)
        lim->max_payload = o->max_payload;
    if (o && o->max_keys)
        lim->max_keys = o->max_keys;
    if (o && o->max_key_len)
        lim->max_key_len = o->max_key_len;
}

INVQ_API int invq_job_validate(const invq_job *job, const invq_options *o, char *err, size_t errlen)
{
    job_limits lim;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    job_limits_from_options(o, &lim);
    /* Encoding is the only way to check the payload-size limit exactly. */
    rc = job_encode_checked(job, &lim, o && o->ns ? o->ns : "invq", &buf, &len, err, errlen);
    free(buf);
    return rc;
}
