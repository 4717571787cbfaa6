/* The reader's cache policy against a real redis-server: waiting readers
 * time out as configured (load, or fail without loading) and never
 * overwrite another reader's lease; a waiter takes over a lease that goes
 * away and picks up a value another reader (here: the fill script run by
 * hand) stored; TTLs fall inside the class's range, with and without
 * jitter, per reader and per get; negative caching on and off; data that
 * looks like a marker is stored escaped; unknown markers are never
 * overwritten; binary keys and values; a key of the wrong type is an error
 * the loader answers; the ACL of lease-v1.md §9 is enough (and without
 * +script|load the reader falls back to EVAL by itself). */
#include <string.h>

#include "lease.h"
#include "lease_scripts.h"
#include "rtest.h"

static void set_foreign_lease(redisContext *c, const char *key, const char *marker, size_t mlen)
{
    redisReply *r = redisCommand(c, "SET %s %b PX 60000", key, marker, mlen);
    WT_CHECK(r && r->type == REDIS_REPLY_STATUS, "SET lease");
    freeReplyObject(r);
}

static void wait_100(invq_reader_options *o)
{
    o->wait_timeout_ms = 100;
}

static void test_wait_timeout(const rfix *f, redisContext *c)
{
    char m[64];
    size_t mlen;
    rsrc db;
    invq_read_opts ro;
    rtest_foreign_marker(m, &mlen);
    set_foreign_lease(c, "wait:k", m, mlen); /* another reader is loading (or died doing it) */
    rsrc_init(&db, "loaded-by-waiter");
    invq_reader *r = rtest_reader(rfix_url(f), wait_100);

    /* INVQ_WAIT_LOAD: after 100 ms the waiter loads itself and stores nothing */
    uint64_t t0 = wt_mono_ms();
    char *v = rtest_get(r, "wait:k", NULL, &db, 0);
    uint64_t waited = wt_mono_ms() - t0;
    wt_note("waited %llu ms behind a foreign lease (wait_timeout_ms 100)", (unsigned long long)waited);
    WT_CHECK(waited >= 100, "gave up before the wait ran out");
    WT_CHECK(strcmp(v, "loaded-by-waiter") == 0, "the loader answered");
    free(v);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.misses == 1 && st.lease_waits == 1 && st.wait_timeouts == 1 && st.loads == 1, "counters");
    WT_CHECK(st.fills == 0 && st.fills_refused == 0, "nothing stored");
    size_t n;
    char *raw = rtest_raw_get(c, "wait:k", &n);
    WT_CHECK(raw && n == mlen && memcmp(raw, m, n) == 0, "the other reader's lease is untouched");
    free(raw);

    /* INVQ_WAIT_FAIL for one get: INVQ_EWAIT, the loader is not called */
    invq_read_opts_init(&ro);
    ro.on_wait_timeout = INVQ_WAIT_FAIL;
    ro.wait_timeout_ms = 50;
    free(rtest_get(r, "wait:k", &ro, &db, INVQ_EWAIT));
    st = rtest_stats(r);
    WT_CHECK(st.wait_timeouts == 2 && st.loads == 1 && rsrc_loads(&db) == 1, "EWAIT without a load");
    char err[256];
    invq_reader_errstr(r, err, sizeof(err));
    WT_CHECK(strstr(err, "wait:k") && strstr(err, "50 ms"), "errstr names the key and the wait: %s", err);

    /* wait_timeout_ms 0: no wait at all */
    ro.wait_timeout_ms = 0;
    ro.on_wait_timeout = INVQ_WAIT_LOAD;
    free(rtest_get(r, "wait:k", &ro, &db, 0));
    WT_CHECK(rtest_stats(r).wait_timeouts == 3 && rsrc_loads(&db) == 2, "no wait, loaded");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

typedef struct waiting {
    invq_reader *r;
    unsigned long long want;
} waiting;

static bool is_waiting(void *ctx)
{
    waiting *w = ctx;
    return rtest_stats(w->r).lease_waits >= w->want;
}

