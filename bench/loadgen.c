/* Open-loop load generator for the latency scenario: pushes one-key delete
 * jobs at a fixed rate (never waiting for the worker) while a checker thread
 * polls every Nth job's key with EXISTS and records when it disappears, as
 * an interval: after the last poll that still saw it, before the reply of
 * the first poll that did not. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_redis.h"

#define MAX_JOBS_PER_PUSH 1000u
#define MAX_CHECKS_PER_ROUND 512u

typedef struct loadgen {
    const char *host;
    int port;
    char list[256];
    char stats[256];
    const char *prefix;
    int cache_port;    /* the checker's Redis (the queue's by default) */
    uint64_t cache_db; /* the checker SELECTs this database */
    uint64_t rate;     /* jobs per second */
    double seconds;
    uint64_t total;    /* jobs to send */
    uint64_t every;    /* every Nth job is sampled */
    uint64_t poll_us;  /* checker pause between rounds */
    uint64_t grace_ms; /* how long the checker waits after the last push */
    uint64_t nsamples;
    uint64_t *sent_us;      /* wall µs just before the sampled job was pushed */
    uint64_t *present_us;   /* checker: when the last poll that still saw the key was sent */
    int64_t *lat_us;        /* upper bound: push → poll that saw the key gone answered; -1 while not seen */
    int64_t *lat_lo_us;     /* lower bound: push → last poll that saw it present was sent */
    atomic_uint_fast64_t published; /* samples whose sent_us is written */
    atomic_int producer_done;
    uint64_t max_late_us;   /* worst lateness of the producer behind its schedule */
    uint64_t pushed;
    uint64_t pushes;        /* LPUSH commands sent (each followed by one HINCRBY) */
    double push_seconds;
} loadgen;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until_mono_us(uint64_t t)
{
    struct timespec ts = { .tv_sec = (time_t)(t / 1000000u), .tv_nsec = (long)(t % 1000000u) * 1000 };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void sleep_us(uint64_t us)
{
    sleep_until_mono_us(mono_us() + us);
}

/* Pushes jobs [from, to) in one LPUSH and waits for its reply. */
static int push_jobs(loadgen *g, redisContext *c, uint64_t from, uint64_t to, const char *run)
{
    size_t n = (size_t)(to - from);
    const char **argv = malloc((n + 2) * sizeof *argv);
    size_t *argvlen = malloc((n + 2) * sizeof *argvlen);
    uint8_t **bufs = calloc(n, sizeof *bufs);
    int rc = argv && argvlen && bufs ? 0 : -1;
    uint64_t now_us = bench_now_us();
    uint64_t ts = now_us / 1000u;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t j = from + i;
        char id[64];
        snprintf(id, sizeof id, "%s-%" PRIu64, run, j);
        rc = bench_job_encode(JOB_OP_DEL, g->prefix, &j, 1, id, ts, &bufs[i], &argvlen[2 + i]);
        argv[2 + i] = (const char *)bufs[i];
        if (rc == 0 && j % g->every == 0)
            g->sent_us[j / g->every] = now_us;
    }
    if (rc == 0) {
        argv[0] = "LPUSH";
        argvlen[0] = 5;
        argv[1] = g->list;
        argvlen[1] = strlen(g->list);
        if (redisAppendCommandArgv(c, (int)(n + 2), argv, argvlen) != REDIS_OK ||
            redisAppendCommand(c, "HINCRBY %s enqueued %" PRIu64, g->stats, (uint64_t)n) != REDIS_OK ||
            bench_read_replies(c, 2) != 0)
            rc = -1;
    }
    if (rc == 0) {
        /* Publish the samples of this push to the checker. */
        uint64_t upto = (to + g->every - 1) / g->every;
        atomic_store_explicit(&g->published, upto, memory_order_release);
    }
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(argv);
    free(argvlen);
    return rc;
}

