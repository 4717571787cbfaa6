/* The audit's sample: a uniform random sample without replacement of up to
 * k distinct keys out of a stream that may repeat keys (SCAN returns a key
 * more than once while Redis rehashes, and one key may match several globs).
 *
 * Bottom-k sampling: each key's priority is a keyed hash of its bytes
 * (the first 8 bytes of SHA-256(seed || key), seed = 16 random bytes per
 * run, from libinvq's random_fill()), and the sample is the k keys with the smallest priorities. A key
 * offered twice has the same priority, so repeats change nothing; with a
 * random seed every set of k distinct keys is equally likely, whatever the
 * order and the multiplicity in which the keys arrive. Memory: O(k). */
#ifndef INVQ_CTL_AUDIT_SAMPLE_H
#define INVQ_CTL_AUDIT_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_SEED_BYTES 16

/* One key of the sample. Owned by the sampler. */
typedef struct audit_key {
    uint64_t prio;
    size_t len;
    char key[]; /* len bytes, then a NUL */
} audit_key;

typedef struct audit_sampler audit_sampler;

/* A sampler keeping at most k >= 1 keys. Returns NULL on ENOMEM. */
audit_sampler *audit_sampler_new(size_t k, const uint8_t seed[AUDIT_SEED_BYTES]);
void audit_sampler_free(audit_sampler *s);

/* Offers one key (len bytes, copied when kept). Returns 0 or -ENOMEM. */
int audit_sampler_offer(audit_sampler *s, const void *key, size_t len);

/* The sample so far, sorted by priority (a random order); *n keys. The
 * array and the keys stay valid until the next offer or the free. */
audit_key *const *audit_sampler_keys(audit_sampler *s, size_t *n);

#endif
