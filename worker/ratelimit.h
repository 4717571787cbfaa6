/* The families' fleet-wide rate limits (families-v1.md §8) for one batch:
 * the arguments of rate.lua (one call per batch; GCRA on the queue Redis's
 * clock, one key per family under the queue's hash tag, shared by every
 * worker of the queue) and its answer. */
#ifndef INVQ_WORKER_RATELIMIT_H
#define INVQ_WORKER_RATELIMIT_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "argv.h"
#include "batch.h"
#include "metrics.h"

/* How far ahead of the clock a family's rate may run: a tenth of a second
 * of its keys (at least one key's interval) may go at once, so a burst is
 * spread over the period instead of taken at its start. */
#define RATE_TOLERANCE_US 100000.0
/* A limited batch asks again after at most this long, whatever the wait. */
#define RATE_MAX_WAIT_MS 1000

/* EVALSHA sha N <rate keys> <keys interval tolerance>... for the families
 * b->rate lists (b planned with a families file). Returns 0 or -ENOMEM. */
int ratelimit_args(argv_buf *a, const char *sha, const batch *b);

/* rate.lua's reply for b: 0 when the batch may go; otherwise the ms to wait
 * before asking again (1..RATE_MAX_WAIT_MS), b->rate[i].limited set for the
 * families without room. -1 when the reply has another shape. */
long ratelimit_reply(const redisReply *reply, batch *b);

/* Adds `seconds` waited to the rate-limited time of the families the last
 * answer limited (m may be NULL). */
void ratelimit_waited(const batch *b, double seconds, metrics *m);

#endif
