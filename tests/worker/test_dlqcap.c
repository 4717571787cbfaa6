/* --dlq-max against a real worker: with the dead-letter list at its cap, a
 * batch that would add dead letters is held on its processing list
 * (nothing lost, the list does not grow), /readyz answers 503 naming the
 * reason, invq_dlq_full is 1, other jobs go on being applied, the incident
 * is logged once; once an operator drains the list the held job is
 * dead-lettered and the worker is ready again by itself. */
#include <stdio.h>
#include <string.h>

#include "obs_e2e.h"
#include "wtest.h"

int main(void)
{
    wt_worker_path();
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    char addr[64], dead[128], body[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    wt_qkey(dead, sizeof dead, "dead");
    const char *extra[] = { "--http-addr", addr, "--dlq-max", "3", "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker");
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    for (int i = 0; i < 3; i++) {
        wt_push_bad(&p, i);
        WT_CHECK(wt_wait_llen(p.qc, dead, i + 1, WT_DEADLINE_MS), "dead letter %d", i);
    }
    /* at the cap: the next one is held */
    wt_push_bad(&p, 3);
    e2e_wait_status(port, "/readyz", 503, body, sizeof body);
    wt_note("readyz at the cap: %s", body);
    WT_CHECK(strstr(body, "dead-letter list full") != NULL, "readyz: %s", body);
    WT_CHECK(e2e_metric(port, "invq_dlq_full") == 1, "invq_dlq_full");
    WT_CHECK(wt_llen(p.qc, dead) == 3, "the list grew past its cap: %lld", wt_llen(p.qc, dead));
    WT_CHECK(wt_count_keys(p.qc, "invq:{default}:processing:*") == 1, "the held job is not on a processing list");
    /* other jobs go on */
    wt_push_dels(p.qc, p.cc, "ok", 0, 10);
    WT_CHECK(wt_wait_stat(p.qc, "done", 10, WT_DEADLINE_MS), "good jobs not applied while one batch is held");
    WT_CHECK(wt_llen(p.qc, dead) == 3, "dead %lld", wt_llen(p.qc, dead));
    /* the operator drains two records (as invqctl dlq purge/requeue would) */
    wt_cmd(p.qc, "RPOP %s 2", dead);
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    WT_CHECK(wt_wait_llen(p.qc, dead, 2, WT_DEADLINE_MS), "the held job was not dead-lettered");
    dead_record **recs;
    size_t n = wt_dead_records(p.qc, &recs);
    WT_CHECK(n == 2 && recs[0]->id != NULL && strcmp(recs[0]->id, "bad-3") == 0, "newest record is not bad-3");
    wt_dead_records_free(recs, n);
    WT_CHECK(e2e_metric(port, "invq_dlq_full") == 0, "invq_dlq_full after draining");
    const char *full[] = { "dead-letter list full", NULL }, *room[] = { "dead-letter list has room again", NULL };
    WT_CHECK(wt_file_count(p.log, full) == 1, "the incident logged %d times", wt_file_count(p.log, full));
    WT_CHECK(wt_file_count(p.log, room) == 1, "its end logged %d times", wt_file_count(p.log, room));
    WT_CHECK(wt_stat(p.qc, "dead") == 4, "stats.dead %lld", wt_stat(p.qc, "dead"));
    wt_worker_stop(w);
    wt_pair_stop(&p);
    printf("worker dlqcap ok\n");
    return 0;
}
