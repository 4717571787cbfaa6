/* A family's audit source (see audit_source.h): the audit_query rewritten
 * to numbered parameters, the key's placeholder values taken by name from
 * its match, and the call into the SQLite or PostgreSQL driver. */
#include "audit_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_drivers.h"

struct audit_source {
    fam_source_kind kind;
    audit_sqlite *sqlite;
    audit_pg *pg;
    size_t nnames;
    const char *names[FAM_MAX_PARAMS]; /* distinct parameter names, numbered 1.. in this order */
};

void audit_value_deinit(audit_value *v)
{
    free(v->data);
    v->data = NULL;
    v->len = 0;
    v->row = false;
}

static size_t name_index(const audit_source *s, const char *name)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return s->nnames;
}

/* The audit_query with each :name replaced by <mark><number>, or NULL on
 * ENOMEM. Fills s->names. */
static char *rewrite(audit_source *s, const fam_family *f, char mark)
{
    const char *q = f->audit_query;
    size_t qlen = strlen(q);
    char *out = malloc(qlen + f->naudit_params * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, at = 0;
    for (size_t i = 0; i < f->naudit_params; i++) {
        const fam_audit_param *p = &f->audit_params[i];
        size_t k = name_index(s, p->name);
        if (k == s->nnames && s->nnames < FAM_MAX_PARAMS)
            s->names[s->nnames++] = p->name;
        memcpy(out + o, q + at, p->offset - at);
        o += p->offset - at;
        /* ":x" is at least 2 bytes and "$16" at most 3: room was reserved */
        o += (size_t)sprintf(out + o, "%c%zu", mark, k + 1);
        at = p->offset + p->len;
    }
    memcpy(out + o, q + at, qlen - at);
    out[o + qlen - at] = '\0';
    return out;
}

int audit_source_open(const fam_family *f, uint64_t connect_timeout_ms, uint64_t stmt_timeout_ms,
                      audit_source **out, char *err, size_t errlen)
{
    *out = NULL;
    if (f->source_kind == FAM_SOURCE_NONE || !f->audit_query) {
        snprintf(err, errlen, "family %s declares no source and audit_query", f->name);
        return SRC_EINVALID;
    }
    audit_source *s = calloc(1, sizeof(*s));
    if (!s)
        return SRC_ENOMEM;
    s->kind = f->source_kind;
    char *sql = rewrite(s, f, f->source_kind == FAM_SOURCE_SQLITE ? '?' : '$');
    if (!sql) {
        free(s);
        return SRC_ENOMEM;
    }
    int rc = f->source_kind == FAM_SOURCE_SQLITE
                 ? audit_sqlite_open(f->source_path, sql, s->nnames, stmt_timeout_ms, &s->sqlite, err, errlen)
                 : audit_pg_open(f->source, sql, s->nnames, connect_timeout_ms, stmt_timeout_ms, &s->pg, err, errlen);
    free(sql);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void audit_source_free(audit_source *s)
{
    if (!s)
        return;
    audit_sqlite_free(s->sqlite);
    audit_pg_free(s->pg);
    free(s);
}

int audit_source_query(audit_source *s, const fam_match *m, audit_value *out, char *why, size_t whylen)
{
    fam_span vals[FAM_MAX_PARAMS];
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->nnames; i++) {
        size_t k = 0;
        while (k < m->pattern->nparams && strcmp(m->pattern->params[k], s->names[i]) != 0)
            k++;
        if (k == m->pattern->nparams) {
            /* the parser makes every parameter a placeholder of every pattern */
            snprintf(why, whylen, "pattern '%s' has no placeholder {%s}", m->pattern->text, s->names[i]);
            return SRC_UNFIT;
        }
        vals[i] = m->params[k];
    }
    return s->sqlite ? audit_sqlite_query(s->sqlite, vals, s->nnames, out, why, whylen)
                     : audit_pg_query(s->pg, vals, s->nnames, out, why, whylen);
}

char *audit_source_describe(const fam_family *f)
{
    if (f->source_kind == FAM_SOURCE_SQLITE)
        return strdup(f->source);
    if (f->source_kind == FAM_SOURCE_POSTGRES)
        return audit_pg_describe(f->source);
    return strdup("(none)");
}
