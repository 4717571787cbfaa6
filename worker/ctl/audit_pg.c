/* The audit's PostgreSQL driver (Debian's libpq): the source given to
 * libpq as is (a URI or a keyword string), a session whose transactions
 * are all read-only (each statement runs in its own read-only transaction,
 * so every check reads the latest committed row and no snapshot is held
 * between checks), a statement timeout, and one prepared statement whose
 * parameter and column types decide how values travel: bytea in binary
 * (any bytes), everything else as text (UTF-8 without NUL, integers
 * checked before they are sent). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit_drivers.h"
#include "utf8.h"

/* Type OIDs of pg_type (stable across PostgreSQL versions). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

#define STMT_NAME "invq_audit"

struct audit_pg {
    PGconn *conn;
    size_t nparams;
    Oid ptypes[FAM_MAX_PARAMS];
    int result_format; /* 1 (binary) for a bytea column, else 0 (text) */
    uint64_t timeout_ms;
};

/* Copies the first line of libpq's message (they end in "\n"). */
static void first_line(const char *msg, char *buf, size_t len)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    snprintf(buf, len, "%.*s", (int)n, msg);
}

/* What a failed result means: the database unusable, or the query wrong
 * (or, when `per_key`, a value the query's types refuse). */
static int classify(audit_pg *d, const PGresult *res, bool per_key, const char *what, char *err, size_t errlen)
{
    char msg[400];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    first_line(primary ? primary : PQerrorMessage(d->conn), msg, sizeof(msg));
    if (PQstatus(d->conn) == CONNECTION_BAD) {
        snprintf(err, errlen, "%s: connection lost: %s", what, msg);
        return SRC_EDOWN;
    }
    if (state && strcmp(state, "57014") == 0) {
        snprintf(err, errlen, "%s: statement timeout (%llu ms): %s", what, (unsigned long long)d->timeout_ms, msg);
        return SRC_EDOWN;
    }
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
                  strncmp(state, "58", 2) == 0)) {
        snprintf(err, errlen, "%s: database unavailable (SQLSTATE %s): %s", what, state, msg);
        return SRC_EDOWN;
    }
    if (state && strcmp(state, "25006") == 0) {
        snprintf(err, errlen, "%s would write to the database; the audit only reads (%s)", what, msg);
        return SRC_ESQL;
    }
    if (per_key && state && strncmp(state, "22", 2) == 0) {
        snprintf(err, errlen, "refused by the query's types (SQLSTATE %s): %s", state, msg);
        return SRC_UNFIT;
    }
    snprintf(err, errlen, "%s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
    return SRC_ESQL;
}

