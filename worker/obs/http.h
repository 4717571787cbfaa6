/* The worker's HTTP listener on the libuv loop: /metrics, /healthz, /readyz. */
#ifndef INVQ_WORKER_HTTP_H
#define INVQ_WORKER_HTTP_H

#include <uv.h>

#include "metrics.h"

typedef struct http_server http_server;

/* Parses "host:port" (IPv4 or [IPv6]) or "off". Returns 0, 1 for "off", or a
 * negative error with a message in err. */
int http_addr_parse(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen);

/* Listens on addr; borrows loop and m (both must outlive the server).
 * Returns 0 or a negative libuv error. */
int http_server_start(http_server **out, uv_loop_t *loop, const struct sockaddr *addr, metrics *m);
/* Closes the listener and every connection; cb runs once all handles closed. */
void http_server_close(http_server *s, void (*cb)(void *data), void *data);

/* For `invq-worker --probe URL`: GET URL (http://127.0.0.1:PORT/path) with a
 * timeout; returns 0 on a 2xx answer, 1 otherwise, printing one line on stderr. */
int http_probe(const char *url, int timeout_ms);

#endif
