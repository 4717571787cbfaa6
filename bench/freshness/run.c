/* One strategy's run of the freshness workload (see run.h): threads,
 * pacing, the stop condition, the drain and the final check. */
#include "run.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observer.h"
#include "wproc.h"

#define DRAIN_TIMEOUT_MS 60000

typedef struct shared {
    const frun_env *env;
    const fw_params *p;
    const strategy *s;
    checker *ck;
    int64_t t0;
    atomic_bool stop;
    atomic_llong claimed;   /* reads started (a reader stops once p->reads are claimed) */
    atomic_int readers_left;
    pthread_mutex_t mu;
    char err[512];          /* the first failure, under mu */
} shared;

typedef struct writer_t {
    shared *sh;
    int w;
    fdb *db;
    invq_producer *prod;
    fw_rng rng;
    long long commits;
    pthread_t th;
} writer_t;

typedef struct reader_t {
    shared *sh;
    strat_reader sr;
    redisContext *cache;
    ck_stats st;
    pthread_t th;
} reader_t;

static void fail(shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(shared *sh, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&sh->mu);
    if (sh->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(sh->err, sizeof(sh->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->mu);
    atomic_store(&sh->stop, true);
}

/* Sleeps until t_ns in slices, so a stop is seen within 10 ms. */
static void wait_until(shared *sh, int64_t t_ns)
{
    while (!atomic_load(&sh->stop)) {
        int64_t now = fw_now_ns();
        if (now >= t_ns)
            return;
        fw_sleep_until(t_ns - now > 10000000 ? now + 10000000 : t_ns);
    }
}

static void *writer_main(void *arg)
{
    writer_t *wt = arg;
    shared *sh = wt->sh;
    const fw_params *p = sh->p;
    char payload[64], err[512];
    /* bursts of p->burst commits, spread evenly over the writers */
    int64_t interval = (int64_t)1000000000 * p->burst * p->writers / p->write_rate;
    int64_t next = sh->t0 + interval * wt->w / p->writers;
    while (!atomic_load(&sh->stop)) {
        wait_until(sh, next);
        if (atomic_load(&sh->stop))
            break;
        int row = fw_pick_owned_row(p, &wt->rng, wt->w);
        for (int b = 0; b < p->burst && !atomic_load(&sh->stop); b++) {
            if (b > 0)
                fw_sleep_us(p->burst_gap_us);
            long long v = ck_next_version(sh->ck, row);
            fw_payload(payload, sizeof(payload), row, v);
            ck_begin(sh->ck, row, v);
            err[0] = '\0';
            if (fdb_write(wt->db, row, v, payload, err, sizeof(err)) != 0) {
                fail(sh, "writer %d: %s", wt->w, err);
                return NULL;
            }
            if (ck_commit(sh->ck, row, v, fw_now_ns()) != 0) {
                fail(sh, "writer %d: the checker's log of row %d is full", wt->w, row);
                return NULL;
            }
            wt->commits++;
            /* the invalidation, after the commit */
            if (strat_invalidate(sh->s, p, wt->prod, row, err, sizeof(err)) != 0) {
                fail(sh, "writer %d: %s", wt->w, err);
                return NULL;
            }
        }
        next += interval;
        int64_t now = fw_now_ns();
        if (next < now - interval * 10)
            next = now; /* far behind (a stalled machine): do not burst to catch up */
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    reader_t *rt = arg;
    shared *sh = rt->sh;
    while (!atomic_load(&sh->stop) && atomic_fetch_add(&sh->claimed, 1) < sh->p->reads) {
        int row = fw_pick_row(sh->p, &rt->sr.rng);
        long long x;
        int64_t start = fw_now_ns();
        if (strat_read(&rt->sr, row, &x) != 0) {
            fail(sh, "reader: %s", rt->sr.err);
            break;
        }
        ck_classify(sh->ck, row, x, start, &rt->st);
    }
    atomic_fetch_sub(&sh->readers_left, 1);
    return NULL;
}

static redisContext *cache_connect(const frun_env *env, char *err, size_t errlen)
{
    struct timeval tv = { 10, 0 };
    redisContext *c = redisConnectUnixWithTimeout(env->cache_socket, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "connect %s: %s", env->cache_socket, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "SELECT %d", env->cache_db);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        snprintf(err, errlen, "SELECT %d failed", env->cache_db);
        redisFree(c);
        return NULL;
    }
    return c;
}

static int open_reader(const frun_env *env, const fw_params *p, invq_reader **out, char *err, size_t errlen)
{
    invq_reader_options o;
    invq_reader_options_init(&o);
    o.url = env->cache_url;
    o.ttl_ms = (uint64_t)p->ttl_ms;
    o.jitter_pct = p->jitter_pct;
    o.max_idle_connections = (size_t)p->readers;
    /* a loaded machine is not a cache outage */
    o.connect_timeout_ms = 2000;
    o.command_timeout_ms = 2000;
    return invq_reader_new(&o, out, err, errlen) == 0 ? 0 : -1;
}

/* After the drain: every row's cached value against the row's newest
 * version. Stale sets that survived their invalidation show up here. */
static int final_check(const frun_env *env, const strategy *s, checker *ck, const fw_params *p, frun_result *out,
                       char *err, size_t errlen)
{
    for (int row = 0; row < p->rows; row++) {
        long long x;
        int rc = strat_cached_version(s, env->cache, row, &x, err, errlen);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        out->rows_checked++;
        if (x < 0)
            out->reads.bad++;
        else if (x < ck_latest(ck, row))
            out->stale_keys++;
    }
    return 0;
}

static int flushdb(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "FLUSHDB");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok)
        snprintf(err, errlen, "FLUSHDB of the cache failed");
    return ok ? 0 : -1;
}

