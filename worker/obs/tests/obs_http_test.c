/* Tests of the HTTP listener: a server on its own libuv loop in a thread,
 * real loopback clients (raw sockets, curl, http_probe) in the test thread.
 * Covers routes, status codes, limits, slow clients, the loop watchdog, and
 * that closing the server leaves the loop empty. */
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

#include "http.h"
#include "metrics.h"
#include "promtool_check.h"

/* ---- a server on a loop thread ---- */

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
static void on_loop(fixture *f, void (*fn)(fixture *, void *), void *arg)
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

static int fixture_setup_with(void **state, const http_limits *lim)
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
static int setup_fast(void **state)
{
    http_limits lim;
    http_limits_default(&lim);
    lim.max_connections = 4;
    lim.request_timeout_ms = 1000;
    lim.watchdog_interval_ms = 100;
    lim.watchdog_stale_ms = 1000;
    return fixture_setup_with(state, &lim);
}

static int setup_default(void **state)
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

static int fixture_teardown(void **state)
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

static void client_send(int fd, const char *data, size_t len)
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

/* Reads until EOF, an error or timeout_ms; returns the bytes read (-1 on
 * timeout) and NUL-terminates buf. */
static ssize_t client_read_all(int fd, char *buf, size_t cap, int timeout_ms)
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

typedef struct response {
    int status;
    char raw[1 << 16];
    const char *body;
} response;

/* Sends raw bytes as one request and parses the answer's status line. */
static void request_raw(int port, const char *raw, size_t len, response *r)
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

static void request(int port, const char *method, const char *path, response *r)
{
    char raw[512];
    int n = snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: obs-test\r\n\r\n",
                     method, path);
    request_raw(port, raw, (size_t)n, r);
}

static bool has_header(const response *r, const char *line)
{
    const char *end = strstr(r->raw, "\r\n\r\n");
    const char *hit = strstr(r->raw, line);
    return hit && hit < end;
}

/* ---- loop-side helpers ---- */

static bool cache_up = true, cache_down = false;

/* Queue connected; cache as *arg says. */
static void do_set_up(fixture *f, void *arg)
{
    metrics_set_connected(f->m, "queue", true);
    metrics_set_connected(f->m, "cache", *(bool *)arg);
}

static void do_count_conns(fixture *f, void *arg)
{
    *(unsigned *)arg = http_server_connections(f->srv);
}

/* Polls until the server holds `want` connections (bounded: 5 s). */
static void wait_connections(fixture *f, unsigned want)
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

/* ---- tests ---- */

static void test_metrics_route(void **state)
{
    fixture *f = *state;
    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r->body, "invq_build_info{version=\"9.9.9-test\"} 1\n"));
    assert_non_null(strstr(r->body, "# TYPE invq_job_lag_seconds histogram\n"));
    request(f->port, "GET", "/metrics?x=1", r); /* a query string is ignored */
    assert_int_equal(r->status, 200);
    request(f->port, "HEAD", "/metrics", r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "");
    free(r);
}

/* curl scrapes /metrics; promtool lints what it got. */
static void test_curl_scrape_passes_promtool(void **state)
{
    fixture *f = *state;
    const char *curl = getenv("CURL");
    if (!curl || access(curl, X_OK) != 0)
        skip();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -sS --max-time 5 -w '\\n%%{http_code}' http://127.0.0.1:%d/metrics", curl, f->port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    char *code = strrchr(out, '\n');
    assert_non_null(code);
    assert_string_equal(code + 1, "200");
    code[1] = '\0'; /* keep the body's final newline */
    assert_non_null(strstr(out, "invq_build_info{"));
    int rc = promtool_check(out);
    if (rc == PROMTOOL_ABSENT)
        skip();
    assert_int_equal(rc, 0);
}

