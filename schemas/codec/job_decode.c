/* Decodes untrusted bytes into a job: size limit, pre-scan of every length,
 * then the v1 field rules in a fixed order so each input has one answer. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "job.h"

enum { F_V, F_ID, F_OPS, F_TS, F_SRC, F_FAM, F_AFTER_MS, F_REDO_MS, F_ATTEMPT, F_FIRST_FAILED, F_REDO, F_ERRS, F_N };

static const char *const top_names[F_N] = {
    "v", "id", "ops", "ts", "src", "fam", "after_ms", "redo_ms",
    JOB_F_ATTEMPT, JOB_F_FIRST_FAILED, JOB_F_REDO, JOB_F_ERRS,
};

enum { O_OP, O_KEYS, O_TTL, O_JITTER, O_N };

static const char *const op_names[O_N] = {"op", "keys", "ttl_ms", "jitter_pct"};

/* Bytes set aside in a decoded job's own allocation for its ops, keys and
 * errs arrays (one op of eight keys fits); larger arrays are allocated apart. */
#define ARENA_SIZE 256u

/* One allocation per decoded job: the job, the arena for its arrays, then
 * the string pool (pool covers arena and strings; see job_pool_owns()). */
typedef struct decoded_job {
    invq_job job;
    max_align_t arena[ARENA_SIZE / sizeof(max_align_t)];
} decoded_job;

typedef struct decoder {
    const uint8_t *buf;
    const uint8_t *end;
    const job_limits *lim;
    invq_job *job;
    job_error *err;
    size_t total_keys;
    size_t arena_used;
} decoder;

static void at(const decoder *d, mp_reader *r, const uint8_t *pos)
{
    r->p = pos;
    r->end = d->end;
}

static int read_uint(const decoder *d, const uint8_t *pos, const char *field, uint64_t *v)
{
    mp_reader r;
    mp_obj o;
    int rc;

    at(d, &r, pos);
    if ((rc = mp_read(&r, &o)) < 0)
        return codec_err(d->err, rc, field, "malformed value");
    if (o.type != MP_UINT)
        return codec_err(d->err, JOB_EWRONGTYPE, field, "%s must be an unsigned integer", field);
    *v = o.u;
    return 0;
}

/* n zeroed elements of size bytes: from the arena when they fit, else calloc'd
 * (job_release() tells the two apart). */
