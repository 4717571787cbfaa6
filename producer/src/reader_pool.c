/* Connections of a reader (see reader_pool.h): idle pool, down window,
 * failure message, commands and the lease scripts by EVALSHA. */
#include "reader_pool.h"

#include "cluster_slot.h"
#include "cluster_sync.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "lease_scripts.h"
#include "redis_sync.h"
#include "sigpipe.h"

static const char *const script_src[LEASE_SCRIPT_COUNT] = {
    lua_lease_acquire, lua_lease_fill, lua_lease_release,
};

uint64_t rpool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int rpool_init(rpool *p, const reader_config *cfg)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return INVQ_ENOMEM;
    return 0;
}

/* Closes a connection of either kind. */
static void conn_free(rconn *c)
{
    if (c->c)
        redisFree(c->c);
    csync_free(c->cs);
    c->c = NULL;
    c->cs = NULL;
}

void rpool_deinit(rpool *p)
{
    for (size_t i = 0; i < p->nidle; i++)
        conn_free(&p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof(*p));
}

static void note_locked(rpool *p, const char *fmt, va_list ap)
{
    vsnprintf(p->errstr, sizeof(p->errstr), fmt, ap);
}

void rpool_note(rpool *p, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&p->mu);
    va_start(ap, fmt);
    note_locked(p, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&p->mu);
}

void rpool_errstr(rpool *p, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    pthread_mutex_lock(&p->mu);
    snprintf(buf, len, "%s", p->errstr);
    pthread_mutex_unlock(&p->mu);
}

static void start_down_window(rpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->down_until_ms = p->cfg->down_retry_ms > 0 ? rpool_now_ms() + (uint64_t)p->cfg->down_retry_ms : 0;
    pthread_mutex_unlock(&p->mu);
}

bool rpool_is_down(rpool *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t until = p->down_until_ms;
    pthread_mutex_unlock(&p->mu);
    return until != 0 && rpool_now_ms() < until;
}

int rpool_take(rpool *p, rconn *out, bool fresh)
{
    char err[512];
    memset(out, 0, sizeof(*out));
    if (!fresh) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle > 0) {
            *out = p->idle[--p->nidle];
            out->reused = true;
        }
        pthread_mutex_unlock(&p->mu);
        if (out->c || out->cs)
            return 0;
    }
    int rc = redis_url_is_cluster(&p->cfg->url)
                 ? csync_open(&p->cfg->url, p->cfg->connect_timeout_ms, p->cfg->command_timeout_ms, &out->cs, err,
                              sizeof(err))
                 : redis_sync_connect(&p->cfg->url, p->cfg->connect_timeout_ms, p->cfg->command_timeout_ms, &out->c,
                                      err, sizeof(err));
    if (rc < 0) {
        rpool_note(p, "%s", err);
        start_down_window(p);
        return rc;
    }
    out->guard_sigpipe = !sigpipe_ignored();
    pthread_mutex_lock(&p->mu);
    p->down_until_ms = 0;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void rpool_give(rpool *p, rconn *c)
{
    pthread_mutex_lock(&p->mu);
    if (p->nidle == p->cap && p->nidle < p->cfg->max_idle) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        if (cap > p->cfg->max_idle)
            cap = p->cfg->max_idle;
        rconn *n = realloc(p->idle, cap * sizeof(*n));
        if (n) {
            p->idle = n;
            p->cap = cap;
        }
    }
    if (p->nidle < p->cap) {
        p->idle[p->nidle++] = *c;
        c->c = NULL;
        c->cs = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    conn_free(c);
}

void rpool_drop(rpool *p, rconn *c, int rc)
{
    rconn *stale = NULL;
    size_t nstale = 0;
    conn_free(c);
    if (rc == INVQ_ETIMEOUT || !c->reused)
        start_down_window(p);
    if (!c->reused)
        return;
    pthread_mutex_lock(&p->mu);
    stale = p->idle;
    nstale = p->nidle;
    p->idle = NULL;
    p->nidle = p->cap = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < nstale; i++)
        conn_free(&stale[i]);
    free(stale);
}

