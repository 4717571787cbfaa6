/* One consumer: fetch → decode/plan → (rate) → apply → finish, with the
 * next fetch pipelined behind each finish, a batch held while its families'
 * rate limit has no room (asked again on a timer), held while its cache
 * connection is down, and held while a queue script fails (retried on a
 * timer). Invariant:
 * the consumer's processing list holds exactly the jobs of its current batch
 * (oldest at the tail) plus, while a fetch is outstanding, the next batch at
 * the head; finish.lua trims the oldest n, and fetch.lua takes nothing
 * unless the list holds what the consumer knows of (so a fetch pipelined
 * behind a finish that failed changes nothing). */
#include "consumer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cache_cluster.h"
#include "log.h"
#include "pool.h"
#include "qfault.h"
#include "ratelimit.h"

static void send_fetch(consumer *c, size_t prefilled);
static void send_release(consumer *c);
static void on_blmoved(uvredis *r, int status, redisReply *reply, void *data);

/* What a consumer tries again after a queue fault. */
enum { RETRY_KICK = 0, RETRY_PREFILLED_FETCH, RETRY_RELEASE };

static void reset_batch(consumer *c)
{
    if (c->rate_wait) {
        uv_timer_stop(&c->rate_timer);
        c->rate_wait = false;
    }
    batch_reset(&c->b);
    argv_reset(&c->finish_argv);
    c->has_batch = false;
    c->started = false;
    c->applied = false;
    c->held = false;
    c->settled = false;
}

/* Anything unexpected on the queue connection: drop it; after reconnecting,
 * release.lua returns the list to pending (at least once, no attempt used).
 * The reset's reason is logged by the pool, once per change. */
static void queue_broken(consumer *c, const char *what, const redisReply *reply)
{
    const char *msg = reply == NULL ? "unexpected reply"
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "unexpected reply type";
    char why[512];
    snprintf(why, sizeof why, "%s: %s", what, msg);
    rlink_reset(&c->q, why);
}

static void on_retry(uv_timer_t *t)
{
    consumer *c = t->data;
    c->retry_wait = false;
    if (c->p->closing)
        return;
    switch (c->retry_what) {
    case RETRY_RELEASE:
        send_release(c);
        break;
    case RETRY_PREFILLED_FETCH:
        if (!c->has_batch && c->b.n == 1 && c->q_ready) {
            send_fetch(c, 1);
            break;
        }
        consumer_kick(c);
        break;
    default:
        consumer_kick(c);
        break;
    }
}

/* The queue Redis refused a script (`what`) or a command (`cmd`, else NULL)
 * with an error reply: the script changed nothing, so keep what is held and
 * try again later; a read-only replica means a failover, handled by
 * reconnecting. */
static void queue_fault(consumer *c, const char *what, const char *cmd, const redisReply *reply, int retry_what)
{
    if (qfault_means_reconnect(reply->str)) {
        queue_broken(c, what, reply);
        return;
    }
    char reason[QFAULT_REASON_MAX];
    qfault_reason(reason, sizeof reason, cmd != NULL ? cmd : what, reply->str);
    qfault_set(&c->p->faults, c->index, what, reason);
    c->retry_what = retry_what;
    c->retry_wait = true;
    uv_timer_start(&c->retry, on_retry, qfault_retry_ms(++c->retries), 0);
}

static void queue_ok(consumer *c)
{
    c->retries = 0;
    qfault_clear(&c->p->faults, c->index);
}

static void on_scripts_reloaded(int status, void *data)
{
    consumer *c = data;
    c->reloading = false;
    if (status < 0) {
        rlink_reset(&c->q, c->p->sc.error);
        return;
    }
    c->q_ready = true;
    consumer_kick(c);
}

