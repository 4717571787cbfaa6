/* Helpers shared by the invq-worker integration tests (see wtest.h). */
#include "wtest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct wt_proc {
    pid_t pid;
    int status;
    bool exited;
    char log[512];
};

#define WT_MAX_TRACKED 16

/* What a failing check must stop before the test exits. */
static rfix *tracked_servers[WT_MAX_TRACKED];
static wt_proc *tracked_procs[WT_MAX_TRACKED];
static const char *failure_log;

static void track(void **slots, void *obj)
{
    for (size_t i = 0; i < WT_MAX_TRACKED; i++) {
        if (slots[i] == NULL) {
            slots[i] = obj;
            return;
        }
    }
}

static void untrack(void **slots, void *obj)
{
    for (size_t i = 0; i < WT_MAX_TRACKED; i++) {
        if (slots[i] == obj) {
            slots[i] = NULL;
        }
    }
}

rfix *wt_server(const rfix_opts *opts)
{
    rfix *f = NULL;
    int rc = rfix_start(&f, opts);
    if (rc == RFIX_SKIP) {
        printf("# no redis-server: skipping\n");
        exit(77);
    }
    WT_CHECK(rc == 0, "rfix_start failed (%d)", rc);
    track((void **)tracked_servers, f);
    return f;
}

void wt_server_free(rfix *f)
{
    untrack((void **)tracked_servers, f);
    rfix_free(f);
}

redisContext *wt_connect(const rfix *f)
{
    redisContext *c = rfix_connect(f);
    WT_CHECK(c != NULL, "cannot connect to %s", rfix_url(f));
    return c;
}

void wt_set_log(const char *path)
{
    failure_log = path;
}

void wt_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (failure_log != NULL) {
        wt_file_dump(failure_log);
    }
    for (size_t i = 0; i < WT_MAX_TRACKED; i++) {
        if (tracked_procs[i] != NULL && !tracked_procs[i]->exited) {
            kill(tracked_procs[i]->pid, SIGKILL);
            waitpid(tracked_procs[i]->pid, NULL, 0);
        }
        rfix_free(tracked_servers[i]);
    }
    exit(1);
}

void wt_note(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

uint64_t wt_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t wt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool wt_wait_for(bool (*pred)(void *ctx), void *ctx, int timeout_ms)
{
    uint64_t deadline = wt_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        if (pred(ctx)) {
            return true;
        }
        if (wt_mono_ms() >= deadline) {
            return false;
        }
        nanosleep(&ts, NULL);
    }
}

bool wt_under_valgrind(void)
{
    const char *v = getenv("INVQ_TEST_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

const char *wt_worker_path(void)
{
    const char *p = getenv("INVQ_TEST_WORKER");
    if (p == NULL || *p == '\0') {
        printf("# INVQ_TEST_WORKER is not set: skipping\n");
        exit(77);
    }
    return p;
}

wt_proc *wt_proc_start(const char *exe, const char *const *argv, const char *const *env,
                       const char *log_path)
{
    size_t nenv = 0, nextra = 0;
    char **envp;
    int fd;
    pid_t pid;
    wt_proc *w;
    while (environ[nenv] != NULL) {
        nenv++;
    }
    while (env != NULL && env[nextra] != NULL) {
        nextra++;
    }
    envp = calloc(nenv + nextra + 1, sizeof(*envp));
    w = calloc(1, sizeof(*w));
    if (envp == NULL || w == NULL) {
        free(envp);
        free(w);
        return NULL;
    }
    /* Extra entries first: getenv() returns the first match. */
    for (size_t i = 0; i < nextra; i++) {
        envp[i] = (char *)env[i];
    }
    for (size_t i = 0; i < nenv; i++) {
        envp[nextra + i] = environ[i];
    }
    fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(envp);
        free(w);
        return NULL;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 3; i < 1024; i++) {
            close(i);
        }
        if (wt_under_valgrind()) {
            /* The valgrind pass runs every worker under memcheck too; its
             * reports land in the log, where wt_proc_free() looks for them. */
            size_t n = 0;
            while (argv[n] != NULL) {
                n++;
            }
            const char **vargv = calloc(n + 8, sizeof(*vargv));
            if (vargv == NULL) {
                _exit(127);
            }
            size_t k = 0;
            vargv[k++] = "valgrind";
            vargv[k++] = "-q";
            vargv[k++] = "--leak-check=full";
            vargv[k++] = "--errors-for-leak-kinds=definite";
            vargv[k++] = "--error-markers=VALGRIND-ERROR-BEGIN,VALGRIND-ERROR-END";
            vargv[k++] = exe;
            for (size_t i = 1; i < n; i++) {
                vargv[k++] = argv[i];
            }
            vargv[k] = NULL;
            execvpe("valgrind", (char *const *)vargv, envp);
            _exit(127);
        }
        execve(exe, (char *const *)argv, envp);
        _exit(127);
    }
    close(fd);
    free(envp);
    if (pid < 0) {
        free(w);
        return NULL;
    }
    w->pid = pid;
    snprintf(w->log, sizeof(w->log), "%s", log_path);
    track((void **)tracked_procs, w);
    return w;
}

