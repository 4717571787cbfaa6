/* Asynchronous master discovery for a Sentinel URL, on a libuv loop: asks
 * SENTINEL get-master-addr-by-name of one sentinel after the other until
 * one answers, keeping the connection to the sentinel that answered for
 * the next query (rlink asks again every second to follow a failover).
 * Used by rlink; one query at a time. */
#ifndef INVQ_CORE_SENTINEL_LINK_H
#define INVQ_CORE_SENTINEL_LINK_H

#include <stddef.h>

#include <uv.h>

#include "redis_url.h"

typedef struct sentinel_link sentinel_link;

/* status 0: host (borrowed for the call) and port of the master; status
 * < 0: no sentinel answered (INVQ_ECONNECT, INVQ_ETLS, INVQ_EAUTH, ...),
 * err says what each one gave. */
typedef void (*sentinel_query_cb)(sentinel_link *s, int status, const char *host, int port, const char *err,
                                  void *data);
typedef void (*sentinel_link_close_cb)(sentinel_link *s, void *data);

/* A discovery helper for u (borrowed; a Sentinel URL that must outlive s)
 * on loop. Returns 0 and *out, or INVQ_ENOMEM. */
int sentinel_link_new(uv_loop_t *loop, const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                      sentinel_link **out);

/* Asks for the master's address, starting with the sentinel asked last.
 * cb runs exactly once from the loop (never from this call) unless s is
 * closed first. Returns 0, or INVQ_EINVAL when a query is already running. */
int sentinel_link_query(sentinel_link *s, sentinel_query_cb cb, void *data);

/* True while a query runs. */
int sentinel_link_busy(const sentinel_link *s);

/* The address a sentinel gave turned out unusable: the next query starts
 * with the following sentinel. */
void sentinel_link_next(sentinel_link *s);

/* Closes the sentinel connection; a running query's cb never runs. cb (may
 * be NULL) runs once nothing is left on the loop, then s is freed. */
void sentinel_link_close(sentinel_link *s, sentinel_link_close_cb cb, void *data);

#endif
