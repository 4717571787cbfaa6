/* The worker pool: consumers on one loop, and the control connection's
 * periodic work (register + heartbeat, promote, reap, sample), the circuit
 * breaker and graceful shutdown. */
#include "pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef INVQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

#define PROMOTE_EVERY_MS 100
#define PROMOTE_PAGE 1000
#define SAMPLE_EVERY_MS 5000
#define SAMPLE_RETRY_MS 250
#define CLOSE_DEADLINE_MS 2000

/* The queue Redis's clock, as far as the worker knows it: the host's wall
 * clock plus the offset learned from the last heartbeat (heartbeat.lua
 * returns the server's TIME). INVQ_TEST_CLOCK_SKEW_MS (tests only) shifts
 * the host clock to play a host whose clock is off. */
static int64_t clock_offset_ms;
static bool clock_known;

static int64_t host_now_ms(void)
{
    static bool skew_read;
    static int64_t skew;
    if (!skew_read) {
        const char *e = getenv("INVQ_TEST_CLOCK_SKEW_MS");
        skew = e != NULL ? strtoll(e, NULL, 10) : 0;
        skew_read = true;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)ts.tv_nsec / 1000000 + skew;
}

uint64_t pool_now_ms(void)
{
    int64_t t = host_now_ms() + clock_offset_ms;
    return t > 0 ? (uint64_t)t : 0;
}

static void notify(const char *state)
{
#ifdef INVQ_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

bool pool_may_fetch(const pool *p)
{
    return p->registered && !p->draining && !p->breaker_open && !p->closing;
}

static void kick_all(pool *p)
{
    for (unsigned i = 0; i < p->n; i++)
        consumer_kick(&p->consumers[i]);
}

static void set_connected(pool *p)
{
    if (p->m == NULL)
        return;
    /* the queue counts as connected once its control link could load the
     * scripts: a link that connects and fails at once (NOAUTH) is not; a
     * sharded queue once every shard's is */
    bool queue = true, cache = true;
    for (unsigned i = 0; i < p->ngroup; i++) {
        queue = queue && p->group[i].queue_down == 0 && p->group[i].control_ready;
        cache = cache && p->group[i].cache_down == 0;
    }
    metrics_set_connected(p->m, "queue", queue);
    metrics_set_connected(p->m, "cache", cache);
}

void pool_group(pool *pools, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        pools[i].group = pools;
        pools[i].ngroup = n;
    }
}

/* The group's sums of what its pools sampled last. */
static void publish_depths(pool *p)
{
    uint64_t d[4] = { 0, 0, 0, 0 };
    for (unsigned i = 0; i < p->ngroup; i++)
        for (int k = 0; k < 4; k++)
            d[k] += p->group[i].depth[k];
    metrics_set_depths(p->m, d[0], d[1], d[2], d[3]);
    for (unsigned t = 0; t < p->ntotals; t++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < p->ngroup; i++) {
            const pool *o = &p->group[i];
            for (unsigned j = 0; j < o->ntotals; j++)
                if (strcmp(o->total_name[j], p->total_name[t]) == 0)
                    sum += o->total_value[j];
        }
        metrics_set_queue_total(p->m, p->total_name[t], sum);
    }
}

void pool_consumer_link(pool *p, consumer *c, rlink *l, bool up)
{
    if (l == &c->c) {
        if (up)
            p->cache_down--;
        else
            p->cache_down++;
        if (up && l->ups > 1 && p->m != NULL)
            metrics_reconnect(p->m, "cache");
        bool open = p->cache_down > 0;
        if (open != p->breaker_open) {
            p->breaker_open = open;
            if (p->m != NULL)
                metrics_set_breaker_open(p->m, open);
            /* while the cache keeps being reset after connecting (a node
             * that is not a writable master: READONLY, LOADING, ...), each
             * round is not news: the incident is its first line and
             * "cache redis connected" once a connection stays up */
            bool quiet = p->link_reset[1] && p->link_err[1][0] != '\0' && !p->link_back[1];
            if (open && p->cache_was_up)
                log_event(quiet ? LOG_DEBUG : LOG_WARN, "circuit breaker open: cache redis unreachable, fetching paused",
                          LOG_S("url", p->cdesc));
            else if (!open && p->cache_was_up)
                log_event(quiet ? LOG_DEBUG : LOG_INFO, "circuit breaker closed: cache redis is back",
                          LOG_S("url", p->cdesc));
            if (!open) {
                p->cache_was_up = true;
                kick_all(p);
            }
        }
    } else {
        if (up)
            p->queue_down--;
        else
            p->queue_down++;
        if (up && l->ups > 1 && p->m != NULL)
            metrics_reconnect(p->m, "queue");
    }
    set_connected(p);
}

