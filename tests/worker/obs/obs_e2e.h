/* Helpers for the end-to-end observability tests: a free loopback port for
 * the worker's listener, a plain HTTP GET, and reading one sample out of a
 * /metrics scrape. */
#ifndef INVQ_TESTS_OBS_E2E_H
#define INVQ_TESTS_OBS_E2E_H

#include <stddef.h>

/* A loopback TCP port that was free a moment ago. */
int e2e_free_port(void);

/* GET http://127.0.0.1:port/path; the body (NUL-terminated, cut to cap)
 * into body. Returns the status code, or -1 on no answer within timeout_ms. */
int e2e_get(int port, const char *path, char *body, size_t cap, int timeout_ms);

/* Sends raw bytes to the listener and returns the answer's status code (-1
 * when the server closed without one within timeout_ms). */
int e2e_raw(int port, const char *data, size_t len, int timeout_ms);

/* Opens a connection that sends half a request and then nothing (a slow
 * client). Returns the socket; the caller closes it. */
int e2e_slow_client(int port);

/* The value of the sample `series` (e.g. `invq_batches_total` or
 * `invq_redis_connected{target="cache"}`) in a scrape, -1 when absent. */
double e2e_sample(const char *scrape, const char *series);

/* Scrapes /metrics and returns one sample (-1 on failure or absence). */
double e2e_metric(int port, const char *series);

/* Polls /metrics until the sample `series` is at least at_least (fails the
 * test after WT_DEADLINE_MS). */
void e2e_wait_metric(int port, const char *series, double at_least);

/* Polls GET path until it answers `want` (fails the test after
 * WT_DEADLINE_MS); that answer's body into body when body is not NULL. */
void e2e_wait_status(int port, const char *path, int want, char *body, size_t cap);

#endif
