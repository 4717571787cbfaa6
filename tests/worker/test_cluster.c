/* invq-worker with its cache on a real Redis Cluster (3 masters + 3
 * replicas, tests/fixture/cluster_fixture.c), the queue on a single Redis.
 *
 *   drain:    jobs whose keys cover every slot (several slots per job) and
 *             hash-tagged keys: every key deleted / bumped / shortened on its
 *             own master, no CROSSSLOT, and a WRONGTYPE on one key
 *             dead-letters exactly its job.
 *   failover: a master's replica is paused (its replication lags), the
 *             worker deletes, the master is killed with -9 and the replica
 *             promoted. Without --cache-wait-replicas the deleted keys of
 *             that master come back (counted and printed); with
 *             --cache-wait-replicas 1 the batches are held until a replica
 *             confirms, nothing is dead-lettered and every key is gone.
 *   reshard:  slots of the queue's keys are migrated from master to master
 *             (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) while the
 *             worker drains: ASK, TRYAGAIN and MOVED are followed, every key
 *             is gone, nothing is dead-lettered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_fixture.h"
#include "cluster_slot.h"
#include "wtest.h"

#define NSLOTS 16384

static cfix *cl;
static int owner[NSLOTS];
static rfix *qsrv;
static redisContext *qc;
static char log_path[512];

/* Connections to the current masters, by node index (NULL: not a master). */
static redisContext *mctx[32];

static void connect_masters(void)
{
    for (int i = 0; i < 32; i++) {
        if (mctx[i] != NULL)
            redisFree(mctx[i]);
        mctx[i] = NULL;
    }
    WT_CHECK(cfix_slot_owners(cl, owner) == 0, "CLUSTER SLOTS");
    for (int s = 0; s < NSLOTS; s++) {
        WT_CHECK(owner[s] >= 0, "slot %d has no master", s);
        if (mctx[owner[s]] == NULL)
            mctx[owner[s]] = cfix_connect(cl, owner[s]);
        WT_CHECK(mctx[owner[s]] != NULL, "connect to master %d", owner[s]);
    }
}

static redisContext *ctx_of(const char *key)
{
    return mctx[owner[cluster_keyslot(key, strlen(key))]];
}

/* Sends one command per key (fmt takes the key) to its master, pipelined,
 * and returns how many integer replies equal want (or, want < 0, the sum of
 * the integer replies). */
static long long per_key(const char *fmt, char keys[][48], int n, long long want)
{
    long long hits = 0;
    for (int i = 0; i < n; i++)
        redisAppendCommand(ctx_of(keys[i]), fmt, keys[i]);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        WT_CHECK(redisGetReply(ctx_of(keys[i]), (void **)&r) == REDIS_OK && r != NULL, "reply for %s", keys[i]);
        WT_CHECK(r->type != REDIS_REPLY_ERROR, "%s on %s: %s", fmt, keys[i], r->str);
        if (r->type == REDIS_REPLY_INTEGER)
            hits += want < 0 ? r->integer : r->integer == want;
        freeReplyObject(r);
    }
    return hits;
}

static void flush_masters(void)
{
    for (int i = 0; i < 32; i++)
        if (mctx[i] != NULL)
            wt_cmd(mctx[i], "FLUSHALL");
}

static void push(const char *id, job_op_kind op, const char *const *keys, size_t n, uint64_t ttl)
{
    wt_push1(qc, id, op, keys, n, ttl);
}

static long long master_keys(int m, const char *pattern)
{
    return wt_count_keys(mctx[m], pattern);
}

