/* The worker's Lua scripts on one connection: SCRIPT LOAD of them all (their
 * SHA1s kept for EVALSHA), and NOSCRIPT detection for a reload. */
#ifndef INVQ_WORKER_SCRIPTS_H
#define INVQ_WORKER_SCRIPTS_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "rlink.h"

typedef enum script_id {
    SCRIPT_FETCH = 0,
    SCRIPT_FINISH,
    SCRIPT_PROMOTE,
    SCRIPT_REAP,
    SCRIPT_RELEASE,
    SCRIPT_SAMPLE,
    SCRIPT_RATE,
    SCRIPT_HEARTBEAT,
    SCRIPT_COUNT,
} script_id;

typedef struct scripts {
    char sha[SCRIPT_COUNT][41]; /* "" until loaded once */
    char error[300];            /* why the last load failed ("SCRIPT LOAD: NOAUTH ...") */
} scripts;

/* status 0: every script is loaded on the server and s holds the SHA1s;
 * otherwise s->error says why (the caller resets its link with it, which
 * logs it once). */
typedef void (*scripts_cb)(int status, void *data);

/* Sends SCRIPT LOAD for every script on l. On 0, cb runs once from a reply
 * callback; on a negative return it never runs. */
int scripts_load(scripts *s, rlink *l, scripts_cb cb, void *data);

/* True when reply is a NOSCRIPT error (the server lost its script cache). */
bool scripts_is_noscript(const redisReply *reply);

#endif
