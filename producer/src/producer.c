/* The synchronous producer: one hiredis connection (reconnected on the next
 * call after it broke; for a Sentinel URL rediscovered then, and dropped
 * when Sentinel names another master), the atomic enqueue round trip, and
 * the spool for when Redis cannot be reached. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <invq/invq.h>

#include "cluster_route.h"
#include "config.h"
#include "enqueue.h"
#include "error.h"
#include "job_limits.h"
#include "redis_sync.h"
#include "sentinel.h"
#include "spool.h"

#define REPLAY_MAX_JOBS 1000u
#define REPLAY_MAX_BYTES (4u * 1024u * 1024u)
#define SENTINEL_CHECK_MS 1000

/* One connection: a sharded queue has one per shard (on a cluster each
 * shard's slot may be on another master). */
typedef struct prod_conn {
    redisContext *c;
    struct tlsthread *tls; /* the TLS pump of c, NULL for a plain connection */
    char master_host[SENTINEL_HOST_MAX]; /* Sentinel: the node c is connected to */
    int master_port;
    uint64_t master_checked_ms;
} prod_conn;

struct invq_producer {
    prod_config cfg;
    prod_conn *conns; /* cfg.shards of them */
    prod_conn *cur;   /* the one of the shard being sent to */
    const qkeys *keys; /* that shard's key names */
    unsigned next;     /* INVQ_SHARD_ROUND_ROBIN: the next send's shard */
    spool *spool;
    uint64_t events_seen;
    char errstr[512];
};

static void use_shard(invq_producer *p, unsigned shard)
{
    p->cur = &p->conns[shard];
    p->keys = prod_config_shard(&p->cfg, shard);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Errors after which the job may still be delivered later: spool it. */
static bool spoolable(int rc, int transient)
{
    return rc == INVQ_ECONNECT || rc == INVQ_ETIMEOUT || rc == INVQ_EIO || rc == INVQ_EPROTO || rc == INVQ_ETLS ||
           (rc == INVQ_EREPLY && transient);
}

static void drop_conn(invq_producer *p)
{
    redis_sync_free(p->cur->c, p->cur->tls);
    p->cur->c = NULL;
    p->cur->tls = NULL;
}

/* A Sentinel master that was demoted keeps accepting writes until Sentinel
 * reconfigures it, and those writes are lost: at most once a second ask a
 * sentinel whether it still names the node we write to, and drop the
 * connection when it does not. A sentinel that cannot be asked changes
 * nothing. */
static void check_master(invq_producer *p)
{
    char host[SENTINEL_HOST_MAX], err[256];
    int port = 0;
    uint64_t now = mono_ms();
    prod_conn *k = p->cur;
    if (!k->c || !redis_url_is_sentinel(&p->cfg.url) || now - k->master_checked_ms < SENTINEL_CHECK_MS)
        return;
    k->master_checked_ms = now;
    if (sentinel_sync_master(&p->cfg.url, p->cfg.connect_timeout_ms, p->cfg.command_timeout_ms, host, sizeof host,
                             &port, err, sizeof err) == 0 &&
        (strcmp(host, k->master_host) != 0 || port != k->master_port))
        drop_conn(p);
}

static int connect_now(invq_producer *p)
{
    check_master(p);
    prod_conn *k = p->cur;
    if (k->c)
        return 0;
    if (redis_url_is_cluster(&p->cfg.url)) /* the master of the queue's (shard's) slot */
        return cluster_route_connect(&p->cfg.url, cluster_route_slot(p->keys->pending), p->cfg.connect_timeout_ms,
                                     p->cfg.command_timeout_ms, &k->c, &k->tls, NULL, 0, NULL, p->errstr,
                                     sizeof(p->errstr));
    if (!redis_url_is_sentinel(&p->cfg.url))
        return redis_sync_connect_tls(&p->cfg.url, p->cfg.connect_timeout_ms, p->cfg.command_timeout_ms, &k->c,
                                      &k->tls, p->errstr, sizeof(p->errstr));
    k->master_checked_ms = mono_ms();
    return sentinel_sync_connect(&p->cfg.url, p->cfg.connect_timeout_ms, p->cfg.command_timeout_ms, &k->c,
                                 &k->tls, k->master_host, sizeof(k->master_host), &k->master_port, p->errstr,
                                 sizeof(p->errstr));
}

/* Surfaces a new spool problem (torn record, entry left alone, ...) through
 * errstr too; invq_producer_spool_error() keeps it after errstr moves on. */
static void note_spool_warning(invq_producer *p)
{
    if (p->spool && spool_events(p->spool) != p->events_seen) {
        p->events_seen = spool_events(p->spool);
        snprintf(p->errstr, sizeof(p->errstr), "%s", spool_warning(p->spool));
    }
}

/* One enqueue round trip. A reused connection that turns out dead (say the
 * server restarted since the last call), or whose node cannot take writes
 * now (a failover), is replaced once and the round trip retried: at least
 * once, never lost. On a cluster a redirect (-MOVED,
 * -ASK: the queue's slot moved, MULTI discarded) is followed by routing
 * again and retrying, up to CLUSTER_ROUTE_MAX_HOPS times. */
static int push(invq_producer *p, const uint8_t *const *payloads, const size_t *lens, size_t n,
                int *transient)
{
    enq_plan plan;
    int rc, broken = 0;

    *transient = 0;
    if (enq_plan_build(&plan, p->keys->pending, p->keys->stats, payloads, lens, n) < 0)
        return err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
    int redirects = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = p->cur->c == NULL;
        if ((rc = connect_now(p)) < 0)
            break;
        rc = enq_plan_run_sync(&plan, p->cur->c, transient, &broken, p->errstr, sizeof(p->errstr));
        /* a node that cannot take writes now (READONLY, NOREPLICAS, ...):
         * connect again (rediscovering a Sentinel master) and resend once;
         * a fresh connection that says so too is the answer (spooled or
         * reported: never reported as sent) */
        bool node = rc == INVQ_EREPLY && *transient;
        if (broken || node)
            drop_conn(p);
        if (rc == INVQ_EREPLY && *transient == ENQ_REDIRECT && redirects++ < CLUSTER_ROUTE_MAX_HOPS) {
            drop_conn(p);
            attempt--;
            continue;
        }
        if (rc == 0 || !(broken || node) || fresh || rc == INVQ_ETIMEOUT)
            break;
    }
    enq_plan_deinit(&plan);
    return rc;
}

