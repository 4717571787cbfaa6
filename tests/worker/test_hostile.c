/* Hostile but valid jobs against a real worker. Jobs that name the queue's
 * own keys (any queue of the namespace) are dead-lettered whole with
 * `key_not_allowed: <op> <key>: reserved for the queue` while everything
 * around them is applied and the queue stays intact. Jobs larger than
 * --max-payload never reach the worker: whether fetched, brought by BLMOVE
 * or found on a dead consumer's list, they are moved aside server-side, a
 * too_large dead letter names the key that keeps their exact bytes, and the
 * record is the one the codec writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

#define GOOD 1400
#define BIG_LIMIT 65536

static void push_job(redisContext *c, invq_job *j)
{
    size_t len;
    uint8_t *b = wt_encode(j, &len);
    wt_push(c, b, len);
    free(b);
    job_free(j);
}

/* A job of one op over `key`, id `id`. */
static void push_op(redisContext *c, const char *id, job_op_kind op, const char *key)
{
    const char *keys[] = { key };
    wt_push1(c, id, op, keys, 1, op == JOB_OP_EXPIRE ? 1 : 0);
}

typedef struct want_dead {
    const char *id;
    const char *reason;
} want_dead;

static void test_reserved_keys(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512];
    snprintf(log, sizeof log, "%s/reserved.log", rfix_dir(srv));
    wt_set_log(log);

    /* What a queue holds before: a dead letter and a deferred job. */
    {
        char reason[] = "malformed: earlier", consumer[] = "earlier-0";
        static const uint8_t junk[] = { 0xc1 };
        dead_record rec = { .job = (uint8_t *)junk, .job_len = 1, .reason = reason, .attempts = 1,
                            .first_failed_ms = 1, .last_failed_ms = 1, .consumer = consumer };
        uint8_t *enc;
        size_t len;
        WT_CHECK(dead_encode(&rec, &enc, &len) == 0, "dead_encode");
        redisReply *r = redisCommand(c, "LPUSH invq:{default}:dead %b", enc, len);
        WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "LPUSH dead");
        freeReplyObject(r);
        free(enc);
    }
    wt_cmd(c, "ZADD invq:{default}:delayed 99999999999999 deferred-job");
    wt_cmd(c, "SET user:keep 1");
    wt_cmd(c, "SET other:{default}:pending 1");

    /* The hostile jobs go first (the oldest), then a backlog of good ones. */
    static const want_dead want[] = {
        { "h-del-pending", "key_not_allowed: del invq:{default}:pending: reserved for the queue" },
        { "h-del-dead", "key_not_allowed: del invq:{default}:dead: reserved for the queue" },
        { "h-del-delayed", "key_not_allowed: del invq:{default}:delayed: reserved for the queue" },
        { "h-expire-dead", "key_not_allowed: expire invq:{default}:dead: reserved for the queue" },
        { "h-bump-dead", "key_not_allowed: bump invq:{default}:dead: reserved for the queue" },
        { "h-bump-delayed", "key_not_allowed: bump invq:{default}:delayed: reserved for the queue" },
        { "h-any", "key_not_allowed: del invq:config: reserved for the queue" },
        { "h-mixed", "key_not_allowed: del invq:{other}:stats: reserved for the queue" },
    };
    push_op(c, "h-del-pending", JOB_OP_DEL, "invq:{default}:pending");
    push_op(c, "h-del-dead", JOB_OP_DEL, "invq:{default}:dead");
    push_op(c, "h-del-delayed", JOB_OP_DEL, "invq:{default}:delayed");
    push_op(c, "h-expire-dead", JOB_OP_EXPIRE, "invq:{default}:dead");
    push_op(c, "h-bump-dead", JOB_OP_BUMP, "invq:{default}:dead");
    push_op(c, "h-bump-delayed", JOB_OP_BUMP, "invq:{default}:delayed");
    push_op(c, "h-any", JOB_OP_DEL, "invq:config");
    {
        /* one harmless key and one of another queue: nothing of it applies */
        const char *keys[] = { "user:keep", "invq:{other}:stats" };
        push_job(c, wt_job_build("h-mixed", JOB_OP_DEL, keys, 2, 0));
    }
    push_op(c, "other-ns", JOB_OP_DEL, "other:{default}:pending");
    wt_push_dels(c, c, "g", 0, GOOD);

    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(c, "done", GOOD + 1, WT_DEADLINE_MS), "the good jobs were not all applied: done %lld",
             wt_stat(c, "done"));
    WT_CHECK(wt_wait_stat(c, "dead", 8, WT_DEADLINE_MS), "dead %lld, want 8", wt_stat(c, "dead"));
    WT_CHECK(wt_count_keys(c, "g:*") == 0, "%lld good keys left", wt_count_keys(c, "g:*"));
    WT_CHECK(wt_exists(c, "user:keep") == 1, "a job with a reserved key was partly applied");
    WT_CHECK(wt_exists(c, "other:{default}:pending") == 0, "a key of another namespace was refused");
    WT_CHECK(wt_zcard(c, "invq:{default}:delayed") == 1, "the deferred job is gone");
    WT_CHECK(wt_proc_running(w), "the worker died");

    dead_record **recs;
    size_t n = wt_dead_records(c, &recs);
    WT_CHECK(n == 9, "%zu entries in the DLQ, want 8 new and the earlier one", n);
    WT_CHECK(strcmp(recs[n - 1]->reason, "malformed: earlier") == 0, "the earlier entry changed");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        bool found = false;
        for (size_t k = 0; k + 1 < n && !found; k++) {
            if (recs[k]->id == NULL || strcmp(recs[k]->id, want[i].id) != 0)
                continue;
            found = true;
            WT_CHECK(strcmp(recs[k]->reason, want[i].reason) == 0, "%s: reason \"%s\", want \"%s\"", want[i].id,
                     recs[k]->reason, want[i].reason);
            WT_CHECK(recs[k]->attempts == 1, "%s: attempts %llu", want[i].id,
                     (unsigned long long)recs[k]->attempts);
        }
        WT_CHECK(found, "%s is not in the DLQ", want[i].id);
    }
    wt_note("8 jobs naming queue keys dead-lettered whole, e.g. \"%s\"; %d jobs around them applied",
            want[0].reason, GOOD + 1);
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

