/* The HTTP listener's test fixture (http_fixture.h). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http_fixture.h"

/* ---- a server on a loop thread ---- */

static void async_cb(uv_async_t *a)
{
    fixture *f = a->data;
    pthread_mutex_lock(&f->mu);
    void (*fn)(fixture *, void *) = f->fn;
    void *arg = f->arg;
    f->fn = NULL;
    pthread_mutex_unlock(&f->mu);
    if (!fn)
        return;
    fn(f, arg);
    pthread_mutex_lock(&f->mu);
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Runs fn(f, arg) on the loop thread and waits for it: the registry and
 * the server are only touched there. */
void on_loop(fixture *f, void (*fn)(fixture *, void *), void *arg)
{
    pthread_mutex_lock(&f->mu);
    f->fn = fn;
    f->arg = arg;
    f->done = false;
    pthread_mutex_unlock(&f->mu);
    uv_async_send(&f->async);
    pthread_mutex_lock(&f->mu);
    while (!f->done)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void *loop_thread(void *arg)
{
    fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

int fixture_setup_with(void **state, const http_limits *lim)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->async, async_cb), 0);
    f->async.data = f;
    f->m = metrics_new("9.9.9-test");
    assert_non_null(f->m);
    f->lim = *lim;
    struct sockaddr_storage ss;
    char err[128];
    assert_int_equal(http_addr_parse("127.0.0.1:0", &ss, err, sizeof err), 0);
    assert_int_equal(http_server_start_limits(&f->srv, &f->loop, (struct sockaddr *)&ss, f->m, &f->lim), 0);
    f->port = http_server_port(f->srv);
    assert_true(f->port > 0);
    assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
    *state = f;
    return 0;
}

/* Short deadlines so the slow-client tests finish in about a second. */
int setup_fast(void **state)
{
    http_limits lim;
    http_limits_default(&lim);
    lim.max_connections = 4;
    lim.request_timeout_ms = 1000;
    lim.watchdog_interval_ms = 100;
    lim.watchdog_stale_ms = 1000;
    return fixture_setup_with(state, &lim);
}

int setup_default(void **state)
{
    http_limits lim;
    http_limits_default(&lim);
    return fixture_setup_with(state, &lim);
}

static void server_closed(void *data)
{
    ((fixture *)data)->closed = true;
}

static void do_close(fixture *f, void *arg)
{
    http_server_close(f->srv, server_closed, f);
    uv_close((uv_handle_t *)&f->async, NULL);
}

int fixture_teardown(void **state)
{
    fixture *f = *state;
    on_loop(f, do_close, NULL);
    pthread_join(f->thread, NULL);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle is gone */
    metrics_free(f->m);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    return 0;
}

/* ---- loopback clients ---- */

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void client_send(int fd, const char *data, size_t len)
{
    /* The server may answer and stop reading before all is sent (431). */
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* A connection to the server from loopback address `from` (host byte
 * order: 127.0.0.1, 127.0.0.2, ...; Linux answers all of 127/8). */
int client_connect_from(int port, uint32_t from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(from);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

int client_connect(int port)
{
    return client_connect_from(port, INADDR_LOOPBACK);
}

/* A slow client: half a request, then nothing. */
int slow_client_from(int port, uint32_t from)
{
    int fd = client_connect_from(port, from);
    const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    client_send(fd, half, sizeof half - 1);
    return fd;
}

/* True when the server has closed fd (EOF or reset, no answer bytes) within
 * timeout_ms; false when it is still open and silent. */
bool client_closed(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    assert_true(n <= 0); /* never an answer */
    return true;
}

/* Reads until EOF, an error or timeout_ms; returns the bytes read (-1 on
 * timeout) and NUL-terminates buf. */
ssize_t client_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            buf[got] = '\0';
            return -1;
        }
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0 || got + (size_t)n == cap - 1) {
            if (n > 0)
                got += (size_t)n;
            buf[got] = '\0';
            return (ssize_t)got;
        }
        got += (size_t)n;
    }
}


/* Sends raw bytes as one request and parses the answer's status line. */
void request_raw(int port, const char *raw, size_t len, response *r)
{
    int fd = client_connect(port);
    client_send(fd, raw, len);
    ssize_t n = client_read_all(fd, r->raw, sizeof r->raw, 5000);
    close(fd);
    r->status = 0;
    r->body = NULL;
    if (n <= 0 || sscanf(r->raw, "HTTP/1.1 %d ", &r->status) != 1)
        fail_msg("no HTTP answer to '%.40s': '%s'", raw, r->raw);
    const char *sep = strstr(r->raw, "\r\n\r\n");
    assert_non_null(sep);
    r->body = sep + 4;
}

void request(int port, const char *method, const char *path, response *r)
{
    char raw[4096];
    int n = snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: obs-test\r\n\r\n",
                     method, path);
    request_raw(port, raw, (size_t)n, r);
}

bool has_header(const response *r, const char *line)
{
    const char *end = strstr(r->raw, "\r\n\r\n");
    const char *hit = strstr(r->raw, line);
    return hit && hit < end;
}

/* ---- loop-side helpers ---- */

bool cache_up = true, cache_down = false;

/* Queue connected; cache as *arg says. */
void do_set_up(fixture *f, void *arg)
{
    metrics_set_connected(f->m, "queue", true);
    metrics_set_connected(f->m, "cache", *(bool *)arg);
}

void do_count_conns(fixture *f, void *arg)
{
    *(unsigned *)arg = http_server_connections(f->srv);
}

/* Polls until the server holds `want` connections (bounded: 5 s). */
void wait_connections(fixture *f, unsigned want)
{
    unsigned n = 0;
    int64_t deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        on_loop(f, do_count_conns, &n);
        if (n == want)
            return;
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("server holds %u connections, wanted %u", n, want);
}

void do_count_evictions(fixture *f, void *arg)
{
    *(uint64_t *)arg = http_server_evictions(f->srv);
}

