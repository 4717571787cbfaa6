/* End to end against a real invq-worker: its /metrics counters move as jobs
 * are applied and dead-lettered, the scrape passes promtool, the queue-wide
 * counters equal `invqctl stats`, and hostile HTTP clients (garbage, huge
 * headers, half requests) neither crash the worker nor stall its jobs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs_e2e.h"
#include "promtool_check.h"
#include "wtest.h"

#define NJOBS 300

typedef struct scrape_ctx {
    int port;
    const char *series;
    double want;
} scrape_ctx;

static bool sample_equals(void *ctx)
{
    scrape_ctx *s = ctx;
    return e2e_metric(s->port, s->series) == s->want;
}

/* Polls /metrics until series == want (the worker samples some on a timer). */
static void wait_sample(int port, const char *series, double want)
{
    scrape_ctx s = { port, series, want };
    WT_CHECK(wt_wait_for(sample_equals, &s, WT_DEADLINE_MS), "%s is %g, want %g", series, e2e_metric(port, series),
             want);
}

/* Hostile clients while jobs flow: each gets its error, none is answered
 * with a crash or a hang. Returns the slow clients' sockets (closed by the
 * caller at the end). */
static void disturb(int port, int slow[4])
{
    static const char garbage[] = "\x16\x03\x01\x02\x00 not http at all\r\n\r\n";
    WT_CHECK(e2e_raw(port, garbage, sizeof garbage - 1, 5000) == 400, "garbage not answered 400");
    size_t cap = 20000, len;
    char *big = malloc(cap);
    WT_CHECK(big != NULL, "oom");
    len = (size_t)snprintf(big, cap, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(big + len, 'a', 16384);
    len += 16384;
    len += (size_t)snprintf(big + len, cap - len, "\r\n\r\n");
    WT_CHECK(e2e_raw(port, big, len, 5000) == 431, "16 KiB header not answered 431");
    free(big);
    WT_CHECK(e2e_get(port, "/nope", NULL, 0, 5000) == 404, "404");
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    WT_CHECK(e2e_raw(port, post, sizeof post - 1, 5000) == 405, "405");
    for (int i = 0; i < 4; i++) {
        slow[i] = e2e_slow_client(port);
        WT_CHECK(slow[i] >= 0, "slow client %d did not connect", i);
    }
}

/* `invqctl stats --json` counters vs. invq_queue_jobs_total in one scrape. */
static void check_stats_agree(const char *queue_url, int port, const char *dir)
{
    const char *ctl = getenv("INVQ_TEST_CTL");
    if (!ctl || !*ctl) {
        wt_note("INVQ_TEST_CTL not set: invqctl comparison not run");
        return;
    }
    char out[256], cmd[1024];
    snprintf(out, sizeof out, "%s/stats.json", dir);
    snprintf(cmd, sizeof cmd, "'%s' --queue-url '%s' stats --json > '%s'", ctl, queue_url, out);
    WT_CHECK(system(cmd) == 0, "%s failed", cmd);
    json_error_t err;
    json_t *root = json_load_file(out, 0, &err);
    WT_CHECK(root != NULL, "invqctl stats --json: %s", err.text);
    json_t *counters = json_object_get(root, "counters");
    WT_CHECK(json_is_object(counters) && json_object_size(counters) > 0, "no counters in invqctl output");
    static char scrape[1 << 16];
    WT_CHECK(e2e_get(port, "/metrics", scrape, sizeof scrape, 5000) == 200, "scrape");
    const char *name;
    json_t *value;
    json_object_foreach(counters, name, value) {
        char series[160];
        snprintf(series, sizeof series, "invq_queue_jobs_total{counter=\"%s\"}", name);
        double got = e2e_sample(scrape, series);
        WT_CHECK(got == (double)json_integer_value(value), "%s: /metrics %g, invqctl %lld", series, got,
                 (long long)json_integer_value(value));
        wt_note("%s = %g in both", series, got);
    }
    json_decref(root);
}

int main(void)
{
    wt_worker_path();
    wt_pair p;
    char addr[64];
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *extra[] = { "--http-addr", addr, "--consumers", "2", "--batch", "64", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");

    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    WT_CHECK(e2e_get(port, "/healthz", NULL, 0, 5000) == 200, "/healthz");
    wait_sample(port, "invq_consumers", 2);
    WT_CHECK(e2e_metric(port, "invq_redis_connected{target=\"queue\"}") == 1, "queue connected");
    WT_CHECK(e2e_metric(port, "invq_redis_connected{target=\"cache\"}") == 1, "cache connected");
    WT_CHECK(e2e_metric(port, "invq_jobs_finished_total{result=\"done\"}") == 0, "no jobs yet");
    wt_note("ready, consumers 2, nothing done yet");

    int slow[4];
    wt_push_dels(p.qc, p.cc, "k", 0, NJOBS);
    disturb(port, slow);
    wait_sample(port, "invq_jobs_finished_total{result=\"done\"}", NJOBS);
    WT_CHECK(wt_dbsize(p.cc) == 0, "cache keys left: %lld", wt_dbsize(p.cc));
    WT_CHECK(e2e_metric(port, "invq_keys_invalidated_total{op=\"del\"}") == NJOBS, "keys del");
    WT_CHECK(e2e_metric(port, "invq_job_lag_seconds_count") == NJOBS, "lag count");
    WT_CHECK(e2e_metric(port, "invq_batch_size_jobs_sum") == NJOBS, "batch size sum");
    double batches = e2e_metric(port, "invq_batches_total");
    WT_CHECK(batches >= NJOBS / 64.0 && batches <= NJOBS, "batches %g", batches);
    WT_CHECK(e2e_metric(port, "invq_batch_size_jobs_count") == batches, "batch histogram count");
    WT_CHECK(e2e_metric(port, "invq_job_lag_seconds_bucket{le=\"300\"}") == NJOBS, "lag under 300 s");
    wt_note("%d jobs applied in %g batches while hostile clients were connected", NJOBS, batches);

    /* One undecodable job goes to the dead letters. */
    wt_push(p.qc, (const uint8_t *)"\xc1 not msgpack", 14);
    wait_sample(port, "invq_jobs_finished_total{result=\"dead\"}", 1);
    wait_sample(port, "invq_queue_depth{list=\"dead\"}", 1);
    wait_sample(port, "invq_queue_depth{list=\"pending\"}", 0);
    wait_sample(port, "invq_queue_jobs_total{counter=\"done\"}", (double)wt_stat(p.qc, "done"));
    wait_sample(port, "invq_queue_jobs_total{counter=\"dead\"}", (double)wt_stat(p.qc, "dead"));
    WT_CHECK(wt_stat(p.qc, "done") == NJOBS && wt_stat(p.qc, "dead") == 1, "stats hash done %lld dead %lld",
             wt_stat(p.qc, "done"), wt_stat(p.qc, "dead"));
    wt_note("dead letter counted; queue depths and stats sampled");

    static char scrape[1 << 16];
    WT_CHECK(e2e_get(port, "/metrics", scrape, sizeof scrape, 5000) == 200, "scrape");
    WT_CHECK(strstr(scrape, "\ninvq_dead_letters_total{reason=\"") != NULL, "no dead-letter reason:\n%s", scrape);
    int rc = promtool_check(scrape);
    WT_CHECK(rc == 0 || rc == PROMTOOL_ABSENT, "promtool check metrics failed on the live scrape");
    if (rc == PROMTOOL_ABSENT)
        wt_note("promtool absent: live scrape not linted");

    check_stats_agree(rfix_url(p.queue), port, rfix_dir(p.queue));

    for (int i = 0; i < 4; i++)
        close(slow[i]);
    WT_CHECK(e2e_get(port, "/readyz", NULL, 0, 5000) == 200, "still ready");
    wt_worker_stop(w);
    wt_pair_stop(&p);
    return 0;
}
