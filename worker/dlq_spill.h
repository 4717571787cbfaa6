/* --dlq-overflow spill:FILE: at the dead-letter cap (--dlq-max), instead of
 * holding the batch, the oldest records move off the dead-letter list into
 * a local file in `invqctl dlq export` format (so `invqctl dlq import FILE`
 * brings them back): read (LRANGE of the list's oldest end), appended and
 * fdatasync'ed, and only then removed from Redis (one LREM per record, from
 * the oldest end), logged and counted (invq_dlq_spilled_total). A file that
 * cannot be written makes the batch wait as without the policy, /readyz
 * naming the file and the error; every later check tries the file again.
 * One spill at a time per worker process (pool.dlq_spilling). */
#ifndef INVQ_WORKER_DLQ_SPILL_H
#define INVQ_WORKER_DLQ_SPILL_H

#include <stddef.h>
#include <stdint.h>

#include "holds.h"
#include "job.h"

/* Records moved per spill, at most. */
#define DLQ_SPILL_MAX 100

/* Consumer c found the list at len records (>= --dlq-max) before a batch
 * adding `adding`: spills enough of the oldest records for the batch
 * (at most DLQ_SPILL_MAX) and calls cb(c, 0) once they are in the file and
 * off the list, cb(c, 1) when the batch must wait (another consumer is
 * spilling: look again; the file cannot be written: *werr names why, and
 * the caller enters the hold incident; len is the length found), or cb(c, <0) when the queue link
 * broke. The caller keeps the consumer busy meanwhile. Returns 0, or a negative code when
 * the link is not up (cb does not run). */
typedef void (*dlq_spill_cb)(struct consumer *c, int verdict, long long len, const char *werr);
int dlq_spill_start(struct consumer *c, long long len, uint64_t adding, dlq_spill_cb cb);

/* One export line for a record (newline included) into a malloc'd string
 * (caller frees), NULL when out of memory. */
char *dlq_spill_line(const uint8_t *rec, size_t len, const job_limits *lim);

#endif
