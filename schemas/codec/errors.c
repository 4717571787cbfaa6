/* Error names, messages and the small helpers every codec file reports
 * failures through. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "job.h"

const char *job_err_code(int code)
{
    switch (code) {
    case 0: return "ok";
    case JOB_ENOMEM: return "no_memory";
    case JOB_ETRUNCATED: return "truncated";
    case JOB_ETRAILING: return "trailing_bytes";
    case JOB_ENOTMAP: return "not_map";
    case JOB_ETOOLARGE: return "too_large";
    case JOB_ETOODEEP: return "too_deep";
    case JOB_EBADLENGTH: return "bad_length";
    case JOB_EMALFORMED: return "malformed";
    case JOB_EMISSING: return "missing_field";
    case JOB_EWRONGTYPE: return "wrong_type";
    case JOB_EBADVALUE: return "bad_value";
    case JOB_EVERSION: return "unsupported_version";
    case JOB_EUNKNOWNOP: return "unknown_op";
    case JOB_EEMPTY: return "empty";
    case JOB_EKEYTOOLONG: return "key_too_long";
    case JOB_ETOOMANYKEYS: return "too_many_keys";
    case JOB_EDUPLICATE: return "duplicate_field";
    default: return "unknown";
    }
}

void job_error_format(const job_error *err, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (err == NULL) {
        buf[0] = '\0';
        return;
    }
    if (err->field[0] != '\0')
        snprintf(buf, len, "%s %s: %s", job_err_code(err->code), err->field, err->reason);
    else
        snprintf(buf, len, "%s: %s", job_err_code(err->code), err->reason);
}

int codec_err(job_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    return code;
}

void codec_printable(char *out, size_t out_len, const uint8_t *p, size_t n)
{
    size_t i;

    if (out_len == 0)
        return;
    for (i = 0; i < n && i + 1 < out_len; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[i] = '\0';
}

void job_release(const invq_job *job, void *ptr)
{
    if (ptr != NULL && !job_pool_owns(job, ptr))
        free(ptr);
}

const job_limits *codec_limits(const job_limits *lim, job_limits *storage)
{
    if (lim != NULL)
        return lim;
    job_limits_default(storage);
    return storage;
}

bool job_is_worker_field(const uint8_t *p, size_t n)
{
    static const char *const names[] = {JOB_F_ATTEMPT, JOB_F_FIRST_FAILED, JOB_F_REDO, JOB_F_ERRS};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
            return true;
    return false;
}

static int slice_cmp(const void *a, const void *b)
{
    const codec_slice *x = a, *y = b;

    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

long codec_find_duplicate(codec_slice *s, size_t n)
{
    size_t i;

    if (n < 2)
        return -1;
    qsort(s, n, sizeof(*s), slice_cmp);
    for (i = 1; i < n; i++)
        if (slice_cmp(&s[i - 1], &s[i]) == 0)
            return (long)i;
    return -1;
}