pid_t wt_proc_pid(const wt_proc *w)
{
    return w->pid;
}

int wt_proc_signal(wt_proc *w, int sig)
{
    if (w->exited) {
        return -ESRCH;
    }
    return kill(w->pid, sig) == 0 ? 0 : -errno;
}

static bool proc_reap(wt_proc *w)
{
    int st;
    pid_t r;
    if (w->exited) {
        return true;
    }
    r = waitpid(w->pid, &st, WNOHANG);
    if (r == w->pid) {
        w->exited = true;
        w->status = st;
        return true;
    }
    return false;
}

static bool proc_reap_pred(void *ctx)
{
    return proc_reap(ctx);
}

int wt_proc_wait(wt_proc *w, int timeout_ms, int *status)
{
    if (!wt_wait_for(proc_reap_pred, w, timeout_ms)) {
        return -1;
    }
    if (status != NULL) {
        *status = w->status;
    }
    return 0;
}

bool wt_proc_running(wt_proc *w)
{
    return !proc_reap(w);
}

void wt_proc_free(wt_proc *w)
{
    if (w == NULL) {
        return;
    }
    untrack((void **)tracked_procs, w);
    if (!proc_reap(w)) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &w->status, 0);
    }
    /* A sanitizer report from the worker fails the test (ASan builds). */
    if (wt_file_contains(w->log, "runtime error:") || wt_file_contains(w->log, "Sanitizer") ||
        wt_file_contains(w->log, "VALGRIND-ERROR-BEGIN")) {
        char log[512];
        snprintf(log, sizeof(log), "%s", w->log);
        free(w);
        wt_set_log(log);
        WT_CHECK(false, "the process reported a sanitizer error (log %s)", log);
    }
    free(w);
}

int wt_run(const char *exe, const char *const *argv, const char *const *env,
           const char *log_path, int timeout_ms)
{
    int st = -1;
    wt_proc *w = wt_proc_start(exe, argv, env, log_path);
    if (w == NULL) {
        return -1;
    }
    if (wt_proc_wait(w, timeout_ms, &st) != 0) {
        st = -1;
    }
    wt_proc_free(w);
    return st;
}

wt_proc *wt_worker_start(const char *queue_url, const char *cache_url, const char *log_path,
                         const char *const *extra)
{
    const char *argv[96];
    size_t n = 0;
    argv[n++] = wt_worker_path();
    argv[n++] = "--queue-url";
    argv[n++] = queue_url;
    if (cache_url != NULL) {
        argv[n++] = "--cache-url";
        argv[n++] = cache_url;
    }
    argv[n++] = "--http-addr";
    argv[n++] = "off";
    argv[n++] = "--log-format";
    argv[n++] = "json";
    argv[n++] = "--heartbeat-ms";
    argv[n++] = "200";
    argv[n++] = "--reap-after-ms";
    argv[n++] = "1000";
    argv[n++] = "--backoff-base-ms";
    argv[n++] = "20";
    argv[n++] = "--backoff-max-ms";
    argv[n++] = "200";
    argv[n++] = "--shutdown-grace-ms";
    argv[n++] = "5000";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 95; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    return wt_proc_start(argv[0], argv, NULL, log_path);
}

