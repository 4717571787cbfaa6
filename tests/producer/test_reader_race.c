/* No stale set. The delete/fill race, forced: a reader misses, takes the
 * lease and reads the old row; the writer commits and sends a delete job;
 * a real invq-worker applies it with a plain DEL; only then does the
 * loader go on to fill. The fill must be refused, the key stay absent, and
 * the next read load the new row. Also: a lease that expired and was taken
 * by another reader voids the first reader's fill; a failing loader gives
 * its lease up at once instead of leaving waiters to wait it out. */
#include <string.h>

#include "rtest.h"

static void test_delete_during_load(wt_pair *pr)
{
    rsrc db;
    rtest_bg bg;
    const char *key = "user:42";
    invq_reader *r = rtest_reader(rfix_url(pr->cache), NULL);
    wt_proc *w = wt_worker_start(rfix_url(pr->queue), rfix_url(pr->cache), pr->log, NULL);
    WT_CHECK(w != NULL, "worker did not start");

    rsrc_init(&db, "name=old");
    rsrc_arm_pause(&db);
    rtest_bg_start(&bg, r, key, NULL, &db);
    rsrc_wait_paused(&db); /* the loader has read "name=old" and holds the lease */
    size_t n;
    char *raw = rtest_raw_get(pr->cc, key, &n);
    WT_CHECK(raw && n > 6 && memcmp(raw, "\0invq:L1:", 9) == 0, "the key holds the reader's lease marker");
    free(raw);

    rsrc_set(&db, "name=new"); /* the writer commits ... */
    rtest_send(pr->queue, false, key); /* ... and hands invq the invalidation */
    WT_CHECK(wt_wait_gone(pr->cc, key, WT_DEADLINE_MS), "the worker never deleted %s", key);
    WT_CHECK(wt_wait_stat(pr->qc, "done", 1, WT_DEADLINE_MS), "job not done");

    rsrc_release(&db); /* the loader goes on: it tries to fill "name=old" */
    rtest_bg_join(&bg);
    WT_CHECK(bg.rc == 0 && strcmp(bg.val, "name=old") == 0, "the racing get answers what it read: rc %d",
             bg.rc);
    free(bg.val);
    invq_reader_stats st = rtest_stats(r);
    wt_note("after the race: fills=%llu fills_refused=%llu", (unsigned long long)st.fills,
            (unsigned long long)st.fills_refused);
    WT_CHECK(st.fills_refused == 1 && st.fills == 0, "the stale fill was refused");
    WT_CHECK(wt_exists(pr->cc, key) == 0, "the stale value was stored");

    char *v = rtest_get(r, key, NULL, &db, 0);
    WT_CHECK(strcmp(v, "name=new") == 0, "the next read loads the new row, got '%s'", v);
    free(v);
    raw = rtest_raw_get(pr->cc, key, NULL);
    WT_CHECK(raw && strcmp(raw, "name=new") == 0, "the cache holds the new row");
    free(raw);
    v = rtest_get(r, key, NULL, &db, 0);
    WT_CHECK(strcmp(v, "name=new") == 0 && rsrc_loads(&db) == 2, "then a hit");
    free(v);
    st = rtest_stats(r);
    WT_CHECK(st.fills == 1 && st.hits == 1 && st.misses == 2 && st.errors == 0, "counters");
    wt_worker_stop(w);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void short_lease(invq_reader_options *o)
{
    o->lease_ttl_ms = 300;
}

static void test_expired_lease(wt_pair *pr)
{
    rsrc slow, fast;
    rtest_bg bg;
    const char *key = "race:expired";
    invq_reader *a = rtest_reader(rfix_url(pr->cache), short_lease);
    invq_reader *b = rtest_reader(rfix_url(pr->cache), NULL);

    rsrc_init(&slow, "from-a");
    rsrc_init(&fast, "from-b");
    rsrc_arm_pause(&slow);
    rtest_bg_start(&bg, a, key, NULL, &slow);
    rsrc_wait_paused(&slow);
    WT_CHECK(wt_wait_gone(pr->cc, key, WT_DEADLINE_MS), "the 300 ms lease never expired");
    char *v = rtest_get(b, key, NULL, &fast, 0); /* b takes a new lease and fills */
    WT_CHECK(strcmp(v, "from-b") == 0, "b loads");
    free(v);
    rsrc_release(&slow);
    rtest_bg_join(&bg);
    WT_CHECK(bg.rc == 0 && strcmp(bg.val, "from-a") == 0, "a answers what it read");
    free(bg.val);
    WT_CHECK(rtest_stats(a).fills_refused == 1 && rtest_stats(b).fills == 1, "a's late fill refused");
    char *raw = rtest_raw_get(pr->cc, key, NULL);
    WT_CHECK(raw && strcmp(raw, "from-b") == 0, "b's value stays");
    free(raw);
    invq_reader_free(a);
    invq_reader_free(b);
    rsrc_deinit(&slow);
    rsrc_deinit(&fast);
}

static void test_loader_error(wt_pair *pr)
{
    rsrc db;
    const char *key = "race:failing";
    invq_reader *r = rtest_reader(rfix_url(pr->cache), NULL);
    rsrc_init(&db, "x");
    rsrc_set_fail(&db, -4242);
    char *v = rtest_get(r, key, NULL, &db, -4242); /* the loader's code, unchanged */
    free(v);
    WT_CHECK(wt_exists(pr->cc, key) == 0, "the lease was left behind after a failed load");
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.load_errors == 1 && st.loads == 1 && st.fills == 0 && st.errors == 0, "counters");
    rsrc_set_fail(&db, 0);
    v = rtest_get(r, key, NULL, &db, 0);
    WT_CHECK(strcmp(v, "x") == 0, "the next get loads");
    free(v);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

int main(void)
{
    wt_pair pr;
    wt_pair_start(&pr, NULL, NULL);
    test_delete_during_load(&pr);
    test_expired_lease(&pr);
    test_loader_error(&pr);
    wt_pair_stop(&pr);
    printf("reader_race: ok\n");
    return 0;
}
