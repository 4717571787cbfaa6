/* The cache target on a Redis Cluster (see cache_cluster.h): plans a batch
 * by slot, sends each command to its slot's master, follows MOVED and ASK,
 * holds what the cluster cannot take right now, and WAITs for replicas when
 * asked to. An apply runs in rounds: every command without its result is
 * sent; when the round's replies are in, redirected commands go again at
 * once, held ones after a backoff. */
#include "cache_cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cache_target.h"
#include "cluster_map.h"
#include "errclass.h"
#include "log.h"
#include "reserve.h"
#include "rng.h"

#define HOLD_BASE_MS 25
#define HOLD_MAX_MS 1000

typedef struct cc_node {
    cache_cluster *cc;
    unsigned idx;
    rlink link;
    redis_url url;   /* owned: the node with the cluster URL's credentials and TLS */
    char desc[300];
    unsigned epoch;  /* bumps every time the link comes up */
    bool warned;     /* its failure was logged: log when it is back */
} cc_node;

typedef struct cc_cmd {
    cache_cluster *cc;
    uint16_t slot;
    uint16_t ask;    /* node index + 1 of an ASK redirect to follow once; 0: none */
    uint16_t node;   /* where it was last sent */
    uint8_t hops;
    bool done;       /* its entries have their final result */
    unsigned epoch;  /* the node's epoch when sent */
} cc_cmd;

typedef struct cc_order {
    uint32_t slot, i;
} cc_order;

struct cache_cluster {
    cache_cluster_opts o;
    cluster_map map;
    cc_node **nodes; /* parallel to map.nodes; NULL until a command needs the node */
    size_t cap_nodes;
    struct cache_target *t; /* the apply in progress; NULL when none */
    cc_cmd *cmds;
    size_t cap_cmds;
    cc_order *order;
    size_t cap_order;
    size_t outstanding;  /* replies awaited in this round (+1 while sending) */
    bool short_round;    /* something in this round must be sent again after the backoff */
    bool waited;         /* WAIT confirmed every node of this apply */
    bool waiting;        /* the round in flight is the WAIT round */
    const char *hold_why; /* static: why the last round was short */
    char hold_detail[256];
    unsigned held;       /* consecutive short rounds of this apply */
    uv_timer_t retry;
    /* map refreshes */
    uv_timer_t refresh_timer;
    bool refreshing, refresh_again;
    uint64_t last_refresh_ms;
    char refresh_host[256];
    unsigned refresh_next; /* the node link to ask next when the seed is down */
    rng rng;
    cache_cluster_stats stats;
    bool closing;
    int pending_closes;
    void (*close_cb)(void *data);
    void *close_data;
};

static void step(cache_cluster *cc);
static void refresh(cache_cluster *cc);

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

int cache_cluster_new(const cache_cluster_opts *o, cache_cluster **out)
{
    cache_cluster *cc = calloc(1, sizeof *cc);
    if (cc == NULL)
        return -ENOMEM;
    cc->o = *o;
    cmap_init(&cc->map);
    rng_init(&cc->rng);
    uv_timer_init(o->loop, &cc->retry);
    cc->retry.data = cc;
    uv_timer_init(o->loop, &cc->refresh_timer);
    cc->refresh_timer.data = cc;
    *out = cc;
    return 0;
}

void cache_cluster_free(cache_cluster *cc)
{
    if (cc == NULL)
        return;
    for (size_t i = 0; i < cc->map.nnodes && i < cc->cap_nodes; i++) {
        if (cc->nodes[i] != NULL) {
            redis_url_deinit(&cc->nodes[i]->url);
            free(cc->nodes[i]);
        }
    }
    free(cc->nodes);
    free(cc->cmds);
    free(cc->order);
    cmap_deinit(&cc->map);
    free(cc);
}

const cache_cluster_stats *cache_cluster_get_stats(const cache_cluster *cc)
{
    return &cc->stats;
}

/* ---- node links ---- */

static void on_node_state(rlink *l, bool up, void *data)
{
    cc_node *n = data;
    cache_cluster *cc = n->cc;
    if (!up)
        return; /* its commands in flight come back with an error and are held */
    n->epoch++;
    /* a held round was waiting for a master: go now */
    if (cc->t != NULL && cc->outstanding == 0 && uv_is_active((uv_handle_t *)&cc->retry) && !cc->closing) {
        uv_timer_stop(&cc->retry);
        step(cc);
    }
}