/* Runs the fill script the way another reader (in any language) would. */
static long long foreign_fill(redisContext *c, const char *key, const char *m, size_t mlen, const char *value)
{
    redisReply *r = redisCommand(c, "EVAL %s 1 %s %b %s 60000", lua_lease_fill, key, m, mlen, value);
    WT_CHECK(r && r->type == REDIS_REPLY_INTEGER, "EVAL fill");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void test_waiter_outcomes(const rfix *f, redisContext *c)
{
    char m[64];
    size_t mlen;
    rsrc db;
    rtest_bg bg;
    rsrc_init(&db, "loaded-after-release");
    rtest_foreign_marker(m, &mlen);
    invq_reader *r = rtest_reader(rfix_url(f), NULL); /* waits up to 60 s */
    waiting w = { r, 1 };

    /* the other reader fills while we wait: we get its value, no load */
    set_foreign_lease(c, "wait:filled", m, mlen);
    rtest_bg_start(&bg, r, "wait:filled", NULL, &db);
    WT_CHECK(wt_wait_for(is_waiting, &w, WT_DEADLINE_MS), "never waited");
    WT_CHECK(foreign_fill(c, "wait:filled", m, mlen, "filled-by-other") == 1, "foreign fill");
    rtest_bg_join(&bg);
    WT_CHECK(bg.rc == 0 && strcmp(bg.val, "filled-by-other") == 0, "the waiter got the other reader's value");
    free(bg.val);
    WT_CHECK(rsrc_loads(&db) == 0 && rtest_stats(r).wait_timeouts == 0, "no load");

    /* the lease goes away without a value (released, deleted, expired): the
     * waiter takes the lease itself, loads and fills */
    set_foreign_lease(c, "wait:released", m, mlen);
    w.want = 2;
    rtest_bg_start(&bg, r, "wait:released", NULL, &db);
    WT_CHECK(wt_wait_for(is_waiting, &w, WT_DEADLINE_MS), "never waited");
    wt_cmd(c, "DEL wait:released");
    rtest_bg_join(&bg);
    WT_CHECK(bg.rc == 0 && strcmp(bg.val, "loaded-after-release") == 0, "took over");
    free(bg.val);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(rsrc_loads(&db) == 1 && st.fills == 1 && st.wait_timeouts == 0, "one load, one fill");
    char *raw = rtest_raw_get(c, "wait:released", NULL);
    WT_CHECK(raw && strcmp(raw, "loaded-after-release") == 0, "stored");
    free(raw);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void ttl_jitter_20(invq_reader_options *o)
{
    o->ttl_ms = 10000;
    o->jitter_pct = 20;
    o->negative_ttl_ms = 3000;
}

/* Fills `count` keys "<prefix>:<i>" and returns min/max PTTL and how long it took. */
static void fill_keys(invq_reader *r, redisContext *c, const char *prefix, int count, const invq_read_opts *ro,
                      rsrc *db, long long *lo, long long *hi, uint64_t *took)
{
    uint64_t t0 = wt_mono_ms();
    char key[64];
    *lo = 1LL << 60;
    *hi = -1;
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        free(rtest_get(r, key, ro, db, db->missing ? INVQ_NOTFOUND : 0));
    }
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        long long t = wt_pttl(c, key);
        *lo = t < *lo ? t : *lo;
        *hi = t > *hi ? t : *hi;
    }
    *took = wt_mono_ms() - t0;
}

static void test_ttl(const rfix *f, redisContext *c)
{
    rsrc db;
    invq_read_opts ro;
    long long lo, hi;
    uint64_t took;
    rsrc_init(&db, "row");
    invq_reader *r = rtest_reader(rfix_url(f), ttl_jitter_20);

    /* the class: ttl 10 s, jitter 20 % -> every TTL in [8 s, 10 s] */
    fill_keys(r, c, "ttl:class", 200, NULL, &db, &lo, &hi, &took);
    wt_note("ttl 10000 jitter 20%%: PTTL %lld..%lld over 200 keys (%llu ms to fill and read)", lo, hi,
            (unsigned long long)took);
    WT_CHECK(hi <= 10000 && lo >= 8000 - (long long)took, "TTL outside [8000, 10000]: %lld..%lld", lo, hi);
    WT_CHECK(hi - lo > 200, "no jitter: the TTLs span only %lld ms", hi - lo);

    /* per get: ttl 3 s without jitter */
    invq_read_opts_init(&ro);
    ro.ttl_ms = 3000;
    ro.jitter_pct = 0;
    fill_keys(r, c, "ttl:call", 50, &ro, &db, &lo, &hi, &took);
    wt_note("per-get ttl 3000 jitter 0: PTTL %lld..%lld", lo, hi);
    WT_CHECK(hi <= 3000 && lo >= 3000 - (long long)took - 1, "TTL outside [3000 - elapsed, 3000]");

    /* negative entries get negative_ttl_ms with the same jitter */
    rsrc_set_missing(&db, true);
    fill_keys(r, c, "ttl:neg", 100, NULL, &db, &lo, &hi, &took);
    wt_note("negative ttl 3000 jitter 20%%: PTTL %lld..%lld", lo, hi);
    WT_CHECK(hi <= 3000 && lo >= 2400 - (long long)took, "negative TTL outside [2400, 3000]: %lld..%lld", lo, hi);
    invq_reader_free(r);
    rsrc_deinit(&db);
}

