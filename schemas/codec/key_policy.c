/* The reserved-key rule and the `key_not_allowed` reasons (see key_policy.h). */
#include "key_policy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool job_key_reserved(const void *key, size_t len, const char *ns)
{
    size_t n = ns != NULL ? strlen(ns) : 0;

    if (n == 0 || key == NULL || len < n + 1)
        return false;
    return memcmp(key, ns, n) == 0 && ((const uint8_t *)key)[n] == ':';
}

bool job_find_reserved(const invq_job *job, const char *const *ns, size_t nns, job_key_ref *where)
{
    size_t o, k, i;

    if (job == NULL)
        return false;
    for (o = 0; o < job->nops; o++) {
        const job_op *op = &job->ops[o];
        for (k = 0; k < op->nkeys; k++) {
            for (i = 0; i < nns; i++) {
                if (job_key_reserved(op->keys[k].data, op->keys[k].len, ns[i])) {
                    if (where != NULL)
                        *where = (job_key_ref){o, k};
                    return true;
                }
            }
        }
    }
    return false;
}

bool job_reserved_reason(const invq_job *job, const char *const *ns, size_t nns, char *reason, size_t len)
{
    job_key_ref at;

    if (!job_find_reserved(job, ns, nns, &at))
        return false;
    const job_op *op = &job->ops[at.op];
    job_reason_key_not_allowed(reason, len, op->kind, op->keys[at.key].data, op->keys[at.key].len,
                               JOB_RESERVED_DETAIL);
    return true;
}

int job_reason_key_not_allowed(char *buf, size_t len, job_op_kind op, const void *key, size_t klen,
                               const char *detail)
{
    char shown[JOB_KEY_DESC_MAX];
    const char *name = job_op_name(op);

    job_describe_key(shown, sizeof(shown), key, klen);
    return snprintf(buf, len, "%s: %s %s%s%s", JOB_REASON_KEY_NOT_ALLOWED, name != NULL ? name : "?", shown,
                    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

void job_describe_key(char *buf, size_t len, const void *key, size_t klen)
{
    const uint8_t *p = key;
    size_t shown = klen < 64 ? klen : 64;
    size_t o = 0, i;

    if (len == 0)
        return;
    for (i = 0; i < shown && o + 5 < len; i++) {
        if (p[i] >= 0x21 && p[i] < 0x7f && p[i] != '\\')
            buf[o++] = (char)p[i];
        else
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", p[i]);
    }
    if (shown < klen && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}