static void on_node_event(rlink *l, const rlink_event *ev, void *data)
{
    cc_node *n = data;
    if ((ev->kind == RLINK_EV_CONNECT_FAILED || ev->kind == RLINK_EV_LOST) && !ev->repeated) {
        n->warned = true;
        log_event(LOG_WARN, "cache cluster node unreachable", LOG_S("consumer", n->cc->o.consumer),
                  LOG_S("node", n->desc), LOG_S("error", ev->error), LOG_N("retry_ms", ev->retry_ms));
    } else if (ev->kind == RLINK_EV_UP && n->warned) {
        n->warned = false;
        log_event(LOG_INFO, "cache cluster node connected", LOG_S("consumer", n->cc->o.consumer),
                  LOG_S("node", n->desc));
    }
}

/* Makes sure every node in the map has a slot in cc->nodes (NULL = not
 * connected yet). */
static int nodes_fit(cache_cluster *cc)
{
    size_t old = cc->cap_nodes;
    if (array_reserve((void **)&cc->nodes, &cc->cap_nodes, cc->map.nnodes, sizeof *cc->nodes, 8) < 0)
        return -ENOMEM;
    for (size_t i = old; i < cc->cap_nodes; i++)
        cc->nodes[i] = NULL;
    return 0;
}

/* The link to node idx, created and started the first time it is needed;
 * NULL when out of memory. */
static cc_node *node_get(cache_cluster *cc, unsigned idx)
{
    if (idx >= cc->map.nnodes || nodes_fit(cc) < 0)
        return NULL;
    if (cc->nodes[idx] != NULL)
        return cc->nodes[idx];
    cc_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->cc = cc;
    n->idx = idx;
    const cmap_node *m = &cc->map.nodes[idx];
    if (redis_url_cluster_node(cc->o.seed->o.url, m->host, m->port, &n->url) < 0) {
        free(n);
        return NULL;
    }
    redis_url_describe(&n->url, n->desc, sizeof n->desc);
    rlink_opts o = cc->o.seed->o;
    o.url = &n->url;
    o.url_text = n->desc;
    /* WAIT blocks up to its timeout: the command timeout must outlast it */
    o.command_timeout_ms += (int)cc->o.wait_timeout_ms;
    o.on_state = on_node_state;
    o.on_event = on_node_event;
    o.data = n;
    if (rlink_init(&n->link, cc->o.loop, &o) < 0) {
        redis_url_deinit(&n->url);
        free(n);
        return NULL;
    }
    cc->nodes[idx] = n;
    rlink_start(&n->link);
    return n;
}

/* ---- the slot map ---- */

static void on_refresh_timer(uv_timer_t *h)
{
    refresh(h->data);
}

static void on_slots(uvredis *r, int status, redisReply *reply, void *data)
{
    cache_cluster *cc = data;
    cc->refreshing = false;
    if (cc->closing)
        return;
    char err[256] = "";
    int served = -1;
    if (status < 0 || reply == NULL)
        snprintf(err, sizeof err, "CLUSTER SLOTS: %s", uvredis_errstr(r));
    else if (reply->type == REDIS_REPLY_ERROR)
        snprintf(err, sizeof err, "CLUSTER SLOTS: %.*s", (int)reply->len, reply->str);
    else if ((served = cmap_load(&cc->map, reply, cc->refresh_host, err, sizeof err)) >= 0 && nodes_fit(cc) < 0)
        served = -1;
    if (served >= 0) {
        cc->stats.refreshes++;
        if (served < CLUSTER_SLOTS)
            log_event(LOG_DEBUG, "cache cluster map incomplete", LOG_S("consumer", cc->o.consumer),
                      LOG_N("slots_served", served));
    } else {
        log_event(LOG_DEBUG, "cache cluster map refresh failed", LOG_S("consumer", cc->o.consumer),
                  LOG_S("node", cc->refresh_host), LOG_S("error", err));
        cc->refresh_again = true; /* ask another node */
    }
    if (cc->refresh_again) {
        cc->refresh_again = false;
        refresh(cc);
    }
    if (cc->t != NULL && cc->outstanding == 0 && !uv_is_active((uv_handle_t *)&cc->retry) && !cc->refreshing)
        step(cc);
}

/* A link to ask CLUSTER SLOTS: the seed when up, else the next node link
 * that is up; the host it is connected to goes to cc->refresh_host. */
