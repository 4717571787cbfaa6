/* The one parser of the families file (schemas/families-v1.md): load a file,
 * collecting every problem with its line; look keys up (family, pattern,
 * placeholder values) without allocating; build keys; render ACL globs.
 *
 * A loaded `families` is immutable: any number of threads may look keys up
 * at once without locking. Every pointer reachable from it (names, patterns,
 * classes, texts) is owned by it and stays valid until families_free(). */
#ifndef INVQ_FAMILIES_H
#define INVQ_FAMILIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes. */
enum {
    FAM_OK = 0,
    FAM_ENOMEM = -1,   /* allocation failed */
    FAM_EIO = -2,      /* the file cannot be read (problem at line 0) */
    FAM_EINVALID = -3, /* the file has problems (listed in fam_problems) */
    FAM_EPARAM = -4,   /* key building: a value missing, unknown, empty or with ':' */
    FAM_ESPACE = -5,   /* the output buffer is too small (*outlen says how big) */
    FAM_ENOTFOUND = -6 /* no such family / pattern, or the key is of no family */
};

#define FAM_MAX_PARAMS 16        /* placeholders per pattern */
#define FAM_MAX_PATTERNS 64      /* patterns per family */
#define FAM_MAX_PATTERN_LEN 512  /* bytes of a decoded pattern */
#define FAM_MAX_NAME_LEN 40      /* class and family names */
#define FAM_MAX_LINE 198         /* bytes per line, terminator excluded */
#define FAM_MAX_FILE (1024u * 1024u)
#define FAM_DEFAULT_LEASE_TTL_MS 5000u
#define FAM_DEFAULT_NS "invq"

/* Op numbers are those of the codec's job_op_kind (JOB_OP_DEL = 1, ...). */
enum { FAM_OP_DEL = 1, FAM_OP_BUMP = 2, FAM_OP_EXPIRE = 3 };
#define FAM_OP_BIT(op) (1u << (unsigned)(op))
#define FAM_OPS_ALL (FAM_OP_BIT(FAM_OP_DEL) | FAM_OP_BIT(FAM_OP_BUMP) | FAM_OP_BIT(FAM_OP_EXPIRE))

typedef enum fam_mode { FAM_MODE_OFF = 0, FAM_MODE_SHADOW = 1, FAM_MODE_ENFORCE = 2 } fam_mode;

typedef enum fam_source_kind {
    FAM_SOURCE_NONE = 0,
    FAM_SOURCE_SQLITE = 1,   /* source_path: the database file */
    FAM_SOURCE_POSTGRES = 2, /* source: a libpq URI or keyword string, verbatim */
} fam_source_kind;

/* What a key is to its family. */
typedef enum fam_key_kind {
    FAM_KEY_PLAIN = 0,     /* matches a pattern of `keys` */
    FAM_KEY_VERSION = 1,   /* matches `version_key` */
    FAM_KEY_VERSIONED = 2, /* a data key <K>:v<N> of a versioned family */
} fam_key_kind;

/* One pattern, parsed. Read-only. */
typedef struct fam_pattern {
    const char *text;                   /* as written in the file */
    size_t nparams;
    const char *params[FAM_MAX_PARAMS]; /* placeholder names, in order */
    int line;                           /* line of the file it is written on */
    const struct fam_seg *segs;         /* private to the parser */
    size_t nsegs;
    bool refused;                       /* private: left out of the overlap checks */
} fam_pattern;

typedef struct fam_class {
    const char *name;
    uint64_t ttl_ms;
    uint32_t jitter_pct;         /* 0..100 */
    uint64_t negative_ttl_ms;    /* 0: no negative caching */
    uint64_t lease_ttl_ms;       /* FAM_DEFAULT_LEASE_TTL_MS when not given */
    const char *description;     /* NULL when absent */
    int line;                    /* of the [class] header */
} fam_class;

/* One `:name` parameter of an audit_query. */
typedef struct fam_audit_param {
    size_t offset;               /* of the ':' in audit_query */
    size_t len;                  /* ':' and the name */
    size_t placeholder;          /* index into keys[0].params (same name in every pattern) */
    const char *name;
} fam_audit_param;

