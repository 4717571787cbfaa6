/* Delays: retry backoff with full jitter for failed jobs, capped exponential
 * backoff for reconnects, and TTL jitter for expire ops. */
#ifndef INVQ_WORKER_BACKOFF_H
#define INVQ_WORKER_BACKOFF_H

#include <stdint.h>

#include "rng.h"

/* The cap before jitter for attempt n (1-based): min(max, base * 2^(n-1)). */
uint64_t backoff_cap(uint64_t base_ms, uint64_t max_ms, uint64_t attempt);

/* Full jitter: uniform in [0, backoff_cap(...)]. */
uint64_t backoff_full_jitter(rng *r, uint64_t base_ms, uint64_t max_ms, uint64_t attempt);

/* Reconnect delay after `failures` consecutive failures (1-based): the cap
 * with half of it jittered, so reconnects of many workers spread out. */
uint64_t backoff_reconnect(rng *r, uint64_t base_ms, uint64_t max_ms, uint64_t failures);

/* An expire op's TTL with its jitter: ttl - uniform(0 .. ttl*pct/100), at least 1. */
uint64_t backoff_ttl_jitter(rng *r, uint64_t ttl_ms, uint32_t pct);

#endif
