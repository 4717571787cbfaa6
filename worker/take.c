/* The take pipeline of a consumer (consumer_int.h): finish.lua or fetch.lua,
 * then BLMOVE and HLEN reaped on the same connection, their replies turned
 * into the consumer's next batch, and the settlement of the current batch
 * that becomes finish.lua's arguments.
 *
 * Taking jobs is one pipeline on the queue connection: a script (finish.lua
 * settling the batch and taking the next, or fetch.lua when there is no
 * batch to settle) that leaves the newest job of pending in place, then
 * `BLMOVE pending processing RIGHT LEFT 1`, which takes that job at once or
 * waits for the next one, then `HLEN reaped`, which says whether the job the
 * BLMOVE brought may have been reaped before. The replies come in that
 * order; the last ends the step (take_done). A finish.lua that may store
 * the next jobs on processing instead of returning them (its ARGV "store")
 * has `LRANGE processing 0 -1` between it and the BLMOVE, which brings
 * them (on_stored_range). A small all-done batch is finished without the
 * script (send_plain_finish), and a few jobs its LLEN saw waiting come with
 * an LMOVE each (send_series). With --take-linger-ms, an applied batch that
 * was not full waits that long before its finish takes the next (linger). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "consumer_int.h"
#include "holds.h"
#include "log.h"
#include "pool.h"

/* All-done batches of at most this many jobs are finished without
 * finish.lua (send_plain_finish). */
#define TAKE_PLAIN_MAX 4

/* A finish.lua settling a batch of at least this many jobs (a backlog is
 * draining) may store the next jobs on processing instead of returning them
 * (send_stored_range); below it the jobs are few, the Lua copy is cheap,
 * and the LRANGE and SORTs would be commands more. */
#define TAKE_STORE_MIN 64

/* At most this many jobs seen waiting by a plain finish's LLEN, beyond the
 * one its BLMOVE takes, are taken with an LMOVE each (send_series); more
 * go to fetch.lua, whose eight commands cost less than that many LMOVEs. */
#define TAKE_SERIES_MAX 8

/* A BLMOVE that waited longer than this for its job (after the reply just
 * ahead of it) found the queue idle: the next plain finish does not ask
 * LLEN pending whether more is waiting (send_plain_finish). */
#define TAKE_IDLE_NS (250 * 1000)

/* A failure inside the take pipeline: reported at once, retried once the
 * pipeline's last reply is in (take_done). */
static void take_fault(consumer *c, const char *what, const char *cmd, const char *err)
{
    if (c->take_failed)
        return; /* the first failure of the step is the one reported */
    c->take_failed = true;
    if (!consumer_fault_note(c, what, cmd, err))
        c->fetching = false; /* reconnecting */
}

void take_stash_free(consumer *c)
{
    free(c->stash);
    c->stash = NULL;
    c->stash_len = 0;
}

/* The reply just ahead of the pipeline's BLMOVE is in: the BLMOVE's wait
 * is timed from here (on_blmoved). */
static void take_mark(consumer *c)
{
    c->take_mark_ns = uv_hrtime();
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
    consumer_queue_ok(c);
    take_mark(c); /* a BLMOVE pipelined behind the script is timed from here */
    pool_diverted(c->p, c->id, diverted);
    int rc = take_jobs(c, jobs, counts);
    if (rc == -ENOMEM)
        consumer_queue_broken(c, "take (out of memory)", NULL);
    else if (rc < 0)
        consumer_queue_broken(c, what, reply);
    return rc == 0;
}

/* The queue Redis refused a command the worker's ACL may predate (SORT,
 * LMOVE): `*flag` makes the pool take another way from then on; the first
 * refusal is logged, with the ACL rule that would allow it. */
static void refused_once(consumer *c, bool *flag, const char *msg, const char *hint)
{
    if (!*flag)
        log_event(LOG_WARN, msg, LOG_S("consumer", c->id), LOG_S("hint", hint));
    *flag = true;
}

static void plan_batch(consumer *c)
{
    if (batch_plan_all(&c->b, &c->policy, c->p->fam, pool_now_ms(), &c->p->rng) < 0) {
        consumer_queue_broken(c, "fetch (out of memory)", NULL);
        return;
    }
    c->has_batch = true;
    c->batch_epoch = c->q_epoch;
    c->started = false;
    c->applied = c->b.napply == 0;
    consumer_kick(c);
}

static void send_series(consumer *c, size_t k);