typedef struct fam_family {
    const char *name;
    size_t index;                /* position in the file, 0-based */
    const fam_pattern *keys;     /* nkeys >= 1 */
    size_t nkeys;
    const fam_pattern *version_key; /* NULL: not versioned */
    const fam_class *cls;
    const char *owner;           /* NULL when absent (so are the texts below) */
    unsigned ops;                /* FAM_OP_BIT(FAM_OP_DEL) | ... */
    fam_mode mode;
    uint64_t rate_keys;          /* 0: no rate limit; else keys per rate_period_ms */
    uint64_t rate_period_ms;     /* 1000, 60000 or 3600000 */
    const char *triggers;
    fam_source_kind source_kind;
    const char *source;          /* as written */
    const char *source_path;     /* FAM_SOURCE_SQLITE: the file path */
    const char *audit_query;
    const fam_audit_param *audit_params;
    size_t naudit_params;
    const char *description;
    int line;                    /* of the [family] header */
} fam_family;

typedef struct families families;

/* ------------------------------------------------------------ problems */

typedef struct fam_problem {
    int line;    /* 1-based; 0 for the whole file (cannot read it, ...) */
    char *msg;   /* owned */
} fam_problem;

/* Every problem of one load, sorted by line (stable). Owned by the caller:
 * fam_problems_init() before the load, fam_problems_deinit() after. */
typedef struct fam_problems {
    fam_problem *v;
    size_t n;
    size_t cap;
    char *file;  /* the name problems are reported under (owned) */
    bool oom;    /* a problem could not be recorded */
} fam_problems;

void fam_problems_init(fam_problems *p);
void fam_problems_deinit(fam_problems *p);

/* Formats problem i as "FILE:LINE: message" ("FILE: message" for line 0)
 * into buf (always NUL-terminated). Returns the length snprintf would give. */
int fam_problem_format(const fam_problems *p, size_t i, char *buf, size_t len);

/* --------------------------------------------------------------- loading */

typedef struct fam_load_opts {
    const char *ns;   /* the queue namespace whose keys are reserved; NULL: "invq" */
} fam_load_opts;

/* Loads the file at path. On success returns 0 and *out (free with
 * families_free()). Otherwise returns FAM_EINVALID (the file has problems),
 * FAM_EIO (cannot read it) or FAM_ENOMEM, *out = NULL, and, when probs is
 * not NULL, every problem is appended to it (reported under `path`).
 * A file loads exactly when it is valid and unambiguous (every key has at
 * most one family): use the return code to accept or refuse a file.
 * out may be NULL to only check the file. opts may be NULL. */
int families_load(const char *path, const fam_load_opts *opts, families **out, fam_problems *probs);

/* The same from len bytes of text (borrowed), problems reported under
 * `name` (NULL: "<buffer>"). */
int families_load_buffer(const char *text, size_t len, const char *name, const fam_load_opts *opts,
                         families **out, fam_problems *probs);

void families_free(families *f);

/* ---------------------------------------------------------------- reading */

size_t families_count(const families *f);
const fam_family *families_get(const families *f, size_t i);    /* NULL when i is out of range */
const fam_family *families_find(const families *f, const char *name); /* NULL when absent */
size_t families_class_count(const families *f);
const fam_class *families_class_get(const families *f, size_t i);
const fam_class *families_class_find(const families *f, const char *name);
const char *families_ns(const families *f); /* the reserved namespace it was loaded for */

/* ---------------------------------------------------------------- look-up */

/* A placeholder value: bytes inside the key that was looked up (borrowed). */
typedef struct fam_span {
    const uint8_t *data;
    size_t len;
} fam_span;

typedef struct fam_match {
    const fam_family *family;
    fam_key_kind kind;
    const fam_pattern *pattern; /* PLAIN/VERSIONED: the pattern of `keys`; VERSION: version_key */
    size_t pattern_index;       /* into family->keys; 0 for VERSION */
    int64_t version;            /* VERSIONED: N of <K>:v<N>; else 0 */
    size_t nparams;             /* = pattern->nparams */
    fam_span params[FAM_MAX_PARAMS]; /* in pattern->params order */
} fam_match;

