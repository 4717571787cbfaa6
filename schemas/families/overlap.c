/* Exact overlap of two patterns (families-v1.md §7): two views claim a common
 * key exactly when they have as many segments and every pair of segments at
 * the same position has a common string, because segments are independent
 * (no segment holds ':'). Each segment language is a literal, a placeholder
 * between a literal prefix and suffix, or a data key's version "v<N>", and
 * every pair is decided directly, with an example string. */
#include <string.h>

#include "fam_internal.h"

#define SEG_OUT (2 * FAM_MAX_PATTERN_LEN + 32)

typedef struct out {
    char b[SEG_OUT];
    size_t n;
} out;

static void put(out *o, const void *s, size_t n)
{
    if (n > sizeof(o->b) - o->n)
        n = sizeof(o->b) - o->n;
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

/* One of a, b is a prefix of the other: the longer in *longer. */
static bool prefix_compatible(const uint8_t *a, size_t al, const uint8_t *b, size_t bl, const uint8_t **longer,
                              size_t *ll)
{
    size_t m = al < bl ? al : bl;
    if (m && memcmp(a, b, m) != 0)
        return false;
    *longer = al >= bl ? a : b;
    *ll = al >= bl ? al : bl;
    return true;
}

static bool suffix_compatible(const uint8_t *a, size_t al, const uint8_t *b, size_t bl, const uint8_t **longer,
                              size_t *ll)
{
    size_t m = al < bl ? al : bl;
    if (m && memcmp(a + al - m, b + bl - m, m) != 0)
        return false;
    *longer = al >= bl ? a : b;
    *ll = al >= bl ? al : bl;
    return true;
}

/* Does the literal segment s (n bytes) match placeholder segment g? */
static bool lit_in_ph(const uint8_t *s, size_t n, const fam_seg *g)
{
    return n > g->prelen + g->suflen && memcmp(s, g->pre, g->prelen) == 0 &&
           memcmp(s + n - g->suflen, g->suf, g->suflen) == 0;
}

/* A placeholder segment against the version segment: the candidates
 * "v" + S and "v1" + S (empty prefix), or prefix + "0"/"1" + S, are the
 * only shortest strings of the placeholder's language that can be a
 * version; trying them decides the intersection. */
static bool ph_and_ver(const fam_seg *g, out *o)
{
    static const char *const fills_noprefix[] = {"v", "v1", "v0"};
    static const char *const fills_prefix[] = {"0", "1"};
    uint8_t cand[SEG_OUT];
    size_t nf = g->prelen == 0 ? 3 : 2;
    for (size_t i = 0; i < nf; i++) {
        const char *fill = g->prelen == 0 ? fills_noprefix[i] : fills_prefix[i];
        size_t fl = strlen(fill), n = 0;
        if (g->prelen + fl + g->suflen > sizeof(cand))
            return false;
        memcpy(cand + n, g->pre, g->prelen);
        n += g->prelen;
        memcpy(cand + n, fill, fl);
        n += fl;
        memcpy(cand + n, g->suf, g->suflen);
        n += g->suflen;
        if (version_seg_parse(cand, n, NULL) && lit_in_ph(cand, n, g)) {
            put(o, cand, n);
            return true;
        }
    }
    return false;
}

static bool seg_inter(fam_seg x, fam_seg y, out *o)
{
    if (x.kind > y.kind) {
        fam_seg t = x;
        x = y;
        y = t;
    }
    const uint8_t *lp, *ls;
    size_t lpl, lsl;
    switch (x.kind * 3 + y.kind) {
    case SEG_LIT * 3 + SEG_LIT:
        if (x.prelen != y.prelen || (x.prelen && memcmp(x.pre, y.pre, x.prelen) != 0))
            return false;
        put(o, x.pre, x.prelen);
        return true;
    case SEG_LIT * 3 + SEG_PH:
        if (!lit_in_ph(x.pre, x.prelen, &y))
            return false;
        put(o, x.pre, x.prelen);
        return true;
    case SEG_LIT * 3 + SEG_VER:
        if (!version_seg_parse(x.pre, x.prelen, NULL))
            return false;
        put(o, x.pre, x.prelen);
        return true;
    case SEG_PH * 3 + SEG_PH:
        if (!prefix_compatible(x.pre, x.prelen, y.pre, y.prelen, &lp, &lpl) ||
            !suffix_compatible(x.suf, x.suflen, y.suf, y.suflen, &ls, &lsl))
            return false;
        put(o, lp, lpl);
        put(o, "x", 1);
        put(o, ls, lsl);
        return true;
    case SEG_PH * 3 + SEG_VER:
        return ph_and_ver(&x, o);
    default: /* SEG_VER * 3 + SEG_VER */
        put(o, "v0", 2);
        return true;
    }
}

bool views_overlap(fam_view a, fam_view b, char *witness, size_t wlen)
{
    size_t n = view_nsegs(a);
    if (n != view_nsegs(b))
        return false;
    out w;
    w.n = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put(&w, ":", 1);
        if (!seg_inter(view_seg(a, i), view_seg(b, i), &w))
            return false;
    }
    if (witness && wlen) {
        size_t k = w.n < wlen - 1 ? w.n : wlen - 1;
        memcpy(witness, w.b, k);
        witness[k] = '\0';
    }
    return true;
}

bool families_patterns_overlap(const fam_pattern *a, bool a_versioned, const fam_pattern *b, bool b_versioned,
                               char *witness, size_t wlen)
{
    fam_view va = {a, a_versioned}, vb = {b, b_versioned};
    return views_overlap(va, vb, witness, wlen);
}
