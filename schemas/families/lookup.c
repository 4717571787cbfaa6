/* Loading a families file (read, parse, check, index) and looking keys up.
 * The index groups every view (plain keys, data keys, version keys) by the
 * literal first segment of its pattern in an open-addressing hash table;
 * views whose first segment holds a placeholder go to a short fallback
 * list. A look-up hashes the key's first segment once and compares the few
 * candidates in rank order; it never allocates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fam_internal.h"

/* ------------------------------------------------------------- the index */

static int entry_cmp(const void *x, const void *y)
{
    const fam_entry *a = x, *b = y;
    const fam_seg *sa = &a->view.pat->segs[0], *sb = &b->view.pat->segs[0];
    size_t m = sa->prelen < sb->prelen ? sa->prelen : sb->prelen;
    int c = m ? memcmp(sa->pre, sb->pre, m) : 0;
    if (c)
        return c;
    if (sa->prelen != sb->prelen)
        return sa->prelen < sb->prelen ? -1 : 1;
    if (a->fam->index != b->fam->index)
        return a->fam->index < b->fam->index ? -1 : 1;
    return a->rank < b->rank ? -1 : a->rank > b->rank;
}

static int rank_cmp(const void *x, const void *y)
{
    const fam_entry *a = x, *b = y;
    if (a->fam->index != b->fam->index)
        return a->fam->index < b->fam->index ? -1 : 1;
    return a->rank < b->rank ? -1 : a->rank > b->rank;
}

static bool same_first(const fam_entry *a, const fam_entry *b)
{
    const fam_seg *sa = &a->view.pat->segs[0], *sb = &b->view.pat->segs[0];
    return sa->prelen == sb->prelen && (sa->prelen == 0 || memcmp(sa->pre, sb->pre, sa->prelen) == 0);
}

int index_build(families *f)
{
    size_t total = 0;
    for (size_t i = 0; i < f->nfams; i++)
        total += f->fams[i].nkeys * (f->fams[i].version_key ? 2 : 1) + (f->fams[i].version_key ? 1 : 0);
    fam_entry *all = arena_alloc(&f->a, (total ? total : 1) * sizeof(*all));
    if (!all)
        return FAM_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < f->nfams; i++) {
        const fam_family *fm = &f->fams[i];
        uint32_t rank = 0;
        /* within a family: patterns in file order, then data keys, then the version key */
        for (size_t k = 0; k < fm->nkeys; k++)
            all[n++] = (fam_entry){fm, {&fm->keys[k], false}, k, FAM_KEY_PLAIN, rank++};
        if (fm->version_key) {
            for (size_t k = 0; k < fm->nkeys; k++)
                all[n++] = (fam_entry){fm, {&fm->keys[k], true}, k, FAM_KEY_VERSIONED, rank++};
            all[n++] = (fam_entry){fm, {fm->version_key, false}, 0, FAM_KEY_VERSION, rank++};
        }
    }
    /* literal first segments first, placeholders (the fallback) after */
    size_t nlit = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i].view.pat->segs[0].kind == SEG_LIT) {
            fam_entry t = all[nlit];
            all[nlit++] = all[i];
            all[i] = t;
        }
    qsort(all, nlit, sizeof(*all), entry_cmp);
    qsort(all + nlit, n - nlit, sizeof(*all), rank_cmp);
    f->entries = all;
    f->nentries = nlit;
    f->fallback = all + nlit;
    f->nfallback = n - nlit;

    size_t groups = 0;
    for (size_t i = 0; i < nlit; i++)
        groups += i == 0 || !same_first(&all[i - 1], &all[i]);
    size_t nb = 8;
    while (nb < groups * 2)
        nb *= 2;
    f->buckets = arena_alloc(&f->a, nb * sizeof(*f->buckets));
    if (!f->buckets)
        return FAM_ENOMEM;
    f->nbuckets = nb;
    for (size_t i = 0; i < nlit;) {
        const fam_seg *s = &all[i].view.pat->segs[0];
        size_t j = i + 1;
        while (j < nlit && same_first(&all[i], &all[j]))
            j++;
        uint64_t h = fam_hash(s->pre, s->prelen);
        size_t slot = (size_t)h & (nb - 1);
        while (f->buckets[slot].n)
            slot = (slot + 1) & (nb - 1);
        f->buckets[slot] = (fam_bucket){s->pre, s->prelen, h, (uint32_t)i, (uint32_t)(j - i)};
        i = j;
    }
    return 0;
}

