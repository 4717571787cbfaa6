/* The worker's metrics registry (see metrics.h): fixed arrays for every
 * labelled family, bounded label sets, and the Prometheus text renderer. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expo.h"
#include "fam_metrics.h"
#include "histogram.h"

/* Distinct dead-letter reasons / stats fields kept before collapsing the
 * rest into "other": keeps the label set (and scrape size) bounded. */
#define METRICS_MAX_REASONS 32
#define METRICS_MAX_QUEUE_COUNTERS 16
#define METRICS_LABEL_MAX 48

enum { RESULT_DONE, RESULT_RETRIED, RESULT_DEAD, RESULT_N };
enum { OP_DEL, OP_BUMP, OP_EXPIRE, OP_N };
enum { TARGET_QUEUE, TARGET_CACHE, TARGET_N };
enum { LIST_PENDING, LIST_DELAYED, LIST_DEAD, LIST_PROCESSING, LIST_N };
enum { SCRIPT_FETCH, SCRIPT_FINISH, SCRIPT_RELEASE, SCRIPT_PROMOTE, SCRIPT_REAP, SCRIPT_SAMPLE, SCRIPT_HEARTBEAT,
       SCRIPT_BLMOVE, SCRIPT_RATE, SCRIPT_N };

static const char *const result_names[RESULT_N] = { "done", "retried", "dead" };
static const char *const op_names[OP_N] = { "del", "bump", "expire" };
static const char *const target_names[TARGET_N] = { "queue", "cache" };
static const char *const list_names[LIST_N] = { "pending", "delayed", "dead", "processing" };
static const char *const script_names[SCRIPT_N] = { "fetch",  "finish", "release",   "promote", "reap",
                                                    "sample", "heartbeat", "blmove", "rate" };

static const double batch_size_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 };
static const double apply_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A counter or gauge under a label value chosen at run time. */
typedef struct named_value {
    char name[METRICS_LABEL_MAX];
    uint64_t value;
} named_value;

/* A bounded set of run-time label values; the rest count under "other". */
typedef struct label_set {
    named_value items[METRICS_MAX_REASONS];
    size_t n;
    size_t max;
    uint64_t other;
    bool other_seen;
} label_set;

struct metrics {
    char *version;
    double start_time;
    uint64_t jobs_finished[RESULT_N];
    uint64_t keys[OP_N];
    uint64_t batches;
    label_set dead_reasons;
    histogram batch_size;
    histogram lag;
    histogram apply;
    uint64_t depth[LIST_N];
    label_set queue_totals;
    bool connected[TARGET_N];
    char conn_error[TARGET_N][200];
    uint64_t reconnects[TARGET_N];
    bool breaker_open;
    unsigned consumers;
    bool draining;
    double loop_lag;
    bool queue_blocked;
    char blocked_reason[320];
    uint64_t script_errors[SCRIPT_N];
    uint64_t wait_short;
    bool dlq_full;
    uint64_t dlq_max;
    uint64_t dlq_spilled;
    char dlq_reason[200];
    fam_metrics *fam; /* created when a families file is loaded */
};

static int name_index(const char *const *names, size_t n, const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* A label value we accept verbatim: a short snake_case word. */
static bool label_is_plain(const char *s)
{
    size_t len = 0;
    for (; s[len]; len++) {
        char c = s[len];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return len > 0 && len < METRICS_LABEL_MAX && strcmp(s, "other") != 0;
}

/* The slot for label value s, created when there is room; NULL means the
 * value counts under "other". */
static named_value *label_set_slot(label_set *ls, const char *s)
{
    if (!s || !label_is_plain(s))
        return NULL;
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->items[i].name, s) == 0)
            return &ls->items[i];
    if (ls->n == ls->max)
        return NULL;
    named_value *v = &ls->items[ls->n++];
    snprintf(v->name, sizeof v->name, "%s", s);
    v->value = 0;
    return v;
}

metrics *metrics_new(const char *version)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->version = strdup(version ? version : "unknown");
    if (!m->version) {
        free(m);
        return NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    m->dead_reasons.max = METRICS_MAX_REASONS;
    m->queue_totals.max = METRICS_MAX_QUEUE_COUNTERS;
    histogram_init(&m->batch_size, batch_size_bounds, COUNT_OF(batch_size_bounds));
    histogram_init(&m->lag, histogram_lag_bounds, histogram_lag_nbounds);
    histogram_init(&m->apply, apply_bounds, COUNT_OF(apply_bounds));
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    fam_metrics_free(m->fam);
    free(m->version);
    free(m);
}

