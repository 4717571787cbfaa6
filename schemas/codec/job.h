/* The one msgpack codec for invq jobs (wire format v1, see schemas/job-v1.md):
 * encode, bounded decode + validate, and the worker-owned retry fields. */
#ifndef INVQ_CODEC_JOB_H
#define INVQ_CODEC_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_SCHEMA_VERSION 1

#define JOB_DEFAULT_MAX_PAYLOAD (1024u * 1024u) /* bytes of one encoded job */
#define JOB_DEFAULT_MAX_KEYS 10000u             /* keys across all ops of a job */
#define JOB_DEFAULT_MAX_KEY_LEN 1024u           /* bytes of one key */
#define JOB_MAX_DEPTH 16                        /* msgpack nesting, any field */
#define JOB_MAX_ID_LEN 128u                     /* bytes of `id` */
#define JOB_MAX_NAME_LEN 256u                   /* bytes of `src` and `fam` */
#define JOB_MAX_ERRS 8u                         /* reasons kept in `errs` */

typedef struct job_limits {
    size_t max_payload;
    size_t max_keys;
    size_t max_key_len;
} job_limits;

/* Fills `l` with the spec's defaults. */
void job_limits_default(job_limits *l);

typedef enum job_op_kind {
    JOB_OP_DEL = 1,
    JOB_OP_BUMP = 2,
    JOB_OP_EXPIRE = 3,
} job_op_kind;

/* "del", "bump", "expire"; NULL for anything else. */
const char *job_op_name(job_op_kind kind);

/* A key: bytes owned by the op that holds it. `bin` records whether it
 * travels as msgpack bin (true) or str (false); keys compare byte for byte. */
typedef struct job_key {
    uint8_t *data;
    size_t len;
    bool bin;
} job_key;

typedef struct job_op {
    job_op_kind kind;
    job_key *keys; /* owned array of nkeys */
    size_t nkeys;
    size_t cap_keys;
    uint64_t ttl_ms;     /* expire only, > 0 */
    uint32_t jitter_pct; /* expire only, 0..100 */
    bool has_jitter;
} job_op;

/* A job. Every pointer is owned by the job and freed by job_free(). */
typedef struct invq_job {
    uint64_t v;
    char *id; /* NUL-terminated, 1..JOB_MAX_ID_LEN bytes, no NUL inside */
    job_op *ops;
    size_t nops;
    size_t cap_ops;
    uint64_t ts;
    char *src; /* NULL when absent */
    char *fam; /* NULL when absent */
    uint64_t after_ms;
    bool has_after_ms;
    uint64_t redo_ms;
    bool has_redo_ms;
    /* Worker-owned fields (job-v1.md "Fields set by the worker"). */
    uint64_t attempt; /* attempts already made; 0 when absent */
    bool has_attempt;
    uint64_t first_failed_ms;
    bool has_first_failed_ms;
    bool redo_done; /* `redo`: this copy is the second half of a double delete */
    char **errs;    /* reasons of earlier failed attempts, oldest first */
    size_t nerrs;
    /* Private to the codec: job_decode() copies every string and key of a
     * decoded job into this block (allocated with the job itself); pointers
     * into it are released by job_free() together with the job. */
    uint8_t *pool;
    size_t pool_len;
    size_t pool_used;
} invq_job;

/* Error codes: 0 ok, negative on failure. job_err_code() gives the stable
 * snake_case name used in schemas/vectors/manifest.json. */
