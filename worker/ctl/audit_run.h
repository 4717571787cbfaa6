/* Auditing one family: draw the sample (SCAN with the family's globs,
 * bottom-k by keyed hash), check each key against the source, re-check
 * after the grace period what differed or changed, and count the outcomes.
 * Paced by --rate across every family of the run. */
#ifndef INVQ_CTL_AUDIT_RUN_H
#define INVQ_CTL_AUDIT_RUN_H

#include <stdint.h>

#include "audit.h"
#include "audit_cache.h"
#include "audit_sample.h"

/* The run-wide pace: at most `rate` key checks per second (0: no limit). */
typedef struct audit_pacer {
    uint64_t rate;
    uint64_t next_us; /* monotonic time the next check may start */
} audit_pacer;

void audit_pacer_init(audit_pacer *p, uint64_t rate);

/* Audits family f of fs into r (audit_result_init'ed by the caller). The
 * cache is borrowed; a cache failure leaves it unusable (c->rc NULL) and is
 * recorded in r. Returns 0, or r->error (also for an interruption:
 * CTL_INTERRUPTED). */
int audit_run_family(audit_cache *c, const families *fs, const fam_family *f, const audit_opts *o,
                     const uint8_t seed[AUDIT_SEED_BYTES], audit_pacer *pace, audit_result *r);

/* Monotonic time in microseconds. */
uint64_t audit_now_us(void);

#endif