void wt_worker_stop(wt_proc *w)
{
    int st = 0;
    WT_CHECK(wt_proc_signal(w, SIGTERM) == 0, "SIGTERM");
    WT_CHECK(wt_proc_wait(w, WT_DEADLINE_MS, &st) == 0, "worker did not exit after SIGTERM");
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker exit status %d", st);
    wt_proc_free(w);
}

void wt_pair_start(wt_pair *p, const rfix_opts *queue_opts, const rfix_opts *cache_opts)
{
    memset(p, 0, sizeof(*p));
    p->queue = wt_server(queue_opts);
    p->cache = wt_server(cache_opts);
    p->qc = wt_connect(p->queue);
    p->cc = wt_connect(p->cache);
    snprintf(p->log, sizeof(p->log), "%s/worker.log", rfix_dir(p->queue));
    wt_set_log(p->log);
}

void wt_pair_stop(wt_pair *p)
{
    redisFree(p->qc);
    redisFree(p->cc);
    wt_set_log(NULL);
    wt_server_free(p->queue);
    wt_server_free(p->cache);
    memset(p, 0, sizeof(*p));
}

bool wt_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    bool found;
    if (f == NULL) {
        return false;
    }
    buf = malloc(8u << 20);
    if (buf == NULL) {
        fclose(f);
        return false;
    }
    n = fread(buf, 1, (8u << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    found = strstr(buf, needle) != NULL;
    free(buf);
    return found;
}

void wt_file_dump(const char *path)
{
    char line[4096];
    int count = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    printf("# --- %s ---\n", path);
    while (fgets(line, sizeof(line), f) != NULL && count++ < 200) {
        printf("# %s", line);
    }
    fclose(f);
    fflush(stdout);
}

const char *wt_qkey(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "invq:{default}:%s", suffix);
    return buf;
}

uint8_t *wt_encode(const invq_job *job, size_t *len)
{
    job_limits lim;
    job_error err;
    uint8_t *out = NULL;
    int rc;
    job_limits_default(&lim);
    rc = job_encode(job, &lim, &out, len, &err);
    if (rc != 0) {
        char msg[320];
        job_error_format(&err, msg, sizeof(msg));
        WT_CHECK(rc == 0, "job_encode: %s", msg);
    }
    return out;
}

invq_job *wt_job_build(const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
                       uint64_t ttl_ms)
{
    invq_job *job = job_new();
    int op;
    WT_CHECK(job != NULL, "job_new");
    WT_CHECK(job_set_id(job, id) == 0, "job_set_id");
    job->ts = wt_wall_ms();
    op = job_add_op(job, kind, kind == JOB_OP_EXPIRE ? ttl_ms : 0, false, 0);
    WT_CHECK(op >= 0, "job_add_op");
    for (size_t i = 0; i < nkeys; i++) {
        WT_CHECK(job_op_add_key(job, (size_t)op, keys[i], strlen(keys[i]), false) == 0,
                 "job_op_add_key");
    }
    return job;
}

uint8_t *wt_job1(const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
                 uint64_t ttl_ms, size_t *len)
{
    invq_job *job = wt_job_build(id, kind, keys, nkeys, ttl_ms);
    uint8_t *out = wt_encode(job, len);
    job_free(job);
    return out;
}

uint8_t *wt_big_job(const char *id, size_t size)
{
    const char *keys[1] = {id};
    size_t len;
    uint8_t *small = wt_job1(id, JOB_OP_DEL, keys, 1, 0, &len);
    /* small is a fixmap of 4 entries; add "pad": bin 32 with the rest */
    size_t head = len + 4 + 5;
    WT_CHECK(small[0] == 0x84 && size >= head, "wt_big_job: %zu bytes is too small", size);
    uint8_t *b = malloc(size);
    WT_CHECK(b != NULL, "wt_big_job: out of memory");
    memcpy(b, small, len);
    b[0] = 0x85;
    uint8_t *p = b + len;
    size_t pad = size - head;
    memcpy(p, "\xa3pad\xc6", 5);
    p[5] = (uint8_t)(pad >> 24);
    p[6] = (uint8_t)(pad >> 16);
    p[7] = (uint8_t)(pad >> 8);
    p[8] = (uint8_t)pad;
    memset(p + 9, 'x', pad);
    free(small);
    return b;
}

long wt_vmhwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kb;
}