/* The shard of each payload of a sharded queue: INVQ_SHARD_BY_KEY by its
 * first key (jobs: the jobs themselves, or NULL to decode the payloads, as
 * spool replay does; a payload that does not decode goes to shard 0), else
 * the next shard for all of them. */
static void pick_shards(invq_producer *p, const invq_job *const *jobs, const uint8_t *const *payloads,
                        const size_t *lens, size_t n, unsigned *shard)
{
    if (p->cfg.pick != INVQ_SHARD_BY_KEY) {
        unsigned s = p->next++ % p->cfg.shards;
        for (size_t i = 0; i < n; i++)
            shard[i] = s;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs) {
            shard[i] = prod_config_key_shard(&p->cfg, jobs[i]);
            continue;
        }
        shard[i] = prod_config_payload_shard(&p->cfg, payloads[i], lens[i]);
    }
}

/* push() of a sharded queue: one round trip per shard the payloads go to
 * (jobs: as for pick_shards). Stops at the first shard that fails; *sent
 * says which payloads made it (the caller spools the others). */
static int push_sharded(invq_producer *p, const invq_job *const *jobs, const uint8_t *const *payloads,
                        const size_t *lens, size_t n, int *transient, bool *sent)
{
    if (p->cfg.shards <= 1) {
        use_shard(p, 0);
        int rc = push(p, payloads, lens, n, transient);
        for (size_t i = 0; i < n; i++)
            sent[i] = rc == 0;
        return rc;
    }
    unsigned *shard = calloc(n, sizeof(*shard));
    const uint8_t **sub = calloc(n, sizeof(*sub));
    size_t *sublens = calloc(n, sizeof(*sublens));
    int rc = 0;
    if (!shard || !sub || !sublens)
        rc = err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
    else
        pick_shards(p, jobs, payloads, lens, n, shard);
    for (size_t i = 0; i < n; i++)
        sent[i] = false;
    for (unsigned s = 0; rc == 0 && s < p->cfg.shards; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (shard[i] == s) {
                sub[m] = payloads[i];
                sublens[m++] = lens[i];
            }
        if (m == 0)
            continue;
        use_shard(p, s);
        if ((rc = push(p, sub, sublens, m, transient)) == 0)
            for (size_t i = 0; i < n; i++)
                sent[i] = sent[i] || shard[i] == s;
    }
    free(shard);
    free(sub);
    free(sublens);
    return rc;
}

