/* One family's audit (see audit_run.h and worker/ctl/README.md): the
 * sample, the checks with their re-check after the grace period, and the
 * counts and examples of audit_result. */
#include "audit_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_source.h"
#include "families_cli.h"
#include "interrupt.h"

uint64_t audit_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Sleeps until monotonic time `us`; false when interrupted (SIGINT/SIGTERM). */
static bool sleep_until(uint64_t us)
{
    for (;;) {
        if (interrupt_requested())
            return false;
        uint64_t now = audit_now_us();
        if (now >= us)
            return true;
        uint64_t d = us - now;
        struct timespec ts = {(time_t)(d / 1000000), (long)(d % 1000000) * 1000};
        nanosleep(&ts, NULL); /* EINTR: look at the flag again */
    }
}

void audit_pacer_init(audit_pacer *p, uint64_t rate)
{
    p->rate = rate;
    p->next_us = 0;
}

static bool pace(audit_pacer *p)
{
    if (p->rate == 0)
        return !interrupt_requested();
    if (!sleep_until(p->next_us))
        return false;
    uint64_t now = audit_now_us(), start = p->next_us > now ? p->next_us : now;
    p->next_us = start + 1000000 / p->rate;
    return true;
}

/* ------------------------------------------------------------ the sample */

typedef struct scan_ctx {
    const families *fs;
    const fam_family *f;
    audit_sampler *sampler;
    uint64_t scanned;
} scan_ctx;

/* A key the SCAN returned: its family's logical key joins the sample. In a
 * versioned family values live only under data keys <key>:v<N>, and the
 * logical key <key> is what is sampled (each once, whatever its versions). */
static int on_key(const char *key, size_t len, void *data)
{
    scan_ctx *s = data;
    fam_match m;
    if (families_lookup(s->fs, key, len, &m) != s->f)
        return 0;
    if (s->f->version_key) {
        if (m.kind != FAM_KEY_VERSIONED)
            return 0;
        char suffix[32];
        size_t n = (size_t)snprintf(suffix, sizeof(suffix), ":v%lld", (long long)m.version);
        len -= n;
    } else if (m.kind != FAM_KEY_PLAIN) {
        return 0;
    }
    s->scanned++;
    return audit_sampler_offer(s->sampler, key, len) < 0 ? -ENOMEM : 0;
}

/* The globs to SCAN with: one per pattern (its data keys' glob in a
 * versioned family), without those another one covers. */
static size_t family_globs(const fam_family *f, char globs[][FAM_MAX_PATTERN_LEN * 2 + 8])
{
    size_t n = 0;
    for (size_t i = 0; i < f->nkeys; i++)
        if (families_pattern_glob(&f->keys[i], f->version_key != NULL, globs[n], sizeof(globs[n])) >= 0)
            n++;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool covered = false;
        for (size_t k = 0; k < n && !covered; k++) {
            bool same = strcmp(globs[k], globs[i]) == 0;
            covered = k != i && (same ? k < i : families_cli_glob_covers(globs[k], globs[i]));
        }
        if (!covered && o != i)
            memcpy(globs[o], globs[i], sizeof(globs[o]));
        o += !covered;
    }
    return o;
}

/* ------------------------------------------------------------ the checks */

typedef struct item {
    const audit_key *k; /* the logical key (owned by the sampler) */
    fam_match m;        /* its match; spans point into k->key */
    uint64_t due_us;    /* re-check: not before this time */
} item;

typedef struct run {
    audit_cache *c;
    const fam_family *f;
    const audit_opts *o;
    audit_pacer *pace;
    audit_result *r;
    audit_source *src;
} run;

