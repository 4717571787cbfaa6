/* The cache Redis unreachable: every get is answered by the loader and the
 * failure is counted, never returned; after a failed connection the reader
 * skips the cache for down_retry_ms instead of paying a connect per get; a
 * server that stops answering (SIGSTOP) costs one command timeout, not a
 * hang; a server stopped and started again is used again by itself; pooled
 * connections that died with a restart are replaced without an error. */
#include <string.h>

#include "rtest.h"

static char absent_url[300];

static void nowhere(invq_reader_options *o)
{
    o->url = absent_url;
}

static void nowhere_no_window(invq_reader_options *o)
{
    o->url = absent_url;
    o->down_retry_ms = 0;
}

static void test_no_server(const rfix *f)
{
    rsrc db;
    char err[512];
    snprintf(absent_url, sizeof(absent_url), "unix://%s/no-such-redis.sock", rfix_dir(f));
    rsrc_init(&db, "from-db");

    invq_reader *r = rtest_reader(NULL, nowhere); /* invq_reader_new never connects */
    char *v = rtest_get(r, "k", NULL, &db, 0);
    WT_CHECK(strcmp(v, "from-db") == 0, "the loader answered");
    free(v);
    invq_reader_stats st = rtest_stats(r);
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("no server: %s", err);
    WT_CHECK(st.errors == 1 && st.fallbacks == 1 && st.loads == 1 && st.hits + st.misses == 0, "counted");
    WT_CHECK(strstr(err, "connect") && strstr(err, "no-such-redis.sock"), "errstr names the address");
    /* within down_retry_ms (1 s) the cache is not tried again */
    free(rtest_get(r, "k", NULL, &db, 0));
    free(rtest_get(r, "k", NULL, &db, 0));
    st = rtest_stats(r);
    WT_CHECK(st.errors == 1 && st.fallbacks == 3 && rsrc_loads(&db) == 3, "skipped while down");
    /* a missing row is still a missing row */
    rsrc_set_missing(&db, true);
    free(rtest_get(r, "k", NULL, &db, INVQ_NOTFOUND));
    invq_reader_free(r);

    /* down_retry_ms 0: every get tries (and fails) again */
    rsrc_set_missing(&db, false);
    r = rtest_reader(NULL, nowhere_no_window);
    for (int i = 0; i < 3; i++)
        free(rtest_get(r, "k", NULL, &db, 0));
    st = rtest_stats(r);
    WT_CHECK(st.errors == 3 && st.fallbacks == 3, "tried every time");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void quick(invq_reader_options *o)
{
    o->command_timeout_ms = 200;
    o->down_retry_ms = 50;
}

static void paused_settings(invq_reader_options *o)
{
    o->command_timeout_ms = 200;
    o->down_retry_ms = 600000;
}

typedef struct cache_back {
    invq_reader *r;
    rsrc *db;
} cache_back;

/* One get; true once it was answered by the cache again (a fill or a hit). */
static bool answered_by_cache(void *ctx)
{
    cache_back *b = ctx;
    invq_reader_stats before = rtest_stats(b->r);
    free(rtest_get(b->r, "back:k", NULL, b->db, 0));
    invq_reader_stats after = rtest_stats(b->r);
    return after.fills > before.fills || after.hits > before.hits;
}

static void test_stop_pause_restart(rfix *f, redisContext **c)
{
    rsrc db;
    rsrc_init(&db, "v");
    invq_reader *r = rtest_reader(rfix_url(f), quick);
    free(rtest_get(r, "back:k", NULL, &db, 0)); /* connected, filled */
    WT_CHECK(rtest_stats(r).fills == 1, "filled");

    /* the server goes away: the pooled connection is dead and no new one can be made */
    redisFree(*c);
    WT_CHECK(rfix_stop(f) == 0, "stop");
    free(rtest_get(r, "back:k", NULL, &db, 0));
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.errors == 1 && st.fallbacks == 1 && rsrc_loads(&db) == 2, "loader answered while stopped");

    /* it comes back (empty: no persistence): used again by itself */
    WT_CHECK(rfix_restart(f) == 0, "restart");
    *c = wt_connect(f);
    cache_back b = { r, &db };
    WT_CHECK(wt_wait_for(answered_by_cache, &b, WT_DEADLINE_MS), "the cache was never used again");
    free(rtest_get(r, "back:k", NULL, &db, 0));
    WT_CHECK(rtest_stats(r).hits >= 1, "hit after the restart");

    invq_reader_free(r);

    /* SIGSTOP: the connection is open, nothing is answered. One command
     * timeout, then the down window: the next get goes straight to the
     * loader, without waiting out another timeout. */
    r = rtest_reader(rfix_url(f), paused_settings);
    free(rtest_get(r, "back:k", NULL, &db, 0)); /* connected */
    st = rtest_stats(r);
    int loads = rsrc_loads(&db);
    WT_CHECK(rfix_pause(f) == 0, "pause");
    uint64_t t0 = wt_mono_ms();
    char *v = rtest_get(r, "back:k", NULL, &db, 0);
    uint64_t took = wt_mono_ms() - t0;
    free(rtest_get(r, "back:k", NULL, &db, 0));
    WT_CHECK(rfix_resume(f) == 0, "resume");
    char err[512];
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("paused server: answered by the loader after %llu ms (command_timeout_ms 200): %s",
            (unsigned long long)took, err);
    WT_CHECK(strcmp(v, "v") == 0 && rsrc_loads(&db) == loads + 2, "the loader answered both");
    free(v);
    invq_reader_stats st2 = rtest_stats(r);
    WT_CHECK(st2.errors == st.errors + 1 && st2.fallbacks == st.fallbacks + 2, "one error, two fallbacks");
    WT_CHECK(strstr(err, "timed out") != NULL, "errstr says it timed out");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void test_restart_between_gets(rfix *f, redisContext **c)
{
    rsrc db;
    rsrc_init(&db, "w");
    invq_reader *r = rtest_reader(rfix_url(f), NULL);
    free(rtest_get(r, "restart:k", NULL, &db, 0));
    redisFree(*c);
    WT_CHECK(rfix_restart(f) == 0, "restart");
    *c = wt_connect(f);
    /* the pooled connection died with the old server; the get reconnects
     * once, transparently: a miss and a fill, no error */
    free(rtest_get(r, "restart:k", NULL, &db, 0));
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.errors == 0 && st.fallbacks == 0 && st.fills == 2 && st.misses == 2, "reconnected");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

int main(void)
{
    rfix *f = wt_server(NULL);
    redisContext *c = wt_connect(f);
    test_no_server(f);
    test_stop_pause_restart(f, &c);
    test_restart_between_gets(f, &c);
    redisFree(c);
    wt_server_free(f);
    printf("reader_outage: ok\n");
    return 0;
}
