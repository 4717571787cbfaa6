/* One consumer: fetch → decode/plan → (rate) → apply → finish, with the
 * next fetch pipelined behind each finish, a batch held while its families'
 * rate limit has no room (asked again on a timer), held while its cache
 * connection is down, and held while a queue script fails (retried on a
 * timer). Invariant:
 * the consumer's processing list holds exactly the jobs of its current batch
 * (oldest at the tail) plus, while a fetch is outstanding, the next batch at
 * the head; finish.lua trims the oldest n, and fetch.lua takes nothing
 * unless the list holds what the consumer knows of (so a fetch pipelined
 * behind a finish that failed changes nothing). The take pipeline (finish
 * or fetch, BLMOVE, HLEN reaped) is in take.c. */
#include "consumer.h"
#include "consumer_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_cluster.h"
#include "holds.h"
#include "log.h"
#include "pool.h"
#include "qfault.h"
#include "ratelimit.h"

static void send_release(consumer *c);

void consumer_reset_batch(consumer *c)
{
    if (c->rate_wait || c->budget_wait || c->linger_wait) {
        uv_timer_stop(&c->rate_timer);
        c->rate_wait = c->budget_wait = c->linger_wait = false;
    }
    c->lingered = false;
    batch_reset(&c->b);
    argv_reset(&c->finish_argv);
    c->has_batch = false;
    c->started = false;
    c->applied = false;
    c->held = false;
    c->settled = false;
    c->dlq_ok = false;
    c->settled_dead = 0;
    c->carried = 0; /* the settlement is gone; carry_done still holds them */
}

/* Anything unexpected on the queue connection: drop it; after reconnecting,
 * release.lua returns the list to pending (at least once, no attempt used).
 * The reset's reason is logged by the pool, once per change. */
void consumer_queue_broken(consumer *c, const char *what, const redisReply *reply)
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
        if (!c->has_batch && c->b.n >= 1 && c->q_ready) {
            take_send_fetch(c, c->b.n, false);
            break;
        }
        consumer_kick(c);
        break;
    default:
        consumer_kick(c);
        break;
    }
}

void consumer_retry_in(consumer *c, int retry_what, uint64_t ms)
{
    c->retry_what = retry_what;
    c->retry_wait = true;
    uv_timer_start(&c->retry, on_retry, ms, 0);
}

/* The queue Redis refused a script (`what`) or a command (`cmd`, else NULL)
 * with an error reply: the script changed nothing, so keep what is held and
 * try again later; a read-only replica means a failover, handled by
 * reconnecting. */
/* Records the fault (logged once per incident, /readyz, metrics). */
bool consumer_fault_note(consumer *c, const char *what, const char *cmd, const char *err)
{
    if (qfault_means_reconnect(err)) {
        char why[512];
        snprintf(why, sizeof why, "%s: %s", what, err);
        rlink_reset(&c->q, why);
        return false;
    }
    char reason[QFAULT_REASON_MAX];
    qfault_reason(reason, sizeof reason, cmd != NULL ? cmd : what, err);
    qfault_set(&c->p->faults, c->index, what, reason);
    return true;
}

/* Tries `retry_what` again after the backoff of the consecutive faults. */
void consumer_fault_retry(consumer *c, int retry_what)
{
    c->retry_what = retry_what;
    c->retry_wait = true;
    uv_timer_start(&c->retry, on_retry, qfault_retry_ms(++c->retries), 0);
}

static void queue_fault_str(consumer *c, const char *what, const char *cmd, const char *err, int retry_what)
{
    if (consumer_fault_note(c, what, cmd, err))
        consumer_fault_retry(c, retry_what);
}

void consumer_queue_fault(consumer *c, const char *what, const char *cmd, const redisReply *reply, int retry_what)
{
    queue_fault_str(c, what, cmd, reply->str, retry_what);
}

void consumer_queue_ok(consumer *c)
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

void consumer_reload_scripts(consumer *c)
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
         * is back; every op is idempotent and no attempt is counted. A node
         * that is not a writable master (READONLY, LOADING, ...) is a
         * connection problem too: drop it, rediscover, reconnect. The
         * incident is logged once by the pool, as the link's error. */
        c->held = true;
        log_event(LOG_DEBUG, "batch held: cache connection lost", LOG_S("consumer", c->id),
                  LOG_N("jobs", c->b.n), LOG_S("error", c->ct.lost_why));
        if (c->ct.lost_why[0] != '\0' && c->c.up)
            rlink_reset(&c->c, c->ct.lost_why);
        return;
    }
    if (status == CACHE_WAIT_SHORT) {
        /* the replicas may not have it: a failover now could bring the keys
         * back. Apply it again (no attempt) until WAIT confirms it. */
        c->held = true;
        holds_wait_result(c, true, c->ct.replicas);
        c->retry_what = RETRY_KICK;
        c->retry_wait = true;
        uv_timer_start(&c->retry, on_retry, qfault_retry_ms(++c->wait_retries), 0);
        return;
    }
    if (c->ct.replicas >= 0) {
        c->wait_retries = 0;
        holds_wait_result(c, false, c->ct.replicas);
    }
    c->applied = true;
    if (c->p->m != NULL)
        metrics_batch(c->p->m, c->b.n, (double)(uv_hrtime() - c->apply_start_ns) / 1e9);
    consumer_kick(c);
}

