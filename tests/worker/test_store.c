/* finish.lua's stored take (worker/README.md, "Finish"): while a backlog
 * drains, the next batch goes from pending to processing in one SORT ...
 * STORE and reaches the worker through an LRANGE, never read into Lua.
 * Every job is applied and counted once and the lists end empty; a job over
 * --max-payload inside a stored batch is refused by the reply limit and
 * moved aside when the list is returned, the rest applied; and a worker
 * whose Redis user may not run SORT says so once and drains the same
 * backlog through the script. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

enum { BACKLOG = 3000, BATCH = 256 };

/* A backlog drained by one consumer: SORT took most of it. */
static void test_stored(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    wt_push_dels_bulk(p.qc, p.cc, "st", 0, BACKLOG);
    const char *extra[] = { "--consumers", "1", "--batch", "256", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", BACKLOG, WT_DEADLINE_MS), "done=%lld of %d", wt_stat(p.qc, "done"), BACKLOG);
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "done") == BACKLOG, "done=%lld, want %d", wt_stat(p.qc, "done"), BACKLOG);
    /* the first take is fetch.lua's; each finish then stores the next batch
     * (two SORTs: the permission check, the move) */
    long long sorts = wt_cmdstat_calls(p.qc, "sort");
    WT_CHECK(sorts >= 2 * (BACKLOG / BATCH - 2), "%lld SORTs for %d batches: the stored take was not used", sorts,
             BACKLOG / BATCH);
    wt_note("%d jobs in batches of %d: %lld SORTs", BACKLOG, BATCH, sorts);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

#define BIG_LIMIT 65536

/* An oversized job deep in the backlog, so that a stored batch holds it. */
static void test_stored_oversized(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    wt_push_dels_bulk(p.qc, p.cc, "a", 0, 1500);
    uint8_t *big = wt_big_job("big", 2 * BIG_LIMIT);
    wt_push(p.qc, big, 2 * BIG_LIMIT);
    free(big);
    wt_push_dels_bulk(p.qc, p.cc, "b", 0, 1500);
    char limit[24];
    snprintf(limit, sizeof limit, "%d", BIG_LIMIT);
    const char *extra[] = { "--consumers", "1", "--batch", "256", "--max-payload", limit, NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_llen(p.qc, "invq:{default}:dead", 1, WT_DEADLINE_MS), "the oversized job was not dead-lettered");
    WT_CHECK(wt_wait_stat(p.qc, "done", 3000, WT_DEADLINE_MS), "good jobs: done %lld of 3000", wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "oversized") == 1, "stats oversized %lld", wt_stat(p.qc, "oversized"));
    WT_CHECK(wt_cmdstat_calls(p.qc, "sort") > 0, "no SORT: the batch was not stored");
    dead_record **recs;
    size_t n = wt_dead_records(p.qc, &recs);
    WT_CHECK(n == 1 && recs[0]->job_key != NULL && recs[0]->job_size == 2 * BIG_LIMIT &&
                 strncmp(recs[0]->reason, "too_large", 9) == 0,
             "the dead letter: %zu records, reason %s", n, n > 0 ? recs[0]->reason : "-");
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

/* INFO commandstats' rejected_calls of SORT on c (0 when never called). */
static long long sort_rejected(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    long long n = 0;
    const char *at = r != NULL && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_sort:") : NULL;
    const char *field = at != NULL ? strstr(at, "rejected_calls=") : NULL;
    if (field != NULL && field < strchr(at, '\n'))
        n = strtoll(field + strlen("rejected_calls="), NULL, 10);
    freeReplyObject(r);
    return n;
}

/* A queue user without SORT: one warning, one refused SORT (the consumer
 * stops asking), the same backlog drained. */
static void test_sort_refused(void)
{
    static const char *const conf[] = { "user invq-w on >pw ~* +@all -sort", NULL };
    rfix_opts qo = { .tcp = true, .conf_lines = conf };
    wt_pair p;
    wt_pair_start(&p, &qo, NULL);
    wt_push_dels_bulk(p.qc, p.cc, "rf", 0, BACKLOG);
    char url[128];
    snprintf(url, sizeof url, "redis://invq-w:pw@%s", rfix_url(p.queue) + strlen("redis://"));
    const char *extra[] = { "--consumers", "1", "--batch", "256", NULL };
    wt_proc *w = wt_worker_start(url, rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", BACKLOG, WT_DEADLINE_MS), "done=%lld of %d", wt_stat(p.qc, "done"), BACKLOG);
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "done") == BACKLOG && wt_llen(p.qc, "invq:{default}:dead") == 0, "done=%lld dead=%lld",
             wt_stat(p.qc, "done"), wt_llen(p.qc, "invq:{default}:dead"));
    const char *warned[] = { "the queue Redis refused SORT", "+sort", NULL };
    int lines = wt_file_count(p.log, warned);
    WT_CHECK(lines == 1, "the refusal was logged %d times, want once", lines);
    WT_CHECK(sort_rejected(p.qc) == 1, "SORT refused %lld times, want once", sort_rejected(p.qc));
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

/* Without arguments every part runs; "stored", "oversized" or "refused"
 * runs one. */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    wt_worker_path();
    if (only == NULL || strcmp(only, "stored") == 0) {
        test_stored();
        wt_note("ok a backlog drained through stored takes");
    }
    if (only == NULL || strcmp(only, "oversized") == 0) {
        test_stored_oversized();
        wt_note("ok an oversized job in a stored batch moved aside, the rest applied");
    }
    if (only == NULL || strcmp(only, "refused") == 0) {
        test_sort_refused();
        wt_note("ok SORT refused: said once, drained through the script");
    }
    return 0;
}
