/* The two database drivers behind audit_source.h (private to it): each
 * opens its database read-only, prepares one statement whose parameters
 * are numbered 1..nparams, and runs it with nparams byte values. Return
 * codes and audit_value as in audit_source.h. */
#ifndef INVQ_CTL_AUDIT_DRIVERS_H
#define INVQ_CTL_AUDIT_DRIVERS_H

#include <stddef.h>
#include <stdint.h>

#include "audit_source.h"

/* audit_sqlite.c: the SQL uses ?1, ?2, ... */
typedef struct audit_sqlite audit_sqlite;
int audit_sqlite_open(const char *path, const char *sql, size_t nparams, uint64_t stmt_timeout_ms,
                      audit_sqlite **out, char *err, size_t errlen);
int audit_sqlite_query(audit_sqlite *d, const fam_span *vals, size_t n, audit_value *out, char *why,
                       size_t whylen);
void audit_sqlite_free(audit_sqlite *d);

/* audit_pg.c: the SQL uses $1, $2, ... */
typedef struct audit_pg audit_pg;
int audit_pg_open(const char *conninfo, const char *sql, size_t nparams, uint64_t connect_timeout_ms,
                  uint64_t stmt_timeout_ms, audit_pg **out, char *err, size_t errlen);
int audit_pg_query(audit_pg *d, const fam_span *vals, size_t n, audit_value *out, char *why, size_t whylen);
void audit_pg_free(audit_pg *d);

/* The conninfo (URI or keyword string) as "host=... port=... dbname=...
 * user=..." without a password; malloc'd, NULL on ENOMEM. An unparsable
 * conninfo is described as "(invalid conninfo)". */
char *audit_pg_describe(const char *conninfo);

#endif
