/* What the `invqctl audit` modules share: the options of one run and the
 * result of auditing one family (counts by outcome, examples, failure).
 * The outcomes are documented in worker/ctl/README.md ("invqctl audit"). */
#ifndef INVQ_CTL_AUDIT_H
#define INVQ_CTL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "families.h"

#define AUDIT_DEFAULT_SAMPLE 1000
#define AUDIT_DEFAULT_GRACE_MS 2000
#define AUDIT_DEFAULT_RATE 100
#define AUDIT_DEFAULT_STMT_TIMEOUT_MS 5000
#define AUDIT_DEFAULT_SCAN_COUNT 1000
#define AUDIT_DEFAULT_EXAMPLES 5
#define AUDIT_MAX_SAMPLE 1000000

typedef struct audit_opts {
    const char *cache_url;     /* --cache-url / INVQ_CACHE_URL */
    const char *families_path; /* --families / INVQ_FAMILIES */
    uint64_t sample;           /* --sample: keys per family, at most */
    uint64_t grace_ms;         /* --grace-ms: wait before a re-check */
    uint64_t rate;             /* --rate: key checks per second; 0: no limit */
    uint64_t stmt_timeout_ms;  /* --statement-timeout-ms */
    uint64_t scan_count;       /* --scan-count: the SCAN COUNT hint */
    uint64_t examples;         /* --examples: stale keys kept per family */
    const char *prom;          /* --prom FILE, or NULL */
    const ctl_common *common;  /* timeouts, --json */
} audit_opts;

/* Why a sampled key was not compared (it is not counted in `checked`). */
enum audit_skip {
    AUDIT_SKIP_GONE,           /* the key vanished before it could be compared */
    AUDIT_SKIP_LEASE,          /* it holds a reader's lease marker: a load is in progress */
    AUDIT_SKIP_UNKNOWN_MARKER, /* a marker of a later lease protocol */
    AUDIT_SKIP_WRONG_TYPE,     /* not a string */
    AUDIT_SKIP_OLD_VERSION,    /* versioned: no data key at the current version */
    AUDIT_SKIP_BAD_VERSION,    /* versioned: the version key is not an integer */
    AUDIT_SKIP_UNSETTLED,      /* it changed again while it was re-checked */
    AUDIT_SKIP_UNFIT,          /* its placeholder values do not fit the query's parameters */
    AUDIT_NSKIP
};

/* "gone", "lease", ... as in the JSON and the metrics. */
extern const char *const audit_skip_names[AUDIT_NSKIP];

typedef enum audit_outcome { AUDIT_OK, AUDIT_STALE, AUDIT_ORPHAN, AUDIT_UNFIT } audit_outcome;

/* One stale, orphaned or unfit key, for the report. Every buffer is owned. */
typedef struct audit_example {
    audit_outcome outcome;
    char *key;              /* the data key read (for a versioned family <key>:v<N>) */
    size_t keylen;
    bool cached_negative;   /* the cache held a negative entry ("no such row") */
    char *cached;           /* the cached value (escape removed); NULL when negative */
    size_t cachedlen;
    bool source_row;        /* the query returned a value */
    char *source;           /* that value; NULL without a row */
    size_t sourcelen;
    char *reason;           /* AUDIT_UNFIT: why the values do not fit */
} audit_example;

typedef struct audit_result {
    const fam_family *family; /* borrowed from the loaded file */
    char *source;             /* the source for messages, without a password (owned) */
    uint64_t scanned;         /* keys of the family the SCAN returned (duplicates included) */
    uint64_t sampled;         /* distinct keys drawn */
    uint64_t checked;         /* compared: ok + stale + orphan */
    uint64_t ok, stale, orphan;
    uint64_t negative;        /* compared keys that held a negative entry */
    uint64_t rechecked;       /* keys that went through a re-check */
    uint64_t skipped[AUDIT_NSKIP];
    double duration_s;
    audit_example *examples;  /* stale and orphaned keys, at most opts.examples */
    size_t nexamples;
    audit_example *unfit;     /* unfit keys, at most opts.examples */
    size_t nunfit;
    int error;                /* 0, or the exit code of what made the audit of this family fail */
    char *error_msg;          /* the message printed for it (owned) */
} audit_result;

void audit_result_init(audit_result *r, const fam_family *f);
void audit_result_deinit(audit_result *r);

/* Records a failure (printf-style message, also printed on stderr as
 * "invqctl: audit: family F: ..."). Keeps the first one. */
void audit_result_fail(audit_result *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keys stale for the exit code and the ratio: stale + orphan. */
uint64_t audit_result_stale_total(const audit_result *r);

#endif