fam_metrics *metrics_families(metrics *m)
{
    if (!m->fam)
        m->fam = fam_metrics_new();
    return m->fam;
}

void metrics_jobs_finished(metrics *m, const char *result, uint64_t n)
{
    int i = name_index(result_names, RESULT_N, result);
    if (i >= 0)
        m->jobs_finished[i] += n;
}

void metrics_dead_letter(metrics *m, const char *reason_code)
{
    named_value *v = label_set_slot(&m->dead_reasons, reason_code);
    if (v) {
        v->value++;
    } else {
        m->dead_reasons.other++;
        m->dead_reasons.other_seen = true;
    }
}

void metrics_keys(metrics *m, const char *op, uint64_t n)
{
    int i = name_index(op_names, OP_N, op);
    if (i >= 0)
        m->keys[i] += n;
}

void metrics_batch(metrics *m, size_t jobs, double apply_seconds)
{
    m->batches++;
    histogram_observe(&m->batch_size, (double)jobs);
    histogram_observe(&m->apply, apply_seconds);
}

void metrics_lag(metrics *m, double seconds)
{
    histogram_observe(&m->lag, seconds);
}

void metrics_set_connected(metrics *m, const char *target, bool up)
{
    int i = name_index(target_names, TARGET_N, target);
    if (i >= 0)
        m->connected[i] = up;
}

