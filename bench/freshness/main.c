/* freshness: how often does a reader see data older than what was
 * committed? The same workload — writers committing new versions of rows
 * to a real database and handing invq their invalidations after COMMIT,
 * readers doing cache-aside — under each invalidation strategy, with one
 * real invq-worker, against SQLite and/or a PostgreSQL server started here;
 * a checker that knows every commit classifies every read (bench/README.md,
 * "Freshness").
 *
 *   freshness [--quick | --smoke | --demo] [--json | --json-file FILE] [--db sqlite|postgresql|both]
 *             [--strategies ttl,del,redo,leases,bump] [--worker PATH] [workload flags]
 *
 * Exit status: 0; 1 when something failed or an invariant broke (a value
 * that was never written, a dead-lettered invalidation, a row left stale
 * after the drain under leases or bump); 64 for bad usage; 77 when
 * redis-server, or PostgreSQL for --db postgresql, is not installed. */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "observer.h"
#include "pg_fixture.h"
#include "redis_fixture.h"
#include "report.h"
#include "run.h"
#include "strategy.h"
#include "workload.h"
#include "wproc.h"

#define CACHE_DB 1
#define EXIT_USAGE 64
#define EXIT_SKIP 77

typedef enum mode { MODE_FULL, MODE_QUICK, MODE_SMOKE, MODE_DEMO } mode;

typedef struct options {
    mode mode;
    bool json;
    const char *json_file; /* --json-file: the JSON lines also go here */
    bool dbs[2]; /* FDB_SQLITE, FDB_POSTGRES */
    const strategy *strategies[8];
    size_t nstrategies;
    char worker[4096];
    fw_params p;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: freshness [--quick | --smoke | --demo] [--json | --json-file FILE] [--db sqlite|postgresql|both]\n"
            "                 [--strategies ttl,del,redo,leases,bump] [--worker PATH]\n"
            "                 [--reads N] [--seconds S] [--rows N] [--hot-pct N] [--hot-share N]\n"
            "                 [--readers N] [--writers N] [--write-rate N] [--burst N] [--burst-gap-us N]\n"
            "                 [--ttl-ms N] [--jitter-pct N] [--load-us N] [--redo-ms N] [--threshold-ms N]\n"
            "Runs every strategy on the same workload and prints one table per database (see bench/README.md).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "freshness: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    usage(stderr);
    return EXIT_USAGE;
}