static void reload_scripts(consumer *c)
{
    c->q_ready = false;
    if (c->reloading)
        return;
    c->reloading = true;
    log_event(LOG_WARN, "scripts missing on the queue redis, loading them again", LOG_S("consumer", c->id));
    if (scripts_load(&c->p->sc, &c->q, on_scripts_reloaded, c) < 0)
        c->reloading = false;
}

/* ---- apply ---- */

static void on_applied(cache_target *t, int status, void *data)
{
    consumer *c = data;
    c->applying = false;
    if (status == CACHE_LOST) {
        /* the outcome is unknown: apply the whole batch again once the cache
         * is back; every op is idempotent and no attempt is counted */
        c->held = true;
        log_event(LOG_WARN, "batch held: cache connection lost", LOG_S("consumer", c->id),
                  LOG_N("jobs", c->b.n));
        return;
    }
    c->applied = true;
    if (c->p->m != NULL)
        metrics_batch(c->p->m, c->b.n, (double)(uv_hrtime() - c->apply_start_ns) / 1e9);
    consumer_kick(c);
}

static void start_apply(consumer *c)
{
    c->started = true;
    c->applying = true;
    c->held = false;
    c->apply_start_ns = uv_hrtime();
    int rc = cache_target_apply(&c->ct, c->b.co.entries, c->b.co.nentries, on_applied, c);
    if (rc != 0) {
        c->applying = false;
        c->held = true;
        if (rc < 0)
            log_event(LOG_ERROR, "cannot apply batch", LOG_S("consumer", c->id), LOG_S("error", strerror(-rc)));
    }
}

/* ---- rate ---- */

static void on_rate_timer(uv_timer_t *t)
{
    consumer *c = t->data;
    c->rate_wait = false;
    ratelimit_waited(&c->b, (double)(uv_hrtime() - c->rate_since_ns) / 1e9, c->p->m);
    consumer_kick(c);
}

static void on_rated(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->rating = false;
    if (status < 0 || reply == NULL)
        return; /* connection lost: the batch is released after reconnecting */
    if (scripts_is_noscript(reply)) {
        reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        queue_fault(c, "rate", NULL, reply, RETRY_KICK); /* the batch is held, not started */
        return;
    }
    long wait = ratelimit_reply(reply, &c->b);
    if (wait < 0) {
        queue_broken(c, "rate", reply);
        return;
    }
    queue_ok(c);
    if (wait == 0) {
        c->b.rate_granted = true;
        consumer_kick(c);
        return;
    }
    /* no room: the batch stays on the processing list, unstarted (no
     * attempt), and asks again; heartbeats go on over the control link */
    c->rate_wait = true;
    c->rate_since_ns = uv_hrtime();
    uv_timer_start(&c->rate_timer, on_rate_timer, (uint64_t)wait, 0);
}

static void send_rate(consumer *c)
{
    if (ratelimit_args(&c->rate_argv, c->p->sc.sha[SCRIPT_RATE], &c->b) < 0) {
        queue_broken(c, "rate (out of memory)", NULL);
        return;
    }
    argv_buf *a = &c->rate_argv;
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_rated, c) == 0)
        c->rating = true;
}

/* ---- finish ---- */

static void on_finished(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->finishing = false;
    if (status < 0 || reply == NULL)
        return; /* connection lost: the batch is released after reconnecting */
    if (scripts_is_noscript(reply)) {
        reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        queue_fault(c, "finish", NULL, reply, RETRY_KICK); /* the batch stays settled and held */
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        queue_broken(c, "finish", reply);
        return;
    }
    queue_ok(c);
    reset_batch(c);
    consumer_kick(c);
}

