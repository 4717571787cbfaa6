/* The async producer on a libuv loop: 5,000 sends in flight while the
 * server restarts in the middle. Every send ends with a definite status,
 * every SENT job is in Redis, every SPOOLED one is replayed, and the loop is
 * empty after close. Run with a spool and with the in-memory queue. A send
 * on an otherwise idle loop is written in the same loop turn. */
#include <string.h>

#include <uv.h>

#include <invq/invq.h>

#include "ptest.h"

enum { TOTAL = 5000, PER_TICK = 250 };

typedef struct run {
    rfix *f;
    uv_loop_t loop;
    uv_timer_t tick;
    invq_async *a;
    char (*ids)[27];
    int *status; /* 99 until the callback ran */
    int sent_so_far;
    int done;
    int ticks;
    bool stopped;
    bool restarted;
    bool closed;
    bool spool;
    int probe; /* status of a first job sent before the bursts */
} run;

static void on_sent(invq_async *a, int status, void *data)
{
    int *slot = data;
    CHECK(*slot == 99); /* exactly once */
    *slot = status;
}

static int count_done(const run *r)
{
    int n = 0;
    for (int i = 0; i < r->sent_so_far; i++)
        n += r->status[i] != 99;
    return n;
}

static void on_closed(invq_async *a, void *data)
{
    run *r = data;
    r->closed = true;
}

static void on_tick(uv_timer_t *t)
{
    run *r = t->data;
    invq_spool_stats st;
    r->ticks++;
    CHECK(r->ticks < 4000); /* bounded: about 20 s */
    if (r->probe == 99)
        return; /* first job not confirmed yet: not connected */
    CHECK(r->probe == INVQ_SENT);

    for (int k = 0; k < PER_TICK && r->sent_so_far < TOTAL; k++) {
        int i = r->sent_so_far;
        char key[32];
        snprintf(key, sizeof(key), "async:%d", i);
        const void *keys[] = { key };
        invq_job *j = invq_job_new();
        CHECK(j && invq_job_del(j, keys, NULL, 1) == 0);
        memcpy(r->ids[i], invq_job_id(j), 27);
        r->status[i] = 99;
        CHECK_RC(invq_async_send(r->a, j, on_sent, &r->status[i]), 0);
        invq_job_free(j); /* copied at send time */
        r->sent_so_far++;
    }
    if (!r->stopped && r->sent_so_far >= TOTAL / 2) {
        CHECK(rfix_stop(r->f) == 0); /* jobs are in flight right now */
        r->stopped = true;
        return;
    }
    if (r->stopped && !r->restarted && r->sent_so_far >= TOTAL * 3 / 4) {
        CHECK(rfix_restart(r->f) == 0);
        r->restarted = true;
    }
    if (r->sent_so_far < TOTAL || count_done(r) < TOTAL)
        return;
    invq_async_spool_stats(r->a, &st);
    if (st.pending_jobs > 0)
        return; /* wait for the replay */
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    invq_async_close(r->a, on_closed, r);
}

static void run_once(bool with_spool)
{
    const char *conf[] = { "appendonly yes", "appendfsync always", NULL };
    rfix_opts fo = { .conf_lines = conf };
    run r = { .spool = with_spool };
    invq_options o;
    char err[256], *dir = NULL;

    r.f = ptest_server(&fo);
    r.ids = calloc(TOTAL, sizeof(*r.ids));
    r.status = calloc(TOTAL, sizeof(*r.status));
    CHECK(r.ids && r.status);
    CHECK(uv_loop_init(&r.loop) == 0);

    invq_options_init(&o);
    o.url = rfix_url(r.f);
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    o.connect_timeout_ms = 1000;
    o.command_timeout_ms = 3000;
    o.async_queue_max = TOTAL;
    if (with_spool) {
        dir = make_temp_dir();
        o.spool_dir = dir;
        o.spool_fsync = INVQ_FSYNC_NEVER; /* keep the test fast; the sync test covers fsync */
    }
    CHECK_RC(invq_async_new(&r.loop, &o, &r.a, err, sizeof(err)), 0);
    invq_job *first = invq_job_new();
    const void *fk[] = { "probe" };
    CHECK(first && invq_job_del(first, fk, NULL, 1) == 0);
    r.probe = 99;
    CHECK_RC(invq_async_send(r.a, first, on_sent, &r.probe), 0);
    invq_job_free(first);
    uv_timer_init(&r.loop, &r.tick);
    r.tick.data = &r;
    uv_timer_start(&r.tick, on_tick, 1, 5);

    CHECK(uv_run(&r.loop, UV_RUN_DEFAULT) == 0);
    CHECK(r.closed);
    CHECK(uv_loop_close(&r.loop) == 0); /* nothing of the producer is left */

    int sent = 0, spooled = 0, failed = 0;
    for (int i = 0; i < TOTAL; i++) {
        CHECK(r.status[i] != 99);
        if (r.status[i] == INVQ_SENT)
            sent++;
        else if (r.status[i] == INVQ_SPOOLED)
            spooled++;
        else {
            CHECK(r.status[i] == INVQ_EIO || r.status[i] == INVQ_ECLOSED || r.status[i] == INVQ_ETIMEOUT);
            failed++;
        }
    }
    if (with_spool)
        CHECK(failed == 0);

    /* Every SENT or SPOOLED job is in Redis; duplicates only from jobs in
     * flight when the server went away (at least once). */
    job_list l = read_queue(r.f, "invq:{default}:pending");
    char *found = calloc(TOTAL, 1);
    CHECK(found);
    size_t extra = 0;
    for (size_t i = 0; i < l.n; i++) {
        int hit = -1;
        if (l.jobs[i]->ops[0].keys[0].len == 5 && memcmp(l.jobs[i]->ops[0].keys[0].data, "probe", 5) == 0)
            continue;
        /* ids are unique; index lookup by linear scan near the expected spot */
        for (int k = 0; k < TOTAL && hit < 0; k++)
            if (strcmp(r.ids[k], l.jobs[i]->id) == 0)
                hit = k;
        CHECK(hit >= 0);
        if (found[hit])
            extra++;
        found[hit] = 1;
    }
    int missing = 0;
    for (int i = 0; i < TOTAL; i++)
        if ((r.status[i] == INVQ_SENT || r.status[i] == INVQ_SPOOLED) && !found[i])
            missing++;
    printf("%s: sent %d, spooled %d, failed %d, in redis %zu (duplicates %zu), missing %d\n",
           with_spool ? "spool" : "memory", sent, spooled, failed, l.n, extra, missing);
    CHECK(missing == 0);
    CHECK(sent > 0);
    if (with_spool)
        CHECK(spooled > 0);
    job_list_free(&l);
    free(found);
    free(r.ids);
    free(r.status);
    if (dir) {
        remove_dir(dir);
        free(dir);
    }
    rfix_free(r.f);
}