static void neg_5s(invq_reader_options *o)
{
    o->negative_ttl_ms = 5000;
}

static void test_negative(const rfix *f, redisContext *c)
{
    rsrc db;
    invq_read_opts ro;
    size_t n;
    rsrc_init(&db, "unused");
    rsrc_set_missing(&db, true);
    invq_reader *r = rtest_reader(rfix_url(f), neg_5s);

    free(rtest_get(r, "neg:on", NULL, &db, INVQ_NOTFOUND));
    char *raw = rtest_raw_get(c, "neg:on", &n);
    WT_CHECK(raw && n == LEASE_NEGATIVE_LEN && memcmp(raw, lease_negative, n) == 0, "negative entry stored");
    free(raw);
    long long t = wt_pttl(c, "neg:on");
    WT_CHECK(t > 0 && t <= 5000, "negative TTL %lld", t);
    free(rtest_get(r, "neg:on", NULL, &db, INVQ_NOTFOUND)); /* remembered */
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(rsrc_loads(&db) == 1 && st.hits == 1 && st.negative_hits == 1 && st.fills == 1, "negative hit");

    /* a delete (the row was created) ends the negative entry like any value */
    wt_cmd(c, "DEL neg:on");
    rsrc_set_missing(&db, false);
    rsrc_set(&db, "created");
    char *v = rtest_get(r, "neg:on", NULL, &db, 0);
    WT_CHECK(strcmp(v, "created") == 0, "created row loaded");
    free(v);

    /* off for one get: nothing stored (the lease is given up), loaded again */
    rsrc_set_missing(&db, true);
    invq_read_opts_init(&ro);
    ro.negative_ttl_ms = 0;
    int before = rsrc_loads(&db);
    free(rtest_get(r, "neg:off", &ro, &db, INVQ_NOTFOUND));
    WT_CHECK(wt_exists(c, "neg:off") == 0, "no negative entry without negative caching");
    free(rtest_get(r, "neg:off", &ro, &db, INVQ_NOTFOUND));
    WT_CHECK(rsrc_loads(&db) == before + 2, "loaded each time");
    invq_reader_free(r);
    rsrc_deinit(&db);
}

typedef struct bytes_src {
    const char *data;
    size_t len;
    int loads;
} bytes_src;

static int bytes_load(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    bytes_src *b = user;
    (void)key;
    (void)keylen;
    b->loads++;
    return invq_loaded_set(out, b->data, b->len);
}

static void get_bytes(invq_reader *r, const char *key, size_t keylen, bytes_src *b)
{
    void *v;
    size_t n;
    int rc = invq_reader_get(r, key, keylen, NULL, bytes_load, b, &v, &n);
    WT_CHECK(rc == 0 && n == b->len && memcmp(v, b->data, n) == 0, "bytes round trip (rc %d, %zu bytes)", rc, n);
    invq_value_free(v);
}

