/* The queue on a real Redis Cluster (3 masters + 3 replicas,
 * tests/fixture/cluster_fixture.c), the cache on a single Redis.
 *
 * libinvq's sync and async producers enqueue on `redis-cluster://` (each
 * routed to the master of the queue's slot), the worker drains from the
 * same URL, and mid-drain the queue's master is killed with -9: its
 * replica is promoted, the worker and the producer follow to it, the
 * producer keeps sending (spooling while no master is reachable). At the
 * end every key is gone, the queue is empty and nothing is dead-lettered;
 * invqctl `stats` and `dlq list` work on the cluster URL. The jobs of the
 * first wave are confirmed on the replica (WAIT) before the kill: a job
 * the master acknowledged but never replicated is lost with it (Redis's
 * asynchronous replication, see worker/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <invq/invq.h>
#include <uv.h>

#include "cluster_fixture.h"
#include "cluster_slot.h"
#include "waves.h"
#include "wtest.h"

enum { WAVE = 300, PER_JOB = 5 };

static cfix *cl;
static rfix *cache;
static redisContext *cc;
static char log_path[600], spool_dir[600];

static void options(invq_options *o, bool spool)
{
    invq_options_init(o);
    o->url = cfix_url(cl);
    o->connect_timeout_ms = 1000;
    o->command_timeout_ms = 2000;
    o->reconnect_min_ms = 50;
    o->reconnect_max_ms = 500;
    o->spool_dir = spool ? spool_dir : NULL;
}

/* Sends wave w with the sync producer; a send may be spooled (no master
 * reachable yet) and is flushed until the spool is empty. */
static void send_sync(invq_producer *p, int w)
{
    for (int j = 0; j < WAVE; j++) {
        invq_job *job = wave_job(w, j, PER_JOB);
        int rc = invq_send(p, job);
        WT_CHECK(rc == 0 || rc == INVQ_SPOOLED, "send %d/%d: %s: %s", w, j, invq_strerror(rc),
                 invq_producer_errstr(p));
        invq_job_free(job);
    }
    long long deadline = rfix_now_ms() + WT_DEADLINE_MS;
    for (;;) {
        invq_spool_stats st;
        int rc = invq_flush_spool(p);
        invq_producer_spool_stats(p, &st);
        if (rc == 0 && st.pending_jobs == 0)
            break;
        WT_CHECK(rfix_now_ms() < deadline, "spool not flushed: %s", invq_producer_errstr(p));
        rfix_sleep_ms(50);
    }
}

/* Sends wave w with the async producer on its own loop. */
static void send_async(int w)
{
    invq_options o;
    options(&o, false);
    wave_send_async(&o, w, WAVE, PER_JOB);
}

static redisContext *queue_master(void)
{
    int m = cfix_master_of(cl, (int)cluster_keyslot("invq:{default}:pending", 22));
    WT_CHECK(m >= 0, "no master for the queue's slot");
    return cfix_connect(cl, m);
}

static bool drained(void *ctx)
{
    (void)ctx;
    if (wt_dbsize(cc) != 0)
        return false;
    redisContext *q = queue_master();
    if (q == NULL)
        return false;
    char k[64];
    long long left = wt_llen(q, wt_qkey(k, sizeof k, "pending")) + wt_count_keys(q, "invq:{default}:processing:*");
    redisFree(q);
    return left == 0;
}

static bool some_done(void *ctx)
{
    return wt_dbsize(cc) < *(long long *)ctx;
}