static void *arena_alloc(decoder *d, size_t n, size_t size)
{
    size_t used = (d->arena_used + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    uint8_t *p;

    if (used > ARENA_SIZE || n > (ARENA_SIZE - used) / size)
        return calloc(n, size);
    p = d->job->pool + used;
    memset(p, 0, n * size);
    d->arena_used = used + n * size;
    return p;
}

static char *pool_copy(invq_job *job, const uint8_t *p, size_t n, bool nul)
{
    char *s = (char *)job->pool + job->pool_used;

    memcpy(s, p, n);
    if (nul)
        s[n] = '\0';
    job->pool_used += n + (nul ? 1 : 0);
    return s;
}

/* Reports why a str field was rejected; idx >= 0 names element idx of the
 * array `field` ("errs[2]"). Formats the path only here, on failure. */
static int str_err(const decoder *d, const char *field, long idx, size_t max, int rc, const mp_obj *o)
{
    char name[32];

    if (idx >= 0) {
        snprintf(name, sizeof(name), "%s[%ld]", field, idx);
        field = name;
    }
    if (rc < 0)
        return codec_err(d->err, rc, field, "malformed value");
    if (o->type != MP_STR)
        return codec_err(d->err, JOB_EWRONGTYPE, field, "%s must be a str", field);
    if (o->len > max)
        return codec_err(d->err, JOB_EBADVALUE, field, "%s is %u bytes, limit %zu", field, o->len, max);
    return codec_err(d->err, JOB_EBADVALUE, field, "%s contains a NUL byte", field);
}

/* A str field without NUL bytes of at most max bytes; copied into the pool.
 * idx as for str_err(), -1 for a plain field. */
static int read_str(decoder *d, const uint8_t *pos, const char *field, long idx, size_t max, char **out)
{
    mp_reader r;
    mp_obj o;
    int rc;

    at(d, &r, pos);
    rc = mp_read(&r, &o);
    if (rc < 0 || o.type != MP_STR || o.len > max || (o.len > 0 && memchr(o.ptr, 0, o.len) != NULL))
        return str_err(d, field, idx, max, rc, &o);
    *out = pool_copy(d->job, o.ptr, o.len, true);
    return 0;
}

/* Reports an error at "ops[i].name"; the path is only formatted on failure. */
static int op_err(const decoder *d, size_t i, const char *name, int code, const char *reason)
{
    char field[96];

    snprintf(field, sizeof(field), "ops[%zu].%s", i, name);
    return codec_err(d->err, code, field, "%s", reason);
}

/* Reports why key k of op i was rejected at "ops[i].keys[k]". */
static int key_err(const decoder *d, size_t i, uint64_t k, int rc, const mp_obj *key)
{
    char field[96];

    snprintf(field, sizeof(field), "ops[%zu].keys[%llu]", i, (unsigned long long)k);
    if (rc < 0)
        return codec_err(d->err, rc, field, "malformed key");
    if (key->type != MP_STR && key->type != MP_BIN)
        return codec_err(d->err, JOB_EWRONGTYPE, field, "a key must be a str or bin");
    if (key->len == 0)
        return codec_err(d->err, JOB_EEMPTY, field, "key is empty");
    return codec_err(d->err, JOB_EKEYTOOLONG, field, "key is %u bytes, limit %zu", key->len,
                     d->lim->max_key_len);
}

static int read_keys(decoder *d, job_op *op, const uint8_t *pos, size_t i)
{
    char reason[64];
    mp_reader r;
    mp_obj o;
    uint64_t k;
    int rc;

    if (pos == NULL)
        return op_err(d, i, "keys", JOB_EMISSING, "op has no keys");
    at(d, &r, pos);
    if ((rc = mp_read(&r, &o)) < 0)
        return op_err(d, i, "keys", rc, "malformed value");
    if (o.type != MP_ARRAY)
        return op_err(d, i, "keys", JOB_EWRONGTYPE, "keys must be an array");
    if (o.u == 0)
        return op_err(d, i, "keys", JOB_EEMPTY, "an op needs at least one key");
    if (o.u > d->lim->max_keys - d->total_keys) {
        snprintf(reason, sizeof(reason), "job has more than %zu keys", d->lim->max_keys);
        return op_err(d, i, "keys", JOB_ETOOMANYKEYS, reason);
    }
    d->total_keys += o.u;
    op->keys = arena_alloc(d, o.u, sizeof(*op->keys));
    if (op->keys == NULL)
        return op_err(d, i, "keys", JOB_ENOMEM, "out of memory");
    op->cap_keys = o.u;
    for (k = 0; k < o.u; k++) {
        mp_obj key;
        rc = mp_read(&r, &key);
        if (rc < 0 || (key.type != MP_STR && key.type != MP_BIN) || key.len == 0 ||
            key.len > d->lim->max_key_len)
            return key_err(d, i, k, rc, &key);
        op->keys[k].data = (uint8_t *)pool_copy(d->job, key.ptr, key.len, false);
        op->keys[k].len = key.len;
        op->keys[k].bin = key.type == MP_BIN;
        op->nkeys++;
    }
    return 0;
}

/* Reads an optional uint of an op map; *has is false when absent. */
static int read_op_uint(const decoder *d, const uint8_t *pos, size_t i, const char *name, uint64_t *v,
                        bool *has)
{
    mp_reader r;
    mp_obj o;
    int rc;

    *has = pos != NULL;
    if (pos == NULL)
        return 0;
    at(d, &r, pos);
    if ((rc = mp_read(&r, &o)) < 0)
        return op_err(d, i, name, rc, "malformed value");
    if (o.type != MP_UINT)
        return op_err(d, i, name, JOB_EWRONGTYPE, "must be an unsigned integer");
    *v = o.u;
    return 0;
}

static int read_op(decoder *d, mp_reader *r, size_t i)
{
    static const struct { const char *name; uint8_t len; job_op_kind kind; } kinds[] = {
        {"del", 3, JOB_OP_DEL}, {"bump", 4, JOB_OP_BUMP}, {"expire", 6, JOB_OP_EXPIRE},
    };
    const uint8_t *pos[O_N] = {NULL};
    job_op *op = &d->job->ops[i];
    char path[48];
    mp_reader vr;
    mp_obj o;
    uint64_t ttl = 0, jitter = 0;
    bool has_ttl, has_jitter;
    size_t k;
    int rc;

    if ((rc = mp_read(r, &o)) < 0 || o.type != MP_MAP) {
        snprintf(path, sizeof(path), "ops[%zu]", i);
        if (rc < 0)
            return codec_err(d->err, rc, path, "malformed op");
        return codec_err(d->err, JOB_EWRONGTYPE, path, "an op must be a map");
    }
    if ((rc = codec_scan_map(r, o.u, op_names, O_N, pos, NULL, d->err)) < 0) {
        if (d->err != NULL) {
            /* Prefix the op's path to the field scan_map reported. */
            char field[96];
            snprintf(path, sizeof(path), "ops[%zu]", i);
            codec_join(field, sizeof(field), path, d->err->field);
            memcpy(d->err->field, field, sizeof(field));
        }
        return rc;
    }

    if (pos[O_OP] == NULL)
        return op_err(d, i, "op", JOB_EMISSING, "op has no \"op\"");
    at(d, &vr, pos[O_OP]);
    if ((rc = mp_read(&vr, &o)) < 0)
        return op_err(d, i, "op", rc, "malformed value");
    if (o.type != MP_STR)
        return op_err(d, i, "op", JOB_EWRONGTYPE, "op must be a str");
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (mp_obj_is(&o, kinds[k].name, kinds[k].len))
            break;
    if (k == sizeof(kinds) / sizeof(kinds[0])) {
        char name[32], reason[64];
        codec_printable(name, sizeof(name), o.ptr, o.len);
        snprintf(reason, sizeof(reason), "unknown op \"%s\"", name);
        return op_err(d, i, "op", JOB_EUNKNOWNOP, reason);
    }
    op->kind = kinds[k].kind;

    if ((rc = read_keys(d, op, pos[O_KEYS], i)) < 0)
        return rc;

    if ((rc = read_op_uint(d, pos[O_TTL], i, "ttl_ms", &ttl, &has_ttl)) < 0)
        return rc;
    if (has_ttl && ttl == 0)
        return op_err(d, i, "ttl_ms", JOB_EBADVALUE, "ttl_ms must be > 0");
    if (!has_ttl && op->kind == JOB_OP_EXPIRE)
        return op_err(d, i, "ttl_ms", JOB_EMISSING, "expire needs ttl_ms");
    if ((rc = read_op_uint(d, pos[O_JITTER], i, "jitter_pct", &jitter, &has_jitter)) < 0)
        return rc;
    if (has_jitter && jitter > 100)
        return op_err(d, i, "jitter_pct", JOB_EBADVALUE, "jitter_pct is over 100");
    if (op->kind == JOB_OP_EXPIRE) {
        op->ttl_ms = ttl;
        op->has_jitter = has_jitter;
        op->jitter_pct = (uint32_t)jitter;
    }
    return 0;
}

static int read_ops(decoder *d, const uint8_t *pos)
{
    invq_job *job = d->job;
    mp_reader r;
    mp_obj o;
    uint64_t i;
    int rc;

    if (pos == NULL)
        return codec_err(d->err, JOB_EMISSING, "ops", "ops is required");
    at(d, &r, pos);
    if ((rc = mp_read(&r, &o)) < 0)
        return codec_err(d->err, rc, "ops", "malformed value");
    if (o.type != MP_ARRAY)
        return codec_err(d->err, JOB_EWRONGTYPE, "ops", "ops must be an array");
    if (o.u == 0)
        return codec_err(d->err, JOB_EEMPTY, "ops", "a job needs at least one op");
    job->ops = arena_alloc(d, o.u, sizeof(*job->ops));
    if (job->ops == NULL)
        return codec_err(d->err, JOB_ENOMEM, "ops", "out of memory");
    job->cap_ops = o.u;
    for (i = 0; i < o.u; i++) {
        job->nops++;
        if ((rc = read_op(d, &r, i)) < 0)
            return rc;
    }
    return 0;
}

static int read_errs(decoder *d, const uint8_t *pos)
{
    mp_reader r;
    mp_obj o;
    uint64_t i;
    int rc;

    at(d, &r, pos);
    if ((rc = mp_read(&r, &o)) < 0)
        return codec_err(d->err, rc, "errs", "malformed value");
    if (o.type != MP_ARRAY)
        return codec_err(d->err, JOB_EWRONGTYPE, "errs", "errs must be an array");
    if (o.u > JOB_MAX_ERRS)
        return codec_err(d->err, JOB_EBADVALUE, "errs", "%llu reasons, limit %u", (unsigned long long)o.u,
                         JOB_MAX_ERRS);
    if (o.u == 0)
        return 0;
    d->job->errs = arena_alloc(d, JOB_MAX_ERRS, sizeof(*d->job->errs));
    if (d->job->errs == NULL)
        return codec_err(d->err, JOB_ENOMEM, "errs", "out of memory");
    for (i = 0; i < o.u; i++) {
        if ((rc = read_str(d, r.p, "errs", (long)i, d->lim->max_payload, &d->job->errs[i])) < 0)
            return rc;
        d->job->nerrs++;
        mp_skip(&r, 1);
    }
    return 0;
}

static int read_fields(decoder *d, const uint8_t **pos)
{
    invq_job *job = d->job;
    mp_reader r;
    mp_obj o;
    int rc;

    if (pos[F_V] == NULL)
        return codec_err(d->err, JOB_EMISSING, "v", "v is required");
    if ((rc = read_uint(d, pos[F_V], "v", &job->v)) < 0)
        return rc;
    if (job->v == 0 || job->v > JOB_SCHEMA_VERSION)
        return codec_err(d->err, JOB_EVERSION, "v", "version %llu, supported 1..%d", (unsigned long long)job->v,
                         JOB_SCHEMA_VERSION);
    if (pos[F_ID] == NULL)
        return codec_err(d->err, JOB_EMISSING, "id", "id is required");
    if ((rc = read_str(d, pos[F_ID], "id", -1, JOB_MAX_ID_LEN, &job->id)) < 0)
        return rc;
    if (job->id[0] == '\0')
        return codec_err(d->err, JOB_EEMPTY, "id", "id is empty");
    if ((rc = read_ops(d, pos[F_OPS])) < 0)
        return rc;
    if (pos[F_TS] == NULL)
        return codec_err(d->err, JOB_EMISSING, "ts", "ts is required");
    if ((rc = read_uint(d, pos[F_TS], "ts", &job->ts)) < 0)
        return rc;
    if (pos[F_SRC] != NULL && (rc = read_str(d, pos[F_SRC], "src", -1, JOB_MAX_NAME_LEN, &job->src)) < 0)
        return rc;
    if (pos[F_FAM] != NULL && (rc = read_str(d, pos[F_FAM], "fam", -1, JOB_MAX_NAME_LEN, &job->fam)) < 0)
        return rc;
    if (pos[F_AFTER_MS] != NULL) {
        if ((rc = read_uint(d, pos[F_AFTER_MS], "after_ms", &job->after_ms)) < 0)
            return rc;
        job->has_after_ms = true;
    }
    if (pos[F_REDO_MS] != NULL) {
        if ((rc = read_uint(d, pos[F_REDO_MS], "redo_ms", &job->redo_ms)) < 0)
            return rc;
        job->has_redo_ms = true;
    }
    if (pos[F_ATTEMPT] != NULL) {
        if ((rc = read_uint(d, pos[F_ATTEMPT], "attempt", &job->attempt)) < 0)
            return rc;
        job->has_attempt = true;
    }
    if (pos[F_FIRST_FAILED] != NULL) {
        if ((rc = read_uint(d, pos[F_FIRST_FAILED], "first_failed_ms", &job->first_failed_ms)) < 0)
            return rc;
        job->has_first_failed_ms = true;
    }
    if (pos[F_REDO] != NULL) {
        at(d, &r, pos[F_REDO]);
        if ((rc = mp_read(&r, &o)) < 0)
            return codec_err(d->err, rc, "redo", "malformed value");
        if (o.type != MP_BOOL)
            return codec_err(d->err, JOB_EWRONGTYPE, "redo", "redo must be a bool");
        job->redo_done = o.u != 0;
    }
    if (pos[F_ERRS] != NULL && (rc = read_errs(d, pos[F_ERRS])) < 0)
        return rc;
    return 0;
}

int job_decode(const uint8_t *buf, size_t len, const job_limits *lim, invq_job **out, job_error *err)
{
    const uint8_t *pos[F_N] = {NULL};
    job_limits defaults;
    decoded_job *dj;
    size_t pool_len;
    decoder d;
    int rc, scan;

    *out = NULL;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    lim = codec_limits(lim, &defaults);
    if (buf == NULL && len > 0)
        return codec_err(err, JOB_EBADVALUE, "", "no buffer");
    if (len > lim->max_payload)
        return codec_err(err, JOB_ETOOLARGE, "", "payload is %zu bytes, limit %zu", len, lim->max_payload);
    if (len == 0)
        return codec_err(err, JOB_ETRUNCATED, "", "payload is empty");
    /* The pre-scan checks every length and the nesting before anything is
     * allocated; the top-level map is scanned in the same pass. */
    if ((rc = codec_prescan_top(buf, len, top_names, F_N, pos, err, &scan)) < 0) {
        switch (rc) {
        case JOB_ETRUNCATED: return codec_err(err, rc, "", "input ends inside an object");
        case JOB_ETRAILING: return codec_err(err, rc, "", "bytes follow the top-level map");
        case JOB_ETOODEEP: return codec_err(err, rc, "", "nesting deeper than %d", JOB_MAX_DEPTH);
        case JOB_EBADLENGTH: return codec_err(err, rc, "", "a declared length exceeds the bytes left");
        default: return codec_err(err, rc, "", "not msgpack");
        }
    }
    if (scan == 1)
        return codec_err(err, JOB_ENOTMAP, "", "top level is not a map");
    if (scan < 0)
        return scan;

    d.buf = buf;
    d.end = buf + len;
    d.lim = lim;
    d.err = err;
    d.total_keys = 0;
    d.arena_used = 0;
    /* Every string and key of the job fits in len bytes plus a NUL each for
     * id, src, fam and the errs; the pool starts with the arena. */
    pool_len = ARENA_SIZE + len + 4 + JOB_MAX_ERRS;
    dj = malloc(offsetof(decoded_job, arena) + pool_len);
    if (dj == NULL)
        return codec_err(err, JOB_ENOMEM, "", "out of memory");
    d.job = &dj->job;
    memset(d.job, 0, sizeof(*d.job));
    d.job->pool = (uint8_t *)dj->arena;
    d.job->pool_len = pool_len;
    d.job->pool_used = ARENA_SIZE;
    if ((rc = read_fields(&d, pos)) < 0) {
        job_free(d.job);
        return rc;
    }
    *out = d.job;
    return 0;
}
