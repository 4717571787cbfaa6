/* --take-linger-ms (worker/take.c): jobs that arrive one at a time a few
 * milliseconds apart share one take and one finish when the worker
 * lingers, where without it each is taken and finished on its own; every
 * one is applied and counted once (also for a Redis user that may not
 * LMOVE), the first is not held, a backlog (full batches) does not wait,
 * and a SIGTERM during a linger finishes the batch; a bad value is refused
 * by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wtest.h"

enum { NJOBS = 10, GAP_MS = 30 };

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/* NJOBS one-key jobs GAP_MS apart once the consumer waits in BLMOVE;
 * returns the batches the worker finished for them: each finish counts its
 * jobs with one HINCRBY stats done (plainly or in finish.lua), and nothing
 * else here sends one. */
static long long spaced_jobs(const char *linger_ms, const char *prefix, bool no_lmove, long long *script_takes)
{
    /* no_lmove: the worker's Redis user may not LMOVE (an older ACL) */
    static const char *const conf[] = { "user invq-w on >pw ~* +@all -lmove", NULL };
    rfix_opts qo = { .tcp = true, .conf_lines = conf };
    wt_pair p;
    const char *extra[] = { "--consumers", "1", "--take-linger-ms", linger_ms, NULL };
    wt_pair_start(&p, no_lmove ? &qo : NULL, NULL);
    char url[128];
    if (no_lmove)
        snprintf(url, sizeof url, "redis://invq-w:pw@%s", rfix_url(p.queue) + strlen("redis://"));
    else
        snprintf(url, sizeof url, "%s", rfix_url(p.queue));
    wt_proc *w = wt_worker_start(url, rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_for(wt_one_blocked, p.qc, WT_DEADLINE_MS), "the consumer never waited in BLMOVE");
    sleep_ms(20); /* the worker times the BLMOVE's wait from the reply ahead of it */
    long long before = wt_cmdstat_calls(p.qc, "hincrby"), lpush0 = wt_cmdstat_calls(p.qc, "lpush");
    for (int i = 0; i < NJOBS; i++) {
        wt_push_dels(p.qc, p.cc, prefix, i, i + 1);
        sleep_ms(GAP_MS);
    }
    WT_CHECK(wt_wait_stat(p.qc, "done", NJOBS, WT_DEADLINE_MS), "not all done (done=%lld)", wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    long long finishes = wt_cmdstat_calls(p.qc, "hincrby") - before;
    /* a take through fetch.lua or finish.lua LPUSHes onto processing; the
     * pushes here are the only other LPUSHes */
    *script_takes = wt_cmdstat_calls(p.qc, "lpush") - lpush0 - NJOBS;
    WT_CHECK(wt_stat(p.qc, "done") == NJOBS, "done=%lld, want %d", wt_stat(p.qc, "done"), NJOBS);
    WT_CHECK(wt_llen(p.qc, "invq:{default}:dead") == 0, "dead letters");
    const char *warned[] = { "the queue Redis refused LMOVE", "+lmove", NULL };
    int lines = wt_file_count(p.log, warned);
    WT_CHECK(lines == (no_lmove ? 1 : 0), "the LMOVE refusal was logged %d times", lines);
    wt_worker_stop(w);
    wt_pair_stop(&p);
    return finishes;
}

static void test_spaced(void)
{
    long long script_takes = 0;
    long long plain = spaced_jobs("0", "plain", false, &script_takes);
    long long lingered = spaced_jobs("1000", "linger", false, &script_takes);
    wt_note("%d jobs %d ms apart: %lld finishes without a linger, %lld with --take-linger-ms 1000", NJOBS, GAP_MS,
            plain, lingered);
    /* without it nearly every job is a batch of its own (a slow worker may
     * find two waiting now and then); with it the first job comes alone
     * with the BLMOVE, and the rest wait out its linger and come in one take */
    WT_CHECK(plain >= NJOBS / 2, "without a linger the jobs were not taken one by one (%lld finishes)", plain);
    WT_CHECK(lingered <= 3, "the linger did not gather the jobs (%lld finishes for %d jobs)", lingered, NJOBS);
    /* the few jobs found waiting after it came with a BLMOVE each, not
     * through fetch.lua or finish.lua (worker/take.c, TAKE_SERIES_MAX) */
    WT_CHECK(script_takes == 0, "the jobs found waiting after the linger were taken by %lld scripts", script_takes);
}

/* A Redis user without LMOVE: said once, the jobs found waiting after the
 * linger go through fetch.lua, and all are applied and counted once. */
static void test_lmove_refused(void)
{
    long long script_takes = 0;
    long long finishes = spaced_jobs("1000", "nolmove", true, &script_takes);
    wt_note("without LMOVE: %lld finishes, %lld takes through a script", finishes, script_takes);
    WT_CHECK(script_takes >= 1, "the waiting jobs were not taken through fetch.lua (%lld)", script_takes);
}

/* The first job after an idle spell is applied as it comes, not held. */
static void test_first_not_held(void)
{
    wt_pair p;
    const char *extra[] = { "--consumers", "1", "--take-linger-ms", "1000", NULL };
    wt_pair_start(&p, NULL, NULL);
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_for(wt_one_blocked, p.qc, WT_DEADLINE_MS), "the consumer never waited in BLMOVE");
    wt_push_dels(p.qc, p.cc, "first", 0, 1);
    WT_CHECK(wt_wait_gone(p.cc, "first:0", WT_DEADLINE_MS), "the job was not applied");
    /* applied, and its finish waits: still on the list, not yet counted */
    bool held = wt_stat(p.qc, "done") == 0 && wt_count_keys(p.qc, "invq:{default}:processing:*") == 1;
    /* SIGTERM during the linger: the batch is finished, the worker exits 0 */
    wt_worker_stop(w);
    WT_CHECK(wt_stat(p.qc, "done") == 1, "done=%lld after SIGTERM, want 1", wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained after SIGTERM");
    WT_CHECK(wt_count_keys(p.qc, "invq:{default}:processing:*") == 0, "a processing list was left");
    wt_note("first job applied at once, its finish %s when SIGTERM came", held ? "lingering" : "already sent");
    wt_pair_stop(&p);
}

/* A backlog fills every batch: none waits (ten lingers of 1 s would take
 * ten seconds; the drain must finish within a few). */
static void test_backlog_no_wait(void)
{
    enum { BACKLOG = 400 };
    wt_pair p;
    const char *extra[] = { "--consumers", "1", "--batch", "40", "--take-linger-ms", "1000", NULL };
    wt_pair_start(&p, NULL, NULL);
    wt_push_dels_bulk(p.qc, p.cc, "backlog", 0, BACKLOG);
    uint64_t t0 = wt_mono_ms();
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", BACKLOG, 5000), "the backlog waited (done=%lld after 5 s of %d)",
             wt_stat(p.qc, "done"), BACKLOG);
    wt_note("backlog of %d in batches of 40 drained in %llu ms", BACKLOG, (unsigned long long)(wt_mono_ms() - t0));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

static void test_bad_value(void)
{
    char out[4096], dir[] = "/tmp/invq-linger-XXXXXX";
    WT_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    const char *argv[] = { wt_worker_path(), "--queue-url", "redis://127.0.0.1:1", "--take-linger-ms", "1001", NULL };
    int code = wt_run_output(argv, dir, "bad", out, sizeof out);
    WT_CHECK(code == 64, "--take-linger-ms 1001 was not refused as a usage error (exit %d): %s", code, out);
    WT_CHECK(strstr(out, "take-linger-ms") != NULL, "the refusal does not name the flag: %s", out);
    char path[600];
    snprintf(path, sizeof path, "%s/bad.out", dir);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    wt_worker_path();
    test_spaced();
    wt_note("ok jobs a few ms apart share one take with --take-linger-ms");
    test_lmove_refused();
    wt_note("ok LMOVE refused: said once, the waiting jobs taken by fetch.lua");
    test_first_not_held();
    wt_note("ok the first job is not held; SIGTERM during a linger finishes the batch");
    test_backlog_no_wait();
    wt_note("ok a backlog does not wait");
    test_bad_value();
    wt_note("ok a bad --take-linger-ms is refused by name");
    return 0;
}
