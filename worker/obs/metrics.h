/* The worker's metrics registry: counters, gauges and histograms updated by
 * the worker on its loop thread and rendered in the Prometheus text format. */
#ifndef INVQ_WORKER_METRICS_H
#define INVQ_WORKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;

/* A new, zeroed registry; free with metrics_free(). NULL on OOM. */
metrics *metrics_new(const char *version);
void metrics_free(metrics *m);

/* Jobs finished, by result: "done", "retried", "dead". */
void metrics_jobs_finished(metrics *m, const char *result, uint64_t n);
/* One dead letter, by reason code (job_err_code() names or "wrong_type",
 * "noperm", "max_attempts", ...): a small, bounded set of labels. */
void metrics_dead_letter(metrics *m, const char *reason_code);
/* Keys invalidated, by op: "del", "bump", "expire". */
void metrics_keys(metrics *m, const char *op, uint64_t n);
/* One batch applied: its size in jobs and the seconds from sending the first
 * cache command to reading the last reply. */
void metrics_batch(metrics *m, size_t jobs, double apply_seconds);
/* Lag of one applied job: job `ts` to applied, in seconds. */
void metrics_lag(metrics *m, double seconds);
/* Redis connection state per target ("queue", "cache"). */
void metrics_set_connected(metrics *m, const char *target, bool up);
/* The target's current connection error (NULL or "": none), for /readyz;
 * copied, cut to one short line. */
void metrics_set_conn_error(metrics *m, const char *target, const char *err);
void metrics_reconnect(metrics *m, const char *target);
/* Circuit breaker on the cache target. */
void metrics_set_breaker_open(metrics *m, bool open);
void metrics_set_consumers(metrics *m, unsigned n);
void metrics_set_draining(metrics *m, bool draining);
/* Queue depths, sampled on a timer by the worker. */
void metrics_set_depths(metrics *m, uint64_t pending, uint64_t delayed, uint64_t dead, uint64_t processing);

/* Lifetime counters of the queue's stats HASH (<ns>:{<q>}:stats: enqueued,
 * done, retried, dead, reaped, requeued), sampled on the same timer, so that
 * /metrics and `invqctl stats` show the same numbers. */
void metrics_set_queue_total(metrics *m, const char *counter, uint64_t value);

/* Event-loop lag seen by the HTTP server's watchdog timer: how late its
 * ticks ran (the worst of the recent ones), in seconds. */
void metrics_set_loop_lag(metrics *m, double seconds);

/* A queue script keeps failing (reason copied, e.g. "queue key
 * invq:{default}:dead has type string, expected list"), or NULL once every
 * queue script succeeds again. */
void metrics_set_queue_blocked(metrics *m, const char *reason);
/* One failed run of a queue script or command: "fetch", "finish",
 * "release", "promote", "reap", "sample", "heartbeat", "blmove", "rate". */
void metrics_queue_script_error(metrics *m, const char *script);

/* One batch whose WAIT (--cache-wait-replicas) was answered by fewer
 * replicas than asked for: it is applied again. */
void metrics_cache_wait_short(metrics *m);
/* Batches held because the dead-letter list is at --dlq-max (reason
 * copied, for /readyz), or NULL once none is. */
void metrics_set_dlq_full(metrics *m, const char *reason);
/* n dead-letter records moved to the --dlq-overflow spill file. */
void metrics_dlq_spilled(metrics *m, uint64_t n);
/* --dlq-max (0: no cap), for the alert that fires well before it. */
void metrics_set_dlq_max(metrics *m, uint64_t max);

/* Readiness: 1 when both targets are connected, no queue script keeps
 * failing, the dead-letter list is under its cap and the worker is not
 * draining; otherwise 0 and a one-line reason
 * in buf (with the connection error when known). */
int metrics_ready(const metrics *m, char *reason, size_t len);

/* The per-family metrics of a families file (fam_metrics.h), created on
 * first use and rendered with the rest from then on; owned by m. NULL when
 * out of memory. */
struct fam_metrics;
struct fam_metrics *metrics_families(metrics *m);

/* Renders the exposition into a malloc'd, NUL-terminated buffer (caller frees). */
char *metrics_render(const metrics *m, size_t *len);

#endif
