/* Private to the families parser: the arena that owns a loaded file, the
 * raw sections the line reader collects, pattern segments and the look-up
 * index. */
#ifndef INVQ_FAMILIES_INTERNAL_H
#define INVQ_FAMILIES_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "families.h"

/* ---------------------------------------------------------------- arena */

/* Bump allocator: everything of one loaded file lives in it and goes with
 * arena_deinit(). */
typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;
    bool oom;
} arena;

void arena_init(arena *a);
void arena_deinit(arena *a);
void *arena_alloc(arena *a, size_t n); /* zeroed, aligned for any type; NULL (and a->oom) on ENOMEM */
char *arena_strndup(arena *a, const char *s, size_t n);

/* ------------------------------------------------------------- problems */

/* Appends a problem at line (0: the whole file); sets p->oom on ENOMEM. */
void prob_add(fam_problems *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void prob_vadd(fam_problems *p, int line, const char *fmt, va_list ap);
/* Sorts by line, keeping the order of problems on the same line. */
void prob_sort(fam_problems *p);


/* ------------------------------------------------------------- segments */

typedef enum seg_kind {
    SEG_LIT = 0, /* pre: the literal */
    SEG_PH = 1,  /* pre, placeholder (>= 1 byte, no ':'), suf */
    SEG_VER = 2, /* "v" + a canonical decimal signed 64-bit integer (data keys only) */
} seg_kind;

typedef struct fam_seg {
    seg_kind kind;
    const uint8_t *pre;
    size_t prelen;
    const uint8_t *suf;
    size_t suflen;
    size_t param; /* SEG_PH: index into the pattern's params */
} fam_seg;

/* A pattern seen as plain keys, or (versioned) as its data keys <K>:v<N>. */
typedef struct fam_view {
    const fam_pattern *pat;
    bool versioned;
} fam_view;

size_t view_nsegs(fam_view v);
/* Segment i of a view (the trailing SEG_VER of a versioned view). */
fam_seg view_seg(fam_view v, size_t i);

/* Parses pattern text (len bytes) into p (allocations in a). Returns 0, or
 * -1 with a message in err. p->line is left to the caller. */
int pattern_parse(arena *a, const char *text, size_t len, fam_pattern *p, char *err, size_t errlen);

/* Matches key against a view; fills params (pattern order) and *version
 * (versioned views). No allocation. */
bool view_match(fam_view v, const uint8_t *key, size_t len, fam_span *params, int64_t *version);

/* The literal bytes before the first placeholder (or the whole view when it
 * has none), rendered into buf; returns its length and sets *wild when the
 * view has a placeholder or version part after it. */
size_t view_literal_prefix(fam_view v, uint8_t *buf, size_t cap, bool *wild);

/* Exact overlap of two views; an example key in witness when they do. */
bool views_overlap(fam_view a, fam_view b, char *witness, size_t wlen);

/* Parses "v<digits>" (len bytes) as a data key's version suffix. */
bool version_seg_parse(const uint8_t *s, size_t len, int64_t *out);

/* --------------------------------------------------------- raw sections */

enum { SEC_CLASS = 0, SEC_FAMILY = 1 };

/* Field slots of both section kinds. */
enum {
    FLD_TTL, FLD_JITTER, FLD_NEGATIVE_TTL, FLD_LEASE_TTL,             /* class */
    FLD_KEYS, FLD_VERSION_KEY, FLD_CLASS, FLD_OWNER, FLD_OPS, FLD_MODE, /* family */
    FLD_RATE, FLD_TRIGGERS, FLD_SOURCE, FLD_AUDIT_QUERY,
    FLD_DESCRIPTION, /* both */
    FLD_COUNT
};

/* A field's value as read: lines joined with '\n'; marks[i] is the offset
 * at which line lines[i] starts within text. */
typedef struct raw_value {
    char *text; /* malloc'd, NUL-terminated; NULL: field absent */
    size_t len;
    size_t cap;
    int line;        /* of the `name = value` line */
    bool damaged;    /* one of its lines had a problem: no further checks */
    size_t nmarks;
    size_t capmarks;
    size_t *mark_off;
    int *mark_line;
} raw_value;

typedef struct raw_section {
    int kind;
    char name[FAM_MAX_NAME_LEN + 1];
    int line;
    raw_value f[FLD_COUNT];
} raw_section;

typedef struct raw_file {
    raw_section *v;
    size_t n;
    size_t cap;
} raw_file;

/* Reads text (len bytes) through the line checker and inih into rf;
 * problems go to probs. Returns 0 or FAM_ENOMEM. */
int raw_read(const char *text, size_t len, raw_file *rf, fam_problems *probs);
void raw_file_deinit(raw_file *rf);
/* The line of the byte at offset off of a value. */
int raw_value_line_at(const raw_value *v, size_t off);
const char *raw_field_name(int fld);

/* --------------------------------------------------------- value parsers */

/* Each returns 0, or -1 with a message (without the field name) in err. */
int value_duration(const char *s, uint64_t *ms, char *err, size_t errlen);
int value_percent(const char *s, uint32_t *pct, char *err, size_t errlen);
int value_rate(const char *s, uint64_t *keys, uint64_t *period_ms, char *err, size_t errlen);
int value_ops(const char *s, unsigned *ops, char *err, size_t errlen);
int value_mode(const char *s, fam_mode *mode, char *err, size_t errlen);
bool value_name_ok(const char *s, size_t len);
/* source: kind and, for sqlite, the path (pointer into s, *pathlen bytes). */
int value_source(const char *s, fam_source_kind *kind, const char **path, size_t *pathlen, char *err,
                 size_t errlen);

/* One `:name` found by sql_scan(). */
typedef struct sql_param {
    size_t offset;
    size_t len; /* with the ':' */
} sql_param;

/* Finds the named parameters of an SQL text; calls cb for each (stop when
 * it returns non-zero). Returns 0, -1 with a message on an unterminated
 * literal/identifier/comment, or what cb returned. */
int sql_scan(const char *sql, size_t len, int (*cb)(const sql_param *p, void *data), void *data,
             char *err, size_t errlen);

/* ----------------------------------------------------------- the object */

typedef struct fam_entry {
    const fam_family *fam;
    fam_view view;
    size_t pattern_index;
    fam_key_kind kind;
    uint32_t rank; /* lower wins within a family */
} fam_entry;

typedef struct fam_bucket {
    const uint8_t *key; /* the literal first segment */
    size_t len;
    uint64_t hash;
    uint32_t first; /* into families.entries */
    uint32_t n;     /* 0: empty slot */
} fam_bucket;

struct families {
    arena a;
    char *ns;
    fam_class *classes;
    size_t nclasses;
    fam_family *fams;
    size_t nfams;
    /* look-up index */
    fam_entry *entries;   /* grouped by first-segment literal, rank order inside */
    size_t nentries;
    fam_bucket *buckets;  /* open addressing, size a power of two */
    size_t nbuckets;
    fam_entry *fallback;  /* views whose first segment has a placeholder, rank order */
    size_t nfallback;
};

/* Builds the index of f (allocations in f->a). Returns 0 or FAM_ENOMEM. */
int index_build(families *f);

/* Turns raw sections into f's classes and families, checking every rule of
 * families-v1.md §3–§7; problems go to probs. Returns 0 or FAM_ENOMEM. */
int build_families(families *f, const raw_file *rf, fam_problems *probs);

uint64_t fam_hash(const uint8_t *s, size_t len);

#endif
