/* The audit's SQLite driver (Debian's libsqlite3): the database opened
 * read-only (SQLITE_OPEN_READONLY, and PRAGMA query_only), one prepared
 * statement that must be read-only, return one column and be alone in the
 * query; a busy timeout and a progress-handler deadline bound each run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "audit_drivers.h"
#include "utf8.h"

struct audit_sqlite {
    sqlite3 *db;
    sqlite3_stmt *st;
    uint64_t timeout_ms;
    uint64_t deadline_ms; /* monotonic; the progress handler interrupts past it */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int on_progress(void *p)
{
    const audit_sqlite *d = p;
    return mono_ms() > d->deadline_ms;
}

/* An error of the database itself (locked, unreadable, not a database, a
 * timeout) rather than of the query. */
static bool db_unusable(int code)
{
    switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_INTERRUPT:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

static int fail(audit_sqlite *d, int code, const char *what, char *err, size_t errlen)
{
    int c = code & 0xff;
    if (c == SQLITE_INTERRUPT)
        snprintf(err, errlen, "%s: statement timeout (%llu ms)", what, (unsigned long long)d->timeout_ms);
    else if (c == SQLITE_BUSY || c == SQLITE_LOCKED)
        snprintf(err, errlen, "%s: database is locked (waited %llu ms)", what, (unsigned long long)d->timeout_ms);
    else
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(d->db));
    if (c == SQLITE_NOMEM)
        return SRC_ENOMEM;
    return db_unusable(code) ? SRC_EDOWN : SRC_ESQL;
}

static bool blank_tail(const char *t)
{
    for (; t && *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r' && *t != ';')
            return false;
    return true;
}

int audit_sqlite_open(const char *path, const char *sql, size_t nparams, uint64_t stmt_timeout_ms,
                      audit_sqlite **out, char *err, size_t errlen)
{
    *out = NULL;
    audit_sqlite *d = calloc(1, sizeof(*d));
    if (!d)
        return SRC_ENOMEM;
    d->timeout_ms = stmt_timeout_ms;
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        struct stat st;
        const char *why = stat(path, &st) < 0 ? strerror(errno) : d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc);
        snprintf(err, errlen, "sqlite://%s: cannot open read-only: %s", path, why);
        audit_sqlite_free(d);
        return rc == SQLITE_NOMEM ? SRC_ENOMEM : SRC_EDOWN;
    }
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, stmt_timeout_ms > 0x7fffffff ? 0x7fffffff : (int)stmt_timeout_ms);
    sqlite3_progress_handler(d->db, 1000, on_progress, d);
    d->deadline_ms = mono_ms() + stmt_timeout_ms;
    if ((rc = sqlite3_exec(d->db, "PRAGMA query_only = 1", NULL, NULL, NULL)) != SQLITE_OK) {
        int code = fail(d, rc, "PRAGMA query_only", err, errlen);
        audit_sqlite_free(d);
        return code;
    }
    const char *tail = NULL;
    d->deadline_ms = mono_ms() + stmt_timeout_ms;
    rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &d->st, &tail);
    int code = 0;
    if (rc != SQLITE_OK) {
        code = fail(d, rc, "audit_query", err, errlen);
    } else if (!d->st) {
        snprintf(err, errlen, "audit_query holds no statement");
        code = SRC_ESQL;
    } else if (!blank_tail(tail)) {
        snprintf(err, errlen, "audit_query holds more than one statement (\"%.60s\" follows)", tail);
        code = SRC_ESQL;
    } else if (!sqlite3_stmt_readonly(d->st)) {
        snprintf(err, errlen, "audit_query would write to the database; the audit only reads");
        code = SRC_ESQL;
    } else if (sqlite3_column_count(d->st) != 1) {
        snprintf(err, errlen, "audit_query returns %d columns; it must return exactly one (the cached value)",
                 sqlite3_column_count(d->st));
        code = SRC_ESQL;
    } else if ((size_t)sqlite3_bind_parameter_count(d->st) != nparams) {
        snprintf(err, errlen, "audit_query has parameters besides its :names (a ?, @name or $name outside a string)");
        code = SRC_ESQL;
    }
    if (code) {
        audit_sqlite_free(d);
        return code;
    }
    *out = d;
    return 0;
}

void audit_sqlite_free(audit_sqlite *d)
{
    if (!d)
        return;
    sqlite3_finalize(d->st);
    sqlite3_close(d->db);
    free(d);
}

static int copy_value(sqlite3_stmt *st, audit_value *out)
{
    int type = sqlite3_column_type(st, 0);
    if (type == SQLITE_NULL)
        return 0; /* a NULL is no value: as no row */
    const void *p = type == SQLITE_BLOB ? sqlite3_column_blob(st, 0) : (const void *)sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (!(out->data = malloc(n + 1)))
        return SRC_ENOMEM;
    if (n)
        memcpy(out->data, p, n);
    out->data[n] = '\0';
    out->len = n;
    out->row = true;
    return 0;
}

int audit_sqlite_query(audit_sqlite *d, const fam_span *vals, size_t n, audit_value *out, char *why,
                       size_t whylen)
{
    memset(out, 0, sizeof(*out));
    sqlite3_reset(d->st);
    sqlite3_clear_bindings(d->st);
    for (size_t i = 0; i < n; i++) {
        /* text when it is text (INTEGER columns then compare by affinity), else a blob */
        bool text = utf8_valid(vals[i].data, vals[i].len) && !memchr(vals[i].data, 0, vals[i].len);
        int rc = text ? sqlite3_bind_text(d->st, (int)i + 1, (const char *)vals[i].data, (int)vals[i].len,
                                          SQLITE_TRANSIENT)
                      : sqlite3_bind_blob(d->st, (int)i + 1, vals[i].data, (int)vals[i].len, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK)
            return fail(d, rc, "binding a value", why, whylen);
    }
    d->deadline_ms = mono_ms() + d->timeout_ms;
    int rc = sqlite3_step(d->st), code = 0;
    if (rc == SQLITE_ROW) {
        code = copy_value(d->st, out);
        if (code == 0 && (rc = sqlite3_step(d->st)) == SQLITE_ROW) {
            snprintf(why, whylen, "audit_query returned more than one row (it must return at most one)");
            code = SRC_ESQL;
        } else if (code == 0 && rc != SQLITE_DONE) {
            code = fail(d, rc, "audit_query", why, whylen);
        }
    } else if (rc != SQLITE_DONE) {
        code = fail(d, rc, "audit_query", why, whylen);
    }
    sqlite3_reset(d->st);
    if (code)
        audit_value_deinit(out);
    return code;
}
