/* One strategy's run of the freshness workload: W writer threads commit and
 * invalidate, R reader threads read through the cache, the checker
 * classifies every read; then the queue drains and every row's cached
 * value is checked once more. */
#ifndef INVQ_BENCH_FRESHNESS_RUN_H
#define INVQ_BENCH_FRESHNESS_RUN_H

#include <hiredis/hiredis.h>

#include "checker.h"
#include "db.h"
#include "strategy.h"
#include "workload.h"

/* Where everything is (borrowed for the run). */
typedef struct frun_env {
    fdb_kind db_kind;
    const char *db_where;   /* SQLite file or libpq connection string */
    const char *queue_url;  /* the queue Redis (producers) */
    const char *cache_url;  /* the cache Redis (lease readers) */
    const char *cache_socket; /* ... its unix socket and database (plain readers) */
    int cache_db;
    redisContext *queue;    /* admin connections: the queue's database ... */
    redisContext *cache;    /* ... and the cache's */
} frun_env;

typedef struct frun_result {
    const strategy *s;
    fdb_kind db_kind;
    ck_stats reads;           /* the checker's counts over every read */
    long long hits, misses;   /* reads that found a value in the cache / did not */
    long long loads;          /* database reads by the readers */
    long long commits;        /* database writes */
    long long fills_refused;  /* lease readers: stale sets prevented */
    long long reader_errors;  /* lease readers: cache failures answered by the database */
    long long invalidations_seen; /* DELs / INCRs of the rows' keys the observer saw Redis execute */
    double seconds;           /* from the first read to the last */
    int rows_checked;         /* after the drain: rows with a cached value ... */
    int stale_keys;           /* ... of which older than the row */
} frun_result;

/* Runs strategy s with parameters p. Returns 0 and fills *out, or -1 with a
 * message (a database, Redis or invq error). */
int frun_strategy(const frun_env *env, const fw_params *p, const strategy *s, frun_result *out, char *err,
                  size_t errlen);

#endif
