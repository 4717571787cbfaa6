/* End to end against a real invq-worker: probes are answered while slow
 * clients hold every connection slot; /readyz flips to 503 with the reason
 * when the cache Redis stops and back to 200 when it returns, and /healthz
 * keeps answering 200 promptly while the worker applies the backlog that
 * piled up meanwhile. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "obs_e2e.h"
#include "wtest.h"

#define LOAD_JOBS 20000
#define SLOW_CLIENTS 72
#define HTTP_SLOTS 64 /* the listener's default connection limit */

/* Exit status of `invq-worker --probe http://127.0.0.1:port/path`. */
static int probe_exit(int port, const char *path, const char *log)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    const char *argv[] = { wt_worker_path(), "--probe", url, NULL };
    int st = wt_run(argv[0], argv, NULL, log, WT_DEADLINE_MS);
    WT_CHECK(st != -1 && WIFEXITED(st), "--probe %s did not exit", url);
    return WEXITSTATUS(st);
}

/* LPUSHes n one-key delete jobs in one pipelined round trip per 1000. */
static void push_load(redisContext *qc, int n)
{
    char key[128];
    wt_qkey(key, sizeof key, "pending");
    for (int base = 0; base < n; base += 1000) {
        int m = n - base < 1000 ? n - base : 1000;
        for (int i = 0; i < m; i++) {
            char k[64], id[64];
            const char *keys[1] = { k };
            size_t len;
            snprintf(k, sizeof k, "load:%d", base + i);
            snprintf(id, sizeof id, "load-%d", base + i);
            uint8_t *job = wt_job1(id, JOB_OP_DEL, keys, 1, 0, &len);
            redisAppendCommand(qc, "LPUSH %s %b", key, job, len);
            free(job);
        }
        for (int i = 0; i < m; i++) {
            redisReply *r = NULL;
            WT_CHECK(redisGetReply(qc, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_INTEGER, "LPUSH");
            freeReplyObject(r);
        }
    }
}

static bool enough_pushed_out(void *ctx)
{
    int *slow = ctx, closed = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        struct pollfd pfd = { .fd = slow[i], .events = POLLIN };
        closed += poll(&pfd, 1, 0) > 0;
    }
    return closed >= SLOW_CLIENTS - HTTP_SLOTS;
}

/* SLOW_CLIENTS clients send half a request and then nothing: more than the
 * listener's 64 slots. Once the surplus has been pushed out (so every slot
 * is taken), /healthz, /readyz and /metrics are still answered, and
 * `invq-worker --probe` exits 0, long before the 10 s request deadline. */
static void probes_while_saturated(int port, const char *log)
{
    int slow[SLOW_CLIENTS];
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        slow[i] = e2e_slow_client(port);
        WT_CHECK(slow[i] >= 0, "slow client %d could not connect", i);
    }
    WT_CHECK(wt_wait_for(enough_pushed_out, slow, WT_DEADLINE_MS), "the listener never filled up");
    uint64_t t0 = wt_mono_ms();
    WT_CHECK(probe_exit(port, "/healthz", log) == 0, "--probe /healthz with every slot held");
    WT_CHECK(probe_exit(port, "/readyz", log) == 0, "--probe /readyz with every slot held");
    WT_CHECK(e2e_get(port, "/healthz", NULL, 0, 5000) == 200, "/healthz with every slot held");
    WT_CHECK(e2e_get(port, "/metrics", NULL, 0, 5000) == 200, "/metrics with every slot held");
    wt_note("%d slow clients on %d slots: --probe /healthz and /readyz exit 0, answers in %llu ms",
            SLOW_CLIENTS, HTTP_SLOTS, (unsigned long long)(wt_mono_ms() - t0));
    for (int i = 0; i < SLOW_CLIENTS; i++)
        close(slow[i]);
}

