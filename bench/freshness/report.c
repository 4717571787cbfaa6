/* The freshness benchmark's output (see report.h). */
#include "report.h"

#include <string.h>

static const frun_result *baseline(const frun_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].s->op == STRAT_NONE)
            return &res[i];
    return NULL;
}

static double per_million(const frun_result *r)
{
    return r->reads.reads ? (double)r->reads.stale * 1e6 / (double)r->reads.reads : 0;
}

static double qps(const frun_result *r)
{
    return r->seconds > 0 ? (double)r->loads / r->seconds : 0;
}

void frep_figures_of(const frun_result *res, size_t n, size_t i, frep_figures *f)
{
    const frun_result *r = &res[i], *b = baseline(res, n);
    long long looked = r->hits + r->misses;
    f->hit_rate = looked ? (double)r->hits / (double)looked : 0;
    f->stale_per_million = per_million(r);
    f->p99_ms = ck_stats_quantile_ms(&r->reads, 0.99);
    f->max_ms = ck_stats_quantile_ms(&r->reads, 1);
    f->db_qps = qps(r);
    f->commits_per_s = r->seconds > 0 ? (double)r->commits / r->seconds : 0;
    f->stale_ratio = b && per_million(b) > 0 ? f->stale_per_million / per_million(b) : -1;
    f->load_ratio = b && qps(b) > 0 ? f->db_qps / qps(b) : -1;
}

bool frep_leases_target_met(const frun_result *r, long long target_reads)
{
    return r->reads.stale_over == 0 && r->reads.reads >= target_reads && r->reads.bad == 0 && r->stale_keys == 0 &&
           r->reads.stale_after == 0;
}

void frep_workload(FILE *out, const fw_params *p, const char *db_name)
{
    fprintf(out,
            "%s: %d rows (%d%% of them take %d%% of reads and writes); %d writer threads commit %d versions/s "
            "(bursts of %d, %d us apart) and enqueue each invalidation after its COMMIT; %d reader threads do "
            "cache-aside, loads take the SELECT + %d us; TTL %d ms (jitter %d%%); one invq-worker; "
            "stale = older than the newest version committed before the read started\n",
            db_name, p->rows, p->hot_pct, p->hot_share, p->writers, p->write_rate, p->burst, p->burst_gap_us,
            p->readers, p->load_us, p->ttl_ms, p->jitter_pct);
}

static void ratio(char *buf, size_t len, double r)
{
    if (r < 0)
        snprintf(buf, len, "—");
    else
        snprintf(buf, len, r < 0.01 && r > 0 ? "%.4f" : "%.2f", r);
}

void frep_table(FILE *out, const fw_params *p, const frun_result *res, size_t n, long long target_reads)
{
    fprintf(out,
            "| strategy | reads | hit rate | stale reads per 10^6 | stale > %d ms after commit "
            "| stale after the row's invalidation | staleness p99 / max, ms | DB queries/s | stale ÷ TTL-only "
            "| DB queries ÷ TTL-only | rows stale after the drain | target |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
            p->threshold_ms);
    for (size_t i = 0; i < n; i++) {
        const frun_result *r = &res[i];
        frep_figures f;
        char sr[16], lr[16], after[24];
        const char *target = "";
        frep_figures_of(res, n, i, &f);
        ratio(sr, sizeof(sr), f.stale_ratio);
        ratio(lr, sizeof(lr), f.load_ratio);
        if (r->s->op == STRAT_NONE)
            snprintf(after, sizeof(after), "—");
        else
            snprintf(after, sizeof(after), "%lld", r->reads.stale_after);
        if (r->s->leases && !r->s->versioned && target_reads > 0)
            target = r->reads.reads < target_reads        ? "not judged: fewer reads than the target asks"
                     : frep_leases_target_met(r, target_reads) ? "0 stale > threshold: met"
                                                               : "0 stale > threshold: MISSED";
        else if (r->s->op == STRAT_NONE)
            target = "shows the stale window";
        fprintf(out, "| %s | %lld | %.4f | %.1f | %lld | %s | %.1f / %.1f | %.0f | %s | %s | %d of %d | %s |\n",
                r->s->label, r->reads.reads, f.hit_rate, f.stale_per_million, r->reads.stale_over, after, f.p99_ms,
                f.max_ms, f.db_qps, sr, lr, r->stale_keys, r->rows_checked, target);
    }
    for (size_t i = 0; i < n; i++) {
        const frun_result *r = &res[i];
        frep_figures f;
        frep_figures_of(res, n, i, &f);
        fprintf(out, "%s%s: %.1f s, %.0f commits/s, %lld invalidations seen", i == 0 ? "\n" : "; ", r->s->name,
                r->seconds, f.commits_per_s, r->invalidations_seen);
        if (r->s->leases)
            fprintf(out, ", %lld fills refused (stale sets prevented), %lld cache errors", r->fills_refused,
                    r->reader_errors);
        if (r->reads.bad)
            fprintf(out, ", %lld BAD VALUES", r->reads.bad);
    }
    fprintf(out, "\n");
}

