/* The HTTP listener's test fixture, shared by obs_http and obs_http_abuse:
 * a server on its own libuv loop in a thread, loopback clients (raw
 * sockets) in the test thread, and helpers that run code on the loop. */
#ifndef INVQ_OBS_TESTS_HTTP_FIXTURE_H
#define INVQ_OBS_TESTS_HTTP_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "http.h"
#include "metrics.h"

typedef struct fixture {
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(struct fixture *f, void *arg);
    void *arg;
    bool done;
    bool stall_started;
    uv_timer_t stall;
    metrics *m;
    http_server *srv;
    http_limits lim;
    int port;
    bool closed;
} fixture;

/* Runs fn(f, arg) on the loop thread and waits for it: the registry and
 * the server are only touched there. */
void on_loop(fixture *f, void (*fn)(fixture *, void *), void *arg);

/* cmocka setups: a server with these limits; short deadlines and 4
 * connections (slow-client tests finish in about a second); the defaults. */
int fixture_setup_with(void **state, const http_limits *lim);
int setup_fast(void **state);
int setup_default(void **state);
/* Closes the server and checks the loop is left empty. */
int fixture_teardown(void **state);

int64_t now_ms(void);

/* Sends what it can (the server may stop reading, e.g. after a 431). */
void client_send(int fd, const char *data, size_t len);
/* A connection from loopback address `from` (host byte order: 127.0.0.1,
 * 127.0.0.2, ...; Linux answers all of 127/8), or from 127.0.0.1. */
int client_connect_from(int port, uint32_t from);
int client_connect(int port);
/* A slow client: half a request, then nothing. */
int slow_client_from(int port, uint32_t from);
/* True when the server has closed fd (EOF or reset, never answer bytes)
 * within timeout_ms; false when it is still open and silent. */
bool client_closed(int fd, int timeout_ms);
/* Reads until EOF, an error or timeout_ms; returns the bytes read (-1 on
 * timeout) and NUL-terminates buf. */
ssize_t client_read_all(int fd, char *buf, size_t cap, int timeout_ms);

typedef struct response {
    int status;
    char raw[1 << 16];
    const char *body;
} response;

/* Sends raw bytes as one request and parses the answer's status line. */
void request_raw(int port, const char *raw, size_t len, response *r);
void request(int port, const char *method, const char *path, response *r);
bool has_header(const response *r, const char *line);

extern bool cache_up, cache_down;
/* Loop side: queue connected, cache as *(bool *)arg; the connection count
 * into *(unsigned *)arg; the eviction count into *(uint64_t *)arg. */
void do_set_up(fixture *f, void *arg);
void do_count_conns(fixture *f, void *arg);
void do_count_evictions(fixture *f, void *arg);
/* Polls until the server holds `want` connections (bounded: 5 s). */
void wait_connections(fixture *f, unsigned want);

#endif
