/* From raw sections to classes and families: every field's type and range
 * (families-v1.md §3, §4, §9), the version key and audit parameters against
 * the patterns, the reserved namespace, and the exact overlap checks of §7.
 * Every problem is recorded at its line; checks go on after a problem so a
 * file's problems are all reported at once, but a family with a problem is
 * left out of the checks between families. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fam_internal.h"

#define MAX_TEXT 1024u
#define MAX_OWNER 256u
#define MAX_QUERY 8192u
#define MAX_SOURCE 1024u

typedef struct ctx {
    families *f;
    fam_problems *probs;
} ctx;

/* A present, undamaged field. */
static const raw_value *field(const raw_section *s, int fld)
{
    const raw_value *v = &s->f[fld];
    return v->text && !v->damaged ? v : NULL;
}

static bool damaged(const raw_section *s, int fld)
{
    return s->f[fld].damaged;
}

static const char *text_field(ctx *c, const raw_section *s, int fld, size_t max)
{
    const raw_value *v = field(s, fld);
    if (!v)
        return NULL;
    if (v->len > max) {
        prob_add(c->probs, v->line, "%s is %zu bytes, the limit is %zu", raw_field_name(fld), v->len, max);
        return NULL;
    }
    return arena_strndup(&c->f->a, v->text, v->len);
}

static void duration_field(ctx *c, const raw_section *s, int fld, uint64_t *ms)
{
    char err[256];
    const raw_value *v = field(s, fld);
    if (v && value_duration(v->text, ms, err, sizeof(err)) < 0)
        prob_add(c->probs, v->line, "%s: %s", raw_field_name(fld), err);
}

static void build_class(ctx *c, const raw_section *s, fam_class *k)
{
    char err[256];
    k->name = arena_strndup(&c->f->a, s->name, strlen(s->name));
    k->line = s->line;
    k->lease_ttl_ms = FAM_DEFAULT_LEASE_TTL_MS;
    if (!field(s, FLD_TTL) && !damaged(s, FLD_TTL))
        prob_add(c->probs, s->line, "[class %s] has no 'ttl' (required: how long its data may stay cached)", s->name);
    duration_field(c, s, FLD_TTL, &k->ttl_ms);
    duration_field(c, s, FLD_NEGATIVE_TTL, &k->negative_ttl_ms);
    duration_field(c, s, FLD_LEASE_TTL, &k->lease_ttl_ms);
    const raw_value *v = field(s, FLD_JITTER);
    if (v && value_percent(v->text, &k->jitter_pct, err, sizeof(err)) < 0)
        prob_add(c->probs, v->line, "jitter: %s", err);
    k->description = text_field(c, s, FLD_DESCRIPTION, MAX_TEXT);
}

/* The patterns of `keys`, each with its own line. */
static void build_keys(ctx *c, const raw_section *s, fam_family *fm)
{
    const raw_value *v = field(s, FLD_KEYS);
    char err[320];
    if (!v) {
        if (!damaged(s, FLD_KEYS))
            prob_add(c->probs, s->line, "[family %s] has no 'keys' (required: its key patterns)", s->name);
        return;
    }
    fam_pattern *pats = arena_alloc(&c->f->a, FAM_MAX_PATTERNS * sizeof(*pats));
    if (!pats)
        return;
    size_t n = 0;
    for (size_t pos = 0;;) {
        size_t b = pos;
        while (b < v->len && (v->text[b] == ' ' || v->text[b] == '\t' || v->text[b] == '\n'))
            b++;
        size_t e = b;
        while (e < v->len && v->text[e] != ',')
            e++;
        size_t next = e;
        while (e > b && (v->text[e - 1] == ' ' || v->text[e - 1] == '\t' || v->text[e - 1] == '\n'))
            e--;
        int line = raw_value_line_at(v, b);
        if (e == b) {
            prob_add(c->probs, line, "keys: empty item (two commas in a row, or a comma at the end)");
        } else if (n == FAM_MAX_PATTERNS) {
            prob_add(c->probs, line, "keys: more than %d patterns", FAM_MAX_PATTERNS);
            break;
        } else if (pattern_parse(&c->f->a, v->text + b, e - b, &pats[n], err, sizeof(err)) < 0) {
            prob_add(c->probs, line, "keys: %s", err);
        } else {
            pats[n].line = line;
            for (size_t k = 0; k < n; k++)
                if (strcmp(pats[k].text, pats[n].text) == 0)
                    prob_add(c->probs, line, "keys: pattern '%s' is listed twice (line %d)", pats[n].text,
                             pats[k].line);
            n++;
        }
        if (next >= v->len)
            break;
        pos = next + 1;
    }
    fm->keys = pats;
    fm->nkeys = n;
}

