/* `invqctl stats [--watch SECONDS]`: queue depths, consumers and lifetime
 * counters; with --watch, rates per second refreshed in place. A sharded
 * queue (--queue-shards S) shows the totals over its shards, each shard's
 * depths below them; --shard N shows one shard alone. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "consumers.h"
#include "interrupt.h"
#include "output.h"
#include "timefmt.h"

#define MAX_COUNTERS 32

typedef struct stats_sample {
    uint64_t at_ms;
    long long pending, due, later, dead, processing;
    consumer_info *consumers;
    size_t nconsumers;
    size_t live, stale;
    size_t ncounters;
    char *names[MAX_COUNTERS];
    long long values[MAX_COUNTERS];
    /* totals of a sharded queue: each shard's pending, delayed, processing, dead */
    size_t nshards;
    long long (*shard)[4];
} stats_sample;

typedef struct stats_opts {
    uint64_t watch_s;
    uint64_t count;
    uint64_t stale_ms;
} stats_opts;

enum { OPT_WATCH = 1, OPT_COUNT, OPT_STALE_MS };

static void sample_deinit(stats_sample *s)
{
    consumers_free(s->consumers, s->nconsumers);
    for (size_t i = 0; i < s->ncounters; i++)
        free(s->names[i]);
    free(s->shard);
    memset(s, 0, sizeof *s);
}

/* Adds the sample of one shard (emptied) into the totals t. Returns 0 or
 * CTL_SOFTWARE (out of memory). */
static int sample_add(stats_sample *t, stats_sample *s, size_t shard, size_t nshards)
{
    if (t->shard == NULL && !(t->shard = calloc(nshards, sizeof *t->shard)))
        return CTL_SOFTWARE;
    t->nshards = nshards;
    t->at_ms = s->at_ms;
    t->pending += s->pending;
    t->due += s->due;
    t->later += s->later;
    t->dead += s->dead;
    t->processing += s->processing;
    t->live += s->live;
    t->stale += s->stale;
    long long row[4] = {s->pending, s->due + s->later, s->processing, s->dead};
    memcpy(t->shard[shard], row, sizeof row);
    consumer_info *all = realloc(t->consumers, (t->nconsumers + s->nconsumers + 1) * sizeof *all);
    if (!all)
        return CTL_SOFTWARE;
    t->consumers = all;
    memcpy(all + t->nconsumers, s->consumers, s->nconsumers * sizeof *all);
    t->nconsumers += s->nconsumers;
    free(s->consumers); /* the ids belong to t now */
    s->consumers = NULL;
    s->nconsumers = 0;
    for (size_t i = 0; i < s->ncounters; i++) {
        size_t k = 0;
        while (k < t->ncounters && strcmp(t->names[k], s->names[i]) != 0)
            k++;
        if (k == t->ncounters) {
            if (k == MAX_COUNTERS)
                continue;
            t->names[k] = s->names[i];
            s->names[i] = NULL;
            t->values[k] = 0;
            t->ncounters++;
        }
        t->values[k] += s->values[i];
    }
    return 0;
}

static int sample_take(conn *c, uint64_t stale_ms, stats_sample *s)
{
    memset(s, 0, sizeof *s);
    s->at_ms = timefmt_now_ms();
    char now[32], after[32];
    snprintf(now, sizeof now, "%" PRIu64, s->at_ms);
    snprintf(after, sizeof after, "(%" PRIu64, s->at_ms);
    const char *c1[] = {"LLEN", c->keys.pending};
    const char *c2[] = {"ZCOUNT", c->keys.delayed, "-inf", now};
    const char *c3[] = {"ZCOUNT", c->keys.delayed, after, "+inf"};
    const char *c4[] = {"LLEN", c->keys.dead};
    const char *c5[] = {"HGETALL", c->keys.stats};
    if (conn_append(c, 2, c1, NULL) || conn_append(c, 4, c2, NULL) || conn_append(c, 4, c3, NULL) ||
        conn_append(c, 2, c4, NULL) || conn_append(c, 2, c5, NULL))
        return CTL_SOFTWARE;
    long long *dst[] = {&s->pending, &s->due, &s->later, &s->dead};
    const char *what[] = {"LLEN pending", "ZCOUNT delayed", "ZCOUNT delayed", "LLEN dead"};
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        redisReply *r = conn_reply(c, what[i], REDIS_REPLY_INTEGER);
        if (!r) {
            if (c->failure == CTL_UNAVAILABLE)
                return CTL_UNAVAILABLE;
            rc = c->failure;
            continue;
        }
        *dst[i] = r->integer;
        freeReplyObject(r);
    }
    redisReply *h = conn_reply(c, "HGETALL stats", REDIS_REPLY_ARRAY);
    if (!h)
        return c->failure;
    for (size_t i = 0; i + 1 < h->elements && s->ncounters < MAX_COUNTERS; i += 2) {
        if (h->element[i]->type != REDIS_REPLY_STRING)
            continue;
        s->names[s->ncounters] = strndup(h->element[i]->str, h->element[i]->len);
        s->values[s->ncounters] = conn_int(h->element[i + 1]);
        if (s->names[s->ncounters])
            s->ncounters++;
    }
    freeReplyObject(h);
    if (rc)
        return rc;
    rc = consumers_load(c, s->at_ms, stale_ms, false, &s->consumers, &s->nconsumers);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->nconsumers; i++) {
        s->processing += s->consumers[i].held;
        if (s->consumers[i].stale)
            s->stale++;
        else
            s->live++;
    }
    return 0;
}

