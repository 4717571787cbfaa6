/* The reader with a families file, against a real redis-server and a real
 * invq-worker: fills get the TTL of the key's class, spread within its
 * jitter, whatever the reader's own defaults say; the class's negative_ttl
 * turns negative caching on (and its absence off); the class's lease_ttl is
 * the lease marker's lifetime; a versioned family reads through its version
 * key without the caller naming it, and a bump applied by the worker moves
 * reads to the new data key; a key no family claims (and a version or data
 * key given as the key, or a key outside the family the call names) is
 * refused with INVQ_EFAMILY: nothing is sent and the loader is not called. */
#include <stdio.h>
#include <string.h>

#include "rtest.h"

static const char *families_path; /* tests/producer/reader_families.ini */

/* The reader's own defaults differ from every class field, so a value that
 * came from the reader instead of the class shows. */
static void with_families(invq_reader_options *o)
{
    o->ttl_ms = 600000;
    o->jitter_pct = 0;
    o->negative_ttl_ms = 60000;
    o->lease_ttl_ms = 50000;
    o->families = families_path;
}

static void test_class_ttl(wt_pair *pr)
{
    rsrc db;
    char key[32];
    long long lo = 1LL << 62, hi = 0;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), with_families);
    rsrc_init(&db, "9.99");
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "price:sku-%d", i);
        free(rtest_get(r, key, NULL, &db, 0));
        long long t = wt_pttl(pr->cc, key);
        WT_CHECK(t > 0 && t <= 30000, "%s: PTTL %lld not within the class's ttl 30s", key, t);
        /* jitter 20 %: at least 24 s at the fill, minus the time since (generous under valgrind) */
        WT_CHECK(t >= 24000 - 5000, "%s: PTTL %lld below ttl × (1 − 20 %%)", key, t);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    wt_note("40 fills of class fast (ttl 30s, jitter 20%%): PTTL %lld .. %lld ms", lo, hi);
    WT_CHECK(hi - lo >= 1000, "TTLs are not spread by the class's jitter (%lld .. %lld)", lo, hi);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.loads == 40 && st.fills == 40, "40 loads, 40 fills");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void test_negative(wt_pair *pr)
{
    rsrc db;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), with_families);
    rsrc_init(&db, "unused");
    rsrc_set_missing(&db, true);

    /* class fast: negative_ttl 5s, jitter 20 % */
    free(rtest_get(r, "price:gone", NULL, &db, INVQ_NOTFOUND));
    long long t = wt_pttl(pr->cc, "price:gone");
    wt_note("negative entry of class fast: PTTL %lld ms", t);
    WT_CHECK(t > 0 && t <= 5000 && t >= 4000 - 3000, "negative entry PTTL %lld not from negative_ttl 5s", t);
    free(rtest_get(r, "price:gone", NULL, &db, INVQ_NOTFOUND));
    WT_CHECK(rsrc_loads(&db) == 1 && rtest_stats(r).negative_hits == 1, "the second get is a negative hit");

    /* class plain has no negative_ttl: nothing is remembered, though the reader's default says 60 s */
    free(rtest_get(r, "user:404", NULL, &db, INVQ_NOTFOUND));
    WT_CHECK(wt_exists(pr->cc, "user:404:v0") == 0, "no negative entry without the class's negative_ttl");
    free(rtest_get(r, "user:404", NULL, &db, INVQ_NOTFOUND));
    WT_CHECK(rsrc_loads(&db) == 3, "loaded again");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void test_lease_ttl(wt_pair *pr)
{
    rsrc db;
    rtest_bg bg;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), with_families);
    rsrc_init(&db, "1.00");
    rsrc_arm_pause(&db);
    rtest_bg_start(&bg, r, "price:lease", NULL, &db);
    rsrc_wait_paused(&db); /* the lease is taken, the loader runs */
    long long t = wt_pttl(pr->cc, "price:lease");
    wt_note("lease marker of class fast: PTTL %lld ms", t);
    WT_CHECK(t > 0 && t <= 20000 && t > 20000 - 10000, "lease PTTL %lld not from the class's lease_ttl 20s", t);
    rsrc_release(&db);
    rtest_bg_join(&bg);
    WT_CHECK(bg.rc == 0 && strcmp(bg.val, "1.00") == 0, "filled");
    free(bg.val);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

typedef struct vwait {
    redisContext *c;
    long long want;
} vwait;