static bool has_param(const fam_pattern *p, const char *name, size_t len, size_t *idx)
{
    for (size_t i = 0; i < p->nparams; i++)
        if (strlen(p->params[i]) == len && memcmp(p->params[i], name, len) == 0) {
            if (idx)
                *idx = i;
            return true;
        }
    return false;
}

static void build_version_key(ctx *c, const raw_section *s, fam_family *fm)
{
    const raw_value *v = field(s, FLD_VERSION_KEY);
    char err[320];
    if (!v)
        return;
    fam_pattern *vk = arena_alloc(&c->f->a, sizeof(*vk));
    if (!vk || pattern_parse(&c->f->a, v->text, v->len, vk, err, sizeof(err)) < 0) {
        prob_add(c->probs, v->line, "version_key: %s", vk ? err : "out of memory");
        return;
    }
    vk->line = v->line;
    for (size_t i = 0; i < vk->nparams; i++)
        for (size_t k = 0; k < fm->nkeys; k++)
            if (!has_param(&fm->keys[k], vk->params[i], strlen(vk->params[i]), NULL))
                prob_add(c->probs, v->line,
                         "version_key: placeholder {%s} is not in pattern '%s' (line %d): a key's version key is "
                         "built from that key's values",
                         vk->params[i], fm->keys[k].text, fm->keys[k].line);
    fm->version_key = vk;
}

typedef struct audit_scan {
    ctx *c;
    fam_family *fm;
    const raw_value *v;
    fam_audit_param *out;
    size_t n;
    size_t cap;
    bool failed;
} audit_scan;

static int on_audit_param(const sql_param *p, void *data)
{
    audit_scan *a = data;
    const char *name = a->v->text + p->offset + 1;
    size_t len = p->len - 1;
    int line = raw_value_line_at(a->v, p->offset);
    size_t idx = 0;
    for (size_t k = 0; k < a->fm->nkeys; k++)
        if (!has_param(&a->fm->keys[k], name, len, k == 0 ? &idx : NULL)) {
            prob_add(a->c->probs, line, "audit_query: parameter :%.*s is not a placeholder of pattern '%s' (line %d)",
                     (int)len, name, a->fm->keys[k].text, a->fm->keys[k].line);
            a->failed = true;
            return 0;
        }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        fam_audit_param *v = arena_alloc(&a->c->f->a, cap * sizeof(*v));
        if (!v)
            return 1; /* stop; the arena records the failure */
        if (a->n)
            memcpy(v, a->out, a->n * sizeof(*v));
        a->out = v;
        a->cap = cap;
    }
    a->out[a->n].offset = p->offset;
    a->out[a->n].len = p->len;
    a->out[a->n].placeholder = idx;
    a->out[a->n].name = a->fm->keys[0].params[idx];
    a->n++;
    return 0;
}

