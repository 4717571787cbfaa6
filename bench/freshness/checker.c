/* The freshness checker (see checker.h). Per row, append-only logs with one
 * writing thread each — the commit time of every version, and the bounds of
 * every invalidation — in chunks that double in size, published to readers
 * by their count (release/acquire), so classifying a read takes no lock. */
#include "checker.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define CK_CHUNK0 64 /* entries of the first chunk; chunk i holds CK_CHUNK0 << i */
#define CK_CHUNKS 20 /* about 6.7 x 10^7 entries per log */
#define NOT_YET INT64_MAX

/* An append-only log of int64 values with one writer. */
typedef struct ck_log {
    atomic_llong count; /* entries published */
    _Atomic int64_t *_Atomic chunk[CK_CHUNKS];
} ck_log;

typedef struct ck_row {
    atomic_llong pending; /* the version being written (readers may already see it) */
    ck_log commits;       /* entry v - 1: when version v's COMMIT returned; count: the newest such v */
    ck_log inval_after;   /* invalidations: a time before each ... */
    ck_log inval_before;  /* ... and a time after it (NOT_YET until known) */
} ck_row;

struct checker {
    int rows;
    int64_t start_ns; /* commit time of version 0 */
    int64_t threshold_ns;
    ck_row *row;
};

static bool slot(long long i, int *c, long long *off)
{
    unsigned long long u = (unsigned long long)i / CK_CHUNK0 + 1;
    int k = 0;
    while (u >>= 1)
        k++;
    if (k >= CK_CHUNKS)
        return false;
    *c = k;
    *off = i - (long long)CK_CHUNK0 * ((1ll << k) - 1);
    return true;
}

/* The writer's entry i (== the count, or below it), its chunk allocated on
 * first use; NULL when the log is full or out of memory. */
static _Atomic int64_t *log_entry_w(ck_log *l, long long i)
{
    int c;
    long long off;
    if (!slot(i, &c, &off))
        return NULL;
    _Atomic int64_t *chunk = atomic_load_explicit(&l->chunk[c], memory_order_relaxed);
    if (chunk == NULL) {
        chunk = malloc(sizeof(*chunk) * ((size_t)CK_CHUNK0 << c));
        if (chunk == NULL)
            return NULL;
        atomic_store_explicit(&l->chunk[c], chunk, memory_order_relaxed);
    }
    return &chunk[off];
}

/* A published entry (i < the count loaded with acquire: its chunk exists). */
static const _Atomic int64_t *log_entry(const ck_log *l, long long i)
{
    int c = 0;
    long long off = 0;
    slot(i, &c, &off);
    return &atomic_load_explicit(&l->chunk[c], memory_order_relaxed)[off];
}

static int64_t log_get(const ck_log *l, long long i)
{
    return atomic_load_explicit(log_entry(l, i), memory_order_relaxed);
}

static long long log_count(const ck_log *l)
{
    return atomic_load_explicit(&l->count, memory_order_acquire);
}

static void log_free(ck_log *l)
{
    for (int i = 0; i < CK_CHUNKS; i++)
        free((void *)atomic_load_explicit(&l->chunk[i], memory_order_relaxed));
}

checker *ck_new(int rows, int64_t start_ns, int threshold_ms)
{
    checker *ck = calloc(1, sizeof(*ck));
    if (ck == NULL)
        return NULL;
    ck->row = calloc((size_t)rows, sizeof(*ck->row));
    if (ck->row == NULL) {
        free(ck);
        return NULL;
    }
    ck->rows = rows;
    ck->start_ns = start_ns;
    ck->threshold_ns = (int64_t)threshold_ms * 1000000;
    return ck;
}

void ck_free(checker *ck)
{
    if (ck == NULL)
        return;
    for (int r = 0; r < ck->rows; r++) {
        log_free(&ck->row[r].commits);
        log_free(&ck->row[r].inval_after);
        log_free(&ck->row[r].inval_before);
    }
    free(ck->row);
    free(ck);
}

long long ck_next_version(const checker *ck, int row)
{
    return atomic_load_explicit(&ck->row[row].commits.count, memory_order_relaxed) + 1;
}

void ck_begin(checker *ck, int row, long long v)
{
    atomic_store_explicit(&ck->row[row].pending, v, memory_order_release);
}

int ck_commit(checker *ck, int row, long long v, int64_t commit_ns)
{
    ck_log *l = &ck->row[row].commits;
    _Atomic int64_t *e = log_entry_w(l, v - 1);
    if (e == NULL)
        return -1;
    atomic_store_explicit(e, commit_ns, memory_order_relaxed);
    atomic_store_explicit(&l->count, v, memory_order_release); /* publishes the entry with the version */
    return 0;
}

