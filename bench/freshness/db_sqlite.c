/* The SQLite adapter of the freshness benchmark's source of truth (db.h): a
 * database file in WAL mode, so readers never wait for the writers and a
 * read that starts after a COMMIT returned sees it. One connection per
 * thread; the writers wait for each other's write lock (busy timeout). */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

typedef struct sq {
    fdb base;
    sqlite3 *db;
    sqlite3_stmt *read, *update, *begin, *commit;
} sq;

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

static void sq_free(fdb *base)
{
    sq *s = (sq *)base;
    sqlite3_finalize(s->read);
    sqlite3_finalize(s->update);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    free(s);
}

static int prepare(sq *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(s->db, sql, err, errlen);
    return 0;
}

static int sq_new(const char *where, fdb **out, char *err, size_t errlen)
{
    sq *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL) {
        snprintf(err, errlen, "sqlite: out of memory");
        return -1;
    }
    int rc = sqlite3_open_v2(where, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fail(s->db, where, err, errlen);
        sq_free(&s->base);
        return -1;
    }
    /* WAL: readers read the last committed state without locks; the
     * benchmark measures visibility, not durability, so no fsync per commit */
    if (sqlite3_busy_timeout(s->db, 10000) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        fail(s->db, "PRAGMA journal_mode=WAL", err, errlen);
        sq_free(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}

/* Statements are prepared on first use: the table exists only after setup. */
static int statements(sq *s, char *err, size_t errlen)
{
    if (s->read != NULL)
        return 0;
    if (prepare(s, "SELECT version, payload FROM items WHERE id = ?1", &s->read, err, errlen) != 0 ||
        prepare(s, "UPDATE items SET version = ?2, payload = ?3 WHERE id = ?1", &s->update, err, errlen) != 0 ||
        prepare(s, "BEGIN IMMEDIATE", &s->begin, err, errlen) != 0 ||
        prepare(s, "COMMIT", &s->commit, err, errlen) != 0)
        return -1;
    return 0;
}

static int sq_setup(fdb *base, int rows, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_exec(s->db,
                     "DROP TABLE IF EXISTS items;"
                     "CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, payload TEXT NOT NULL);"
                     "BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fail(s->db, "CREATE TABLE items", err, errlen);
    if (prepare(s, "INSERT INTO items (id, version, payload) VALUES (?1, 0, 'new')", &ins, err, errlen) != 0)
        return -1;
    for (int r = 0; r < rows; r++) {
        sqlite3_bind_int(ins, 1, r);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sqlite3_finalize(ins);
            return fail(s->db, "INSERT INTO items", err, errlen);
        }
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s->db, "COMMIT", err, errlen);
    return 0;
}

static int step_done(sq *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s->db, what, err, errlen);
}

static int sq_write(fdb *base, int row, long long version, const char *payload, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    if (statements(s, err, errlen) != 0 || step_done(s, s->begin, "BEGIN IMMEDIATE", err, errlen) != 0)
        return -1;
    sqlite3_bind_int(s->update, 1, row);
    sqlite3_bind_int64(s->update, 2, version);
    sqlite3_bind_text(s->update, 3, payload, -1, SQLITE_TRANSIENT);
    int rc = step_done(s, s->update, "UPDATE items", err, errlen);
    if (rc == 0 && sqlite3_changes(s->db) != 1) {
        snprintf(err, errlen, "sqlite: UPDATE items: no row %d", row);
        rc = -1;
    }
    if (rc == 0)
        rc = step_done(s, s->commit, "COMMIT", err, errlen);
    if (rc != 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int sq_read(fdb *base, int row, long long *version, char *payload, size_t cap, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    if (statements(s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int(s->read, 1, row);
    int rc = sqlite3_step(s->read);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(s->read, 0);
        snprintf(payload, cap, "%s", (const char *)sqlite3_column_text(s->read, 1));
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 1;
    } else {
        rc = fail(s->db, "SELECT FROM items", err, errlen);
    }
    sqlite3_reset(s->read);
    return rc;
}

const fdb_ops fdb_sqlite_ops = {
    .create = sq_new,
    .destroy = sq_free,
    .setup = sq_setup,
    .write = sq_write,
    .read = sq_read,
};
