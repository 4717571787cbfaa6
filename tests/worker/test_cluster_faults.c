/* The cluster cache target against the replies a real Redis Cluster gives
 * only by chance: the fault proxy in cluster mode (faultproxy_set_cluster)
 * names itself the master of every slot, forwards to one plain Redis, and
 * answers the cache's commands with scripted errors. The worker runs with
 * --max-attempts 1, so a single attempt used would dead-letter a job.
 *
 *   TRYAGAIN, CLUSTERDOWN, LOADING: every DEL and INCR refused until the
 *       batch is seen held (logged), with nothing applied, acknowledged or
 *       dead-lettered; once the node forwards again the batch is applied
 *       exactly once (the version key bumped by one).
 *   MOVED loop: "MOVED 0 <the node itself>" on every DEL: the loop is cut
 *       after CC_MAX_HOPS redirects and the batch held (reason
 *       redirect_loop), then applied once the loop stops.
 *   ASK: "ASK 0 <the node itself>" on every DEL not preceded by ASKING:
 *       the worker follows it behind ASKING and the keys go.
 * Each checks: nothing dead-lettered, stats.retried 0, every key gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_cluster.h" /* CC_MAX_HOPS */
#include "faultproxy.h"
#include "wtest.h"
#define NJOBS 20

static wt_pair p;
static faultproxy *fp;
static long long done;

static void check_clean(const char *what)
{
    char key[128];
    WT_CHECK(wt_llen(p.qc, wt_qkey(key, sizeof key, "dead")) == 0, "%s: %lld dead letters", what,
             wt_llen(p.qc, wt_qkey(key, sizeof key, "dead")));
    WT_CHECK(wt_stat(p.qc, "dead") == 0, "%s: stats.dead %lld", what, wt_stat(p.qc, "dead"));
    WT_CHECK(wt_stat(p.qc, "retried") == 0, "%s: stats.retried %lld: an attempt was used", what,
             wt_stat(p.qc, "retried"));
}

static long long keys_left(const char *prefix)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s:*", prefix);
    return wt_count_keys(p.cc, pat);
}

typedef struct held_ctx {
    const char *word;
    int before;
} held_ctx;

static int held_lines(const char *word)
{
    const char *needles[] = { "cache cluster batch held", word, NULL };
    return wt_file_count(p.log, needles);
}

static bool held_more(void *ctx)
{
    held_ctx *h = ctx;
    return held_lines(h->word) > h->before;
}

/* SETs prefix:0..NJOBS-1 and pushes a one-key DEL job for each (and the
 * bump job of vkey first, if given) in one LPUSH, so that one batch takes
 * them all. */
static void push_jobs(const char *prefix, const char *vkey)
{
    char pending[128], keys[NJOBS + 1][48], ids[NJOBS + 1][48];
    const char *argv[NJOBS + 3];
    size_t lens[NJOBS + 3];
    uint8_t *jobs[NJOBS + 1];
    int argc = 0, n = 0;
    argv[argc] = "LPUSH";
    lens[argc++] = 5;
    argv[argc] = wt_qkey(pending, sizeof pending, "pending");
    lens[argc++] = strlen(pending);
    for (int i = -1; i < NJOBS; i++) {
        if (i < 0 && vkey == NULL)
            continue;
        job_op_kind op = i < 0 ? JOB_OP_BUMP : JOB_OP_DEL;
        if (i < 0)
            snprintf(keys[n], sizeof keys[n], "%s", vkey);
        else
            snprintf(keys[n], sizeof keys[n], "%s:%d", prefix, i);
        snprintf(ids[n], sizeof ids[n], "%s-%d", prefix, i);
        if (i >= 0)
            wt_cmd(p.cc, "SET %s v", keys[n]);
        const char *k[] = { keys[n] };
        size_t len;
        jobs[n] = wt_job1(ids[n], op, k, 1, 0, &len);
        argv[argc] = (const char *)jobs[n];
        lens[argc++] = len;
        n++;
    }
    redisReply *r = redisCommandArgv(p.qc, argc, argv, lens);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "LPUSH");
    freeReplyObject(r);
    for (int i = 0; i < n; i++)
        free(jobs[i]);
}

/* Waits until the worker logs a held batch whose line names word, then
 * checks that nothing was applied or acknowledged meanwhile. */
static void wait_held(const char *what, const char *word, int before, const char *prefix)
{
    held_ctx h = { word, before };
    WT_CHECK(wt_wait_for(held_more, &h, WT_DEADLINE_MS), "%s: the batch was never held", what);
    WT_CHECK(keys_left(prefix) == NJOBS, "%s: %lld of %d keys left while held", what, keys_left(prefix), NJOBS);
    WT_CHECK(wt_stat(p.qc, "done") == done, "%s: jobs acknowledged while held", what);
    check_clean(what);
}

static void wait_applied(const char *what, const char *prefix, long long jobs)
{
    done += jobs;
    WT_CHECK(wt_wait_stat(p.qc, "done", done, WT_DEADLINE_MS), "%s: done %lld of %lld", what,
             wt_stat(p.qc, "done"), done);
    WT_CHECK(keys_left(prefix) == 0, "%s: %lld keys left", what, keys_left(prefix));
    check_clean(what);
}

/* A node that refuses every DEL and INCR with error (TRYAGAIN,
 * CLUSTERDOWN, LOADING): the worker, idle, takes the bump job alone
 * (BLMOVE), which is held; once INCR is taken again, the batch of the DELs
 * is held; once DEL is taken too, everything is applied. */