/* ---- oversized elements ---- */

/* The too_large record for `bytes` (n of them): what the worker's scripts
 * must have written, checked field by field and against the codec. */
static void check_oversized(redisContext *c, const dead_record *r, const uint8_t *bytes, size_t n)
{
    char reason[160];
    snprintf(reason, sizeof reason, "too_large: (payload): payload is %zu bytes, limit %d", n, BIG_LIMIT);
    WT_CHECK(strcmp(r->reason, reason) == 0, "reason \"%s\", want \"%s\"", r->reason, reason);
    WT_CHECK(r->job_len == 0 && r->job_size == n, "record keeps %zu bytes, says %llu", r->job_len,
             (unsigned long long)r->job_size);
    WT_CHECK(r->job_key != NULL && strncmp(r->job_key, "invq:{default}:oversized:", 25) == 0, "job_key %s",
             r->job_key ? r->job_key : "(none)");
    WT_CHECK(r->attempts == 1 && r->nerrs == 1 && strcmp(r->errs[0], reason) == 0, "attempts/errs");
    WT_CHECK(r->consumer != NULL && r->consumer[0] != '\0' && r->last_failed_ms > 0, "consumer/time");
    redisReply *g = redisCommand(c, "GET %s", r->job_key);
    WT_CHECK(g != NULL && g->type == REDIS_REPLY_STRING && (size_t)g->len == n && memcmp(g->str, bytes, n) == 0,
             "the bytes kept under %s are not the job's", r->job_key);
    freeReplyObject(g);
    /* the scripts write the record exactly as the C encoder does */
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    WT_CHECK(dead_encode(r, &enc, &enc_len) == 0, "dead_encode");
    redisReply *raw = redisCommand(c, "LRANGE invq:{default}:dead 0 -1");
    bool same = false;
    for (size_t i = 0; raw != NULL && i < raw->elements && !same; i++)
        same = (size_t)raw->element[i]->len == enc_len && memcmp(raw->element[i]->str, enc, enc_len) == 0;
    WT_CHECK(same, "the record is not byte for byte what dead_encode() writes");
    freeReplyObject(raw);
    free(enc);
}

static const dead_record *record_for(dead_record **recs, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->job_key != NULL && recs[i]->job_size == size)
            return recs[i];
    }
    return NULL;
}

