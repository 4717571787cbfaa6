/* The freshness benchmark's output: the Markdown table (one per database,
 * every strategy against the TTL-only baseline of the same run), one JSON
 * line per strategy, and the demo's short comparison. */
#ifndef INVQ_BENCH_FRESHNESS_REPORT_H
#define INVQ_BENCH_FRESHNESS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "run.h"
#include "workload.h"

/* The figures of one result, derived once. */
typedef struct frep_figures {
    double hit_rate;          /* hits / (hits + misses) */
    double stale_per_million; /* stale reads per 10^6 reads */
    double p99_ms, max_ms;    /* staleness of the stale reads */
    double db_qps;            /* database reads per second (loads) */
    double commits_per_s;
    double stale_ratio;       /* stale_per_million ÷ TTL-only's; < 0: no baseline */
    double load_ratio;        /* db_qps ÷ TTL-only's; < 0: no baseline */
} frep_figures;

/* res[0..n) of one database; the TTL-only result among them (if any) is
 * the baseline of the ratios. */
void frep_figures_of(const frun_result *res, size_t n, size_t i, frep_figures *f);

/* The workload in one sentence. */
void frep_workload(FILE *out, const fw_params *p, const char *db_name);

/* The Markdown table of one database's results; target_reads: the reads
 * the leases target asks for (10^7 full, 10^6 quick; 0: none). */
void frep_table(FILE *out, const fw_params *p, const frun_result *res, size_t n, long long target_reads);

/* One JSON object per line and result. */
void frep_json(FILE *out, const fw_params *p, const frun_result *res, size_t n, long long target_reads);

/* The demo's comparison: TTL only against invq (delete + leases). */
void frep_demo(FILE *out, const fw_params *p, const frun_result *res, size_t n);

/* Whether delete + leases met its target in res: no stale read older than
 * the threshold, in at least target_reads reads. */
bool frep_leases_target_met(const frun_result *r, long long target_reads);

#endif
