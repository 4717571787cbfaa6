/* Between consumer.c and take.c only (not for the rest of the worker): the
 * consumer's fault handling, which the take pipeline shares, and the take
 * pipeline's entry points. Every function borrows c. */
#ifndef INVQ_WORKER_CONSUMER_INT_H
#define INVQ_WORKER_CONSUMER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "consumer.h"

/* What a consumer tries again after a queue fault. */
enum { RETRY_KICK = 0, RETRY_PREFILLED_FETCH, RETRY_RELEASE };

/* consumer.c */
/* Forgets the current batch (its timers stopped, the buffers kept). */
void consumer_reset_batch(consumer *c);
/* Anything unexpected on the queue connection (reply may be NULL): the
 * connection is dropped and the list released after reconnecting. */
void consumer_queue_broken(consumer *c, const char *what, const redisReply *reply);
/* Records a queue fault of `what` (`cmd`: the command, else NULL); false when
 * the error means reconnecting (then the connection is being reset). */
bool consumer_fault_note(consumer *c, const char *what, const char *cmd, const char *err);
/* Tries `retry_what` (RETRY_*) again in ms milliseconds. */
void consumer_retry_in(consumer *c, int retry_what, uint64_t ms);
/* Tries `retry_what` (RETRY_*) again after the backoff of the consecutive faults. */
void consumer_fault_retry(consumer *c, int retry_what);
/* consumer_fault_note() with reply's text, then consumer_fault_retry(). */
void consumer_queue_fault(consumer *c, const char *what, const char *cmd, const redisReply *reply, int retry_what);
/* A queue script succeeded: the fault, if any, is over. */
void consumer_queue_ok(consumer *c);
/* The queue Redis lost the scripts (NOSCRIPT): load them again, then kick. */
void consumer_reload_scripts(consumer *c);

/* take.c */
/* fetch.lua: up to --batch jobs in all, the `prefilled` jobs already in the
 * batch (on the list) included; piped: BLMOVE and HLEN follow. */
void take_send_fetch(consumer *c, size_t prefilled, bool piped);
/* Settles the applied batch (once) and sends finish.lua, taking the next
 * batch in the same pipeline when it may. */
void take_send_finish(consumer *c);
/* Frees a job BLMOVEd behind a batch whose finish failed. */
void take_stash_free(consumer *c);

#endif
