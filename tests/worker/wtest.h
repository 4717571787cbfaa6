/* Shared helpers for the invq-worker integration tests: running the worker
 * as a subprocess, building and enqueuing jobs, reading the queue's keys,
 * bounded polling, and a tiny assertion macro. */
#ifndef INVQ_TESTS_WTEST_H
#define INVQ_TESTS_WTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "dead.h"
#include "job.h"
#include "redis_fixture.h"

/* Fails the test (exit 1) with file:line and the message when cond is false. */
#define WT_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            wt_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                 \
        }                                                                    \
    } while (0)

void wt_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

/* Starts a redis-server through the fixture (exits 77 when there is none)
 * and remembers it, so a failing check stops it. Free with wt_server_free(). */
rfix *wt_server(const rfix_opts *opts);
void wt_server_free(rfix *f);
/* A connection to f that must succeed; caller frees with redisFree(). */
redisContext *wt_connect(const rfix *f);

/* The worker log to print when a check fails (borrowed; NULL: none). */
void wt_set_log(const char *path);

/* Prints "# ..." progress lines to stdout (meson shows them in the test log). */
void wt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds: wall clock (for job ts) and monotonic (for deadlines). */
uint64_t wt_wall_ms(void);
uint64_t wt_mono_ms(void);

/* Generous deadline for anything that waits on the worker (valgrind-safe). */
#define WT_DEADLINE_MS 60000

/* Polls pred(ctx) every few ms until it returns true or timeout_ms passes;
 * returns whether it became true. */
bool wt_wait_for(bool (*pred)(void *ctx), void *ctx, int timeout_ms);
/* A wt_wait_for() predicate: ctx, a redisContext, sees exactly one client
 * of its server blocked (a consumer waiting in BLMOVE). */
bool wt_one_blocked(void *ctx);

/* Path of the invq-worker binary: $INVQ_TEST_WORKER. Exits 77 (skip) when unset. */
/* True in the valgrind pass (INVQ_TEST_VALGRIND=1): workers run under memcheck. */
bool wt_under_valgrind(void);
const char *wt_worker_path(void);

/* A worker subprocess; its stdout and stderr go to a log file. */
typedef struct wt_proc wt_proc;

/* Starts `exe` with argv (NULL-terminated, argv[0] included) and extra
 * environment entries "NAME=value" (NULL-terminated; may be NULL), output
 * appended to log_path. Returns NULL on failure. Free with wt_proc_free(). */
wt_proc *wt_proc_start(const char *exe, const char *const *argv, const char *const *env,
                       const char *log_path);
pid_t wt_proc_pid(const wt_proc *w);
int wt_proc_signal(wt_proc *w, int sig);
/* Waits up to timeout_ms for exit. Returns 0 and fills *status (as waitpid)
 * once exited, -1 on timeout. */
int wt_proc_wait(wt_proc *w, int timeout_ms, int *status);
bool wt_proc_running(wt_proc *w);
/* SIGKILLs the process if still running, reaps it, frees w; NULL is fine. */
void wt_proc_free(wt_proc *w);

/* Runs a program to completion (output to log_path); returns its wait
 * status, or -1 when it did not finish within timeout_ms (then it is killed). */
int wt_run(const char *exe, const char *const *argv, const char *const *env,
           const char *log_path, int timeout_ms);

/* Starts invq-worker on the given queue and cache URLs with fast test
 * settings (--http-addr off, json logs, short heartbeats/backoffs) followed
 * by `extra` flags (NULL-terminated; may be NULL; later flags win). */
wt_proc *wt_worker_start(const char *queue_url, const char *cache_url, const char *log_path,
                         const char *const *extra);

/* SIGTERMs the worker and requires a clean exit (status 0) within
 * WT_DEADLINE_MS; then frees it. */
void wt_worker_stop(wt_proc *w);

/* A queue server and a cache server, a connection to each, and the worker
 * log path "<queue dir>/worker.log", set as the failure log. */
typedef struct wt_pair {
    rfix *queue;
    rfix *cache;
    redisContext *qc;
    redisContext *cc;
    char log[512];
} wt_pair;

/* Starts both servers (opts may be NULL) and connects; aborts on failure. */
void wt_pair_start(wt_pair *p, const rfix_opts *queue_opts, const rfix_opts *cache_opts);
/* Closes both connections, clears the failure log, frees both servers. */
void wt_pair_stop(wt_pair *p);

/* Whether the file contains the string. */
bool wt_file_contains(const char *path, const char *needle);
/* Prints the file to stdout (for failed tests' context). */
void wt_file_dump(const char *path);

/* Key of the default queue: "invq:{default}:<suffix>" into buf. */
const char *wt_qkey(char *buf, size_t len, const char *suffix);