void wt_push1(redisContext *c, const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
              uint64_t ttl_ms)
{
    size_t len;
    uint8_t *job = wt_job1(id, kind, keys, nkeys, ttl_ms, &len);
    wt_push(c, job, len);
    free(job);
}

void wt_push_dels(redisContext *qc, redisContext *cc, const char *prefix, int from, int to)
{
    for (int i = from; i < to; i++) {
        char key[64], id[64];
        const char *keys[1] = {key};
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        if (cc != NULL) {
            wt_cmd(cc, "SET %s v", key);
        }
        wt_push1(qc, id, JOB_OP_DEL, keys, 1, 0);
    }
}

void wt_push_dels_bulk(redisContext *qc, redisContext *cc, const char *prefix, int from, int to)
{
    char pending[128];
    wt_qkey(pending, sizeof(pending), "pending");
    for (int base = from; base < to; base += 1000) {
        int end = base + 1000 < to ? base + 1000 : to;
        for (int i = base; i < end; i++) {
            char key[64], id[64];
            const char *keys[1] = {key};
            size_t len;
            snprintf(key, sizeof(key), "%s:%d", prefix, i);
            snprintf(id, sizeof(id), "%s-%d", prefix, i);
            if (cc != NULL)
                redisAppendCommand(cc, "SET %s v", key);
            uint8_t *job = wt_job1(id, JOB_OP_DEL, keys, 1, 0, &len);
            redisAppendCommand(qc, "LPUSH %s %b", pending, job, len);
            free(job);
        }
        for (int i = base; i < end; i++) {
            void *r = NULL;
            if (cc != NULL) {
                WT_CHECK(redisGetReply(cc, &r) == REDIS_OK && r != NULL, "SET failed: %s", cc->errstr);
                freeReplyObject(r);
            }
            WT_CHECK(redisGetReply(qc, &r) == REDIS_OK && r != NULL &&
                         ((redisReply *)r)->type == REDIS_REPLY_INTEGER, "LPUSH failed: %s", qc->errstr);
            freeReplyObject(r);
        }
    }
}

int wt_run_output(const char *const *argv, const char *dir, const char *name, char *out, size_t outlen)
{
    char log[1024];
    snprintf(log, sizeof(log), "%s/%s.out", dir, name);
    remove(log);
    int st = wt_run(argv[0], argv, NULL, log, WT_DEADLINE_MS);
    WT_CHECK(st != -1 && WIFEXITED(st), "%s did not exit", argv[0]);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(out, 1, outlen - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    return WEXITSTATUS(st);
}

int wt_file_count(const char *path, const char *const *needles)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        bool all = true;
        for (size_t i = 0; needles[i] != NULL && all; i++)
            all = strstr(line, needles[i]) != NULL;
        n += all;
    }
    fclose(f);
    return n;
}

void wt_push(redisContext *c, const uint8_t *job, size_t len)
{
    char key[128];
    redisReply *r = redisCommand(c, "LPUSH %s %b", wt_qkey(key, sizeof(key), "pending"), job, len);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "LPUSH failed: %s",
             r ? (r->str ? r->str : "?") : c->errstr);
    freeReplyObject(r);
}

static long long int_reply(redisReply *r)
{
    long long v = -1;
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else if (r->type == REDIS_REPLY_NIL) {
        v = 0;
    } else if (r->type == REDIS_REPLY_STRING) {
        char *end;
        v = strtoll(r->str, &end, 10);
        if (*end != '\0') {
            v = -1;
        }
    }
    freeReplyObject(r);
    return v;
}

long long wt_llen(redisContext *c, const char *key)
{
    return int_reply(redisCommand(c, "LLEN %s", key));
}

long long wt_zcard(redisContext *c, const char *key)
{
    return int_reply(redisCommand(c, "ZCARD %s", key));
}

long long wt_exists(redisContext *c, const char *key)
{
    return int_reply(redisCommand(c, "EXISTS %s", key));
}

long long wt_dbsize(redisContext *c)
{
    return int_reply(redisCommand(c, "DBSIZE"));
}

long long wt_stat(redisContext *c, const char *field)
{
    char key[128];
    return int_reply(redisCommand(c, "HGET %s %s", wt_qkey(key, sizeof(key), "stats"), field));
}