static void build_audit(ctx *c, const raw_section *s, fam_family *fm)
{
    const raw_value *src = field(s, FLD_SOURCE), *q = field(s, FLD_AUDIT_QUERY);
    char err[320];
    if (src && !q && !damaged(s, FLD_AUDIT_QUERY))
        prob_add(c->probs, src->line, "source without audit_query (the audit needs both)");
    if (q && !src && !damaged(s, FLD_SOURCE))
        prob_add(c->probs, q->line, "audit_query without source (the audit needs both)");
    if (src) {
        const char *path;
        size_t plen;
        if (src->len > MAX_SOURCE) {
            prob_add(c->probs, src->line, "source is %zu bytes, the limit is %u", src->len, MAX_SOURCE);
        } else if (value_source(src->text, &fm->source_kind, &path, &plen, err, sizeof(err)) < 0) {
            prob_add(c->probs, src->line, "source: %s", err);
        } else {
            fm->source = arena_strndup(&c->f->a, src->text, src->len);
            if (path)
                fm->source_path = arena_strndup(&c->f->a, path, plen);
        }
    }
    if (!q)
        return;
    if (q->len > MAX_QUERY) {
        prob_add(c->probs, q->line, "audit_query is %zu bytes, the limit is %u", q->len, MAX_QUERY);
        return;
    }
    fm->audit_query = arena_strndup(&c->f->a, q->text, q->len);
    if (fm->nkeys == 0)
        return; /* no pattern to check the parameters against */
    audit_scan a = {c, fm, q, NULL, 0, 0, false};
    int rc = sql_scan(q->text, q->len, on_audit_param, &a, err, sizeof(err));
    if (rc == -1)
        prob_add(c->probs, q->line, "audit_query: %s", err);
    if (rc != 0 || a.failed)
        return;
    if (a.n == 0) {
        prob_add(c->probs, q->line,
                 "audit_query uses no :parameter; select the row with the key's placeholders (e.g. :%s)",
                 fm->keys[0].nparams ? fm->keys[0].params[0] : "id");
    }
    fm->audit_params = a.out;
    fm->naudit_params = a.n;
}

static void build_family(ctx *c, const raw_section *s, fam_family *fm, size_t index)
{
    char err[320];
    fm->name = arena_strndup(&c->f->a, s->name, strlen(s->name));
    fm->index = index;
    fm->line = s->line;
    fm->ops = FAM_OPS_ALL;
    fm->mode = FAM_MODE_ENFORCE;
    build_keys(c, s, fm);
    build_version_key(c, s, fm);
    const raw_value *v = field(s, FLD_CLASS);
    if (!v && !damaged(s, FLD_CLASS)) {
        prob_add(c->probs, s->line, "[family %s] has no 'class' (required: its freshness class)", s->name);
    } else if (v) {
        for (size_t i = 0; i < c->f->nclasses; i++)
            if (strcmp(c->f->classes[i].name, v->text) == 0)
                fm->cls = &c->f->classes[i];
        if (!fm->cls)
            prob_add(c->probs, v->line, "class: there is no [class %.64s]", v->text);
    }
    fm->owner = text_field(c, s, FLD_OWNER, MAX_OWNER);
    fm->triggers = text_field(c, s, FLD_TRIGGERS, MAX_TEXT);
    fm->description = text_field(c, s, FLD_DESCRIPTION, MAX_TEXT);
    if ((v = field(s, FLD_OPS)) && value_ops(v->text, &fm->ops, err, sizeof(err)) < 0)
        prob_add(c->probs, v->line, "ops: %s", err);
    if ((v = field(s, FLD_MODE)) && value_mode(v->text, &fm->mode, err, sizeof(err)) < 0)
        prob_add(c->probs, v->line, "mode: %s", err);
    if ((v = field(s, FLD_RATE)) && value_rate(v->text, &fm->rate_keys, &fm->rate_period_ms, err, sizeof(err)) < 0)
        prob_add(c->probs, v->line, "rate: %s", err);
    build_audit(c, s, fm);
}

/* ------------------------------------------------------------ cross checks */

static void describe(fam_view v, bool is_version, char *buf, size_t len)
{
    if (is_version)
        snprintf(buf, len, "version_key '%s'", v.pat->text);
    else if (v.versioned)
        snprintf(buf, len, "data keys '%s:v<N>'", v.pat->text);
    else
        snprintf(buf, len, "pattern '%s'", v.pat->text);
}

static void check_reserved(ctx *c, fam_view v, bool is_version)
{
    const char *ns = c->f->ns;
    size_t nl = strlen(ns);
    uint8_t pre[FAM_MAX_PATTERN_LEN + 8];
    bool wild;
    size_t pl = view_literal_prefix(v, pre, sizeof(pre), &wild);
    bool under = pl >= nl + 1 && memcmp(pre, ns, nl) == 0 && pre[nl] == ':';
    bool begins = wild && pl <= nl + 1 && memcmp(pre, ns, pl < nl ? pl : nl) == 0 && (pl <= nl || pre[nl] == ':');
    if (!under && !begins)
        return;
    char what[600], shown[96];
    describe(v, is_version, what, sizeof(what));
    families_render_key(pre, pl, shown, sizeof(shown));
    if (under)
        prob_add(c->probs, v.pat->line, "%s: keys under '%s:' are reserved for the queue", what, ns);
    else
        prob_add(c->probs, v.pat->line,
                 "%s begins with %s%s%s, which does not rule out keys under the queue's reserved '%s:' (start "
                 "it with text that differs from '%s:')",
                 what, pl ? "'" : "a placeholder", pl ? shown : "", pl ? "'" : "", ns, ns);
    ((fam_pattern *)v.pat)->refused = true; /* it would overlap nearly everything */
}

