/* invq-worker applies jobs: del removes keys, bump INCRs version keys,
 * expire shortens TTLs and never lengthens them, and 1000 jobs on the same
 * 10 keys are coalesced into a handful of DEL commands; --unlink sends
 * UNLINK instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

static void test_del_bump_expire(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512];
    const char *del_keys[] = {"user:1", "user:2", "user:3", "user:absent"};
    const char *bump_keys[] = {"ver:1", "ver:2", "ver:new"};
    const char *exp_keys[] = {"ttl:long", "ttl:short", "ttl:none"};
    wt_proc *w;

    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);
    wt_cmd(c, "MSET user:1 a user:2 b user:3 c user:4 keep ver:1 10 ver:2 41");
    wt_cmd(c, "SET ttl:long x PX 600000");
    wt_cmd(c, "SET ttl:short x PX 8000");
    wt_cmd(c, "SET ttl:none x");

    wt_push1(c, "del-1", JOB_OP_DEL, del_keys, 4, 0);
    wt_push1(c, "bump-1", JOB_OP_BUMP, bump_keys, 3, 0);
    wt_push1(c, "expire-1", JOB_OP_EXPIRE, exp_keys, 3, 20000);

    w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(c, "done", 3, WT_DEADLINE_MS), "stats done never reached 3 (done=%lld)",
             wt_stat(c, "done"));

    WT_CHECK(wt_exists(c, "user:1") == 0 && wt_exists(c, "user:2") == 0 && wt_exists(c, "user:3") == 0,
             "deleted keys still exist");
    WT_CHECK(wt_exists(c, "user:4") == 1, "a key no job named was deleted");
    WT_CHECK(wt_get_int(c, "ver:1") == 11, "ver:1 = %lld, want 11", wt_get_int(c, "ver:1"));
    WT_CHECK(wt_get_int(c, "ver:2") == 42, "ver:2 = %lld, want 42", wt_get_int(c, "ver:2"));
    WT_CHECK(wt_get_int(c, "ver:new") == 1, "ver:new = %lld, want 1", wt_get_int(c, "ver:new"));
    {
        long long l = wt_pttl(c, "ttl:long"), s = wt_pttl(c, "ttl:short"), n = wt_pttl(c, "ttl:none");
        wt_note("PTTL after expire 20000: long=%lld short=%lld none=%lld", l, s, n);
        WT_CHECK(l > 0 && l <= 20000, "ttl:long not shortened to <= 20000 ms: %lld", l);
        WT_CHECK(s > 0 && s <= 8000, "ttl:short was lengthened: %lld", s);
        WT_CHECK(n > 0 && n <= 20000, "ttl:none got no TTL: %lld", n);
    }
    {
        char key[128];
        WT_CHECK(wt_llen(c, wt_qkey(key, sizeof(key), "pending")) == 0, "pending not empty");
        WT_CHECK(wt_llen(c, wt_qkey(key, sizeof(key), "dead")) == 0, "unexpected dead letters");
    }
    wt_worker_stop(w);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

static void test_coalescing(void)
{
    enum { NJOBS = 1000, NKEYS = 10 };
    wt_pair p;
    const char *keys[NKEYS] = {"c:0", "c:1", "c:2", "c:3", "c:4", "c:5", "c:6", "c:7", "c:8", "c:9"};
    const char *extra[] = {"--batch", "512", NULL};
    wt_proc *w;
    long long dels;

    wt_pair_start(&p, NULL, NULL);
    for (int i = 0; i < NKEYS; i++) {
        wt_cmd(p.cc, "SET %s v", keys[i]);
    }
    for (int i = 0; i < NJOBS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "co-%d", i);
        wt_push1(p.qc, id, JOB_OP_DEL, keys, NKEYS, 0);
    }
    wt_cmd(p.cc, "CONFIG RESETSTAT");

    w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", NJOBS, WT_DEADLINE_MS), "done never reached %d (done=%lld)", NJOBS,
             wt_stat(p.qc, "done"));
    WT_CHECK(wt_dbsize(p.cc) == 0, "cache still holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "done") == NJOBS, "done=%lld, want %d", wt_stat(p.qc, "done"), NJOBS);
    dels = wt_cmdstat_calls(p.cc, "del") + wt_cmdstat_calls(p.cc, "unlink");
    wt_note("%d jobs x %d keys applied with %lld DEL/UNLINK calls", NJOBS, NKEYS, dels);
    WT_CHECK(dels >= 1 && dels <= 50, "expected a handful of coalesced DELs, got %lld", dels);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

static void test_unlink(void)
{
    wt_pair p;
    const char *keys[] = {"u:1", "u:2", "u:3"};
    const char *extra[] = {"--unlink", NULL};
    wt_proc *w;

    wt_pair_start(&p, NULL, NULL);
    wt_cmd(p.cc, "MSET u:1 a u:2 b u:3 c");
    wt_cmd(p.cc, "CONFIG RESETSTAT");
    wt_push1(p.qc, "unlink-1", JOB_OP_DEL, keys, 3, 0);
    w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", 1, WT_DEADLINE_MS), "job not applied");
    WT_CHECK(wt_exists(p.cc, "u:1") + wt_exists(p.cc, "u:2") + wt_exists(p.cc, "u:3") == 0, "keys still there");
    WT_CHECK(wt_cmdstat_calls(p.cc, "unlink") >= 1 && wt_cmdstat_calls(p.cc, "del") == 0, "--unlink: unlink=%lld del=%lld",
             wt_cmdstat_calls(p.cc, "unlink"), wt_cmdstat_calls(p.cc, "del"));
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

/* A batch far larger than the cache window (--cache-window-keys 8, DEL
 * chunks of CACHE_DEL_CHUNK keys: one command in flight at a time) is
 * applied whole, every job done once. */