/* Sentinel named another master on one link: every link to that same
 * Sentinel master goes there now, so no batch is fetched on the new master
 * and applied on the old one. */
static void follow_one(rlink *l, rlink *from, const char *from_desc, const char *why)
{
    char d[1024];
    if (l == from || !l->up || !redis_url_is_sentinel(l->o.url))
        return;
    redis_url_describe(l->o.url, d, sizeof d);
    if (strcmp(d, from_desc) == 0)
        rlink_reset(l, why);
}

static void follow_master_switch(pool *p, rlink *from, const char *why)
{
    char a[1024];
    redis_url_describe(from->o.url, a, sizeof a);
    follow_one(&p->control, from, a, why);
    for (unsigned i = 0; i < p->n; i++) {
        follow_one(&p->consumers[i].q, from, a, why);
        follow_one(&p->consumers[i].c, from, a, why);
    }
}

void pool_link_event(pool *p, rlink *l, const rlink_event *ev)
{
    int t = strcmp(l->o.target, "cache") == 0;
    const char *url = t ? p->cdesc : p->qdesc;
    char msg[64];
    /* After an error of the link itself, "connected" is news at once; after
     * a reset by its owner (an error right after connecting) only once the
     * connection stayed up (STABLE). */
    if ((ev->kind == RLINK_EV_UP && !p->link_reset[t]) || ev->kind == RLINK_EV_STABLE) {
        if (p->link_err[t][0] && !p->link_back[t]) {
            p->link_back[t] = true;
            snprintf(msg, sizeof msg, "%s redis connected", l->o.target);
            log_event(LOG_INFO, msg, LOG_S("url", url), LOG_S("node", ev->addr), LOG_N("failures", ev->failures));
        }
        if (ev->kind == RLINK_EV_STABLE) {
            p->link_err[t][0] = '\0';
            p->link_back[t] = false;
            if (p->m != NULL)
                metrics_set_conn_error(p->m, l->o.target, NULL);
        }
        return;
    }
    if (ev->kind == RLINK_EV_UP) {
        log_event(LOG_DEBUG, "redis connected", LOG_S("target", l->o.target), LOG_S("node", ev->addr));
        return;
    }
    const char *what = ev->kind == RLINK_EV_CONNECT_FAILED ? "unreachable"
                       : ev->kind == RLINK_EV_LOST         ? "connection lost"
                                                           : "connection reset";
    if (p->m != NULL)
        metrics_set_conn_error(p->m, l->o.target, ev->error);
    if (ev->master_switch)
        follow_master_switch(p, l, ev->error);
    snprintf(msg, sizeof msg, "%s redis %s", l->o.target, what);
    if (strcmp(p->link_err[t], ev->error) == 0) {
        /* the same error again: retries are not news */
        log_event(LOG_DEBUG, msg, LOG_S("url", url), LOG_S("error", ev->error), LOG_N("failures", ev->failures),
                  LOG_N("retry_ms", ev->retry_ms));
        return;
    }
    snprintf(p->link_err[t], sizeof p->link_err[t], "%s", ev->error);
    p->link_back[t] = false;
    p->link_reset[t] = ev->kind == RLINK_EV_RESET;
    log_event(LOG_WARN, msg, LOG_S("url", url), LOG_S("error", ev->error), LOG_N("failures", ev->failures),
              LOG_N("retry_ms", ev->retry_ms));
}

/* ---- control connection: heartbeat, promote, reap, sample ---- */

static int control_cmd(pool *p, int argc, const char **argv, uvredis_reply_cb cb, void *data)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return rlink_command(&p->control, argc, argv, lens, cb, data);
}

