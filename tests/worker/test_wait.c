/* --cache-wait-replicas against a real master and replica: with N=1 a
 * batch is acknowledged once the replica has it; with the replica stopped
 * (SIGSTOP) the batch is not acknowledged (nothing dead, nothing retried,
 * the job stays on the queue) and is applied and acknowledged once the
 * replica answers again. Then the number the docs quote: a kill -9 of the
 * master with the replica stopped, the replica promoted, and the deleted
 * keys of acknowledged jobs counted on it — without WAIT and with it
 * (printed; with WAIT it must be 0). Every key is gone at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

typedef struct set {
    rfix *master, *replica, *queue;
    redisContext *mc, *rc, *qc;
    char log[512];
} set;

static bool in_sync(void *ctx)
{
    set *s = ctx;
    redisReply *r = redisCommand(s->rc, "INFO replication");
    bool up = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up") != NULL;
    freeReplyObject(r);
    return up;
}

static void set_start(set *s)
{
    memset(s, 0, sizeof *s);
    rfix_opts tcp = { .tcp = true };
    s->master = wt_server(&tcp);
    char line[64];
    snprintf(line, sizeof line, "replicaof 127.0.0.1 %d", rfix_port(s->master));
    const char *conf[] = { line, NULL };
    rfix_opts ro = { .tcp = true, .conf_lines = conf };
    s->replica = wt_server(&ro);
    s->queue = wt_server(NULL);
    s->mc = wt_connect(s->master);
    s->rc = wt_connect(s->replica);
    s->qc = wt_connect(s->queue);
    snprintf(s->log, sizeof s->log, "%s/worker.log", rfix_dir(s->queue));
    wt_set_log(s->log);
    WT_CHECK(wt_wait_for(in_sync, s, WT_DEADLINE_MS), "replica not in sync");
}

static void set_stop(set *s)
{
    redisFree(s->mc);
    redisFree(s->rc);
    redisFree(s->qc);
    wt_set_log(NULL);
    wt_server_free(s->master);
    wt_server_free(s->replica);
    wt_server_free(s->queue);
}

static const char *const wait1[] = { "--cache-wait-replicas", "1", "--cache-wait-timeout-ms", "200",
                                     "--max-attempts", "1", NULL };

static void test_ack_and_hold(void)
{
    set s;
    set_start(&s);
    wt_proc *w = wt_worker_start(rfix_url(s.queue), rfix_url(s.master), s.log, wait1);
    WT_CHECK(w != NULL, "worker");
    wt_push_dels(s.qc, s.mc, "wa", 0, 20);
    WT_CHECK(wt_wait_stat(s.qc, "done", 20, WT_DEADLINE_MS), "not acknowledged with the replica up");
    WT_CHECK(wt_count_keys(s.rc, "wa:*") == 0, "the replica still has keys of acknowledged jobs");

    WT_CHECK(rfix_pause(s.replica) == 0, "SIGSTOP replica");
    wt_push_dels(s.qc, s.mc, "wb", 0, 5);
    const char *incident[] = { "cache replicas do not confirm writes", NULL };
    uint64_t t0 = wt_mono_ms();
    while (wt_file_count(s.log, incident) == 0 && wt_mono_ms() - t0 < WT_DEADLINE_MS)
        rfix_sleep_ms(20);
    WT_CHECK(wt_file_count(s.log, incident) == 1, "no WAIT incident logged");
    /* every consumer may be holding a batch now, so jobs may wait in
     * pending too; those held were applied on the master */
    WT_CHECK(wt_count_keys(s.mc, "wb:*") < 5, "the master did not apply any delete");
    /* applied on the master, not confirmed by the replica: not acknowledged */
    WT_CHECK(wt_stat(s.qc, "done") == 20, "acknowledged without the replica: done %lld", wt_stat(s.qc, "done"));
    WT_CHECK(wt_count_keys(s.qc, "invq:{default}:processing:*") >= 1, "the held batch is not on a processing list");
    WT_CHECK(rfix_resume(s.replica) == 0, "SIGCONT replica");
    WT_CHECK(wt_wait_stat(s.qc, "done", 25, WT_DEADLINE_MS), "not acknowledged once the replica is back");
    WT_CHECK(wt_wait_for(in_sync, &s, WT_DEADLINE_MS), "replica");
    WT_CHECK(wt_count_keys(s.rc, "wb:*") == 0, "the replica has keys of acknowledged jobs");
    WT_CHECK(wt_stat(s.qc, "dead") == 0 && wt_stat(s.qc, "retried") == 0, "dead %lld retried %lld",
             wt_stat(s.qc, "dead"), wt_stat(s.qc, "retried"));
    const char *back[] = { "cache replicas confirm writes again", NULL };
    WT_CHECK(wt_file_count(s.log, back) == 1, "the end of the incident is not logged once");
    WT_CHECK(wt_file_count(s.log, incident) == 1, "the incident is logged more than once");
    wt_worker_stop(w);
    WT_CHECK(wt_drained(s.qc, s.mc), "not drained");
    set_stop(&s);
}

