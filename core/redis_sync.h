/* Synchronous Redis connections for every invq program: connect with
 * timeouts, AUTH and SELECT, and the translation of hiredis errors into
 * INVQ_* codes (done here once, at the boundary). */
#ifndef INVQ_PRODUCER_REDIS_SYNC_H
#define INVQ_PRODUCER_REDIS_SYNC_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

/* Connects to u (borrowed), sets the command timeout (0: none), sends AUTH
 * when u has a password and SELECT when u->db != 0. Over TLS (rediss://)
 * the handshake runs first (tlsthread.h) and at least one round trip is
 * made; for a Sentinel URL the master is discovered (sentinel.h) and must
 * answer ROLE master. On 0 *out is a ready context the caller frees with
 * redisFree(). On failure *out is NULL and the code is INVQ_ECONNECT,
 * INVQ_ETIMEOUT, INVQ_EAUTH, INVQ_ETLS, INVQ_EREPLY, INVQ_EIO or
 * INVQ_ENOMEM, with a message in err. */
int redis_sync_connect(const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                       redisContext **out, char *err, size_t errlen);

struct tlsthread;

/* As redis_sync_connect(), and over TLS *tls is the handle of the thread
 * that pumps the connection (NULL for a plain one). Free the pair with
 * redis_sync_free(), which also waits for that thread to end, so a
 * program that exits right after holds no TLS state on another thread.
 * (redis_sync_connect() lets the thread end by itself after redisFree().) */
int redis_sync_connect_tls(const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                           redisContext **out, struct tlsthread **tls, char *err, size_t errlen);

/* redisFree(c) (c may be NULL), then waits for tls's thread to end and
 * drops the handle (tls may be NULL). */
void redis_sync_free(redisContext *c, struct tlsthread *tls);

/* Translates the error recorded in a context (c->err != 0) after a failed
 * command into INVQ_ETIMEOUT, INVQ_EIO, INVQ_EPROTO or INVQ_ENOMEM, with a
 * message prefixed by `what`. The context must then be dropped. */
int redis_sync_ctx_error(const redisContext *c, const char *what, char *err, size_t errlen);

/* Translates an error reply (type REDIS_REPLY_ERROR): auth errors (NOAUTH,
 * WRONGPASS, ...) give INVQ_EAUTH, everything else INVQ_EREPLY; the message
 * is "<what>: <Redis's message>". */
int redis_reply_error(const redisReply *r, const char *what, char *err, size_t errlen);

/* True when an error reply means "try again later" (LOADING, BUSY, TRYAGAIN,
 * MASTERDOWN, READONLY, OOM, CLUSTERDOWN, NOREPLICAS: a demoted master with
 * min-replicas-to-write) rather than a permanent refusal. */
int redis_reply_is_transient(const redisReply *r);

/* True when an error reply's text (msg, len bytes, no leading '-') says
 * that the node answering is not (or no longer, or not yet) a writable
 * master: READONLY (a replica), LOADING (loading its data set), MASTERDOWN
 * (a replica cut off from its master), NOREPLICAS (a master without the
 * replicas min-replicas-to-write asks for). Such an error is about the
 * connection, not the command: drop it, rediscover the master, reconnect
 * and send again. The failover table in worker/README.md. */
int redis_err_node_unavailable(const char *msg, size_t len);

#endif
