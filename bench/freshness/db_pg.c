/* The PostgreSQL adapter of the freshness benchmark's source of truth
 * (db.h): one libpq connection per thread, prepared statements, READ
 * COMMITTED (the default), so a read that starts after a COMMIT returned
 * sees it. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

typedef struct pg {
    fdb base;
    PGconn *c;
    int prepared;
} pg;

/* The server's message without its trailing newline. */
static int fail(PGconn *c, const char *what, char *err, size_t errlen)
{
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
        n--;
    snprintf(err, errlen, "postgresql: %s: %.*s", what, (int)n, m);
    return -1;
}

/* Runs a command that returns no rows; consumes the result. */
static int exec_ok(pg *p, PGresult *r, const char *what, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK ? 0 : fail(p->c, what, err, errlen);
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pg_free(fdb *base)
{
    pg *p = (pg *)base;
    PQfinish(p->c);
    free(p);
}

static int pg_new(const char *where, fdb **out, char *err, size_t errlen)
{
    pg *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (p == NULL) {
        snprintf(err, errlen, "postgresql: out of memory");
        return -1;
    }
    p->c = PQconnectdb(where);
    if (PQstatus(p->c) != CONNECTION_OK) {
        fail(p->c, "connect", err, errlen);
        pg_free(&p->base);
        return -1;
    }
    PQsetNoticeProcessor(p->c, quiet, NULL); /* "table items does not exist, skipping" */
    *out = &p->base;
    return 0;
}

/* Statements are prepared on first use: the table exists only after setup. */
static int statements(pg *p, char *err, size_t errlen)
{
    if (p->prepared)
        return 0;
    if (exec_ok(p, PQprepare(p->c, "rd", "SELECT version, payload FROM items WHERE id = $1", 1, NULL), "PREPARE rd",
                err, errlen) != 0 ||
        exec_ok(p, PQprepare(p->c, "up", "UPDATE items SET version = $2, payload = $3 WHERE id = $1", 3, NULL),
                "PREPARE up", err, errlen) != 0)
        return -1;
    p->prepared = 1;
    return 0;
}

static int pg_setup(fdb *base, int rows, char *err, size_t errlen)
{
    pg *p = (pg *)base;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "DROP TABLE IF EXISTS items;"
             "CREATE TABLE items (id integer PRIMARY KEY, version bigint NOT NULL, payload text NOT NULL);"
             "INSERT INTO items (id, version, payload) SELECT g, 0, 'new' FROM generate_series(0, %d) g;"
             "ANALYZE items",
             rows - 1);
    return exec_ok(p, PQexec(p->c, sql), "CREATE TABLE items", err, errlen);
}

static int pg_write(fdb *base, int row, long long version, const char *payload, char *err, size_t errlen)
{
    pg *p = (pg *)base;
    char id[16], ver[24];
    const char *params[3] = { id, ver, payload };
    if (statements(p, err, errlen) != 0)
        return -1;
    snprintf(id, sizeof(id), "%d", row);
    snprintf(ver, sizeof(ver), "%lld", version);
    if (exec_ok(p, PQexec(p->c, "BEGIN"), "BEGIN", err, errlen) != 0)
        return -1;
    PGresult *r = PQexecPrepared(p->c, "up", 3, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = fail(p->c, "UPDATE items", err, errlen);
    } else if (strcmp(PQcmdTuples(r), "1") != 0) {
        snprintf(err, errlen, "postgresql: UPDATE items: no row %d", row);
        rc = -1;
    }
    PQclear(r);
    if (rc != 0) {
        PQclear(PQexec(p->c, "ROLLBACK"));
        return -1;
    }
    return exec_ok(p, PQexec(p->c, "COMMIT"), "COMMIT", err, errlen);
}

static int pg_read(fdb *base, int row, long long *version, char *payload, size_t cap, char *err, size_t errlen)
{
    pg *p = (pg *)base;
    char id[16];
    const char *params[1] = { id };
    if (statements(p, err, errlen) != 0)
        return -1;
    snprintf(id, sizeof(id), "%d", row);
    PGresult *r = PQexecPrepared(p->c, "rd", 1, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = fail(p->c, "SELECT FROM items", err, errlen);
    } else if (PQntuples(r) == 0) {
        rc = 1;
    } else {
        *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(payload, cap, "%s", PQgetvalue(r, 0, 1));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

const fdb_ops fdb_pg_ops = {
    .create = pg_new,
    .destroy = pg_free,
    .setup = pg_setup,
    .write = pg_write,
    .read = pg_read,
};
