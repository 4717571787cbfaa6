/* invqctl's connection to the queue Redis (over the shared sync connect in
 * core/redis_sync.h) plus the queue's key names and checked,
 * binary-safe command helpers that print one clear error line. */
#ifndef INVQ_CTL_CONN_H
#define INVQ_CTL_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "args.h"
#include "qkeys.h"

struct tlsthread;

typedef struct conn {
    redisContext *rc; /* owned */
    struct tlsthread *tls; /* owned: rc's TLS pump, NULL for a plain connection */
    qkeys keys;       /* the queue's key names, owned */
    int failure;      /* CTL_UNAVAILABLE or CTL_SOFTWARE: exit code of the last failure */
} conn;

/* Connects (with the connect timeout, AUTH and SELECT from the URL) and
 * builds the key names: of the queue, or of shard --shard of a sharded
 * queue (without --shard a sharded queue is refused: CTL_USAGE, message
 * printed; conn_open_shard names the shard itself). Returns 0, or CTL_USAGE (no/bad URL),
 * CTL_UNAVAILABLE (unreachable) or CTL_SOFTWARE, with the message printed. */
int conn_open(conn *c, const ctl_common *o);
void conn_close(conn *c);
/* conn_open on shard i of a sharded queue (any i < o->queue_shards). */
int conn_open_shard(conn *c, const ctl_common *o, unsigned i);

/* "<ns>:{<queue>}:processing:<consumer>", malloc'd (caller frees); NULL on ENOMEM. */
char *conn_processing_key(const conn *c, const char *consumer);

/* Runs argv (binary safe; lens may be NULL for C strings) and checks the
 * reply type (want_type, or -1 for any non-error reply). Returns the reply
 * (caller frees with freeReplyObject) or NULL after printing
 * "invqctl: redis: <CMD> <key>: <problem>" and setting c->failure. */
redisReply *conn_run(conn *c, int argc, const char **argv, const size_t *lens, int want_type);

/* printf-style variant of conn_run for commands without binary arguments. */
redisReply *conn_runf(conn *c, int want_type, const char *fmt, ...);

/* Pipelining: queue commands with conn_append, then read each reply with
 * conn_reply (same checks as conn_run, errors printed, what = the command
 * name for messages). */
int conn_append(conn *c, int argc, const char **argv, const size_t *lens);
redisReply *conn_reply(conn *c, const char *what, int want_type);

/* Loads a Lua script; writes its SHA-1 (41 bytes with NUL). Returns 0 or the
 * failure exit code (message printed). */
int conn_script_load(conn *c, const char *src, char *sha);

/* Checks that each of the n keys has its type (types[i], as TYPE names it)
 * or does not exist. Returns 0, or CTL_SOFTWARE after printing
 * "invqctl: queue key K has type T, expected E; refusing to write: fix or
 * remove that key", or the failure code of the TYPE command. */
int conn_check_types(conn *c, const char *const *keys, const char *const *types, size_t n);
/* The same, except that a user whose ACL refuses TYPE (NOPERM) passes
 * unchecked (invqctl enqueue run as the producer user). */
int conn_check_types_if_allowed(conn *c, const char *const *keys, const char *const *types, size_t n);

/* Reads an integer reply element or string holding an integer; 0 otherwise. */
long long conn_int(const redisReply *r);

#endif