/* The counter's value in s, or -1 when absent. */
static long long counter(const stats_sample *s, const char *name)
{
    for (size_t i = 0; i < s->ncounters; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    return -1;
}

static double rate(const stats_sample *s, const stats_sample *prev, const char *name)
{
    long long a = counter(s, name), b = counter(prev, name);
    double dt = (double)(s->at_ms - prev->at_ms) / 1000.0;
    if (dt <= 0)
        return 0;
    return (double)((a < 0 ? 0 : a) - (b < 0 ? 0 : b)) / dt;
}

static json_t *sample_json(const char *qname, const stats_sample *s, const stats_sample *prev)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts_ms", json_integer((json_int_t)s->at_ms));
    json_object_set_new(o, "queue", output_json_bytes(qname, strlen(qname), 0));
    if (s->nshards > 0) {
        json_t *sh = json_array();
        for (size_t i = 0; i < s->nshards; i++)
            json_array_append_new(sh, json_pack("{s:I, s:I, s:I, s:I, s:I}", "shard", (json_int_t)i, "pending",
                                                (json_int_t)s->shard[i][0], "delayed", (json_int_t)s->shard[i][1],
                                                "processing", (json_int_t)s->shard[i][2], "dead",
                                                (json_int_t)s->shard[i][3]));
        json_object_set_new(o, "shards", sh);
    }
    json_object_set_new(o, "pending", json_integer(s->pending));
    json_object_set_new(o, "delayed", json_pack("{s:I, s:I}", "due", (json_int_t)s->due, "later", (json_int_t)s->later));
    json_object_set_new(o, "processing", json_integer(s->processing));
    json_object_set_new(o, "dead", json_integer(s->dead));
    json_object_set_new(o, "live_consumers", json_integer((json_int_t)s->live));
    json_object_set_new(o, "stale_consumers", json_integer((json_int_t)s->stale));
    json_t *cs = json_array();
    for (size_t i = 0; i < s->nconsumers; i++) {
        const consumer_info *ci = &s->consumers[i];
        json_array_append_new(cs, json_pack("{s:o, s:s, s:I, s:I}", "consumer",
                                            output_json_bytes(ci->id, strlen(ci->id), 0), "state",
                                            ci->stale ? "stale" : "live", "heartbeat_age_ms",
                                            (json_int_t)s->at_ms - (json_int_t)ci->heartbeat_ms, "processing",
                                            (json_int_t)ci->held));
    }
    json_object_set_new(o, "consumers", cs);
    json_t *ctr = json_object();
    for (size_t i = 0; i < s->ncounters; i++)
        json_object_set_new(ctr, s->names[i], json_integer(s->values[i]));
    json_object_set_new(o, "counters", ctr);
    if (prev) {
        json_t *rates = json_object();
        for (size_t i = 0; i < s->ncounters; i++)
            json_object_set_new(rates, s->names[i], json_real(rate(s, prev, s->names[i])));
        json_object_set_new(o, "rates", rates);
    }
    return o;
}

static const char *const known_counters[] = {"enqueued", "done", "retried", "dead", "reaped",
                                              "requeued", "deferred", "purged", "oversized", NULL};

static void sample_print(const char *qname, const stats_sample *s, const stats_sample *prev, uint64_t stale_ms)
{
    char age[32];
    printf("%-12s %s%s\n", "queue", qname, s->nshards > 0 ? " (totals over the shards)" : "");
    for (size_t i = 0; i < s->nshards; i++)
        printf("  shard %-4zu pending %lld, delayed %lld, processing %lld, dead %lld\n", i, s->shard[i][0],
               s->shard[i][1], s->shard[i][2], s->shard[i][3]);
    printf("%-12s %lld\n", "pending", s->pending);
    printf("%-12s %lld (%lld due now, %lld later)\n", "delayed", s->due + s->later, s->due, s->later);
    printf("%-12s %lld\n", "processing", s->processing);
    printf("%-12s %lld\n", "dead", s->dead);
    timefmt_age((int64_t)stale_ms, age, sizeof age);
    printf("%-12s %zu live, %zu stale (stale: no heartbeat for %s)\n", "consumers", s->live, s->stale, age);
    for (size_t i = 0; i < s->nconsumers; i++) {
        const consumer_info *ci = &s->consumers[i];
        timefmt_age((int64_t)s->at_ms - (int64_t)ci->heartbeat_ms, age, sizeof age);
        char *id = output_safe_bytes(ci->id, strlen(ci->id), 80);
        printf("  %-40s %-5s heartbeat %s ago, processing %lld\n", id ? id : "?", ci->stale ? "stale" : "live",
               age, ci->held);
        free(id);
    }
    printf("%-12s", "counters");
    for (size_t i = 0; known_counters[i]; i++) {
        long long v = counter(s, known_counters[i]);
        printf(" %s %lld", known_counters[i], v < 0 ? 0 : v);
    }
    printf("\n");
    if (prev) {
        printf("%-12s", "rates/s");
        for (size_t i = 0; known_counters[i]; i++)
            printf(" %s %.1f", known_counters[i], rate(s, prev, known_counters[i]));
        printf("\n");
    }
}

