/* The freshness benchmark's workload: its parameters, which row a reader or
 * a writer picks, what a cached value looks like, and the clock. Every
 * strategy runs exactly this workload. */
#ifndef INVQ_BENCH_FRESHNESS_WORKLOAD_H
#define INVQ_BENCH_FRESHNESS_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_VALUE_MAX 160 /* bytes of a cached value, at most */

typedef struct fw_params {
    int rows;            /* rows in the table (ids 0 .. rows-1) */
    int hot_pct;         /* the hot set: the first hot_pct % of the rows ... */
    int hot_share;       /* ... takes hot_share % of the reads and of the writes */
    int readers;         /* reader threads */
    int writers;         /* writer threads; writer w owns the rows with id % writers == w */
    int write_rate;      /* commits per second, all writers together */
    int burst;           /* a writer commits the same row this many times in a row ... */
    int burst_gap_us;    /* ... this far apart (a second update while the first one's reloads run) */
    int ttl_ms;          /* TTL of cached values */
    int jitter_pct;      /* TTLs drawn from [ttl * (1 - jitter), ttl] */
    int load_us;         /* after its SELECT, a load waits this long: the rest of a query to a remote database */
    int redo_ms;         /* delete + redo: the second delete's delay */
    int threshold_ms;    /* a stale read "older than the threshold" started this long after the commit */
    long long reads;     /* reads per strategy (the run of a strategy ends after exactly this many) */
    double max_seconds;  /* ... or after this long, whichever comes first (0: no time bound) */
} fw_params;

/* The full run's parameters (10^7 reads per strategy). */
void fw_params_full(fw_params *p);
/* --quick: as full, 10^6 reads per strategy. */
void fw_params_quick(fw_params *p);
/* --smoke: tiny and short; invariants only (used by the bench_freshness test). */
void fw_params_smoke(fw_params *p);
/* --demo: a few seconds per strategy (worker/demo/run-demo.sh). */
void fw_params_demo(fw_params *p);

/* Checks the parameters; on failure returns -1 with a message naming the
 * parameter in err. */
int fw_params_check(const fw_params *p, char *err, size_t errlen);

/* A thread's random generator (xorshift64*): never 0. */
typedef struct fw_rng {
    uint64_t s;
} fw_rng;

void fw_rng_seed(fw_rng *r, uint64_t seed);
uint64_t fw_rng_next(fw_rng *r);
/* Uniform in [0, n). */
uint64_t fw_rng_below(fw_rng *r, uint64_t n);

/* A row for a reader: the hot set with probability hot_share %, else any row. */
int fw_pick_row(const fw_params *p, fw_rng *r);
/* A row owned by writer w, drawn the same way among that writer's rows. */
int fw_pick_owned_row(const fw_params *p, fw_rng *r, int w);

/* A TTL with jitter: uniform in [ttl * (1 - jitter/100), ttl], at least 1. */
uint64_t fw_ttl_ms(const fw_params *p, fw_rng *r);

/* The row's payload column for a version (NUL-terminated, < 64 bytes). */
void fw_payload(char *buf, size_t len, int row, long long version);

/* The cached value of a row: "item=<id> v=<version> <payload>". Returns its
 * length (< FW_VALUE_MAX). */
size_t fw_value_format(char *buf, int row, long long version, const char *payload);

/* Parses a cached value of row `row` (len bytes, not NUL-terminated).
 * Returns the version, or -1 when the value is not a value of this row. */
long long fw_value_parse(const void *val, size_t len, int row);

/* The cache key of a row, "item:<id>", and its version key "ver:item:<id>"
 * (versioned strategy). Return the length written (buf of 32 bytes). */
int fw_key(char *buf, size_t len, int row);
int fw_version_key(char *buf, size_t len, int row);

/* CLOCK_MONOTONIC in ns, the one clock of the benchmark. */
int64_t fw_now_ns(void);
void fw_sleep_us(long us);
/* Sleeps until the monotonic clock reaches t_ns (returns at once if past). */
void fw_sleep_until(int64_t t_ns);

#endif