/* --cache-max-keys-per-s: the batch waits on the rate timer (unstarted, so
 * no attempt is used) until the process's key budget has room for it. */
static void on_budget_timer(uv_timer_t *t)
{
    consumer *c = t->data;
    c->budget_wait = false;
    consumer_kick(c);
}

static bool budget_wait(consumer *c)
{
    /* one ceiling for the process: the first pool of the group (the shards) holds it */
    keybudget *kb = &(c->p->group != NULL ? &c->p->group[0] : c->p)->keys_budget;
    if (!keybudget_on(kb))
        return false;
    uint64_t keys = 0;
    for (size_t i = 0; i < c->b.co.nentries; i++)
        keys += c->b.co.entries[i].action != ENTRY_COUNT;
    uint64_t wait_ns = keybudget_take(kb, keys, uv_hrtime());
    if (wait_ns == 0)
        return false;
    uint64_t wait_ms = (wait_ns + 999999) / 1000000;
    log_event(LOG_DEBUG, "batch waits for the cache key budget", LOG_S("consumer", c->id), LOG_N("keys", keys),
              LOG_N("wait_ms", wait_ms));
    c->budget_wait = true;
    uv_timer_start(&c->rate_timer, on_budget_timer, wait_ms, 0);
    return true;
}

static void start_apply(consumer *c)
{
    if (budget_wait(c))
        return;
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
        consumer_reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        consumer_queue_fault(c, "rate", NULL, reply, RETRY_KICK); /* the batch is held, not started */
        return;
    }
    long wait = ratelimit_reply(reply, &c->b);
    if (wait < 0) {
        consumer_queue_broken(c, "rate", reply);
        return;
    }
    consumer_queue_ok(c);
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
        consumer_queue_broken(c, "rate (out of memory)", NULL);
        return;
    }
    argv_buf *a = &c->rate_argv;
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_rated, c) == 0)
        c->rating = true;
}

/* ---- state ---- */

bool consumer_idle(const consumer *c)
{
    if (c->fetching || c->applying || c->finishing || c->rating || c->dlq_cb != NULL)
        return false;
    return !c->has_batch || !c->started || c->batch_epoch != c->q_epoch;
}

void consumer_kick(consumer *c)
{
    pool *p = c->p;
    if (p->releasing || p->closing)
        return;
    if (c->fetching || c->applying || c->finishing || c->retry_wait || c->rating || c->dlq_cb != NULL)
        return;
    if (c->has_batch && c->batch_epoch != c->q_epoch)
        consumer_reset_batch(c); /* its jobs went back to pending when we reconnected */
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
            if (c->budget_wait)
                return;
            if (c->c.up)
                start_apply(c);
            else
                c->held = true;
            return;
        }
        if (c->q_ready && !c->linger_wait)
            take_send_finish(c);
        return;
    }
    if (!c->q_ready)
        return;
    if (c->carry_done > 0 && pool_may_fetch(p)) {
        take_send_finish(c); /* count what a plain finish could not, before taking more */
        return;
    }
    if (pool_may_fetch(p) && c->c.up) {
        take_send_fetch(c, 0, true);
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
        consumer_reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        consumer_queue_fault(c, "release", NULL, reply, RETRY_RELEASE);
        return;
    }
    long long n = 0;
    if (!consumer_release_reply(reply, &n)) {
        consumer_queue_broken(c, "release", reply);
        return;
    }
    consumer_queue_ok(c);
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
        c->fetching = false;
        c->blocking = false;
        take_stash_free(c); /* it goes back to pending with the list */
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
    cache_target_set_wait(&c->ct, cfg->cache_wait_replicas, cfg->cache_wait_timeout_ms);
    c->ct.window = cfg->cache_window_keys;
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
    take_stash_free(c);
    batch_deinit(&c->b);
    argv_deinit(&c->fetch_argv);
    argv_deinit(&c->finish_argv);
    argv_deinit(&c->rate_argv);
    cache_target_deinit(&c->ct);
}
