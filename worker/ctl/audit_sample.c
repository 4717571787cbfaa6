/* Bottom-k sampling of distinct keys by keyed hash (see audit_sample.h):
 * a max-heap of the k smallest priorities, and a hash set over the kept
 * keys so that a key offered again is recognised. */
#include "audit_sample.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

struct audit_sampler {
    size_t k;
    uint8_t seed[AUDIT_SEED_BYTES];
    audit_key **heap; /* max-heap by (prio, bytes); n entries */
    size_t n;
    audit_key **set;  /* open addressing on prio, linear probing; NULL = empty */
    size_t mask;
    audit_key **sorted;
};

audit_sampler *audit_sampler_new(size_t k, const uint8_t seed[AUDIT_SEED_BYTES])
{
    if (k == 0)
        return NULL;
    audit_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t cap = 8;
    while (cap < 2 * k + 2)
        cap *= 2;
    s->k = k;
    memcpy(s->seed, seed, AUDIT_SEED_BYTES);
    s->heap = calloc(k, sizeof(*s->heap));
    s->set = calloc(cap, sizeof(*s->set));
    s->mask = cap - 1;
    if (!s->heap || !s->set) {
        audit_sampler_free(s);
        return NULL;
    }
    return s;
}

void audit_sampler_free(audit_sampler *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->heap[i]);
    free(s->heap);
    free(s->set);
    free(s->sorted);
    free(s);
}

static uint64_t priority(const audit_sampler *s, const void *key, size_t len)
{
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, AUDIT_SEED_BYTES, s->seed);
    sha256_update(&h, len, key);
    sha256_digest(&h, sizeof(d), d);
    uint64_t p = 0;
    for (int i = 0; i < 8; i++)
        p = p << 8 | d[i];
    return p;
}

/* Order of priorities; equal hashes (2^-64 per pair) are ordered by bytes. */
static int cmp(uint64_t prio, const void *key, size_t len, const audit_key *b)
{
    if (prio != b->prio)
        return prio < b->prio ? -1 : 1;
    size_t m = len < b->len ? len : b->len;
    int c = memcmp(key, b->key, m);
    if (c)
        return c;
    return len < b->len ? -1 : len > b->len ? 1 : 0;
}

static int cmp_keys(const audit_key *a, const audit_key *b)
{
    return cmp(a->prio, a->key, a->len, b);
}

static bool set_has(const audit_sampler *s, uint64_t prio, const void *key, size_t len)
{
    for (size_t i = prio & s->mask; s->set[i]; i = (i + 1) & s->mask)
        if (cmp(prio, key, len, s->set[i]) == 0)
            return true;
    return false;
}

static void set_add(audit_sampler *s, audit_key *e)
{
    size_t i = e->prio & s->mask;
    while (s->set[i])
        i = (i + 1) & s->mask;
    s->set[i] = e;
}

/* Removes e (present), shifting later entries of its probe run back. */
static void set_remove(audit_sampler *s, const audit_key *e)
{
    size_t i = e->prio & s->mask;
    while (s->set[i] != e)
        i = (i + 1) & s->mask;
    s->set[i] = NULL;
    for (size_t j = (i + 1) & s->mask; s->set[j]; j = (j + 1) & s->mask) {
        size_t home = s->set[j]->prio & s->mask;
        /* the entry at j may move to i unless its home lies in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->set[i] = s->set[j];
            s->set[j] = NULL;
            i = j;
        }
    }
}

static void sift_up(audit_key **h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (cmp_keys(h[p], h[i]) >= 0)
            break;
        audit_key *t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static void sift_down(audit_key **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_keys(h[l], h[m]) > 0)
            m = l;
        if (r < n && cmp_keys(h[r], h[m]) > 0)
            m = r;
        if (m == i)
            return;
        audit_key *t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
}

int audit_sampler_offer(audit_sampler *s, const void *key, size_t len)
{
    uint64_t prio = priority(s, key, len);
    bool full = s->n == s->k;
    if (full && cmp(prio, key, len, s->heap[0]) >= 0)
        return 0; /* not among the k smallest (or the largest kept, again) */
    if (set_has(s, prio, key, len))
        return 0;
    audit_key *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return -ENOMEM;
    e->prio = prio;
    e->len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    if (full) {
        set_remove(s, s->heap[0]);
        free(s->heap[0]);
        s->heap[0] = e;
        sift_down(s->heap, s->n, 0);
    } else {
        s->heap[s->n] = e;
        sift_up(s->heap, s->n++);
    }
    set_add(s, e);
    return 0;
}

static int qsort_cmp(const void *a, const void *b)
{
    return cmp_keys(*(audit_key *const *)a, *(audit_key *const *)b);
}

audit_key *const *audit_sampler_keys(audit_sampler *s, size_t *n)
{
    free(s->sorted);
    s->sorted = malloc((s->n ? s->n : 1) * sizeof(*s->sorted));
    if (!s->sorted) {
        *n = 0;
        return NULL;
    }
    memcpy(s->sorted, s->heap, s->n * sizeof(*s->sorted));
    qsort(s->sorted, s->n, sizeof(*s->sorted), qsort_cmp);
    *n = s->n;
    return s->sorted;
}