static void test_healthz_and_readyz(void **state)
{
    fixture *f = *state;
    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "ok\n");

    request(f->port, "GET", "/readyz", r);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body, "queue and cache redis not connected\n");

    on_loop(f, do_set_up, &cache_down);
    request(f->port, "GET", "/readyz", r);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body, "cache redis not connected\n");

    on_loop(f, do_set_up, &cache_up);
    request(f->port, "GET", "/readyz", r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "ready\n");
    free(r);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/nope", r);
    assert_int_equal(r->status, 404);
    request(f->port, "GET", "/metricsX", r);
    assert_int_equal(r->status, 404);
    request(f->port, "POST", "/metrics", r);
    assert_int_equal(r->status, 405);
    assert_true(has_header(r, "Allow: GET, HEAD"));
    request(f->port, "DELETE", "/readyz", r);
    assert_int_equal(r->status, 405);

    const char garbage[] = "\x01\x02\x03 hello there\r\n\r\n";
    request_raw(f->port, garbage, sizeof garbage - 1, r);
    assert_int_equal(r->status, 400);
    const char bad_version[] = "GET /metrics HTTP/9x\r\n\r\n";
    request_raw(f->port, bad_version, sizeof bad_version - 1, r);
    assert_int_equal(r->status, 400);

    const char with_body[] = "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    request_raw(f->port, with_body, sizeof with_body - 1, r);
    assert_int_equal(r->status, 413);
    const char chunked[] = "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    request_raw(f->port, chunked, sizeof chunked - 1, r);
    assert_int_equal(r->status, 413);

    /* The server still works after all that. */
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    free(r);
}