/* kill -9 of the master while the replica lags (stopped), then the replica
 * promoted: how many keys of acknowledged jobs come back. */
static long long come_back(bool use_wait, int n, long long *acked_out)
{
    set s;
    set_start(&s);
    const char *nowait[] = { "--max-attempts", "1", "--batch", "10", NULL };
    const char *withwait[] = { "--cache-wait-replicas", "1", "--cache-wait-timeout-ms", "200", "--max-attempts",
                               "1", "--batch", "10", NULL };
    for (int i = 0; i < n; i++)
        wt_cmd(s.mc, "SET kb:%d x", i);
    wt_cmd(s.mc, "WAIT 1 10000");
    WT_CHECK(wt_count_keys(s.rc, "kb:*") == n, "not replicated");
    wt_proc *w = wt_worker_start(rfix_url(s.queue), rfix_url(s.master), s.log, use_wait ? withwait : nowait);
    WT_CHECK(w != NULL, "worker");
    /* the replica falls behind: stopped, and its link cut, so that what the
     * master writes from now on never reaches it (on loopback a link that
     * is only slow still delivers its kernel buffers after a kill -9) */
    WT_CHECK(rfix_pause(s.replica) == 0, "SIGSTOP replica");
    wt_cmd(s.mc, "CLIENT KILL TYPE replica");
    wt_push_dels(s.qc, NULL, "kb", 0, n);
    if (use_wait) {
        /* the deletes are applied on the master but held: wait for some */
        uint64_t t0 = wt_mono_ms();
        while (wt_count_keys(s.mc, "kb:*") == n && wt_mono_ms() - t0 < WT_DEADLINE_MS)
            rfix_sleep_ms(10);
        WT_CHECK(wt_count_keys(s.mc, "kb:*") < n, "no delete applied on the master");
    } else {
        WT_CHECK(wt_wait_stat(s.qc, "done", n, WT_DEADLINE_MS), "not acknowledged");
    }
    long long acked = wt_stat(s.qc, "done");
    WT_CHECK(rfix_kill(s.master) == 0, "kill -9 master");
    WT_CHECK(rfix_resume(s.replica) == 0, "SIGCONT replica");
    wt_cmd(s.rc, "REPLICAOF NO ONE");
    /* which acknowledged jobs' keys are back: the jobs acknowledged are the
     * ones no longer on the queue */
    long long back = 0;
    redisReply *r = redisCommand(s.rc, "KEYS kb:*");
    long long present = r != NULL && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    freeReplyObject(r);
    long long unacked = n - acked;
    back = present - unacked > 0 ? present - unacked : 0;
    /* drain what is left against the promoted node: nothing lost */
    wt_worker_stop(w);
    w = wt_worker_start(rfix_url(s.queue), rfix_url(s.replica), s.log, nowait);
    WT_CHECK(w != NULL, "worker on the new master");
    WT_CHECK(wt_wait_stat(s.qc, "done", n, WT_DEADLINE_MS), "not drained on the new master");
    const char *ready[] = { "worker ready", NULL };
    uint64_t t1 = wt_mono_ms();
    while (wt_file_count(s.log, ready) < 2 && wt_mono_ms() - t1 < WT_DEADLINE_MS)
        rfix_sleep_ms(10); /* it handles SIGTERM once it is up */
    wt_worker_stop(w);
    if (use_wait)
        WT_CHECK(wt_count_keys(s.rc, "kb:*") == 0, "with WAIT, keys left after the queue drained on the new master");
    wt_note("%s WAIT: kill -9 of the master after %d delete jobs, %lld acknowledged: %lld keys on the "
            "promoted replica, %lld of them of acknowledged jobs (came back), %lld after the queue drained there",
            use_wait ? "with" : "without", n, acked, present, back, wt_count_keys(s.rc, "kb:*"));
    *acked_out = acked;
    set_stop(&s);
    return back;
}

int main(void)
{
    wt_worker_path();
    test_ack_and_hold();
    wt_note("ok acknowledged with the replica, held without it, applied again");
    const int n = 200;
    long long acked_nowait, acked_wait;
    long long back_nowait = come_back(false, n, &acked_nowait);
    long long back_wait = come_back(true, n, &acked_wait);
    printf("# failover after kill -9 (replica lagging): without WAIT %lld of %lld acknowledged deletes came back; "
           "with --cache-wait-replicas 1: %lld of %lld\n",
           back_nowait, acked_nowait, back_wait, acked_wait);
    WT_CHECK(back_wait == 0, "with WAIT, %lld keys of acknowledged jobs came back", back_wait);
    printf("worker wait ok\n");
    return 0;
}