static void control_reload(pool *p);

static size_t control_site(const pool *p, int site)
{
    return p->n + (size_t)site;
}

/* A reply of the control connection's periodic task `site` (`what`: its
 * script, for logs and metrics; `cmd`: the command for the reason when it
 * is not a script, else NULL). An error reply is a queue fault of that
 * site, cleared by its next success; the task runs again on its timer. */
static bool control_reply_ok(pool *p, int site, const char *what, const char *cmd, int status,
                             const redisReply *reply)
{
    if (status < 0 || reply == NULL)
        return false;
    if (scripts_is_noscript(reply)) {
        control_reload(p);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (qfault_means_reconnect(reply->str)) {
            log_event(LOG_ERROR, "queue command failed", LOG_S("command", what), LOG_S("error", reply->str));
            rlink_reset(&p->control, reply->str);
            return false;
        }
        char reason[QFAULT_REASON_MAX];
        qfault_reason(reason, sizeof reason, cmd != NULL ? cmd : what, reply->str);
        qfault_set(&p->faults, control_site(p, site), what, reason);
        return false;
    }
    qfault_clear(&p->faults, control_site(p, site));
    return true;
}

void pool_diverted(pool *p, const char *who, const redisReply *diverted)
{
    for (size_t i = 0; i + 1 < diverted->elements; i += 2) {
        const redisReply *key = diverted->element[i], *size = diverted->element[i + 1];
        if (key->type != REDIS_REPLY_STRING || size->type != REDIS_REPLY_INTEGER)
            continue;
        char reason[160];
        snprintf(reason, sizeof reason, "too_large: (payload): payload is %lld bytes, limit %zu", size->integer,
                 p->cfg->limits.max_payload);
        log_event(LOG_WARN, "job dead-lettered", LOG_N("attempt", 1), LOG_S("reason", reason),
                  LOG_S("job_key", key->str), LOG_S("consumer", who));
        if (p->m != NULL) {
            metrics_dead_letter(p->m, "too_large");
            metrics_jobs_finished(p->m, "dead", 1);
        }
    }
}

static void on_heartbeat(uvredis *r, int status, redisReply *reply, void *data)
{
    pool *p = data;
    if (!control_reply_ok(p, POOL_SITE_HEARTBEAT, "heartbeat", NULL, status, reply))
        return;
    if (reply->type == REDIS_REPLY_INTEGER) {
        /* the server's clock when it ran the script: half-way through the
         * round trip on ours */
        int64_t now = host_now_ms();
        clock_offset_ms = reply->integer - (p->heartbeat_sent_ms + now) / 2;
        clock_known = true;
    }
    if (!p->registered) {
        p->registered = true;
        if (!p->was_registered) {
            p->was_registered = true;
            log_event(LOG_INFO, "worker ready", LOG_S("queue", p->keys.prefix), LOG_N("consumers", p->n),
                      LOG_S("consumer", p->start_tag));
            bool all = true;
            for (unsigned i = 0; i < p->ngroup; i++)
                all = all && p->group[i].was_registered;
            if (all)
                notify("READY=1");
        }
        kick_all(p);
    }
}

static void send_heartbeat(pool *p)
{
    if (!p->control_ready || p->releasing || p->closing)
        return;
    /* EVALSHA heartbeat 1 consumers id1 id2 ...: scored by the server's clock */
    size_t argc = 4 + (size_t)p->n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        return;
    }
    argv[0] = "EVALSHA";
    argv[1] = p->sc.sha[SCRIPT_HEARTBEAT];
    argv[2] = "1";
    argv[3] = p->keys.consumers;
    for (unsigned i = 0; i < p->n; i++)
        argv[4 + i] = p->consumers[i].id;
    p->heartbeat_sent_ms = host_now_ms();
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rlink_command(&p->control, (int)argc, argv, lens, on_heartbeat, p);
    free(argv);
    free(lens);
}

static void on_heartbeat_timer(uv_timer_t *t)
{
    send_heartbeat(t->data);
}

static void send_promote(pool *p);

