/* Queue faults: a queue script (or command) that the queue Redis refuses
 * for a reason that retrying soon will not cure by itself — a queue key of
 * the wrong type, the server out of memory. Each site (a consumer, or one
 * periodic task of the control connection) reports its current fault. An
 * incident runs from the first site failing to the last one succeeding
 * again: the registry logs its start (with that reason) and its end, once
 * each, counts failed runs by script, and keeps the oldest reason still
 * standing for /readyz. */
#ifndef INVQ_WORKER_QFAULT_H
#define INVQ_WORKER_QFAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

#define QFAULT_REASON_MAX 320

typedef struct qfault {
    metrics *m; /* borrowed; may be NULL */
    char (*reasons)[QFAULT_REASON_MAX]; /* per site, "" when clear */
    unsigned long *since;               /* per site: order in which it began failing */
    size_t nsites;
    size_t failing; /* sites with a fault */
    unsigned long seq;
} qfault;

/* Room for nsites sites, all clear. Returns 0 or -ENOMEM. */
int qfault_init(qfault *f, size_t nsites, metrics *m);
void qfault_deinit(qfault *f);

/* Site `site` failed running `script` ("fetch", "finish", "heartbeat", ...)
 * because of reason (see qfault_reason()). Logs when this starts an
 * incident. */
void qfault_set(qfault *f, size_t site, const char *script, const char *reason);
/* Site `site` succeeded. Logs when this ends the incident. */
void qfault_clear(qfault *f, size_t site);
/* True when any site is failing. */
bool qfault_active(const qfault *f);

/* The reason for an error reply `msg` of a queue script or command `what`:
 * a script's own refusal ("QUEUEKEY queue key ... has type string, expected
 * list") gives its text after the code, an OOM refusal "queue redis out of
 * memory: <msg>" whichever script met it, anything else
 * "<what> failed: <msg>". */
void qfault_reason(char *buf, size_t len, const char *what, const char *msg);

/* True for an error that means "reconnect" rather than "wait": the queue
 * Redis is not (or no longer, or not yet) a writable master — READONLY,
 * LOADING, MASTERDOWN, NOREPLICAS (redis_err_node_unavailable()) — or, a
 * queue on a cluster, its slot moved to another master (-MOVED). The
 * scripts changed nothing; the consumer reconnects (rediscovering a
 * Sentinel master, routing the slot again) and releases its list: nothing
 * lost, no attempt. */
bool qfault_means_reconnect(const char *msg);

/* Retry delay for the n-th consecutive failure (1-based): 100 ms doubling,
 * at most 1 s. */
unsigned qfault_retry_ms(unsigned n);

#endif