static int produce(loadgen *g)
{
    redisContext *c = bench_connect(g->host, g->port);
    if (c == NULL)
        return -1;
    char run[32];
    snprintf(run, sizeof run, "l%" PRIx64, bench_now_us());
    uint64_t t0 = mono_us();
    uint64_t i = 0;
    int rc = 0;
    while (rc == 0 && i < g->total) {
        uint64_t now = mono_us();
        uint64_t due_at = t0 + (uint64_t)((double)i * 1e6 / (double)g->rate);
        if (now < due_at) {
            sleep_until_mono_us(due_at);
            continue;
        }
        if (now - due_at > g->max_late_us)
            g->max_late_us = now - due_at;
        uint64_t due = (uint64_t)((double)(now - t0) * (double)g->rate / 1e6) + 1;
        if (due > g->total)
            due = g->total;
        if (due - i > MAX_JOBS_PER_PUSH)
            due = i + MAX_JOBS_PER_PUSH;
        rc = push_jobs(g, c, i, due, run);
        g->pushes++;
        i = due;
    }
    g->pushed = i;
    g->push_seconds = (double)(mono_us() - t0) / 1e6;
    atomic_store_explicit(&g->producer_done, 1, memory_order_release);
    redisFree(c);
    return rc;
}

static void *check(void *arg)
{
    loadgen *g = arg;
    redisContext *c = bench_connect(g->host, g->cache_port);
    if (c == NULL)
        return (void *)1;
    if (g->cache_db != 0 &&
        (redisAppendCommand(c, "SELECT %" PRIu64, g->cache_db) != REDIS_OK || bench_read_replies(c, 1) != 0)) {
        redisFree(c);
        return (void *)1;
    }
    uint64_t *open = calloc(g->nsamples ? g->nsamples : 1, sizeof *open);
    size_t nopen = 0;
    uint64_t next = 0;
    uint64_t deadline = 0;
    int failed = open == NULL;

    while (!failed) {
        uint64_t pub = atomic_load_explicit(&g->published, memory_order_acquire);
        for (; next < pub; next++) {
            g->present_us[next] = g->sent_us[next]; /* deleted no sooner than pushed */
            open[nopen++] = next;
        }
        if (atomic_load_explicit(&g->producer_done, memory_order_acquire)) {
            if (deadline == 0)
                deadline = mono_us() + g->grace_ms * 1000u;
            if ((nopen == 0 && next == pub) || mono_us() > deadline)
                break;
        }
        size_t n = nopen < MAX_CHECKS_PER_ROUND ? nopen : MAX_CHECKS_PER_ROUND;
        uint64_t round_us = bench_now_us();
        for (size_t k = 0; k < n; k++) {
            char key[128];
            int klen = bench_key(key, sizeof key, g->prefix, open[k] * g->every);
            if (klen < 0 || redisAppendCommand(c, "EXISTS %b", key, (size_t)klen) != REDIS_OK)
                failed = 1;
        }
        size_t kept = 0;
        for (size_t k = 0; k < n && !failed; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL || r->type != REDIS_REPLY_INTEGER) {
                fprintf(stderr, "loadgen: EXISTS: %s\n", c->err ? c->errstr : (r && r->str ? r->str : "bad reply"));
                failed = 1;
            } else if (r->integer == 0) {
                uint64_t now = bench_now_us();
                uint64_t s = open[k];
                g->lat_us[s] = (int64_t)(now - g->sent_us[s]);
                g->lat_lo_us[s] = (int64_t)(g->present_us[s] - g->sent_us[s]);
            } else {
                g->present_us[open[k]] = round_us;
                open[kept++] = open[k];
            }
            freeReplyObject(r);
        }
        /* Keep the ones not checked this round after the survivors. */
        memmove(open + kept, open + n, (nopen - n) * sizeof *open);
        nopen = kept + (nopen - n);
        sleep_us(g->poll_us);
    }
    free(open);
    redisFree(c);
    return failed ? (void *)1 : NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts the seen latencies to the front; returns how many were seen. */
static size_t sort_seen(int64_t *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 0)
            v[m++] = v[i];
    qsort(v, m, sizeof *v, cmp_i64);
    return m;
}

static int64_t quantile(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return -1;
    size_t i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static void print_dist(const char *name, int64_t *v, size_t n)
{
    size_t m = sort_seen(v, n);
    printf("\"%s\":{\"seen\":%zu,\"p50_us\":%" PRId64 ",\"p99_us\":%" PRId64 ",\"p999_us\":%" PRId64
           ",\"max_us\":%" PRId64 "}",
           name, m, quantile(v, m, 0.50), quantile(v, m, 0.99), quantile(v, m, 0.999),
           m ? v[m - 1] : -1);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen [--host H] --port P --rate JOBS_PER_S --seconds S [--prefix lt:]\n"
               "               [--sample-every 100] [--poll-us 100] [--grace-ms 5000]\n"
               "               [--namespace invq] [--queue default] [--cache-port P] [--cache-db 0]\n"
               "Job j deletes <prefix><12-digit j> (prefill them first). Prints one JSON line.\n");
}

