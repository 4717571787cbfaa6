/* The worker's memory stays bounded by its limits: a 50 MiB list element
 * and three of 32 MiB (with the default --max-payload of 1 MiB), pushed
 * both before the worker starts and while it idles in BLMOVE, never reach
 * it whole. Its peak RSS (VmHWM) grows by a few MiB at most; each element
 * is dead-lettered as too_large and its bytes stay retrievable. Suite
 * `slow`: it moves ~150 MiB through Redis, and under memcheck the RSS of
 * the valgrind process says nothing about the worker's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

#define MIB (1024u * 1024u)

int main(void)
{
    wt_worker_path();
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512];
    snprintf(log, sizeof log, "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);

    wt_push_dels(c, c, "warm", 0, 2000);
    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(c, "done", 2000, WT_DEADLINE_MS), "warm-up not applied");
    long base = wt_vmhwm_kb(wt_proc_pid(w));
    WT_CHECK(base > 0, "no VmHWM for the worker");

    const size_t sizes[] = { 50 * MIB, 32 * MIB, 32 * MIB, 32 * MIB };
    uint8_t *big[4];
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "big-%d", i);
        big[i] = wt_big_job(id, sizes[i]);
    }
    /* while the worker idles: the first reaches a consumer's BLMOVE */
    wt_push(c, big[0], sizes[0]);
    WT_CHECK(wt_wait_llen(c, "invq:{default}:dead", 1, WT_DEADLINE_MS), "the 50 MiB job was not dead-lettered");
    /* then the others at once (one transaction), and good jobs behind them:
     * each reaches a consumer by BLMOVE or fetch.lua */
    redisReply *r = redisCommand(c, "MULTI");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_STATUS, "MULTI");
    freeReplyObject(r);
    for (int i = 1; i < 4; i++) {
        r = redisCommand(c, "LPUSH invq:{default}:pending %b", big[i], sizes[i]);
        freeReplyObject(r);
    }
    r = redisCommand(c, "EXEC");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "EXEC");
    freeReplyObject(r);
    wt_push_dels(c, c, "y", 0, 100);
    WT_CHECK(wt_wait_llen(c, "invq:{default}:dead", 4, WT_DEADLINE_MS), "dead %lld, want 4",
             wt_llen(c, "invq:{default}:dead"));
    WT_CHECK(wt_wait_stat(c, "done", 2100, WT_DEADLINE_MS), "good jobs: done %lld", wt_stat(c, "done"));
    long peak = wt_vmhwm_kb(wt_proc_pid(w));
    wt_note("worker VmHWM %ld KiB after warm-up, %ld KiB after 146 MiB of oversized jobs (+%ld KiB)", base, peak,
            peak - base);
    WT_CHECK(peak - base < 16 * 1024, "peak RSS grew by %ld KiB", peak - base);

    dead_record **recs;
    size_t n = wt_dead_records(c, &recs);
    WT_CHECK(n == 4, "%zu dead letters", n);
    for (size_t i = 0; i < n; i++) {
        WT_CHECK(strncmp(recs[i]->reason, "too_large: ", 11) == 0 && recs[i]->job_key != NULL &&
                     recs[i]->job_len == 0,
                 "record %zu: %s", i, recs[i]->reason);
        int k = recs[i]->job_size == sizes[0] ? 0 : -1;
        for (int j = 1; j < 4 && k < 0; j++) {
            redisReply *g = redisCommand(c, "GET %s", recs[i]->job_key);
            bool same = g != NULL && g->type == REDIS_REPLY_STRING && (size_t)g->len == sizes[j] &&
                        memcmp(g->str, big[j], sizes[j]) == 0;
            freeReplyObject(g);
            k = same ? j : -1;
            if (same)
                break;
        }
        if (k == 0) {
            redisReply *g = redisCommand(c, "GET %s", recs[i]->job_key);
            WT_CHECK(g != NULL && g->type == REDIS_REPLY_STRING && (size_t)g->len == sizes[0] &&
                         memcmp(g->str, big[0], sizes[0]) == 0,
                     "the 50 MiB job's bytes are not kept");
            freeReplyObject(g);
        }
        WT_CHECK(k >= 0, "record %zu: the bytes under %s are no job's", i, recs[i]->job_key);
    }
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    for (int i = 0; i < 4; i++)
        free(big[i]);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
    return 0;
}