static int stats_opt(int id, const char *arg, void *data)
{
    stats_opts *o = data;
    switch (id) {
    case OPT_WATCH:
        return args_uint("--watch", arg, 1, 86400, &o->watch_s);
    case OPT_COUNT:
        return args_uint("--count", arg, 1, UINT32_MAX, &o->count);
    case OPT_STALE_MS:
        return args_uint("--stale-ms", arg, 1, UINT32_MAX, &o->stale_ms);
    default:
        return CTL_USAGE;
    }
}

/* Sleeps up to ms, waking early on SIGINT. */
static void nap(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal interrupts it */
}

int cmd_stats(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl stats [--watch SECONDS [--count N]] [--stale-ms N] [--json]\n"
        "Shows pending, delayed (due now / later), processing per consumer, dead,\n"
        "live and stale consumers with heartbeat age, and the lifetime counters.\n"
        "  --watch SECONDS   refresh every SECONDS with rates per second (in place on\n"
        "                    a terminal; with --json one object per interval);\n"
        "                    Ctrl-C ends it (exit 0)\n"
        "  --count N         with --watch: stop after N samples\n"
        "  --stale-ms N      heartbeat age that makes a consumer stale (default 15000)\n"
        "A sharded queue (--queue-shards S): the totals over its shards and each\n"
        "shard's depths; --shard N: that shard alone.\n";
    static const struct option opts[] = {
        {"watch", required_argument, NULL, OPT_WATCH},
        {"count", required_argument, NULL, OPT_COUNT},
        {"stale-ms", required_argument, NULL, OPT_STALE_MS},
        {NULL, 0, NULL, 0},
    };
    stats_opts o = {.stale_ms = CONSUMERS_STALE_MS_DEFAULT};
    int pos;
    int rc = args_parse(argc, argv, "stats", opts, stats_opt, &o, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (pos < argc)
        return args_usage_error("stats ", "unexpected argument '%s'", argv[pos]);
    if (o.count && !o.watch_s)
        return args_usage_error("stats ", "--count needs --watch");
    /* every shard of a sharded queue without --shard, else the one queue */
    size_t nconn = common->queue_shards > 1 && common->shard < 0 ? (size_t)common->queue_shards : 1;
    conn *cs = calloc(nconn, sizeof *cs);
    if (!cs)
        return CTL_SOFTWARE;
    for (size_t i = 0; i < nconn; i++) {
        rc = nconn > 1 ? conn_open_shard(&cs[i], common, (unsigned)i) : conn_open(&cs[i], common);
        if (rc) {
            while (i-- > 0)
                conn_close(&cs[i]);
            free(cs);
            return rc;
        }
    }
    char qname[300];
    if (nconn > 1)
        snprintf(qname, sizeof qname, "%s:{%s.0..%s.%zu}", common->ns, common->queue, common->queue, nconn - 1);
    else
        snprintf(qname, sizeof qname, "%.*s", (int)strlen(cs[0].keys.prefix) - 1, cs[0].keys.prefix);
    bool tty = isatty(STDOUT_FILENO);
    stats_sample prev = {0}, cur;
    bool have_prev = false;
    if (o.watch_s)
        interrupt_install();
    for (uint64_t n = 1;; n++) {
        if (nconn == 1) {
            rc = sample_take(&cs[0], o.stale_ms, &cur);
        } else {
            memset(&cur, 0, sizeof cur);
            for (size_t i = 0; i < nconn && !rc; i++) {
                stats_sample one;
                rc = sample_take(&cs[i], o.stale_ms, &one);
                if (!rc)
                    rc = sample_add(&cur, &one, i, nconn);
                sample_deinit(&one);
            }
        }
        if (rc) {
            sample_deinit(&cur);
            break;
        }
        if (common->json) {
            output_json_line(sample_json(qname, &cur, have_prev ? &prev : NULL));
        } else {
            if (o.watch_s && tty)
                fputs("\033[H\033[2J", stdout);
            else if (o.watch_s && n > 1)
                fputc('\n', stdout);
            sample_print(qname, &cur, have_prev ? &prev : NULL, o.stale_ms);
        }
        fflush(stdout);
        sample_deinit(&prev);
        prev = cur;
        have_prev = true;
        if (!o.watch_s || (o.count && n >= o.count))
            break;
        uint64_t until = timefmt_now_ms() + o.watch_s * 1000u;
        while (!interrupt_requested() && timefmt_now_ms() < until)
            nap(until - timefmt_now_ms() > 200 ? 200 : until - timefmt_now_ms());
        if (interrupt_requested())
            break;
    }
    sample_deinit(&prev);
    for (size_t i = 0; i < nconn; i++)
        conn_close(&cs[i]);
    free(cs);
    return rc;
}
