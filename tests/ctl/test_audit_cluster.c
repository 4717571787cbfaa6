/* invqctl audit with the cache on a real Redis Cluster (3 masters):
 * cached keys spread over every master, some fresh, some stale, some
 * orphans, and a versioned family whose version key and data key live in
 * different slots. The audit must SCAN every master and read each key on
 * its slot's master: exact counts, exit 3 (stale found); then, everything
 * fixed, exit 0; a cluster nobody answers for: exit 69 naming the nodes. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cluster_fixture.h"
#include "ctltest.h"
#include "wtest.h"

#define USERS 300

/* Runs invqctl audit; returns its exit code, its output (stdout + stderr) in out. */
static int audit(const char *dir, const char *url, const char *fam, char *out, size_t outlen)
{
    const char *argv[] = { ctl_path(), "audit", "--cache-url", url, "--families", fam, "--sample", "100000",
                           "--grace-ms", "100", "--json", NULL };
    return wt_run_output(argv, dir, "audit", out, outlen);
}

/* The JSON line of family `name` in the audit's output. */
static const char *family_line(const char *out, const char *name)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"family\":\"%s\"", name);
    const char *p = strstr(out, needle);
    WT_CHECK(p != NULL, "no result for family %s in: %s", name, out);
    return p;
}

static long long field(const char *line, const char *name)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", name);
    const char *p = strstr(line, needle);
    WT_CHECK(p != NULL, "no field %s in: %.300s", name, line);
    return strtoll(p + strlen(needle), NULL, 10);
}

/* SET on the master of the key's slot. */
static void cset(cfix *cl, const char *key, const char *val)
{
    int m = cfix_master_of(cl, cfix_keyslot(cl, key));
    WT_CHECK(m >= 0, "no master for %s", key);
    redisContext *c = cfix_connect(cl, m);
    WT_CHECK(c != NULL, "node %d", m);
    redisReply *r = redisCommand(c, "SET %s %s", key, val);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_STATUS, "SET %s", key);
    freeReplyObject(r);
    redisFree(c);
}

static void make_db(const char *path)
{
    sqlite3 *db;
    WT_CHECK(sqlite3_open(path, &db) == SQLITE_OK, "sqlite %s", path);
    char *e = NULL;
    WT_CHECK(sqlite3_exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);"
                              "CREATE TABLE prices(sku TEXT PRIMARY KEY, cents TEXT);", NULL, NULL, &e) == SQLITE_OK,
             "schema: %s", e ? e : "");
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 1; i <= USERS; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO users VALUES(%d, 'n%d'); INSERT INTO prices VALUES('s%d', '%d');", i,
                 i, i, i * 10);
        WT_CHECK(sqlite3_exec(db, sql, NULL, NULL, &e) == SQLITE_OK, "insert: %s", e ? e : "");
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

