/* A small fast PRNG (xoshiro256**) for jitter, seeded from getrandom(2);
 * not for secrets. */
#ifndef INVQ_WORKER_RNG_H
#define INVQ_WORKER_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

/* Seeds from getrandom(2) (falling back to time and pid). */
void rng_init(rng *r);
/* Seeds deterministically, for tests. */
void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, n]; 0 when n is 0. */
uint64_t rng_upto(rng *r, uint64_t n);

#endif