static void take_done(consumer *c)
{
    c->fetching = false;
    c->blocking = false;
    if (c->take_failed) {
        /* nothing was taken by the failed script; a job the BLMOVE brought
         * is held (in the batch, or stashed behind a batch still to finish) */
        consumer_fault_retry(c, c->has_batch || c->b.n == 0 ? RETRY_KICK : RETRY_PREFILLED_FETCH);
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
        take_send_fetch(c, c->b.n, false);
        return;
    }
    if (c->take_blmoved && c->take_more > 0 && c->b.n < c->p->cfg->batch) {
        /* a plain finish saw more jobs waiting than the BLMOVE took */
        size_t more = c->p->cfg->batch - c->b.n;
        if (c->take_more < more)
            more = c->take_more;
        c->take_blmoved = false;
        if (more <= TAKE_SERIES_MAX && !c->p->lmove_refused)
            send_series(c, more);
        else
            take_send_fetch(c, c->b.n, false);
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
            consumer_queue_broken(c, "finish", reply); /* a BLMOVE follows: start afresh */
        else
            consumer_reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* the batch stays settled and held */
        if (piped)
            take_fault(c, "finish", NULL, reply->str);
        else
            consumer_queue_fault(c, "finish", NULL, reply, RETRY_KICK);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[2]->type != REDIS_REPLY_ARRAY ||
        reply->element[3]->type != REDIS_REPLY_ARRAY || reply->element[4]->type != REDIS_REPLY_INTEGER ||
        reply->element[5]->type != REDIS_REPLY_INTEGER || (reply->element[4]->integer > 0 && !c->take_store)) {
        consumer_queue_broken(c, "finish", reply);
        return;
    }
    c->carry_done -= c->carried;
    consumer_reset_batch(c);
    c->take_stored = reply->element[4]->integer;
    if (reply->element[5]->integer != 0)
        refused_once(c, &c->p->sort_refused,
                     "the queue Redis refused SORT: jobs are taken through the script, at more Redis CPU",
                     "allow +sort to the worker's Redis user (deploy/redis-acl/users.acl)");
    if (!take_reply(c, "finish", reply, reply->element[1], reply->element[2], reply->element[3]))
        return;
    int rc;
    if (piped)
        return; /* the BLMOVE and HLEN replies follow */
    if (c->stash != NULL) {
        /* a BLMOVE brought this job while the batch could not be finished:
         * it is the only job left on the list */
        rc = batch_add(&c->b, c->stash, c->stash_len, 0);
        take_stash_free(c);
        if (rc < 0) {
            consumer_queue_broken(c, "fetch (out of memory)", NULL);
            return;
        }
        take_send_fetch(c, c->b.n, pool_may_fetch(c->p) && c->c.up);
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
    c->at_store = argv_push_u64(a, 0);
    if (rc < 0 || at_n < 0 || at_counts[3] < 0 || c->at_max < 0 || c->at_leave < 0 || c->at_store < 0)
        return -ENOMEM;
    batch_outcome oc;
    rc = batch_settle(&c->b, c->b.napply > 0 ? c->ct.results : NULL, &c->policy, pool_now_ms(), &p->rng, p->m,
                      a, &oc);
    if (rc < 0)
        return rc;
    argv_set_u64(a, at_counts[0], oc.done + c->carry_done);
    c->carried = c->carry_done;
    argv_set_u64(a, at_counts[1], oc.retried);
    argv_set_u64(a, at_counts[2], oc.dead);
    argv_set_u64(a, at_counts[3], oc.deferred);
    /* every job done, nothing to schedule, dead-letter or clear: finish.lua's
     * work is a counter and a trim (take_send_finish may send those plainly) */
    c->settled_plain = oc.done == c->b.n && (size_t)c->at_store + 1 == a->n && c->carried == 0;
    argv_finalize(a);
    c->settled = true;
    c->settled_dead = oc.dead;
    c->dlq_ok = oc.dead == 0 || p->cfg->dlq_max == 0;
    return 0;
}

static void on_dlq_checked(consumer *c, int verdict)
{
    if (verdict < 0)
        return; /* connection lost: the batch is released after reconnecting */
    if (verdict > 0) {
        /* the dead-letter list is full: the batch stays settled and held on
         * the processing list; look again in a second */
        consumer_retry_in(c, RETRY_KICK, 1000);
        return;
    }
    c->dlq_ok = true;
    consumer_kick(c);
}

/* A reply of `cmd` (BLMOVE or LMOVE) of pending onto processing that is
 * not nil: true when it brought a job; an error is the step's fault (named
 * `what`), any other type resets the connection. */
static bool moved_job(consumer *c, const char *what, const char *cmd, const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        char full[600];
        snprintf(full, sizeof full, "%s %s %s", cmd, c->p->keys.pending, c->processing);
        take_fault(c, what, full, reply->str);
        return false;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        consumer_queue_broken(c, what, reply);
        return false;
    }
    return true;
}