static void ctl(const char *const *args, int want_status, const char *want)
{
    const char *exe = getenv("INVQCTL");
    if (exe == NULL || !*exe)
        return;
    char log[700];
    snprintf(log, sizeof log, "%s/ctl.log", rfix_dir(cache));
    remove(log);
    const char *argv[12] = { exe, "--queue-url", cfix_url(cl) };
    int n = 3;
    for (int i = 0; args[i] != NULL && n < 11; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int st = wt_run(exe, argv, NULL, log, WT_DEADLINE_MS);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == want_status;
    if (!ok || !wt_file_contains(log, want))
        wt_file_dump(log);
    WT_CHECK(ok, "invqctl %s: status %d", args[0], st);
    WT_CHECK(wt_file_contains(log, want), "invqctl %s: no '%s'", args[0], want);
}

int main(void)
{
    int rc = cfix_start(&cl, NULL);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0, "cluster did not start");
    cache = wt_server(NULL);
    cc = wt_connect(cache);
    snprintf(log_path, sizeof log_path, "%s/worker.log", rfix_dir(cache));
    snprintf(spool_dir, sizeof spool_dir, "%s/spool", rfix_dir(cache));
    wt_set_log(log_path);

    int qslot = (int)cluster_keyslot("invq:{default}:pending", 22);
    WT_CHECK(cfix_keyslot(cl, "invq:{default}:pending") == qslot, "slot of the queue");
    int m = cfix_master_of(cl, qslot);
    int r = cfix_replica_of(cl, m);
    WT_CHECK(m >= 0 && r >= 0, "queue master %d, replica %d", m, r);
    wt_note("queue slot %d on node %d, replica %d", qslot, m, r);

    /* wave 0 (sync) and 1 (async), before the worker: confirmed on the replica */
    invq_options o;
    invq_producer *p = NULL;
    char err[512];
    options(&o, true);
    WT_CHECK(invq_producer_new(&o, &p, err, sizeof err) == 0, "producer: %s", err);
    wave_set(cc, 0, WAVE, PER_JOB);
    wave_set(cc, 1, WAVE, PER_JOB);
    send_sync(p, 0);
    send_async(1);
    redisContext *mq = cfix_connect(cl, m);
    char k[64];
    WT_CHECK(wt_llen(mq, wt_qkey(k, sizeof k, "pending")) == 2 * WAVE, "pending on the queue's master");
    redisReply *wr = redisCommand(mq, "WAIT 1 10000");
    WT_CHECK(wr != NULL && wr->type == REDIS_REPLY_INTEGER && wr->integer >= 1, "WAIT");
    freeReplyObject(wr);
    redisFree(mq);

    /* the worker drains; once it has deleted some keys the master dies */
    const char *extra[] = { "--batch", "8", "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(cfix_url(cl), rfix_url(cache), log_path, extra);
    long long before = wt_dbsize(cc);
    WT_CHECK(wt_wait_for(some_done, &before, WT_DEADLINE_MS), "the worker deleted nothing");
    long long t0 = rfix_now_ms();
    WT_CHECK(rfix_kill(cfix_node(cl, m)) == 0, "kill -9 the queue's master");
    wt_note("killed node %d with %lld keys left", m, wt_dbsize(cc));

    /* wave 2 while the failover runs: spooled or routed to the new master */
    wave_set(cc, 2, WAVE, PER_JOB);
    send_sync(p, 2);
    WT_CHECK(cfix_wait_role(cl, r, "master", WT_DEADLINE_MS), "replica %d not promoted", r);
    WT_CHECK(cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster not ok after the failover");
    wt_note("replica %d promoted after %lld ms", r, rfix_now_ms() - t0);
    wave_set(cc, 3, WAVE, PER_JOB);
    send_async(3);

    WT_CHECK(wt_wait_for(drained, NULL, WT_DEADLINE_MS), "not drained: %lld cache keys left", wt_dbsize(cc));
    wt_note("drained %lld ms after the kill", rfix_now_ms() - t0);
    redisContext *nq = queue_master();
    WT_CHECK(nq != NULL, "new queue master");
    WT_CHECK(wt_llen(nq, wt_qkey(k, sizeof k, "dead")) == 0, "dead-lettered jobs");
    redisFree(nq);

    const char *stats[] = { "stats", NULL };
    ctl(stats, 0, "pending      0");
    const char *dlq[] = { "dlq", "list", NULL };
    ctl(dlq, 1, "no dead-letter entries matched"); /* exit 1: nothing matched */

    wt_worker_stop(w);
    invq_producer_free(p);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(cache);
    cfix_free(cl);
    printf("ok\n");
    return 0;
}
