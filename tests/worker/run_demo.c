/* Runs worker/demo/run-demo.sh BUILD_DIR as a test: a C launcher so that
 * `meson test --wrapper valgrind` checks our code, not the shell's. The
 * demo's output passes through; with --expect-freshness it must end with the
 * freshness comparison, and that comparison must make sense: TTL only saw
 * stale reads, and invq no stale read after Redis had executed the row's
 * invalidation (a stale set). Neither depends on timing: how many of invq's
 * stale reads come more than 100 ms after their commit depends on how fast
 * the loaded machine applies invalidations, so it is printed, not checked.
 *
 *   run_demo SCRIPT BUILD_DIR [--expect-freshness] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A line of the comparison: "  <label, 24 columns> reads stale pct% over after max ms"
 * (TTL only has no invalidation: "-" in the after column). */
typedef struct demo_line {
    bool found;
    long long reads, stale, over, after;
} demo_line;

static void find_line(const char *out, const char *label, int fields, demo_line *l)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "\n  %-24s ", label);
    const char *p = strstr(out, prefix);
    double pct;
    l->found = p != NULL && sscanf(p + strlen(prefix), "%lld %lld %lf%% %lld %lld", &l->reads, &l->stale, &pct,
                                   &l->over, &l->after) >= fields;
}

static int check_freshness(const char *out)
{
    demo_line ttl, invq;
    int bad = 0;
    find_line(out, "TTL only", 4, &ttl);
    find_line(out, "invq (delete + leases)", 5, &invq);
    if (!ttl.found || !invq.found) {
        fprintf(stderr, "run_demo: the freshness comparison is missing from the demo's output\n");
        return 1;
    }
    if (ttl.reads <= 0 || invq.reads <= 0) {
        fprintf(stderr, "run_demo: the freshness comparison read nothing (%lld / %lld reads)\n", ttl.reads,
                invq.reads);
        bad = 1;
    }
    if (ttl.stale <= 0) {
        fprintf(stderr, "run_demo: TTL only saw no stale read; the comparison shows nothing\n");
        bad = 1;
    }
    if (invq.after != 0) {
        fprintf(stderr, "run_demo: invq served %lld stale reads after the row's invalidation\n", invq.after);
        bad = 1;
    }
    if (!bad)
        printf("# freshness: TTL only %lld stale of %lld reads (%lld > 100 ms after the commit); invq %lld stale, "
               "%lld > 100 ms, 0 after the invalidation\n",
               ttl.stale, ttl.reads, ttl.over, invq.stale, invq.over);
    return bad;
}

int main(int argc, char **argv)
{
    int fds[2], st;
    bool expect_freshness = argc == 4 && strcmp(argv[3], "--expect-freshness") == 0;
    if (argc != 3 && !expect_freshness) {
        fprintf(stderr, "usage: run_demo SCRIPT BUILD_DIR [--expect-freshness]\n");
        return 64;
    }
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        execl("/bin/sh", "sh", argv[1], argv[2], (char *)NULL);
        perror("exec /bin/sh");
        _exit(127);
    }
    close(fds[1]);
    /* pass the output through, and keep it */
    size_t len = 0, cap = 65536;
    char *out = malloc(cap);
    char buf[4096];
    ssize_t n;
    if (out == NULL)
        return 1;
    out[0] = '\n'; /* so that every line, the first too, follows a newline */
    len = 1;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        if (len + (size_t)n + 1 > cap) {
            char *bigger = realloc(out, cap * 2 + (size_t)n);
            if (bigger == NULL) {
                free(out);
                return 1;
            }
            out = bigger;
            cap = cap * 2 + (size_t)n;
        }
        memcpy(out + len, buf, (size_t)n);
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    fflush(stdout);
    if (waitpid(pid, &st, 0) != pid) {
        perror("waitpid");
        free(out);
        return 1;
    }
    int rc;
    if (WIFEXITED(st)) {
        rc = WEXITSTATUS(st);
    } else {
        fprintf(stderr, "run-demo.sh killed by signal %d\n", WTERMSIG(st));
        rc = 1;
    }
    if (rc == 0 && expect_freshness)
        rc = check_freshness(out);
    free(out);
    return rc;
}
