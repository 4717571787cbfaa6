/* Held batches' incidents (see holds.h): per-consumer flags, counts on the
 * pool, one log line at the start and one at the end of each incident. */
#include "holds.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "consumer.h"
#include "dlq_spill.h"
#include "log.h"
#include "pool.h"

void holds_wait_result(consumer *c, bool short_, long long replicas)
{
    pool *p = c->p;
    if (short_) {
        if (p->m != NULL)
            metrics_cache_wait_short(p->m);
        if (!c->wait_short) {
            c->wait_short = true;
            if (p->wait_short_n++ == 0)
                log_event(LOG_WARN, "cache replicas do not confirm writes: batches are applied again until WAIT does",
                          LOG_S("url", p->cdesc), LOG_N("replicas", replicas),
                          LOG_N("wanted", p->cfg->cache_wait_replicas),
                          LOG_N("timeout_ms", p->cfg->cache_wait_timeout_ms));
        }
        return;
    }
    if (c->wait_short) {
        c->wait_short = false;
        if (--p->wait_short_n == 0)
            log_event(LOG_INFO, "cache replicas confirm writes again", LOG_S("url", p->cdesc),
                      LOG_N("replicas", replicas));
    }
}

/* spill_err: why --dlq-overflow's file could not take the records (NULL:
 * the default policy, hold). */
static void dlq_enter(consumer *c, long long len, uint64_t adding, const char *spill_err)
{
    pool *p = c->p;
    if (c->dlq_full)
        return;
    c->dlq_full = true;
    if (p->dlq_full_n++ == 0) {
        char reason[200];
        if (spill_err != NULL)
            snprintf(reason, sizeof reason, "dead-letter list full and %s; batches that would add more are held",
                     spill_err);
        else
            snprintf(reason, sizeof reason, "dead-letter list full: %lld of --dlq-max %" PRIu64
                     " records; batches that would add more are held", len, p->cfg->dlq_max);
        log_event(LOG_ERROR,
                  "dead-letter list full: batches that would add dead letters are held until it is drained "
                  "(invqctl dlq requeue/purge) or --dlq-max is raised",
                  LOG_S("queue", p->keys.dead), LOG_N("length", len), LOG_N("dlq_max", p->cfg->dlq_max),
                  LOG_N("adding", adding), LOG_S("spill_error", spill_err != NULL ? spill_err : ""));
        if (p->m != NULL)
            metrics_set_dlq_full(p->m, reason);
    }
}

void holds_dlq_clear(consumer *c)
{
    pool *p = c->p;
    if (!c->dlq_full)
        return;
    c->dlq_full = false;
    if (--p->dlq_full_n == 0) {
        log_event(LOG_INFO, "dead-letter list has room again: resuming", LOG_S("queue", p->keys.dead));
        if (p->m != NULL)
            metrics_set_dlq_full(p->m, NULL);
    }
}

static void on_spilled(consumer *c, int verdict, long long len, const char *werr)
{
    holds_dlq_cb cb = c->dlq_cb;
    c->dlq_cb = NULL;
    if (verdict > 0 && werr != NULL)
        dlq_enter(c, len, c->dlq_adding, werr);
    cb(c, verdict);
}

static void on_llen(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    holds_dlq_cb cb = c->dlq_cb;
    uint64_t adding = c->dlq_adding;
    c->dlq_cb = NULL;
    if (status < 0 || reply == NULL) {
        cb(c, status < 0 ? status : -1);
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        /* a dead list of the wrong type: finish.lua refuses it (a queue fault) */
        cb(c, 0);
        return;
    }
    uint64_t max = c->p->cfg->dlq_max;
    long long len = reply->integer;
    /* at the cap already: hold; below it, the batch may go past it by its
     * own dead letters (a batch larger than the cap never waits forever) */
    if (len > 0 && (uint64_t)len >= max) {
        /* --dlq-overflow spill:FILE: make room instead of holding */
        if (c->p->cfg->dlq_spill != NULL) {
            c->dlq_cb = cb; /* the consumer stays busy until the spill ends */
            if (dlq_spill_start(c, len, adding, on_spilled) == 0)
                return;
            c->dlq_cb = NULL;
        }
        dlq_enter(c, len, adding, NULL);
        cb(c, 1);
        return;
    }
    cb(c, 0);
}

int holds_dlq_check(consumer *c, uint64_t adding, holds_dlq_cb cb)
{
    const char *argv[] = { "LLEN", c->p->keys.dead };
    size_t lens[] = { 4, strlen(c->p->keys.dead) };
    c->dlq_cb = cb;
    c->dlq_adding = adding;
    int rc = rlink_command(&c->q, 2, argv, lens, on_llen, c);
    if (rc < 0)
        c->dlq_cb = NULL;
    return rc;
}