static rlink *refresh_link(cache_cluster *cc)
{
    rlink *s = cc->o.seed;
    if (s->up) {
        const redis_url *u = s->node.host != NULL ? &s->node : s->o.url;
        snprintf(cc->refresh_host, sizeof cc->refresh_host, "%s", u->host != NULL ? u->host : "");
        return s;
    }
    for (size_t k = 0; k < cc->map.nnodes; k++) {
        size_t i = (cc->refresh_next + k) % cc->map.nnodes;
        if (i < cc->cap_nodes && cc->nodes[i] != NULL && cc->nodes[i]->link.up) {
            cc->refresh_next = (unsigned)(i + 1);
            snprintf(cc->refresh_host, sizeof cc->refresh_host, "%s", cc->nodes[i]->url.host);
            return &cc->nodes[i]->link;
        }
    }
    return NULL;
}

/* Single-flight and throttled: at most one CLUSTER SLOTS in flight, at most
 * one every CC_REFRESH_MIN_MS; a request meanwhile is served by the next. */
static void refresh(cache_cluster *cc)
{
    if (cc->closing)
        return;
    if (cc->refreshing) {
        cc->refresh_again = true;
        return;
    }
    if (uv_is_active((uv_handle_t *)&cc->refresh_timer))
        return;
    uint64_t now = now_ms();
    if (cc->last_refresh_ms != 0 && now - cc->last_refresh_ms < CC_REFRESH_MIN_MS) {
        uv_timer_start(&cc->refresh_timer, on_refresh_timer, CC_REFRESH_MIN_MS - (now - cc->last_refresh_ms), 0);
        return;
    }
    rlink *l = refresh_link(cc);
    if (l == NULL) {
        /* nothing is up: try again later (the links reconnect by themselves) */
        uv_timer_start(&cc->refresh_timer, on_refresh_timer, HOLD_MAX_MS, 0);
        return;
    }
    static const char *argv[] = { "CLUSTER", "SLOTS" };
    static const size_t lens[] = { 7, 5 };
    cc->last_refresh_ms = now;
    if (rlink_command(l, 2, argv, lens, on_slots, cc) == 0)
        cc->refreshing = true;
    else
        uv_timer_start(&cc->refresh_timer, on_refresh_timer, CC_REFRESH_MIN_MS, 0);
}

/* ---- planning ---- */

static bool is_del(const cache_entry *e)
{
    return e->op == JOB_OP_DEL && e->action == ENTRY_APPLY;
}

