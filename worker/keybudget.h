/* The worker process's ceiling on cache keys per second
 * (--cache-max-keys-per-s): a token bucket every consumer of the process
 * draws from before it applies a batch. A batch over budget waits (the
 * bucket says how long) and is never dropped or failed; no attempt is used.
 * A batch larger than the bucket goes once the bucket is full, leaving a
 * debt that later batches wait out, so over any stretch the keys sent stay
 * within a tenth of a second's keys plus one batch of the rate. No I/O, no
 * clock of its own: times are passed in. */
#ifndef INVQ_WORKER_KEYBUDGET_H
#define INVQ_WORKER_KEYBUDGET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct keybudget {
    double rate;   /* keys per second; 0: no ceiling */
    double burst;  /* most keys kept: a tenth of a second's, at least 1 */
    double tokens; /* may be negative: the debt of a batch larger than burst */
    uint64_t last_ns;
} keybudget;

/* keys_per_s 0: no ceiling (every take is granted). The bucket starts full. */
void keybudget_init(keybudget *kb, uint64_t keys_per_s, uint64_t now_ns);
bool keybudget_on(const keybudget *kb);
/* Asks for n keys at now_ns (a monotonic clock): 0 when they may go (and
 * they are taken), else the ns to wait before asking again. */
uint64_t keybudget_take(keybudget *kb, uint64_t n, uint64_t now_ns);

#endif