void frep_json(FILE *out, const fw_params *p, const frun_result *res, size_t n, long long target_reads)
{
    for (size_t i = 0; i < n; i++) {
        const frun_result *r = &res[i];
        frep_figures f;
        frep_figures_of(res, n, i, &f);
        fprintf(out,
                "{\"db\": \"%s\", \"strategy\": \"%s\", \"label\": \"%s\", \"reads\": %lld, \"hits\": %lld, "
                "\"misses\": %lld, \"hit_rate\": %.6f, \"stale\": %lld, \"stale_per_million\": %.3f, "
                "\"threshold_ms\": %d, \"stale_over_threshold\": %lld, \"stale_after_invalidation\": %lld, "
                "\"invalidations_seen\": %lld, \"stale_p99_ms\": %.3f, \"stale_max_ms\": %.3f, "
                "\"db_loads\": %lld, \"db_qps\": %.1f, \"commits\": %lld, \"commits_per_s\": %.1f, \"seconds\": %.3f, "
                "\"stale_ratio_vs_ttl\": %.6f, \"load_ratio_vs_ttl\": %.6f, \"fills_refused\": %lld, "
                "\"reader_errors\": %lld, \"bad_values\": %lld, \"rows_checked\": %d, \"stale_rows_after_drain\": %d, "
                "\"ttl_ms\": %d, \"redo_ms\": %d, \"rows\": %d, \"readers\": %d, \"writers\": %d, "
                "\"target_reads\": %lld, \"target_met\": %s}\n",
                fdb_kind_name(r->db_kind), r->s->name, r->s->label, r->reads.reads, r->hits, r->misses, f.hit_rate,
                r->reads.stale, f.stale_per_million, p->threshold_ms, r->reads.stale_over, r->reads.stale_after,
                r->invalidations_seen, f.p99_ms, f.max_ms, r->loads,
                f.db_qps, r->commits, f.commits_per_s, r->seconds, f.stale_ratio, f.load_ratio, r->fills_refused,
                r->reader_errors, r->reads.bad, r->rows_checked, r->stale_keys, p->ttl_ms, p->redo_ms, p->rows,
                p->readers, p->writers, target_reads,
                !r->s->leases || r->s->versioned || target_reads == 0 || r->reads.reads < target_reads ? "null"
                : frep_leases_target_met(r, target_reads)                                            ? "true"
                                                                                                     : "false");
    }
}

void frep_demo(FILE *out, const fw_params *p, const frun_result *res, size_t n)
{
    char over[48];
    snprintf(over, sizeof(over), "stale > %d ms", p->threshold_ms);
    fprintf(out,
            "The same workload with each strategy, %.1f s each: %d reader threads read %d rows of %s through\n"
            "the cache (cache-aside) while %d writer threads commit %d new versions a second.\n",
            p->max_seconds, p->readers, p->rows, n ? fdb_kind_name(res[0].db_kind) : "", p->writers, p->write_rate);
    fprintf(out, "  %-24s %9s %12s %9s %14s %16s %14s\n", "", "reads", "stale reads", "stale %", over,
            "after its DEL", "max staleness");
    for (size_t i = 0; i < n; i++) {
        const frun_result *r = &res[i];
        frep_figures f;
        char after[24];
        frep_figures_of(res, n, i, &f);
        /* one line per strategy: the label in 24 columns, then the figures */
        const char *name = r->s->op == STRAT_NONE ? "TTL only" : r->s->leases && !r->s->versioned ? "invq (delete + leases)"
                                                                                                  : r->s->name;
        if (r->s->op == STRAT_NONE)
            snprintf(after, sizeof(after), "-");
        else
            snprintf(after, sizeof(after), "%lld", r->reads.stale_after);
        fprintf(out, "  %-24s %9lld %12lld %8.2f%% %14lld %16s %11.1f ms\n", name, r->reads.reads, r->reads.stale,
                f.stale_per_million / 1e4, r->reads.stale_over, after, f.max_ms);
    }
    fprintf(out,
            "  A read is stale when it returns a version older than the newest one committed before it began;\n"
            "  \"after its DEL\": stale although Redis had already executed the row's invalidation.\n"
            "  TTL only serves old rows until their TTL (%d ms here) runs out; with invq a read is stale only\n"
            "  while an invalidation is in flight, milliseconds after the commit.\n",
            p->ttl_ms);
}