static void test_markers_and_bytes(const rfix *f, redisContext *c)
{
    invq_reader *r = rtest_reader(rfix_url(f), NULL);
    size_t n;

    /* a value that looks exactly like a negative entry is stored escaped and
     * read back as data */
    bytes_src lookalike = { "\0invq:N1", 8, 0 };
    get_bytes(r, "esc:k", 5, &lookalike);
    char *raw = rtest_raw_get(c, "esc:k", &n);
    WT_CHECK(raw && n == 17 && memcmp(raw, "\0invq:D1:\0invq:N1", 17) == 0, "stored escaped");
    free(raw);
    get_bytes(r, "esc:k", 5, &lookalike);
    WT_CHECK(lookalike.loads == 1 && rtest_stats(r).negative_hits == 0, "a hit on data, not a negative entry");

    /* a marker of an unknown kind (a newer protocol) is never overwritten */
    redisReply *rep = redisCommand(c, "SET unk:k %b", "\0invq:X9:future", (size_t)15);
    WT_CHECK(rep && rep->type == REDIS_REPLY_STATUS, "SET");
    freeReplyObject(rep);
    bytes_src plain = { "from-source", 11, 0 };
    get_bytes(r, "unk:k", 5, &plain);
    raw = rtest_raw_get(c, "unk:k", &n);
    WT_CHECK(raw && n == 15 && memcmp(raw, "\0invq:X9:future", 15) == 0, "unknown marker untouched");
    free(raw);
    WT_CHECK(plain.loads == 1 && rtest_stats(r).fills == 1, "loaded, not stored");

    /* binary keys and values */
    static const char bkey[] = { 'b', 0, (char)0xff, ':', 'k' };
    static const char bval[] = { 0, 1, 2, (char)0xfe, 0 };
    bytes_src bin = { bval, sizeof(bval), 0 };
    get_bytes(r, bkey, sizeof(bkey), &bin);
    get_bytes(r, bkey, sizeof(bkey), &bin);
    WT_CHECK(bin.loads == 1, "binary key hit");
    bytes_src empty = { "", 0, 0 };
    get_bytes(r, "empty:v", 7, &empty);
    get_bytes(r, "empty:v", 7, &empty);
    WT_CHECK(empty.loads == 1, "an empty value is cached too");

    /* a key of another type: an error the loader answers */
    wt_cmd(c, "RPUSH wrongtype:k x");
    bytes_src wt = { "answer", 6, 0 };
    invq_reader_stats before = rtest_stats(r);
    get_bytes(r, "wrongtype:k", 11, &wt);
    invq_reader_stats st = rtest_stats(r);
    char err[256];
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("wrong type: %s", err);
    WT_CHECK(st.errors == before.errors + 1 && st.fallbacks == before.fallbacks + 1, "counted");
    WT_CHECK(strstr(err, "WRONGTYPE") != NULL, "errstr says why");
    /* and the connection was fine: the next get is a hit */
    get_bytes(r, "esc:k", 5, &lookalike);
    WT_CHECK(rtest_stats(r).errors == st.errors && lookalike.loads == 1, "still connected");
    invq_reader_free(r);
}

static invq_reader *acl_reader(const rfix *f, const char *user)
{
    invq_reader_options o;
    invq_reader *r;
    char url[600], err[256];
    snprintf(url, sizeof(url), "unix://%s?user=%s&password=rpw", rfix_socket(f), user);
    invq_reader_options_init(&o);
    o.url = url;
    o.ttl_ms = 60000;
    o.connect_timeout_ms = o.command_timeout_ms = 5000;
    WT_CHECK(invq_reader_new(&o, &r, err, sizeof(err)) == 0, "invq_reader_new: %s", err);
    return r;
}

static void test_acl(void)
{
    const char *conf[] = {
        "user reader on >rpw ~user:* ~ver:user:* +get +set +del +eval +evalsha +script|load",
        "user evalonly on >rpw ~user:* +get +set +del +eval +evalsha",
        NULL,
    };
    rfix_opts opts = { .conf_lines = conf };
    rfix *f = wt_server(&opts);
    rsrc db;
    invq_read_opts ro;
    rsrc_init(&db, "row");

    invq_reader *r = acl_reader(f, "reader");
    free(rtest_get(r, "user:1", NULL, &db, 0));      /* miss: acquire, load, fill */
    free(rtest_get(r, "user:1", NULL, &db, 0));      /* hit */
    rsrc_set_missing(&db, true);
    free(rtest_get(r, "user:3", NULL, &db, INVQ_NOTFOUND)); /* release */
    rsrc_set_missing(&db, false);
    invq_read_opts_init(&ro);
    ro.version_key = "ver:user:2";
    free(rtest_get(r, "user:2", &ro, &db, 0));
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.errors == 0 && st.fills == 2 && st.hits == 1 && rsrc_loads(&db) == 3, "reader's ACL suffices");
    /* a key outside the user's patterns: NOPERM, the loader answers */
    free(rtest_get(r, "other:1", NULL, &db, 0));
    char err[256];
    invq_reader_errstr(r, err, sizeof(err));
    wt_note("outside the ACL: %s", err);
    WT_CHECK(rtest_stats(r).errors == 1 && strstr(err, "NOPERM"), "NOPERM counted");
    invq_reader_free(r);

    r = acl_reader(f, "evalonly");
    free(rtest_get(r, "user:9", NULL, &db, 0));
    free(rtest_get(r, "user:9", NULL, &db, 0));
    st = rtest_stats(r);
    WT_CHECK(st.errors == 0 && st.fills == 1 && st.hits == 1, "without +script|load: EVAL");
    invq_reader_free(r);
    rsrc_deinit(&db);
    wt_server_free(f);
}

int main(void)
{
    test_acl();
    rfix *f = wt_server(NULL);
    redisContext *c = wt_connect(f);
    test_wait_timeout(f, c);
    test_waiter_outcomes(f, c);
    test_ttl(f, c);
    test_negative(f, c);
    test_markers_and_bytes(f, c);
    redisFree(c);
    wt_server_free(f);
    printf("reader_cache: ok\n");
    return 0;
}