long long wt_pttl(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "PTTL %s", key);
    long long v = -3;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    }
    freeReplyObject(r);
    return v;
}

long long wt_get_int(redisContext *c, const char *key)
{
    return int_reply(redisCommand(c, "GET %s", key));
}

long long wt_count_keys(redisContext *c, const char *pattern)
{
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

typedef struct llen_wait {
    redisContext *c;
    const char *key;
    long long want;
} llen_wait;

static bool llen_reached(void *ctx)
{
    const llen_wait *w = ctx;
    return wt_llen(w->c, w->key) >= w->want;
}

bool wt_wait_llen(redisContext *c, const char *key, long long want, int timeout_ms)
{
    llen_wait w = {c, key, want};
    return wt_wait_for(llen_reached, &w, timeout_ms);
}

typedef struct stat_wait {
    redisContext *c;
    const char *field;
    long long want;
} stat_wait;

static bool stat_reached(void *ctx)
{
    const stat_wait *w = ctx;
    return wt_stat(w->c, w->field) >= w->want;
}

bool wt_wait_stat(redisContext *c, const char *field, long long want, int timeout_ms)
{
    stat_wait w = {c, field, want};
    return wt_wait_for(stat_reached, &w, timeout_ms);
}

typedef struct key_wait {
    redisContext *c;
    const char *key;
} key_wait;

static bool key_gone(void *ctx)
{
    const key_wait *k = ctx;
    return wt_exists(k->c, k->key) == 0;
}

bool wt_wait_gone(redisContext *c, const char *key, int timeout_ms)
{
    key_wait k = {c, key};
    return wt_wait_for(key_gone, &k, timeout_ms);
}

bool wt_drained(redisContext *qc, redisContext *cc)
{
    char key[128];
    return wt_dbsize(cc) == 0 && wt_llen(qc, wt_qkey(key, sizeof(key), "pending")) == 0 &&
           wt_zcard(qc, wt_qkey(key, sizeof(key), "delayed")) == 0 &&
           wt_count_keys(qc, "invq:{default}:processing:*") == 0;
}

void wt_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    WT_CHECK(r != NULL && r->type != REDIS_REPLY_ERROR, "command \"%s\" failed: %s", fmt,
             r ? (r->str ? r->str : "?") : c->errstr);
    freeReplyObject(r);
}

size_t wt_dead_records(redisContext *c, dead_record ***out)
{
    char key[128];
    job_limits lim;
    dead_record **recs;
    redisReply *r = redisCommand(c, "LRANGE %s 0 -1", wt_qkey(key, sizeof(key), "dead"));
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "LRANGE dead failed");
    job_limits_default(&lim);
    recs = calloc(r->elements + 1, sizeof(*recs));
    WT_CHECK(recs != NULL, "calloc");
    for (size_t i = 0; i < r->elements; i++) {
        job_error err;
        int rc = dead_decode((const uint8_t *)r->element[i]->str, r->element[i]->len, &lim,
                             &recs[i], &err);
        WT_CHECK(rc == 0, "dead record %zu does not decode: %s %s", i, job_err_code(rc),
                 err.reason);
    }
    *out = recs;
    {
        size_t n = r->elements;
        freeReplyObject(r);
        return n;
    }
}

void wt_dead_records_free(dead_record **recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dead_free(recs[i]);
    }
    free(recs);
}

long long wt_cmdstat_calls(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_STRING, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, needle);
    long long n = p != NULL ? strtoll(p + strlen(needle), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

void wt_push_bad(wt_pair *p, int i)
{
    char key[32], id[32];
    snprintf(key, sizeof key, "bad:%d", i);
    snprintf(id, sizeof id, "bad-%d", i);
    wt_cmd(p->cc, "SET %s notanumber", key);
    const char *k[] = { key };
    wt_push1(p->qc, id, JOB_OP_BUMP, k, 1, 0);
}

const char *const wt_node_errors[WT_NODE_ERRORS] = {
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "NOREPLICAS Not enough good replicas to write.",
};

bool wt_one_blocked(void *ctx)
{
    redisContext *c = ctx;
    redisReply *r = redisCommand(c, "INFO clients");
    bool yes = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "blocked_clients:1\r") != NULL;
    freeReplyObject(r);
    return yes;
}