static void check_own_version(ctx *c, fam_family *fm)
{
    char w[256], what[600];
    fam_view vk = {fm->version_key, false};
    for (size_t k = 0; k < fm->nkeys; k++)
        for (int ver = 0; ver < 2; ver++) {
            fam_view kv = {&fm->keys[k], ver == 1};
            if (!views_overlap(vk, kv, w, sizeof(w)))
                continue;
            char shown[300];
            families_render_key(w, strlen(w), shown, sizeof(shown));
            describe(kv, false, what, sizeof(what));
            prob_add(c->probs, fm->version_key->line,
                     "version_key '%s' claims keys that %s (line %d) also claims, e.g. '%s': a key cannot be both "
                     "data and its version",
                     fm->version_key->text, what, kv.pat->line, shown);
            return;
        }
}

/* The views of pattern k of a family (k == nkeys: its version key). */
static size_t views_of(const fam_family *fm, size_t k, fam_view out[2])
{
    if (k == fm->nkeys) {
        out[0] = (fam_view){fm->version_key, false};
        return 1;
    }
    out[0] = (fam_view){&fm->keys[k], false};
    out[1] = (fam_view){&fm->keys[k], true};
    return fm->version_key ? 2 : 1;
}

/* Pattern i of family a against pattern j of family b (i == a->nkeys: a's
 * version key): the first overlap of their views is reported on b's line. */
static void check_pattern_pair(ctx *c, const fam_family *a, size_t i, const fam_family *b, size_t j)
{
    char w[256], da[600], db[600], shown[300];
    fam_view va[2], vb[2];
    size_t nva = views_of(a, i, va), nvb = views_of(b, j, vb);
    for (size_t y = 0; y < nvb; y++)
        for (size_t x = 0; x < nva; x++) {
            if (va[x].pat->refused || vb[y].pat->refused || !views_overlap(va[x], vb[y], w, sizeof(w)))
                continue;
            describe(vb[y], j == b->nkeys, db, sizeof(db));
            describe(va[x], i == a->nkeys, da, sizeof(da));
            families_render_key(w, strlen(w), shown, sizeof(shown));
            prob_add(c->probs, vb[y].pat->line,
                     "family '%s' %s overlaps family '%s' %s (line %d): both claim '%s' (two families may not "
                     "claim the same key)",
                     b->name, db, a->name, da, va[x].pat->line, shown);
            return;
        }
}

/* A view with its literal prefix, for finding the pairs that may overlap. */
typedef struct pview {
    uint8_t *pre;
    size_t len;
    uint32_t fam;
    uint32_t pat; /* == nkeys: the version key */
} pview;

typedef struct ppair {
    uint32_t fa, pa, fb, pb; /* fa < fb */
} ppair;

