/* The command line: --help and --version exit 0; a bad value gets one line
 * naming the flag and exit 64; a missing queue address is a usage error;
 * INVQ_QUEUE_URL works like --queue-url; a flag beats its variable, which is
 * then not even checked (INVQ_BATCH=0 with --batch 5 runs); an INVQ_*
 * variable the worker does not know is warned about once, with the nearest
 * known name; a queue Redis that is not there at start-up is retried and
 * logged, and used once it appears. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "wtest.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    WT_CHECK(f != NULL && buf != NULL, "read %s", path);
    fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

static int run(const char *dir, const char *name, const char *const *argv, const char *const *env, char **out)
{
    char log[512];
    int st;
    snprintf(log, sizeof(log), "%s/%s.out", dir, name);
    st = wt_run(argv[0], argv, env, log, WT_DEADLINE_MS);
    WT_CHECK(st != -1, "%s did not finish", name);
    *out = read_file(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* The line of text that contains needle (malloc'd), or NULL. */
static char *line_with(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (hit == NULL)
        return NULL;
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    return strndup(start, strcspn(start, "\n"));
}

typedef struct log_wait {
    const char *path;
} log_wait;

static bool logged_unreachable(void *ctx)
{
    log_wait *l = ctx;
    return wt_file_contains(l->path, "unreachable");
}

/* A one-key DEL job whose id is the key. */
static void push_del(redisContext *c, const char *key)
{
    const char *keys[1] = {key};
    wt_push1(c, key, JOB_OP_DEL, keys, 1, 0);
}