static void test_oversized(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512], limit[24];
    snprintf(log, sizeof log, "%s/oversized.log", rfix_dir(srv));
    snprintf(limit, sizeof limit, "%d", BIG_LIMIT);
    wt_set_log(log);
    const size_t sizes[] = { 4 * BIG_LIMIT, BIG_LIMIT + 1, 3 * BIG_LIMIT, 2 * BIG_LIMIT };
    uint8_t *big[4];
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "big-%d", i);
        big[i] = wt_big_job(id, sizes[i]);
    }
    uint8_t *fits = wt_big_job("fits", BIG_LIMIT); /* the limit is inclusive */
    wt_cmd(c, "SET fits 1");

    /* Fetched: taken by fetch.lua together with good jobs. */
    wt_push_dels(c, c, "a", 0, 10);
    wt_push(c, big[0], sizes[0]);
    wt_push(c, fits, BIG_LIMIT);
    wt_push(c, big[1], sizes[1]);
    wt_push_dels(c, c, "b", 0, 10);
    /* On a dead consumer's list: the reaper moves it aside. */
    wt_cmd(c, "ZADD invq:{default}:consumers 1 gone-1-1-0");
    redisReply *r = redisCommand(c, "LPUSH invq:{default}:processing:gone-1-1-0 %b", big[2], sizes[2]);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "LPUSH processing");
    freeReplyObject(r);
    wt_push_dels(c, c, "c", 0, 1); /* ... next to a good job */
    wt_cmd(c, "LMOVE invq:{default}:pending invq:{default}:processing:gone-1-1-0 LEFT LEFT");

    const char *extra[] = { "--max-payload", limit, "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_llen(c, "invq:{default}:dead", 3, WT_DEADLINE_MS),
             "the fetched and reaped oversized jobs: dead %lld", wt_llen(c, "invq:{default}:dead"));
    WT_CHECK(wt_wait_stat(c, "done", 22, WT_DEADLINE_MS), "good jobs: done %lld", wt_stat(c, "done"));

    /* Brought by BLMOVE to an idle worker: its reply is refused, and the
     * job is moved aside when the list is returned. */
    wt_push(c, big[3], sizes[3]);
    WT_CHECK(wt_wait_llen(c, "invq:{default}:dead", 4, WT_DEADLINE_MS),
             "the oversized job given to an idle worker: dead %lld", wt_llen(c, "invq:{default}:dead"));
    wt_push_dels(c, c, "d", 0, 5);
    WT_CHECK(wt_wait_stat(c, "done", 27, WT_DEADLINE_MS), "after the BLMOVE: done %lld", wt_stat(c, "done"));
    WT_CHECK(wt_count_keys(c, "a:*") + wt_count_keys(c, "b:*") + wt_count_keys(c, "c:*") +
                     wt_count_keys(c, "d:*") + wt_exists(c, "fits") == 0,
             "good jobs were not applied");
    WT_CHECK(wt_stat(c, "oversized") == 4 && wt_stat(c, "dead") == 4, "stats oversized %lld dead %lld",
             wt_stat(c, "oversized"), wt_stat(c, "dead"));
    WT_CHECK(wt_count_keys(c, "invq:{default}:oversized:*") == 4, "keys kept aside: %lld",
             wt_count_keys(c, "invq:{default}:oversized:*"));
    WT_CHECK(wt_exists(c, "invq:{default}:processing:gone-1-1-0") == 0, "the dead consumer was not reaped");
    WT_CHECK(wt_llen(c, "invq:{default}:pending") == 0, "jobs left pending");

    dead_record **recs;
    size_t n = wt_dead_records(c, &recs);
    WT_CHECK(n == 4, "%zu dead letters, want 4", n);
    for (int i = 0; i < 4; i++) {
        const dead_record *d = record_for(recs, n, sizes[i]);
        WT_CHECK(d != NULL, "no record for the job of %zu bytes", sizes[i]);
        check_oversized(c, d, big[i], sizes[i]);
    }
    WT_CHECK(wt_file_contains(log, "\"job_key\":\"invq:{default}:oversized:"), "the worker did not log them");
    wt_note("4 jobs over --max-payload %d (fetched, reaped, via BLMOVE) dead-lettered as too_large, bytes kept "
            "aside; one of exactly the limit applied",
            BIG_LIMIT);
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    for (int i = 0; i < 4; i++)
        free(big[i]);
    free(fits);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

/* Without arguments both parts run; "reserved" or "oversized" runs one. */
int main(int argc, char **argv)
{
    wt_worker_path();
    if (argc < 2 || strcmp(argv[1], "reserved") == 0) {
        test_reserved_keys();
        wt_note("ok reserved keys");
    }
    if (argc < 2 || strcmp(argv[1], "oversized") == 0) {
        test_oversized();
        wt_note("ok oversized jobs");
    }
    return 0;
}
