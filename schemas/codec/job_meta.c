/* Rewrites the worker-owned fields of an encoded job without touching the
 * producer's entries, so unknown fields survive retries byte for byte. */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "codec_internal.h"
#include "job.h"

/* Walks the top-level entries, appending the kept ones to sb (NULL: only counts). */
static int copy_entries(const uint8_t *in, size_t len, msgpack_sbuffer *sb, uint64_t *kept, uint64_t *dropped)
{
    mp_reader r;
    mp_obj o, key;
    uint64_t e;
    int rc;

    *kept = *dropped = 0;
    mp_reader_init(&r, in, len);
    if ((rc = mp_read(&r, &o)) < 0)
        return rc;
    if (o.type != MP_MAP)
        return JOB_ENOTMAP;
    for (e = 0; e < o.u; e++) {
        const uint8_t *start = r.p;
        if ((rc = mp_read(&r, &key)) < 0 || (rc = mp_skip(&r, JOB_MAX_DEPTH)) < 0)
            return rc;
        if (key.type == MP_STR && job_is_worker_field(key.ptr, key.len)) {
            (*dropped)++;
            continue;
        }
        (*kept)++;
        if (sb != NULL && msgpack_sbuffer_write(sb, (const char *)start, (size_t)(r.p - start)) != 0)
            return JOB_ENOMEM;
    }
    return 0;
}

int job_rewrite_meta(const uint8_t *in, size_t len, const job_meta *meta, uint8_t **out, size_t *outlen)
{
    static const job_meta none = {0, 0, false, NULL, 0};
    const char *const *errs;
    size_t nerrs, nmeta;
    uint64_t kept, dropped;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    *out = NULL;
    *outlen = 0;
    if (in == NULL || len == 0)
        return JOB_ETRUNCATED;
    if ((rc = mp_prescan(in, len)) < 0)
        return rc;
    if ((rc = copy_entries(in, len, NULL, &kept, &dropped)) < 0)
        return rc;
    if (meta == NULL)
        meta = &none;
    errs = meta->errs;
    nerrs = errs != NULL ? meta->nerrs : 0;
    if (nerrs > JOB_MAX_ERRS) {
        errs += nerrs - JOB_MAX_ERRS;
        nerrs = JOB_MAX_ERRS;
    }
    for (size_t i = 0; i < nerrs; i++)
        if (errs[i] == NULL)
            return JOB_EBADVALUE;
    nmeta = job_meta_count(meta->attempt, meta->first_failed_ms, meta->redo_done, nerrs);

    if (dropped == 0 && nmeta == 0) {
        if ((*out = malloc(len)) == NULL)
            return JOB_ENOMEM;
        memcpy(*out, in, len);
        *outlen = len;
        return 0;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, (size_t)(kept + nmeta)) != 0) {
        rc = JOB_ENOMEM;
        goto fail;
    }
    if ((rc = copy_entries(in, len, &sb, &kept, &dropped)) < 0)
        goto fail;
    if (job_pack_meta(&pk, meta->attempt, meta->first_failed_ms, meta->redo_done, errs, nerrs) != 0) {
        rc = JOB_ENOMEM;
        goto fail;
    }
    *outlen = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
    return 0;
fail:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