static bool entry_better(const fam_entry *a, const fam_entry *b)
{
    return !b || a->fam->index < b->fam->index || (a->fam->index == b->fam->index && a->rank < b->rank);
}

const fam_family *families_lookup(const families *f, const void *key, size_t len, fam_match *m)
{
    static const uint8_t empty[1];
    const uint8_t *k = key ? key : empty;
    fam_span spans[FAM_MAX_PARAMS], best_spans[FAM_MAX_PARAMS];
    int64_t ver = 0, best_ver = 0;
    const fam_entry *best = NULL;
    if (!f)
        return NULL;
    const uint8_t *colon = len ? memchr(k, ':', len) : NULL;
    size_t l0 = colon ? (size_t)(colon - k) : len;
    uint64_t h = fam_hash(k, l0);
    size_t mask = f->nbuckets - 1;
    for (size_t slot = (size_t)h & mask; f->buckets[slot].n; slot = (slot + 1) & mask) {
        const fam_bucket *b = &f->buckets[slot];
        if (b->hash != h || b->len != l0 || (l0 && memcmp(b->key, k, l0) != 0))
            continue;
        for (uint32_t i = 0; i < b->n; i++) {
            const fam_entry *e = &f->entries[b->first + i];
            if (view_match(e->view, k, len, best_spans, &best_ver)) {
                best = e;
                break;
            }
        }
        break;
    }
    for (size_t i = 0; i < f->nfallback; i++) {
        const fam_entry *e = &f->fallback[i];
        if (!entry_better(e, best))
            break;
        if (view_match(e->view, k, len, spans, &ver)) {
            best = e;
            memcpy(best_spans, spans, e->view.pat->nparams * sizeof(*spans));
            best_ver = ver;
            break;
        }
    }
    if (best && m) {
        m->family = best->fam;
        m->kind = best->kind;
        m->pattern = best->view.pat;
        m->pattern_index = best->pattern_index;
        m->version = best->kind == FAM_KEY_VERSIONED ? best_ver : 0;
        m->nparams = best->view.pat->nparams;
        memcpy(m->params, best_spans, m->nparams * sizeof(*spans));
    }
    return best ? best->fam : NULL;
}

bool families_op_allowed(const fam_match *m, int op)
{
    if (!m || !m->family || op < FAM_OP_DEL || op > FAM_OP_EXPIRE)
        return false;
    if (!(m->family->ops & FAM_OP_BIT(op)))
        return false;
    return m->kind != FAM_KEY_VERSION || op == FAM_OP_BUMP;
}

unsigned families_key_ops(const fam_match *m)
{
    unsigned ops = 0;
    for (int op = FAM_OP_DEL; op <= FAM_OP_EXPIRE; op++)
        if (families_op_allowed(m, op))
            ops |= FAM_OP_BIT(op);
    return ops;
}

const char *families_op_name(int op)
{
    switch (op) {
    case FAM_OP_DEL: return "del";
    case FAM_OP_BUMP: return "bump";
    case FAM_OP_EXPIRE: return "expire";
    default: return NULL;
    }
}

const char *families_ops_text(unsigned ops, char *buf, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (int op = FAM_OP_DEL; op <= FAM_OP_EXPIRE; op++)
        if (ops & FAM_OP_BIT(op) && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", families_op_name(op));
    if (o == 0)
        snprintf(buf, len, "none");
    return buf;
}

const char *families_mode_name(fam_mode mode)
{
    switch (mode) {
    case FAM_MODE_OFF: return "off";
    case FAM_MODE_SHADOW: return "shadow";
    case FAM_MODE_ENFORCE: return "enforce";
    }
    return "?";
}

/* --------------------------------------------------------------- reading */

size_t families_count(const families *f)
{
    return f ? f->nfams : 0;
}

const fam_family *families_get(const families *f, size_t i)
{
    return f && i < f->nfams ? &f->fams[i] : NULL;
}

const fam_family *families_find(const families *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->nfams; i++)
        if (strcmp(f->fams[i].name, name) == 0)
            return &f->fams[i];
    return NULL;
}

