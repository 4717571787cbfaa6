/* The one TLS implementation of invq's Redis connections. hiredis 0.14 has
 * no TLS, so a hiredis context talks plain RESP to one end of a socketpair
 * (the "app" end), and a tlspipe pumps those bytes through OpenSSL memory
 * BIOs to and from the TCP connection to Redis, on a libuv loop. hiredis
 * never touches the network; the network never sees a byte that is not
 * TLS: nothing the app writes is read before the handshake has verified
 * the server (when verification is asked for).
 *
 * uvredis runs a tlspipe on the caller's loop; redis_sync runs one on a
 * loop of its own thread (tlsthread.h). */
#ifndef INVQ_CORE_TLSPIPE_H
#define INVQ_CORE_TLSPIPE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "redis_url.h"

typedef struct tlspipe tlspipe;

typedef enum tlspipe_event {
    /* The handshake finished and the server's certificate verified. */
    TLSPIPE_READY,
    /* The TLS connection is over: status 0 when the server closed it, or a
     * negative code (INVQ_ETLS: handshake, certificate or TLS error;
     * INVQ_ECONNECT: the TCP connect failed; INVQ_ETIMEOUT: no handshake in
     * time; INVQ_EIO: the connection broke) with msg. Plaintext already
     * decrypted is still delivered, then the app end reads end of file. */
    TLSPIPE_ENDED,
    /* The app end was closed (its hiredis context was freed). */
    TLSPIPE_APP_CLOSED,
} tlspipe_event;

/* msg is borrowed for the call (NULL unless TLSPIPE_ENDED with an error). */
typedef void (*tlspipe_cb)(tlspipe *t, tlspipe_event ev, int status, const char *msg, void *data);
typedef void (*tlspipe_close_cb)(tlspipe *t, void *data);

/* Splits the TCP socket `fd` that a hiredis context owns (connected, or
 * with a non-blocking connect under way): afterwards `fd` is one end of a
 * new socketpair (blocking when app_blocking, else non-blocking),
 * *net_fd a duplicate of the TCP socket (non-blocking) and *pipe_fd the
 * socketpair's other end (non-blocking); both are the caller's, to hand to
 * tlspipe_new(). Returns 0, or INVQ_ECONNECT / INVQ_ENOMEM with a message
 * (then `fd` is unchanged). */
int tlspipe_splice(int fd, bool app_blocking, int *net_fd, int *pipe_fd, char *err, size_t errlen);

/* Starts TLS for u (borrowed: host and ssl_* settings) over net_fd (taken;
 * its connect may still be under way), pumping plaintext to and from
 * pipe_fd (taken). timeout_ms > 0 bounds the connect and the handshake.
 * On 0 *out is set and cb runs from the loop. On failure (INVQ_ETLS: the
 * TLS files cannot be used; INVQ_ENOMEM) both fds are closed, nothing
 * runs and err holds the message. */
int tlspipe_new(uv_loop_t *loop, const redis_url *u, int net_fd, int pipe_fd, int timeout_ms, tlspipe_cb cb,
                void *data, tlspipe **out, char *err, size_t errlen);

/* True once the TCP connect has finished (the handshake runs or ran). */
bool tlspipe_tcp_connected(const tlspipe *t);

/* Stops pumping (sending a TLS close_notify when it can), closes both fds;
 * once every handle is closed cb (may be NULL) runs and t is freed. cb of
 * tlspipe_new never runs again. Safe from any callback of t, once. */
void tlspipe_close(tlspipe *t, tlspipe_close_cb cb, void *data);

#endif
