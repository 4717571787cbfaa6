/* Encodes a validated job to msgpack with msgpack-c's packer, in the field
 * order of job-v1.md (producer fields first, worker-owned fields last). */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "codec_internal.h"
#include "job.h"

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_name(msgpack_packer *pk, const char *name)
{
    return pack_str(pk, name, strlen(name));
}

static int pack_uint_field(msgpack_packer *pk, const char *name, uint64_t v)
{
    return pack_name(pk, name) || msgpack_pack_uint64(pk, v);
}

static int pack_str_field(msgpack_packer *pk, const char *name, const char *s)
{
    return pack_name(pk, name) || pack_name(pk, s);
}

static int pack_op(msgpack_packer *pk, const job_op *op)
{
    bool expire = op->kind == JOB_OP_EXPIRE;
    size_t n = 2 + (expire ? 1 + (op->has_jitter ? 1 : 0) : 0);
    size_t k;

    if (msgpack_pack_map(pk, n) || pack_str_field(pk, "op", job_op_name(op->kind)))
        return -1;
    if (pack_name(pk, "keys") || msgpack_pack_array(pk, op->nkeys))
        return -1;
    for (k = 0; k < op->nkeys; k++) {
        const job_key *key = &op->keys[k];
        if (key->bin) {
            if (msgpack_pack_bin(pk, key->len) || msgpack_pack_bin_body(pk, key->data, key->len))
                return -1;
        } else if (msgpack_pack_str(pk, key->len) || msgpack_pack_str_body(pk, key->data, key->len)) {
            return -1;
        }
    }
    if (expire && pack_uint_field(pk, "ttl_ms", op->ttl_ms))
        return -1;
    if (expire && op->has_jitter && pack_uint_field(pk, "jitter_pct", op->jitter_pct))
        return -1;
    return 0;
}

size_t job_meta_count(uint64_t attempt, uint64_t first_failed_ms, bool redo, size_t nerrs)
{
    return (attempt > 0) + (first_failed_ms > 0) + (redo ? 1 : 0) + (nerrs > 0);
}

int job_pack_meta(msgpack_packer *pk, uint64_t attempt, uint64_t first_failed_ms, bool redo,
                  const char *const *errs, size_t nerrs)
{
    size_t i;

    if (attempt > 0 && pack_uint_field(pk, JOB_F_ATTEMPT, attempt))
        return -1;
    if (first_failed_ms > 0 && pack_uint_field(pk, JOB_F_FIRST_FAILED, first_failed_ms))
        return -1;
    if (redo && (pack_name(pk, JOB_F_REDO) || msgpack_pack_true(pk)))
        return -1;
    if (nerrs > 0) {
        if (pack_name(pk, JOB_F_ERRS) || msgpack_pack_array(pk, nerrs))
            return -1;
        for (i = 0; i < nerrs; i++)
            if (pack_name(pk, errs[i]))
                return -1;
    }
    return 0;
}

static int pack_job(msgpack_packer *pk, const invq_job *job)
{
    size_t n = 4, i;
    uint64_t attempt = job->has_attempt ? job->attempt : 0;
    uint64_t first_failed = job->has_first_failed_ms ? job->first_failed_ms : 0;

    n += (job->src != NULL) + (job->fam != NULL) + job->has_after_ms + job->has_redo_ms;
    n += job_meta_count(attempt, first_failed, job->redo_done, job->nerrs);
    if (msgpack_pack_map(pk, n) || pack_uint_field(pk, "v", job->v) || pack_str_field(pk, "id", job->id) ||
        pack_uint_field(pk, "ts", job->ts))
        return -1;
    if (job->src != NULL && pack_str_field(pk, "src", job->src))
        return -1;
    if (job->fam != NULL && pack_str_field(pk, "fam", job->fam))
        return -1;
    if (job->has_after_ms && pack_uint_field(pk, "after_ms", job->after_ms))
        return -1;
    if (job->has_redo_ms && pack_uint_field(pk, "redo_ms", job->redo_ms))
        return -1;
    if (pack_name(pk, "ops") || msgpack_pack_array(pk, job->nops))
        return -1;
    for (i = 0; i < job->nops; i++)
        if (pack_op(pk, &job->ops[i]))
            return -1;
    return job_pack_meta(pk, attempt, first_failed, job->redo_done, (const char *const *)job->errs, job->nerrs);
}

int job_encode(const invq_job *job, const job_limits *lim, uint8_t **out, size_t *outlen, job_error *err)
{
    job_limits defaults;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    int rc;

    *out = NULL;
    *outlen = 0;
    lim = codec_limits(lim, &defaults);
    if ((rc = job_validate(job, lim, err)) < 0)
        return rc;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (pack_job(&pk, job) != 0) {
        msgpack_sbuffer_destroy(&sbuf);
        return codec_err(err, JOB_ENOMEM, "", "out of memory while encoding");
    }
    if (sbuf.size > lim->max_payload) {
        size_t size = sbuf.size;
        msgpack_sbuffer_destroy(&sbuf);
        return codec_err(err, JOB_ETOOLARGE, "", "encoded job is %zu bytes, limit %zu", size, lim->max_payload);
    }
    *outlen = sbuf.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sbuf);
    return 0;
}
