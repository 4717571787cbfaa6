/* Reconnects without storms, end to end against a real invq-worker: a queue
 * Redis that wants a password the URL does not give answers NOAUTH right
 * after every connect. The worker backs off as for any failure (the failure
 * count and the delay keep growing across those connects, where they used
 * to restart at every connect: a retry every 50-100 ms), logs the real
 * error once (retries only at debug level), /readyz answers 503 naming it,
 * and once the operator fixes the server the worker recovers by itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_e2e.h"
#include "wtest.h"

static const char *const debug_noauth[] = { "\"debug\"", "queue redis connection reset", "NOAUTH", NULL };
static const char *const warn_noauth[] = { "\"warn\"", "NOAUTH", NULL };

static long long max_field(const char *path, const char *needle, const char *field);

/* One link has failed five times in a row (each time right after connecting). */
static bool retried(void *ctx)
{
    return max_field(ctx, "NOAUTH", "failures") >= 5;
}

static bool recovered_logged(void *ctx)
{
    return wt_file_contains(ctx, "queue redis connected");
}

/* The largest value of "field":N on the lines of path that contain needle. */
static long long max_field(const char *path, const char *needle, const char *field)
{
    FILE *f = fopen(path, "r");
    char line[8192], pat[64];
    long long best = -1;
    snprintf(pat, sizeof pat, "\"%s\":", field);
    WT_CHECK(f != NULL, "open %s", path);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, pat);
        if (strstr(line, needle) && p) {
            long long v = atoll(p + strlen(pat));
            if (v > best)
                best = v;
        }
    }
    fclose(f);
    return best;
}

int main(void)
{
    rfix_opts o = { .requirepass = "s3cret" };
    rfix *srv = wt_server(&o);
    redisContext *c = wt_connect(srv); /* authenticated by the fixture */
    char log[512], addr[64];
    snprintf(log, sizeof log, "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);
    int port = e2e_free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *extra[] = { "--http-addr", addr, "--log-level", "debug", "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(srv), NULL, log, extra);
    WT_CHECK(w != NULL, "worker start");

    WT_CHECK(wt_wait_for(retried, log, WT_DEADLINE_MS), "the failure count never reaches 5: it restarts at every connect");
    long long failures = max_field(log, "NOAUTH", "failures");
    long long retry_ms = max_field(log, "NOAUTH", "retry_ms");
    int warns = wt_file_count(log, warn_noauth);
    wt_note("NOAUTH after every connect: %d retries at debug level, %d warning(s), failure count up to %lld, "
            "delay up to %lld ms", wt_file_count(log, debug_noauth), warns, failures, retry_ms);
    WT_CHECK(failures >= 5, "the failure count restarts at every connect (max %lld)", failures);
    WT_CHECK(retry_ms >= 400, "no backoff: longest delay %lld ms", retry_ms);
    WT_CHECK(warns == 1, "%d warnings for one unchanged error", warns);

    char body[512];
    e2e_wait_status(port, "/readyz", 503, body, sizeof body);
    wt_note("/readyz: %.*s", (int)strcspn(body, "\n"), body);
    WT_CHECK(strstr(body, "queue redis not connected") && strstr(body, "NOAUTH"), "503 body '%s'", body);

    /* The operator fixes the server: the worker comes back by itself. */
    wt_cmd(c, "CONFIG SET requirepass %s", "");
    e2e_wait_status(port, "/readyz", 200, body, sizeof body);
    WT_CHECK(wt_wait_for(recovered_logged, log, WT_DEADLINE_MS), "recovery not logged");
    wt_worker_stop(w);
    wt_set_log(NULL);
    redisFree(c);
    wt_server_free(srv);
    printf("reconnect ok\n");
    return 0;
}