/* The job a BLMOVE or LMOVE brought joins the batch. */
static void add_moved(consumer *c, const char *what, const redisReply *reply)
{
    if (batch_add(&c->b, reply->str, reply->len, 0) < 0) {
        char why[64];
        snprintf(why, sizeof why, "%s (out of memory)", what);
        consumer_queue_broken(c, why, NULL);
        return;
    }
    c->take_blmoved = true;
}

static void on_blmoved(uvredis *r, int status, redisReply *reply, void *data);
static void on_reaped_len(uvredis *r, int status, redisReply *reply, void *data);

/* The LRANGE behind a finish.lua that may store the next jobs on processing
 * (finish.lua's "stored"): they are its first elements, newest first, and
 * join the batch oldest first, ahead of the job the BLMOVE brings. */
static void on_stored_range(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    if (status < 0 || reply == NULL)
        return; /* connection lost: the BLMOVE's reply says so too */
    take_mark(c); /* the BLMOVE pipelined behind is timed from here */
    if (c->take_failed || c->take_stored <= 0)
        return; /* nothing was stored: the script failed, or returned its jobs */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < (size_t)c->take_stored) {
        consumer_queue_broken(c, "finish (LRANGE processing)", reply);
        return;
    }
    for (size_t i = (size_t)c->take_stored; i-- > 0;) {
        const redisReply *j = reply->element[i];
        if (j->type != REDIS_REPLY_STRING) {
            consumer_queue_broken(c, "finish (LRANGE processing)", reply);
            return;
        }
        if (batch_add(&c->b, j->str, j->len, 0) < 0) {
            consumer_queue_broken(c, "take (out of memory)", NULL);
            return;
        }
    }
}

/* Sends `LRANGE processing 0 -1` behind the finish.lua just sent; false
 * (the connection being reset) when it could not be queued. */
static bool send_stored_range(consumer *c)
{
    const char *argv[] = { "LRANGE", c->processing, "0", "-1" };
    size_t lens[] = { 6, strlen(c->processing), 1, 2 };
    if (rlink_command(&c->q, 4, argv, lens, on_stored_range, c) < 0) {
        /* the script may store jobs no reply would bring: start afresh */
        consumer_queue_broken(c, "finish (out of memory)", NULL);
        return false;
    }
    return true;
}

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
    c->take_store = false;
    c->take_stored = -1;
    c->take_more = 0;
    c->take_blmoved = false;
    c->take_hlen = 0;
    c->take_failed = false;
}

/* One LMOVE of a series (send_series): the job joins the batch; nil when
 * another consumer took it first. A queue Redis whose ACL predates LMOVE
 * refuses it: said once, and the pool takes the rest with fetch.lua from
 * then on (nothing fails; the jobs stay in pending for the next take). */
static void on_series_moved(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return;
    }
    if (reply->type == REDIS_REPLY_NIL)
        return;
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOPERM", 6) == 0) {
        refused_once(c, &c->p->lmove_refused,
                     "the queue Redis refused LMOVE: the few jobs a finish sees waiting are taken by fetch.lua, "
                     "at more commands",
                     "allow +lmove to the worker's Redis user (deploy/redis-acl/users.acl)");
        return;
    }
    if (moved_job(c, "lmove", "LMOVE", reply))
        add_moved(c, "lmove", reply);
}

/* Jobs a plain finish's LLEN saw waiting beyond the one its BLMOVE took:
 * k LMOVEs (one comes back nil when another consumer took its job first),
 * then HLEN reaped, which says whether any of them may have been reaped;
 * the last reply ends the step as after any take (take_done). */
static void send_series(consumer *c, size_t k)
{
    const char *argv[] = { "LMOVE", c->p->keys.pending, c->processing, "RIGHT", "LEFT" };
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    begin_take(c, true);
    c->fetching = true;
    for (size_t i = 0; i < k; i++) {
        if (rlink_command(&c->q, 5, argv, lens, on_series_moved, c) < 0) {
            consumer_queue_broken(c, "take (out of memory)", NULL); /* the list is released on reconnect */
            return;
        }
    }
    const char *hl[] = { "HLEN", c->p->keys.reaped };
    size_t hlens[] = { 4, strlen(c->p->keys.reaped) };
    rlink_command(&c->q, 2, hl, hlens, on_reaped_len, c);
}