int main(void)
{
    const char *exe = wt_worker_path();
    rfix *srv = wt_server(NULL);
    const char *dir = rfix_dir(srv);
    redisContext *c = wt_connect(srv);
    char *out;
    int code;

    {
        const char *argv[] = {exe, "--help", NULL};
        code = run(dir, "help", argv, NULL, &out);
        WT_CHECK(code == 0, "--help exit %d", code);
        WT_CHECK(strstr(out, "--queue-url") != NULL && strstr(out, "--batch") != NULL, "--help lists no flags");
        free(out);
    }
    {
        const char *argv[] = {exe, "--version", NULL};
        code = run(dir, "version", argv, NULL, &out);
        WT_CHECK(code == 0, "--version exit %d", code);
        WT_CHECK(strstr(out, "0.1") != NULL, "--version printed \"%s\"", out);
        free(out);
    }
    {
        const char *argv[] = {exe, "--queue-url", rfix_url(srv), "--batch", "x", NULL};
        code = run(dir, "badbatch", argv, NULL, &out);
        wt_note("--batch x: exit %d, said: %s", code, out);
        WT_CHECK(code == 64, "--batch x exit %d, want 64", code);
        WT_CHECK(count_lines(out) == 1, "want exactly one line, got \"%s\"", out);
        WT_CHECK(strstr(out, "--batch") != NULL, "the error does not name the flag: %s", out);
        free(out);
    }
    {
        const char *argv[] = {exe, "--queue-url", rfix_url(srv), "--no-such-flag", NULL};
        code = run(dir, "unknown", argv, NULL, &out);
        WT_CHECK(code == 64, "unknown flag exit %d, want 64", code);
        free(out);
    }
    {
        const char *argv[] = {exe, "--http-addr", "off", NULL};
        const char *env[] = {"INVQ_QUEUE_URL=", NULL};
        code = run(dir, "noqueue", argv, env, &out);
        WT_CHECK(code == 64, "no queue url: exit %d, want 64", code);
        WT_CHECK(strstr(out, "--queue-url") != NULL || strstr(out, "INVQ_QUEUE_URL") != NULL,
                 "the error does not name the missing flag: %s", out);
        free(out);
    }

    /* INVQ_QUEUE_URL instead of --queue-url. */
    {
        char log[512], envurl[600];
        const char *argv[] = {exe, "--http-addr", "off", "--log-format", "json", NULL};
        const char *env[] = {envurl, NULL};
        wt_proc *w;
        snprintf(log, sizeof(log), "%s/env.log", dir);
        snprintf(envurl, sizeof(envurl), "INVQ_QUEUE_URL=%s", rfix_url(srv));
        wt_set_log(log);
        wt_cmd(c, "SET env:1 v");
        w = wt_proc_start(exe, argv, env, log);
        WT_CHECK(w != NULL, "start");
        push_del(c, "env:1");
        WT_CHECK(wt_wait_gone(c, "env:1", WT_DEADLINE_MS), "worker configured by INVQ_QUEUE_URL did nothing");
        wt_worker_stop(w);
    }

    /* A flag beats its variable, unchecked: INVQ_BATCH=0 --batch 5 runs.
     * Unknown INVQ_* variables: one warning each, with the nearest name. */
    {
        char log[512];
        const char *argv[] = {exe, "--queue-url", rfix_url(srv), "--batch", "5", "--http-addr", "off",
                              "--log-format", "json", NULL};
        const char *env[] = {"INVQ_BATCH=0", "INVQ_BATCHES=7", "INVQ_QUEUEURL=x", "INVQ_ZZZ_NOTHING_LIKE=1",
                             NULL};
        wt_proc *w;
        snprintf(log, sizeof(log), "%s/flagwins.log", dir);
        wt_set_log(log);
        wt_cmd(c, "SET flag:1 v");
        w = wt_proc_start(exe, argv, env, log);
        WT_CHECK(w != NULL, "start");
        push_del(c, "flag:1");
        WT_CHECK(wt_wait_gone(c, "flag:1", WT_DEADLINE_MS), "INVQ_BATCH=0 --batch 5 did not run");
        wt_worker_stop(w);
        out = read_file(log);
        wt_note("unknown variables: %.*s", (int)strcspn(out, "\n"), out);
        WT_CHECK(strstr(out, "\"batch\":5") != NULL, "--batch 5 not in effect: %s", out);
        WT_CHECK(strstr(out, "\"variable\":\"INVQ_BATCHES\",\"did_you_mean\":\"INVQ_BATCH\"") != NULL,
                 "no warning about INVQ_BATCHES: %s", out);
        WT_CHECK(strstr(out, "\"variable\":\"INVQ_QUEUEURL\",\"did_you_mean\":\"INVQ_QUEUE_URL\"") != NULL,
                 "no warning about INVQ_QUEUEURL: %s", out);
        char *far = line_with(out, "\"variable\":\"INVQ_ZZZ_NOTHING_LIKE\"");
        WT_CHECK(far != NULL && strstr(far, "did_you_mean") == NULL, "INVQ_ZZZ_NOTHING_LIKE: %s", out);
        free(far);
        WT_CHECK(strstr(strstr(out, "INVQ_BATCHES") + 1, "INVQ_BATCHES") == NULL, "INVQ_BATCHES warned twice");
        WT_CHECK(strstr(out, "\"variable\":\"INVQ_BATCH\"") == NULL, "INVQ_BATCH itself warned about");
        free(out);
    }
    {
        const char *argv[] = {exe, "--queue-url", rfix_url(srv), "--namespace", "", NULL};
        code = run(dir, "emptyns", argv, NULL, &out);
        WT_CHECK(code == 64, "--namespace '': exit %d", code);
        WT_CHECK(strcmp(out, "invq-worker: --namespace: expected a non-empty value\n") == 0, "said: %s", out);
        free(out);
    }

    /* The queue Redis is down at start-up: retried, logged, then used. */
    {
        char log[512];
        log_wait lw;
        wt_proc *w;
        snprintf(log, sizeof(log), "%s/late.log", dir);
        wt_set_log(log);
        redisFree(c);
        WT_CHECK(rfix_stop(srv) == 0, "stop");
        w = wt_worker_start(rfix_url(srv), NULL, log, NULL);
        WT_CHECK(w != NULL, "start");
        lw.path = log;
        WT_CHECK(wt_wait_for(logged_unreachable, &lw, WT_DEADLINE_MS), "no log line about the unreachable queue");
        WT_CHECK(wt_proc_running(w), "the worker gave up instead of retrying");
        WT_CHECK(rfix_restart(srv) == 0, "restart");
        c = wt_connect(srv);
        wt_cmd(c, "SET late:1 v");
        push_del(c, "late:1");
        WT_CHECK(wt_wait_gone(c, "late:1", WT_DEADLINE_MS), "the worker never used the queue that appeared");
        wt_worker_stop(w);
    }
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
    wt_note("ok flags, env mirror, late queue");
    return 0;
}
