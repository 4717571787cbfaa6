/* One fetched batch: the jobs' bytes as taken, their decoded form, what to do
 * with each (apply, defer, dead-letter), the coalesced cache entries, and the
 * settlement that becomes finish.lua's arguments. No I/O here. */
#ifndef INVQ_WORKER_BATCH_H
#define INVQ_WORKER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "argv.h"
#include "coalesce.h"
#include "fampolicy.h"
#include "job.h"
#include "metrics.h"
#include "rng.h"

typedef enum batch_plan {
    PLAN_APPLY = 0, /* coalesced into the cache entries */
    PLAN_DEFER,     /* after_ms not reached: back to delayed, unchanged */
    PLAN_DEAD,      /* undecodable, unsupported, a reserved key, refused by the families file, or out of attempts */
} batch_plan;

/* How a job settled (for the per-family metrics). */
enum { JOB_SETTLED_NONE = 0, JOB_SETTLED_DONE, JOB_SETTLED_RETRIED, JOB_SETTLED_DEAD };

typedef struct batch_job {
    size_t off, len; /* bytes as taken, in batch.bytes */
    invq_job *job;   /* NULL when undecodable */
    uint64_t reaped; /* times a dead consumer's list held it */
    uint64_t attempt_no;
    uint32_t edge_first, edge_count;
    batch_plan plan;
    uint8_t settled;     /* JOB_SETTLED_*, set by batch_settle() */
    uint8_t fam_refusal; /* fam_job_refusal when the families file refused it */
    int32_t fam_refused; /* then: index of the refused key's family, -1 for none */
    char *reason;        /* PLAN_DEAD: why (owned) */
} batch_job;

/* Keys one rate-limited family asks of its fleet-wide rate (ratelimit.h). */
typedef struct batch_rate {
    uint32_t fam; /* index in the batch's families file */
    uint64_t keys;
    bool limited; /* rate.lua's last answer: this family had no room */
} batch_rate;

/* Result of one cache entry, filled by the cache target. */
typedef enum cache_status {
    CACHE_OK = 0,
    CACHE_TRANSIENT = 1,
    CACHE_PERMANENT = 2,
} cache_status;

typedef struct cache_result {
    cache_status status;
    const char *code; /* errclass code when failed (static) */
    const char *msg;  /* Redis's message when failed (owned by the cache target) */
    bool hit;         /* ENTRY_PROBE answered: the key exists in the cache */
} cache_result;

typedef struct batch_policy {
    job_limits limits;
    unsigned max_attempts;
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    const char *consumer; /* borrowed: written into dead-letter records */
    /* Namespaces the worker serves (borrowed): a job naming a key under any
     * of them is dead-lettered whole (job-v1.md §3.1). */
    const char *const *reserved_ns;
    size_t nreserved_ns;
} batch_policy;

typedef struct batch_outcome {
    uint64_t done, retried, dead, deferred;
} batch_outcome;

typedef struct batch {
    uint8_t *bytes;
    size_t used, cap;
    batch_job *jobs;
    size_t n, cap_jobs;
    coalesce co;
    size_t napply; /* jobs planned PLAN_APPLY */
    /* The families file the batch was planned with: a reference, dropped
     * when the batch is reset (NULL without --families). */
    fampolicy *fam;
    const fam_family **keyfam; /* scratch: the family of each key of one job */
    size_t cap_keyfam;
    uint64_t *famcount; /* scratch: keys per family */
    size_t cap_famcount;
    batch_rate *rate; /* the rate-limited families of the entries to apply */
    size_t nrate, cap_rate;
    bool rate_granted; /* rate.lua let the batch through (or nothing is limited) */
} batch;

void batch_init(batch *b);
void batch_deinit(batch *b);
/* Frees the jobs and empties it, keeping the buffers. */
void batch_reset(batch *b);

/* Copies one job's bytes as taken from the queue. Returns 0 or -ENOMEM. */
int batch_add(batch *b, const void *data, size_t len, uint64_t reaped);

/* Decodes every job, picks its plan and coalesces the ones to apply. Expire
 * TTLs get their jitter from r. With a families file (fam, borrowed: the
 * batch takes a reference until it is reset), a job whose keys or ops the
 * file refuses is dead-lettered whole, each entry carries its family and
 * what the family's mode does with it, and b->rate lists what the entries
 * to apply ask of the families' rate limits. Returns 0 or -ENOMEM. */
int batch_plan_all(batch *b, const batch_policy *p, fampolicy *fam, uint64_t now_ms, rng *r);

/* Settles the batch against results[] (one per b->co.entries; NULL when
 * nothing was applied): appends finish.lua's records to out, counts the
 * outcome, logs failures and updates m (may be NULL). Returns 0 or -ENOMEM. */
int batch_settle(batch *b, const cache_result *results, const batch_policy *p, uint64_t now_ms, rng *r,
                 metrics *m, argv_buf *out, batch_outcome *oc);

#endif
