/* Tests of the HTTP listener: a server on its own libuv loop in a thread,
 * real loopback clients (raw sockets, curl, http_probe) in the test thread.
 * Covers routes, query strings, status codes, HTTP versions and transfer
 * codings, header limits, the loop watchdog, the probe client, and that
 * closing the server leaves the loop empty. Abusive clients and the
 * connection limit: obs_http_abuse_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http_fixture.h"
#include "promtool_check.h"

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
    request(f->port, "GET", "/healthz?probe=1#top", r);
    assert_int_equal(r->status, 200);
    request(f->port, "GET", "/readyz#x", r);
    assert_int_equal(r->status, 503);
    /* However long (within the header limit): the path alone is routed. */
    char long_query[2048];
    int n = snprintf(long_query, sizeof long_query, "/metrics?");
    memset(long_query + n, 'q', 1500);
    long_query[n + 1500] = '\0';
    request(f->port, "GET", long_query, r);
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

    static const struct {
        const char *raw;
        int status;
        const char *body; /* part of the answer's text, or NULL */
    } cases[] = {
        { "\x01\x02\x03 hello there\r\n\r\n", 400, NULL },
        { "GET /metrics HTTP/9x\r\n\r\n", 400, NULL },
        { "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413, NULL },
        { "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413, NULL },
        { "GET /metrics HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 413, NULL },
        /* A transfer coding other than chunked leaves the length unknown. */
        { "GET /metrics HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 400, "Transfer-Encoding" },
        { "GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 200, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request_raw(f->port, cases[i].raw, strlen(cases[i].raw), r);
        if (r->status != cases[i].status)
            fail_msg("'%.60s' answered %d, want %d", cases[i].raw, r->status, cases[i].status);
        if (cases[i].body)
            assert_non_null(strstr(r->body, cases[i].body));
    }

    /* The server still works after all that. */
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    free(r);
}

/* Only HTTP/1.x is served: other versions, and version-less HTTP/0.9
 * request lines (with or without a blank line after them), get 400. */
static void test_http_versions(void **state)
{
    fixture *f = *state;
    response *r = malloc(sizeof *r);
    static const struct {
        const char *raw;
        int status;
    } cases[] = {
        { "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 400 },
        { "GET /healthz HTTP/9.9\r\n\r\n", 400 },
        { "GET /healthz HTTP/0.9\r\n\r\n", 400 },
        { "GET /metrics\r\n\r\n", 400 },
        { "GET /healthz\r\n", 400 }, /* answered at once: no headers follow in 0.9 */
        { "GET /healthz HTTP/1.0\r\n\r\n", 200 },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200 },
        { "GET /healthz HTTP/1.2\r\n\r\n", 200 }, /* a later 1.x is read as 1.1 (RFC 9112 2.3) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request_raw(f->port, cases[i].raw, strlen(cases[i].raw), r);
        if (r->status != cases[i].status)
            fail_msg("'%s' answered %d, want %d", cases[i].raw, r->status, cases[i].status);
        if (cases[i].status == 400)
            assert_non_null(strstr(r->body, "HTTP version"));
    }
    free(r);
}

/* head, n bytes of 'a', tail into raw (cap bytes); returns the length. */
static size_t padded(char *raw, size_t cap, const char *head, size_t n, const char *tail)
{
    size_t len = (size_t)snprintf(raw, cap, "%s", head);
    memset(raw + len, 'a', n);
    len += n;
    return len + (size_t)snprintf(raw + len, cap - len, "%s", tail);
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

    /* One huge header line; a query (part of the head too); just under
     * the limit is fine. */
    request_raw(f->port, raw, padded(raw, cap, "GET /metrics HTTP/1.1\r\nX-Big: ", 16384, "\r\n\r\n"), r);
    assert_int_equal(r->status, 431);
    request_raw(f->port, raw, padded(raw, cap, "GET /metrics?", 16384, " HTTP/1.1\r\n\r\n"), r);
    assert_int_equal(r->status, 431);
    request_raw(f->port, raw, padded(raw, cap, "GET /metrics HTTP/1.1\r\nX-Big: ", 7000, "\r\n\r\n"), r);
    assert_int_equal(r->status, 200);
    free(raw);
    free(r);
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
        cmocka_unit_test_setup_teardown(test_http_versions, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_sees_stall, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup_fast, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