/* 16 KiB of headers against the default 8 KiB limit. */
static void test_oversized_headers(void **state)
{
    fixture *f = *state;
    size_t cap = 20000;
    char *raw = malloc(cap);
    size_t len = (size_t)snprintf(raw, cap, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; len < 16384; i++)
        len += (size_t)snprintf(raw + len, cap - len, "X-Pad-%d: %0100d\r\n", i, 0);
    len += (size_t)snprintf(raw + len, cap - len, "\r\n");
    response *r = malloc(sizeof *r);
    request_raw(f->port, raw, len, r);
    assert_int_equal(r->status, 431);

    /* One huge header line, and many tiny ones. */
    len = (size_t)snprintf(raw, cap, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(raw + len, 'a', 16384);
    len += 16384;
    len += (size_t)snprintf(raw + len, cap - len, "\r\n\r\n");
    request_raw(f->port, raw, len, r);
    assert_int_equal(r->status, 431);

    /* Just under the limit is fine. */
    len = (size_t)snprintf(raw, cap, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(raw + len, 'a', 7000);
    len += 7000;
    len += (size_t)snprintf(raw + len, cap - len, "\r\n\r\n");
    request_raw(f->port, raw, len, r);
    assert_int_equal(r->status, 200);
    free(raw);
    free(r);
}

/* A client that sends half a request is dropped at the deadline, while
 * other clients are answered meanwhile. */
static void test_slow_client_dropped(void **state)
{
    fixture *f = *state;
    int64_t start = now_ms();
    int slow = client_connect(f->port);
    const char half[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    client_send(slow, half, sizeof half - 1);

    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    request(f->port, "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    free(r);

    char buf[256];
    ssize_t n = client_read_all(slow, buf, sizeof buf, 5000);
    int64_t elapsed = now_ms() - start;
    assert_int_equal(n, 0); /* closed without an answer */
    assert_true(elapsed >= 900);
    assert_true(elapsed < 3000);
    close(slow);
}

/* Slow-loris: one byte at a time keeps nothing alive past the deadline. */
static void test_dripping_client_dropped(void **state)
{
    fixture *f = *state;
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int fd = client_connect(f->port);
    int64_t start = now_ms();
    bool dropped = false;
    for (size_t i = 0; i < sizeof req - 1 && !dropped; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
            dropped = true;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, 100) > 0) {
            char c;
            assert_true(recv(fd, &c, 1, 0) <= 0); /* EOF or reset, never an answer */
            dropped = true;
        }
    }
    int64_t elapsed = now_ms() - start;
    assert_true(dropped);
    assert_true(elapsed < 2500);
    close(fd);
}

static void test_max_connections(void **state)
{
    fixture *f = *state;
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = client_connect(f->port);
    wait_connections(f, 4);

    /* The fifth is accepted and closed at once, long before the deadline. */
    int64_t start = now_ms();
    int extra = client_connect(f->port);
    char buf[64];
    assert_true(client_read_all(extra, buf, sizeof buf, 5000) == 0 || errno == ECONNRESET);
    assert_true(now_ms() - start < 800);
    close(extra);
    wait_connections(f, 4);

    close(fds[0]);
    wait_connections(f, 3);
    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    free(r);
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    wait_connections(f, 0);
}

/* ---- the watchdog ---- */

static void stall_cb(uv_timer_t *t)
{
    fixture *f = t->data;
    pthread_mutex_lock(&f->mu);
    f->stall_started = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    struct timespec ts = { 1, 500 * 1000 * 1000 }; /* the stall itself */
    nanosleep(&ts, NULL);
    uv_close((uv_handle_t *)t, NULL);
}

static void do_start_stall(fixture *f, void *arg)
{
    uv_timer_init(&f->loop, &f->stall);
    f->stall.data = f;
    uv_timer_start(&f->stall, stall_cb, 0, 0);
}

/* A request read right after a 1.5 s stall sees a stale watchdog (503);
 * the next one is fine again, and the stall shows in invq_loop_lag_seconds. */
static void test_watchdog_sees_stall(void **state)
{
    fixture *f = *state;
    int fd = client_connect(f->port);
    wait_connections(f, 1);
    on_loop(f, do_start_stall, NULL);
    pthread_mutex_lock(&f->mu);
    while (!f->stall_started)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    client_send(fd, req, sizeof req - 1);
    char buf[512];
    assert_true(client_read_all(fd, buf, sizeof buf, 5000) > 0);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 503 "));
    assert_non_null(strstr(buf, "event loop stalled"));

    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    request(f->port, "GET", "/metrics", r);
    const char *lag = strstr(r->body, "\ninvq_loop_lag_seconds ");
    assert_non_null(lag);
    double seconds = strtod(lag + strlen("\ninvq_loop_lag_seconds "), NULL);
    assert_true(seconds > 1.0);
    free(r);
}

/* ---- the probe client ---- */

static void test_probe(void **state)
{
    fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", f->port);
    assert_int_equal(http_probe(url, 2000), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", f->port);
    assert_int_equal(http_probe(url, 2000), 1); /* 503 */
    on_loop(f, do_set_up, &cache_up);
    assert_int_equal(http_probe(url, 2000), 0);
    snprintf(url, sizeof url, "http://localhost:%d/nope", f->port);
    assert_int_equal(http_probe(url, 2000), 1);
    assert_int_equal(http_probe("ftp://127.0.0.1/x", 2000), 1);
    assert_int_equal(http_probe("http://127.0.0.1:99999999/x", 2000), 1);

    /* A listener that never answers: the probe gives up at its timeout. */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof sin;
    assert_int_equal(bind(silent, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(silent, 4), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&sin, &slen), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", ntohs(sin.sin_port));
    int64_t start = now_ms();
    assert_int_equal(http_probe(url, 300), 1);
    assert_true(now_ms() - start < 1500);
    close(silent);

    /* Nothing listening there any more. */
    assert_int_equal(http_probe(url, 2000), 1);
}

/* ---- without a loop thread ---- */

static void test_addr_parse(void **state)
{
    struct sockaddr_storage ss;
    char err[128];
    assert_int_equal(http_addr_parse("off", &ss, err, sizeof err), 1);
    assert_int_equal(http_addr_parse("127.0.0.1:9464", &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
    assert_int_equal(http_addr_parse("[::1]:80", &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
    assert_int_equal(http_addr_parse("localhost:1", &ss, err, sizeof err), 0);
    assert_int_equal(http_addr_parse(":9464", &ss, err, sizeof err), 0);
    assert_int_equal(http_addr_parse("0.0.0.0:9464", &ss, err, sizeof err), 0);
    const char *bad[] = { "", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x",
                          "::1:80", "[::1]80", "[::1", "example.com:80", "1.2.3.4:-1", "[zz]:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_true(http_addr_parse(bad[i], &ss, err, sizeof err) < 0);
        assert_true(strlen(err) > 0);
    }
}

static void test_start_failure_leaves_loop_clean(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    metrics *m = metrics_new("x");
    struct sockaddr_storage ss;
    char err[128];
    assert_int_equal(http_addr_parse("127.0.0.1:0", &ss, err, sizeof err), 0);
    http_server *a = NULL, *b = NULL;
    assert_int_equal(http_server_start(&a, &loop, (struct sockaddr *)&ss, m), 0);
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)http_server_port(a));
    assert_int_equal(http_server_start(&b, &loop, (struct sockaddr *)&ss, m), UV_EADDRINUSE);
    assert_null(b);
    /* The failed start left nothing behind: a second loop closes at once. */
    uv_loop_t other;
    assert_int_equal(uv_loop_init(&other), 0);
    assert_int_equal(http_server_start(&b, &other, (struct sockaddr *)&ss, m), UV_EADDRINUSE);
    assert_null(b);
    assert_int_equal(uv_loop_close(&other), 0);
    http_server_close(a, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_start_failure_leaves_loop_clean),
        cmocka_unit_test_setup_teardown(test_metrics_route, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curl_scrape_passes_promtool, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_healthz_and_readyz, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_headers, setup_default, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dripping_client_dropped, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_sees_stall, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup_fast, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
