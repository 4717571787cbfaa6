/* The freshness benchmark's strategies: what a writer sends after its
 * COMMIT, and how a reader reads through the cache.
 *
 * | name   | writer, after COMMIT                 | reader                                  |
 * |--------|--------------------------------------|-----------------------------------------|
 * | ttl    | nothing (values age out by TTL)      | plain cache-aside: GET; miss: load, SET PX |
 * | del    | invq job: del item:<id>              | plain cache-aside                       |
 * | redo   | invq job: del item:<id>, redo_ms     | plain cache-aside                       |
 * | leases | invq job: del item:<id>              | invq_reader_get (lease-v1)              |
 * | bump   | invq job: bump ver:item:<id>         | invq_reader_get with the version key    |
 */
#ifndef INVQ_BENCH_FRESHNESS_STRATEGY_H
#define INVQ_BENCH_FRESHNESS_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <invq/invq.h>

#include "db.h"
#include "workload.h"

typedef enum strat_op {
    STRAT_NONE,
    STRAT_DEL,
    STRAT_DEL_REDO,
    STRAT_BUMP,
} strat_op;

typedef struct strategy {
    const char *name;  /* on the command line and in the JSON output */
    const char *label; /* in the tables */
    strat_op op;       /* what the writer sends */
    bool leases;       /* readers use invq_reader_get (else plain GET / SET PX) */
    bool versioned;    /* ... with the row's version key */
} strategy;

/* The five strategies in table order; *n is set to their number. */
const strategy *strat_all(size_t *n);
/* By name; NULL when there is none. */
const strategy *strat_find(const char *name);

/* The writer's side: sends the row's invalidation after its COMMIT returned
 * (nothing for ttl). Returns 0, or a negative invq code with a message. */
int strat_invalidate(const strategy *s, const fw_params *p, invq_producer *prod, int row, char *err, size_t errlen);

/* One reader thread of a strategy run. Its connections are borrowed (the
 * run opens and closes them); the counters are its own. */
typedef struct strat_reader {
    const strategy *s;
    const fw_params *p;
    fdb *db;             /* the thread's connection to the source of truth */
    redisContext *cache; /* plain readers: the thread's connection to the cache */
    invq_reader *reader; /* lease readers: the run's reader, shared by its threads */
    fw_rng rng;
    long long hits, misses, loads; /* plain readers' hits and misses; loads of every reader */
    char err[256];
} strat_reader;

/* Reads row `row` through the cache and returns the version the read
 * returned (-1: a value that is not a value of this row) in *version.
 * Returns 0, or -1 with a message in t->err. */
int strat_read(strat_reader *t, int row, long long *version);

/* The version cached for a row now (after the queue drained): 0 and
 * *version, 1 when the row has no value in the cache (absent, or a lease
 * marker), -1 with a message on a Redis error. */
int strat_cached_version(const strategy *s, redisContext *c, int row, long long *version, char *err, size_t errlen);

#endif