/* Runs a setting statement; 0 or an SRC_E* code. */
static int exec_setting(audit_pg *d, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(d->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = classify(d, res, false, sql, err, errlen);
    PQclear(res);
    return rc;
}

int audit_pg_open(const char *conninfo, const char *sql, size_t nparams, uint64_t connect_timeout_ms,
                  uint64_t stmt_timeout_ms, audit_pg **out, char *err, size_t errlen)
{
    *out = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        char msg[300];
        first_line(perr ? perr : "out of memory", msg, sizeof(msg));
        snprintf(err, errlen, "source is not a valid libpq connection string: %s", msg);
        PQfreemem(perr);
        return SRC_EINVALID;
    }
    PQconninfoFree(opts);
    audit_pg *d = calloc(1, sizeof(*d));
    if (!d)
        return SRC_ENOMEM;
    d->timeout_ms = stmt_timeout_ms;
    d->nparams = nparams;
    char ct[24];
    /* libpq counts whole seconds, at least 2 */
    snprintf(ct, sizeof(ct), "%llu", (unsigned long long)((connect_timeout_ms + 999) / 1000));
    /* keywords before dbname are defaults the source may override */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {ct, "invqctl-audit", conninfo, NULL};
    d->conn = PQconnectdbParams(keys, vals, 1);
    if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
        char msg[400], *desc = audit_pg_describe(conninfo);
        first_line(d->conn ? PQerrorMessage(d->conn) : "out of memory", msg, sizeof(msg));
        snprintf(err, errlen, "cannot connect to %s: %s", desc ? desc : "the database", msg);
        free(desc);
        audit_pg_free(d);
        return SRC_EDOWN;
    }
    char timeout[64];
    snprintf(timeout, sizeof(timeout), "SET statement_timeout = %llu", (unsigned long long)stmt_timeout_ms);
    int rc = exec_setting(d, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", err, errlen);
    if (!rc)
        rc = exec_setting(d, timeout, err, errlen);
    if (!rc)
        rc = exec_setting(d, "SET client_encoding = 'UTF8'", err, errlen);
    if (!rc) {
        const char *ro = PQparameterStatus(d->conn, "default_transaction_read_only");
        if (ro && strcmp(ro, "on") != 0) {
            snprintf(err, errlen, "the session did not become read-only (default_transaction_read_only = %s)", ro);
            rc = SRC_EDOWN;
        }
    }
    PGresult *res = NULL;
    if (!rc) {
        res = PQprepare(d->conn, STMT_NAME, sql, (int)nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = classify(d, res, false, "audit_query", err, errlen);
        PQclear(res);
    }
    if (!rc) {
        res = PQdescribePrepared(d->conn, STMT_NAME);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = classify(d, res, false, "audit_query", err, errlen);
        } else if (PQnfields(res) != 1) {
            snprintf(err, errlen, "audit_query returns %d columns; it must return exactly one (the cached value)",
                     PQnfields(res));
            rc = SRC_ESQL;
        } else if ((size_t)PQnparams(res) != nparams) {
            snprintf(err, errlen, "audit_query has parameters besides its :names (a $%d)", PQnparams(res));
            rc = SRC_ESQL;
        } else {
            for (size_t i = 0; i < nparams; i++)
                d->ptypes[i] = PQparamtype(res, (int)i);
            d->result_format = PQftype(res, 0) == OID_BYTEA;
        }
        PQclear(res);
    }
    if (rc) {
        audit_pg_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void audit_pg_free(audit_pg *d)
{
    if (!d)
        return;
    if (d->conn)
        PQfinish(d->conn);
    free(d);
}

/* Whether text s is a decimal integer within [lo, hi] as PostgreSQL reads it. */
static bool fits_int(const char *s, int64_t lo, int64_t hi)
{
    char *end = NULL;
    if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return !errno && end && !*end && end != s && v >= lo && v <= hi;
}

/* Why value i does not fit parameter $i+1 as text, or NULL. */
static const char *unfit_text(const audit_pg *d, size_t i, const char *s, size_t len)
{
    if (memchr(s, 0, len))
        return "holds a NUL byte, which a text parameter cannot carry";
    if (!utf8_valid(s, len))
        return "is not valid UTF-8, which a text parameter needs";
    switch (d->ptypes[i]) {
    case OID_INT2:
        return fits_int(s, INT16_MIN, INT16_MAX) ? NULL : "is not a smallint";
    case OID_INT4:
        return fits_int(s, INT32_MIN, INT32_MAX) ? NULL : "is not an integer";
    case OID_INT8:
        return fits_int(s, INT64_MIN, INT64_MAX) ? NULL : "is not a bigint";
    default:
        return NULL;
    }
}

int audit_pg_query(audit_pg *d, const fam_span *vals, size_t n, audit_value *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    char *text[FAM_MAX_PARAMS] = {0};
    const char *values[FAM_MAX_PARAMS];
    int lengths[FAM_MAX_PARAMS], formats[FAM_MAX_PARAMS];
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        lengths[i] = (int)vals[i].len;
        formats[i] = d->ptypes[i] == OID_BYTEA;
        if (formats[i]) {
            values[i] = (const char *)vals[i].data;
            continue;
        }
        if (!(text[i] = malloc(vals[i].len + 1))) {
            rc = SRC_ENOMEM;
            break;
        }
        memcpy(text[i], vals[i].data, vals[i].len);
        text[i][vals[i].len] = '\0';
        values[i] = text[i];
        const char *bad = unfit_text(d, i, text[i], vals[i].len);
        if (bad) {
            snprintf(why, whylen, "the value for $%zu %s", i + 1, bad);
            rc = SRC_UNFIT;
        }
    }
    if (!rc) {
        PGresult *res = PQexecPrepared(d->conn, STMT_NAME, (int)n, values, lengths, formats, d->result_format);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = classify(d, res, true, "audit_query", why, whylen);
        } else if (PQntuples(res) > 1) {
            snprintf(why, whylen, "audit_query returned %d rows (it must return at most one)", PQntuples(res));
            rc = SRC_ESQL;
        } else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
            size_t len = (size_t)PQgetlength(res, 0, 0);
            if ((out->data = malloc(len + 1))) {
                memcpy(out->data, PQgetvalue(res, 0, 0), len);
                out->data[len] = '\0';
                out->len = len;
                out->row = true;
            } else {
                rc = SRC_ENOMEM;
            }
        }
        PQclear(res);
    }
    for (size_t i = 0; i < n; i++)
        free(text[i]);
    return rc;
}

char *audit_pg_describe(const char *conninfo)
{
    static const char *const shown[] = {"service", "host", "hostaddr", "port", "dbname", "user"};
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (!opts)
        return strdup("(invalid conninfo)");
    size_t cap = 64;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            cap += strlen(o->keyword) + strlen(o->val) + 2;
    char *out = malloc(cap);
    size_t n = 0;
    if (out) {
        out[0] = '\0';
        for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++)
            for (PQconninfoOption *o = opts; o->keyword; o++)
                if (o->val && *o->val && strcmp(o->keyword, shown[k]) == 0)
                    n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n ? " " : "", o->keyword, o->val);
        if (n == 0)
            snprintf(out, cap, "(libpq defaults)");
    }
    PQconninfoFree(opts);
    return out;
}