static int settle(consumer *c)
{
    pool *p = c->p;
    argv_buf *a = &c->finish_argv;
    argv_reset(a);
    int rc = 0;
    const char *head[] = { "EVALSHA", p->sc.sha[SCRIPT_FINISH], "5", c->processing, p->keys.delayed,
                           p->keys.dead, p->keys.reaped, p->keys.stats };
    for (size_t i = 0; i < sizeof head / sizeof head[0] && rc >= 0; i++)
        rc = argv_push_str(a, head[i]);
    int at_n = argv_push_u64(a, c->b.n);
    int at_counts[4];
    for (int i = 0; i < 4; i++)
        at_counts[i] = argv_push_u64(a, 0);
    if (rc < 0 || at_n < 0 || at_counts[3] < 0)
        return -ENOMEM;
    batch_outcome oc;
    rc = batch_settle(&c->b, c->b.napply > 0 ? c->ct.results : NULL, &c->policy, pool_now_ms(), &p->rng, p->m,
                      a, &oc);
    if (rc < 0)
        return rc;
    argv_set_u64(a, at_counts[0], oc.done);
    argv_set_u64(a, at_counts[1], oc.retried);
    argv_set_u64(a, at_counts[2], oc.dead);
    argv_set_u64(a, at_counts[3], oc.deferred);
    argv_finalize(a);
    c->settled = true;
    return 0;
}

static void send_finish(consumer *c)
{
    if (!c->settled) {
        int rc = settle(c);
        if (rc < 0) {
            log_event(LOG_ERROR, "cannot settle batch", LOG_S("consumer", c->id), LOG_S("error", strerror(-rc)));
            argv_reset(&c->finish_argv);
            return;
        }
    }
    argv_buf *a = &c->finish_argv;
    /* the script's SHA1 may have been reloaded: argv[1] points at it */
    a->argv[1] = c->p->sc.sha[SCRIPT_FINISH];
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_finished, c) < 0)
        return;
    c->finishing = true;
    if (pool_may_fetch(c->p) && c->c.up)
        send_fetch(c, 0);
}

/* ---- fetch ---- */

static void on_fetched(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    size_t prefilled = c->prefilled;
    c->fetching = false;
    c->prefilled = 0;
    if (status < 0 || reply == NULL)
        return;
    if (scripts_is_noscript(reply)) {
        /* a job BLMOVEd here stays in the list; release it by reconnecting */
        if (prefilled > 0) {
            queue_broken(c, "fetch", reply);
            return;
        }
        reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* nothing was taken; a job BLMOVEd here stays in the batch */
        if (prefilled > 0 || !c->has_batch)
            queue_fault(c, "fetch", NULL, reply, prefilled > 0 ? RETRY_PREFILLED_FETCH : RETRY_KICK);
        return; /* behind a finish that failed: that failure is handled */
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[2]->type != REDIS_REPLY_ARRAY || reply->element[3]->type != REDIS_REPLY_INTEGER) {
        queue_broken(c, "fetch", reply);
        return;
    }
    if (reply->element[3]->integer != 0) {
        /* processing held more than this consumer knows of: only a finish
         * that failed just before explains it, and then the batch is held */
        if (!c->has_batch)
            queue_broken(c, "fetch (the processing list holds unknown jobs)", NULL);
        return;
    }
    if (!c->has_batch)
        queue_ok(c);
    const redisReply *jobs = reply->element[0];
    const redisReply *counts = reply->element[1];
    pool_diverted(c->p, c->id, reply->element[2]);
    if (jobs->elements == 0 && prefilled == 0) {
        if (c->has_batch) /* a batch still waits for its finish */
            return;
        if (pool_may_fetch(c->p) && c->c.up) {
            const char *argv[] = { "BLMOVE", c->p->keys.pending, c->processing, "RIGHT", "LEFT", "1" };
            size_t lens[6];
            for (int i = 0; i < 6; i++)
                lens[i] = strlen(argv[i]);
            if (rlink_command(&c->q, 6, argv, lens, on_blmoved, c) == 0) {
                c->fetching = true;
                c->blocking = true;
            }
            return;
        }
        consumer_kick(c);
        return;
    }
    if (c->has_batch) {
        queue_broken(c, "fetch (a batch is still unfinished)", NULL);
        return;
    }
    if (prefilled == 0)
        batch_reset(&c->b);
    for (size_t i = 0; i < jobs->elements; i++) {
        const redisReply *j = jobs->element[i];
        if (j->type != REDIS_REPLY_STRING) {
            queue_broken(c, "fetch", reply);
            return;
        }
        if (batch_add(&c->b, j->str, j->len, 0) < 0) {
            queue_broken(c, "fetch (out of memory)", NULL);
            return;
        }
    }
    for (size_t i = 0; i < counts->elements && i < c->b.n; i++) {
        if (counts->element[i]->type == REDIS_REPLY_INTEGER && counts->element[i]->integer > 0)
            c->b.jobs[i].reaped = (uint64_t)counts->element[i]->integer;
    }
    if (batch_plan_all(&c->b, &c->policy, c->p->fam, pool_now_ms(), &c->p->rng) < 0) {
        queue_broken(c, "fetch (out of memory)", NULL);
        return;
    }
    c->has_batch = true;
    c->batch_epoch = c->q_epoch;
    c->started = false;
    c->applied = c->b.napply == 0;
    consumer_kick(c);
}