static bool bumped(void *ctx)
{
    vwait *w = ctx;
    return wt_get_int(w->c, "ver:user:42") == w->want;
}

static void test_versioned(wt_pair *pr)
{
    rsrc db;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), with_families);
    wt_proc *w = wt_worker_start(rfix_url(pr->queue), rfix_url(pr->cache), pr->log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    rsrc_init(&db, "name=ada");

    /* no version key in the call: the family's, built from the key */
    char *v = rtest_get(r, "user:42", NULL, &db, 0);
    WT_CHECK(strcmp(v, "name=ada") == 0, "loaded");
    free(v);
    long long t = wt_pttl(pr->cc, "user:42:v0");
    WT_CHECK(t > 0 && t <= 90000 && t > 90000 - 10000, "user:42:v0 PTTL %lld: class plain's 90s, no jitter", t);
    WT_CHECK(wt_exists(pr->cc, "user:42") == 0, "nothing under the logical key");

    rsrc_set(&db, "name=grace");
    rtest_send(pr->queue, true, "ver:user:42");
    vwait vw = { pr->cc, 1 };
    WT_CHECK(wt_wait_for(bumped, &vw, WT_DEADLINE_MS), "the worker never bumped ver:user:42");
    v = rtest_get(r, "user:42", NULL, &db, 0);
    WT_CHECK(strcmp(v, "name=grace") == 0, "after the bump the new row is read, got '%s'", v);
    free(v);
    char *raw = rtest_raw_get(pr->cc, "user:42:v1", NULL);
    WT_CHECK(raw && strcmp(raw, "name=grace") == 0, "stored under user:42:v1");
    free(raw);
    v = rtest_get(r, "user:42", NULL, &db, 0);
    WT_CHECK(strcmp(v, "name=grace") == 0 && rsrc_loads(&db) == 2, "a hit on v1");
    free(v);
    wt_worker_stop(w);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void refused(invq_reader *r, const char *key, const invq_read_opts *ro, rsrc *db, const char *needle)
{
    char err[512];
    free(rtest_get(r, key, ro, db, INVQ_EFAMILY));
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("%s: %s", key, err);
    WT_CHECK(strstr(err, needle) != NULL, "the message says '%s': %s", needle, err);
}

static void test_refused(wt_pair *pr)
{
    rsrc db;
    invq_read_opts ro;
    invq_reader *r = rtest_reader(rfix_url(pr->cache), with_families);
    rsrc_init(&db, "never");
    wt_cmd(pr->cc, "FLUSHALL");
    wt_cmd(pr->cc, "CONFIG RESETSTAT");

    refused(r, "session:1", NULL, &db, "belongs to no family of");
    invq_read_opts_init(&ro);
    ro.ttl_ms = 1000; /* a TTL of the call's own does not make it cacheable */
    refused(r, "session:1", &ro, &db, "belongs to no family of");
    refused(r, "ver:user:42", NULL, &db, "is the version key of family 'user'");
    refused(r, "user:42:v7", NULL, &db, "data key of versioned family 'user'");
    ro.family = "price";
    refused(r, "user:42", &ro, &db, "belongs to family 'user', not to family 'price'");

    WT_CHECK(rsrc_loads(&db) == 0, "the loader was never called");
    WT_CHECK(wt_dbsize(pr->cc) == 0, "nothing stored");
    redisReply *info = redisCommand(pr->cc, "INFO commandstats");
    WT_CHECK(info && info->type == REDIS_REPLY_STRING, "INFO");
    WT_CHECK(!strstr(info->str, "cmdstat_get:") && !strstr(info->str, "cmdstat_eval"), "no command reached Redis");
    freeReplyObject(info);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.hits + st.misses + st.loads + st.errors + st.fallbacks == 0, "counters untouched");

    /* the family the call names, when right, is just a check */
    ro.family = "price";
    free(rtest_get(r, "price:ok", &ro, &db, 0));
    WT_CHECK(rsrc_loads(&db) == 1, "loaded");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

int main(int argc, char **argv)
{
    wt_pair pr;
    if (argc != 2) {
        fprintf(stderr, "usage: test_reader_families FAMILIES.INI\n");
        return 64;
    }
    families_path = argv[1];
    wt_pair_start(&pr, NULL, NULL);
    test_class_ttl(&pr);
    test_negative(&pr);
    test_lease_ttl(&pr);
    test_versioned(&pr);
    test_refused(&pr);
    wt_pair_stop(&pr);
    printf("reader_families: ok\n");
    return 0;
}
