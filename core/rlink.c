/* A self-reconnecting Redis connection over uvredis, with Sentinel
 * discovery (see rlink.h). */
#include "rlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cluster_route.h"
#include "cluster_slot.h"
#include "error.h"
#include "sentinel_link.h"

#define DEFAULT_SENTINEL_CHECK_MS 1000

static void connect_now(rlink *l);

static uint64_t stable_ms(const rlink *l)
{
    if (l->o.stable_ms > 0)
        return l->o.stable_ms;
    return l->o.backoff_max_ms > 1000 ? l->o.backoff_max_ms : 1000;
}

static void emit(rlink *l, rlink_event_kind kind, uint64_t retry_ms, bool repeated)
{
    if (!l->o.on_event)
        return;
    rlink_event ev = {
        .kind = kind,
        .status = kind == RLINK_EV_UP || kind == RLINK_EV_STABLE ? 0 : l->err_status,
        .error = kind == RLINK_EV_UP || kind == RLINK_EV_STABLE ? "" : l->err,
        .repeated = repeated,
        .failures = l->failures,
        .retry_ms = retry_ms,
        .reconnect = l->ups > 1,
        .addr = l->addr,
        .master_switch = kind == RLINK_EV_RESET && l->switching,
    };
    l->switching = false;
    l->o.on_event(l, &ev, l->o.data);
}

int rlink_init(rlink *l, uv_loop_t *loop, const rlink_opts *o)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->o = *o;
    rng_init(&l->rng);
    if (o->route_key != NULL && redis_url_is_cluster(o->url)) {
        l->routed = true;
        l->route_slot = cluster_keyslot(o->route_key, strlen(o->route_key));
    }
    if (redis_url_is_sentinel(o->url)) {
        int rc = sentinel_link_new(loop, o->url, o->connect_timeout_ms, o->command_timeout_ms, &l->sl);
        if (rc < 0)
            return rc;
    }
    uv_timer_init(loop, &l->timer);
    uv_timer_init(loop, &l->watch);
    l->timer.data = l;
    l->watch.data = l;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    rlink *l = t->data;
    if (l->closing)
        return;
    if (l->up) {
        /* up long enough: the next failure is a first one again */
        l->failures = 0;
        l->last_err[0] = '\0';
        emit(l, RLINK_EV_STABLE, 0, false);
        return;
    }
    connect_now(l);
}

static void set_error(rlink *l, int status, const char *err)
{
    l->err_status = status < 0 ? status : INVQ_EIO;
    snprintf(l->err, sizeof l->err, "%s", err && *err ? err : invq_strerror(l->err_status));
}