/* A one-op job with keys and ts = now (ttl_ms only for expire), not yet
 * encoded; the caller frees it with job_free(). Aborts the test on failure. */
invq_job *wt_job_build(const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
                       uint64_t ttl_ms);

/* wt_job_build(), encoded into a malloc'd buffer (caller frees). */
uint8_t *wt_job1(const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
                 uint64_t ttl_ms, size_t *len);

/* Builds a one-op job as wt_job1() does and LPUSHes it onto pending. */
void wt_push1(redisContext *c, const char *id, job_op_kind kind, const char *const *keys, size_t nkeys,
              uint64_t ttl_ms);

/* For i in [from, to): a one-key DEL job with id "<prefix>-<i>" on key
 * "<prefix>:<i>", pushed onto qc; when cc is not NULL the key is SET there
 * first. */
void wt_push_dels(redisContext *qc, redisContext *cc, const char *prefix, int from, int to);

/* As wt_push_dels(), pipelined 1000 commands per round trip (for large
 * backlogs). */
void wt_push_dels_bulk(redisContext *qc, redisContext *cc, const char *prefix, int from, int to);

/* A BUMP job "bad-<i>" on key "bad:<i>", which is first SET to a text value
 * on the pair's cache: INCR fails, dead-lettered after one attempt. */
void wt_push_bad(wt_pair *p, int i);

/* The replies of a node that is not a writable master (a failover), in
 * full as Redis writes them without the '-': READONLY, LOADING, MASTERDOWN,
 * NOREPLICAS. */
#define WT_NODE_ERRORS 4
extern const char *const wt_node_errors[WT_NODE_ERRORS];

/* Runs argv (NULL-terminated, argv[0] the program) to completion within
 * WT_DEADLINE_MS with stdout and stderr into dir/<name>.out, reads that
 * (at most outlen - 1 bytes, NUL-terminated) into out and returns the exit
 * code; a program that does not exit fails the test. */
int wt_run_output(const char *const *argv, const char *dir, const char *name, char *out, size_t outlen);

/* Lines of the file that contain every one of the NULL-terminated needles. */
int wt_file_count(const char *path, const char *const *needles);

/* A valid one-key DEL job ("<id>" on key "<id>") padded by an unknown
 * field to exactly `size` bytes (size >= 64), for payload limits; malloc'd
 * (caller frees). */
uint8_t *wt_big_job(const char *id, size_t size);

/* Peak resident set (VmHWM of /proc/<pid>/status) in KiB, -1 when unknown. */
long wt_vmhwm_kb(pid_t pid);

/* A job built by the caller, encoded (caller frees the buffer and the job). */
uint8_t *wt_encode(const invq_job *job, size_t *len);

/* LPUSHes encoded jobs onto the default queue's pending list. */
void wt_push(redisContext *c, const uint8_t *job, size_t len);

/* Integer answers from the server (-1 on error): LLEN, ZCARD, EXISTS, DBSIZE,
 * HGET stats <field> (0 when absent), PTTL, GET as integer. */
long long wt_llen(redisContext *c, const char *key);
long long wt_zcard(redisContext *c, const char *key);
long long wt_exists(redisContext *c, const char *key);
long long wt_dbsize(redisContext *c);
long long wt_stat(redisContext *c, const char *field);
long long wt_pttl(redisContext *c, const char *key);
long long wt_get_int(redisContext *c, const char *key);

/* INFO commandstats calls of one command on c (0 when never called). */
long long wt_cmdstat_calls(redisContext *c, const char *cmd);

/* Number of keys matching a pattern (SCAN). */
long long wt_count_keys(redisContext *c, const char *pattern);

/* Polls until HGET stats <field> >= want; returns whether it got there. */
bool wt_wait_stat(redisContext *c, const char *field, long long want, int timeout_ms);
/* Polls until LLEN key >= want; returns whether it got there. */
bool wt_wait_llen(redisContext *c, const char *key, long long want, int timeout_ms);
/* Polls until key no longer exists on c; returns whether it went. */
bool wt_wait_gone(redisContext *c, const char *key, int timeout_ms);

/* Everything applied: the cache (cc) holds no keys, and the default queue
 * on qc has nothing pending, nothing delayed and no processing lists. */
bool wt_drained(redisContext *qc, redisContext *cc);

/* Runs a command that must succeed (not an error reply); aborts otherwise. */
void wt_cmd(redisContext *c, const char *fmt, ...);

/* Reads every dead-letter record (LRANGE dead 0 -1, newest first). The
 * caller frees each with dead_free() and the array with free(). */
size_t wt_dead_records(redisContext *c, dead_record ***out);
/* Frees what wt_dead_records() returned. */
void wt_dead_records_free(dead_record **recs, size_t n);

#endif