/* The key a reader command is about: GET key, EVAL/EVALSHA script 1 key,
 * SCRIPT LOAD (no key: slot 0's master; EVALSHA falls back to EVAL on a node
 * that lacks the script). */
static unsigned command_slot(int argc, const char **argv, const size_t *lens)
{
    int k = argv[0][0] == 'E' ? 3 : argv[0][0] == 'G' ? 1 : -1;
    if (k < 0 || k >= argc)
        return 0;
    return cluster_keyslot(argv[k], lens ? lens[k] : strlen(argv[k]));
}

int rpool_command(rpool *p, rconn *c, int argc, const char **argv, const size_t *lens, redisReply **out)
{
    sigpipe_guard g;
    char err[512];
    if (c->guard_sigpipe)
        sigpipe_block(&g);
    redisReply *r = NULL;
    int rc = 0;
    if (c->cs)
        rc = csync_command(c->cs, command_slot(argc, argv, lens), argc, argv, lens, &r, err, sizeof(err));
    else if ((r = redisCommandArgv(c->c, argc, argv, lens)) == NULL)
        rc = redis_sync_ctx_error(c->c, argv[0], err, sizeof(err));
    if (c->guard_sigpipe)
        sigpipe_restore(&g);
    *out = r;
    if (rc == 0)
        return 0;
    rpool_note(p, "%s", err);
    return rc;
}

static bool is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* SCRIPT LOAD once per reader. Returns a negative code when the connection
 * failed; an error reply (say NOPERM) leaves the script to EVAL. */
static int load_script(rpool *p, rconn *c, lease_script id, char sha[41])
{
    const char *argv[3] = { "SCRIPT", "LOAD", script_src[id] };
    size_t lens[3] = { 6, 4, strlen(script_src[id]) };
    redisReply *r;
    int rc = rpool_command(p, c, 3, argv, lens, &r);
    if (rc < 0)
        return rc;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(sha, r->str, 40);
        sha[40] = '\0';
        pthread_mutex_lock(&p->mu);
        memcpy(p->sha[id], sha, 41);
        pthread_mutex_unlock(&p->mu);
    } else if (r->type == REDIS_REPLY_ERROR && r->len >= 6 && memcmp(r->str, "NOPERM", 6) == 0) {
        pthread_mutex_lock(&p->mu);
        p->eval_only = true;
        pthread_mutex_unlock(&p->mu);
    }
    freeReplyObject(r);
    return 0;
}

int rpool_script(rpool *p, rconn *c, lease_script id, const void *key, size_t keylen, int nargs,
                 const char *const *args, const size_t *lens, redisReply **out)
{
    const char *argv[8];
    size_t alen[8];
    char sha[41];
    bool eval_only;
    int rc;

    pthread_mutex_lock(&p->mu);
    memcpy(sha, p->sha[id], sizeof(sha));
    eval_only = p->eval_only;
    pthread_mutex_unlock(&p->mu);
    if (!sha[0] && !eval_only && (rc = load_script(p, c, id, sha)) < 0)
        return rc;

    argv[2] = "1";
    alen[2] = 1;
    argv[3] = key;
    alen[3] = keylen;
    for (int i = 0; i < nargs && i < 4; i++) {
        argv[4 + i] = args[i];
        alen[4 + i] = lens[i];
    }
    if (sha[0]) {
        argv[0] = "EVALSHA";
        alen[0] = 7;
        argv[1] = sha;
        alen[1] = 40;
        if ((rc = rpool_command(p, c, 4 + nargs, argv, alen, out)) < 0 || !is_noscript(*out))
            return rc;
        freeReplyObject(*out); /* the server lost its script cache: EVAL loads it again */
        *out = NULL;
    }
    argv[0] = "EVAL";
    alen[0] = 4;
    argv[1] = script_src[id];
    alen[1] = strlen(script_src[id]);
    return rpool_command(p, c, 4 + nargs, argv, alen, out);
}