static void schedule_retry(rlink *l, rlink_event_kind kind)
{
    bool repeated = l->failures > 0 && strcmp(l->err, l->last_err) == 0;
    l->failures++;
    snprintf(l->last_err, sizeof l->last_err, "%s", l->err);
    uint64_t delay = backoff_reconnect(&l->rng, l->o.backoff_base_ms, l->o.backoff_max_ms, l->failures);
    uv_timer_start(&l->timer, on_timer, delay, 0);
    uv_timer_stop(&l->watch);
    emit(l, kind, delay, repeated);
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

/* ---- Sentinel: discovery and the master check ---- */

static void discover(rlink *l);

static void on_discovered(rlink *l, int status, const char *host, int port, const char *err);

/* One answer for both uses of the sentinels: while up it is a master
 * check, while connecting it is the discovery (a check still running when
 * the connection broke simply serves as the discovery). */
static void on_sentinel_answer(struct sentinel_link *s, int status, const char *host, int port, const char *err,
                               void *data)
{
    rlink *l = data;
    if (l->closing)
        return;
    if (l->discovering) {
        l->discovering = false;
        on_discovered(l, status, host, port, err);
        return;
    }
    if (status < 0 || !l->up || !l->node.host)
        return; /* no sentinel reachable now: keep the connection we have */
    if (strcmp(host, l->node.host) == 0 && port == l->node.port)
        return;
    char why[512];
    snprintf(why, sizeof why, "Sentinel names %s:%d as master '%s' (was %s:%d)", host, port,
             l->o.url->master_name, l->node.host, l->node.port);
    l->switching = true;
    rlink_reset(l, why);
}

static void on_watch(uv_timer_t *t)
{
    rlink *l = t->data;
    if (l->up && !l->closing && !sentinel_link_busy(l->sl))
        sentinel_link_query(l->sl, on_sentinel_answer, l);
}

static void start_watch(rlink *l)
{
    uint64_t every = l->o.sentinel_check_ms ? l->o.sentinel_check_ms : DEFAULT_SENTINEL_CHECK_MS;
    if (l->sl)
        uv_timer_start(&l->watch, on_watch, every, every);
}

/* A node failed (unreachable, not the master): the next sentinel's answer,
 * until every sentinel had its turn in this attempt. */
static bool try_next_node(rlink *l)
{
    if (!l->sl || ++l->node_tries >= l->o.url->nsentinels)
        return false;
    sentinel_link_next(l->sl);
    discover(l);
    return true;
}

/* ---- connection ---- */

static void became_up(rlink *l)
{
    l->up = true;
    l->was_up = true;
    l->ups++;
    l->err[0] = '\0';
    l->err_status = 0;
    uv_timer_start(&l->timer, on_timer, stable_ms(l), 0);
    start_watch(l);
    emit(l, RLINK_EV_UP, 0, false);
    l->o.on_state(l, true, l->o.data);
}

static void check_route(rlink *l);
static void route_failed(rlink *l, int status, const char *err);

static void on_connect(uvredis *r, int status, void *data)
{
    rlink *l = data;
    if (status < 0) {
        char err[512];
        if (l->sl)
            snprintf(err, sizeof err, "master %s:%d from Sentinel: %s", l->node.host, l->node.port,
                     uvredis_errstr(r));
        else
            snprintf(err, sizeof err, "%s", uvredis_errstr(r));
        if (l->routed) {
            route_failed(l, status, err);
            return;
        }
        set_error(l, status, err);
        drop(l);
        if (!try_next_node(l))
            schedule_retry(l, RLINK_EV_CONNECT_FAILED);
        return;
    }
    if (l->routed) {
        check_route(l);
        return;
    }
    became_up(l);
}

static void on_lost(uvredis *r, int status, void *data)
{
    rlink *l = data;
    set_error(l, status, uvredis_errstr(r));
    l->up = false;
    drop(l);
    /* the owner hears first; its outstanding commands have completed */
    l->o.on_state(l, false, l->o.data);
    if (!l->closing)
        schedule_retry(l, RLINK_EV_LOST);
}

static void open_node(rlink *l, const redis_url *u)
{
    uvredis_opts o = {
        .connect_timeout_ms = l->o.connect_timeout_ms,
        .command_timeout_ms = l->o.command_timeout_ms,
        .max_bulk_len = l->o.max_bulk_len,
        .on_connect = on_connect,
        .on_lost = on_lost,
        .data = l,
    };
    char err[512] = "";
    redis_url_describe(u, l->addr, sizeof l->addr);
    int rc = uvredis_new(l->loop, u, &o, &l->r, err, sizeof err);
    if (rc < 0) {
        l->r = NULL;
        set_error(l, rc, err);
        if (!try_next_node(l))
            schedule_retry(l, RLINK_EV_CONNECT_FAILED);
    }
}

static void on_discovered(rlink *l, int status, const char *host, int port, const char *err)
{
    if (status < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "no sentinel named master '%s': %s", l->o.url->master_name, err);
        set_error(l, status, msg);
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
        return;
    }
    redis_url_deinit(&l->node);
    if (redis_url_node(l->o.url, 0, host, port, &l->node) < 0) {
        set_error(l, INVQ_ENOMEM, "out of memory");
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
        return;
    }
    open_node(l, &l->node);
}

static void discover(rlink *l)
{
    l->discovering = true;
    if (sentinel_link_busy(l->sl))
        return; /* a master check is running: its answer serves */
    if (sentinel_link_query(l->sl, on_sentinel_answer, l) < 0) {
        l->discovering = false;
        set_error(l, INVQ_EINVAL, "Sentinel query could not start");
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
    }
}

/* A cluster URL: each attempt takes the next startup node, so one that is
 * down costs one attempt, not the link. */
static void open_cluster_seed(rlink *l)
{
    const redis_url *u = l->o.url;
    const redis_addr *a = &u->nodes[l->seed++ % u->nnodes];
    redis_url_deinit(&l->node);
    if (redis_url_cluster_node(u, a->host, a->port, &l->node) < 0) {
        set_error(l, INVQ_ENOMEM, "out of memory");
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
        return;
    }
    open_node(l, &l->node);
}

/* ---- cluster route_key: connected to a node, find the slot's master ---- */

static void route_failed(rlink *l, int status, const char *err)
{
    set_error(l, status, err);
    drop(l);
    l->hops = 0;
    /* the next startup node, until each had its turn in this attempt */
    if (++l->node_tries < l->o.url->nnodes)
        open_cluster_seed(l);
    else
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
}

