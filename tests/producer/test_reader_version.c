/* Versioned keys: a family with a version key keeps its data under
 * "<key>:v<N>", N the version key's value (absent: 0). A bump job applied by
 * a real invq-worker (INCR, nothing deleted) makes the next read miss on the
 * new data key and load the new row, while the old version's key stays
 * behind only until its TTL. A version key holding something that is not an
 * integer is a cache error the loader answers. */
#include <string.h>

#include "rtest.h"

typedef struct vwait {
    redisContext *c;
    const char *key;
    long long want;
} vwait;

static bool version_is(void *ctx)
{
    vwait *w = ctx;
    return wt_get_int(w->c, w->key) == w->want;
}

static void ttl_5m(invq_reader_options *o)
{
    o->ttl_ms = 300000;
}

static void test_bump(wt_pair *pr)
{
    rsrc db;
    invq_read_opts ro;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), ttl_5m);
    wt_proc *w = wt_worker_start(rfix_url(pr->queue), rfix_url(pr->cache), pr->log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    rsrc_init(&db, "name=ada");
    invq_read_opts_init(&ro);
    ro.version_key = "ver:user:42";

    char *v = rtest_get(r, "user:42", &ro, &db, 0); /* no version yet: v0 */
    WT_CHECK(strcmp(v, "name=ada") == 0, "loaded");
    free(v);
    char *raw = rtest_raw_get(pr->cc, "user:42:v0", NULL);
    WT_CHECK(raw && strcmp(raw, "name=ada") == 0, "stored under user:42:v0");
    free(raw);
    WT_CHECK(wt_exists(pr->cc, "user:42") == 0 && wt_exists(pr->cc, "ver:user:42") == 0,
             "the reader writes neither the plain key nor the version key");
    v = rtest_get(r, "user:42", &ro, &db, 0);
    WT_CHECK(strcmp(v, "name=ada") == 0 && rsrc_loads(&db) == 1, "hit");
    free(v);

    rsrc_set(&db, "name=grace");    /* the write */
    rtest_send(pr->queue, true, "ver:user:42"); /* the invalidation: bump, not delete */
    vwait vw = { pr->cc, "ver:user:42", 1 };
    WT_CHECK(wt_wait_for(version_is, &vw, WT_DEADLINE_MS), "the worker never bumped ver:user:42");

    v = rtest_get(r, "user:42", &ro, &db, 0);
    WT_CHECK(strcmp(v, "name=grace") == 0, "after the bump the new row is read, got '%s'", v);
    free(v);
    raw = rtest_raw_get(pr->cc, "user:42:v1", NULL);
    WT_CHECK(raw && strcmp(raw, "name=grace") == 0, "stored under user:42:v1");
    free(raw);
    long long old_ttl = wt_pttl(pr->cc, "user:42:v0");
    wt_note("old version user:42:v0 ages out in %lld ms", old_ttl);
    WT_CHECK(old_ttl > 0 && old_ttl <= 300000, "the old version keeps its TTL");
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.loads == 2 && st.hits == 1 && st.misses == 2 && st.fills == 2 && st.errors == 0, "counters");

    /* a second bump, from 1 to 2 */
    rsrc_set(&db, "name=hopper");
    rtest_send(pr->queue, true, "ver:user:42");
    vw.want = 2;
    WT_CHECK(wt_wait_for(version_is, &vw, WT_DEADLINE_MS), "second bump");
    v = rtest_get(r, "user:42", &ro, &db, 0);
    WT_CHECK(strcmp(v, "name=hopper") == 0 && wt_exists(pr->cc, "user:42:v2") == 1, "v2");
    free(v);
    wt_worker_stop(w);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void test_bad_version(wt_pair *pr)
{
    rsrc db;
    invq_read_opts ro;
    char err[256];
    invq_reader *r = rtest_reader(rfix_url(pr->cache), NULL);
    rsrc_init(&db, "answer");
    invq_read_opts_init(&ro);
    ro.version_key = "ver:bad";
    wt_cmd(pr->cc, "SET ver:bad not-a-number");
    char *v = rtest_get(r, "bad", &ro, &db, 0);
    WT_CHECK(strcmp(v, "answer") == 0, "the loader answered");
    free(v);
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("bad version key: %s", err);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.errors == 1 && st.fallbacks == 1 && st.fills == 0 && strstr(err, "ver:bad"), "counted");
    WT_CHECK(wt_count_keys(pr->cc, "bad*") == 0, "nothing stored");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

int main(void)
{
    wt_pair pr;
    wt_pair_start(&pr, NULL, NULL);
    test_bump(&pr);
    test_bad_version(&pr);
    wt_pair_stop(&pr);
    printf("reader_version: ok\n");
    return 0;
}
