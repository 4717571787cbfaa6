/* Dead-letter records: encoding with msgpack-c's packer and bounded decoding
 * of what invqctl reads back from the dead list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "codec_internal.h"
#include "dead.h"

enum { D_JOB, D_REASON, D_ATTEMPTS, D_FIRST, D_LAST, D_CONSUMER, D_ID, D_ERRS, D_SIZE, D_KEY, D_N };

static const char *const dead_names[D_N] = {
    "job", "reason", "attempts", "first_failed_ms", "last_failed_ms", "consumer", "id", "errs",
    "job_size", "job_key",
};

void dead_free(dead_record *rec)
{
    size_t i;

    if (rec == NULL)
        return;
    free(rec->job);
    free(rec->reason);
    free(rec->consumer);
    free(rec->id);
    for (i = 0; i < rec->nerrs; i++)
        free(rec->errs[i]);
    free(rec->errs);
    free(rec->job_key);
    free(rec);
}

static int pack_key(msgpack_packer *pk, const char *name)
{
    size_t n = strlen(name);

    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, name, n);
}

static int pack_str(msgpack_packer *pk, const char *name, const char *s)
{
    return pack_key(pk, name) || pack_key(pk, s != NULL ? s : "");
}

static int pack_uint(msgpack_packer *pk, const char *name, uint64_t v)
{
    return pack_key(pk, name) || msgpack_pack_uint64(pk, v);
}

static int pack_record(msgpack_packer *pk, const dead_record *rec)
{
    size_t i;

    if (msgpack_pack_map(pk, 7 + (rec->id != NULL) + (rec->job_key != NULL ? 2 : 0)))
        return -1;
    if (pack_key(pk, "job") || msgpack_pack_bin(pk, rec->job_len) ||
        msgpack_pack_bin_body(pk, rec->job, rec->job_len))
        return -1;
    if (pack_str(pk, "reason", rec->reason) || pack_uint(pk, "attempts", rec->attempts) ||
        pack_uint(pk, "first_failed_ms", rec->first_failed_ms) ||
        pack_uint(pk, "last_failed_ms", rec->last_failed_ms) || pack_str(pk, "consumer", rec->consumer))
        return -1;
    if (rec->id != NULL && pack_str(pk, "id", rec->id))
        return -1;
    if (pack_key(pk, "errs") || msgpack_pack_array(pk, rec->nerrs))
        return -1;
    for (i = 0; i < rec->nerrs; i++)
        if (pack_key(pk, rec->errs[i] != NULL ? rec->errs[i] : ""))
            return -1;
    if (rec->job_key != NULL &&
        (pack_uint(pk, "job_size", rec->job_size) || pack_str(pk, "job_key", rec->job_key)))
        return -1;
    return 0;
}

int dead_encode(const dead_record *rec, uint8_t **out, size_t *outlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    *out = NULL;
    *outlen = 0;
    if (rec == NULL || (rec->job == NULL && rec->job_len > 0) || rec->nerrs > JOB_MAX_ERRS)
        return JOB_EBADVALUE;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (pack_record(&pk, rec) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return JOB_ENOMEM;
    }
    *outlen = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
    return 0;
}

static int read_obj(const uint8_t *pos, const uint8_t *end, mp_obj *o, mp_type want, const char *field,
                    job_error *err)
{
    mp_reader r = {pos, end};
    int rc;

    if ((rc = mp_read(&r, o)) < 0)
        return codec_err(err, rc, field, "malformed value");
    if (o->type != want)
        return codec_err(err, JOB_EWRONGTYPE, field, "%s has the wrong type", field);
    return 0;
}

static int dup_str(const mp_obj *o, const char *field, char **out, job_error *err)
{
    if (o->len > 0 && memchr(o->ptr, 0, o->len) != NULL)
        return codec_err(err, JOB_EBADVALUE, field, "%s contains a NUL byte", field);
    if ((*out = malloc((size_t)o->len + 1)) == NULL)
        return codec_err(err, JOB_ENOMEM, field, "out of memory");
    if (o->len > 0)
        memcpy(*out, o->ptr, o->len);
    (*out)[o->len] = '\0';
    return 0;
}

static int read_errs(dead_record *rec, const uint8_t *pos, const uint8_t *end, job_error *err)
{
    mp_reader r = {pos, end};
    char field[32];
    mp_obj o;
    uint64_t i;
    int rc;

    if ((rc = read_obj(pos, end, &o, MP_ARRAY, "errs", err)) < 0)
        return rc;
    if (o.u > JOB_MAX_ERRS)
        return codec_err(err, JOB_EBADVALUE, "errs", "%llu reasons, limit %u", (unsigned long long)o.u,
                         JOB_MAX_ERRS);
    if (o.u == 0)
        return 0;
    if ((rec->errs = calloc(o.u, sizeof(*rec->errs))) == NULL)
        return codec_err(err, JOB_ENOMEM, "errs", "out of memory");
    mp_read(&r, &o);
    for (i = 0; i < o.u; i++) {
        mp_obj s;
        snprintf(field, sizeof(field), "errs[%llu]", (unsigned long long)i);
        if ((rc = read_obj(r.p, end, &s, MP_STR, field, err)) < 0)
            return rc;
        if ((rc = dup_str(&s, field, &rec->errs[i], err)) < 0)
            return rc;
        rec->nerrs++;
        mp_skip(&r, 1);
    }
    return 0;
}

static int read_record(dead_record *rec, const uint8_t **pos, const uint8_t *end, job_error *err)
{
    static const int required[] = {D_JOB, D_REASON, D_ATTEMPTS, D_FIRST, D_LAST, D_CONSUMER};
    uint64_t *uints[D_N] = {NULL};
    mp_obj o;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (pos[required[i]] == NULL)
            return codec_err(err, JOB_EMISSING, dead_names[required[i]], "%s is required",
                             dead_names[required[i]]);
    if ((rc = read_obj(pos[D_JOB], end, &o, MP_BIN, "job", err)) < 0)
        return rc;
    if ((rec->job = malloc(o.len ? o.len : 1)) == NULL)
        return codec_err(err, JOB_ENOMEM, "job", "out of memory");
    if (o.len > 0)
        memcpy(rec->job, o.ptr, o.len);
    rec->job_len = o.len;
    if ((rc = read_obj(pos[D_REASON], end, &o, MP_STR, "reason", err)) < 0 ||
        (rc = dup_str(&o, "reason", &rec->reason, err)) < 0)
        return rc;
    uints[D_ATTEMPTS] = &rec->attempts;
    uints[D_FIRST] = &rec->first_failed_ms;
    uints[D_LAST] = &rec->last_failed_ms;
    for (i = D_ATTEMPTS; i <= D_LAST; i++) {
        if ((rc = read_obj(pos[i], end, &o, MP_UINT, dead_names[i], err)) < 0)
            return rc;
        *uints[i] = o.u;
    }
    if ((rc = read_obj(pos[D_CONSUMER], end, &o, MP_STR, "consumer", err)) < 0 ||
        (rc = dup_str(&o, "consumer", &rec->consumer, err)) < 0)
        return rc;
    if (pos[D_ID] != NULL && ((rc = read_obj(pos[D_ID], end, &o, MP_STR, "id", err)) < 0 ||
                              (rc = dup_str(&o, "id", &rec->id, err)) < 0))
        return rc;
    if (pos[D_ERRS] != NULL && (rc = read_errs(rec, pos[D_ERRS], end, err)) < 0)
        return rc;
    /* An oversized job: both fields, a non-empty key, and no bytes in `job`. */
    if (pos[D_SIZE] != NULL || pos[D_KEY] != NULL) {
        const char *missing = pos[D_SIZE] == NULL ? "job_size" : pos[D_KEY] == NULL ? "job_key" : NULL;
        if (missing != NULL)
            return codec_err(err, JOB_EMISSING, missing, "job_size and job_key go together");
        if ((rc = read_obj(pos[D_SIZE], end, &o, MP_UINT, "job_size", err)) < 0)
            return rc;
        rec->job_size = o.u;
        if ((rc = read_obj(pos[D_KEY], end, &o, MP_STR, "job_key", err)) < 0 ||
            (rc = dup_str(&o, "job_key", &rec->job_key, err)) < 0)
            return rc;
        if (rec->job_key[0] == '\0')
            return codec_err(err, JOB_EEMPTY, "job_key", "job_key is empty");
        if (rec->job_len != 0)
            return codec_err(err, JOB_EBADVALUE, "job", "a record with job_key keeps no job bytes");
    }
    return 0;
}