static int pview_cmp(const void *x, const void *y)
{
    const pview *a = x, *b = y;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = m ? memcmp(a->pre, b->pre, m) : 0;
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

static int ppair_cmp(const void *x, const void *y)
{
    const ppair *a = x, *b = y;
    if (a->fb != b->fb)
        return a->fb < b->fb ? -1 : 1;
    if (a->fa != b->fa)
        return a->fa < b->fa ? -1 : 1;
    if (a->pb != b->pb)
        return a->pb < b->pb ? -1 : 1;
    return a->pa < b->pa ? -1 : a->pa > b->pa;
}

/* Every key a view claims starts with its literal prefix, so two views can
 * overlap only when one prefix begins the other. Sorted by prefix, the views
 * whose prefix begins with P follow P's view in one run: only those pairs
 * are checked exactly, in the order the problems are reported. */
static int check_overlaps(ctx *c)
{
    families *f = c->f;
    size_t nv = 0, np = 0, capp = 0;
    for (size_t i = 0; i < f->nfams; i++)
        nv += f->fams[i].nkeys * (f->fams[i].version_key ? 2 : 1) + (f->fams[i].version_key ? 1 : 0);
    pview *v = calloc(nv ? nv : 1, sizeof(*v));
    ppair *pairs = NULL;
    int rc = FAM_ENOMEM;
    if (!v)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < f->nfams; i++) {
        const fam_family *fm = &f->fams[i];
        for (size_t k = 0; k < fm->nkeys + (fm->version_key ? 1 : 0); k++) {
            fam_view views[2];
            size_t nvw = views_of(fm, k, views);
            for (size_t x = 0; x < nvw; x++) {
                uint8_t pre[FAM_MAX_PATTERN_LEN + 8];
                bool wild;
                size_t len = view_literal_prefix(views[x], pre, sizeof(pre), &wild);
                if (!(v[n].pre = malloc(len ? len : 1)))
                    goto out;
                memcpy(v[n].pre, pre, len);
                v[n].len = len;
                v[n].fam = (uint32_t)i;
                v[n].pat = (uint32_t)k;
                n++;
            }
        }
    }
    qsort(v, n, sizeof(*v), pview_cmp);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n && v[j].len >= v[i].len && memcmp(v[j].pre, v[i].pre, v[i].len) == 0; j++) {
            if (v[i].fam == v[j].fam)
                continue;
            if (np == capp) {
                size_t cap = capp ? capp * 2 : 64;
                ppair *t = realloc(pairs, cap * sizeof(*t));
                if (!t)
                    goto out;
                pairs = t;
                capp = cap;
            }
            const pview *a = v[i].fam < v[j].fam ? &v[i] : &v[j], *b = a == &v[i] ? &v[j] : &v[i];
            pairs[np++] = (ppair){a->fam, a->pat, b->fam, b->pat};
        }
    if (np)
        qsort(pairs, np, sizeof(*pairs), ppair_cmp);
    for (size_t i = 0; i < np; i++)
        if (i == 0 || ppair_cmp(&pairs[i - 1], &pairs[i]) != 0)
            check_pattern_pair(c, &f->fams[pairs[i].fa], pairs[i].pa, &f->fams[pairs[i].fb], pairs[i].pb);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].pre);
    free(v);
    free(pairs);
    return rc;
}

int build_families(families *f, const raw_file *rf, fam_problems *probs)
{
    size_t nc = 0, nf = 0;
    for (size_t i = 0; i < rf->n; i++)
        if (rf->v[i].kind == SEC_CLASS)
            nc++;
        else
            nf++;
    f->classes = arena_alloc(&f->a, (nc ? nc : 1) * sizeof(*f->classes));
    f->fams = arena_alloc(&f->a, (nf ? nf : 1) * sizeof(*f->fams));
    if (!f->classes || !f->fams)
        return FAM_ENOMEM;
    ctx c = {f, probs};
    for (size_t i = 0; i < rf->n; i++)
        if (rf->v[i].kind == SEC_CLASS)
            build_class(&c, &rf->v[i], &f->classes[f->nclasses++]);
    for (size_t i = 0; i < rf->n; i++)
        if (rf->v[i].kind == SEC_FAMILY) {
            build_family(&c, &rf->v[i], &f->fams[f->nfams], f->nfams);
            f->nfams++;
        }
    if (nf == 0)
        prob_add(probs, 0, "the file defines no [family] section");
    for (size_t i = 0; i < f->nfams; i++) {
        fam_family *fm = &f->fams[i];
        for (size_t k = 0; k < fm->nkeys; k++) {
            check_reserved(&c, (fam_view){&fm->keys[k], false}, false);
            if (fm->version_key)
                check_reserved(&c, (fam_view){&fm->keys[k], true}, false);
        }
        if (fm->version_key) {
            check_reserved(&c, (fam_view){fm->version_key, false}, true);
            check_own_version(&c, fm);
        }
    }
    if (check_overlaps(&c) < 0)
        return FAM_ENOMEM;
    return f->a.oom ? FAM_ENOMEM : 0;
}
