/* TLS for a synchronous hiredis context: the context's socket is spliced
 * (tlspipe_splice) and a tlspipe pumps it on a libuv loop of its own
 * thread, so the sync path uses the same TLS code as the async one. The
 * thread ends by itself once the context is freed (redisFree() closes the
 * app end of the pipe). */
#ifndef INVQ_CORE_TLSTHREAD_H
#define INVQ_CORE_TLSTHREAD_H

#include <stddef.h>

#include "redis_url.h"

typedef struct tlsthread tlsthread;

/* Starts TLS for u (borrowed) on `fd`, the connected TCP socket of a
 * blocking hiredis context, and waits for the handshake (timeout_ms > 0
 * bounds it). On 0 *out is a handle for tlsthread_error(), released with
 * tlsthread_release(). On failure (INVQ_ETLS with the reason, INVQ_ETIMEOUT,
 * INVQ_ECONNECT, INVQ_ENOMEM) *out is NULL and the caller frees the
 * context as usual (any thread started then ends by itself). */
int tlsthread_start(int fd, const redis_url *u, int timeout_ms, tlsthread **out, char *err, size_t errlen);

/* The TLS failure seen since the handshake (a client certificate the
 * server refused shows only after it): INVQ_ETLS/INVQ_EIO with the message,
 * or 0 when none. */
int tlsthread_error(tlsthread *t, char *err, size_t errlen);

/* Waits (up to timeout_ms) until the thread has ended and released every
 * OpenSSL resource of its own; call it after freeing the context (which
 * ends the thread). Returns 0, or INVQ_ETIMEOUT. NULL is fine. */
int tlsthread_wait(tlsthread *t, int timeout_ms);

/* Drops the caller's handle; NULL is fine. The thread keeps pumping until
 * the context is freed. */
void tlsthread_release(tlsthread *t);

#endif
