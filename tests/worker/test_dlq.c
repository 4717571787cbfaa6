/* Dead letters: a poison payload lands in the DLQ with its exact bytes and a
 * precise reason while the worker goes on; INCR on a text value is a
 * permanent failure, dead-lettered after one attempt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

static void test_poison(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512];
    uint8_t poison[64];
    const char *keys1[] = {"p:before"};
    const char *keys2[] = {"p:after1", "p:after2"};
    wt_proc *w;
    dead_record **recs;
    size_t n;
    job_limits lim;
    job_error err;
    invq_job *decoded = NULL;
    int code;
    uint32_t seed = 12345;

    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);
    /* Deterministic random bytes, starting with a byte that is not a map. */
    for (size_t i = 0; i < sizeof(poison); i++) {
        seed = seed * 1103515245u + 12345u;
        poison[i] = (uint8_t)(seed >> 16);
    }
    poison[0] = 0xc1; /* reserved in msgpack: never valid */
    job_limits_default(&lim);
    code = job_decode(poison, sizeof(poison), &lim, &decoded, &err);
    WT_CHECK(code != 0 && decoded == NULL, "the poison payload decodes?");

    wt_cmd(c, "MSET p:before 1 p:after1 1 p:after2 1");
    wt_push1(c, "before", JOB_OP_DEL, keys1, 1, 0);
    wt_push(c, poison, sizeof(poison));
    wt_push1(c, "after", JOB_OP_DEL, keys2, 2, 0);

    w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(c, "done", 2, WT_DEADLINE_MS), "the good jobs were not applied");
    WT_CHECK(wt_wait_stat(c, "dead", 1, WT_DEADLINE_MS), "stats dead never became 1");
    WT_CHECK(wt_exists(c, "p:before") == 0 && wt_exists(c, "p:after1") == 0 && wt_exists(c, "p:after2") == 0,
             "jobs around the poison payload were not applied");
    WT_CHECK(wt_proc_running(w), "worker died on a poison payload");

    n = wt_dead_records(c, &recs);
    WT_CHECK(n == 1, "%zu dead letters, want 1", n);
    wt_note("poison reason: \"%s\" attempts=%llu consumer=%s", recs[0]->reason,
            (unsigned long long)recs[0]->attempts, recs[0]->consumer ? recs[0]->consumer : "(none)");
    WT_CHECK(recs[0]->job_len == sizeof(poison) && memcmp(recs[0]->job, poison, sizeof(poison)) == 0,
             "the dead letter does not hold the original bytes");
    WT_CHECK(strncmp(recs[0]->reason, job_err_code(code), strlen(job_err_code(code))) == 0,
             "reason \"%s\" does not start with the decoder's code \"%s\"", recs[0]->reason,
             job_err_code(code));
    WT_CHECK(recs[0]->id == NULL, "an undecodable job has no id");
    WT_CHECK(recs[0]->consumer != NULL && recs[0]->consumer[0] != '\0', "no consumer in the record");
    WT_CHECK(recs[0]->last_failed_ms > 0, "no last_failed_ms");
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

static void test_incr_not_integer(void)
{
    wt_pair p;
    const char *keys[] = {"v:text", "v:ok"};
    const char *after[] = {"v:later"};
    wt_proc *w;
    dead_record **recs;
    size_t n;
    const char *extra[] = {"--max-attempts", "5", NULL};

    wt_pair_start(&p, NULL, NULL);
    wt_cmd(p.cc, "MSET v:text abc v:ok 7 v:later 1");
    wt_push1(p.qc, "incr-text", JOB_OP_BUMP, keys, 2, 0);
    wt_push1(p.qc, "later", JOB_OP_DEL, after, 1, 0);

    w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(p.qc, "dead", 1, WT_DEADLINE_MS), "the job was never dead-lettered");
    WT_CHECK(wt_wait_stat(p.qc, "done", 1, WT_DEADLINE_MS), "the next job was not applied");
    WT_CHECK(wt_exists(p.cc, "v:later") == 0, "v:later not deleted");
    n = wt_dead_records(p.qc, &recs);
    WT_CHECK(n == 1, "%zu dead letters, want 1", n);
    wt_note("INCR on text: reason=\"%s\" attempts=%llu", recs[0]->reason,
            (unsigned long long)recs[0]->attempts);
    WT_CHECK(recs[0]->attempts == 1, "attempts=%llu, want 1 (permanent error, no retries)",
             (unsigned long long)recs[0]->attempts);
    WT_CHECK(strstr(recs[0]->reason, "not an integer") != NULL || strstr(recs[0]->reason, "WRONGTYPE") != NULL ||
                 strstr(recs[0]->reason, "wrong") != NULL,
             "reason \"%s\" does not say why", recs[0]->reason);
    WT_CHECK(recs[0]->id != NULL && strcmp(recs[0]->id, "incr-text") == 0, "dead letter id");
    {
        /* The record keeps the producer's bytes: they decode to the same job. */
        job_limits lim;
        job_error err;
        invq_job *j = NULL;
        job_limits_default(&lim);
        WT_CHECK(job_decode(recs[0]->job, recs[0]->job_len, &lim, &j, &err) == 0, "dead job bytes do not decode");
        WT_CHECK(strcmp(j->id, "incr-text") == 0 && j->nops == 1 && j->ops[0].nkeys == 2, "dead job altered");
        job_free(j);
    }
    WT_CHECK(wt_stat(p.qc, "retried") == 0, "a permanent failure was retried (%lld)", wt_stat(p.qc, "retried"));
    WT_CHECK(wt_get_int(p.cc, "v:text") == -1, "v:text changed");
    wt_dead_records_free(recs, n);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

int main(void)
{
    wt_worker_path();
    test_poison();
    wt_note("ok poison payload dead-lettered, worker went on");
    test_incr_not_integer();
    wt_note("ok INCR on a non-integer dead-lettered after one attempt");
    return 0;
}
