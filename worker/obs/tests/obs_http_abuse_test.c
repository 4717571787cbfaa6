/* The HTTP listener under abusive clients, on its own loop in a thread with
 * real loopback clients: slow and dripping clients dropped at the request
 * deadline; a full listener pushing out the oldest idle connection, the
 * busiest peer's first; and the bounded slow-client test (80 slow clients
 * on 64 slots while /healthz, /readyz and the probe client are answered). */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_fixture.h"

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

/* Every slot taken by idle clients: a new client still gets its answer,
 * and the oldest idle client is the one pushed out. */
static void test_max_connections(void **state)
{
    fixture *f = *state;
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = client_connect(f->port);
    wait_connections(f, 4);

    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    assert_true(client_closed(fds[0], 5000));
    for (int i = 1; i < 4; i++)
        assert_false(client_closed(fds[i], 0));
    uint64_t ev = 0;
    on_loop(f, do_count_evictions, &ev);
    assert_int_equal(ev, 1);
    wait_connections(f, 3);

    close(fds[1]);
    wait_connections(f, 2);
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    on_loop(f, do_count_evictions, &ev);
    assert_int_equal(ev, 1); /* a free slot: nobody pushed out */
    free(r);
    close(fds[0]);
    for (int i = 2; i < 4; i++)
        close(fds[i]);
    wait_connections(f, 0);
}

/* The victim is taken from the peer address holding the most connections,
 * not simply the oldest: one client's flood costs that client its slots. */
static void test_eviction_prefers_busiest_peer(void **state)
{
    fixture *f = *state;
    const uint32_t a = INADDR_LOOPBACK, b = INADDR_LOOPBACK + 1;
    int older = slow_client_from(f->port, a);
    wait_connections(f, 1);
    int flood[3];
    for (int i = 0; i < 3; i++) {
        flood[i] = slow_client_from(f->port, b);
        wait_connections(f, (unsigned)i + 2);
    }
    response *r = malloc(sizeof *r);
    request(f->port, "GET", "/readyz", r); /* from a, as the older one */
    assert_int_equal(r->status, 503);
    assert_true(client_closed(flood[0], 5000));
    assert_false(client_closed(older, 0));
    assert_false(client_closed(flood[1], 0));
    assert_false(client_closed(flood[2], 0));
    free(r);
    close(older);
    for (int i = 0; i < 3; i++)
        close(flood[i]);
    wait_connections(f, 0);
}

/* The bounded slow-client test, with the default limits: 80 clients that
 * send half a request and then nothing, more than the 64 slots. /healthz,
 * /readyz and the probe client (http_probe, behind invq-worker --probe) are
 * all answered while every slot stays taken: each slot they use was freed
 * by pushing out a slow client, none by a request deadline; the oldest slow
 * clients got no answer, the newest still wait, and the server never holds
 * more than 64. */
#define SLOW_CLIENTS 80
static void test_probes_answered_while_saturated(void **state)
{
    fixture *f = *state;
    int slow[SLOW_CLIENTS];
    int64_t start = now_ms();
    for (int i = 0; i < SLOW_CLIENTS; i++)
        slow[i] = slow_client_from(f->port, INADDR_LOOPBACK);
    wait_connections(f, f->lim.max_connections);

    response *r = malloc(sizeof *r);
    char url[128];
    request(f->port, "GET", "/healthz", r);
    assert_int_equal(r->status, 200);
    request(f->port, "GET", "/readyz", r);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body, "queue and cache redis not connected\n");
    on_loop(f, do_set_up, &cache_up);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", f->port);
    assert_int_equal(http_probe(url, 2000), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", f->port);
    assert_int_equal(http_probe(url, 2000), 0);
    int64_t took = now_ms() - start;
    printf("# %d slow clients on %u slots: /healthz, /readyz and 2 probes answered after %lld ms\n",
           SLOW_CLIENTS, f->lim.max_connections, (long long)took);

    unsigned n = 0;
    on_loop(f, do_count_conns, &n);
    assert_true(n <= f->lim.max_connections);
    int pushed_out = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++)
        pushed_out += client_closed(slow[i], 0);
    /* One per surplus slow client, plus one for the first request above and
     * up to one for each later one (a slot may be free again by then, when
     * the server has already seen the previous client close). */
    int surplus = SLOW_CLIENTS - (int)f->lim.max_connections;
    assert_true(pushed_out >= surplus + 1 && pushed_out <= surplus + 4);
    /* Every slot was freed by pushing a slow client out, none by a request
     * deadline: the answers came while the listener stayed saturated. */
    uint64_t ev = 0;
    on_loop(f, do_count_evictions, &ev);
    assert_int_equal(ev, (uint64_t)pushed_out);
    for (int i = SLOW_CLIENTS - 8; i < SLOW_CLIENTS; i++)
        assert_false(client_closed(slow[i], 0)); /* the newest still wait */
    free(r);
    for (int i = 0; i < SLOW_CLIENTS; i++)
        close(slow[i]);
    wait_connections(f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dripping_client_dropped, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_eviction_prefers_busiest_peer, setup_fast, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_probes_answered_while_saturated, setup_default, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