static void test_drain(void)
{
    enum { NK = 4000, PER_JOB = 20, NTAGS = 40, NBUMP = 100 };
    static char dk[NK][48], tk[NTAGS * 5][48], bk[NBUMP][48], ek[50][48];
    flush_masters();
    for (int i = 0; i < NK; i++)
        snprintf(dk[i], sizeof dk[i], "k:%d", i);
    for (int i = 0; i < NTAGS * 5; i++)
        snprintf(tk[i], sizeof tk[i], "{t%d}:%c", i / 5, 'a' + i % 5);
    for (int i = 0; i < NBUMP; i++)
        snprintf(bk[i], sizeof bk[i], "v:%d", i);
    for (int i = 0; i < 50; i++)
        snprintf(ek[i], sizeof ek[i], "e:{%d}", i);

    /* our slots are the server's (CLUSTER KEYSLOT) */
    for (int i = 0; i < NK; i += 97)
        WT_CHECK(cfix_keyslot(cl, dk[i]) == (int)cluster_keyslot(dk[i], strlen(dk[i])), "slot of %s", dk[i]);
    for (int i = 0; i < NTAGS * 5; i += 7)
        WT_CHECK(cfix_keyslot(cl, tk[i]) == (int)cluster_keyslot(tk[i], strlen(tk[i])), "slot of %s", tk[i]);
    /* keys over every slot: 4000 keys hit most; check all three masters hold some */
    int per_master[32] = { 0 };
    for (int i = 0; i < NK; i++)
        per_master[owner[cluster_keyslot(dk[i], strlen(dk[i]))]]++;
    int nm = 0;
    for (int i = 0; i < 32; i++)
        nm += per_master[i] > 0;
    WT_CHECK(nm == 3, "keys on %d masters", nm);

    WT_CHECK(per_key("SET %s x", dk, NK, -1) == 0, "SET");
    WT_CHECK(per_key("SET %s x", tk, NTAGS * 5, -1) == 0, "SET");
    WT_CHECK(per_key("SET %s x", ek, 50, -1) == 0, "SET");
    wt_cmd(mctx[owner[cluster_keyslot("lst:{z}", 7)]], "RPUSH lst:{z} a");

    int jobs = 0;
    for (int j = 0; j < NK / PER_JOB; j++) {
        const char *keys[PER_JOB];
        char id[32];
        /* 20 keys of 20 different slots in one job */
        for (int k = 0; k < PER_JOB; k++)
            keys[k] = dk[k * (NK / PER_JOB) + j];
        snprintf(id, sizeof id, "del-%d", j);
        push(id, JOB_OP_DEL, keys, PER_JOB, 0);
        jobs++;
    }
    for (int t = 0; t < NTAGS; t++) {
        const char *keys[5] = { tk[t * 5], tk[t * 5 + 1], tk[t * 5 + 2], tk[t * 5 + 3], tk[t * 5 + 4] };
        char id[32];
        snprintf(id, sizeof id, "tag-%d", t);
        push(id, JOB_OP_DEL, keys, 5, 0);
        jobs++;
    }
    for (int j = 0; j < NBUMP / 10; j++) {
        const char *keys[10];
        for (int k = 0; k < 10; k++)
            keys[k] = bk[j * 10 + k];
        push("bump", JOB_OP_BUMP, keys, 10, 0);
        jobs++;
    }
    {
        const char *keys[50];
        for (int k = 0; k < 50; k++)
            keys[k] = ek[k];
        push("expire", JOB_OP_EXPIRE, keys, 50, 60000);
        jobs++;
    }
    {
        const char *keys[2] = { "lst:{z}", "v:0" };
        push("bad-bump", JOB_OP_BUMP, keys, 2, 0);
        jobs++;
    }

    const char *extra[] = { "--batch", "64", "--consumers", "2", "--log-level", "debug", NULL };
    wt_proc *w = wt_worker_start(rfix_url(qsrv), cfix_url(cl), log_path, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(qc, "done", jobs - 1, WT_DEADLINE_MS) && wt_wait_stat(qc, "dead", 1, WT_DEADLINE_MS),
             "done=%lld dead=%lld, want %d and 1", wt_stat(qc, "done"), wt_stat(qc, "dead"), jobs - 1);
    wt_worker_stop(w);

    WT_CHECK(per_key("EXISTS %s", dk, NK, 1) == 0, "deleted keys still exist");
    WT_CHECK(per_key("EXISTS %s", tk, NTAGS * 5, 1) == 0, "hash-tagged keys still exist");
    /* v:0 was bumped by its job and again by bad-bump's other key? no: bad-bump is dead-lettered whole */
    WT_CHECK(per_key("GET %s", bk, NBUMP, -1) == 0, "GET");
    {
        long long ones = 0;
        for (int i = 0; i < NBUMP; i++) {
            redisReply *r = redisCommand(ctx_of(bk[i]), "GET %s", bk[i]);
            WT_CHECK(r != NULL && r->type == REDIS_REPLY_STRING, "GET %s", bk[i]);
            ones += strcmp(r->str, "1") == 0;
            freeReplyObject(r);
        }
        wt_note("bumped keys at 1: %lld of %d", ones, NBUMP);
        WT_CHECK(ones == NBUMP - 1 || ones == NBUMP, "bumps: %lld of %d at 1", ones, NBUMP);
    }
    {
        long long shortened = 0;
        for (int i = 0; i < 50; i++) {
            redisReply *r = redisCommand(ctx_of(ek[i]), "PTTL %s", ek[i]);
            WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "PTTL");
            shortened += r->integer > 0 && r->integer <= 60000;
            freeReplyObject(r);
        }
        WT_CHECK(shortened == 50, "%lld of 50 TTLs shortened", shortened);
    }
    dead_record **recs = NULL;
    size_t nd = wt_dead_records(qc, &recs);
    WT_CHECK(nd == 1 && recs[0]->id != NULL && strcmp(recs[0]->id, "bad-bump") == 0, "dead letters: %zu", nd);
    wt_note("dead letter: %s", recs[0]->reason);
    WT_CHECK(strncmp(recs[0]->reason, "wrong_type: bump lst:{z}", 24) == 0, "reason %s", recs[0]->reason);
    wt_dead_records_free(recs, nd);
    WT_CHECK(!wt_file_contains(log_path, "CROSSSLOT"), "a command spanned two slots");
    WT_CHECK(wt_llen(qc, wt_qkey((char[128]){ 0 }, 128, "pending")) == 0, "pending not empty");
    wt_cmd(qc, "FLUSHALL");
}

