/* The cache-aside reader on a real Redis Cluster (3 masters,
 * redis-cluster://): keys of every master miss, load once and are filled
 * on their slot's master, then hit; the delete/fill race on a cluster (a
 * plain DEL on the key's master while the loader holds the lease) refuses
 * the fill; a slot moved to another master after the reader learnt the map
 * (MOVED) and a slot being migrated (ASK: the GET and the lease scripts go
 * to the importing node with ASKING) both still read, lease and fill. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_fixture.h"
#include "rtest.h"

static cfix *cl;

static redisContext *master_for(const char *key)
{
    int m = cfix_master_of(cl, cfix_keyslot(cl, key));
    WT_CHECK(m >= 0, "no master for %s", key);
    redisContext *c = cfix_connect(cl, m);
    WT_CHECK(c != NULL, "node %d", m);
    return c;
}

static char *raw_on_master(const char *key, size_t *len)
{
    redisContext *c = master_for(key);
    char *v = rtest_raw_get(c, key, len);
    redisFree(c);
    return v;
}

/* CLUSTER MYID of node i into id. */
static void node_id(int i, char *id, size_t len)
{
    WT_CHECK(cfix_node_id(cl, i, id, len) == 0, "CLUSTER MYID of node %d", i);
}

static void on_node(int i, const char *fmt, const char *a, int slot)
{
    redisContext *c = cfix_connect(cl, i);
    WT_CHECK(c != NULL, "node %d", i);
    redisReply *r = redisCommand(c, fmt, slot, a);
    WT_CHECK(r != NULL && r->type != REDIS_REPLY_ERROR, "node %d: %s: %s", i, fmt, r ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
}

static void test_spread(invq_reader *r, rsrc *db)
{
    int per[3] = { 0 };
    char key[32];
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "user:%d", i);
        char *v = rtest_get(r, key, NULL, db, 0);
        WT_CHECK(strcmp(v, "row") == 0, "get %s: '%s'", key, v);
        free(v);
        char *raw = raw_on_master(key, NULL);
        WT_CHECK(raw && strcmp(raw, "row") == 0, "%s filled on its slot's master", key);
        free(raw);
        int m = cfix_master_of(cl, cfix_keyslot(cl, key));
        if (m >= 0 && m < 3)
            per[m]++;
    }
    WT_CHECK(per[0] && per[1] && per[2], "keys on every master: %d %d %d", per[0], per[1], per[2]);
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "user:%d", i);
        free(rtest_get(r, key, NULL, db, 0));
    }
    invq_reader_stats st = rtest_stats(r);
    wt_note("60 keys over 3 masters: misses %llu, fills %llu, hits %llu, loads %d", (unsigned long long)st.misses,
            (unsigned long long)st.fills, (unsigned long long)st.hits, rsrc_loads(db));
    WT_CHECK(st.misses == 60 && st.fills == 60 && st.hits == 60 && st.errors == 0 && rsrc_loads(db) == 60,
             "one load per key, then hits");
}

static void test_race(invq_reader *r)
{
    rsrc db;
    rtest_bg bg;
    const char *key = "race:{c}:1";
    rsrc_init(&db, "old");
    rsrc_arm_pause(&db);
    rtest_bg_start(&bg, r, key, NULL, &db);
    rsrc_wait_paused(&db);
    size_t n;
    char *raw = raw_on_master(key, &n);
    WT_CHECK(raw && n > 9 && memcmp(raw, "\0invq:L1:", 9) == 0, "the lease marker sits on the key's master");
    free(raw);
    redisContext *c = master_for(key);
    freeReplyObject(redisCommand(c, "DEL %s", key)); /* the worker's plain DEL */
    redisFree(c);
    invq_reader_stats before = rtest_stats(r);
    rsrc_release(&db);
    rtest_bg_join(&bg);
    free(bg.val);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.fills_refused == before.fills_refused + 1, "the stale fill was refused");
    WT_CHECK(raw_on_master(key, NULL) == NULL, "the stale value was stored");
    rsrc_deinit(&db);
}

/* Moves an empty slot between masters behind the reader's back, then
 * migrates another (MIGRATING on its owner, IMPORTING on the target). */
static void test_redirects(invq_reader *r, rsrc *db)
{
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        node_id(i, ids[i], sizeof ids[i]);
    const char *moved = "moved:key";
    int slot = cfix_keyslot(cl, moved);
    int a = cfix_master_of(cl, slot), b = (a + 1) % 3;
    for (int i = 0; i < 3; i++)
        on_node(i, "CLUSTER SETSLOT %d NODE %s", ids[b], slot);
    WT_CHECK(cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster after the move");
    int loads = rsrc_loads(db);
    char *v = rtest_get(r, moved, NULL, db, 0);
    WT_CHECK(strcmp(v, "row") == 0 && rsrc_loads(db) == loads + 1, "loaded through MOVED");
    free(v);
    char *raw = raw_on_master(moved, NULL);
    WT_CHECK(raw && strcmp(raw, "row") == 0, "filled on the slot's new master");
    free(raw);

    const char *asked = "asked:key";
    slot = cfix_keyslot(cl, asked);
    a = cfix_master_of(cl, slot);
    b = (a + 1) % 3;
    on_node(b, "CLUSTER SETSLOT %d IMPORTING %s", ids[a], slot);
    on_node(a, "CLUSTER SETSLOT %d MIGRATING %s", ids[b], slot);
    loads = rsrc_loads(db);
    v = rtest_get(r, asked, NULL, db, 0); /* absent on a: ASK, the lease and the fill on b */
    WT_CHECK(strcmp(v, "row") == 0 && rsrc_loads(db) == loads + 1, "loaded through ASK");
    free(v);
    redisContext *cb = cfix_connect(cl, b);
    WT_CHECK(cb != NULL, "node b");
    freeReplyObject(redisCommand(cb, "ASKING"));
    raw = rtest_raw_get(cb, asked, NULL);
    WT_CHECK(raw && strcmp(raw, "row") == 0, "filled on the importing node");
    free(raw);
    redisFree(cb);
    invq_reader_stats st = rtest_stats(r);
    WT_CHECK(st.errors == 0, "%llu cache errors", (unsigned long long)st.errors);
    for (int i = 0; i < 3; i++)
        on_node(i, "CLUSTER SETSLOT %d NODE %s", ids[b], slot);
}

int main(void)
{
    cfix_opts o = { .masters = 3, .replicas = 0 };
    int rc = cfix_start(&cl, &o);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0 && cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster");
    invq_reader *r = rtest_reader(cfix_url(cl), NULL);
    rsrc db;
    rsrc_init(&db, "row");
    test_spread(r, &db);
    test_race(r);
    test_redirects(r, &db);
    rsrc_deinit(&db);
    invq_reader_free(r);
    cfix_free(cl);
    printf("reader on a cluster ok\n");
    return 0;
}
