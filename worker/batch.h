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
#include "job.h"
#include "metrics.h"
#include "rng.h"

typedef enum batch_plan {
    PLAN_APPLY = 0, /* coalesced into the cache entries */
    PLAN_DEFER,     /* after_ms not reached: back to delayed, unchanged */
    PLAN_DEAD,      /* undecodable, unsupported, a reserved key, or out of attempts */
} batch_plan;

typedef struct batch_job {
    size_t off, len; /* bytes as taken, in batch.bytes */
    invq_job *job;   /* NULL when undecodable */
    uint64_t reaped; /* times a dead consumer's list held it */
    uint64_t attempt_no;
    uint32_t edge_first, edge_count;
    batch_plan plan;
    char *reason; /* PLAN_DEAD: why (owned) */
} batch_job;

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
} batch;

void batch_init(batch *b);
void batch_deinit(batch *b);
/* Frees the jobs and empties it, keeping the buffers. */
void batch_reset(batch *b);

/* Copies one job's bytes as taken from the queue. Returns 0 or -ENOMEM. */
int batch_add(batch *b, const void *data, size_t len, uint64_t reaped);

/* Decodes every job, picks its plan and coalesces the ones to apply. Expire
 * TTLs get their jitter from r. Returns 0 or -ENOMEM. */
int batch_plan_all(batch *b, const batch_policy *p, uint64_t now_ms, rng *r);

/* Settles the batch against results[] (one per b->co.entries; NULL when
 * nothing was applied): appends finish.lua's records to out, counts the
 * outcome, logs failures and updates m (may be NULL). Returns 0 or -ENOMEM. */
int batch_settle(batch *b, const cache_result *results, const batch_policy *p, uint64_t now_ms, rng *r,
                 metrics *m, argv_buf *out, batch_outcome *oc);

#endif
