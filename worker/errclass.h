/* Classifies a Redis error reply from the cache by what it means: the node
 * cannot take writes now (reconnect, rediscover, apply again, no attempt
 * used), a transient failure of the command (retry later, an attempt), or a
 * permanent one about the job itself (dead-letter); with a short stable
 * reason code. The table is in worker/README.md ("Failovers"). */
#ifndef INVQ_WORKER_ERRCLASS_H
#define INVQ_WORKER_ERRCLASS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct errclass {
    bool transient;  /* retry (reconnect ones included) rather than dead-letter */
    bool reconnect;  /* the node is not a writable master (READONLY, LOADING,
                        MASTERDOWN, NOREPLICAS): a connection problem */
    const char *code; /* static: "loading", "busy", "wrong_type", "not_integer", ... */
} errclass;

/* msg is the error reply's text (e.g. "WRONGTYPE Operation against a key ..."). */
errclass errclass_of(const char *msg, size_t len);

#endif