enum {
    JOB_ENOMEM = -1,          /* allocation failed */
    JOB_ETRUNCATED = -2,      /* input ends inside an object */
    JOB_ETRAILING = -3,       /* bytes after the top-level map */
    JOB_ENOTMAP = -4,         /* top level is not a map */
    JOB_ETOOLARGE = -5,       /* payload over max_payload */
    JOB_ETOODEEP = -6,        /* nesting over JOB_MAX_DEPTH */
    JOB_EBADLENGTH = -7,      /* declared length/count beyond the bytes left */
    JOB_EMALFORMED = -8,      /* not msgpack (e.g. the reserved byte 0xc1) */
    JOB_EMISSING = -9,        /* a required field is absent */
    JOB_EWRONGTYPE = -10,     /* a field has the wrong msgpack type */
    JOB_EBADVALUE = -11,      /* right type, value out of range */
    JOB_EVERSION = -12,       /* `v` newer than supported (or 0) */
    JOB_EUNKNOWNOP = -13,     /* `op` names no known op */
    JOB_EEMPTY = -14,         /* empty `ops` or `keys` (or empty id) */
    JOB_EKEYTOOLONG = -15,    /* a key over max_key_len */
    JOB_ETOOMANYKEYS = -16,   /* more keys than max_keys */
    JOB_EDUPLICATE = -17,     /* a map key appears twice */
};

typedef struct job_error {
    int code;         /* one of the JOB_E* above, 0 when none */
    char field[96];   /* path of the offending field, e.g. "ops[2].keys[5]"; "" for the whole payload */
    char reason[192]; /* one human sentence, e.g. "key is 1500 bytes, limit 1024" */
} job_error;

/* Stable name of a code ("truncated", "missing_field", ...); "unknown" otherwise. */
const char *job_err_code(int code);

/* Formats `err` as "code field: reason" into buf (always NUL-terminated). */
void job_error_format(const job_error *err, char *buf, size_t len);

/* Allocates an empty job (v = JOB_SCHEMA_VERSION). Caller frees with job_free(). */
invq_job *job_new(void);
/* Frees a job and everything it owns; NULL is fine. */
void job_free(invq_job *job);

/* Builders. Strings and keys are copied; the job owns the copies. */
int job_set_id(invq_job *job, const char *id);
int job_set_src(invq_job *job, const char *src);
int job_set_fam(invq_job *job, const char *fam);
/* Appends an op and returns its index (>= 0), or a negative error. */
int job_add_op(invq_job *job, job_op_kind kind, uint64_t ttl_ms, bool has_jitter, uint32_t jitter_pct);
int job_op_add_key(invq_job *job, size_t op_index, const void *key, size_t len, bool bin);
int job_add_err(invq_job *job, const char *reason); /* keeps the last JOB_MAX_ERRS */

/* Checks a job against the spec and the limits (required fields, ranges,
 * key counts and lengths). Fills err on failure. */
int job_validate(const invq_job *job, const job_limits *lim, job_error *err);

/* Validates, then encodes with msgpack-c's packer. On success *out is a
 * malloc'd buffer of *outlen bytes that the caller frees with free(). */
int job_encode(const invq_job *job, const job_limits *lim, uint8_t **out, size_t *outlen, job_error *err);

/* Decodes and validates untrusted bytes. Never reads outside buf, never
 * allocates more than a small multiple of len. On success *out is a new job
 * (free with job_free()); on failure *out is NULL and err says why. */
int job_decode(const uint8_t *buf, size_t len, const job_limits *lim, invq_job **out, job_error *err);

/* Worker-owned fields written into an encoded job for a retry or a redo. */
typedef struct job_meta {
    uint64_t attempt;
    uint64_t first_failed_ms; /* 0: leave out */
    bool redo_done;
    const char *const *errs; /* borrowed; nerrs reasons, oldest first */
    size_t nerrs;
} job_meta;

/* Rewrites an encoded job: every top-level entry of `in` except the
 * worker-owned ones (attempt, first_failed_ms, redo, errs) is copied byte for
 * byte, in order, then the entries of `meta` are appended (meta NULL: none).
 * With meta NULL this gives back the producer's own bytes. `in` must already
 * have decoded successfully. *out is malloc'd; the caller frees it. */
int job_rewrite_meta(const uint8_t *in, size_t len, const job_meta *meta, uint8_t **out, size_t *outlen);

#endif