static void on_blmoved(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->fetching = false;
    c->blocking = false;
    if (status < 0 || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_NIL) {
        consumer_kick(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "BLMOVE %s %s", c->p->keys.pending, c->processing);
        queue_fault(c, "blmove", cmd, reply, RETRY_KICK);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        queue_broken(c, "blmove", reply);
        return;
    }
    /* the job is in the list now: it must become part of this batch (even
     * when draining) so that finish.lua's trim stays exact */
    batch_reset(&c->b);
    if (batch_add(&c->b, reply->str, reply->len, 0) < 0) {
        queue_broken(c, "blmove (out of memory)", NULL);
        return;
    }
    send_fetch(c, 1);
}

static void send_fetch(consumer *c, size_t prefilled)
{
    pool *p = c->p;
    argv_buf *a = &c->fetch_argv;
    argv_reset(a);
    uint64_t want = p->cfg->batch > prefilled ? p->cfg->batch - prefilled : 0;
    const char *head[] = { "EVALSHA", p->sc.sha[SCRIPT_FETCH], "5", p->keys.pending, c->processing,
                           p->keys.reaped, p->keys.dead, p->keys.stats };
    int rc = 0;
    for (size_t i = 0; i < sizeof head / sizeof head[0] && rc >= 0; i++)
        rc = argv_push_str(a, head[i]);
    if (rc >= 0)
        rc = argv_push_u64(a, want);
    if (rc >= 0)
        rc = argv_push_u64(a, prefilled);
    if (rc >= 0)
        rc = argv_push_u64(a, p->cfg->limits.max_payload);
    if (rc >= 0)
        rc = argv_push_str(a, c->id);
    if (rc >= 0)
        rc = argv_push_u64(a, pool_now_ms());
    if (rc >= 0)
        rc = argv_push_str(a, p->keys.oversized);
    if (rc >= 0 && prefilled > 0)
        rc = argv_push(a, c->b.bytes + c->b.jobs[0].off, c->b.jobs[0].len);
    if (rc < 0) {
        queue_broken(c, "fetch (out of memory)", NULL);
        return;
    }
    argv_finalize(a);
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_fetched, c) == 0) {
        c->fetching = true;
        c->prefilled = prefilled;
    }
}

/* ---- state ---- */

bool consumer_idle(const consumer *c)
{
    if (c->fetching || c->applying || c->finishing || c->rating)
        return false;
    return !c->has_batch || !c->started || c->batch_epoch != c->q_epoch;
}

