/* A sharded queue (--queue-shards 3: the queues default.0 .. default.2,
 * each its own hash tag) on a real Redis Cluster (`cluster`: 3 masters +
 * 3 replicas, tests/fixture/cluster_fixture.c, the shards routed to their
 * own masters) or on one Redis (`single`); the cache on a single Redis.
 *
 * libinvq's sync producer sends a wave round robin and a wave by key, the
 * async producer a wave by key and one round robin, two workers drain
 * every shard. At the end every key is gone, every shard was
 * used (its "enqueued" and "done" counters), nothing is dead-lettered, and
 * `invqctl stats --queue-shards 3` shows the totals: the sum of the
 * shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <invq/invq.h>

#include "cluster_fixture.h"
#include "cluster_slot.h"
#include "waves.h"
#include "wtest.h"

enum { SHARDS = 3, WAVE = 150, PER_JOB = 4, WAVES = 4 };

static cfix *cl;     /* cluster mode */
static rfix *single; /* single mode: the queue Redis */
static rfix *cache;
static redisContext *cc;
static char log_path[600];

static const char *queue_url(void)
{
    return cl != NULL ? cfix_url(cl) : rfix_url(single);
}

static void send_wave(int w, invq_shard_pick pick)
{
    invq_options o;
    invq_producer *p = NULL;
    char err[512];
    invq_options_init(&o);
    o.url = queue_url();
    o.queue_shards = SHARDS;
    o.shard_pick = pick;
    WT_CHECK(invq_producer_new(&o, &p, err, sizeof err) == 0, "producer: %s", err);
    for (int j = 0; j < WAVE; j++) {
        invq_job *job = wave_job(w, j, PER_JOB);
        int rc = invq_send(p, job);
        invq_job_free(job);
        WT_CHECK(rc == 0, "send %d/%d: %s: %s", w, j, invq_strerror(rc), invq_producer_errstr(p));
    }
    invq_producer_free(p);
}

/* Wave w through the async producer on its own loop. */
static void send_wave_async(int w, invq_shard_pick pick)
{
    invq_options o;
    invq_options_init(&o);
    o.url = queue_url();
    o.queue_shards = SHARDS;
    o.shard_pick = pick;
    wave_send_async(&o, w, WAVE, PER_JOB);
}

/* A connection to the node holding shard i's keys. */
static redisContext *shard_node(int i, char *prefix, size_t len)
{
    snprintf(prefix, len, "invq:{default.%d}:", i);
    if (cl == NULL)
        return wt_connect(single);
    char pending[64];
    snprintf(pending, sizeof pending, "%spending", prefix);
    int m = cfix_master_of(cl, (int)cluster_keyslot(pending, strlen(pending)));
    WT_CHECK(m >= 0, "no master for shard %d", i);
    return cfix_connect(cl, m);
}

static long long shard_counter(int i, const char *name)
{
    char prefix[64], key[96];
    redisContext *c = shard_node(i, prefix, sizeof prefix);
    snprintf(key, sizeof key, "%sstats", prefix);
    redisReply *r = redisCommand(c, "HGET %s %s", key, name);
    WT_CHECK(r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL), "HGET %s", key);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static long long shard_left(int i)
{
    char prefix[64], key[96], pat[96];
    redisContext *c = shard_node(i, prefix, sizeof prefix);
    snprintf(key, sizeof key, "%spending", prefix);
    snprintf(pat, sizeof pat, "%sprocessing:*", prefix);
    long long n = wt_llen(c, key) + wt_count_keys(c, pat);
    snprintf(key, sizeof key, "%sdead", prefix);
    WT_CHECK(wt_llen(c, key) == 0, "shard %d dead-lettered jobs", i);
    redisFree(c);
    return n;
}

static bool drained(void *ctx)
{
    (void)ctx;
    if (wt_dbsize(cc) != 0)
        return false;
    for (int i = 0; i < SHARDS; i++)
        if (shard_left(i) != 0)
            return false;
    return true;
}

