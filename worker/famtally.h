/* The per-family metrics of one settled batch (a families file loaded):
 * keys by family, op and mode, shadow hits and probe errors, jobs by family,
 * mode and result, lag by family and refusals (obs/fam_metrics.h). */
#ifndef INVQ_WORKER_FAMTALLY_H
#define INVQ_WORKER_FAMTALLY_H

#include <stdint.h>

#include "batch.h"
#include "metrics.h"

/* Adds what b (settled by batch_settle(), planned with b->fam) did to m.
 * results: one per entry, NULL when nothing was applied. Borrows all. */
void famtally_settled(const batch *b, const cache_result *results, uint64_t now_ms, metrics *m);

#endif