static void on_route_slots(uvredis *r, int status, redisReply *reply, void *data)
{
    rlink *l = data;
    char host[256], err[512];
    int port = 0, rc;
    if (l->closing || l->r != r)
        return;
    if (status < 0 || reply == NULL)
        rc = err_set(err, sizeof err, status < 0 ? status : INVQ_EIO, "CLUSTER SLOTS on %s: %s", l->addr,
                     uvredis_errstr(r));
    else if (reply->type == REDIS_REPLY_ERROR)
        rc = err_set(err, sizeof err, INVQ_EREPLY, "CLUSTER SLOTS on %s: %s", l->addr, reply->str);
    else
        rc = cluster_route_owner(reply, l->node.host, l->route_slot, host, sizeof host, &port, err, sizeof err);
    if (rc < 0) {
        route_failed(l, rc, err);
        return;
    }
    if (strcmp(host, l->node.host) == 0 && port == l->node.port) {
        l->hops = 0;
        became_up(l);
        return;
    }
    if (++l->hops > CLUSTER_ROUTE_MAX_HOPS) {
        snprintf(err, sizeof err, "slot %u: more than %d redirects (last: %s:%d)", l->route_slot,
                 CLUSTER_ROUTE_MAX_HOPS, host, port);
        route_failed(l, INVQ_EIO, err);
        return;
    }
    drop(l);
    redis_url_deinit(&l->node);
    if (redis_url_cluster_node(l->o.url, host, port, &l->node) < 0) {
        set_error(l, INVQ_ENOMEM, "out of memory");
        schedule_retry(l, RLINK_EV_CONNECT_FAILED);
        return;
    }
    open_node(l, &l->node);
}

static void check_route(rlink *l)
{
    static const char *argv[2] = { "CLUSTER", "SLOTS" };
    static const size_t lens[2] = { 7, 5 };
    if (uvredis_command_argv(l->r, 2, argv, lens, on_route_slots, l) < 0)
        route_failed(l, INVQ_EIO, "CLUSTER SLOTS could not be sent");
}

/* A routed link's command: the owner's callback, then a -MOVED reset. */
typedef struct routed_cmd {
    rlink *l;
    uvredis_reply_cb cb;
    void *data;
} routed_cmd;

static void on_routed_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    routed_cmd rc = *(routed_cmd *)data;
    free(data);
    if (rc.cb)
        rc.cb(r, status, reply, rc.data);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
        strncmp(reply->str, "MOVED ", 6) == 0 && rc.l->r == r && rc.l->up && !rc.l->closing) {
        char why[512];
        snprintf(why, sizeof why, "slot %u moved: %s", rc.l->route_slot, reply->str);
        rlink_reset(rc.l, why);
    }
}

static void connect_now(rlink *l)
{
    l->node_tries = 0;
    l->hops = 0;
    if (l->sl)
        discover(l);
    else if (redis_url_is_cluster(l->o.url) && (l->o.url->nnodes > 1 || l->routed))
        open_cluster_seed(l);
    else
        open_node(l, l->o.url);
}

void rlink_start(rlink *l)
{
    connect_now(l);
}

int rlink_command(rlink *l, int argc, const char **argv, const size_t *lens, uvredis_reply_cb cb, void *data)
{
    if (l->r == NULL || !l->up)
        return INVQ_ECLOSED;
    if (!l->routed)
        return uvredis_command_argv(l->r, argc, argv, lens, cb, data);
    routed_cmd *w = malloc(sizeof *w);
    if (w == NULL)
        return INVQ_ENOMEM;
    *w = (routed_cmd){ l, cb, data };
    int rc = uvredis_command_argv(l->r, argc, argv, lens, on_routed_reply, w);
    if (rc < 0)
        free(w);
    return rc;
}

void rlink_reset(rlink *l, const char *why)
{
    if (l->r == NULL || l->closing)
        return;
    bool was = l->up;
    set_error(l, INVQ_EIO, why);
    l->up = false;
    drop(l);
    if (was)
        l->o.on_state(l, false, l->o.data);
    if (!l->closing)
        schedule_retry(l, RLINK_EV_RESET);
}

static void on_handle_closed(uv_handle_t *h)
{
    rlink *l = h->data;
    if (--l->pending_closes == 0 && l->close_cb != NULL)
        l->close_cb(l, l->close_data);
}

static void on_sl_closed(struct sentinel_link *s, void *data)
{
    rlink *l = data;
    if (--l->pending_closes == 0 && l->close_cb != NULL)
        l->close_cb(l, l->close_data);
}

void rlink_close(rlink *l, rlink_close_cb cb, void *data)
{
    l->closing = true;
    l->close_cb = cb;
    l->close_data = data;
    l->up = false;
    l->pending_closes += 2; /* the timers */
    drop(l);
    uv_close((uv_handle_t *)&l->timer, on_handle_closed);
    uv_close((uv_handle_t *)&l->watch, on_handle_closed);
    if (l->sl) {
        struct sentinel_link *s = l->sl;
        l->sl = NULL;
        l->pending_closes++;
        sentinel_link_close(s, on_sl_closed, l);
    }
    redis_url_deinit(&l->node);
}

const char *rlink_error(const rlink *l)
{
    return l->up ? "" : l->err;
}

int rlink_status(const rlink *l)
{
    return l->up ? 0 : l->err_status;
}
