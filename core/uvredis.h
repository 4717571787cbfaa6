/* One asynchronous Redis connection on a libuv loop: the only code in invq
 * that glues hiredis's async API to libuv. It adds what hiredis 0.14's own
 * adapter lacks: a connect timeout (covering AUTH and SELECT), a command
 * timeout, poll errors treated as a dead connection, and a close with a
 * callback after which the loop holds nothing of it.
 *
 * One uvredis is one connection attempt and its lifetime. After on_connect
 * reported a failure, or on_lost reported a broken connection, the owner
 * closes it with uvredis_close() and makes a new one to reconnect. */
#ifndef INVQ_PRODUCER_UVREDIS_H
#define INVQ_PRODUCER_UVREDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "redis_url.h"

typedef struct uvredis uvredis;

/* status: 0 or a negative INVQ_* code. */
typedef void (*uvredis_event_cb)(uvredis *r, int status, void *data);
/* status 0: reply is Redis's answer (possibly REDIS_REPLY_ERROR), borrowed
 * for the duration of the callback. status < 0 (INVQ_EIO, INVQ_ETIMEOUT,
 * INVQ_ECLOSED, ...): reply is NULL and the command's outcome is unknown. */
typedef void (*uvredis_reply_cb)(uvredis *r, int status, redisReply *reply, void *data);
typedef void (*uvredis_close_cb)(uvredis *r, void *data);

typedef struct uvredis_opts {
    int connect_timeout_ms;    /* > 0: connect + AUTH + SELECT must finish in time */
    int command_timeout_ms;    /* > 0: while commands are outstanding, a gap this long without a
                                  reply kills the connection (INVQ_ETIMEOUT); must exceed any
                                  blocking command's own timeout. Counted once the connection is
                                  ready: until then connect_timeout_ms covers what was queued */
    size_t max_bulk_len;       /* > 0: a reply string longer than this is never read whole: the
                                  connection is dropped (INVQ_EPROTO) as soon as its length is seen */
    uvredis_event_cb on_connect; /* required: runs once, 0 = ready, < 0 = connect failed */
    uvredis_event_cb on_lost;    /* may be NULL: runs once if a ready connection breaks */
    void *data;                  /* passed to on_connect and on_lost */
} uvredis_opts;

/* Starts connecting to u (borrowed, copied as needed) on loop (borrowed; must
 * outlive r). On 0, *out is set and on_connect will run exactly once (unless
 * r is closed first). On a negative return (INVQ_ECONNECT when the connect
 * fails at once, INVQ_ENOMEM) nothing runs, nothing is left on the loop, and
 * err holds a message. Writes to the socket cannot raise SIGPIPE: unless
 * SIGPIPE is ignored at this call, each is guarded (see sigpipe.h); a
 * process that stops ignoring it later must reconnect to be guarded. */
int uvredis_new(uv_loop_t *loop, const redis_url *u, const uvredis_opts *o, uvredis **out,
                char *err, size_t errlen);

/* Queues one command (argv/lens borrowed, binary safe). Commands may be
 * issued while connecting; they are sent after AUTH/SELECT, in order, and
 * pipelined. cb (may be NULL) runs exactly once on a 0 return; on a negative
 * return (INVQ_ECLOSED: not connected or closing, INVQ_ENOMEM) it never runs. */
int uvredis_command_argv(uvredis *r, int argc, const char **argv, const size_t *lens,
                         uvredis_reply_cb cb, void *data);

/* True once on_connect(0) ran and until the connection is lost or closed. */
int uvredis_is_ready(const uvredis *r);

/* Commands sent whose reply has not arrived yet. */
size_t uvredis_outstanding(const uvredis *r);

/* Last failure message ("" when none); borrowed, valid until r is freed. */
const char *uvredis_errstr(const uvredis *r);

/* Closes r: outstanding commands complete with INVQ_ECLOSED (possibly before
 * this returns), on_connect/on_lost never run again, and once every libuv
 * handle is closed cb (may be NULL) runs from the loop and r is freed. Safe
 * to call from any callback of r, once. */
void uvredis_close(uvredis *r, uvredis_close_cb cb, void *data);

#endif
