/* SIGHUP never stops the worker: it reloads (nothing yet) and goes on
 * applying jobs. SIGTERM while busy: the worker finishes what is in flight,
 * returns what it took but did not start, deregisters, and exits 0 within
 * the grace period; no job is lost or left in a processing list. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "faultproxy.h"
#include "wtest.h"

enum { NJOBS = 5000, GRACE_MS = 5000 };

typedef struct log_count {
    const char *path;
    const char *needle;
    size_t want;
} log_count;

static bool logged_times(void *ctx)
{
    const log_count *l = ctx;
    FILE *f = fopen(l->path, "r");
    char line[4096];
    size_t n = 0;
    if (f == NULL)
        return false;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, l->needle) != NULL;
    fclose(f);
    return n >= l->want;
}

static void test_sighup(rfix *srv, redisContext *c)
{
    char log[512], consumers[128];
    snprintf(log, sizeof(log), "%s/sighup.log", rfix_dir(srv));
    wt_set_log(log);
    wt_qkey(consumers, sizeof(consumers), "consumers");
    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    wt_push_dels(c, c, "hup", 0, 10);
    WT_CHECK(wt_wait_stat(c, "done", 10, WT_DEADLINE_MS), "the worker applied nothing");
    for (size_t i = 1; i <= 3; i++) {
        WT_CHECK(wt_proc_signal(w, SIGHUP) == 0, "SIGHUP");
        log_count lc = { log, "reload: nothing to reload", i };
        WT_CHECK(wt_wait_for(logged_times, &lc, WT_DEADLINE_MS), "SIGHUP %zu: no reload logged", i);
        WT_CHECK(wt_proc_running(w), "the worker died of SIGHUP %zu", i);
    }
    /* still registered and still applying */
    WT_CHECK(wt_zcard(c, consumers) == 4, "consumers registered: %lld", wt_zcard(c, consumers));
    wt_push_dels(c, c, "hup2", 0, 10);
    WT_CHECK(wt_wait_stat(c, "done", 20, WT_DEADLINE_MS), "nothing applied after SIGHUP");
    WT_CHECK(wt_count_keys(c, "hup*") == 0, "keys left after SIGHUP");
    wt_worker_stop(w); /* SIGTERM: exit 0 */
    wt_note("ok SIGHUP x3: reloaded, still applying; SIGTERM then exits 0");
    wt_cmd(c, "FLUSHALL");
}

int main(void)
{
    rfix *srv;
    redisContext *c;
    faultproxy *proxy = NULL;
    char log[512], pending[128], delayed[128], consumers[128], dead[128];
    const char *extra[] = {"--batch", "50", "--consumers", "2", "--shutdown-grace-ms", "5000", NULL};
    wt_proc *w;
    uint64_t t0, took;
    int st = 0;
    long long done, left, inflight;

    wt_worker_path();
    srv = wt_server(NULL);
    c = wt_connect(srv);
    test_sighup(srv, c);
    wt_qkey(pending, sizeof(pending), "pending");
    wt_qkey(delayed, sizeof(delayed), "delayed");
    wt_qkey(consumers, sizeof(consumers), "consumers");
    wt_qkey(dead, sizeof(dead), "dead");
    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);
    wt_push_dels(c, NULL, "s", 0, NJOBS);
    /* Slow cache replies keep batches in flight at the moment of SIGTERM. */
    WT_CHECK(faultproxy_new(&proxy, rfix_socket(srv), NULL, 0) == 0, "proxy");
    faultproxy_set_delay(proxy, 50);
    w = wt_worker_start(rfix_url(srv), faultproxy_url(proxy), log, extra);
    WT_CHECK(w != NULL, "worker did not start");
    WT_CHECK(wt_wait_stat(c, "done", 1, WT_DEADLINE_MS), "the worker never finished a batch");
    WT_CHECK(wt_zcard(c, consumers) == 2, "consumers registered: %lld, want 2", wt_zcard(c, consumers));
    inflight = wt_count_keys(c, "invq:{default}:processing:*");
    t0 = wt_mono_ms();
    WT_CHECK(wt_proc_signal(w, SIGTERM) == 0, "SIGTERM");
    WT_CHECK(wt_proc_wait(w, GRACE_MS + 5000, &st) == 0, "still running %d ms after SIGTERM", GRACE_MS + 5000);
    took = wt_mono_ms() - t0;
    wt_proc_free(w);
    done = wt_stat(c, "done");
    left = wt_llen(c, pending);
    wt_note("SIGTERM with %lld processing lists busy: exit after %llu ms, done=%lld, pending=%lld", inflight,
            (unsigned long long)took, done, left);
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d, want 0", st);
    WT_CHECK(took <= GRACE_MS + 1000, "exit took %llu ms, grace is %d", (unsigned long long)took, GRACE_MS);
    WT_CHECK(wt_count_keys(c, "invq:{default}:processing:*") == 0, "processing lists left behind");
    WT_CHECK(wt_zcard(c, consumers) == 0, "consumers not deregistered: %lld", wt_zcard(c, consumers));
    WT_CHECK(wt_llen(c, dead) == 0, "dead letters");
    WT_CHECK(done + left + wt_zcard(c, delayed) >= NJOBS, "jobs lost: done=%lld pending=%lld delayed=%lld", done,
             left, wt_zcard(c, delayed));
    WT_CHECK(left > 0, "the worker finished everything before SIGTERM: nothing tested");
    faultproxy_free(proxy);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
    wt_note("ok SIGTERM: clean exit, nothing lost");
    return 0;
}