int main(void)
{
    ctl_path();
    cfix *cl;
    cfix_opts o = { .masters = 3, .replicas = 0 };
    int rc = cfix_start(&cl, &o);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0 && cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster");
    char dir[] = "/tmp/invq-audit-cluster-XXXXXX";
    WT_CHECK(mkdtemp(dir) != NULL, "temp dir");
    char db[600], fam[600], out[65536], text[2048];
    snprintf(db, sizeof db, "%s/truth.db", dir);
    snprintf(fam, sizeof fam, "%s/families.ini", dir);
    make_db(db);
    snprintf(text, sizeof text,
             "[class standard]\nttl = 10m\njitter = 10%%\n\n"
             "[family user]\nkeys = user:{id}\nclass = standard\nsource = sqlite://%s\n"
             "audit_query = SELECT name FROM users WHERE id = :id\n\n"
             "[family price]\nkeys = price:{sku}\nversion_key = pver:{sku}\nclass = standard\nops = bump\n"
             "source = sqlite://%s\naudit_query = SELECT cents FROM prices WHERE sku = :sku\n",
             db, db);
    FILE *f = fopen(fam, "w");
    WT_CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0, "families file");

    /* users: every 10th stale, 5 orphans (no row); prices at version 3,
     * every 20th stale, one at an old version only (a miss, not stale) */
    int per_master[3] = { 0 }, stale = 0;
    char key[64], val[64];
    for (int i = 1; i <= USERS; i++) {
        snprintf(key, sizeof key, "user:%d", i);
        snprintf(val, sizeof val, i % 10 == 0 ? "old%d" : "n%d", i);
        stale += i % 10 == 0;
        cset(cl, key, val);
        int m = cfix_master_of(cl, cfix_keyslot(cl, key));
        if (m >= 0 && m < 3)
            per_master[m]++;
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "user:%d", 1000 + i);
        cset(cl, key, "ghost");
    }
    int pstale = 0;
    for (int i = 1; i <= 100; i++) {
        snprintf(key, sizeof key, "pver:s%d", i);
        cset(cl, key, "3");
        snprintf(key, sizeof key, "price:s%d:v3", i);
        snprintf(val, sizeof val, "%d", i % 20 == 0 ? 1 : i * 10);
        pstale += i % 20 == 0;
        cset(cl, key, val);
    }
    wt_note("users cached per master: %d / %d / %d", per_master[0], per_master[1], per_master[2]);
    WT_CHECK(per_master[0] > 0 && per_master[1] > 0 && per_master[2] > 0, "keys on every master");

    rc = audit(dir, cfix_url(cl), fam, out, sizeof out);
    const char *u = family_line(out, "user"), *p = family_line(out, "price");
    wt_note("audit on the cluster -> %d: user checked %lld ok %lld stale %lld orphan %lld; price checked %lld "
            "stale %lld", rc, field(u, "checked"), field(u, "ok"), field(u, "stale"), field(u, "orphan"),
            field(p, "checked"), field(p, "stale"));
    WT_CHECK(rc == 3, "exit %d, want 3 (stale found): %s", rc, out);
    WT_CHECK(field(u, "checked") == USERS + 5, "user checked %lld", field(u, "checked"));
    WT_CHECK(field(u, "stale") == stale && field(u, "orphan") == 5, "user stale %lld orphan %lld",
             field(u, "stale"), field(u, "orphan"));
    WT_CHECK(field(u, "ok") == USERS - stale, "user ok %lld", field(u, "ok"));
    WT_CHECK(field(p, "checked") == 100 && field(p, "stale") == pstale, "price checked %lld stale %lld",
             field(p, "checked"), field(p, "stale"));

    /* fixed: every stale key refilled, the orphans deleted */
    for (int i = 10; i <= USERS; i += 10) {
        snprintf(key, sizeof key, "user:%d", i);
        snprintf(val, sizeof val, "n%d", i);
        cset(cl, key, val);
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "user:%d", 1000 + i);
        int m = cfix_master_of(cl, cfix_keyslot(cl, key));
        redisContext *c = cfix_connect(cl, m);
        WT_CHECK(c != NULL, "node");
        freeReplyObject(redisCommand(c, "DEL %s", key));
        redisFree(c);
    }
    for (int i = 20; i <= 100; i += 20) {
        snprintf(key, sizeof key, "price:s%d:v3", i);
        snprintf(val, sizeof val, "%d", i * 10);
        cset(cl, key, val);
    }
    rc = audit(dir, cfix_url(cl), fam, out, sizeof out);
    WT_CHECK(rc == 0, "exit %d after the fix: %s", rc, out);
    WT_CHECK(field(family_line(out, "user"), "ok") == USERS, "all users ok");

    cfix_free(cl);
    /* nobody answers: exit 69 naming what failed */
    rc = audit(dir, "redis-cluster://127.0.0.1:1,127.0.0.1:2", fam, out, sizeof out);
    wt_note("no node answers -> %d: %.*s", rc, (int)strcspn(out, "\n"), out);
    WT_CHECK(rc == 69 && strstr(out, "127.0.0.1:1") != NULL, "exit %d: %s", rc, out);
    rfix_rmtree(dir);
    printf("audit on a cluster ok\n");
    return 0;
}
