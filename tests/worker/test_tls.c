/* invq-worker over TLS against Redis's TLS listener: with the CA and a
 * client certificate (--tls-auth-clients yes) it drains a backlog, every
 * key deleted; with the wrong CA it applies nothing, names the reason
 * (certificate verify failed) in one log line per target however often it
 * retries, and still stops cleanly; a CA file that does not exist is a
 * usage error at start (exit 64) naming ssl_ca_certs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tls_certs.h"
#include "wtest.h"

#define NJOBS 2000
/* TLS handshakes under memcheck take seconds each (the valgrind pass runs
 * the worker under memcheck too): one consumer (3 connections), long
 * timeouts, a longer deadline. */
#define TLS_DEADLINE_MS (3 * WT_DEADLINE_MS)

typedef struct drain_ctx {
    redisContext *c;
} drain_ctx;

static bool drained(void *ctx)
{
    drain_ctx *d = ctx;
    char key[128];
    return wt_count_keys(d->c, "tlsjob:*") == 0 && wt_llen(d->c, wt_qkey(key, sizeof key, "pending")) == 0 &&
           wt_count_keys(d->c, "invq:{default}:processing:*") == 0;
}

static const char *const debug_verify[] = { "\"debug\"", "certificate verify failed", NULL };
static const char *const warn_verify[] = { "\"warn\"", "certificate verify failed", NULL };

/* The worker has retried (and logged at debug level) this often. */
static bool many_retries(void *ctx)
{
    return wt_file_count(ctx, debug_verify) >= 12;
}

int main(void)
{
    rfix_certs *certs;
    int rc = rfix_certs_make(&certs);
    if (rc == 77)
        return 77;
    WT_CHECK(rc == 0, "certificates");
    rfix_tls tls = { .cert = certs->server, .key = certs->server_key, .ca = certs->ca, .auth_clients = true };
    rfix_opts o = { .tls = &tls };
    rfix *srv = wt_server(&o);
    redisContext *c = wt_connect(srv); /* the fixture's unix socket */
    char log[512], url[2048];
    snprintf(log, sizeof log, "%s/worker.log", rfix_dir(srv));
    wt_set_log(log);

    /* The right CA and a client certificate: a real drain over TLS. */
    wt_push_dels_bulk(c, c, "tlsjob", 0, NJOBS);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", rfix_port(srv),
             certs->ca, certs->client, certs->client_key);
    const char *slow[] = { "--consumers", "1", "--connect-timeout-ms", "60000", "--command-timeout-ms", "60000",
                           NULL };
    wt_proc *w = wt_worker_start(url, NULL, log, slow);
    WT_CHECK(w != NULL, "worker start");
    drain_ctx d = { c };
    WT_CHECK(wt_wait_for(drained, &d, TLS_DEADLINE_MS), "backlog not drained over TLS");
    WT_CHECK(wt_stat(c, "done") == NJOBS, "done = %lld", wt_stat(c, "done"));
    wt_worker_stop(w);
    wt_note("%d jobs applied over TLS with a client certificate", NJOBS);

    /* The wrong CA: nothing applied, the reason logged once per target. */
    wt_push_dels_bulk(c, c, "tlsjob", 0, 10);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", rfix_port(srv),
             certs->wrong_ca, certs->client, certs->client_key);
    char log2[600];
    snprintf(log2, sizeof log2, "%s/worker-wrong-ca.log", rfix_dir(srv));
    wt_set_log(log2);
    const char *extra[] = { "--consumers", "1", "--log-level", "debug", "--connect-timeout-ms", "60000",
                            "--command-timeout-ms", "60000", NULL };
    w = wt_worker_start(url, NULL, log2, extra);
    WT_CHECK(w != NULL, "worker start");
    /* 3 links (control, queue, cache), each retrying; retries are logged at
     * debug level only */
    WT_CHECK(wt_wait_for(many_retries, log2, TLS_DEADLINE_MS), "the worker stopped retrying");
    int warn = wt_file_count(log2, warn_verify);
    wt_note("wrong CA: %d refused handshakes logged at debug level, %d warnings", wt_file_count(log2, debug_verify),
            warn);
    WT_CHECK(warn >= 1 && warn <= 2, "%d warnings about the certificate (want one per target)", warn);
    WT_CHECK(wt_count_keys(c, "tlsjob:*") == 10, "a job was applied without a verified server");
    wt_worker_stop(w);

    /* A CA file that is not there: exit 64 at start, naming it. */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s/missing.pem", rfix_port(srv), certs->dir);
    const char *argv[] = { wt_worker_path(), "--queue-url", url, "--http-addr", "off", NULL };
    char log3[600];
    snprintf(log3, sizeof log3, "%s/worker-missing.log", rfix_dir(srv));
    int st = wt_run(argv[0], argv, NULL, log3, WT_DEADLINE_MS);
    WT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 64, "exit %d", st);
    WT_CHECK(wt_file_contains(log3, "--queue-url: ssl_ca_certs") && wt_file_contains(log3, "No such file"),
             "the message does not name the file");

    wt_set_log(NULL);
    redisFree(c);
    wt_server_free(srv);
    rfix_certs_free(certs);
    printf("worker tls ok\n");
    return 0;
}
