/* Registered consumers of a queue as invqctl reports them: heartbeat age,
 * live or stale, and what each holds in its processing list. */
#ifndef INVQ_CTL_CONSUMERS_H
#define INVQ_CTL_CONSUMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#define CONSUMERS_STALE_MS_DEFAULT 15000 /* the worker's --reap-after-ms default */

typedef struct consumer_info {
    char *id; /* owned */
    uint64_t heartbeat_ms;
    bool stale;
    long long held;       /* jobs in its processing list */
    bool has_oldest;      /* the oldest held job decoded */
    uint64_t oldest_ts;   /* its enqueue time (ms) */
} consumer_info;

/* Reads every registered consumer (ZRANGE consumers WITHSCORES, then one
 * pipelined LLEN per processing list, plus LINDEX -1 when with_oldest).
 * stale: heartbeat older than stale_ms before now. On 0, *out is a malloc'd
 * array of *n (free with consumers_free). Returns 0 or an exit code. */
int consumers_load(conn *c, uint64_t now, uint64_t stale_ms, bool with_oldest, consumer_info **out, size_t *n);
void consumers_free(consumer_info *v, size_t n);

#endif