static void test_window(void)
{
    enum { NJOBS = 3000 };
    wt_pair p;
    const char *extra[] = {"--batch", "4096", "--cache-window-keys", "8", NULL};
    wt_pair_start(&p, NULL, NULL);
    wt_push_dels_bulk(p.qc, p.cc, "win", 0, NJOBS);
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", NJOBS, WT_DEADLINE_MS), "done never reached %d (done=%lld)", NJOBS,
             wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "done") == NJOBS && wt_stat(p.qc, "retried") == 0, "done=%lld retried=%lld",
             wt_stat(p.qc, "done"), wt_stat(p.qc, "retried"));
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

/* --cache-max-keys-per-s 10 with batches of 20 keys: the first batch goes
 * (the bucket starts full), the next ones wait for the budget (logged) and
 * are applied once it has room: nothing dropped, no attempt used. */
static void test_key_ceiling(void)
{
    enum { NJOBS = 40 };
    wt_pair p;
    const char *extra[] = {"--batch", "20", "--consumers", "1", "--cache-max-keys-per-s", "10",
                           "--log-level", "debug", NULL};
    wt_pair_start(&p, NULL, NULL);
    wt_push_dels(p.qc, p.cc, "kc", 0, NJOBS);
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "done", NJOBS, WT_DEADLINE_MS), "done never reached %d (done=%lld)", NJOBS,
             wt_stat(p.qc, "done"));
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained: cache holds %lld keys", wt_dbsize(p.cc));
    WT_CHECK(wt_stat(p.qc, "retried") == 0 && wt_stat(p.qc, "dead") == 0, "retried=%lld dead=%lld",
             wt_stat(p.qc, "retried"), wt_stat(p.qc, "dead"));
    WT_CHECK(wt_llen(p.qc, "invq:{default}:dead") == 0, "dead letters");
    WT_CHECK(wt_file_contains(p.log, "batch waits for the cache key budget"), "no batch waited for the budget");
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

int main(void)
{
    wt_worker_path();
    test_del_bump_expire();
    wt_note("ok del/bump/expire applied");
    test_coalescing();
    wt_note("ok coalescing");
    test_unlink();
    wt_note("ok --unlink sends UNLINK instead of DEL");
    test_window();
    wt_note("ok a batch larger than --cache-window-keys is applied whole");
    test_key_ceiling();
    wt_note("ok --cache-max-keys-per-s: batches wait for the budget and complete");
    return 0;
}