void metrics_set_conn_error(metrics *m, const char *target, const char *err)
{
    int i = name_index(target_names, TARGET_N, target);
    if (i < 0)
        return;
    snprintf(m->conn_error[i], sizeof m->conn_error[i], "%s", err ? err : "");
    for (char *c = m->conn_error[i]; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

void metrics_reconnect(metrics *m, const char *target)
{
    int i = name_index(target_names, TARGET_N, target);
    if (i >= 0)
        m->reconnects[i]++;
}

void metrics_set_breaker_open(metrics *m, bool open)
{
    m->breaker_open = open;
}

void metrics_set_consumers(metrics *m, unsigned n)
{
    m->consumers = n;
}

void metrics_set_draining(metrics *m, bool draining)
{
    m->draining = draining;
}

void metrics_set_depths(metrics *m, uint64_t pending, uint64_t delayed, uint64_t dead, uint64_t processing)
{
    m->depth[LIST_PENDING] = pending;
    m->depth[LIST_DELAYED] = delayed;
    m->depth[LIST_DEAD] = dead;
    m->depth[LIST_PROCESSING] = processing;
}

void metrics_set_queue_total(metrics *m, const char *counter, uint64_t value)
{
    /* A sampled value, not an increment: fields beyond the bound are not
     * summed into "other" (that would count them twice per sample). */
    named_value *v = label_set_slot(&m->queue_totals, counter);
    if (v)
        v->value = value;
}

void metrics_set_loop_lag(metrics *m, double seconds)
{
    m->loop_lag = seconds > 0 ? seconds : 0;
}

void metrics_set_queue_blocked(metrics *m, const char *reason)
{
    m->queue_blocked = reason != NULL;
    snprintf(m->blocked_reason, sizeof m->blocked_reason, "%s", reason != NULL ? reason : "");
}

void metrics_queue_script_error(metrics *m, const char *script)
{
    int i = name_index(script_names, SCRIPT_N, script);
    if (i >= 0)
        m->script_errors[i]++;
}

void metrics_cache_wait_short(metrics *m)
{
    m->wait_short++;
}

void metrics_set_dlq_full(metrics *m, const char *reason)
{
    m->dlq_full = reason != NULL;
    snprintf(m->dlq_reason, sizeof m->dlq_reason, "%s", reason != NULL ? reason : "");
}

void metrics_dlq_spilled(metrics *m, uint64_t n)
{
    m->dlq_spilled += n;
}

void metrics_set_dlq_max(metrics *m, uint64_t max)
{
    m->dlq_max = max;
}

int metrics_ready(const metrics *m, char *reason, size_t len)
{
    const char *why = NULL;
    if (m->draining)
        why = "draining";
    else if (!m->connected[TARGET_QUEUE] && !m->connected[TARGET_CACHE])
        why = "queue and cache redis not connected";
    else if (!m->connected[TARGET_QUEUE])
        why = "queue redis not connected";
    else if (!m->connected[TARGET_CACHE])
        why = "cache redis not connected";
    else if (m->queue_blocked)
        why = m->blocked_reason;
    else if (m->dlq_full)
        why = m->dlq_reason;
    if (reason && len > 0) {
        const char *qe = m->conn_error[TARGET_QUEUE], *ce = m->conn_error[TARGET_CACHE];
        bool qd = !m->connected[TARGET_QUEUE] && !m->draining, cd = !m->connected[TARGET_CACHE] && !m->draining;
        if (qd && cd && (qe[0] || ce[0]))
            snprintf(reason, len, "%s: queue: %s; cache: %s", why, qe[0] ? qe : "-", ce[0] ? ce : "-");
        else if (qd && !cd && qe[0])
            snprintf(reason, len, "%s: %s", why, qe);
        else if (cd && !qd && ce[0])
            snprintf(reason, len, "%s: %s", why, ce);
        else
            snprintf(reason, len, "%s", why ? why : "ready");
    }
    return why ? 0 : 1;
}

/* ---- rendering ---- */

static int render_labelled(expo_buf *b, const char *name, const char *label, const char *const *names,
                           const uint64_t *values, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = expo_printf(b, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, names[i], values[i]);
    return rc;
}

static int render_label_set(expo_buf *b, const char *name, const char *label, const label_set *ls)
{
    int rc = 0;
    for (size_t i = 0; i < ls->n && rc == 0; i++)
        rc = expo_printf(b, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, ls->items[i].name, ls->items[i].value);
    if (rc == 0 && ls->other_seen)
        rc = expo_printf(b, "%s{%s=\"other\"} %" PRIu64 "\n", name, label, ls->other);
    return rc;
}

static int render_gauge(expo_buf *b, const char *name, const char *help, uint64_t value)
{
    int rc = expo_header(b, name, "gauge", help);
    return rc ? rc : expo_printf(b, "%s %" PRIu64 "\n", name, value);
}

static int render_counters(const metrics *m, expo_buf *b)
{
    int rc = 0;
    if (rc == 0)
        rc = expo_header(b, "invq_jobs_finished_total", "counter",
                         "Jobs this worker finished, by result (done, retried, dead).");
    if (rc == 0)
        rc = render_labelled(b, "invq_jobs_finished_total", "result", result_names, m->jobs_finished, RESULT_N);
    if (rc == 0)
        rc = expo_header(b, "invq_dead_letters_total", "counter",
                         "Jobs this worker moved to the dead-letter list, by reason code.");
    if (rc == 0)
        rc = render_label_set(b, "invq_dead_letters_total", "reason", &m->dead_reasons);
    if (rc == 0)
        rc = expo_header(b, "invq_keys_invalidated_total", "counter",
                         "Cache keys this worker invalidated, by operation (del, bump, expire).");
    if (rc == 0)
        rc = render_labelled(b, "invq_keys_invalidated_total", "op", op_names, m->keys, OP_N);
    if (rc == 0)
        rc = expo_header(b, "invq_batches_total", "counter", "Batches this worker applied to the cache.");
    if (rc == 0)
        rc = expo_printf(b, "invq_batches_total %" PRIu64 "\n", m->batches);
    if (rc == 0)
        rc = expo_header(b, "invq_redis_reconnects_total", "counter",
                         "Reconnections to Redis after a lost connection, by target (queue, cache).");
    if (rc == 0)
        rc = render_labelled(b, "invq_redis_reconnects_total", "target", target_names, m->reconnects, TARGET_N);
    if (rc == 0)
        rc = expo_header(b, "invq_queue_script_errors_total", "counter",
                         "Runs of a queue script or command the queue Redis refused, by script.");
    if (rc == 0)
        rc = render_labelled(b, "invq_queue_script_errors_total", "script", script_names, m->script_errors,
                             SCRIPT_N);
    if (rc == 0)
        rc = expo_header(b, "invq_cache_wait_short_total", "counter",
                         "Batches whose WAIT (--cache-wait-replicas) was confirmed by fewer replicas than asked "
                         "for: not acknowledged, applied again (no attempt used).");
    if (rc == 0)
        rc = expo_printf(b, "invq_cache_wait_short_total %" PRIu64 "\n", m->wait_short);
    if (rc == 0)
        rc = expo_header(b, "invq_dlq_spilled_total", "counter",
                         "Dead-letter records moved to the --dlq-overflow spill file at the cap.");
    if (rc == 0)
        rc = expo_printf(b, "invq_dlq_spilled_total %" PRIu64 "\n", m->dlq_spilled);
    return rc;
}

static int render_histograms(const metrics *m, expo_buf *b)
{
    int rc = expo_header(b, "invq_batch_size_jobs", "histogram", "Jobs per applied batch.");
    if (rc == 0)
        rc = histogram_render(&m->batch_size, "invq_batch_size_jobs", b);
    if (rc == 0)
        rc = expo_header(b, "invq_batch_apply_seconds", "histogram",
                         "Seconds from sending a batch's first cache command to reading its last reply.");
    if (rc == 0)
        rc = histogram_render(&m->apply, "invq_batch_apply_seconds", b);
    if (rc == 0)
        rc = expo_header(b, "invq_job_lag_seconds", "histogram",
                         "Seconds from a job's enqueue time (ts) to its invalidation being applied.");
    if (rc == 0)
        rc = histogram_render(&m->lag, "invq_job_lag_seconds", b);
    return rc;
}

static int render_state(const metrics *m, expo_buf *b)
{
    uint64_t connected[TARGET_N];
    for (size_t i = 0; i < TARGET_N; i++)
        connected[i] = m->connected[i];
    int rc = expo_header(b, "invq_queue_depth", "gauge",
                         "Length of the queue's lists (processing: summed over all consumers), sampled on a timer.");
    if (rc == 0)
        rc = render_labelled(b, "invq_queue_depth", "list", list_names, m->depth, LIST_N);
    if (rc == 0)
        rc = expo_header(b, "invq_queue_jobs_total", "counter",
                         "Queue-wide lifetime counters from the stats hash, shared by all workers "
                         "(the numbers invqctl stats shows), sampled on a timer.");
    if (rc == 0)
        rc = render_label_set(b, "invq_queue_jobs_total", "counter", &m->queue_totals);
    if (rc == 0)
        rc = expo_header(b, "invq_redis_connected", "gauge",
                         "1 while the connection to Redis is up, by target (queue, cache).");
    if (rc == 0)
        rc = render_labelled(b, "invq_redis_connected", "target", target_names, connected, TARGET_N);
    if (rc == 0)
        rc = render_gauge(b, "invq_circuit_breaker_open",
                          "1 while the cache circuit breaker is open and the worker takes no jobs.",
                          m->breaker_open);
    if (rc == 0)
        rc = render_gauge(b, "invq_queue_blocked",
                          "1 while a queue script keeps failing (a queue key of the wrong type, the queue Redis "
                          "out of memory): batches are held and retried, /readyz gives the reason.",
                          m->queue_blocked);
    if (rc == 0)
        rc = render_gauge(b, "invq_dlq_full",
                          "1 while batches that would add dead letters are held because the dead-letter list is "
                          "at --dlq-max; /readyz gives the reason.",
                          m->dlq_full);
    if (rc == 0)
        rc = render_gauge(b, "invq_dlq_max",
                          "--dlq-max: the dead-letter records the queue may hold before batches that would add "
                          "more are held (0: no cap); compare invq_queue_depth{list=\"dead\"}.",
                          m->dlq_max);
    if (rc == 0)
        rc = render_gauge(b, "invq_consumers", "Consumers running in this worker.", m->consumers);
    if (rc == 0)
        rc = render_gauge(b, "invq_ready",
                          "1 while the worker is ready (both Redis targets connected, queue scripts succeeding, not draining), as GET /readyz.",
                          (uint64_t)metrics_ready(m, NULL, 0));
    if (rc == 0)
        rc = render_gauge(b, "invq_draining", "1 once the worker is shutting down and takes no new jobs.",
                          m->draining);
    if (rc == 0)
        rc = expo_header(b, "invq_loop_lag_seconds", "gauge",
                         "Worst lateness of the HTTP watchdog timer over its last 16 ticks: how long the event loop stalled, in seconds.");
    if (rc == 0)
        rc = expo_printf(b, "invq_loop_lag_seconds %.9g\n", m->loop_lag);
    return rc;
}

static int render_process(const metrics *m, expo_buf *b)
{
    int rc = expo_header(b, "invq_build_info", "gauge", "Always 1; the label carries the worker's version.");
    if (rc == 0)
        rc = expo_printf(b, "invq_build_info{version=\"");
    if (rc == 0)
        rc = expo_label_value(b, m->version);
    if (rc == 0)
        rc = expo_printf(b, "\"} 1\n");
    if (rc == 0)
        rc = expo_header(b, "process_start_time_seconds", "gauge",
                         "Start time of the process since the Unix epoch, in seconds.");
    if (rc == 0)
        rc = expo_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
    return rc;
}

char *metrics_render(const metrics *m, size_t *len)
{
    expo_buf b;
    expo_init(&b);
    int rc = render_counters(m, &b);
    if (rc == 0)
        rc = render_histograms(m, &b);
    if (rc == 0)
        rc = render_state(m, &b);
    if (rc == 0)
        rc = render_process(m, &b);
    if (rc == 0 && m->fam)
        rc = fam_metrics_render(m->fam, &b);
    if (rc < 0) {
        expo_deinit(&b);
        return NULL;
    }
    return expo_take(&b, len);
}