void consumer_kick(consumer *c)
{
    pool *p = c->p;
    if (p->releasing || p->closing)
        return;
    if (c->fetching || c->applying || c->finishing || c->retry_wait || c->rating)
        return;
    if (c->has_batch && c->batch_epoch != c->q_epoch)
        reset_batch(c); /* its jobs went back to pending when we reconnected */
    if (c->has_batch) {
        if (!c->applied) {
            if (p->draining && !c->started) {
                pool_consumer_idle(p); /* taken but not started: given back */
                return;
            }
            if (!c->b.rate_granted) {
                if (!c->rate_wait && c->q_ready)
                    send_rate(c);
                return;
            }
            if (c->c.up)
                start_apply(c);
            else
                c->held = true;
            return;
        }
        if (c->q_ready)
            send_finish(c);
        return;
    }
    if (!c->q_ready)
        return;
    if (pool_may_fetch(p) && c->c.up) {
        send_fetch(c, 0);
        return;
    }
    if (p->draining)
        pool_consumer_idle(p);
}

static void on_released(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    if (status < 0 || reply == NULL)
        return;
    if (scripts_is_noscript(reply)) {
        reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        queue_fault(c, "release", NULL, reply, RETRY_RELEASE);
        return;
    }
    long long n = 0;
    if (!consumer_release_reply(reply, &n)) {
        queue_broken(c, "release", reply);
        return;
    }
    queue_ok(c);
    pool_diverted(c->p, c->id, reply->element[1]);
    if (n > 0)
        log_event(LOG_INFO, "returned jobs to pending after reconnecting", LOG_S("consumer", c->id),
                  LOG_N("jobs", n));
    c->q_ready = true;
    consumer_kick(c);
}

/* Returns this consumer's whole list to pending (after a reconnect). */
static void send_release(consumer *c)
{
    release_argv a;
    consumer_release_args(c, false, &a);
    rlink_command(&c->q, RELEASE_ARGC, a.argv, a.lens, on_released, c);
}

void consumer_release_args(const consumer *c, bool deregister, release_argv *a)
{
    const pool *p = c->p;
    snprintf(a->limit, sizeof a->limit, "%zu", p->cfg->limits.max_payload);
    snprintf(a->now, sizeof a->now, "%" PRIu64, pool_now_ms());
    const char *argv[RELEASE_ARGC] = { "EVALSHA",       p->sc.sha[SCRIPT_RELEASE], "5", c->processing,
                                       p->keys.pending, p->keys.consumers,          p->keys.dead,
                                       p->keys.stats,   c->id,                      deregister ? "1" : "0",
                                       a->limit,        a->now,                     p->keys.oversized };
    for (int i = 0; i < RELEASE_ARGC; i++) {
        a->argv[i] = argv[i];
        a->lens[i] = strlen(argv[i]);
    }
}

bool consumer_release_reply(const redisReply *reply, long long *n)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    *n = reply->element[0]->integer;
    return true;
}

static void on_q_scripts(int status, void *data)
{
    consumer *c = data;
    c->reloading = false;
    if (status < 0) {
        rlink_reset(&c->q, c->p->sc.error);
        return;
    }
    send_release(c);
}

static void on_q_state(rlink *l, bool up, void *data)
{
    consumer *c = data;
    if (up) {
        c->reloading = true;
        if (scripts_load(&c->p->sc, &c->q, on_q_scripts, c) < 0) {
            c->reloading = false;
            rlink_reset(&c->q, c->p->sc.error);
        }
    } else {
        c->q_ready = false;
        c->q_epoch++;
        /* what the retry was for is released after reconnecting */
        c->retry_wait = false;
        uv_timer_stop(&c->retry);
    }
    pool_consumer_link(c->p, c, l, up);
}

static void on_c_state(rlink *l, bool up, void *data)
{
    consumer *c = data;
    pool_consumer_link(c->p, c, l, up);
    if (up)
        consumer_kick(c);
}

static void on_link_event(rlink *l, const rlink_event *ev, void *data)
{
    consumer *c = data;
    pool_link_event(c->p, l, ev);
}