static int by_slot(const void *a, const void *b)
{
    const cc_order *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* t->cmds / t->idx by slot: DEL chunks of one slot each (up to
 * CACHE_DEL_CHUNK keys), then one command per other entry; cc->cmds in
 * parallel. */
static int plan(cache_cluster *cc, cache_target *t)
{
    size_t n = t->nentries, ndel = 0;
    if (array_reserve((void **)&cc->order, &cc->cap_order, n, sizeof *cc->order, 256) < 0 ||
        array_reserve((void **)&t->idx, &t->cap_idx, n, sizeof *t->idx, 256) < 0 ||
        array_reserve((void **)&t->results, &t->cap_results, n, sizeof *t->results, 256) < 0 ||
        array_reserve((void **)&t->cmds, &t->cap_cmds, n, sizeof *t->cmds, 256) < 0 ||
        array_reserve((void **)&cc->cmds, &cc->cap_cmds, n, sizeof *cc->cmds, 256) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (is_del(&t->entries[i]))
            cc->order[ndel++] = (cc_order){ cluster_keyslot(t->entries[i].key, t->entries[i].len), (uint32_t)i };
    qsort(cc->order, ndel, sizeof *cc->order, by_slot);
    size_t k = 0;
    t->ncmds = 0;
    for (size_t j = 0; j < ndel; j++) {
        cache_cmd *last = t->ncmds > 0 ? &t->cmds[t->ncmds - 1] : NULL;
        if (last == NULL || last->count == CACHE_DEL_CHUNK || cc->cmds[t->ncmds - 1].slot != cc->order[j].slot) {
            cc->cmds[t->ncmds] = (cc_cmd){ .cc = cc, .slot = (uint16_t)cc->order[j].slot };
            t->cmds[t->ncmds++] = (cache_cmd){ t, (uint32_t)k, 0 };
        }
        t->idx[k++] = cc->order[j].i;
        t->cmds[t->ncmds - 1].count++;
    }
    for (size_t i = 0; i < n; i++) {
        const cache_entry *e = &t->entries[i];
        if (is_del(e) || e->action == ENTRY_COUNT)
            continue;
        cc->cmds[t->ncmds] = (cc_cmd){ .cc = cc, .slot = (uint16_t)cluster_keyslot(e->key, e->len) };
        t->cmds[t->ncmds++] = (cache_cmd){ t, (uint32_t)k, 1 };
        t->idx[k++] = (uint32_t)i;
    }
    return 0;
}

/* ---- rounds ---- */

static void set_results(cache_target *t, size_t ci, cache_status st, const char *code, const char *msg)
{
    const cache_cmd *c = &t->cmds[ci];
    for (uint32_t i = 0; i < c->count; i++)
        t->results[t->idx[c->first + i]] = (cache_result){ st, code, msg, false };
}

static void finish(cache_cluster *cc, int status)
{
    cache_target *t = cc->t;
    cc->t = NULL;
    if (cc->held > 0 && status == 0)
        log_event(LOG_INFO, "cache cluster batch released", LOG_S("consumer", cc->o.consumer),
                  LOG_N("held_rounds", cc->held));
    t->cb(t, status, t->data);
}

static void hold(cache_cluster *cc, const char *why, const char *detail, size_t dlen)
{
    cc->short_round = true;
    cc->hold_why = why;
    snprintf(cc->hold_detail, sizeof cc->hold_detail, "%.*s", (int)(dlen > 200 ? 200 : dlen), detail);
}

static void on_retry(uv_timer_t *h)
{
    step(h->data);
}

/* The round's last reply is in (or nothing was sent). */
static void round_end(cache_cluster *cc)
{
    if (--cc->outstanding > 0)
        return;
    if (cc->closing) {
        finish(cc, CACHE_LOST);
        return;
    }
    if (!cc->short_round) {
        step(cc);
        return;
    }
    cc->short_round = false;
    cc->held++;
    cc->stats.held_rounds++;
    if ((cc->held == 1 || cc->held % 50 == 0) && strcmp(cc->hold_why, "node_connecting") != 0)
        log_event(LOG_WARN, "cache cluster batch held", LOG_S("consumer", cc->o.consumer),
                  LOG_S("reason", cc->hold_why), LOG_S("error", cc->hold_detail), LOG_N("rounds", cc->held));
    uint64_t d = backoff_reconnect(&cc->rng, HOLD_BASE_MS, HOLD_MAX_MS, cc->held);
    uv_timer_start(&cc->retry, on_retry, d, 0);
}

static bool held_error(const char *s, size_t len, bool *want_refresh)
{
    static const struct {
        const char *word;
        bool refresh;
    } words[] = { { "TRYAGAIN", false }, { "CLUSTERDOWN", true }, { "LOADING", true },
                  { "MASTERDOWN", true }, { "READONLY", true } };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if (len >= n && memcmp(s, words[i].word, n) == 0 && (len == n || s[n] == ' ')) {
            *want_refresh = words[i].refresh;
            return true;
        }
    }
    return false;
}

static void on_cmd_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    cc_cmd *c = data;
    cache_cluster *cc = c->cc;
    cache_target *t = cc->t;
    size_t ci = (size_t)(c - cc->cmds);
    bool want_refresh = false;
    c->ask = 0; /* an ASK is followed once */
    if (status < 0 || reply == NULL) {
        /* the master went away (or the link closes): hold, and find out who serves the slot now */
        hold(cc, "node_lost", uvredis_errstr(r), strlen(uvredis_errstr(r)));
        want_refresh = true;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        cluster_redirect rd;
        if (cluster_parse_redirect(reply->str, reply->len, &rd)) {
            const char *host = rd.host[0] ? rd.host : cc->map.nodes[c->node].host;
            int idx = cmap_add_node(&cc->map, host, rd.port);
            if (idx < 0 || nodes_fit(cc) < 0) {
                hold(cc, "out_of_memory", "", 0);
            } else if (++c->hops > CC_MAX_HOPS) {
                hold(cc, "redirect_loop", reply->str, reply->len);
                c->hops = 0;
                want_refresh = true;
            } else if (rd.ask) {
                cc->stats.ask++;
                c->ask = (uint16_t)(idx + 1);
            } else {
                cc->stats.moved++;
                cmap_set(&cc->map, rd.slot, (unsigned)idx);
                want_refresh = true;
            }
            log_event(LOG_DEBUG, "cache cluster redirect", LOG_S("consumer", cc->o.consumer),
                      LOG_S("reply", reply->str), LOG_N("hops", c->hops));
        } else if (held_error(reply->str, reply->len, &want_refresh)) {
            hold(cc, "cluster_busy", reply->str, reply->len);
        } else {
            errclass ec = errclass_of(reply->str, reply->len);
            const char *msg = cache_target_keep_msg(t, reply->str, reply->len);
            set_results(t, ci, ec.transient ? CACHE_TRANSIENT : CACHE_PERMANENT, ec.code, msg);
            c->done = true;
        }
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        set_results(t, ci, CACHE_OK, NULL, NULL);
        const cache_cmd *tc = &t->cmds[ci];
        if (tc->count == 1 && t->entries[t->idx[tc->first]].action == ENTRY_PROBE)
            t->results[t->idx[tc->first]].hit = reply->integer > 0;
        c->done = true;
    } else {
        set_results(t, ci, CACHE_PERMANENT, "bad_reply", "unexpected reply type from the cache");
        c->done = true;
    }
    if (want_refresh)
        refresh(cc);
    round_end(cc);
}