/* SETs the n keys on their masters and pushes a one-key DEL job for each
 * (the job id is the key). */
static void set_and_push_dels(char keys[][48], int n)
{
    char pending[128];
    wt_qkey(pending, sizeof pending, "pending");
    WT_CHECK(per_key("SET %s x", keys, n, -1) == 0, "SET");
    for (int i = 0; i < n; i++) {
        const char *k[1] = { keys[i] };
        size_t len;
        uint8_t *job = wt_job1(keys[i], JOB_OP_DEL, k, 1, 0, &len);
        redisAppendCommand(qc, "LPUSH %s %b", pending, job, len);
        free(job);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        WT_CHECK(redisGetReply(qc, (void **)&r) == REDIS_OK && r != NULL, "LPUSH");
        freeReplyObject(r);
    }
}

typedef struct drop_ctx {
    int m;
    long long below;
} drop_ctx;

static bool master_dropped(void *p)
{
    drop_ctx *d = p;
    return master_keys(d->m, "f:*") < d->below;
}

/* One run: replica of the master of "f:0" paused, worker deletes, master
 * killed, replica promoted. Returns how many deleted keys came back. */
static long long failover_run(bool wait)
{
    enum { N = 3000 };
    static char keys[N][48];
    flush_masters();
    for (int i = 0; i < N; i++)
        snprintf(keys[i], 48, "f:%d", i);
    set_and_push_dels(keys, N);
    int m = owner[cluster_keyslot("f:0", 3)];
    int r = cfix_replica_of(cl, m);
    WT_CHECK(r >= 0, "master %d has no replica", m);
    long long on_m = master_keys(m, "f:*");
    /* let the replica catch up with the SETs, then stop it */
    wt_cmd(mctx[m], "WAIT 1 5000");
    WT_CHECK(rfix_pause(cfix_node(cl, r)) == 0, "pause replica");
    /* a paused replica still receives into its socket buffers; 32 MiB
     * written first fill them, so what the master replicates after stays in
     * the master's memory and dies with it (a replica that lags) */
    {
        size_t big = 32u << 20;
        char *junk = malloc(big);
        WT_CHECK(junk != NULL, "malloc");
        memset(junk, 'j', big);
        redisReply *jr = redisCommand(mctx[m], "SET {f:0}:junk %b", junk, big);
        WT_CHECK(jr != NULL && jr->type == REDIS_REPLY_STATUS, "SET junk");
        freeReplyObject(jr);
        free(junk);
    }
    const char *with[] = { "--batch", "50", "--consumers", "2", "--cache-wait-replicas", "1",
                           "--cache-wait-timeout-ms", "200", NULL };
    const char *without[] = { "--batch", "50", "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(qsrv), cfix_url(cl), log_path, wait ? with : without);
    WT_CHECK(w != NULL, "worker did not start");
    if (wait) {
        /* the master applies deletes its replica does not confirm: held */
        drop_ctx d = { m, on_m };
        WT_CHECK(wt_wait_for(master_dropped, &d, WT_DEADLINE_MS), "the master deleted nothing");
        WT_CHECK(wt_stat(qc, "done") < N, "every job acknowledged with a replica paused");
    } else {
        WT_CHECK(wt_wait_stat(qc, "done", N, WT_DEADLINE_MS), "done=%lld", wt_stat(qc, "done"));
    }
    long long done_at_kill = wt_stat(qc, "done");
    WT_CHECK(rfix_kill(cfix_node(cl, m)) == 0, "kill -9 master");
    WT_CHECK(rfix_resume(cfix_node(cl, r)) == 0, "resume replica");
    WT_CHECK(cfix_wait_role(cl, r, "master", WT_DEADLINE_MS), "replica not promoted");
    WT_CHECK(cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster not ok after the failover");
    /* the old master comes back as the new master's replica (WAIT needs one) */
    WT_CHECK(rfix_restart(cfix_node(cl, m)) == 0, "restart old master");
    WT_CHECK(cfix_wait_role(cl, m, "slave", WT_DEADLINE_MS), "old master did not rejoin as a replica");
    WT_CHECK(cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster not ok");
    connect_masters();
    WT_CHECK(wt_wait_stat(qc, "done", N, WT_DEADLINE_MS), "done=%lld of %d", wt_stat(qc, "done"), N);
    wt_worker_stop(w);
    long long back = per_key("EXISTS %s", keys, N, 1);
    wt_note("%s: %lld jobs acknowledged when the master was killed; %lld of %lld deleted keys of that master "
            "came back after the failover",
            wait ? "--cache-wait-replicas 1" : "no WAIT", done_at_kill, back, on_m);
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead letters: %lld", wt_stat(qc, "dead"));
    WT_CHECK(wt_llen(qc, wt_qkey((char[128]){ 0 }, 128, "dead")) == 0, "dead list not empty");
    wt_cmd(qc, "FLUSHALL");
    return back;
}

static void test_failover(void)
{
    long long back = failover_run(false);
    /* the promoted replica never saw the deletes: they come back (the
     * reason for --cache-wait-replicas) */
    WT_CHECK(back > 0, "no deleted key came back without WAIT: the scenario did not lag the replica");
    back = failover_run(true);
    WT_CHECK(back == 0, "%lld deleted keys came back with --cache-wait-replicas 1", back);
}

/* CLUSTER MYID of node i into id. */
static void node_id(int i, char *id, size_t len)
{
    WT_CHECK(cfix_node_id(cl, i, id, len) == 0, "CLUSTER MYID of node %d", i);
}

/* Moves slot from master a to master b the way redis-cli --cluster reshard
 * does: IMPORTING / MIGRATING, MIGRATE the keys in pages, then NODE on
 * every master. While it runs the worker meets ASK (and TRYAGAIN for a
 * chunk split across the two), afterwards MOVED. */
static void migrate_slot(int slot, int a, int b, const char *ida, const char *idb)
{
    wt_cmd(mctx[b], "CLUSTER SETSLOT %d IMPORTING %s", slot, ida);
    {
        redisReply *r = redisCommand(mctx[a], "CLUSTER SETSLOT %d MIGRATING %s", slot, idb);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            redisReply *n = redisCommand(mctx[a], "CLUSTER NODES");
            wt_note("slot %d a=%d b=%d: %s\n%s", slot, a, b, r ? r->str : "", n ? n->str : "");
        }
        WT_CHECK(r != NULL && r->type != REDIS_REPLY_ERROR, "MIGRATING");
        freeReplyObject(r);
    }
    for (;;) {
        redisReply *r = redisCommand(mctx[a], "CLUSTER GETKEYSINSLOT %d 50", slot);
        WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "GETKEYSINSLOT");
        if (r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        const char *argv[64];
        size_t lens[64];
        char port[16];
        snprintf(port, sizeof port, "%d", rfix_port(cfix_node(cl, b)));
        size_t n = 0;
        const char *head[] = { "MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS" };
        for (size_t i = 0; i < 7; i++) {
            argv[n] = head[i];
            lens[n++] = strlen(head[i]);
        }
        for (size_t i = 0; i < r->elements; i++) {
            argv[n] = r->element[i]->str;
            lens[n++] = r->element[i]->len;
        }
        redisReply *m = redisCommandArgv(mctx[a], (int)n, argv, lens);
        WT_CHECK(m != NULL && m->type != REDIS_REPLY_ERROR, "MIGRATE: %s", m != NULL ? m->str : "");
        freeReplyObject(m);
        freeReplyObject(r);
    }
    wt_cmd(mctx[b], "CLUSTER SETSLOT %d NODE %s", slot, idb);
    wt_cmd(mctx[a], "CLUSTER SETSLOT %d NODE %s", slot, idb);
    for (int i = 0; i < 32; i++)
        if (mctx[i] != NULL && i != a && i != b)
            wt_cmd(mctx[i], "CLUSTER SETSLOT %d NODE %s", slot, idb);
    owner[slot] = b;
    /* b's claim carries the highest config epoch, so that no node's gossip
     * of the old owner (an equal or higher epoch) can win it back */
    wt_cmd(mctx[b], "CLUSTER BUMPEPOCH");
    /* every node agrees before the next move (a quick next move could race
     * the config epochs of this one) */
    uint64_t deadline = wt_mono_ms() + WT_DEADLINE_MS;
    bool agreed = false;
    while (!agreed && wt_mono_ms() < deadline) {
        agreed = true;
        for (int i = 0; i < cfix_count(cl) && agreed; i++) {
            redisContext *c = cfix_connect(cl, i);
            if (c == NULL)
                continue;
            redisReply *n = redisCommand(c, "CLUSTER NODES");
            redisFree(c);
            /* the line of b lists the slot as a single slot or in a range */
            char me[80];
            snprintf(me, sizeof me, "%s ", idb);
            const char *line = NULL;
            if (n != NULL && n->type == REDIS_REPLY_STRING) {
                line = strncmp(n->str, me, strlen(me)) == 0 ? n->str : NULL;
                char nl[82];
                snprintf(nl, sizeof nl, "\n%s", me);
                if (line == NULL && (line = strstr(n->str, nl)) != NULL)
                    line++;
            }
            bool has = false;
            if (line != NULL) {
                const char *end = strchr(line, '\n');
                const char *p = line;
                for (int f = 0; f < 8 && p != NULL && p < end; f++) /* skip the 8 fixed fields */
                    p = strchr(p, ' ') != NULL ? strchr(p, ' ') + 1 : NULL;
                while (p != NULL && p < end && !has) {
                    long lo = strtol(p, (char **)&p, 10), hi = lo;
                    if (*p == '-')
                        hi = strtol(p + 1, (char **)&p, 10);
                    has = slot >= lo && slot <= hi;
                    while (p < end && *p == ' ')
                        p++;
                    if (p < end && *p == '[')
                        p = strchr(p, ' ') != NULL ? strchr(p, ' ') + 1 : end;
                }
            }
            agreed = has;
            if (n != NULL)
                freeReplyObject(n);
        }
        if (!agreed)
            rfix_sleep_ms(10);
    }
    WT_CHECK(agreed, "the cluster did not agree that slot %d moved", slot);
}

static void test_reshard(void)
{
    enum { NTAG = 30, N = 9000 };
    static char keys[N][48];
    flush_masters();
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof keys[i], "{r%d}:%d", i % NTAG, i);
    set_and_push_dels(keys, N);
    /* the masters, in node order */
    int ms[3], nm = 0;
    for (int i = 0; i < 32 && nm < 3; i++)
        if (mctx[i] != NULL)
            ms[nm++] = i;
    WT_CHECK(nm == 3, "%d masters", nm);
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        node_id(ms[i], ids[i], sizeof ids[i]);

    const char *extra[] = { "--batch", "10", "--consumers", "2", "--log-level", "debug", NULL };
    wt_proc *w = wt_worker_start(rfix_url(qsrv), cfix_url(cl), log_path, extra);
    WT_CHECK(w != NULL, "worker did not start");
    /* move the tags' slots round the masters until the queue is drained */
    int moves = 0;
    uint64_t deadline = wt_mono_ms() + WT_DEADLINE_MS;
    while (wt_stat(qc, "done") < N && wt_mono_ms() < deadline) {
        int tag = moves % NTAG;
        char t[16];
        snprintf(t, sizeof t, "r%d", tag);
        int slot = (int)cluster_keyslot(t, strlen(t));
        int from = -1;
        for (int i = 0; i < 3; i++)
            if (ms[i] == owner[slot])
                from = i;
        WT_CHECK(from >= 0, "slot %d owner", slot);
        int to = (from + 1) % 3;
        migrate_slot(slot, ms[from], ms[to], ids[from], ids[to]);
        moves++;
    }
    WT_CHECK(wt_wait_stat(qc, "done", N, WT_DEADLINE_MS), "done=%lld of %d", wt_stat(qc, "done"), N);
    wt_worker_stop(w);
    WT_CHECK(cfix_wait_ok(cl, WT_DEADLINE_MS), "cluster not ok after resharding");
    long long left = per_key("EXISTS %s", keys, N, 1);
    const char *moved[] = { "cache cluster redirect", "MOVED", NULL };
    const char *asked[] = { "cache cluster redirect", "ASK", NULL };
    int nmoved = wt_file_count(log_path, moved), nask = wt_file_count(log_path, asked);
    wt_note("%d slot migrations during the drain; redirects followed: %d MOVED, %d ASK; %lld keys left", moves,
            nmoved, nask, left);
    WT_CHECK(left == 0, "%lld keys survived the drain", left);
    WT_CHECK(wt_stat(qc, "dead") == 0, "dead letters: %lld", wt_stat(qc, "dead"));
    WT_CHECK(nmoved > 0, "no MOVED was met: the test did not reshard under load");
    WT_CHECK(!wt_file_contains(log_path, "CROSSSLOT"), "a command spanned two slots");
    wt_cmd(qc, "FLUSHALL");
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "drain";
    wt_worker_path(); /* skips when there is no worker */
    qsrv = wt_server(NULL);
    qc = wt_connect(qsrv);
    snprintf(log_path, sizeof log_path, "%s/worker.log", rfix_dir(qsrv));
    wt_set_log(log_path);
    int rc = cfix_start(&cl, NULL);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0, "cluster did not start");
    connect_masters();
    if (strcmp(what, "drain") == 0)
        test_drain();
    else if (strcmp(what, "reshard") == 0)
        test_reshard();
    else
        test_failover();
    for (int i = 0; i < 32; i++)
        if (mctx[i] != NULL)
            redisFree(mctx[i]);
    cfix_free(cl);
    redisFree(qc);
    wt_set_log(NULL);
    wt_server_free(qsrv);
    printf("cluster %s ok\n", what);
    return 0;
}
