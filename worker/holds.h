/* Batches a consumer holds although every connection is fine, and the
 * incidents they make: a WAIT (--cache-wait-replicas) that fewer replicas
 * confirmed than asked for (the batch is applied again), and a dead-letter
 * list at its cap (--dlq-max: a batch that would add dead letters waits,
 * settled, until there is room). Each incident is logged once when the
 * first consumer enters it and once when the last one leaves it; the DLQ
 * one also makes /readyz answer 503 with its reason. */
#ifndef INVQ_WORKER_HOLDS_H
#define INVQ_WORKER_HOLDS_H

#include <stdbool.h>
#include <stdint.h>

struct consumer;

/* The outcome of consumer c's WAIT: short (replicas < wanted) or not. */
void holds_wait_result(struct consumer *c, bool short_, long long replicas);

/* Asks the queue Redis for the dead-letter list's length (LLEN on c's
 * queue link) and calls cb with 0 while it is under --dlq-max (the batch
 * adding `adding` records may then go past the cap by those), 1 when it is
 * at the cap (the incident is entered), or a negative
 * code when the connection failed (the batch is released after reconnecting).
 * Returns 0, or a negative code when the link is not up (cb does not run). */
typedef void (*holds_dlq_cb)(struct consumer *c, int verdict);
int holds_dlq_check(struct consumer *c, uint64_t adding, holds_dlq_cb cb);
/* c settled a batch with no dead letters over the cap (or none at all). */
void holds_dlq_clear(struct consumer *c);

#endif