int ck_invalidated(checker *ck, int row, int64_t after_ns)
{
    ck_row *r = &ck->row[row];
    long long i = atomic_load_explicit(&r->inval_after.count, memory_order_relaxed);
    _Atomic int64_t *after = log_entry_w(&r->inval_after, i);
    _Atomic int64_t *before = log_entry_w(&r->inval_before, i);
    if (after == NULL || before == NULL)
        return -1;
    atomic_store_explicit(after, after_ns, memory_order_relaxed);
    atomic_store_explicit(before, NOT_YET, memory_order_relaxed);
    atomic_store_explicit(&r->inval_after.count, i + 1, memory_order_release);
    /* taken once the entry is visible: a reader that did not see it yet
     * started before this time, so it could not count it anyway */
    atomic_store_explicit(before, fw_now_ns(), memory_order_release);
    return 0;
}

long long ck_latest(const checker *ck, int row)
{
    return log_count(&ck->row[row].commits);
}

/* Commit time of version v <= latest (the caller loaded latest with acquire). */
static int64_t commit_time(const checker *ck, int row, long long v)
{
    return v == 0 ? ck->start_ns : log_get(&ck->row[row].commits, v - 1);
}

/* Whether an invalidation of the row surely executed after `after` and
 * surely before `before`. The invalidations' lower bounds only grow, so the
 * first one past `after` has the earliest upper bound of those past it. */
static bool invalidated_between(const checker *ck, int row, int64_t after, int64_t before)
{
    const ck_row *r = &ck->row[row];
    long long n = log_count(&r->inval_after), lo = 0, hi = n;
    while (lo < hi) {
        long long mid = lo + (hi - lo) / 2;
        if (log_get(&r->inval_after, mid) > after)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == n)
        return false;
    return atomic_load_explicit(log_entry(&r->inval_before, lo), memory_order_acquire) < before;
}

static int bucket(int64_t us)
{
    if (us < 128)
        return us < 0 ? 0 : (int)us;
    int e = 63 - __builtin_clzll((unsigned long long)us); /* >= 7 */
    int b = 128 + (e - 7) * CK_HIST_SUB + (int)((us >> (e - 6)) - CK_HIST_SUB);
    return b < CK_HIST_BUCKETS ? b : CK_HIST_BUCKETS - 1;
}

static int64_t bucket_upper_us(int b)
{
    if (b < 128)
        return b;
    int e = (b - 128) / CK_HIST_SUB + 7;
    int64_t sub = (b - 128) % CK_HIST_SUB;
    return ((CK_HIST_SUB + sub + 1) << (e - 6)) - 1;
}

bool ck_classify(const checker *ck, int row, long long x, int64_t start_ns, ck_stats *st)
{
    long long latest = ck_latest(ck, row);
    long long pending = atomic_load_explicit(&ck->row[row].pending, memory_order_acquire);
    st->reads++;
    if (x < 0 || x > pending) {
        st->bad++;
        return false;
    }
    if (x >= latest)
        return false;
    int64_t made_stale = commit_time(ck, row, x + 1);
    if (made_stale >= start_ns)
        return false; /* x + 1 committed after the read started: x was current */
    int64_t age_ns = start_ns - made_stale;
    int64_t us = age_ns / 1000;
    st->stale++;
    if (age_ns > ck->threshold_ns)
        st->stale_over++;
    if (invalidated_between(ck, row, made_stale, start_ns))
        st->stale_after++;
    if (us > st->max_stale_us)
        st->max_stale_us = us;
    st->hist[bucket(us)]++;
    return true;
}

void ck_stats_add(ck_stats *st, const ck_stats *add)
{
    st->reads += add->reads;
    st->stale += add->stale;
    st->stale_over += add->stale_over;
    st->stale_after += add->stale_after;
    st->bad += add->bad;
    if (add->max_stale_us > st->max_stale_us)
        st->max_stale_us = add->max_stale_us;
    for (int b = 0; b < CK_HIST_BUCKETS; b++)
        st->hist[b] += add->hist[b];
}

double ck_stats_quantile_ms(const ck_stats *st, double q)
{
    if (st->stale == 0)
        return 0;
    if (q >= 1)
        return (double)st->max_stale_us / 1000.0;
    double want = q * (double)st->stale;
    long long rank = (long long)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    long long seen = 0;
    for (int b = 0; b < CK_HIST_BUCKETS; b++) {
        seen += st->hist[b];
        if (seen >= rank) {
            int64_t up = bucket_upper_us(b);
            return (double)(up < st->max_stale_us ? up : st->max_stale_us) / 1000.0;
        }
    }
    return (double)st->max_stale_us / 1000.0;
}