static void test_busy(const char *word, const char *error)
{
    char prefix[32], vkey[48];
    snprintf(prefix, sizeof prefix, "cf-%s", word);
    snprintf(vkey, sizeof vkey, "v-%s", word);
    int before = held_lines(word);
    long inj = faultproxy_injected(fp);
    WT_CHECK(faultproxy_fail_next(fp, "DEL", -1, error) == 0, "rule");
    WT_CHECK(faultproxy_fail_next(fp, "INCR", -1, error) == 0, "rule");
    wt_cmd(p.cc, "SET %s 7", vkey);
    push_jobs(prefix, vkey);
    wait_held(word, word, before, prefix);
    WT_CHECK(wt_get_int(p.cc, vkey) == 7, "%s: %s bumped while held", word, vkey);
    WT_CHECK(faultproxy_fail_next(fp, "INCR", 0, error) == 0, "rule");
    done++; /* the bump */
    WT_CHECK(wt_wait_stat(p.qc, "done", done, WT_DEADLINE_MS), "%s: the bump was never applied", word);
    wait_held(word, word, before + 1, prefix);
    WT_CHECK(faultproxy_fail_next(fp, "DEL", 0, error) == 0, "rule");
    wait_applied(word, prefix, NJOBS);
    /* every refused INCR never reached the server: applied exactly once */
    WT_CHECK(wt_get_int(p.cc, vkey) == 8, "%s: %s is %lld, want 8", word, vkey, wt_get_int(p.cc, vkey));
    wt_cmd(p.cc, "DEL %s", vkey);
    faultproxy_clear(fp);
    wt_note("%s: bump and DELs held (%ld replies refused), applied once the node took commands again; no "
            "attempt used",
            word, faultproxy_injected(fp) - inj);
}

/* MOVED to the node itself, on every DEL: a loop, cut after CC_MAX_HOPS. */
static void test_moved_loop(void)
{
    char err[64];
    snprintf(err, sizeof err, "MOVED 0 127.0.0.1:%d", faultproxy_port(fp));
    int before = held_lines("redirect_loop");
    long dels = faultproxy_count(fp, "DEL"), inj = faultproxy_injected(fp);
    WT_CHECK(faultproxy_fail_next(fp, "DEL", -1, err) == 0, "rule");
    push_jobs("cf-moved", NULL);
    wait_held("MOVED loop", "redirect_loop", before, "cf-moved");
    /* the cut came after CC_MAX_HOPS redirects followed */
    WT_CHECK(faultproxy_count(fp, "DEL") - dels >= CC_MAX_HOPS + 1, "held after %ld DELs",
             faultproxy_count(fp, "DEL") - dels);
    faultproxy_clear(fp);
    wait_applied("MOVED loop", "cf-moved", NJOBS);
    wt_note("MOVED loop: cut after %d hops and held (%ld DELs answered MOVED), applied once the loop stopped",
            CC_MAX_HOPS, faultproxy_injected(fp) - inj);
}

/* ASK to the node itself: only a DEL behind ASKING is taken. */
static void test_ask(void)
{
    char err[64];
    snprintf(err, sizeof err, "ASK 0 127.0.0.1:%d", faultproxy_port(fp));
    long asking = faultproxy_count(fp, "ASKING"), inj = faultproxy_injected(fp);
    WT_CHECK(faultproxy_fail_next(fp, "DEL", -1, err) == 0, "rule");
    push_jobs("cf-ask", NULL);
    wait_applied("ASK", "cf-ask", NJOBS);
    long a = faultproxy_count(fp, "ASKING") - asking, n = faultproxy_injected(fp) - inj;
    WT_CHECK(n > 0 && a >= n, "%ld ASK replies, %ld ASKING sent", n, a);
    faultproxy_clear(fp);
    wt_note("ASK: %ld redirects followed behind ASKING", n);
}

int main(void)
{
    wt_worker_path(); /* skips when there is no worker */
    wt_pair_start(&p, NULL, NULL);
    WT_CHECK(faultproxy_new(&fp, rfix_socket(p.cache), NULL, 0) == 0, "proxy");
    faultproxy_set_cluster(fp, true);
    char url[64];
    snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d", faultproxy_port(fp));
    /* one consumer: one batch at a time, so "held" is about the batch just pushed */
    const char *extra[] = { "--max-attempts", "1", "--consumers", "1", "--log-level", "debug", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), url, p.log, extra);
    WT_CHECK(w != NULL, "worker");
    /* a first batch with no fault: the node's link is up before the faults
     * (a batch held while it connects is not logged as held) */
    push_jobs("cf-warm", NULL);
    wait_applied("warm-up", "cf-warm", NJOBS);
    test_busy("TRYAGAIN", "TRYAGAIN Multiple keys request during rehashing of slot");
    test_busy("CLUSTERDOWN", "CLUSTERDOWN The cluster is down");
    test_busy("LOADING", "LOADING Redis is loading the dataset in memory");
    test_moved_loop();
    test_ask();
    wt_worker_stop(w);
    WT_CHECK(faultproxy_count(fp, "CLUSTER") > 0, "the worker never asked the node for its slots");
    WT_CHECK(wt_drained(p.qc, p.cc), "not drained");
    faultproxy_free(fp);
    wt_pair_stop(&p);
    printf("cluster faults ok\n");
    return 0;
}