/* invq-worker beside this program's build dir: <build>/bench/freshness -> <build>/worker/invq-worker */
static void default_worker(char *out, size_t len)
{
    char self[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    snprintf(out, len, "invq-worker");
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(out, len, "%s/../worker/invq-worker", self);
}

static bool parse_ll(const char *s, long long *v)
{
    char *end;
    if (s == NULL || *s == '\0')
        return false;
    *v = strtoll(s, &end, 10);
    return *end == '\0';
}

static int parse_strategies(options *o, const char *list)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    o->nstrategies = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        const strategy *s = strat_find(t);
        if (s == NULL)
            return usage_error("--strategies: unknown strategy \"%s\" (ttl, del, redo, leases, bump)", t);
        if (o->nstrategies == sizeof(o->strategies) / sizeof(o->strategies[0]))
            return usage_error("--strategies: too many in \"%s\"", list);
        o->strategies[o->nstrategies++] = s;
    }
    if (o->nstrategies == 0)
        return usage_error("--strategies: empty list \"%s\"", list);
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct {
        const char *flag;
        size_t off;
    } ints[] = {
        { "--rows", offsetof(fw_params, rows) },
        { "--hot-pct", offsetof(fw_params, hot_pct) },
        { "--hot-share", offsetof(fw_params, hot_share) },
        { "--readers", offsetof(fw_params, readers) },
        { "--writers", offsetof(fw_params, writers) },
        { "--write-rate", offsetof(fw_params, write_rate) },
        { "--burst", offsetof(fw_params, burst) },
        { "--burst-gap-us", offsetof(fw_params, burst_gap_us) },
        { "--ttl-ms", offsetof(fw_params, ttl_ms) },
        { "--jitter-pct", offsetof(fw_params, jitter_pct) },
        { "--load-us", offsetof(fw_params, load_us) },
        { "--redo-ms", offsetof(fw_params, redo_ms) },
        { "--threshold-ms", offsetof(fw_params, threshold_ms) },
    };
    size_t n;
    const strategy *all = strat_all(&n);
    memset(o, 0, sizeof(*o));
    o->dbs[FDB_SQLITE] = true;
    for (size_t i = 0; i < n; i++)
        o->strategies[o->nstrategies++] = &all[i];
    default_worker(o->worker, sizeof(o->worker));
    /* the mode first: it sets the defaults the other flags change */
    for (int i = 1; i < argc; i++) {
        mode m = strcmp(argv[i], "--quick") == 0   ? MODE_QUICK
                 : strcmp(argv[i], "--smoke") == 0 ? MODE_SMOKE
                 : strcmp(argv[i], "--demo") == 0  ? MODE_DEMO
                                                   : MODE_FULL;
        if (m != MODE_FULL) {
            if (o->mode != MODE_FULL && o->mode != m)
                return usage_error("%s: only one of --quick, --smoke and --demo", argv[i]);
            o->mode = m;
        }
    }
    switch (o->mode) {
    case MODE_FULL: fw_params_full(&o->p); break;
    case MODE_QUICK: fw_params_quick(&o->p); break;
    case MODE_SMOKE: fw_params_smoke(&o->p); break;
    case MODE_DEMO:
        fw_params_demo(&o->p);
        parse_strategies(o, "ttl,leases");
        break;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        bool found = false;
        if (strcmp(a, "--quick") == 0 || strcmp(a, "--smoke") == 0 || strcmp(a, "--demo") == 0)
            continue;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (v == NULL)
            return usage_error("%s: unknown flag, or its value is missing", a);
        i++;
        if (strcmp(a, "--db") == 0) {
            bool sq = strcmp(v, "sqlite") == 0, pg = strcmp(v, "postgresql") == 0, both = strcmp(v, "both") == 0;
            if (!sq && !pg && !both)
                return usage_error("--db: \"%s\" is not sqlite, postgresql or both", v);
            o->dbs[FDB_SQLITE] = sq || both;
            o->dbs[FDB_POSTGRES] = pg || both;
            continue;
        }
        if (strcmp(a, "--strategies") == 0) {
            int rc = parse_strategies(o, v);
            if (rc != 0)
                return rc;
            continue;
        }
        if (strcmp(a, "--json-file") == 0) {
            o->json_file = v;
            continue;
        }
        if (strcmp(a, "--worker") == 0) {
            snprintf(o->worker, sizeof(o->worker), "%s", v);
            continue;
        }
        if (strcmp(a, "--seconds") == 0) {
            char *end;
            o->p.max_seconds = strtod(v, &end);
            if (*end != '\0' || o->p.max_seconds < 0)
                return usage_error("--seconds: \"%s\" is not a number of seconds", v);
            continue;
        }
        if (strcmp(a, "--reads") == 0) {
            if (!parse_ll(v, &x) || x < 1)
                return usage_error("--reads: \"%s\" is not a positive integer", v);
            o->p.reads = x;
            continue;
        }
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
            if (strcmp(a, ints[k].flag) != 0)
                continue;
            if (!parse_ll(v, &x) || x < INT_MIN || x > INT_MAX)
                return usage_error("%s: \"%s\" is not an integer", a, v);
            *(int *)((char *)&o->p + ints[k].off) = (int)x;
            found = true;
        }
        if (!found)
            return usage_error("%s: unknown flag", a);
    }
    char err[256];
    if (fw_params_check(&o->p, err, sizeof(err)) != 0)
        return usage_error("%s", err);
    return 0;
}

/* Leases' target: 10^7 reads in the full run, 10^6 with --quick. */
static long long target_reads(const options *o)
{
    return o->mode == MODE_FULL ? 10000000 : o->mode == MODE_QUICK ? 1000000 : 0;
}

/* Invariants that hold whatever the machine's load: a run that breaks one
 * found a bug (in invq or in the benchmark). */
static int check_invariants(const frun_result *res, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const frun_result *r = &res[i];
        if (r->reads.bad) {
            fprintf(stderr, "freshness: %s %s: %lld values that were never written\n", fdb_kind_name(r->db_kind),
                    r->s->name, r->reads.bad);
            bad = 1;
        }
        if (r->s->leases && r->stale_keys) {
            fprintf(stderr, "freshness: %s %s: %d rows stale after the queue drained (a stale set)\n",
                    fdb_kind_name(r->db_kind), r->s->name, r->stale_keys);
            bad = 1;
        }
        if (r->s->leases && r->reads.stale_after) {
            fprintf(stderr, "freshness: %s %s: %lld stale reads after the row's invalidation was applied (a stale set)\n",
                    fdb_kind_name(r->db_kind), r->s->name, r->reads.stale_after);
            bad = 1;
        }
    }
    return bad;
}

typedef struct ctx {
    rfix *redis;
    pgfix *pg;
    wproc *worker;
    redisContext *queue, *cache;
    char queue_url[400], cache_url[420], sqlite_path[400];
} ctx;

