/* The plain finish of a small all-done batch (worker/take.c): jobs that
 * arrive one at a time are settled with HINCRBY stats + LTRIM processing
 * instead of finish.lua, every one applied and counted once, and without
 * asking LLEN pending while the queue is idle; and when the
 * stats hash refuses the HINCRBY (a field that is not a number) the job,
 * already applied, is trimmed, and its count is carried to the next
 * finish.lua, which holds it until the key is fixed: nothing lost, nothing
 * counted twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wtest.h"

/* Jobs pushed one at a time once the consumer waits in BLMOVE. */
static void test_one_at_a_time(void)
{
    enum { NJOBS = 20 };
    wt_pair p;
    const char *extra[] = { "--consumers", "1", NULL };
    wt_pair_start(&p, NULL, NULL);
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    int plain = 0;   /* jobs finished with no script run between their push and their count */
    int no_llen = 0; /* of those, finished without an LLEN (the BLMOVE had waited for them) */
    for (int i = 0; i < NJOBS; i++) {
        WT_CHECK(wt_wait_for(wt_one_blocked, p.qc, WT_DEADLINE_MS), "the consumer never waited in BLMOVE");
        /* Redis blocks the BLMOVE as soon as it reads it; the worker times
         * the wait from the reply ahead of it, which a slow worker (under
         * valgrind) may read only later: the push comes well after that */
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
        long long scripts = wt_cmdstat_calls(p.qc, "evalsha"), llens = wt_cmdstat_calls(p.qc, "llen");
        wt_push_dels(p.qc, p.cc, "one", i, i + 1);
        /* the finish's commands run in one go ahead of the BLMOVE: once
         * the count is in, so is its LLEN if it sent one */
        WT_CHECK(wt_wait_stat(p.qc, "done", i + 1, WT_DEADLINE_MS), "job %d not done (done=%lld)", i,
                 wt_stat(p.qc, "done"));
        if (wt_cmdstat_calls(p.qc, "evalsha") == scripts) {
            plain++;
            no_llen += wt_cmdstat_calls(p.qc, "llen") == llens;
        }
    }
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "done") == NJOBS, "done=%lld, want %d", wt_stat(p.qc, "done"), NJOBS);
    wt_note("%d jobs one at a time, %d finished without a script, %d of them without LLEN", NJOBS, plain, no_llen);
    /* (a BLMOVE timing out meanwhile runs fetch.lua: not every job counts) */
    WT_CHECK(plain >= NJOBS / 2, "the plain finish was not used (%d of %d jobs)", plain, NJOBS);
    /* only the first take of the run asks, before any BLMOVE has waited */
    WT_CHECK(no_llen >= plain - 1, "LLEN pending asked while the queue was idle (%d of %d plain finishes)",
             plain - no_llen, plain);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

/* stats.done not a number when a lone job is finished plainly. */
static void test_stats_refused(void)
{
    wt_pair p;
    const char *extra[] = { "--consumers", "1", NULL };
    wt_pair_start(&p, NULL, NULL);
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_for(wt_one_blocked, p.qc, WT_DEADLINE_MS), "the consumer never waited in BLMOVE");
    wt_cmd(p.qc, "HSET invq:{default}:stats done abc");
    wt_push_dels(p.qc, p.cc, "refused", 0, 1);
    WT_CHECK(wt_wait_gone(p.cc, "refused:0", WT_DEADLINE_MS), "the job was not applied");
    wt_cmd(p.qc, "HSET invq:{default}:stats done 0");
    WT_CHECK(wt_wait_stat(p.qc, "done", 1, WT_DEADLINE_MS), "the job was never counted (done=%lld)",
             wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    /* counted once: one more job makes it 2 */
    wt_push_dels(p.qc, p.cc, "refused", 1, 2);
    WT_CHECK(wt_wait_stat(p.qc, "done", 2, WT_DEADLINE_MS), "second job not done");
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    WT_CHECK(wt_stat(p.qc, "done") == 2, "done=%lld, want 2", wt_stat(p.qc, "done"));
    WT_CHECK(wt_llen(p.qc, "invq:{default}:dead") == 0, "dead letters");
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

int main(void)
{
    wt_worker_path();
    test_one_at_a_time();
    wt_note("ok jobs one at a time: settled plainly, each counted once");
    test_stats_refused();
    wt_note("ok stats refused the count: the job applied, counted once the key is fixed");
    return 0;
}
