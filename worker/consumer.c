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
#include <stdlib.h>
#include <string.h>

#include "cache_cluster.h"
#include "log.h"
#include "pool.h"
#include "qfault.h"
#include "ratelimit.h"

static void send_fetch(consumer *c, size_t prefilled, bool piped);
static void send_release(consumer *c);
/* What a consumer tries again after a queue fault. */
enum { RETRY_KICK = 0, RETRY_PREFILLED_FETCH, RETRY_RELEASE };

static void reset_batch(consumer *c)
{
    if (c->rate_wait || c->budget_wait) {
        uv_timer_stop(&c->rate_timer);
        c->rate_wait = c->budget_wait = false;
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
        if (!c->has_batch && c->b.n >= 1 && c->q_ready) {
            send_fetch(c, c->b.n, false);
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
/* Records the fault (logged once per incident, /readyz, metrics). */
static bool fault_note(consumer *c, const char *what, const char *cmd, const char *err)
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
static void fault_retry(consumer *c, int retry_what)
{
    c->retry_what = retry_what;
    c->retry_wait = true;
    uv_timer_start(&c->retry, on_retry, qfault_retry_ms(++c->retries), 0);
}

static void queue_fault_str(consumer *c, const char *what, const char *cmd, const char *err, int retry_what)
{
    if (fault_note(c, what, cmd, err))
        fault_retry(c, retry_what);
}

static void queue_fault(consumer *c, const char *what, const char *cmd, const redisReply *reply, int retry_what)
{
    queue_fault_str(c, what, cmd, reply->str, retry_what);
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
    keybudget *kb = &c->p->keys_budget;
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

/* ---- finish and fetch ----
 *
 * Taking jobs is one pipeline on the queue connection: a script (finish.lua
 * settling the batch and taking the next, or fetch.lua when there is no
 * batch to settle) that leaves the newest job of pending in place, then
 * `BLMOVE pending processing RIGHT LEFT 1`, which takes that job at once or
 * waits for the next one, then `HLEN reaped`, which says whether the job the
 * BLMOVE brought may have been reaped before. The replies come in that
 * order; the third ends the step (take_done). */

/* A failure inside the take pipeline: reported at once, retried once the
 * pipeline's last reply is in (take_done). */
static void take_fault(consumer *c, const char *what, const char *cmd, const char *err)
{
    if (c->take_failed)
        return; /* the first failure of the step is the one reported */
    c->take_failed = true;
    if (!fault_note(c, what, cmd, err))
        c->fetching = false; /* reconnecting */
}

static void stash_free(consumer *c)
{
    free(c->stash);
    c->stash = NULL;
    c->stash_len = 0;
}

/* Adds the jobs of a script's reply (`jobs`, `counts`: reap counts of the
 * jobs already held followed by those of `jobs`) to the batch. */
static int take_jobs(consumer *c, const redisReply *jobs, const redisReply *counts)
{
    for (size_t i = 0; i < jobs->elements; i++) {
        const redisReply *j = jobs->element[i];
        if (j->type != REDIS_REPLY_STRING)
            return -EPROTO;
        if (batch_add(&c->b, j->str, j->len, 0) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < counts->elements && i < c->b.n; i++) {
        if (counts->element[i]->type == REDIS_REPLY_INTEGER && counts->element[i]->integer > 0)
            c->b.jobs[i].reaped = (uint64_t)counts->element[i]->integer;
    }
    return 0;
}

/* A script's successful reply: the fault (if any) is over, moved-aside jobs
 * are logged, the jobs taken join the batch. False when the connection was
 * reset instead (a reply of the wrong shape, no memory). */
static bool take_reply(consumer *c, const char *what, const redisReply *reply, const redisReply *jobs,
                       const redisReply *counts, const redisReply *diverted)
{
    queue_ok(c);
    pool_diverted(c->p, c->id, diverted);
    int rc = take_jobs(c, jobs, counts);
    if (rc == -ENOMEM)
        queue_broken(c, "take (out of memory)", NULL);
    else if (rc < 0)
        queue_broken(c, what, reply);
    return rc == 0;
}

static void plan_batch(consumer *c)
{
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

static void take_done(consumer *c)
{
    c->fetching = false;
    c->blocking = false;
    if (c->take_failed) {
        /* nothing was taken by the failed script; a job the BLMOVE brought
         * is held (in the batch, or stashed behind a batch still to finish) */
        fault_retry(c, c->has_batch || c->b.n == 0 ? RETRY_KICK : RETRY_PREFILLED_FETCH);
        return;
    }
    if (c->has_batch) /* cannot happen: a finish that failed set take_failed */
        return;
    if (c->b.n == 0) {
        consumer_kick(c); /* the BLMOVE timed out */
        return;
    }
    if (c->take_blmoved && c->take_hlen != 0) {
        /* something was reaped: the job the BLMOVE brought may have been;
         * ask fetch.lua for the reap counts of the whole batch */
        send_fetch(c, c->b.n, false);
        return;
    }
    plan_batch(c);
}

static void on_finished(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->finishing = false;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return; /* connection lost: the batch is released after reconnecting */
    }
    bool piped = c->take_piped;
    if (scripts_is_noscript(reply)) {
        if (piped)
            queue_broken(c, "finish", reply); /* a BLMOVE follows: start afresh */
        else
            reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* the batch stays settled and held */
        if (piped)
            take_fault(c, "finish", NULL, reply->str);
        else
            queue_fault(c, "finish", NULL, reply, RETRY_KICK);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[2]->type != REDIS_REPLY_ARRAY ||
        reply->element[3]->type != REDIS_REPLY_ARRAY) {
        queue_broken(c, "finish", reply);
        return;
    }
    reset_batch(c);
    if (!take_reply(c, "finish", reply, reply->element[1], reply->element[2], reply->element[3]))
        return;
    int rc;
    if (piped)
        return; /* the BLMOVE and HLEN replies follow */
    if (c->stash != NULL) {
        /* a BLMOVE brought this job while the batch could not be finished:
         * it is the only job left on the list */
        rc = batch_add(&c->b, c->stash, c->stash_len, 0);
        stash_free(c);
        if (rc < 0) {
            queue_broken(c, "fetch (out of memory)", NULL);
            return;
        }
        send_fetch(c, c->b.n, pool_may_fetch(c->p) && c->c.up);
        return;
    }
    consumer_kick(c);
}

static int settle(consumer *c)
{
    pool *p = c->p;
    argv_buf *a = &c->finish_argv;
    argv_reset(a);
    int rc = 0;
    const char *head[] = { "EVALSHA",    p->sc.sha[SCRIPT_FINISH], "6",          c->processing, p->keys.delayed,
                           p->keys.dead, p->keys.reaped,           p->keys.stats, p->keys.pending };
    for (size_t i = 0; i < sizeof head / sizeof head[0] && rc >= 0; i++)
        rc = argv_push_str(a, head[i]);
    int at_n = argv_push_u64(a, c->b.n);
    int at_counts[4];
    for (int i = 0; i < 4; i++)
        at_counts[i] = argv_push_u64(a, 0);
    c->at_max = argv_push_u64(a, 0);
    if (rc >= 0)
        rc = argv_push_u64(a, p->cfg->limits.max_payload);
    if (rc >= 0)
        rc = argv_push_str(a, c->id);
    if (rc >= 0)
        rc = argv_push_u64(a, pool_now_ms());
    if (rc >= 0)
        rc = argv_push_str(a, p->keys.oversized);
    c->at_leave = argv_push_u64(a, 0);
    if (rc < 0 || at_n < 0 || at_counts[3] < 0 || c->at_max < 0 || c->at_leave < 0)
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

static void on_blmoved(uvredis *r, int status, redisReply *reply, void *data);
static void on_reaped_len(uvredis *r, int status, redisReply *reply, void *data);

/* Sends BLMOVE and HLEN reaped behind the script just sent. */
static void send_blmove(consumer *c)
{
    const char *argv[] = { "BLMOVE", c->p->keys.pending, c->processing, "RIGHT", "LEFT", "1" };
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (rlink_command(&c->q, 6, argv, lens, on_blmoved, c) < 0)
        return;
    c->blocking = true;
    const char *hl[] = { "HLEN", c->p->keys.reaped };
    size_t hlens[] = { 4, strlen(c->p->keys.reaped) };
    rlink_command(&c->q, 2, hl, hlens, on_reaped_len, c);
}

static void begin_take(consumer *c, bool piped)
{
    c->take_piped = piped;
    c->take_blmoved = false;
    c->take_hlen = 0;
    c->take_failed = false;
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
    /* take the next batch in the same call, unless a queue fault is being
     * retried or a job is stashed behind this batch */
    bool piped = pool_may_fetch(c->p) && c->c.up && c->retries == 0 && c->stash == NULL;
    argv_set_u64(a, c->at_max, piped ? c->p->cfg->batch - 1 : 0);
    argv_set_u64(a, c->at_leave, piped ? 1 : 0);
    /* the script's SHA1 may have been reloaded: argv[1] points at it */
    a->argv[1] = c->p->sc.sha[SCRIPT_FINISH];
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_finished, c) < 0)
        return;
    c->finishing = true;
    begin_take(c, piped);
    if (piped) {
        c->fetching = true;
        send_blmove(c);
    }
}

static void on_fetched(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    size_t prefilled = c->prefilled;
    bool piped = c->take_piped;
    c->prefilled = 0;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return;
    }
    if (scripts_is_noscript(reply)) {
        /* a job held on the list stays there; release it by reconnecting */
        if (prefilled > 0 || piped) {
            queue_broken(c, "fetch", reply);
            return;
        }
        c->fetching = false;
        reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* nothing was taken; jobs already held stay in the batch */
        if (piped) {
            take_fault(c, "fetch", NULL, reply->str);
            return;
        }
        c->fetching = false;
        queue_fault(c, "fetch", NULL, reply, prefilled > 0 ? RETRY_PREFILLED_FETCH : RETRY_KICK);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[2]->type != REDIS_REPLY_ARRAY || reply->element[3]->type != REDIS_REPLY_INTEGER) {
        queue_broken(c, "fetch", reply);
        return;
    }
    if (reply->element[3]->integer != 0) {
        /* processing held more than this consumer knows of */
        queue_broken(c, "fetch (the processing list holds unknown jobs)", NULL);
        return;
    }
    if (!take_reply(c, "fetch", reply, reply->element[0], reply->element[1], reply->element[2]))
        return;
    if (piped)
        return; /* the BLMOVE and HLEN replies follow */
    c->fetching = false;
    if (c->b.n == 0) {
        consumer_kick(c);
        return;
    }
    plan_batch(c);
}

static void on_blmoved(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->blocking = false;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return;
    }
    if (reply->type == REDIS_REPLY_NIL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "BLMOVE %s %s", c->p->keys.pending, c->processing);
        take_fault(c, "blmove", cmd, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        queue_broken(c, "blmove", reply);
        return;
    }
    /* the job is in the list now: it must become part of a batch (even
     * when draining) so that finish.lua's trim stays exact */
    if (c->has_batch) {
        /* behind a batch whose finish failed: kept until it is finished */
        stash_free(c);
        c->stash = malloc(reply->len > 0 ? reply->len : 1);
        if (c->stash == NULL) {
            queue_broken(c, "blmove (out of memory)", NULL);
            return;
        }
        memcpy(c->stash, reply->str, reply->len);
        c->stash_len = reply->len;
        return;
    }
    if (batch_add(&c->b, reply->str, reply->len, 0) < 0) {
        queue_broken(c, "blmove (out of memory)", NULL);
        return;
    }
    c->take_blmoved = true;
}

static void on_reaped_len(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return;
    }
    /* an error (reaped of the wrong type): fetch.lua, asked for the counts,
     * reports it as the queue fault it is */
    c->take_hlen = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 1;
    take_done(c);
}

/* fetch.lua: up to --batch jobs in all, the `prefilled` jobs already in the
 * batch (on the list) included; piped: BLMOVE and HLEN follow. */
static void send_fetch(consumer *c, size_t prefilled, bool piped)
{
    pool *p = c->p;
    argv_buf *a = &c->fetch_argv;
    argv_reset(a);
    if (prefilled == 0)
        batch_reset(&c->b);
    uint64_t want = p->cfg->batch > prefilled ? p->cfg->batch - prefilled : 0;
    if (piped && want > 0)
        want--; /* the BLMOVE takes one */
    if (!piped && c->take_blmoved)
        want = 0; /* only the reap counts of the batch */
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
    if (rc >= 0)
        rc = argv_push_str(a, piped ? "1" : "0");
    for (size_t i = 0; i < prefilled && rc >= 0; i++)
        rc = argv_push(a, c->b.bytes + c->b.jobs[i].off, c->b.jobs[i].len);
    if (rc < 0) {
        queue_broken(c, "fetch (out of memory)", NULL);
        return;
    }
    argv_finalize(a);
    /* reap counts of the held jobs come back with the fetch: forget the old */
    for (size_t i = 0; i < prefilled; i++)
        c->b.jobs[i].reaped = 0;
    if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_fetched, c) < 0)
        return;
    c->fetching = true;
    c->prefilled = prefilled;
    begin_take(c, piped);
    if (piped)
        send_blmove(c);
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
            if (c->budget_wait)
                return;
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
        send_fetch(c, 0, true);
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
        c->fetching = false;
        c->blocking = false;
        stash_free(c); /* it goes back to pending with the list */
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
    stash_free(c);
    batch_deinit(&c->b);
    argv_deinit(&c->fetch_argv);
    argv_deinit(&c->finish_argv);
    argv_deinit(&c->rate_argv);
    cache_target_deinit(&c->ct);
}
