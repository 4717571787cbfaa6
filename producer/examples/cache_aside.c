/* cache_aside: cache-aside with invq, end to end, using only the installed
 * <invq/invq.h>. SQLite is the source of truth, Redis the cache.
 *
 *   cache_aside DB.sqlite REDIS_URL init             create users(id, name), add user 42 "ada"
 *   cache_aside DB.sqlite REDIS_URL get ID           read user ID through the cache
 *   cache_aside DB.sqlite REDIS_URL rename ID NAME   UPDATE + COMMIT, then invalidate user:ID
 *
 * The reader side reads "user:<id>" with invq_reader_get(): on a miss one
 * reader fleet-wide loads the row under a lease and fills the key. The
 * writer side commits, then hands invq a job deleting "user:<id>"; an
 * invq-worker applies it with DEL, which also voids any fill racing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <invq/invq.h>

/* The loader: one SELECT. Returns the row's name, INVQ_NOTFOUND, or -1. */
static int load_user(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    sqlite3 *db = user;
    sqlite3_stmt *st;
    char id[32];
    int rc = -1;
    /* the logical key is "user:<id>" */
    if (keylen < 6 || keylen - 5 >= sizeof(id))
        return INVQ_EINVAL;
    memcpy(id, (const char *)key + 5, keylen - 5);
    id[keylen - 5] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT name FROM users WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, atoll(id));
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        rc = invq_loaded_set(out, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        break;
    case SQLITE_DONE:
        rc = INVQ_NOTFOUND; /* remembered for negative_ttl_ms */
        break;
    }
    sqlite3_finalize(st);
    return rc;
}

static int get(sqlite3 *db, const char *url, const char *id)
{
    invq_reader_options o;
    invq_reader *r;
    char err[256], key[64];
    void *val;
    size_t len;

    invq_reader_options_init(&o);
    o.url = url;
    o.ttl_ms = 10 * 60 * 1000;   /* the freshness class: at most 10 minutes old */
    o.jitter_pct = 10;           /* filled between 9 and 10 minutes */
    o.negative_ttl_ms = 30000;   /* remember "no such user" for 30 s */
    if (invq_reader_new(&o, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "invq_reader_new: %s\n", err);
        return 1;
    }
    snprintf(key, sizeof(key), "user:%s", id);
    int rc = invq_reader_get(r, key, strlen(key), NULL, load_user, db, &val, &len);
    if (rc == 0)
        printf("%.*s\n", (int)len, (const char *)val);
    else if (rc == INVQ_NOTFOUND)
        printf("no such user\n");
    else
        fprintf(stderr, "get %s: %s\n", key, invq_strerror(rc));
    invq_value_free(val);

    invq_reader_stats st;
    invq_reader_stats_get(r, &st);
    fprintf(stderr, "hits=%llu misses=%llu loads=%llu fills=%llu fills_refused=%llu errors=%llu\n",
            (unsigned long long)st.hits, (unsigned long long)st.misses, (unsigned long long)st.loads,
            (unsigned long long)st.fills, (unsigned long long)st.fills_refused, (unsigned long long)st.errors);
    if (st.errors) {
        invq_reader_errstr(r, err, sizeof(err));
        fprintf(stderr, "cache unavailable, answered from the database: %s\n", err);
    }
    invq_reader_free(r);
    return rc == 0 || rc == INVQ_NOTFOUND ? 0 : 1;
}

static int rename_user(sqlite3 *db, const char *url, const char *id, const char *name)
{
    invq_options o;
    invq_producer *p;
    sqlite3_stmt *st;
    char err[256], key[64];

    /* 1. the write, committed */
    if (sqlite3_prepare_v2(db, "UPDATE users SET name = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return 1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, atoll(id));
    int done = sqlite3_step(st) == SQLITE_DONE; /* autocommit: committed here */
    sqlite3_finalize(st);
    if (!done)
        return 1;

    /* 2. then the invalidation */
    invq_options_init(&o);
    o.url = url;
    if (invq_producer_new(&o, &p, err, sizeof(err)) < 0) {
        fprintf(stderr, "invq_producer_new: %s\n", err);
        return 1;
    }
    snprintf(key, sizeof(key), "user:%s", id);
    const void *keys[] = { key };
    int rc = invq_delete_keys(p, keys, NULL, 1);
    if (rc < 0)
        fprintf(stderr, "invq_delete_keys: %s: %s\n", invq_strerror(rc), invq_producer_errstr(p));
    invq_producer_free(p);
    return rc < 0;
}

int main(int argc, char **argv)
{
    sqlite3 *db;
    int rc = 2;
    if (argc < 4) {
        fprintf(stderr, "usage: %s DB REDIS_URL init | get ID | rename ID NAME\n", argv[0]);
        return 2;
    }
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_busy_timeout(db, 5000);
    if (strcmp(argv[3], "init") == 0)
        rc = sqlite3_exec(db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
                              "INSERT INTO users VALUES (42, 'ada');", NULL, NULL, NULL) == SQLITE_OK ? 0 : 1;
    else if (strcmp(argv[3], "get") == 0 && argc == 5)
        rc = get(db, argv[2], argv[4]);
    else if (strcmp(argv[3], "rename") == 0 && argc == 6)
        rc = rename_user(db, argv[2], argv[4], argv[5]);
    else
        fprintf(stderr, "usage: %s DB REDIS_URL init | get ID | rename ID NAME\n", argv[0]);
    sqlite3_close(db);
    return rc;
}
