/* The source of truth of the freshness benchmark: one table
 *
 *   items(id integer primary key, version bigint, payload text)
 *
 * behind one small interface with two adapters, SQLite (db_sqlite.c, a file
 * in WAL mode) and PostgreSQL (db_pg.c, a server on a unix socket). A
 * connection belongs to one thread. */
#ifndef INVQ_BENCH_FRESHNESS_DB_H
#define INVQ_BENCH_FRESHNESS_DB_H

#include <stddef.h>

typedef enum fdb_kind {
    FDB_SQLITE,
    FDB_POSTGRES,
} fdb_kind;

typedef struct fdb fdb;

/* "sqlite" or "postgresql". */
const char *fdb_kind_name(fdb_kind kind);

/* Opens a connection (an fdb). `where` is the SQLite file's path or a libpq
 * connection string (borrowed for the call). Returns 0 and *out (free with
 * fdb_free()), or -1 with a message in err. */
int fdb_new(fdb_kind kind, const char *where, fdb **out, char *err, size_t errlen);
void fdb_free(fdb *db);

/* (Re)creates the table with rows 0 .. rows-1 at version 0. */
int fdb_setup(fdb *db, int rows, char *err, size_t errlen);

/* One transaction: BEGIN; UPDATE items SET version = v, payload = ... WHERE
 * id = row; COMMIT. Returns 0 once COMMIT returned, -1 with a message. */
int fdb_write(fdb *db, int row, long long version, const char *payload, char *err, size_t errlen);

/* SELECT version, payload FROM items WHERE id = row. Copies the payload
 * (NUL-terminated, truncated to cap) and returns 0, 1 when there is no such
 * row, -1 with a message. */
int fdb_read(fdb *db, int row, long long *version, char *payload, size_t cap, char *err, size_t errlen);

/* The adapters (db_sqlite.c, db_pg.c), reached through the functions above. */
typedef struct fdb_ops {
    int (*create)(const char *where, fdb **out, char *err, size_t errlen);
    void (*destroy)(fdb *db);
    int (*setup)(fdb *db, int rows, char *err, size_t errlen);
    int (*write)(fdb *db, int row, long long version, const char *payload, char *err, size_t errlen);
    int (*read)(fdb *db, int row, long long *version, char *payload, size_t cap, char *err, size_t errlen);
} fdb_ops;

/* Every connection starts with its adapter's table (the adapters' own
 * struct embeds this first). */
struct fdb {
    const fdb_ops *ops;
};

extern const fdb_ops fdb_sqlite_ops;
extern const fdb_ops fdb_pg_ops;

#endif
