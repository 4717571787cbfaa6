/* Classifies a Redis error reply from the cache as transient (retry later)
 * or permanent (dead-letter), with a short stable reason code. */
#ifndef INVQ_WORKER_ERRCLASS_H
#define INVQ_WORKER_ERRCLASS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct errclass {
    bool transient;
    const char *code; /* static: "loading", "busy", "wrong_type", "not_integer", ... */
} errclass;

/* msg is the error reply's text (e.g. "WRONGTYPE Operation against a key ..."). */
errclass errclass_of(const char *msg, size_t len);

#endif