static void on_promoted(uvredis *r, int status, redisReply *reply, void *data)
{
    pool *p = data;
    p->promoting = false;
    if (!control_reply_ok(p, POOL_SITE_PROMOTE, "promote", NULL, status, reply))
        return;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= PROMOTE_PAGE)
        send_promote(p); /* a full page: there may be more due */
}

static void send_promote(pool *p)
{
    if (!p->control_ready || p->promoting || p->closing)
        return;
    char now[24], page[24];
    snprintf(now, sizeof now, "%" PRIu64, pool_now_ms());
    snprintf(page, sizeof page, "%d", PROMOTE_PAGE);
    const char *argv[] = { "EVALSHA", p->sc.sha[SCRIPT_PROMOTE], "2", p->keys.delayed, p->keys.pending, now, page };
    if (control_cmd(p, 7, argv, on_promoted, p) == 0)
        p->promoting = true;
}

static void on_promote_timer(uv_timer_t *t)
{
    send_promote(t->data);
}

typedef struct reap_req {
    pool *p;
    char id[320];
} reap_req;

static void on_reaped(uvredis *r, int status, redisReply *reply, void *data)
{
    reap_req *req = data;
    pool *p = req->p;
    if (--p->reap_outstanding == 0)
        p->reaping = false;
    long long n = 0;
    if (control_reply_ok(p, POOL_SITE_REAP, "reap", NULL, status, reply) && consumer_release_reply(reply, &n)) {
        pool_diverted(p, p->start_tag, reply->element[1]);
        log_event(LOG_WARN, "dead consumer reaped: its jobs are back in pending", LOG_S("consumer", req->id),
                  LOG_N("jobs", n));
    }
    free(req);
}

static void on_dead_listed(uvredis *r, int status, redisReply *reply, void *data)
{
    pool *p = data;
    p->reap_outstanding = 1;
    if (control_reply_ok(p, POOL_SITE_REAP_LIST, "reap", p->reap_list_cmd, status, reply) &&
        reply->type == REDIS_REPLY_ARRAY) {
        char cutoff[24], limit[24], now[24];
        /* reap.lua compares with the server's clock itself */
        snprintf(cutoff, sizeof cutoff, "%" PRIu64, p->cfg->reap_after_ms);
        snprintf(limit, sizeof limit, "%zu", p->cfg->limits.max_payload);
        snprintf(now, sizeof now, "%" PRIu64, pool_now_ms());
        size_t tag = strlen(p->start_tag);
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            if (e->type != REDIS_REPLY_STRING || e->len >= sizeof ((reap_req *)0)->id)
                continue;
            if (strncmp(e->str, p->start_tag, tag) == 0 && e->str[tag] == '-')
                continue; /* never reap ourselves */
            reap_req *req = calloc(1, sizeof *req);
            char processing[512];
            if (req == NULL || qkeys_processing(&p->keys, e->str, processing, sizeof processing) < 0) {
                free(req);
                continue;
            }
            req->p = p;
            memcpy(req->id, e->str, e->len);
            const char *argv[] = { "EVALSHA",     p->sc.sha[SCRIPT_REAP], "6",          p->keys.consumers,
                                   processing,    p->keys.pending,        p->keys.reaped, p->keys.stats,
                                   p->keys.dead,  req->id,                cutoff,         limit,
                                   p->start_tag,  now,                    p->keys.oversized };
            if (control_cmd(p, 15, argv, on_reaped, req) == 0)
                p->reap_outstanding++;
            else
                free(req);
        }
    }
    if (--p->reap_outstanding == 0)
        p->reaping = false;
}

static void on_reap_timer(uv_timer_t *t)
{
    pool *p = t->data;
    /* candidates by the server's clock: known once a heartbeat answered */
    if (!p->control_ready || p->reaping || p->closing || !clock_known)
        return;
    char cutoff[24];
    snprintf(cutoff, sizeof cutoff, "%" PRIu64, pool_now_ms() - p->cfg->reap_after_ms);
    const char *argv[] = { "ZRANGEBYSCORE", p->keys.consumers, "-inf", cutoff };
    if (control_cmd(p, 4, argv, on_dead_listed, p) == 0)
        p->reaping = true;
}

