/* The freshness benchmark's one invq-worker process, and the state of its
 * queue (default namespace and queue: invq:{default}:...). */
#ifndef INVQ_BENCH_FRESHNESS_WPROC_H
#define INVQ_BENCH_FRESHNESS_WPROC_H

#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct wproc wproc;

/* Starts `exe` --queue-url queue_url --cache-url cache_url (no HTTP
 * listener, warnings only), its output appended to log_path, and waits
 * (bounded) until a consumer has registered. The worker gets SIGTERM if the
 * calling thread exits first. Returns 0 and *out, or -1 with a message
 * (which includes the log's last lines when the worker exited). */
int wproc_start(const char *exe, const char *queue_url, const char *cache_url, const char *log_path,
                redisContext *queue, wproc **out, char *err, size_t errlen);

/* SIGTERM and wait for it (SIGKILL after 20 s); frees w. Returns its exit
 * status (0 for a clean exit), -1 when it had to be killed. NULL: 0. */
int wproc_stop(wproc *w);

/* Waits until nothing is pending, delayed (the redo deletes) or being
 * processed, at most timeout_ms. Returns 0, or -1 with what is left. */
int wproc_wait_drained(redisContext *queue, int timeout_ms, char *err, size_t errlen);

/* Length of the dead-letter list (-1 on a Redis error). */
long long wproc_dead_letters(redisContext *queue);

#endif
