/* The one enqueue round trip, shared by the sync producer, the async
 * producer and spool replay: MULTI, LPUSH <pending> of every payload (in
 * chunks of ENQ_MAX_PER_LPUSH values), HINCRBY <stats> enqueued n, EXEC. */
#ifndef INVQ_PRODUCER_ENQUEUE_H
#define INVQ_PRODUCER_ENQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define ENQ_MAX_PER_LPUSH 1000u

/* The commands of one round trip, back to back in argv/lens. The plan
 * borrows the key names and payloads; free it with enq_plan_deinit(). */
typedef struct enq_plan {
    const char **argv;
    size_t *lens;
    size_t *start; /* command i is argv[start[i]] .. argv[start[i] + argc[i] - 1] */
    int *argc;
    size_t ncmds;
    size_t nlpush;
    char count[24];
} enq_plan;

/* Builds the plan for n >= 1 payloads. Returns 0 or INVQ_ENOMEM. */
int enq_plan_build(enq_plan *p, const char *pending_key, const char *stats_key,
                   const uint8_t *const *payloads, const size_t *lens, size_t n);

void enq_plan_deinit(enq_plan *p);

/* Checks reply i of the plan (MULTI → OK, the others → QUEUED, EXEC → an
 * array of integers). Returns 0 or INVQ_EREPLY / INVQ_EAUTH / INVQ_EPROTO
 * with a message; *transient is set to 1 when the error means "Redis cannot
 * take it right now" (OOM, LOADING, READONLY, ...), and to ENQ_REDIRECT for
 * a cluster redirect (-MOVED, -ASK: the queue's slot is served elsewhere;
 * the transaction was discarded, so sending it again is safe). */
#define ENQ_REDIRECT 2

int enq_check_reply(const enq_plan *p, size_t i, const redisReply *r, int *transient,
                    char *err, size_t errlen);

/* Sends the plan on a sync context in one pipelined round trip and reads
 * every reply. Returns 0, or a negative code; *conn_broken is set when the
 * context is unusable afterwards (the caller must redisFree() it). */
int enq_plan_run_sync(const enq_plan *p, redisContext *c, int *transient, int *conn_broken,
                      char *err, size_t errlen);

#endif