/* The payloads not yet sent, spooled; INVQ_SPOOLED or the spool's error. */
static int to_spool(invq_producer *p, const uint8_t *const *payloads, const size_t *lens, size_t n, int cause);

static int spool_unsent(invq_producer *p, const uint8_t *const *payloads, const size_t *lens, size_t n,
                        const bool *sent, int cause)
{
    const uint8_t **sub = calloc(n, sizeof(*sub));
    size_t *sublens = calloc(n, sizeof(*sublens));
    size_t m = 0;
    int rc;
    if (!sub || !sublens) {
        rc = err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++)
            if (!sent[i]) {
                sub[m] = payloads[i];
                sublens[m++] = lens[i];
            }
        rc = to_spool(p, sub, sublens, m, cause);
    }
    free(sub);
    free(sublens);
    return rc;
}

/* Replays the spool chunk by chunk; each chunk is committed only after EXEC
 * confirmed it. */
static int replay(invq_producer *p)
{
    int rc = 0, transient;
    while (p->spool && spool_pending(p->spool) > 0) {
        spool_chunk c;
        rc = spool_peek(p->spool, &c, REPLAY_MAX_JOBS, REPLAY_MAX_BYTES, p->errstr, sizeof(p->errstr));
        if (rc <= 0)
            break;
        bool *sent = calloc(c.n, sizeof(*sent));
        rc = sent ? push_sharded(p, NULL, c.payloads, c.lens, c.n, &transient, sent)
                  : err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
        /* a sharded chunk half sent is replayed whole next time: those jobs
         * arrive twice (at least once, never lost) */
        if (rc == 0)
            rc = spool_commit(p->spool, &c, p->errstr, sizeof(p->errstr));
        free(sent);
        spool_chunk_deinit(&c);
        if (rc < 0)
            break;
    }
    note_spool_warning(p);
    return rc < 0 ? rc : 0;
}

static int to_spool(invq_producer *p, const uint8_t *const *payloads, const size_t *lens, size_t n, int cause)
{
    char why[512];
    int rc;
    snprintf(why, sizeof(why), "%s", p->errstr);
    rc = spool_append(p->spool, payloads, lens, n, p->errstr, sizeof(p->errstr));
    if (rc < 0) {
        size_t used = strlen(p->errstr);
        snprintf(p->errstr + used, sizeof(p->errstr) - used, " (after: %s: %.200s)", invq_strerror(cause), why);
        return rc;
    }
    snprintf(p->errstr, sizeof(p->errstr), "spooled %zu job(s): %.400s", n, why);
    return INVQ_SPOOLED;
}

/* Sends encoded jobs: spool first when it holds older jobs (order), then one
 * round trip, spooling what cannot reach Redis. */
static int deliver(invq_producer *p, const invq_job *const *jobs, const uint8_t *const *payloads,
                   const size_t *lens, size_t n)
{
    int rc, transient = 0;
    if (p->spool && spool_pending(p->spool) > 0) {
        rc = replay(p);
        if (rc < 0)
            return spoolable(rc, 1) ? to_spool(p, payloads, lens, n, rc) : rc;
    }
    bool *sent = calloc(n, sizeof(*sent));
    if (!sent)
        return err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
    rc = push_sharded(p, jobs, payloads, lens, n, &transient, sent);
    if (rc < 0 && p->spool && spoolable(rc, transient))
        rc = spool_unsent(p, payloads, lens, n, sent, rc);
    free(sent);
    return rc;
}