/* The family that claims key (len bytes, binary safe), or NULL. When m is
 * not NULL and a family claims the key, m is filled (its spans point into
 * key). Never allocates; cost: one hash of the key's first segment and a
 * compare per candidate pattern. Thread-safe on a loaded object. */
const fam_family *families_lookup(const families *f, const void *key, size_t len, fam_match *m);

/* True when a job may apply op (FAM_OP_*) to the key m describes: op is in
 * the family's ops and, on a version key, op is bump (families-v1.md §7). */
bool families_op_allowed(const fam_match *m, int op);

/* The ops a job may apply to the key m describes, as a mask of FAM_OP_BIT():
 * the family's ops, or only bump on a version key. For messages such as
 * "op_not_allowed: del ver:user:1: family user allows bump". */
unsigned families_key_ops(const fam_match *m);

/* "del, bump, expire" for an ops mask (FAM_OP_BIT...), into buf. Returns buf. */
const char *families_ops_text(unsigned ops, char *buf, size_t len);

/* Renders key bytes for a message: printable ASCII as is, '\\' as "\\\\",
 * other bytes as \xNN, cut with "..." where buf ends (always NUL-terminated). */
void families_render_key(const void *data, size_t len, char *buf, size_t buflen);

/* "off", "shadow", "enforce". */
const char *families_mode_name(fam_mode mode);

/* A duration as the file writes it ("250ms", "30s", "10m", "1h", "7d"). Returns buf. */
const char *families_duration_text(uint64_t ms, char *buf, size_t len);

/* A rate as the file writes it ("50000/s"), "none" when keys is 0. Returns buf. */
const char *families_rate_text(uint64_t keys, uint64_t period_ms, char *buf, size_t len);

/* "del", "bump", "expire"; NULL for others. */
const char *families_op_name(int op);

/* ----------------------------------------------------------- key building */

/* A named value for a placeholder. value: len bytes (borrowed). */
typedef struct fam_param {
    const char *name;
    const void *value;
    size_t len;
} fam_param;

/* Builds the key of pattern p from n values given by name (each placeholder
 * exactly once, no other name; values non-empty and without ':'). Writes
 * the key into buf when it fits (cap bytes; no NUL added) and its length to
 * *outlen. Returns 0, FAM_ESPACE (buf too small; *outlen = the size needed)
 * or FAM_EPARAM with a message in err (errlen bytes, may be 0). */
int families_build(const fam_pattern *p, const fam_param *params, size_t n, void *buf, size_t cap,
                   size_t *outlen, char *err, size_t errlen);

/* The version key of the key that m describes (m->kind PLAIN or VERSIONED,
 * family versioned), built from m's placeholder values. Returns 0,
 * FAM_ESPACE, or FAM_ENOTFOUND when the family is not versioned or m is a
 * version key. */
int families_version_key(const fam_match *m, void *buf, size_t cap, size_t *outlen);

/* The data key "<key>:v<version>" of a versioned family (§6). Returns 0 or
 * FAM_ESPACE (*outlen = size needed). */
int families_data_key(const void *key, size_t len, int64_t version, void *buf, size_t cap, size_t *outlen);

/* ------------------------------------------------------------------- ACLs */

/* The Redis glob covering every key of pattern p (families-v1.md §10);
 * versioned: the glob of its data keys (pattern glob + ":v*"). Writes a
 * NUL-terminated string into buf; returns its length, or FAM_ESPACE. */
int families_pattern_glob(const fam_pattern *p, bool versioned, char *buf, size_t len);

/* ---------------------------------------------------------------- overlap */

/* Whether some key matches both a and b (each as a plain pattern, or, with
 * a_versioned / b_versioned, as the data keys <K>:v<N> of that pattern).
 * When they overlap and witness is not NULL, an example key is written to
 * witness (NUL-terminated, cut at wlen - 1). Exact, no allocation. */
bool families_patterns_overlap(const fam_pattern *a, bool a_versioned, const fam_pattern *b,
                               bool b_versioned, char *witness, size_t wlen);

#endif