static char *dup_or_null(const char *p, size_t n)
{
    if (!p)
        return NULL;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* Keeps an example of a stale, orphaned or unfit key (up to --examples). */
static void add_example(run *x, audit_outcome outcome, const audit_snap *s, const audit_value *v, const char *reason)
{
    audit_example **list = outcome == AUDIT_UNFIT ? &x->r->unfit : &x->r->examples;
    size_t *n = outcome == AUDIT_UNFIT ? &x->r->nunfit : &x->r->nexamples;
    if (*n >= x->o->examples)
        return;
    if (*n == 0 && !(*list = calloc(x->o->examples, sizeof(**list))))
        return;
    audit_example *e = &(*list)[*n];
    memset(e, 0, sizeof(*e));
    e->outcome = outcome;
    e->key = dup_or_null(s->key, s->keylen);
    e->keylen = s->keylen;
    e->cached_negative = s->kind == AUDIT_SNAP_NEGATIVE;
    if (s->kind == AUDIT_SNAP_DATA) {
        e->cached = dup_or_null(s->data, s->len);
        e->cachedlen = s->len;
    }
    if (v && v->row) {
        e->source_row = true;
        e->source = dup_or_null(v->data, v->len);
        e->sourcelen = v->len;
    }
    e->reason = reason ? strdup(reason) : NULL;
    (*n)++;
}

/* The cached value against the source's: a negative entry says "no row". */
static audit_outcome compare(const audit_snap *s, const audit_value *v)
{
    if (s->kind == AUDIT_SNAP_NEGATIVE)
        return v->row ? AUDIT_STALE : AUDIT_OK;
    if (!v->row)
        return AUDIT_ORPHAN;
    return s->len == v->len && (v->len == 0 || memcmp(s->data, v->data, v->len) == 0) ? AUDIT_OK : AUDIT_STALE;
}

static int source_code(int rc)
{
    return rc == SRC_EDOWN ? CTL_UNAVAILABLE : rc == SRC_ENOMEM ? CTL_SOFTWARE : CTL_DATAERR;
}

/* Skip reason for what a read found, or -1 when it holds a value to compare. */
static int skip_for(const audit_snap *s, bool recheck, bool versioned)
{
    switch (s->kind) {
    case AUDIT_SNAP_ABSENT:
        return recheck || !versioned ? AUDIT_SKIP_GONE : AUDIT_SKIP_OLD_VERSION;
    case AUDIT_SNAP_LEASE:
        return AUDIT_SKIP_LEASE;
    case AUDIT_SNAP_UNKNOWN:
        return AUDIT_SKIP_UNKNOWN_MARKER;
    case AUDIT_SNAP_WRONGTYPE:
        return AUDIT_SKIP_WRONG_TYPE;
    case AUDIT_SNAP_BADVERSION:
        return AUDIT_SKIP_BAD_VERSION;
    default:
        return -1;
    }
}

/* One check of one key: read the cache, query the source, read the cache
 * again. A key that changed between the two reads, or whose value differs
 * from the source, is re-checked later (*again) on the first pass and
 * counted on the second. Returns 0 or the family's failure code. */
static int check_key(run *x, item *it, bool recheck, bool *again)
{
    char err[1024];
    audit_snap s1, s2;
    audit_value v = {0};
    memset(&s2, 0, sizeof(s2));
    *again = false;
    if (!pace(x->pace)) {
        audit_result_fail(x->r, CTL_INTERRUPTED, "interrupted");
        return CTL_INTERRUPTED;
    }
    int rc = audit_cache_read(x->c, &it->m, it->k->key, it->k->len, &s1, err, sizeof(err));
    if (rc) {
        audit_result_fail(x->r, rc, "%s", err);
        return rc;
    }
    int skip = skip_for(&s1, recheck, x->f->version_key != NULL);
    if (skip >= 0) {
        x->r->skipped[skip]++;
        audit_snap_deinit(&s1);
        return 0;
    }
    rc = audit_source_query(x->src, &it->m, &v, err, sizeof(err));
    if (rc == SRC_UNFIT) {
        x->r->skipped[AUDIT_SKIP_UNFIT]++;
        add_example(x, AUDIT_UNFIT, &s1, NULL, err);
        audit_snap_deinit(&s1);
        return 0;
    }
    if (rc < 0) {
        audit_result_fail(x->r, source_code(rc), "source %s: %s", x->r->source, err);
        audit_snap_deinit(&s1);
        return x->r->error;
    }
    rc = audit_cache_read(x->c, &it->m, it->k->key, it->k->len, &s2, err, sizeof(err));
    if (rc) {
        audit_result_fail(x->r, rc, "%s", err);
    } else if (!audit_snap_same(&s1, &s2)) {
        /* an invalidation (or a fill) is in flight */
        if (recheck)
            x->r->skipped[AUDIT_SKIP_UNSETTLED]++;
        else
            *again = true;
    } else {
        audit_outcome out = compare(&s1, &v);
        if (out != AUDIT_OK && !recheck) {
            *again = true;
        } else {
            x->r->checked++;
            x->r->negative += s1.kind == AUDIT_SNAP_NEGATIVE;
            if (out == AUDIT_OK)
                x->r->ok++;
            else if (out == AUDIT_STALE)
                x->r->stale++;
            else
                x->r->orphan++;
            if (out != AUDIT_OK)
                add_example(x, out, &s1, &v, NULL);
        }
    }
    audit_snap_deinit(&s1);
    audit_snap_deinit(&s2);
    audit_value_deinit(&v);
    return rc;
}

static int check_all(run *x, item *items, size_t n)
{
    size_t nre = 0;
    for (size_t i = 0; i < n; i++) {
        bool again;
        int rc = check_key(x, &items[i], false, &again);
        if (rc)
            return rc;
        if (again) {
            items[i].due_us = audit_now_us() + x->o->grace_ms * 1000;
            items[nre++] = items[i]; /* nre <= i: the re-check list reuses the array */
        }
    }
    x->r->rechecked = nre;
    if (nre)
        fprintf(stderr, "invqctl: audit: family %s: re-checking %zu keys %.1fs after their first check\n",
                x->f->name, nre, (double)x->o->grace_ms / 1000);
    for (size_t i = 0; i < nre; i++) {
        bool again;
        if (!sleep_until(items[i].due_us)) {
            audit_result_fail(x->r, CTL_INTERRUPTED, "interrupted");
            return CTL_INTERRUPTED;
        }
        int rc = check_key(x, &items[i], true, &again);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ the family */

int audit_run_family(audit_cache *c, const families *fs, const fam_family *f, const audit_opts *o,
                     const uint8_t seed[AUDIT_SEED_BYTES], audit_pacer *pace, audit_result *r)
{
    uint64_t start = audit_now_us();
    char err[1024];
    audit_source *src = NULL;
    audit_sampler *sampler = NULL;
    item *items = NULL;
    if (!c->rc && !c->cs) {
        audit_result_fail(r, CTL_UNAVAILABLE, "cache redis %s unreachable", c->where);
        goto out;
    }
    int rc = audit_source_open(f, o->common->connect_timeout_ms, o->stmt_timeout_ms, &src, err, sizeof(err));
    if (rc < 0) {
        audit_result_fail(r, source_code(rc), "source %s: %s", r->source, err);
        goto out;
    }
    if (!(sampler = audit_sampler_new(o->sample, seed))) {
        audit_result_fail(r, CTL_SOFTWARE, "out of memory");
        goto out;
    }
    char globs[FAM_MAX_PATTERNS][FAM_MAX_PATTERN_LEN * 2 + 8];
    size_t nglobs = family_globs(f, globs);
    scan_ctx sc = {fs, f, sampler, 0};
    for (size_t i = 0; i < nglobs; i++) {
        rc = audit_cache_scan(c, globs[i], o->scan_count, on_key, &sc, err, sizeof(err));
        if (rc == -ENOMEM) {
            audit_result_fail(r, CTL_SOFTWARE, "out of memory");
            goto out;
        }
        if (rc) {
            audit_result_fail(r, rc, "%s", err);
            goto out;
        }
        if (interrupt_requested()) {
            audit_result_fail(r, CTL_INTERRUPTED, "interrupted");
            goto out;
        }
    }
    r->scanned = sc.scanned;
    size_t n = 0;
    audit_key *const *keys = audit_sampler_keys(sampler, &n);
    if (!keys || !(items = calloc(n ? n : 1, sizeof(*items)))) {
        audit_result_fail(r, CTL_SOFTWARE, "out of memory");
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        items[m].k = keys[i];
        /* the logical key of a sampled data key matches a pattern: PLAIN */
        if (families_lookup(fs, keys[i]->key, keys[i]->len, &items[m].m) == f && items[m].m.kind == FAM_KEY_PLAIN)
            m++;
    }
    r->sampled = m;
    run x = {c, f, o, pace, r, src};
    check_all(&x, items, m);
out:
    r->duration_s = (double)(audit_now_us() - start) / 1e6;
    free(items);
    audit_sampler_free(sampler);
    audit_source_free(src);
    return r->error;
}