static uint64_t reply_u64(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer > 0 ? (uint64_t)r->integer : 0;
    if (r->type == REDIS_REPLY_STRING)
        return strtoull(r->str, NULL, 10);
    return 0;
}

static void on_sample_timer(uv_timer_t *t);

static void on_sampled(uvredis *r, int status, redisReply *reply, void *data)
{
    pool *p = data;
    p->sampling = false;
    if (!control_reply_ok(p, POOL_SITE_SAMPLE, "sample", NULL, status, reply)) {
        /* a queue fault: look again soon, to see it fixed soon */
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !p->closing)
            uv_timer_start(&p->sample, on_sample_timer, SAMPLE_RETRY_MS, SAMPLE_EVERY_MS);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 || p->m == NULL)
        return;
    redisReply **e = reply->element;
    for (int k = 0; k < 4; k++)
        p->depth[k] = reply_u64(e[k]);
    p->ntotals = 0;
    if (e[4]->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < e[4]->elements; i += 2) {
            const redisReply *name = e[4]->element[i];
            if (name->type != REDIS_REPLY_STRING)
                continue;
            if (p->ngroup == 1) {
                metrics_set_queue_total(p->m, name->str, reply_u64(e[4]->element[i + 1]));
            } else if (p->ntotals < POOL_TOTALS_MAX && name->len < sizeof p->total_name[0]) {
                memcpy(p->total_name[p->ntotals], name->str, name->len + 1);
                p->total_value[p->ntotals++] = reply_u64(e[4]->element[i + 1]);
            }
        }
    }
    publish_depths(p);
}

static void on_sample_timer(uv_timer_t *t)
{
    pool *p = t->data;
    if (!p->control_ready || p->sampling || p->closing)
        return;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%sprocessing:", p->keys.prefix);
    const char *argv[] = { "EVALSHA", p->sc.sha[SCRIPT_SAMPLE], "5", p->keys.pending, p->keys.delayed,
                           p->keys.dead, p->keys.consumers, p->keys.stats, prefix };
    if (control_cmd(p, 9, argv, on_sampled, p) == 0)
        p->sampling = true;
}

static void start_timers(pool *p)
{
    if (p->timers_started)
        return;
    p->timers_started = true;
    uv_timer_start(&p->heartbeat, on_heartbeat_timer, p->cfg->heartbeat_ms, p->cfg->heartbeat_ms);
    uv_timer_start(&p->promote, on_promote_timer, PROMOTE_EVERY_MS, PROMOTE_EVERY_MS);
    uint64_t reap_every = p->cfg->reap_after_ms / 2;
    uv_timer_start(&p->reap, on_reap_timer, reap_every, reap_every);
    uv_timer_start(&p->sample, on_sample_timer, 0, SAMPLE_EVERY_MS);
}

static void on_control_scripts(int status, void *data)
{
    pool *p = data;
    if (status < 0) {
        rlink_reset(&p->control, p->sc.error);
        return;
    }
    p->control_ready = true;
    set_connected(p);
    send_heartbeat(p); /* registers the consumers before their first fetch */
    send_promote(p);
    start_timers(p);
    if (p->draining)
        pool_consumer_idle(p);
}

static void control_reload(pool *p)
{
    if (!p->control_ready)
        return;
    p->control_ready = false;
    if (scripts_load(&p->sc, &p->control, on_control_scripts, p) < 0)
        rlink_reset(&p->control, p->sc.error);
}

static void on_control_state(rlink *l, bool up, void *data)
{
    pool *p = data;
    if (up) {
        p->queue_down--;
        if (scripts_load(&p->sc, &p->control, on_control_scripts, p) < 0)
            rlink_reset(&p->control, p->sc.error);
    } else {
        p->queue_down++;
        p->control_ready = false;
        /* the queue Redis may have restarted without our registrations:
         * no new fetches until the consumers are registered again */
        p->registered = false;
        p->promoting = false;
        p->sampling = false;
    }
    set_connected(p);
}

static void on_control_event(rlink *l, const rlink_event *ev, void *data)
{
    pool_link_event(data, l, ev);
}

/* ---- shutdown ---- */