INVQ_API int invq_producer_new(const invq_options *o, invq_producer **out, char *err, size_t errlen)
{
    invq_producer *p;
    int rc;

    if (!out)
        return err_set(err, errlen, INVQ_EINVAL, "out is NULL");
    *out = NULL;
    if (!(p = calloc(1, sizeof(*p))))
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    if ((rc = prod_config_init(&p->cfg, o, err, errlen)) < 0) {
        free(p);
        return rc;
    }
    if (!(p->conns = calloc(p->cfg.shards, sizeof(*p->conns)))) {
        prod_config_deinit(&p->cfg);
        free(p);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    use_shard(p, 0);
    if (p->cfg.spool_dir) {
        spool_opts so = {
            .dir = p->cfg.spool_dir,
            .max_bytes = p->cfg.spool_max_bytes,
            .fsync = p->cfg.spool_fsync,
            .fsync_interval_ms = p->cfg.spool_fsync_interval_ms,
            .max_record = p->cfg.lim.max_payload,
        };
        if ((rc = spool_open(&so, &p->spool, err, errlen)) < 0) {
            invq_producer_free(p);
            return rc;
        }
    }
    /* Unreachable Redis is not an error yet: sends report or spool. */
    if (connect_now(p) == 0 && p->spool)
        (void)replay(p);
    note_spool_warning(p);
    *out = p;
    return 0;
}

INVQ_API void invq_producer_free(invq_producer *p)
{
    if (!p)
        return;
    for (unsigned i = 0; p->conns && i < p->cfg.shards; i++) {
        use_shard(p, i);
        drop_conn(p);
    }
    free(p->conns);
    spool_close(p->spool);
    prod_config_deinit(&p->cfg);
    free(p);
}

INVQ_API int invq_send_many(invq_producer *p, const invq_job *const *jobs, size_t n)
{
    uint8_t **bufs;
    size_t *lens;
    int rc = 0;

    if (!p || (!jobs && n > 0))
        return INVQ_EINVAL;
    p->errstr[0] = '\0';
    if (n == 0)
        return 0;
    bufs = calloc(n, sizeof(*bufs));
    lens = calloc(n, sizeof(*lens));
    if (!bufs || !lens) {
        free(bufs);
        free(lens);
        return err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "out of memory");
    }
    rc = prod_config_check_jobs(&p->cfg, jobs, n, p->errstr, sizeof(p->errstr));
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = job_encode_checked(jobs[i], &p->cfg.lim, p->cfg.ns, &bufs[i], &lens[i], p->errstr, sizeof(p->errstr));
    if (rc == 0)
        rc = deliver(p, jobs, (const uint8_t *const *)bufs, lens, n);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    return rc;
}

INVQ_API int invq_send(invq_producer *p, const invq_job *job)
{
    return invq_send_many(p, &job, 1);
}

INVQ_API int invq_delete_keys(invq_producer *p, const void *const *keys, const size_t *lens, size_t n)
{
    invq_job *job;
    int rc;
    if (!p)
        return INVQ_EINVAL;
    if (!(job = invq_job_new()))
        return err_set(p->errstr, sizeof(p->errstr), INVQ_ENOMEM, "cannot create a job");
    rc = invq_job_del(job, keys, lens, n);
    if (rc < 0)
        err_set(p->errstr, sizeof(p->errstr), rc, "delete_keys: %s", invq_strerror(rc));
    else
        rc = invq_send(p, job);
    invq_job_free(job);
    return rc;
}

INVQ_API int invq_flush_spool(invq_producer *p)
{
    int rc;
    if (!p)
        return INVQ_EINVAL;
    p->errstr[0] = '\0';
    if (!p->spool)
        return 0;
    if ((rc = spool_adopt_orphans(p->spool, p->errstr, sizeof(p->errstr))) < 0)
        return rc;
    return replay(p);
}

INVQ_API const char *invq_producer_spool_error(const invq_producer *p)
{
    return p && p->spool ? spool_warning(p->spool) : "";
}

INVQ_API const char *invq_producer_errstr(const invq_producer *p)
{
    return p ? p->errstr : "";
}

INVQ_API const invq_families *invq_producer_families(const invq_producer *p)
{
    return p ? p->cfg.fams : NULL;
}

INVQ_API void invq_producer_spool_stats(const invq_producer *p, invq_spool_stats *st)
{
    spool_stats(p ? p->spool : NULL, st);
}