int main(void)
{
    wt_worker_path();
    wt_pair p;
    char addr[64], body[256];
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *extra[] = { "--http-addr", addr, "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker did not start");

    e2e_wait_status(port, "/readyz", 200, body, sizeof body);
    WT_CHECK(strcmp(body, "ready\n") == 0, "ready body '%s'", body);
    WT_CHECK(probe_exit(port, "/healthz", p.log) == 0, "--probe /healthz");
    WT_CHECK(probe_exit(port, "/readyz", p.log) == 0, "--probe /readyz");
    wt_note("ready with both Redis up; invq-worker --probe exits 0");
    probes_while_saturated(port, p.log);

    /* Cache Redis goes away: not ready, with the reason; still healthy. */
    WT_CHECK(rfix_stop(p.cache) == 0, "stop cache");
    e2e_wait_status(port, "/readyz", 503, body, sizeof body);
    /* the reason, then the connection error once one was seen */
    WT_CHECK(strncmp(body, "cache redis not connected", 25) == 0, "503 body '%s'", body);
    WT_CHECK(e2e_get(port, "/healthz", NULL, 0, 5000) == 200, "/healthz during the outage");
    WT_CHECK(e2e_metric(port, "invq_redis_connected{target=\"cache\"}") == 0, "cache shown connected");
    WT_CHECK(e2e_metric(port, "invq_ready") == 0, "invq_ready during the outage");
    WT_CHECK(probe_exit(port, "/readyz", p.log) == 1, "--probe /readyz during the outage");
    WT_CHECK(probe_exit(port, "/healthz", p.log) == 0, "--probe /healthz during the outage");
    wt_note("cache stopped: /readyz 503 '%.*s'", (int)strcspn(body, "\n"), body);

    /* A backlog piles up meanwhile: nothing can be applied (a consumer
     * already waiting for jobs may hold one batch until the cache returns). */
    char pending[128];
    wt_qkey(pending, sizeof pending, "pending");
    push_load(p.qc, LOAD_JOBS);
    WT_CHECK(wt_stat(p.qc, "done") == 0, "jobs applied while the cache was down: %lld", wt_stat(p.qc, "done"));
    WT_CHECK(wt_llen(p.qc, pending) >= LOAD_JOBS / 2, "no backlog: pending %lld", wt_llen(p.qc, pending));

    /* It comes back: the worker applies the backlog at full speed, and
     * every /healthz meanwhile is answered 200 within a second — the
     * default probe timeout of an orchestrator (five under memcheck, which
     * slows the worker tenfold). */
    const uint64_t probe_budget_ms = wt_under_valgrind() ? 5000 : 1000;
    WT_CHECK(rfix_restart(p.cache) == 0, "restart cache");
    int probes = 0;
    uint64_t worst = 0;
    uint64_t deadline = wt_mono_ms() + WT_DEADLINE_MS;
    while (wt_stat(p.qc, "done") < LOAD_JOBS && wt_mono_ms() < deadline) {
        uint64_t t0 = wt_mono_ms();
        int st = e2e_get(port, "/healthz", NULL, 0, 5000);
        uint64_t took = wt_mono_ms() - t0;
        WT_CHECK(st == 200, "/healthz answered %d under load (probe %d)", st, probes);
        WT_CHECK(took < probe_budget_ms, "/healthz took %llu ms under load", (unsigned long long)took);
        worst = took > worst ? took : worst;
        probes++;
    }
    WT_CHECK(wt_stat(p.qc, "done") >= LOAD_JOBS, "backlog not applied: done %lld", wt_stat(p.qc, "done"));
    WT_CHECK(probes >= 1, "no probe ran during the load");
    wt_note("%d /healthz probes while %d jobs were applied, slowest %llu ms", probes, LOAD_JOBS,
            (unsigned long long)worst);

    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    e2e_wait_metric(port, "invq_redis_reconnects_total{target=\"cache\"}", 1);
    WT_CHECK(e2e_metric(port, "invq_redis_connected{target=\"cache\"}") == 1, "cache connected again");
    e2e_wait_metric(port, "invq_jobs_finished_total{result=\"done\"}", LOAD_JOBS);
    wt_note("cache back: /readyz 200, reconnect counted, backlog counted");

    wt_worker_stop(w);
    WT_CHECK(probe_exit(port, "/healthz", p.log) == 1, "--probe after the worker exited");
    wt_pair_stop(&p);
    return 0;
}
