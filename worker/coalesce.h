/* Coalescing of one batch: every distinct (op, key) once, with the jobs that
 * asked for it, so one reply's result maps back to each of those jobs. Keys
 * are borrowed from the batch's jobs; buffers are reused across batches. */
#ifndef INVQ_WORKER_COALESCE_H
#define INVQ_WORKER_COALESCE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* What the cache target does with an entry (a families file's modes,
 * fampolicy.h): apply it, probe it with EXISTS, or only count it. */
enum { ENTRY_APPLY = 0, ENTRY_PROBE = 1, ENTRY_COUNT = 2 };

/* One distinct (op, key): the unit the cache target applies and reports on. */
typedef struct cache_entry {
    job_op_kind op;
    const uint8_t *key; /* borrowed */
    size_t len;
    uint64_t ttl_ms; /* expire: the smallest TTL asked (after jitter) */
    int32_t fam;     /* index of the key's family in the batch's families file; -1 without one */
    uint8_t action;  /* ENTRY_APPLY, ENTRY_PROBE or ENTRY_COUNT */
} cache_entry;

typedef struct coalesce {
    cache_entry *entries;
    size_t nentries, cap_entries;
    uint32_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t nslots;   /* power of two */
    uint32_t *edges; /* entry indices, grouped by job */
    size_t nedges, cap_edges;
} coalesce;

void coalesce_init(coalesce *c);
void coalesce_deinit(coalesce *c);
/* Empties it for the next batch, keeping the buffers. */
void coalesce_reset(coalesce *c);

/* Adds one key of one job; returns the entry index (>= 0) and records an
 * edge at position c->nedges - 1, or -ENOMEM. For expire, the entry keeps
 * the smaller of its TTL and ttl_ms. fam and action describe the key's
 * family (the same for every job naming the key): kept from the first add. */
int coalesce_add(coalesce *c, job_op_kind op, const uint8_t *key, size_t len, uint64_t ttl_ms, int32_t fam,
                 uint8_t action);

#endif
