/* The reader's connections to the cache Redis: a pool of idle hiredis
 * connections shared by the threads using one reader, the "cache is down"
 * window after a connection failure, the latest failure message, and one
 * round trip of a command or a lease script on a borrowed connection. */
#ifndef INVQ_PRODUCER_READER_POOL_H
#define INVQ_PRODUCER_READER_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "reader_config.h"

typedef enum lease_script {
    LEASE_SCRIPT_ACQUIRE = 0,
    LEASE_SCRIPT_FILL,
    LEASE_SCRIPT_RELEASE,
    LEASE_SCRIPT_COUNT,
} lease_script;

struct cluster_sync;

/* A borrowed connection: one hiredis context, or for a Redis Cluster cache
 * (redis-cluster://) a whole-cluster client (core/cluster_sync.h) that sends
 * each command to the master of its key's slot. */
typedef struct rconn {
    redisContext *c;
    struct cluster_sync *cs;
    bool guard_sigpipe; /* SIGPIPE was not ignored when it connected: guard writes */
    bool reused;        /* came from the idle list, so it may have died since */
} rconn;

typedef struct rpool {
    const reader_config *cfg; /* borrowed; outlives the pool */
    pthread_mutex_t mu;       /* guards everything below */
    rconn *idle;
    size_t nidle, cap;
    uint64_t down_until_ms;   /* monotonic; 0: not down */
    char sha[LEASE_SCRIPT_COUNT][41]; /* "" until SCRIPT LOAD answered */
    bool eval_only;           /* SCRIPT LOAD was refused (ACL): always EVAL */
    char errstr[512];
} rpool;

int rpool_init(rpool *p, const reader_config *cfg);
/* Closes every idle connection. */
void rpool_deinit(rpool *p);

/* Monotonic clock in ms. */
uint64_t rpool_now_ms(void);

/* True while the cache counts as down (a connection failed less than
 * down_retry_ms ago). */
bool rpool_is_down(rpool *p);

/* Borrows a connection: an idle one, else a new one (fresh: always a new
 * one). On failure returns the connect error (INVQ_ECONNECT, INVQ_ETIMEOUT,
 * INVQ_EAUTH, ...), records its message and starts the down window. */
int rpool_take(rpool *p, rconn *out, bool fresh);

/* Gives a healthy connection back (closed when max_idle are idle already). */
void rpool_give(rpool *p, rconn *c);

/* Closes a connection on which a round trip failed with rc. A timeout, or
 * any failure of a connection made for this get, starts the down window. A
 * reused connection that broke (not a timeout) more likely died with a
 * server restart: every idle connection is closed too, and the caller may
 * retry once on a fresh one. */
void rpool_drop(rpool *p, rconn *c, int rc);

/* Records msg as the latest failure (printf-style). */
void rpool_note(rpool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies the latest failure message into buf. */
void rpool_errstr(rpool *p, char *buf, size_t len);

/* One round trip. On 0, *out is the reply (possibly an error reply; the
 * caller frees it). A negative return means the connection failed (broke,
 * timed out): the caller must rpool_drop() it; the message is recorded. */
int rpool_command(rpool *p, rconn *c, int argc, const char **argv, const size_t *lens, redisReply **out);

/* Runs lease script id on key with nargs arguments, by EVALSHA (after one
 * SCRIPT LOAD per reader), falling back to EVAL when the server lost its
 * script cache or refuses SCRIPT LOAD. Same contract as rpool_command(). */
int rpool_script(rpool *p, rconn *c, lease_script id, const void *key, size_t keylen, int nargs,
                 const char *const *args, const size_t *lens, redisReply **out);

#endif