static int run_db(const options *o, ctx *c, fdb_kind kind, frun_result *res)
{
    char err[1024];
    frun_env env = {
        .db_kind = kind,
        .queue_url = c->queue_url,
        .cache_url = c->cache_url,
        .cache_socket = rfix_socket(c->redis),
        .cache_db = CACHE_DB,
        .queue = c->queue,
        .cache = c->cache,
    };
    if (kind == FDB_POSTGRES) {
        int rc = pgfix_start(&c->pg);
        if (rc != 0)
            return rc == PGFIX_SKIP ? EXIT_SKIP : 1;
        env.db_where = pgfix_conninfo(c->pg);
    } else {
        env.db_where = c->sqlite_path;
    }
    int status = 0;
    for (size_t i = 0; i < o->nstrategies; i++) {
        fprintf(stderr, "freshness: %s, %s ...\n", fdb_kind_name(kind), o->strategies[i]->name);
        if (frun_strategy(&env, &o->p, o->strategies[i], &res[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "freshness: %s: %s\n", fdb_kind_name(kind), err);
            status = 1;
            break;
        }
        fprintf(stderr, "freshness: %s, %s: %lld reads in %.1f s, %lld stale\n", fdb_kind_name(kind),
                o->strategies[i]->name, res[i].reads.reads, res[i].seconds, res[i].reads.stale);
    }
    pgfix_free(c->pg);
    c->pg = NULL;
    return status;
}

static redisContext *connect_db(const rfix *f, int db)
{
    redisContext *c = rfix_connect(f);
    if (c == NULL)
        return NULL;
    redisReply *r = redisCommand(c, "SELECT %d", db);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int print_results(const options *o, fdb_kind kind, const frun_result *res, size_t n)
{
    if (o->json_file != NULL) {
        FILE *f = fopen(o->json_file, "a");
        if (f == NULL) {
            perror(o->json_file);
            return 1;
        }
        frep_json(f, &o->p, res, n, target_reads(o));
        if (fclose(f) != 0) {
            perror(o->json_file);
            return 1;
        }
    }
    if (o->json) {
        frep_json(stdout, &o->p, res, n, target_reads(o));
    } else if (o->mode == MODE_DEMO) {
        frep_demo(stdout, &o->p, res, n);
    } else {
        printf("\n");
        frep_workload(stdout, &o->p, fdb_kind_name(kind));
        printf("\n");
        frep_table(stdout, &o->p, res, n, target_reads(o));
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    ctx c = { 0 };
    char err[1024], log[512];
    int status = parse_args(argc, argv, &o);
    if (status != 0)
        return status;
    if (o.json_file != NULL) { /* emptied now, appended to per database */
        FILE *f = fopen(o.json_file, "w");
        if (f == NULL || fclose(f) != 0) {
            perror(o.json_file);
            return 1;
        }
    }
    /* per database, per strategy (each holds a histogram: not on the stack) */
    frun_result (*res)[8] = calloc(2, sizeof(*res));
    if (res == NULL)
        return 1;

    int rc = rfix_start(&c.redis, NULL);
    if (rc != 0) {
        free(res);
        return rc == RFIX_SKIP ? EXIT_SKIP : 1;
    }
    snprintf(c.queue_url, sizeof(c.queue_url), "%s", rfix_url(c.redis));
    snprintf(c.cache_url, sizeof(c.cache_url), "%s?db=%d", rfix_url(c.redis), CACHE_DB);
    snprintf(c.sqlite_path, sizeof(c.sqlite_path), "%s/freshness.sqlite", rfix_dir(c.redis));
    snprintf(log, sizeof(log), "%s/worker.log", rfix_dir(c.redis));
    c.queue = connect_db(c.redis, 0);
    c.cache = connect_db(c.redis, CACHE_DB);
    if (c.queue == NULL || c.cache == NULL) {
        fprintf(stderr, "freshness: cannot connect to %s\n", c.queue_url);
        status = 1;
        goto done;
    }
    if (obs_enable(c.cache, err, sizeof(err)) != 0 ||
        wproc_start(o.worker, c.queue_url, c.cache_url, log, c.queue, &c.worker, err, sizeof(err)) != 0) {
        fprintf(stderr, "freshness: %s\n", err);
        status = 1;
        goto done;
    }
    for (int k = FDB_SQLITE; k <= FDB_POSTGRES && status == 0; k++) {
        if (!o.dbs[k])
            continue;
        status = run_db(&o, &c, (fdb_kind)k, res[k]);
        if (status == 0)
            status = print_results(&o, (fdb_kind)k, res[k], o.nstrategies) | check_invariants(res[k], o.nstrategies);
    }
    long long dead = wproc_dead_letters(c.queue);
    if (dead != 0) {
        fprintf(stderr, "freshness: %lld invalidations were dead-lettered (see the worker's log)\n", dead);
        status = status ? status : 1;
    }
    int ws = wproc_stop(c.worker);
    c.worker = NULL;
    if (ws != 0) {
        fprintf(stderr, "freshness: invq-worker exited with status %d\n", ws);
        status = status ? status : 1;
    }
done:
    wproc_stop(c.worker);
    redisFree(c.queue);
    redisFree(c.cache);
    if (status != 0 && status != EXIT_SKIP) {
        FILE *f = fopen(log, "r");
        char line[512];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            fprintf(stderr, "worker: %s", line);
        if (f != NULL)
            fclose(f);
    }
    rfix_free(c.redis);
    free(res);
    return status;
}
