/* A self-reconnecting Redis connection over uvredis. */
#include "rlink.h"

#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "log.h"

static void connect_now(rlink *l);

int rlink_init(rlink *l, uv_loop_t *loop, const rlink_opts *o)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->o = *o;
    rng_init(&l->rng);
    int rc = uv_timer_init(loop, &l->timer);
    if (rc < 0)
        return rc;
    l->timer.data = l;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    rlink *l = t->data;
    if (!l->closing)
        connect_now(l);
}

static void schedule_retry(rlink *l, const char *msg, const char *err)
{
    l->failures++;
    uint64_t delay = backoff_reconnect(&l->rng, l->o.backoff_base_ms, l->o.backoff_max_ms, l->failures);
    char text[64];
    snprintf(text, sizeof text, "%s redis %s", l->o.target, msg);
    log_event(LOG_WARN, text, LOG_S("url", l->o.url_text), LOG_S("error", err),
              LOG_N("failures", l->failures), LOG_N("retry_ms", delay));
    uv_timer_start(&l->timer, on_timer, delay, 0);
}

static void on_closed(uvredis *r, void *data)
{
    rlink *l = data;
    if (--l->pending_closes == 0 && l->closing && l->close_cb != NULL)
        l->close_cb(l, l->close_data);
}

static void drop(rlink *l)
{
    if (l->r != NULL) {
        uvredis *r = l->r;
        l->r = NULL;
        l->pending_closes++;
        uvredis_close(r, on_closed, l);
    }
}

static void on_connect(uvredis *r, int status, void *data)
{
    rlink *l = data;
    if (status < 0) {
        char err[256];
        snprintf(err, sizeof err, "%s", uvredis_errstr(r));
        drop(l);
        schedule_retry(l, "unreachable", err);
        return;
    }
    if (l->was_up || l->failures > 0) {
        char text[64];
        snprintf(text, sizeof text, "%s redis connected", l->o.target);
        log_event(LOG_INFO, text, LOG_S("url", l->o.url_text), LOG_N("failures", l->failures));
    }
    l->failures = 0;
    l->up = true;
    l->was_up = true;
    l->ups++;
    l->o.on_state(l, true, l->o.data);
}

static void on_lost(uvredis *r, int status, void *data)
{
    rlink *l = data;
    char err[256];
    snprintf(err, sizeof err, "%s", uvredis_errstr(r));
    l->up = false;
    drop(l);
    /* the owner hears first; its outstanding commands have completed */
    l->o.on_state(l, false, l->o.data);
    if (!l->closing)
        schedule_retry(l, "connection lost", err);
}

static void connect_now(rlink *l)
{
    uvredis_opts o = {
        .connect_timeout_ms = l->o.connect_timeout_ms,
        .command_timeout_ms = l->o.command_timeout_ms,
        .max_bulk_len = l->o.max_bulk_len,
        .on_connect = on_connect,
        .on_lost = on_lost,
        .data = l,
    };
    char err[256] = "";
    int rc = uvredis_new(l->loop, l->o.url, &o, &l->r, err, sizeof err);
    if (rc < 0) {
        l->r = NULL;
        schedule_retry(l, "unreachable", err);
    }
}

void rlink_start(rlink *l)
{
    connect_now(l);
}

int rlink_command(rlink *l, int argc, const char **argv, const size_t *lens, uvredis_reply_cb cb, void *data)
{
    if (l->r == NULL || !l->up)
        return -13; /* INVQ_ECLOSED */
    return uvredis_command_argv(l->r, argc, argv, lens, cb, data);
}

void rlink_reset(rlink *l, const char *why)
{
    if (l->r == NULL || l->closing)
        return;
    bool was = l->up;
    l->up = false;
    drop(l);
    if (was)
        l->o.on_state(l, false, l->o.data);
    schedule_retry(l, "connection reset", why);
}

static void on_timer_closed(uv_handle_t *h)
{
    rlink *l = h->data;
    if (--l->pending_closes == 0 && l->close_cb != NULL)
        l->close_cb(l, l->close_data);
}

void rlink_close(rlink *l, rlink_close_cb cb, void *data)
{
    l->closing = true;
    l->close_cb = cb;
    l->close_data = data;
    l->up = false;
    l->pending_closes++; /* the timer */
    drop(l);
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
}