size_t families_class_count(const families *f)
{
    return f ? f->nclasses : 0;
}

const fam_class *families_class_get(const families *f, size_t i)
{
    return f && i < f->nclasses ? &f->classes[i] : NULL;
}

const fam_class *families_class_find(const families *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->nclasses; i++)
        if (strcmp(f->classes[i].name, name) == 0)
            return &f->classes[i];
    return NULL;
}

const char *families_ns(const families *f)
{
    return f ? f->ns : NULL;
}

/* --------------------------------------------------------------- loading */

static int set_file(fam_problems *p, const char *name)
{
    free(p->file);
    p->file = strdup(name);
    return p->file ? 0 : FAM_ENOMEM;
}

int families_load_buffer(const char *text, size_t len, const char *name, const fam_load_opts *opts,
                         families **out, fam_problems *probs)
{
    fam_problems own;
    fam_problems *p = probs ? probs : &own;
    raw_file rf = {0};
    families *f = NULL;
    size_t before;
    int rc;

    if (out)
        *out = NULL;
    if (!probs)
        fam_problems_init(&own);
    if (!p->file && set_file(p, name ? name : "<buffer>") < 0) {
        rc = FAM_ENOMEM;
        goto done;
    }
    before = p->n;
    const char *ns = opts && opts->ns && *opts->ns ? opts->ns : FAM_DEFAULT_NS;
    if (!(f = calloc(1, sizeof(*f)))) {
        rc = FAM_ENOMEM;
        goto done;
    }
    arena_init(&f->a);
    if (!(f->ns = arena_strndup(&f->a, ns, strlen(ns)))) {
        rc = FAM_ENOMEM;
        goto done;
    }
    if (len > FAM_MAX_FILE) {
        prob_add(p, 0, "the file is over %u bytes", FAM_MAX_FILE);
        rc = FAM_EINVALID;
        goto done;
    }
    if ((rc = raw_read(text ? text : "", text ? len : 0, &rf, p)) < 0)
        goto done;
    if ((rc = build_families(f, &rf, p)) < 0)
        goto done;
    if (p->oom) {
        rc = FAM_ENOMEM;
        goto done;
    }
    if (p->n > before) {
        rc = FAM_EINVALID;
        goto done;
    }
    if ((rc = index_build(f)) < 0)
        goto done;
    if (out) {
        *out = f;
        f = NULL;
    }
    rc = 0;
done:
    raw_file_deinit(&rf);
    families_free(f);
    prob_sort(p);
    if (!probs)
        fam_problems_deinit(&own);
    return rc;
}

int families_load(const char *path, const fam_load_opts *opts, families **out, fam_problems *probs)
{
    if (out)
        *out = NULL;
    if (probs && !probs->file && set_file(probs, path ? path : "") < 0)
        return FAM_ENOMEM;
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) {
        prob_add(probs, 0, "cannot open: %s", path ? strerror(errno) : "no path");
        return FAM_EIO;
    }
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (len == cap) {
            if (cap > FAM_MAX_FILE)
                break; /* over the limit: families_load_buffer says so */
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (buf && ferror(fp)) {
        prob_add(probs, 0, "cannot read: %s", strerror(errno));
        rc = FAM_EIO;
    }
    fclose(fp);
    if (!buf)
        return FAM_ENOMEM;
    if (rc == 0)
        rc = families_load_buffer(buf, len, path, opts, out, probs);
    free(buf);
    return rc;
}

void families_free(families *f)
{
    if (!f)
        return;
    arena_deinit(&f->a);
    free(f);
}