/* The plain finish's three replies (send_plain_finish), in order; the
 * BLMOVE's and the HLEN's follow. */
static void on_plain_counted(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    c->plain_uncounted = false;
    if (status < 0 || reply == NULL)
        return; /* connection lost: the last reply says so too */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* the trim still runs: the jobs are counted by the next finish.lua,
         * which checks the key before it writes (and holds its batch until
         * the key is fixed) */
        c->plain_uncounted = true;
        take_fault(c, "finish", "HINCRBY stats done", reply->str);
    } else if (reply->type != REDIS_REPLY_INTEGER) {
        take_fault(c, "finish", "HINCRBY stats done", "unexpected reply type");
    }
}

/* The plain finish's last reply (the LTRIM's, or the LLEN's when it was
 * sent) is in: the finish is over. False when the connection was lost. */
static bool plain_over(consumer *c, int status, const redisReply *reply)
{
    c->finishing = false;
    if (status < 0 || reply == NULL) {
        c->fetching = false;
        return false; /* connection lost: the batch is released after reconnecting */
    }
    take_mark(c);
    if (!c->take_failed)
        consumer_queue_ok(c);
    return true;
}

static void on_plain_trimmed(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    bool last = !c->plain_len;
    if (status >= 0 && reply != NULL) {
        if (reply->type == REDIS_REPLY_ERROR) {
            take_fault(c, "finish", "LTRIM processing", reply->str); /* not trimmed: the batch is held */
        } else {
            consumer_reset_batch(c); /* trimmed: the batch is finished */
            if (c->plain_uncounted)
                c->carry_done += c->plain_n;
        }
    }
    if (last)
        (void)plain_over(c, status, reply);
}

static void on_plain_len(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    if (plain_over(c, status, reply))
        c->take_more = reply->type == REDIS_REPLY_INTEGER && reply->integer > 1 ? (size_t)reply->integer - 1 : 0;
}

/* An all-done batch of at most TAKE_PLAIN_MAX jobs, settled without a
 * script: HINCRBY stats done n, LTRIM processing 0 -(n+1), LLEN pending,
 * then the BLMOVE and HLEN as after finish.lua; commands the worker's ACL
 * already allows, pipelined in that order. The counter is the one write that
 * can fail and comes before the trim: a stats key that refuses it leaves the
 * batch finished uncounted, the fault reported, and the count carried to the
 * next finish.lua. When pending held more than the job the BLMOVE takes,
 * fetch.lua takes the rest afterwards (take_done). The LLEN is left out
 * while the queue is idle (the last BLMOVE waited for its job, TAKE_IDLE_NS):
 * then the BLMOVE takes the next job and the one after it comes with the
 * next take. Returns false when nothing was sent. */
static bool send_plain_finish(consumer *c)
{
    pool *p = c->p;
    char n[24], stop[24];
    snprintf(n, sizeof n, "%zu", c->b.n);
    snprintf(stop, sizeof stop, "-%zu", c->b.n + 1);
    const char *hincr[] = { "HINCRBY", p->keys.stats, "done", n };
    const char *trim[] = { "LTRIM", c->processing, "0", stop };
    const char *llen[] = { "LLEN", p->keys.pending };
    size_t hl[] = { 7, strlen(hincr[1]), 4, strlen(n) }, tl[] = { 5, strlen(trim[1]), 1, strlen(stop) },
           ll[] = { 4, strlen(llen[1]) };
    c->plain_n = c->b.n;
    c->plain_len = !c->take_idle || c->lingered; /* after a linger jobs are likely waiting */
    if (rlink_command(&c->q, 4, hincr, hl, on_plain_counted, c) < 0)
        return false;
    if (rlink_command(&c->q, 4, trim, tl, on_plain_trimmed, c) < 0 ||
        (c->plain_len && rlink_command(&c->q, 2, llen, ll, on_plain_len, c) < 0)) {
        /* counted but not trimmed: start afresh (the list is released after
         * reconnecting; the jobs are applied again and counted again) */
        consumer_queue_broken(c, "finish (out of memory)", NULL);
        return false;
    }
    return true;
}

static void on_lingered(uv_timer_t *t)
{
    consumer *c = t->data;
    c->linger_wait = false;
    consumer_kick(c);
}