static void on_wait_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    cc_node *n = data;
    cache_cluster *cc = n->cc;
    cache_target *t = cc->t;
    bool ok = status == 0 && reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
              reply->integer >= (long long)cc->o.wait_replicas;
    if (!ok) {
        char why[512];
        if (status < 0 || reply == NULL)
            snprintf(why, sizeof why, "WAIT on %s: %s", n->desc, uvredis_errstr(r));
        else if (reply->type == REDIS_REPLY_INTEGER)
            snprintf(why, sizeof why, "WAIT on %s: %lld of %u replicas confirmed", n->desc, reply->integer,
                     cc->o.wait_replicas);
        else
            snprintf(why, sizeof why, "WAIT on %s: %.*s", n->desc, reply->type == REDIS_REPLY_ERROR ? (int)reply->len : 0,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        cc->stats.waits_short++;
        hold(cc, "wait_replicas", why, strlen(why));
        /* what this node applied is not known to be replicated: apply it again */
        for (size_t i = 0; i < t->ncmds; i++)
            if (cc->cmds[i].node == n->idx)
                cc->cmds[i].done = false;
    }
    round_end(cc);
}

static void send_round(cache_cluster *cc);

/* Asks WAIT of every node written to (a command sent on a connection that
 * has been replaced since goes again first). */
static void send_waits(cache_cluster *cc)
{
    cache_target *t = cc->t;
    bool again = false;
    /* a command sent on an earlier connection is not covered by WAIT on this one */
    for (size_t i = 0; i < t->ncmds; i++) {
        cc_cmd *c = &cc->cmds[i];
        cc_node *n = c->node < cc->cap_nodes ? cc->nodes[c->node] : NULL;
        if (n == NULL || !n->link.up || n->epoch != c->epoch) {
            c->done = false;
            again = true;
        }
    }
    if (again) {
        send_round(cc);
        return;
    }
    char num[24], ms[24];
    snprintf(num, sizeof num, "%u", cc->o.wait_replicas);
    snprintf(ms, sizeof ms, "%" PRIu64, cc->o.wait_timeout_ms);
    const char *argv[] = { "WAIT", num, ms };
    const size_t lens[] = { 4, strlen(num), strlen(ms) };
    cc->outstanding = 1;
    cc->waiting = true;
    for (size_t k = 0; k < cc->map.nnodes && k < cc->cap_nodes; k++) {
        cc_node *n = cc->nodes[k];
        bool touched = false;
        for (size_t i = 0; i < t->ncmds && !touched; i++)
            touched = cc->cmds[i].node == k;
        if (n == NULL || !touched)
            continue;
        if (rlink_command(&n->link, 3, argv, lens, on_wait_reply, n) == 0) {
            cc->outstanding++;
        } else {
            hold(cc, "node_lost", n->desc, strlen(n->desc));
            for (size_t i = 0; i < t->ncmds; i++)
                if (cc->cmds[i].node == k)
                    cc->cmds[i].done = false;
        }
    }
    round_end(cc);
}

