/* The source of truth's interface (db.h): dispatch to the adapter. */
#include "db.h"

const char *fdb_kind_name(fdb_kind kind)
{
    return kind == FDB_POSTGRES ? "postgresql" : "sqlite";
}

int fdb_new(fdb_kind kind, const char *where, fdb **out, char *err, size_t errlen)
{
    const fdb_ops *ops = kind == FDB_POSTGRES ? &fdb_pg_ops : &fdb_sqlite_ops;
    int rc = ops->create(where, out, err, errlen);
    if (rc == 0)
        (*out)->ops = ops;
    return rc;
}

void fdb_free(fdb *db)
{
    if (db != NULL)
        db->ops->destroy(db);
}

int fdb_setup(fdb *db, int rows, char *err, size_t errlen)
{
    return db->ops->setup(db, rows, err, errlen);
}

int fdb_write(fdb *db, int row, long long version, const char *payload, char *err, size_t errlen)
{
    return db->ops->write(db, row, version, payload, err, errlen);
}

int fdb_read(fdb *db, int row, long long *version, char *payload, size_t cap, char *err, size_t errlen)
{
    return db->ops->read(db, row, version, payload, cap, err, errlen);
}