int dead_decode(const uint8_t *buf, size_t len, const job_limits *lim, dead_record **out, job_error *err)
{
    const uint8_t *pos[D_N] = {NULL};
    job_limits defaults;
    dead_record *rec;
    mp_reader r;
    mp_obj o;
    int rc;

    *out = NULL;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    lim = codec_limits(lim, &defaults);
    if (buf == NULL || len == 0)
        return codec_err(err, JOB_ETRUNCATED, "", "record is empty");
    if (len > lim->max_payload + DEAD_EXTRA)
        return codec_err(err, JOB_ETOOLARGE, "", "record is %zu bytes, limit %zu", len,
                         lim->max_payload + DEAD_EXTRA);
    if ((rc = mp_prescan(buf, len)) < 0)
        return codec_err(err, rc, "", "record is not one well-formed msgpack object");
    mp_reader_init(&r, buf, len);
    if ((rc = mp_read(&r, &o)) < 0)
        return codec_err(err, rc, "", "malformed record");
    if (o.type != MP_MAP)
        return codec_err(err, JOB_ENOTMAP, "", "record is not a map");
    if ((rc = codec_scan_map(&r, o.u, dead_names, D_N, pos, "", err)) < 0)
        return rc;
    if ((rec = calloc(1, sizeof(*rec))) == NULL)
        return codec_err(err, JOB_ENOMEM, "", "out of memory");
    if ((rc = read_record(rec, pos, buf + len, err)) < 0) {
        dead_free(rec);
        return rc;
    }
    *out = rec;
    return 0;
}