int main(int argc, char **argv)
{
    static loadgen g;
    const char *ns = "invq", *queue = "default";
    g.host = "127.0.0.1";
    g.prefix = "lt:";
    g.every = 100;
    g.poll_us = 100;
    g.grace_ms = 5000;
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "rate", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 's' },
        { "prefix", required_argument, NULL, 'x' },
        { "sample-every", required_argument, NULL, 'e' },
        { "poll-us", required_argument, NULL, 'u' },
        { "grace-ms", required_argument, NULL, 'g' },
        { "namespace", required_argument, NULL, 'n' },
        { "queue", required_argument, NULL, 'q' },
        { "cache-db", required_argument, NULL, 'D' },
        { "cache-port", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'h': g.host = optarg; break;
        case 'p': g.port = (int)strtol(optarg, &end, 10); break;
        case 'r': g.rate = strtoull(optarg, &end, 10); break;
        case 's': g.seconds = strtod(optarg, &end); break;
        case 'x': g.prefix = optarg; break;
        case 'e': g.every = strtoull(optarg, &end, 10); break;
        case 'u': g.poll_us = strtoull(optarg, &end, 10); break;
        case 'g': g.grace_ms = strtoull(optarg, &end, 10); break;
        case 'n': ns = optarg; break;
        case 'q': queue = optarg; break;
        case 'D': g.cache_db = strtoull(optarg, &end, 10); break;
        case 'C': g.cache_port = (int)strtol(optarg, &end, 10); break;
        case 'H': usage(stdout); return 0;
        default: usage(stderr); return 64;
        }
        if (end != NULL && (*end != '\0' || end == optarg)) {
            fprintf(stderr, "loadgen: bad number \"%s\"\n", optarg);
            return 64;
        }
    }
    if (g.cache_port == 0)
        g.cache_port = g.port;
    if (g.port <= 0 || g.port > 65535 || g.cache_port < 0 || g.cache_port > 65535 || g.rate == 0 || g.seconds <= 0 ||
        g.every == 0 || optind != argc) {
        usage(stderr);
        return 64;
    }
    snprintf(g.list, sizeof g.list, "%s:{%s}:pending", ns, queue);
    snprintf(g.stats, sizeof g.stats, "%s:{%s}:stats", ns, queue);
    g.total = (uint64_t)((double)g.rate * g.seconds);
    g.nsamples = (g.total + g.every - 1) / g.every;
    size_t ns_alloc = g.nsamples ? (size_t)g.nsamples : 1;
    g.sent_us = calloc(ns_alloc, sizeof *g.sent_us);
    g.present_us = calloc(ns_alloc, sizeof *g.present_us);
    g.lat_us = malloc(ns_alloc * sizeof *g.lat_us);
    g.lat_lo_us = malloc(ns_alloc * sizeof *g.lat_lo_us);
    if (!g.sent_us || !g.present_us || !g.lat_us || !g.lat_lo_us) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < ns_alloc; i++)
        g.lat_us[i] = g.lat_lo_us[i] = -1;

    pthread_t checker;
    if (pthread_create(&checker, NULL, check, &g) != 0) {
        fprintf(stderr, "loadgen: cannot start the checker thread\n");
        return 1;
    }
    int prc = produce(&g);
    void *crc = NULL;
    pthread_join(checker, &crc);

    printf("{\"rate\":%" PRIu64 ",\"pushes\":%" PRIu64 ",\"pushed\":%" PRIu64 ",\"push_seconds\":%.3f,\"achieved_rate\":%.1f,"
           "\"max_late_us\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"poll_us\":%" PRIu64 ",",
           g.rate, g.pushes, g.pushed, g.push_seconds, g.push_seconds > 0 ? (double)g.pushed / g.push_seconds : 0.0,
           g.max_late_us, g.nsamples, g.poll_us);
    print_dist("push_to_gone", g.lat_us, (size_t)g.nsamples);
    printf(",");
    print_dist("push_to_last_present", g.lat_lo_us, (size_t)g.nsamples);
    printf(",\"ok\":%s}\n", prc == 0 && crc == NULL ? "true" : "false");
    free(g.sent_us);
    free(g.present_us);
    free(g.lat_us);
    free(g.lat_lo_us);
    return prc == 0 && crc == NULL ? 0 : 1;
}