/* --take-linger-ms: an applied batch that was not full (the queue had no
 * more when it was taken) waits once before its finish takes the next, so
 * that the jobs arriving meanwhile come in that one take instead of one
 * BLMOVE each. A full batch (a backlog) and a shutdown do not wait. True
 * when the wait began. */
static bool linger(consumer *c, bool piped)
{
    uint64_t ms = c->p->cfg->take_linger_ms;
    if (ms == 0 || !piped || c->lingered || c->b.n >= c->p->cfg->batch)
        return false;
    c->lingered = true;
    c->linger_wait = true;
    uv_timer_start(&c->rate_timer, on_lingered, ms, 0);
    return true;
}

void take_send_finish(consumer *c)
{
    if (!c->settled) {
        int rc = settle(c);
        if (rc < 0) {
            log_event(LOG_ERROR, "cannot settle batch", LOG_S("consumer", c->id), LOG_S("error", strerror(-rc)));
            argv_reset(&c->finish_argv);
            return;
        }
    }
    if (!c->dlq_ok) {
        /* --dlq-max: only a batch that adds dead letters asks */
        if (c->dlq_cb == NULL)
            (void)holds_dlq_check(c, c->settled_dead, on_dlq_checked); /* link down: released on reconnect */
        return;
    }
    holds_dlq_clear(c);
    argv_buf *a = &c->finish_argv;
    /* take the next batch in the same call, unless a queue fault is being
     * retried or a job is stashed behind this batch */
    bool piped = pool_may_fetch(c->p) && c->c.up && c->retries == 0 && c->stash == NULL && c->has_batch;
    if (linger(c, piped))
        return;
    argv_set_u64(a, c->at_max, piped ? c->p->cfg->batch - 1 : 0);
    argv_set_u64(a, c->at_leave, piped ? 1 : 0);
    bool store = false;
    if (piped && c->settled_plain && c->b.n <= TAKE_PLAIN_MAX) {
        if (!send_plain_finish(c))
            return;
    } else {
        /* the script's SHA1 may have been reloaded: argv[1] points at it */
        a->argv[1] = c->p->sc.sha[SCRIPT_FINISH];
        store = piped && !c->p->sort_refused && c->b.n >= TAKE_STORE_MIN;
        argv_set_u64(a, c->at_store, store ? 1 : 0);
        if (rlink_command(&c->q, (int)a->n, a->argv, a->lens, on_finished, c) < 0)
            return;
        if (store && !send_stored_range(c))
            return;
    }
    c->finishing = true;
    begin_take(c, piped);
    c->take_store = store;
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
            consumer_queue_broken(c, "fetch", reply);
            return;
        }
        c->fetching = false;
        consumer_reload_scripts(c);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* nothing was taken; jobs already held stay in the batch */
        if (piped) {
            take_fault(c, "fetch", NULL, reply->str);
            return;
        }
        c->fetching = false;
        consumer_queue_fault(c, "fetch", NULL, reply, prefilled > 0 ? RETRY_PREFILLED_FETCH : RETRY_KICK);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[2]->type != REDIS_REPLY_ARRAY || reply->element[3]->type != REDIS_REPLY_INTEGER) {
        consumer_queue_broken(c, "fetch", reply);
        return;
    }
    if (reply->element[3]->integer != 0) {
        /* processing held more than this consumer knows of */
        consumer_queue_broken(c, "fetch (the processing list holds unknown jobs)", NULL);
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
    if (reply->type == REDIS_REPLY_NIL) {
        c->take_idle = true; /* timed out */
        return;
    }
    if (!moved_job(c, "blmove", "BLMOVE", reply))
        return;
    c->take_idle = uv_hrtime() - c->take_mark_ns > TAKE_IDLE_NS;
    /* the job is in the list now: it must become part of a batch (even
     * when draining) so that finish.lua's trim stays exact */
    if (c->has_batch) {
        /* behind a batch whose finish failed: kept until it is finished */
        take_stash_free(c);
        c->stash = malloc(reply->len > 0 ? reply->len : 1);
        if (c->stash == NULL) {
            consumer_queue_broken(c, "blmove (out of memory)", NULL);
            return;
        }
        memcpy(c->stash, reply->str, reply->len);
        c->stash_len = reply->len;
        return;
    }
    add_moved(c, "blmove", reply);
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
void take_send_fetch(consumer *c, size_t prefilled, bool piped)
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
        consumer_queue_broken(c, "fetch (out of memory)", NULL);
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