static void send_round(cache_cluster *cc)
{
    cache_target *t = cc->t;
    cc->outstanding = 1; /* held while sending */
    cc->waiting = false;
    for (size_t i = 0; i < t->ncmds; i++) {
        cc_cmd *c = &cc->cmds[i];
        if (c->done)
            continue;
        unsigned idx = c->ask ? (unsigned)c->ask - 1 : cmap_owner(&cc->map, c->slot);
        if (idx == CMAP_NONE) {
            hold(cc, "slot_unserved", "no master serves the slot", 25);
            refresh(cc);
            continue;
        }
        cc_node *n = node_get(cc, idx);
        if (n == NULL) {
            hold(cc, "out_of_memory", "", 0);
            continue;
        }
        if (!n->link.up) {
            const char *e = rlink_error(&n->link);
            hold(cc, n->link.was_up || e[0] ? "node_down" : "node_connecting", e, strlen(e));
            refresh(cc);
            continue;
        }
        if (cache_target_build_argv(t, &t->cmds[i]) < 0) {
            hold(cc, "out_of_memory", "", 0);
            continue;
        }
        if (c->ask) {
            static const char *asking[] = { "ASKING" };
            static const size_t alen[] = { 6 };
            if (rlink_command(&n->link, 1, asking, alen, NULL, NULL) < 0) {
                hold(cc, "node_down", n->desc, strlen(n->desc));
                continue;
            }
        }
        if (rlink_command(&n->link, (int)t->argv.n, t->argv.argv, t->argv.lens, on_cmd_reply, c) < 0) {
            hold(cc, "node_down", n->desc, strlen(n->desc));
            continue;
        }
        c->node = (uint16_t)idx;
        c->epoch = n->epoch;
        cc->outstanding++;
    }
    round_end(cc);
}

/* The next move of the apply in progress (nothing in flight). */
static void step(cache_cluster *cc)
{
    cache_target *t = cc->t;
    if (t == NULL || cc->closing)
        return;
    if (cc->map.loads == 0) {
        refresh(cc); /* on_slots steps again */
        if (!cc->refreshing && !uv_is_active((uv_handle_t *)&cc->retry) &&
            !uv_is_active((uv_handle_t *)&cc->refresh_timer)) {
            cc->held++;
            uv_timer_start(&cc->retry, on_retry, HOLD_MAX_MS, 0);
        }
        return;
    }
    bool all = true;
    for (size_t i = 0; i < t->ncmds && all; i++)
        all = cc->cmds[i].done;
    if (!all) {
        cc->waited = false;
        send_round(cc);
        return;
    }
    if (cc->o.wait_replicas > 0 && !cc->waited) {
        if (cc->waiting) { /* the WAIT round just ended with every node confirmed */
            cc->waited = true;
            cc->waiting = false;
        } else {
            send_waits(cc);
            return;
        }
    }
    finish(cc, 0);
}

int cache_cluster_apply(cache_cluster *cc, cache_target *t)
{
    if (cc->closing)
        return CACHE_LOST;
    int rc = plan(cc, t);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < t->nentries; i++)
        t->results[i] = t->entries[i].action == ENTRY_COUNT ? (cache_result){ CACHE_OK, NULL, NULL, false }
                                                            : (cache_result){ CACHE_TRANSIENT, "lost", "no reply", false };
    cc->t = t;
    cc->held = 0;
    cc->waited = false;
    cc->waiting = false;
    cc->short_round = false;
    cc->outstanding = 0;
    step(cc);
    return 0;
}

/* ---- close ---- */

static void closed_one(cache_cluster *cc)
{
    if (--cc->pending_closes == 0) {
        log_event(LOG_DEBUG, "cache cluster closed", LOG_S("consumer", cc->o.consumer),
                  LOG_N("moved", cc->stats.moved), LOG_N("ask", cc->stats.ask),
                  LOG_N("refreshes", cc->stats.refreshes), LOG_N("held_rounds", cc->stats.held_rounds),
                  LOG_N("waits_short", cc->stats.waits_short));
        if (cc->close_cb != NULL)
            cc->close_cb(cc->close_data);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

static void on_link_closed(rlink *l, void *data)
{
    cc_node *n = data;
    closed_one(n->cc);
}

void cache_cluster_close(cache_cluster *cc, void (*cb)(void *data), void *data)
{
    cc->closing = true;
    cc->close_cb = cb;
    cc->close_data = data;
    cc->pending_closes = 3; /* two timers, and this call's own hold */
    uv_close((uv_handle_t *)&cc->retry, on_timer_closed);
    uv_close((uv_handle_t *)&cc->refresh_timer, on_timer_closed);
    for (size_t i = 0; i < cc->map.nnodes && i < cc->cap_nodes; i++) {
        if (cc->nodes[i] != NULL) {
            cc->pending_closes++;
            rlink_close(&cc->nodes[i]->link, on_link_closed, cc->nodes[i]);
        }
    }
    /* an apply waiting on its backoff has nothing in flight to end it */
    if (cc->t != NULL && cc->outstanding == 0)
        finish(cc, CACHE_LOST);
    closed_one(cc);
}
