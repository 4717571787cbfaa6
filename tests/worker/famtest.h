/* Helpers of the families tests (worker_families, worker_families_reload,
 * worker_families_rate): a families file written into a test dir, a worker
 * started with it and a metrics port, jobs of several ops with a family,
 * a job's dead-letter reason, and waiting for a number of jobs to settle. */
#ifndef INVQ_TESTS_FAMTEST_H
#define INVQ_TESTS_FAMTEST_H

#include <stddef.h>

#include "wtest.h"

/* Writes text to <dir>/<name> (replacing it by a rename, as an editor or a
 * config-management tool does) and returns the path, kept in path. */
const char *ft_write(const char *dir, const char *name, const char *text, char *path, size_t len);

/* Starts invq-worker on the queue and cache URLs with --families FILE and
 * its listener on 127.0.0.1:port, extra flags after (NULL-terminated; may
 * be NULL); waits until /readyz answers 200. */
wt_proc *ft_worker(const char *queue_url, const char *cache_url, const char *families, int port,
                   const char *log, const char *const *extra);

/* A job with id and, when fam is not NULL, that `fam` field; ts = now.
 * Add ops with ft_op(); push and free it with ft_push(). */
invq_job *ft_job(const char *id, const char *fam);
/* Appends one op over a NULL-terminated list of keys (ttl_ms for expire). */
void ft_op(invq_job *j, job_op_kind kind, uint64_t ttl_ms, const char *const *keys);
/* Encodes j, LPUSHes it onto the default queue and frees it. */
void ft_push(redisContext *qc, invq_job *j);
/* A one-op job of one key, pushed. */
void ft_push1(redisContext *qc, const char *id, const char *fam, job_op_kind kind, const char *key);

/* The reason of job id's dead letter (malloc'd; caller frees), NULL when
 * it has none. */
char *ft_dead_reason(redisContext *qc, const char *id);
/* Requires job id's dead letter to say exactly `want`. */
void ft_check_dead(redisContext *qc, const char *id, const char *want);

/* Waits until stats done + dead reach `jobs` and nothing is pending,
 * delayed or on a processing list. */
void ft_wait_settled(redisContext *qc, long long jobs);

/* Lines of the file that contain needle. */
size_t ft_count_lines(const char *path, const char *needle);

/* A metric sample from the worker's /metrics that must be present. */
double ft_metric(int port, const char *series);
/* Requires the sample to equal want exactly. */
void ft_check_metric(int port, const char *series, double want);

#endif