static void closed_one(pool *p)
{
    if (--p->open_handles == 0 && p->on_closed != NULL)
        p->on_closed(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

static void on_consumer_closed(consumer *c)
{
    closed_one(c->p);
}

static void on_control_closed(rlink *l, void *data)
{
    closed_one(data);
}

static void close_all(pool *p)
{
    if (p->closing)
        return;
    p->closing = true;
    p->exit_code = p->release_failed > 0 ? 1 : 0;
    uv_timer_t *timers[] = { &p->heartbeat, &p->promote, &p->reap, &p->sample, &p->grace };
    p->open_handles = 5 + p->n + 1;
    for (size_t i = 0; i < 5; i++)
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
    for (unsigned i = 0; i < p->n; i++)
        consumer_close(&p->consumers[i], on_consumer_closed);
    rlink_close(&p->control, on_control_closed, p);
    if (p->m != NULL)
        metrics_set_consumers(p->m, 0);
}

static void release_done(pool *p)
{
    if (--p->release_outstanding > 0)
        return;
    log_event(p->release_failed > 0 ? LOG_WARN : LOG_INFO, "worker stopped",
              LOG_N("unreleased_consumers", p->release_failed));
    close_all(p);
}

static void on_release_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    consumer *c = data;
    pool *p = c->p;
    long long n = 0;
    if (status < 0 || reply == NULL || !consumer_release_reply(reply, &n)) {
        p->release_failed++;
        log_event(LOG_WARN, "could not return the processing list; the reaper will", LOG_S("consumer", c->id),
                  LOG_S("error", reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "connection lost"));
    } else {
        c->released = true;
        pool_diverted(p, c->id, reply->element[1]);
        if (n > 0)
            log_event(LOG_INFO, "returned unstarted jobs to pending", LOG_S("consumer", c->id), LOG_N("jobs", n));
    }
    release_done(p);
}

static void release_all(pool *p)
{
    if (p->releasing)
        return;
    p->releasing = true;
    p->release_outstanding = 1;
    for (unsigned i = 0; i < p->n; i++) {
        consumer *c = &p->consumers[i];
        if (c->q.ups == 0) {
            c->released = true; /* never connected: it took nothing */
            continue;
        }
        rlink *l = p->control_ready ? &p->control : c->q_ready ? &c->q : NULL;
        release_argv a;
        consumer_release_args(c, true, &a);
        if (l != NULL && p->sc.sha[SCRIPT_RELEASE][0] != '\0' &&
            rlink_command(l, RELEASE_ARGC, a.argv, a.lens, on_release_reply, c) == 0)
            p->release_outstanding++;
        else
            p->release_failed++;
    }
    release_done(p);
}

void pool_consumer_idle(pool *p)
{
    if (!p->draining || p->releasing)
        return;
    for (unsigned i = 0; i < p->n; i++) {
        if (!consumer_idle(&p->consumers[i]))
            return;
    }
    release_all(p);
}

static void on_force_close(uv_timer_t *t)
{
    close_all(t->data);
}

static void on_grace(uv_timer_t *t)
{
    pool *p = t->data;
    if (!p->releasing) {
        log_msg(LOG_WARN, "shutdown grace expired: returning unfinished batches to pending");
        release_all(p);
    }
    if (!p->closing) /* Redis does not answer: leave the lists for the reaper */
        uv_timer_start(&p->grace, on_force_close, CLOSE_DEADLINE_MS, 0);
}

void pool_stop(pool *p)
{
    if (p->draining)
        return;
    p->draining = true;
    notify("STOPPING=1");
    if (p->m != NULL)
        metrics_set_draining(p->m, true);
    log_event(LOG_INFO, "shutting down: finishing batches in flight", LOG_N("grace_ms", p->cfg->shutdown_grace_ms));
    uv_timer_start(&p->grace, on_grace, p->cfg->shutdown_grace_ms, 0);
    kick_all(p);
    pool_consumer_idle(p);
}

/* ---- setup ---- */

static int parse_url(const char *flag, const char *text, redis_url *u, char *desc, size_t desclen, char *err,
                     size_t errlen)
{
    char msg[256];
    if (redis_url_parse(text, u, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "invq-worker: --%s: %s", flag, msg);
        return -EINVAL;
    }
    redis_url_describe(u, desc, desclen);
    return 0;
}

int pool_init(pool *p, uv_loop_t *loop, const worker_config *cfg, metrics *m, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->group = p;
    p->ngroup = 1;
    p->loop = loop;
    p->cfg = cfg;
    p->m = m;
    int rc = parse_url("queue-url", cfg->queue_url, &p->qurl, p->qdesc, sizeof p->qdesc, err, errlen);
    if (rc == 0)
        rc = parse_url("cache-url", cfg->cache_url, &p->curl, p->cdesc, sizeof p->cdesc, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = qkeys_init(&p->keys, cfg->ns, cfg->queue)) < 0 ||
        (rc = qkeys_start_tag(p->start_tag, sizeof p->start_tag)) < 0) {
        snprintf(err, errlen, "invq-worker: %s", strerror(-rc));
        return rc;
    }
    snprintf(p->reap_list_cmd, sizeof p->reap_list_cmd, "ZRANGEBYSCORE %s", p->keys.consumers);
    rng_init(&p->rng);
    p->policy = (batch_policy){
        .limits = cfg->limits,
        .max_attempts = cfg->max_attempts,
        .backoff_base_ms = cfg->backoff_base_ms,
        .backoff_max_ms = cfg->backoff_max_ms,
        .consumer = NULL,
        .reserved_ns = &cfg->ns,
        .nreserved_ns = 1,
    };
    p->policy.consumer = p->start_tag;
    p->n = cfg->consumers;
    p->consumers = calloc(p->n, sizeof *p->consumers);
    if (p->consumers == NULL || qfault_init(&p->faults, p->n + POOL_CONTROL_SITES, m) < 0) {
        snprintf(err, errlen, "invq-worker: out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < p->n; i++) {
        if ((rc = consumer_init(&p->consumers[i], p, i)) < 0) {
            snprintf(err, errlen, "invq-worker: consumer %u: %s", i, strerror(rc < 0 ? -rc : rc));
            return rc;
        }
    }
    rlink_opts o = {
        .target = "queue",
        .url = &p->qurl,
        .url_text = p->qdesc,
        .connect_timeout_ms = (int)cfg->connect_timeout_ms,
        .command_timeout_ms = (int)cfg->command_timeout_ms,
        .backoff_base_ms = 100,
        .backoff_max_ms = 5000,
        .route_key = p->keys.pending, /* a queue on a cluster: its slot's master */
        .on_state = on_control_state,
        .on_event = on_control_event,
        .data = p,
    };
    if ((rc = rlink_init(&p->control, loop, &o)) < 0)
        return rc;
    uv_timer_t *timers[] = { &p->heartbeat, &p->promote, &p->reap, &p->sample, &p->grace };
    for (size_t i = 0; i < 5; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = p;
    }
    p->cache_down = p->n;
    p->queue_down = p->n + 1;
    p->breaker_open = true;
    return 0;
}

void pool_start(pool *p, void (*on_closed)(pool *p), void *data)
{
    p->on_closed = on_closed;
    p->data = data;
    if (p->m != NULL) {
        unsigned n = 0;
        for (unsigned i = 0; i < p->ngroup; i++)
            n += p->group[i].n;
        metrics_set_consumers(p->m, n);
        metrics_set_dlq_max(p->m, p->cfg->dlq_max);
        set_connected(p);
    }
    rlink_start(&p->control);
    for (unsigned i = 0; i < p->n; i++)
        consumer_start(&p->consumers[i]);
}

void pool_set_families(pool *p, fampolicy *fam)
{
    fampolicy *old = p->fam;
    p->fam = fampolicy_ref(fam);
    fampolicy_unref(old);
}

void pool_deinit(pool *p)
{
    for (unsigned i = 0; i < p->n && p->consumers != NULL; i++)
        consumer_deinit(&p->consumers[i]);
    free(p->consumers);
    fampolicy_unref(p->fam);
    qfault_deinit(&p->faults);
    qkeys_deinit(&p->keys);
    redis_url_deinit(&p->qurl);
    redis_url_deinit(&p->curl);
    memset(p, 0, sizeof *p);
}
