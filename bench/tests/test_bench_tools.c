/* Checks the benchmark's helper programs against a real redis-server: the
 * prefill tool writes exactly the keyspace and jobs the scenarios rely on,
 * the load generator pushes at its rate and its checker sees keys go, and
 * both reference consumers of the everyday scenario apply every job and
 * leave nothing on their processing list. */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "btest.h"
#include "job.h"
#include "redis_fixture.h"

static long long integer(rfix *f, const char *fmt, const char *arg)
{
    redisReply *r = rfix_command(f, fmt, arg);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

static void flushall(rfix *f)
{
    freeReplyObject(rfix_command(f, "FLUSHALL"));
}

/* Keys in database 1, or -1. */
static long long cache_dbsize(rfix *f)
{
    redisContext *c = rfix_connect(f);
    if (c == NULL)
        return -1;
    redisReply *r = redisCommand(c, "SELECT 1");
    freeReplyObject(r);
    r = redisCommand(c, "DBSIZE");
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_prefill_keys(rfix *f, const char *prefill, const char *port)
{
    char out[256];
    const char *argv[] = { prefill, "--port", port, "keys", "--prefix", "bk:",
                     "--count", "2500", "--start", "10", NULL };
    CHECK(btest_run(argv, out, sizeof out) == 0, "prefill keys failed");
    CHECK(integer(f, "DBSIZE", NULL) == 2500, "expected 2500 keys");
    CHECK(integer(f, "EXISTS %s", "bk:000000000010") == 1, "first key missing");
    CHECK(integer(f, "EXISTS %s", "bk:000000002509") == 1, "last key missing");
    CHECK(integer(f, "EXISTS %s", "bk:000000002510") == 0, "key past the range exists");
    CHECK(integer(f, "EXISTS %s", "bk:000000000009") == 0, "key before the range exists");

    const char *argv_db[] = { prefill, "--port", port, "keys", "--prefix", "x:",
                        "--count", "7", "--db", "1", NULL };
    CHECK(btest_run(argv_db, out, sizeof out) == 0, "prefill keys --db failed");
    CHECK(integer(f, "DBSIZE", NULL) == 2500, "--db 1 wrote into db 0");
    CHECK(cache_dbsize(f) == 7, "expected 7 keys in db 1");
}

/* Decodes job i (oldest first) of the pending list and checks its keys. */
static void check_job(rfix *f, long long i, job_op_kind kind, const char *const *want, size_t nwant)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%lld", -1 - i);
    redisReply *r = rfix_command(f, "LINDEX invq:{default}:pending %s", idx);
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING, "job %lld missing", i);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return;
    }
    job_limits lim;
    job_limits_default(&lim);
    invq_job *job = NULL;
    job_error err;
    int rc = job_decode((const uint8_t *)r->str, r->len, &lim, &job, &err);
    CHECK(rc == 0, "job %lld does not decode: %s", i, job_err_code(rc));
    if (rc == 0) {
        CHECK(job->nops == 1 && job->ops[0].kind == kind, "job %lld: wrong op", i);
        CHECK(job->ops[0].nkeys == nwant, "job %lld: %zu keys", i, job->ops[0].nkeys);
        for (size_t k = 0; k < nwant && k < job->ops[0].nkeys; k++)
            CHECK(job->ops[0].keys[k].len == strlen(want[k]) &&
                      memcmp(job->ops[0].keys[k].data, want[k], strlen(want[k])) == 0,
                  "job %lld key %zu is not %s", i, k, want[k]);
        CHECK(job->ts > 1700000000000ull, "job %lld: ts %" PRIu64 " is not ms since the epoch", i, job->ts);
    }
    job_free(job);
    freeReplyObject(r);
}

static void test_prefill_jobs(rfix *f, const char *prefill, const char *port)
{
    char out[256];
    flushall(f);
    const char *argv[] = { prefill, "--port", port, "jobs", "--kind", "del", "--prefix", "bk:",
                     "--count", "2345", "--keys-per-job", "3", NULL };
    CHECK(btest_run(argv, out, sizeof out) == 0, "prefill jobs failed");
    CHECK(integer(f, "LLEN %s", "invq:{default}:pending") == 2345, "expected 2345 jobs");
    redisReply *r = rfix_command(f, "HGET invq:{default}:stats enqueued");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "2345") == 0, "stats enqueued");
    freeReplyObject(r);
    const char *first[] = { "bk:000000000000", "bk:000000000001", "bk:000000000002" };
    const char *last[] = { "bk:000000007032", "bk:000000007033", "bk:000000007034" };
    check_job(f, 0, JOB_OP_DEL, first, 3);
    check_job(f, 2344, JOB_OP_DEL, last, 3);

    flushall(f);
    const char *argv_hot[] = { prefill, "--port", port, "jobs", "--kind", "bump", "--prefix", "hk:",
                         "--count", "1500", "--keyspace", "1000", NULL };
    CHECK(btest_run(argv_hot, out, sizeof out) == 0, "prefill bump jobs failed");
    const char *wrap[] = { "hk:000000000499" };
    check_job(f, 1499, JOB_OP_BUMP, wrap, 1);
}