static void ctl(const char *const *args, int want_status, const char *want)
{
    const char *exe = getenv("INVQCTL");
    if (exe == NULL || !*exe)
        return;
    char log[700];
    snprintf(log, sizeof log, "%s/ctl.log", rfix_dir(cache));
    remove(log);
    const char *argv[14] = { exe, "--queue-url", queue_url() };
    int n = 3;
    for (int i = 0; args[i] != NULL && n < 13; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int st = wt_run(exe, argv, NULL, log, WT_DEADLINE_MS);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == want_status;
    if (!ok || !wt_file_contains(log, want))
        wt_file_dump(log);
    WT_CHECK(ok, "invqctl %s: status %d", args[0], st);
    WT_CHECK(wt_file_contains(log, want), "invqctl %s: no '%s'", args[0], want);
}

int main(int argc, char **argv)
{
    bool on_cluster = argc > 1 && strcmp(argv[1], "cluster") == 0;
    if (on_cluster) {
        int rc = cfix_start(&cl, NULL);
        if (rc == RFIX_SKIP)
            return 77;
        WT_CHECK(rc == 0, "cluster did not start");
        for (int i = 0; i < SHARDS; i++) {
            char pending[64];
            snprintf(pending, sizeof pending, "invq:{default.%d}:pending", i);
            int slot = (int)cluster_keyslot(pending, strlen(pending));
            wt_note("shard %d: slot %d on node %d", i, slot, cfix_master_of(cl, slot));
        }
    } else {
        single = wt_server(NULL);
    }
    cache = wt_server(NULL);
    cc = wt_connect(cache);
    snprintf(log_path, sizeof log_path, "%s/worker.log", rfix_dir(cache));
    wt_set_log(log_path);

    for (int w = 0; w < WAVES; w++)
        wave_set(cc, w, WAVE, PER_JOB);
    send_wave(0, INVQ_SHARD_ROUND_ROBIN);
    send_wave(1, INVQ_SHARD_BY_KEY);
    send_wave_async(2, INVQ_SHARD_BY_KEY);
    send_wave_async(3, INVQ_SHARD_ROUND_ROBIN);
    long long enq = 0;
    for (int i = 0; i < SHARDS; i++) {
        long long e = shard_counter(i, "enqueued");
        wt_note("shard %d: %lld jobs enqueued", i, e);
        WT_CHECK(e > 0, "shard %d never used", i);
        enq += e;
    }
    WT_CHECK(enq == WAVES * WAVE, "%lld jobs enqueued over the shards, sent %d", enq, WAVES * WAVE);

    /* two workers, 2 consumers each: spread over 3 shards, at least one each */
    const char *extra[] = { "--batch", "8", "--consumers", "2", "--queue-shards", "3", NULL };
    wt_proc *w1 = wt_worker_start(queue_url(), rfix_url(cache), log_path, extra);
    wt_proc *w2 = wt_worker_start(queue_url(), rfix_url(cache), log_path, extra);
    WT_CHECK(wt_wait_for(drained, NULL, WT_DEADLINE_MS), "not drained: %lld cache keys left", wt_dbsize(cc));
    long long done = 0;
    for (int i = 0; i < SHARDS; i++) {
        long long d = shard_counter(i, "done");
        WT_CHECK(d > 0, "shard %d: nothing done", i);
        done += d;
    }
    WT_CHECK(done == WAVES * WAVE, "%lld jobs done over the shards, sent %d", done, WAVES * WAVE);

    char want[64];
    snprintf(want, sizeof want, "enqueued %d done %d", WAVES * WAVE, WAVES * WAVE);
    const char *stats[] = { "stats", "--queue-shards", "3", NULL };
    ctl(stats, 0, want);
    ctl(stats, 0, "pending      0");
    const char *one[] = { "stats", "--queue-shards", "3", "--shard", "1", NULL };
    ctl(one, 0, "{default.1}");
    const char *dlq[] = { "dlq", "list", "--queue-shards", "3", "--shard", "2", NULL };
    ctl(dlq, 1, "no dead-letter entries matched");
    const char *all[] = { "dlq", "list", "--queue-shards", "3", NULL };
    ctl(all, 1, "shard 2 of 3"); /* every shard in turn, none has an entry */
    const char *bad[] = { "dlq", "import", "--queue-shards", "3", NULL };
    ctl(bad, 64, "name one with --shard N");

    wt_worker_stop(w1);
    wt_worker_stop(w2);
    redisFree(cc);
    wt_set_log(NULL);
    wt_server_free(cache);
    if (single != NULL)
        wt_server_free(single);
    cfix_free(cl);
    printf("ok\n");
    return 0;
}
