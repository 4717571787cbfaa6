/* The freshness benchmark's invq-worker process and its queue's state (see
 * wproc.h). */
#include "wproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload.h"
#include "wtest.h"

#define Q "invq:{default}:"
#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 20000

struct wproc {
    pid_t pid;
};

static long long integer(redisContext *c, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(c, "%s %s", cmd, key);
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* The last lines of the worker's log, for an error message. */
static void log_tail(const char *path, char *out, size_t len)
{
    char buf[600];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        fseek(f, end > (long)sizeof(buf) - 1 ? end - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    snprintf(out, len, "%s", buf);
}

int wproc_start(const char *exe, const char *queue_url, const char *cache_url, const char *log_path,
                redisContext *queue, wproc **out, char *err, size_t errlen)
{
    *out = NULL;
    wproc *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (access(exe, X_OK) != 0) {
        snprintf(err, errlen, "invq-worker %s: %s (--worker PATH)", exe, strerror(errno));
        free(w);
        return -1;
    }
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", log_path, strerror(errno));
        free(w);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(exe, "invq-worker", "--queue-url", queue_url, "--cache-url", cache_url, "--http-addr", "off",
              "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        free(w);
        return -1;
    }
    w->pid = pid;
    int64_t deadline = fw_now_ns() + (int64_t)START_TIMEOUT_MS * 1000000;
    while (integer(queue, "ZCARD", Q "consumers") < 1) {
        int st;
        char tail[600];
        if (waitpid(pid, &st, WNOHANG) == pid || fw_now_ns() > deadline) {
            log_tail(log_path, tail, sizeof(tail));
            snprintf(err, errlen, "invq-worker did not start (%s); its log ends:\n%s",
                     fw_now_ns() > deadline ? "no consumer registered" : "it exited", tail);
            if (kill(pid, SIGKILL) == 0)
                waitpid(pid, &st, 0);
            free(w);
            return -1;
        }
        fw_sleep_us(5000);
    }
    *out = w;
    return 0;
}

int wproc_stop(wproc *w)
{
    int st = 0, rc = -1;
    if (w == NULL)
        return 0;
    kill(w->pid, SIGTERM);
    int64_t deadline = fw_now_ns() + (int64_t)STOP_TIMEOUT_MS * 1000000;
    for (;;) {
        pid_t r = waitpid(w->pid, &st, WNOHANG);
        if (r == w->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (r < 0 || fw_now_ns() > deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &st, 0);
            break;
        }
        fw_sleep_us(5000);
    }
    free(w);
    return rc;
}

int wproc_wait_drained(redisContext *queue, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = fw_now_ns() + (int64_t)timeout_ms * 1000000;
    long long pending, delayed, processing;
    for (;;) {
        pending = integer(queue, "LLEN", Q "pending");
        delayed = integer(queue, "ZCARD", Q "delayed");
        processing = wt_count_keys(queue, Q "processing:*"); /* an empty list does not exist */
        if (pending == 0 && delayed == 0 && processing == 0)
            return 0;
        if (pending < 0 || delayed < 0 || processing < 0 || fw_now_ns() > deadline)
            break;
        fw_sleep_us(2000);
    }
    snprintf(err, errlen, "the queue did not drain within %d ms: %lld pending, %lld delayed, %lld processing lists%s",
             timeout_ms, pending, delayed, processing, queue->err ? " (Redis error)" : "");
    return -1;
}

long long wproc_dead_letters(redisContext *queue)
{
    return integer(queue, "LLEN", Q "dead");
}