int frun_strategy(const frun_env *env, const fw_params *p, const strategy *s, frun_result *out, char *err,
                  size_t errlen)
{
    shared sh = { .env = env, .p = p, .s = s };
    writer_t *wt = calloc((size_t)p->writers, sizeof(*wt));
    reader_t *rt = calloc((size_t)p->readers, sizeof(*rt));
    invq_reader *reader = NULL;
    observer *obs = NULL;
    fdb *admin = NULL;
    int rc = -1, started_w = 0, started_r = 0;

    memset(out, 0, sizeof(*out));
    out->s = s;
    out->db_kind = env->db_kind;
    pthread_mutex_init(&sh.mu, NULL);
    if (wt == NULL || rt == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* a fresh table and an empty cache for every strategy */
    if (fdb_new(env->db_kind, env->db_where, &admin, err, errlen) != 0 || fdb_setup(admin, p->rows, err, errlen) != 0 ||
        flushdb(env->cache, err, errlen) != 0)
        goto done;
    sh.ck = ck_new(p->rows, fw_now_ns(), p->threshold_ms);
    if (sh.ck == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (s->leases && open_reader(env, p, &reader, err, errlen) != 0)
        goto done;
    for (int w = 0; w < p->writers; w++) {
        invq_options o;
        invq_options_init(&o);
        o.url = env->queue_url;
        wt[w].sh = &sh;
        wt[w].w = w;
        fw_rng_seed(&wt[w].rng, 1000 + (uint64_t)w);
        if (fdb_new(env->db_kind, env->db_where, &wt[w].db, err, errlen) != 0)
            goto done;
        if (invq_producer_new(&o, &wt[w].prod, err, errlen) < 0)
            goto done;
    }
    for (int i = 0; i < p->readers; i++) {
        rt[i].sh = &sh;
        rt[i].sr.s = s;
        rt[i].sr.p = p;
        rt[i].sr.reader = reader;
        fw_rng_seed(&rt[i].sr.rng, 1 + (uint64_t)i);
        if (fdb_new(env->db_kind, env->db_where, &rt[i].sr.db, err, errlen) != 0)
            goto done;
        if (!s->leases && (rt[i].cache = rt[i].sr.cache = cache_connect(env, err, errlen)) == NULL)
            goto done;
    }

    if (obs_start(env->cache_socket, env->cache_db, p->rows, sh.ck, &obs, err, errlen) != 0)
        goto done;
    sh.t0 = fw_now_ns();
    atomic_store(&sh.readers_left, p->readers);
    for (; started_w < p->writers; started_w++)
        if (pthread_create(&wt[started_w].th, NULL, writer_main, &wt[started_w]) != 0) {
            fail(&sh, "pthread_create failed");
            break;
        }
    for (; started_r < p->readers; started_r++)
        if (pthread_create(&rt[started_r].th, NULL, reader_main, &rt[started_r]) != 0) {
            fail(&sh, "pthread_create failed");
            break;
        }
    atomic_fetch_sub(&sh.readers_left, p->readers - started_r);
    int64_t bound = p->max_seconds > 0 ? sh.t0 + (int64_t)(p->max_seconds * 1e9) : INT64_MAX;
    while (atomic_load(&sh.readers_left) > 0) {
        if (fw_now_ns() >= bound)
            atomic_store(&sh.stop, true);
        fw_sleep_us(2000);
    }
    out->seconds = (double)(fw_now_ns() - sh.t0) / 1e9;
    atomic_store(&sh.stop, true);
    for (int i = 0; i < started_r; i++)
        pthread_join(rt[i].th, NULL);
    for (int w = 0; w < started_w; w++)
        pthread_join(wt[w].th, NULL);
    out->invalidations_seen = obs_stop(obs, err, errlen);
    obs = NULL;
    if (out->invalidations_seen < 0)
        goto done;
    if (sh.err[0] != '\0') {
        snprintf(err, errlen, "%s: %s", s->name, sh.err);
        goto done;
    }

    for (int i = 0; i < p->readers; i++) {
        ck_stats_add(&out->reads, &rt[i].st);
        out->hits += rt[i].sr.hits;
        out->misses += rt[i].sr.misses;
        out->loads += rt[i].sr.loads;
    }
    for (int w = 0; w < p->writers; w++)
        out->commits += wt[w].commits;
    if (reader != NULL) {
        invq_reader_stats st;
        invq_reader_stats_get(reader, &st);
        out->hits = (long long)st.hits;
        out->misses = (long long)st.misses;
        out->fills_refused = (long long)st.fills_refused;
        out->reader_errors = (long long)st.errors;
    }
    if (wproc_wait_drained(env->queue, DRAIN_TIMEOUT_MS, err, errlen) != 0 ||
        final_check(env, s, sh.ck, p, out, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    if (obs != NULL) {
        char ignored[64];
        obs_stop(obs, ignored, sizeof(ignored));
    }
    for (int i = 0; rt != NULL && i < p->readers; i++) {
        redisFree(rt[i].cache);
        fdb_free(rt[i].sr.db);
    }
    for (int w = 0; wt != NULL && w < p->writers; w++) {
        invq_producer_free(wt[w].prod);
        fdb_free(wt[w].db);
    }
    invq_reader_free(reader);
    fdb_free(admin);
    ck_free(sh.ck);
    free(wt);
    free(rt);
    pthread_mutex_destroy(&sh.mu);
    return rc;
}
