/* A family's source of truth for the audit (families-v1.md §9): SQLite
 * (opened read-only) or PostgreSQL (every statement in a read-only
 * transaction, with a statement timeout). The family's audit_query is
 * prepared once, its :name parameters rewritten to the driver's numbered
 * ones at the offsets the families parser found; the key's placeholder
 * values are always bound, never written into the SQL. */
#ifndef INVQ_CTL_AUDIT_SOURCE_H
#define INVQ_CTL_AUDIT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "families.h"

/* Results of a query besides 0. */
enum {
    SRC_UNFIT = 1,     /* the key's values do not fit the query's parameters (not executed, or refused) */
    SRC_EDOWN = -1,    /* the database cannot be used: connect, lost connection, timeout, locked */
    SRC_ESQL = -2,     /* the query is wrong: SQL error, shape, an attempted write */
    SRC_EINVALID = -3, /* the source string is not valid for its driver */
    SRC_ENOMEM = -4,
};

/* One column of at most one row. */
typedef struct audit_value {
    bool row;    /* false: no row, or a NULL value */
    char *data;  /* the value's bytes (owned, NUL-terminated); NULL without a row */
    size_t len;
} audit_value;

void audit_value_deinit(audit_value *v);

typedef struct audit_source audit_source;

/* Opens family f's source and prepares its audit_query. Returns 0 and *out
 * (free with audit_source_free), or an SRC_E* code with a message in err
 * naming what failed. */
int audit_source_open(const fam_family *f, uint64_t connect_timeout_ms, uint64_t stmt_timeout_ms,
                      audit_source **out, char *err, size_t errlen);
void audit_source_free(audit_source *s);

/* Runs the query for the key m describes (kind PLAIN, family f). Returns 0
 * with *out filled (free with audit_value_deinit), SRC_UNFIT with the reason
 * in why, or an SRC_E* code with a message in why. */
int audit_source_query(audit_source *s, const fam_match *m, audit_value *out, char *why, size_t whylen);

/* The source as messages show it, without a password (malloc'd; NULL on
 * ENOMEM). */
char *audit_source_describe(const fam_family *f);

#endif