static void test_loadgen(rfix *f, const char *loadgen, const char *port)
{
    char out[2048];
    flushall(f);
    /* No key exists, so the checker must see every sampled key gone. */
    const char *argv[] = { loadgen, "--port", port, "--rate", "4000", "--seconds", "0.5",
                     "--grace-ms", "2000", NULL };
    CHECK(btest_run(argv, out, sizeof out) == 0, "loadgen failed: %s", out);
    CHECK(strstr(out, "\"pushed\":2000,") != NULL, "expected 2000 pushed: %s", out);
    CHECK(strstr(out, "\"samples\":20,") != NULL, "expected 20 samples: %s", out);
    CHECK(strstr(out, "\"push_to_gone\":{\"seen\":20,") != NULL, "expected all 20 seen gone: %s", out);
    CHECK(integer(f, "LLEN %s", "invq:{default}:pending") == 2000, "expected 2000 jobs");
    const char *k0[] = { "lt:000000000000" };
    check_job(f, 0, JOB_OP_DEL, k0, 1);
    const char *klast[] = { "lt:000000001999" };
    check_job(f, 1999, JOB_OP_DEL, klast, 1);
    char *p = strstr(out, "\"push_seconds\":");
    double secs = p ? strtod(p + 15, NULL) : 0;
    CHECK(secs >= 0.45 && secs < 1.5, "an open-loop 0.5 s run took %.3f s", secs);

    /* Keys that stay: nothing is seen gone, and the run still ends. */
    flushall(f);
    redisContext *c = rfix_connect(f);
    for (int i = 0; c != NULL && i < 200; i++) {
        redisReply *r = redisCommand(c, "SET lt:%012d 1", i);
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    const char *argv2[] = { loadgen, "--port", port, "--rate", "400", "--seconds", "0.5",
                      "--grace-ms", "200", NULL };
    CHECK(btest_run(argv2, out, sizeof out) == 0, "loadgen failed: %s", out);
    CHECK(strstr(out, "\"push_to_gone\":{\"seen\":0,") != NULL, "no key was deleted, yet: %s", out);
}

/* bench/baseline with `flags` (NULL-terminated, at most 3) drains 300
 * one-key delete jobs of q's queue, the keys on cache (q itself, database
 * 1, or a Redis of its own reached with --cache-port): every key goes,
 * pending and its processing list end empty, SIGTERM ends it with 0. */
static void test_baseline(rfix *q, rfix *cache, const char *prefill, const char *baseline, const char *const *flags)
{
    char out[256], port[16], cport[16], what[96] = "baseline";
    snprintf(port, sizeof port, "%d", rfix_port(q));
    snprintf(cport, sizeof cport, "%d", rfix_port(cache));
    for (size_t i = 0; flags[i] != NULL; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), " %s", flags[i]);
    if (cache != q)
        snprintf(what + strlen(what), sizeof what - strlen(what), " --cache-port");
    flushall(q);
    flushall(cache);
    const char *keys[] = { prefill, "--port", cport, "keys", "--prefix", "bl:", "--count", "300", "--db", "1", NULL };
    const char *jobs[] = { prefill, "--port", port, "jobs", "--kind", "del", "--prefix", "bl:", "--count", "300", NULL };
    CHECK(btest_run(keys, out, sizeof out) == 0 && btest_run(jobs, out, sizeof out) == 0, "prefill failed");
    CHECK(cache_dbsize(cache) == 300, "%s: expected 300 keys to delete", what);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[12] = { baseline, "--port", port, "--cache-port", cport, "--cache-db", "1" };
        for (size_t i = 0; flags[i] != NULL && i < 3; i++)
            argv[7 + i] = flags[i];
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execv(baseline, (char *const *)argv);
        _exit(127);
    }
    CHECK(pid > 0, "fork failed");
    if (pid <= 0)
        return;
    long long left = -1, pending = -1, processing = -1;
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        left = cache_dbsize(cache);
        pending = integer(q, "LLEN %s", "invq:{default}:pending");
        processing = integer(q, "LLEN %s", "invq:{default}:processing:baseline");
        if (left == 0 && pending == 0 && processing == 0)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
    }
    CHECK(left == 0, "%s: %lld keys left", what, left);
    CHECK(pending == 0 && processing == 0, "%s: pending %lld, processing %lld", what, pending, processing);
    kill(pid, SIGTERM);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s did not end cleanly on SIGTERM",
          what);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_bench_tools PREFILL LOADGEN BASELINE\n");
        return 2;
    }
    rfix_opts opts = { .tcp = true };
    rfix *f = NULL;
    int rc = rfix_start(&f, &opts);
    if (rc != 0)
        return rc == RFIX_SKIP ? RFIX_SKIP : 1;
    char port[16];
    snprintf(port, sizeof port, "%d", rfix_port(f));
    test_prefill_keys(f, argv[1], port);
    test_prefill_jobs(f, argv[1], port);
    test_loadgen(f, argv[2], port);
    static const char *const plain[] = { NULL }, *const lean[] = { "--pipelined", NULL },
                             *const skip[] = { "--pipelined", "--reply-skip", NULL },
                             *const early[] = { "--pipelined", "--early-take", NULL },
                             *const both[] = { "--pipelined", "--reply-skip", "--early-take", NULL };
    test_baseline(f, f, argv[1], argv[3], plain);
    test_baseline(f, f, argv[1], argv[3], lean);
    test_baseline(f, f, argv[1], argv[3], skip);
    test_baseline(f, f, argv[1], argv[3], early);
    rfix *cache = NULL;
    rc = rfix_start(&cache, &opts);
    CHECK(rc == 0, "a second redis-server (the cache's) did not start");
    if (rc == 0) {
        test_baseline(f, cache, argv[1], argv[3], plain);
        test_baseline(f, cache, argv[1], argv[3], both);
        rfix_free(cache);
    }
    rfix_free(f);
    if (btest_failures == 0)
        printf("ok\n");
    return btest_failures ? 1 : 0;
}