int consumer_init(consumer *c, pool *p, unsigned index)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    c->index = index;
    int rc = qkeys_consumer_id(c->id, sizeof c->id, p->start_tag, index);
    if (rc == 0)
        rc = qkeys_processing(&p->keys, c->id, c->processing, sizeof c->processing);
    if (rc < 0)
        return rc;
    c->policy = p->policy;
    c->policy.consumer = c->id;
    batch_init(&c->b);
    argv_init(&c->fetch_argv);
    argv_init(&c->finish_argv);
    argv_init(&c->rate_argv);
    const worker_config *cfg = p->cfg;
    rlink_opts q = {
        .target = "queue",
        .url = &p->qurl,
        .url_text = p->qdesc,
        .connect_timeout_ms = (int)cfg->connect_timeout_ms,
        /* BLMOVE blocks for 1 s: the command timeout must outlast it */
        .command_timeout_ms = (int)cfg->command_timeout_ms + 1000,
        .backoff_base_ms = 100,
        .backoff_max_ms = 5000,
        /* fetch.lua never hands out a job over the limit; a BLMOVE reply
         * that is one is refused (release.lua then moves it aside) */
        .max_bulk_len = cfg->limits.max_payload,
        .route_key = p->keys.pending, /* a queue on a cluster: its slot's master */
        .on_state = on_q_state,
        .on_event = on_link_event,
        .data = c,
    };
    rlink_opts k = q;
    k.target = "cache";
    k.url = &p->curl;
    k.url_text = p->cdesc;
    k.command_timeout_ms = (int)cfg->command_timeout_ms;
    k.on_state = on_c_state;
    k.max_bulk_len = 0;
    k.route_key = NULL; /* a cluster cache routes per slot (cache_cluster.c) */
    if ((rc = rlink_init(&c->q, p->loop, &q)) < 0)
        return rc;
    if ((rc = rlink_init(&c->c, p->loop, &k)) < 0) {
        rlink_close(&c->q, NULL, NULL);
        return rc;
    }
    uv_timer_init(p->loop, &c->retry);
    c->retry.data = c;
    uv_timer_init(p->loop, &c->rate_timer);
    c->rate_timer.data = c;
    cache_target_init(&c->ct, &c->c, cfg->unlink);
    if (redis_url_is_cluster(&p->curl)) {
        /* a Redis Cluster cache: c->c reaches a startup node, the target routes by slot */
        cache_cluster_opts co = { .loop = p->loop, .seed = &c->c, .consumer = c->id,
                                  .wait_replicas = cfg->cache_wait_replicas,
                                  .wait_timeout_ms = cfg->cache_wait_timeout_ms };
        if ((rc = cache_cluster_new(&co, &c->ct.cluster)) < 0)
            return rc;
    }
    return 0;
}

void consumer_start(consumer *c)
{
    rlink_start(&c->q);
    rlink_start(&c->c);
}

static void closed_one(consumer *c)
{
    if (++c->closed == 5 && c->close_cb != NULL)
        c->close_cb(c);
}

static void on_link_closed(rlink *l, void *data)
{
    closed_one(data);
}

static void on_retry_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

static void on_target_closed(void *data)
{
    closed_one(data);
}

void consumer_close(consumer *c, void (*cb)(consumer *c))
{
    c->close_cb = cb;
    c->closed = 0;
    uv_close((uv_handle_t *)&c->retry, on_retry_closed);
    uv_close((uv_handle_t *)&c->rate_timer, on_retry_closed);
    rlink_close(&c->q, on_link_closed, c);
    rlink_close(&c->c, on_link_closed, c);
    cache_target_close(&c->ct, on_target_closed, c);
}

void consumer_deinit(consumer *c)
{
    batch_deinit(&c->b);
    argv_deinit(&c->fetch_argv);
    argv_deinit(&c->finish_argv);
    argv_deinit(&c->rate_argv);
    cache_target_deinit(&c->ct);
}