/* Closing while Redis is unreachable: waiting jobs end as ECLOSED (no
 * spool); the loop is empty afterwards. */
static void close_while_down(void)
{
    uv_loop_t loop;
    invq_async *a;
    invq_options o;
    char err[256];
    int st1 = 99, st2 = 99;
    invq_job *j = invq_job_new();
    const void *keys[] = { "k" };

    CHECK(j && invq_job_del(j, keys, NULL, 1) == 0);
    CHECK(uv_loop_init(&loop) == 0);
    invq_options_init(&o);
    o.url = "unix:///nonexistent/invq-test.sock";
    o.async_queue_max = 1;
    CHECK_RC(invq_async_new(&loop, &o, &a, err, sizeof(err)), 0);
    /* a key of the queue itself is refused at once; its callback never runs */
    invq_job *bad = invq_job_new();
    const void *queue_key[] = { "invq:{default}:delayed" };
    CHECK(bad && invq_job_del(bad, queue_key, NULL, 1) == 0);
    CHECK_RC(invq_async_send(a, bad, on_sent, &st2), INVQ_EJOB);
    CHECK(strstr(invq_async_errstr(a), "key_not_allowed: del invq:{default}:delayed: reserved for the queue"));
    invq_job_free(bad);
    CHECK_RC(invq_async_send(a, j, on_sent, &st1), 0);
    CHECK_RC(invq_async_send(a, j, on_sent, &st2), INVQ_EQUEUEFULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    invq_async_close(a, NULL, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(st1 == INVQ_ECLOSED && st2 == 99);
    CHECK(uv_loop_close(&loop) == 0);
    invq_job_free(j);
}

/* A send on a loop with nothing else to do goes out in the same loop turn:
 * it must not wait in the loop's poll (for the command timeout) before its
 * bytes are written. Each UV_RUN_ONCE blocks until something happens, so
 * the reply must arrive within a few of them. */
static void send_on_idle_loop(void)
{
    rfix *f = ptest_server(NULL);
    uv_loop_t loop;
    invq_async *a;
    invq_options o;
    char err[256];
    int st[2] = { 99, 99 }, turns[2] = { 0, 0 };
    const void *keys[] = { "k" };
    invq_job *j = invq_job_new();

    CHECK(j && invq_job_del(j, keys, NULL, 1) == 0);
    CHECK(uv_loop_init(&loop) == 0);
    invq_options_init(&o);
    o.url = rfix_url(f);
    o.command_timeout_ms = 20000; /* a job stuck until the timeout fails the test */
    CHECK_RC(invq_async_new(&loop, &o, &a, err, sizeof(err)), 0);
    /* the first send waits for the connect, the second finds it made */
    for (int i = 0; i < 2; i++) {
        CHECK_RC(invq_async_send(a, j, on_sent, &st[i]), 0);
        while (st[i] == 99 && turns[i] < 10) {
            uv_run(&loop, UV_RUN_ONCE);
            turns[i]++;
        }
        printf("# idle loop: send %d answered after %d loop turns, status %d\n", i + 1, turns[i], st[i]);
        CHECK(st[i] == INVQ_SENT);
    }
    invq_async_close(a, NULL, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
    invq_job_free(j);
    rfix_free(f);
}

int main(void)
{
    rfix_free(ptest_server(NULL)); /* skips the test when there is no redis-server */
    send_on_idle_loop();
    close_while_down();
    run_once(true);
    run_once(false);
    printf("async ok\n");
    return 0;
}
