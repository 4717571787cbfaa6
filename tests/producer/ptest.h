/* Helpers shared by the producer tests: CHECK (tcheck.h) and CHECK_RC, a
 * fixture server that skips the test when there is none, and reading a
 * queue back from Redis as decoded jobs. */
#ifndef INVQ_TESTS_PRODUCER_PTEST_H
#define INVQ_TESTS_PRODUCER_PTEST_H

#include <stdio.h>
#include <stdlib.h>

#include <invq/invq.h>

#include "job.h"
#include "redis_fixture.h"
#include "tcheck.h"


#define CHECK_RC(expr, want)                                                          \
    do {                                                                              \
        int rc_ = (expr);                                                             \
        if (rc_ != (want)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %d, want %d\n", __FILE__, __LINE__, #expr, \
                    rc_, (int)(want));                                                \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* Starts a fixture server (opts may be NULL); exits 77 (skip) when there is
 * no redis-server, fails the test on any other error. Free with rfix_free(). */
rfix *ptest_server(const rfix_opts *opts);

/* The jobs of a list, oldest first (the order a worker takes them). */
typedef struct job_list {
    invq_job **jobs;
    size_t n;
} job_list;

/* Reads key (LRANGE) from the fixture, decodes every element (a decode
 * failure fails the test) and returns them oldest first. */
job_list read_queue(const rfix *f, const char *key);
void job_list_free(job_list *l);

/* LLEN of key, -1 on failure. */
long long queue_len(const rfix *f, const char *key);

/* HGET stats field as a number, 0 when absent. */
long long stats_get(const rfix *f, const char *key, const char *field);

/* A temp dir (mkdtemp under /tmp); the caller frees the string. */
char *make_temp_dir(void);

/* Removes a directory and the files in it (one level). */
void remove_dir(const char *dir);

/* invq_producer_new(o) that fails the test (printing the message) unless it
 * succeeds. Free with invq_producer_free(). */
invq_producer *ptest_producer(const invq_options *o);

/* A job deleting the one key "item:<i>"; free with invq_job_free(). */
invq_job *ptest_job_del(int i);

/* Entries of dir whose name ends with suffix. */
int ptest_count_files(const char *dir, const char *suffix);

/* The path of the one "*.spool" entry of dir (fails the test when none). */
void ptest_spool_path(const char *dir, char *path, size_t n);

/* The list key holds exactly these job ids, oldest first. */
void ptest_check_queue(const rfix *f, const char *key, char ids[][27], size_t n);

/* DEL key. */
void ptest_clear(const rfix *f, const char *key);

#endif
