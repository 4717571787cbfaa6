/* The worker's HTTP listener on the libuv loop: /metrics, /healthz, /readyz. */
#ifndef INVQ_WORKER_HTTP_H
#define INVQ_WORKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"

typedef struct http_server http_server;

/* Parses "host:port" (IPv4 or [IPv6]) or "off". Returns 0, 1 for "off", or a
 * negative error with a message in err. */
int http_addr_parse(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen);

/* Listens on addr; borrows loop and m (both must outlive the server).
 * Returns 0 or a negative libuv error. */
int http_server_start(http_server **out, uv_loop_t *loop, const struct sockaddr *addr, metrics *m);
/* Limits that protect the worker's loop from hostile or broken clients. */
typedef struct http_limits {
    size_t max_header_bytes;       /* request line + headers; beyond: 431 (default 8 KiB) */
    unsigned max_connections;      /* open at once; a new one beyond pushes out the oldest still
                                      waiting for its request (default 64) */
    uint64_t request_timeout_ms;   /* a whole request must arrive within this; else dropped (default 10 s) */
    uint64_t watchdog_interval_ms; /* loop watchdog tick (default 1 s) */
    uint64_t watchdog_stale_ms;    /* /healthz answers 503 if the last tick is older (default 5 s) */
} http_limits;

/* Fills in the defaults above. */
void http_limits_default(http_limits *lim);

/* http_server_start() with explicit limits (lim is copied). A failure to
 * bind or listen (address in use, ...) leaves nothing on the loop; only a
 * rarer failure inside libuv leaves handles closing on the next loop turn. */
int http_server_start_limits(http_server **out, uv_loop_t *loop, const struct sockaddr *addr, metrics *m,
                             const http_limits *lim);

/* The port the server listens on (useful after binding port 0); negative
 * libuv error on failure. */
int http_server_port(const http_server *s);

/* Connections open right now (being read, answered or closed). */
unsigned http_server_connections(const http_server *s);

/* Connections pushed out so far to make room for a new one (see
 * max_connections). */
uint64_t http_server_evictions(const http_server *s);

/* Closes the listener and every connection; cb runs once all handles closed. */
void http_server_close(http_server *s, void (*cb)(void *data), void *data);

/* For `invq-worker --probe URL`: GET URL (http://127.0.0.1:PORT/path) with a
 * timeout; returns 0 on a 2xx answer, 1 otherwise, printing one line on stderr. */
int http_probe(const char *url, int timeout_ms);

#endif
