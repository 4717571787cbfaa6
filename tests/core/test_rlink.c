/* rlink, the one reconnect mechanism: a permanent error right after every
 * connect (NOAUTH: the URL has no password, the server wants one) backs off
 * like any failure — the failure count keeps growing across connects and
 * the delay with it, up to the cap — and the event says it is the same
 * error again (so it is logged once, not per retry); the current error is
 * readable; a refused connect is named as such; a connection that stays up
 * for stable_ms starts the count again; close leaves the loop empty. */
#include <string.h>

#include <uv.h>

#include "backoff.h"
#include "error.h"
#include "ptest.h"
#include "redis_url.h"
#include "rlink.h"

typedef struct ctx {
    int ups;
    int resets;
    int failures_seen[16];
    uint64_t retry_seen[16];
    bool repeated_seen[16];
    int nfail;
    int stable;
    int closed;
    char first_error[512];
    char last_error[512];
} ctx;

static void on_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    rlink *l = data;
    if (status == 0 && reply && reply->type == REDIS_REPLY_ERROR)
        rlink_reset(l, reply->str); /* the owner's reaction to a permanent error */
}

static void on_state(rlink *l, bool up, void *data)
{
    ctx *c = data;
    if (!up)
        return;
    c->ups++;
    const char *ping[] = { "PING" };
    CHECK_RC(rlink_command(l, 1, ping, NULL, on_reply, l), 0);
}

static void on_event(rlink *l, const rlink_event *ev, void *data)
{
    ctx *c = data;
    if (ev->kind == RLINK_EV_STABLE) {
        c->stable++;
        return;
    }
    if (ev->kind == RLINK_EV_UP)
        return;
    if (c->nfail < 16) {
        c->failures_seen[c->nfail] = (int)ev->failures;
        c->retry_seen[c->nfail] = ev->retry_ms;
        c->repeated_seen[c->nfail] = ev->repeated;
    }
    if (c->nfail == 0)
        snprintf(c->first_error, sizeof c->first_error, "%s", ev->error);
    snprintf(c->last_error, sizeof c->last_error, "%s", ev->error);
    c->nfail++;
    if (ev->kind == RLINK_EV_RESET)
        c->resets++;
}

static void on_closed(rlink *l, void *data)
{
    ((ctx *)data)->closed = 1;
}

int main(void)
{
    uv_loop_t loop;
    rfix_opts fo = { .requirepass = "s3cret" };
    rfix *f = ptest_server(&fo);
    CHECK(uv_loop_init(&loop) == 0);

    /* NOAUTH after every connect: the backoff grows as for any failure. */
    redis_url u;
    char err[256];
    CHECK(redis_url_parse(rfix_url(f), &u, err, sizeof err) == 0);
    ctx c = { 0 };
    rlink l;
    rlink_opts o = { .target = "queue", .url = &u, .url_text = "test", .connect_timeout_ms = 2000,
                     .command_timeout_ms = 2000, .backoff_base_ms = 2, .backoff_max_ms = 64, .stable_ms = 60000,
                     .on_state = on_state, .on_event = on_event, .data = &c };
    CHECK_RC(rlink_init(&l, &loop, &o), 0);
    rlink_start(&l);
    for (int i = 0; i < 1000000 && c.nfail < 9; i++)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(c.nfail >= 9 && c.ups >= 9 && c.resets >= 9);
    printf("# NOAUTH after connect: %s\n", c.first_error);
    CHECK(strstr(c.first_error, "NOAUTH") != NULL);
    for (int i = 0; i < 9; i++) {
        printf("#   failure %d: count %d, retry in %llu ms%s\n", i, c.failures_seen[i],
               (unsigned long long)c.retry_seen[i], c.repeated_seen[i] ? " (same error)" : "");
        CHECK(c.failures_seen[i] == i + 1); /* never reset by the connects in between */
        uint64_t cap = backoff_cap(2, 64, (uint64_t)i + 1);
        CHECK(c.retry_seen[i] >= cap / 2 && c.retry_seen[i] <= cap);
        CHECK(c.repeated_seen[i] == (i > 0));
    }
    CHECK(c.retry_seen[8] >= 32); /* at the cap: 32..64 ms, not 1..2 */
    CHECK(l.up || strstr(rlink_error(&l), "NOAUTH"));
    rlink_close(&l, on_closed, &c);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && c.closed);
    redis_url_deinit(&u);

    /* With the password: up, and stable after stable_ms. */
    char url[512];
    snprintf(url, sizeof url, "%s?password=s3cret", rfix_url(f));
    CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
    memset(&c, 0, sizeof c);
    o.url = &u;
    o.stable_ms = 20;
    CHECK_RC(rlink_init(&l, &loop, &o), 0);
    rlink_start(&l);
    for (int i = 0; i < 1000000 && c.stable == 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(c.ups == 1 && c.nfail == 0 && c.stable == 1 && l.failures == 0 && rlink_error(&l)[0] == '\0');
    rlink_close(&l, on_closed, &c);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && c.closed);
    redis_url_deinit(&u);

    /* The server gone: the error says what happened, the count grows. */
    snprintf(url, sizeof url, "unix://%s/none.sock", rfix_dir(f));
    CHECK(redis_url_parse(url, &u, err, sizeof err) == 0);
    memset(&c, 0, sizeof c);
    o.url = &u;
    CHECK_RC(rlink_init(&l, &loop, &o), 0);
    rlink_start(&l);
    for (int i = 0; i < 1000000 && c.nfail < 3; i++)
        uv_run(&loop, UV_RUN_ONCE);
    printf("# no server: %s\n", rlink_error(&l));
    CHECK(c.failures_seen[2] == 3 && strstr(rlink_error(&l), "none.sock") && rlink_status(&l) == INVQ_ECONNECT);
    rlink_close(&l, on_closed, &c);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && c.closed);
    redis_url_deinit(&u);

    CHECK(uv_loop_close(&loop) == 0);
    rfix_free(f);
    printf("rlink ok\n");
    return 0;
}
