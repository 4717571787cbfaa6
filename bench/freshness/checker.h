/* The freshness checker: it knows every commit's version and the time its
 * COMMIT returned, and classifies each read as fresh or stale, and a stale
 * read by how long after the commit that made it stale it started.
 *
 * Definition (bench/README.md, "Freshness"): a read of row k that started
 * at time t and returned version x is stale when a version newer than x had
 * been committed before t (its COMMIT had returned). The commit that made x
 * stale is x + 1's; the read's staleness is t − commit_time(x + 1).
 *
 * A stale read is also "after the invalidation" when the row's cache key
 * had been invalidated (a DEL of the key, or an INCR of its version key,
 * executed by Redis) after x + 1's COMMIT returned and before the read
 * started: the read returned a value that an applied invalidation should
 * have removed, i.e. a stale set. This needs no timing assumption: the
 * observer (observer.c) reports each invalidation with a time known to
 * precede it and records, right after, a time known to follow it.
 *
 * Each row has one writer (rows are partitioned among writers), so a row's
 * versions are committed in order by one thread: the writer calls
 * ck_begin() before it writes version v, ck_commit() when COMMIT returned.
 * The observer (one thread) calls ck_invalidated(). Readers call
 * ck_classify() after their read. All of them are lock-free. */
#ifndef INVQ_BENCH_FRESHNESS_CHECKER_H
#define INVQ_BENCH_FRESHNESS_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

/* A log-linear histogram of staleness in µs: buckets of 1/64 of a power of
 * two (under 1.6 % wide) from 128 µs up, exact below. */
#define CK_HIST_SUB 64
#define CK_HIST_BUCKETS (128 + 48 * CK_HIST_SUB)

/* One thread's counters (no sharing: each reader has its own, merged at the
 * end with ck_stats_add()). */
typedef struct ck_stats {
    long long reads;
    long long stale;         /* stale reads */
    long long stale_over;    /* ... that started more than the threshold after the commit */
    long long stale_after;   /* ... that started after an invalidation of the row applied after the commit */
    long long bad;           /* values that are not a version of the row ever written (a bug) */
    int64_t max_stale_us;
    long long hist[CK_HIST_BUCKETS];
} ck_stats;

typedef struct checker checker;

/* A checker for `rows` rows, each at version 0 committed at time start_ns,
 * with the given threshold. Returns NULL when out of memory. Free with
 * ck_free(). */
checker *ck_new(int rows, int64_t start_ns, int threshold_ms);
void ck_free(checker *ck);

/* Writer side (the row's one writer). Returns the version to write next. */
long long ck_next_version(const checker *ck, int row);
/* Version v is about to be written (reads may see it from now on). */
void ck_begin(checker *ck, int row, long long v);
/* Version v's COMMIT returned at commit_ns. Returns 0, or -1 when the row's
 * commit log is full (about 6.7 x 10^7 versions per row). */
int ck_commit(checker *ck, int row, long long v, int64_t commit_ns);

/* Observer side (one thread): an invalidation of the row's cache key was
 * executed by Redis after after_ns. Records it, then the time it returns
 * as a bound the invalidation precedes. Returns 0, or -1 when the row's
 * log is full. after_ns must not decrease from one call to the next. */
int ck_invalidated(checker *ck, int row, int64_t after_ns);

/* The newest version of a row whose COMMIT returned. */
long long ck_latest(const checker *ck, int row);

/* Reader side: a read of row `row` that started at start_ns returned version
 * x (-1: a value that is not one of this row's). Counts it in st. Returns
 * true when the read was stale. */
bool ck_classify(const checker *ck, int row, long long x, int64_t start_ns, ck_stats *st);

/* st += add */
void ck_stats_add(ck_stats *st, const ck_stats *add);
/* The q-quantile (0 < q <= 1) of the stale reads' staleness in ms (upper
 * bound of its bucket, exact max for q = 1); 0 without stale reads. */
double ck_stats_quantile_ms(const ck_stats *st, double q);

#endif
