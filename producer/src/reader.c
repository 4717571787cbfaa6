/* The cache-aside reader (invq_reader_*): get-or-load under the lease
 * protocol of schemas/lease-v1.md, over the connection pool of
 * reader_pool.c, with the per-get policy of reader_config.c. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <invq/invq.h>

#include "error.h"
#include "lease.h"
#include "random.h"
#include "reader_config.h"
#include "reader_pool.h"
#include "redis_sync.h"

typedef struct reader_counters {
    atomic_uint_fast64_t hits, negative_hits, misses, loads, lease_waits, wait_timeouts, fills,
        fills_refused, errors, fallbacks, load_errors;
} reader_counters;

struct invq_reader {
    reader_config cfg;
    rpool pool;
    reader_counters n;
};

struct invq_loaded {
    uint8_t *data;
    size_t len;
};

#define COUNT(r, field) atomic_fetch_add_explicit(&(r)->n.field, 1, memory_order_relaxed)

/* Data keys up to this size are built on the stack. */
#define INLINE_KEY 256

/* One get in progress. */
typedef struct get_ctx {
    invq_reader *r;
    const void *key; /* the logical key, given to the loader */
    size_t keylen;
    const char *dkey; /* the data key: key, or "<key>:v<N>" for a versioned family */
    size_t dkeylen;
    char kbuf[INLINE_KEY];
    char *kheap;
    reader_policy pol;
    rconn conn;
    bool have_conn;
    char marker[LEASE_MARKER_LEN];
    uint64_t rnd; /* random bits for TTL jitter, from the lease's getrandom */
    invq_loader_cb load;
    void *user;
    void **val;
    size_t *vallen;
} get_ctx;

/* What a lease step came to: a final status, or "another reader holds it". */
enum { STEP_DONE = 0, STEP_WAIT = 1 };

/* ------------------------------------------------------------ lifecycle */

INVQ_API int invq_reader_new(const invq_reader_options *o, invq_reader **out, char *err, size_t errlen)
{
    invq_reader *r;
    int rc;
    if (!out)
        return err_set(err, errlen, INVQ_EINVAL, "out is NULL");
    *out = NULL;
    if (!(r = calloc(1, sizeof(*r))))
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    if ((rc = reader_config_init(&r->cfg, o, err, errlen)) < 0) {
        free(r);
        return rc;
    }
    if (rpool_init(&r->pool, &r->cfg) < 0) {
        reader_config_deinit(&r->cfg);
        free(r);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

INVQ_API void invq_reader_free(invq_reader *r)
{
    if (!r)
        return;
    rpool_deinit(&r->pool);
    reader_config_deinit(&r->cfg);
    free(r);
}

INVQ_API void invq_value_free(void *val)
{
    free(val);
}

/* A malloc'd copy of len bytes with a NUL after them; NULL when out of memory. */
static uint8_t *copy_bytes(const void *data, size_t len)
{
    uint8_t *b = malloc(len + 1);
    if (b) {
        if (len)
            memcpy(b, data, len);
        b[len] = '\0';
    }
    return b;
}

INVQ_API int invq_loaded_set(invq_loaded *out, const void *data, size_t len)
{
    if (!out || (!data && len > 0))
        return INVQ_EINVAL;
    uint8_t *b = copy_bytes(data, len);
    if (!b)
        return INVQ_ENOMEM;
    free(out->data);
    out->data = b;
    out->len = len;
    return 0;
}

#define LOAD(field) atomic_load_explicit(&r->n.field, memory_order_relaxed)

INVQ_API void invq_reader_stats_get(const invq_reader *cr, invq_reader_stats *st)
{
    invq_reader *r = (invq_reader *)cr;
    st->hits = LOAD(hits);
    st->negative_hits = LOAD(negative_hits);
    st->misses = LOAD(misses);
    st->loads = LOAD(loads);
    st->lease_waits = LOAD(lease_waits);
    st->wait_timeouts = LOAD(wait_timeouts);
    st->fills = LOAD(fills);
    st->fills_refused = LOAD(fills_refused);
    st->errors = LOAD(errors);
    st->fallbacks = LOAD(fallbacks);
    st->load_errors = LOAD(load_errors);
}

INVQ_API void invq_reader_errstr(const invq_reader *r, char *buf, size_t len)
{
    rpool_errstr((rpool *)&r->pool, buf, len);
}

/* --------------------------------------------------------- round trips */

static void give_conn(get_ctx *g)
{
    if (g->have_conn)
        rpool_give(&g->r->pool, &g->conn);
    g->have_conn = false;
}

static int take_conn(get_ctx *g, bool fresh)
{
    int rc = rpool_take(&g->r->pool, &g->conn, fresh);
    if (rc < 0) {
        COUNT(g->r, errors);
        return rc;
    }
    g->have_conn = true;
    return 0;
}

/* A reply that is not what the protocol allows: counted, described. */
static int bad_reply(get_ctx *g, redisReply *rep, const char *what)
{
    char err[512];
    int rc;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(rep, what, err, sizeof(err));
    else
        rc = err_set(err, sizeof(err), INVQ_EPROTO, "%s: unexpected reply type %d", what, rep->type);
    rpool_note(&g->r->pool, "%s", err);
    COUNT(g->r, errors);
    freeReplyObject(rep);
    return rc;
}

/* After a failed round trip on a connection: drop it and count. */
static int conn_failed(get_ctx *g, int rc)
{
    rpool_drop(&g->r->pool, &g->conn, rc);
    g->have_conn = false;
    COUNT(g->r, errors);
    return rc;
}

/* GET of a key. The first round trip of a get retries once on a fresh
 * connection when a reused one turns out broken (the server restarted since
 * it was last used); a timeout is not retried, so a get never waits out
 * more than one command timeout. On 0 *out is a nil or string reply. */
static int get_key(get_ctx *g, const char *key, size_t keylen, bool first, redisReply **out)
{
    const char *argv[2] = { "GET", key };
    size_t lens[2] = { 3, keylen };
    int rc = rpool_command(&g->r->pool, &g->conn, 2, argv, lens, out);
    if (rc < 0 && first && g->conn.reused && rc != INVQ_ETIMEOUT) {
        rpool_drop(&g->r->pool, &g->conn, rc);
        g->have_conn = false;
        if ((rc = take_conn(g, true)) < 0)
            return rc;
        rc = rpool_command(&g->r->pool, &g->conn, 2, argv, lens, out);
    }
    if (rc < 0)
        return conn_failed(g, rc);
    if ((*out)->type != REDIS_REPLY_NIL && (*out)->type != REDIS_REPLY_STRING)
        return bad_reply(g, *out, "GET");
    return 0;
}

/* A lease script on the data key; on 0 *out is an integer reply (or, for
 * ACQUIRE, possibly the key's value as a string). */
static int run_script(get_ctx *g, lease_script id, int nargs, const char *const *args, const size_t *lens,
                      redisReply **out)
{
    static const char *const names[LEASE_SCRIPT_COUNT] = { "lease acquire", "lease fill", "lease release" };
    int rc = rpool_script(&g->r->pool, &g->conn, id, g->dkey, g->dkeylen, nargs, args, lens, out);
    if (rc < 0)
        return conn_failed(g, rc);
    int t = (*out)->type;
    if (t == REDIS_REPLY_INTEGER || (id == LEASE_SCRIPT_ACQUIRE && t == REDIS_REPLY_STRING))
        return 0;
    return bad_reply(g, *out, names[id]);
}

/* --------------------------------------------------------------- values */

static int deliver(get_ctx *g, const char *data, size_t len)
{
    uint8_t *b = copy_bytes(data, len);
    if (!b)
        return INVQ_ENOMEM;
    *g->val = b;
    *g->vallen = len;
    return 0;
}

/* Calls the loader with no connection borrowed. Returns 0 with l filled,
 * INVQ_NOTFOUND, or the loader's negative code. */
static int call_loader(get_ctx *g, invq_loaded *l)
{
    give_conn(g);
    COUNT(g->r, loads);
    memset(l, 0, sizeof(*l));
    int rc = g->load(g->user, g->key, g->keylen, l);
    if (rc > 0 && rc != INVQ_NOTFOUND) {
        rpool_note(&g->r->pool, "loader returned %d (want 0, INVQ_NOTFOUND or a negative code)", rc);
        rc = INVQ_EINVAL;
    }
    if (rc < 0)
        COUNT(g->r, load_errors);
    if (rc != 0) {
        free(l->data);
        memset(l, 0, sizeof(*l));
    } else if (!l->data && invq_loaded_set(l, "", 0) < 0) {
        return INVQ_ENOMEM;
    }
    return rc;
}

static int hand_over(get_ctx *g, invq_loaded *l)
{
    *g->val = l->data;
    *g->vallen = l->len;
    l->data = NULL;
    return 0;
}

/* The loader answers and nothing is stored: no lease is held (a wait ran
 * out, an unknown marker, or the cache failed). */
static int load_only(get_ctx *g)
{
    invq_loaded l;
    int rc = call_loader(g, &l);
    return rc == 0 ? hand_over(g, &l) : rc;
}

static int fallback(get_ctx *g)
{
    COUNT(g->r, fallbacks);
    return load_only(g);
}

/* Replaces our lease by value (fill) or deletes it (release, value NULL).
 * Failures are counted; the get's answer does not depend on them. */
static void settle_lease(get_ctx *g, const char *value, size_t len, uint64_t ttl_ms)
{
    redisReply *rep;
    char ttl[24];
    if (!g->have_conn && take_conn(g, false) < 0)
        return;
    if (!value) {
        const char *args[1] = { g->marker };
        size_t lens[1] = { LEASE_MARKER_LEN };
        if (run_script(g, LEASE_SCRIPT_RELEASE, 1, args, lens, &rep) == 0)
            freeReplyObject(rep);
        return;
    }
    int n = snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
    const char *args[3] = { g->marker, value, ttl };
    size_t lens[3] = { LEASE_MARKER_LEN, len, (size_t)n };
    if (run_script(g, LEASE_SCRIPT_FILL, 3, args, lens, &rep) < 0)
        return;
    if (rep->integer == 1)
        COUNT(g->r, fills);
    else
        COUNT(g->r, fills_refused);
    freeReplyObject(rep);
}

/* We hold the lease: load, then fill (or store the negative entry, or give
 * the lease up). */
static int load_and_fill(get_ctx *g)
{
    invq_loaded l;
    int rc = call_loader(g, &l);
    if (rc == 0) {
        uint64_t ttl = lease_ttl_jitter(g->pol.ttl_ms, g->pol.jitter_pct, g->rnd);
        if (!lease_needs_escape(l.data, l.len)) {
            settle_lease(g, (const char *)l.data, l.len, ttl);
        } else {
            char *esc = malloc(LEASE_ESCAPE_LEN + l.len);
            if (esc) {
                memcpy(esc, lease_escape, LEASE_ESCAPE_LEN);
                memcpy(esc + LEASE_ESCAPE_LEN, l.data, l.len);
                settle_lease(g, esc, LEASE_ESCAPE_LEN + l.len, ttl);
                free(esc);
            } else {
                settle_lease(g, NULL, 0, 0);
            }
        }
        return hand_over(g, &l);
    }
    if (rc == INVQ_NOTFOUND && g->pol.negative_ttl_ms > 0)
        settle_lease(g, lease_negative, LEASE_NEGATIVE_LEN,
                     lease_ttl_jitter(g->pol.negative_ttl_ms, g->pol.jitter_pct, g->rnd));
    else
        settle_lease(g, NULL, 0, 0);
    return rc;
}

/* Answers from a value found in the key (by GET or by the acquire script).
 * Returns STEP_DONE with *rc set, or STEP_WAIT for another reader's lease. */
static int from_value(get_ctx *g, const redisReply *v, int *rc)
{
    const char *data;
    size_t len;
    switch (lease_classify(v->str, v->len, &data, &len)) {
    case LEASE_DATA:
        *rc = deliver(g, data, len);
        return STEP_DONE;
    case LEASE_NEG:
        *rc = INVQ_NOTFOUND;
        return STEP_DONE;
    case LEASE_HELD:
        return STEP_WAIT;
    case LEASE_UNKNOWN:
    default:
        *rc = load_only(g); /* never overwrite a marker this version does not know */
        return STEP_DONE;
    }
}

/* The key holds nothing: try to take its lease. */
static int try_acquire(get_ctx *g, int *rc)
{
    uint8_t rnd[LEASE_TOKEN_BYTES + 8];
    char lease_ms[24];
    redisReply *rep;
    if ((*rc = random_fill(rnd, sizeof(rnd))) < 0) {
        rpool_note(&g->r->pool, "getrandom failed: no lease token");
        *rc = load_only(g);
        return STEP_DONE;
    }
    lease_marker_make(rnd, g->marker);
    memcpy(&g->rnd, rnd + LEASE_TOKEN_BYTES, 8);
    int n = snprintf(lease_ms, sizeof(lease_ms), "%llu", (unsigned long long)g->pol.lease_ttl_ms);
    const char *args[2] = { g->marker, lease_ms };
    size_t lens[2] = { LEASE_MARKER_LEN, (size_t)n };
    if (run_script(g, LEASE_SCRIPT_ACQUIRE, 2, args, lens, &rep) < 0) {
        *rc = fallback(g);
        return STEP_DONE;
    }
    if (rep->type == REDIS_REPLY_INTEGER) {
        freeReplyObject(rep);
        *rc = load_and_fill(g);
        return STEP_DONE;
    }
    int step = from_value(g, rep, rc);
    freeReplyObject(rep);
    return step;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = { .tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Another reader holds the lease: poll the key with growing, jittered
 * delays until it holds a value, the lease goes (then try to take it), or
 * the wait runs out. */
static int wait_for_fill(get_ctx *g)
{
    invq_reader *r = g->r;
    uint64_t deadline = now_us() + (uint64_t)g->pol.wait_timeout_ms * 1000u;
    uint64_t delay_us = (uint64_t)r->cfg.wait_poll_min_ms * 1000u;
    uint64_t max_us = (uint64_t)r->cfg.wait_poll_max_ms * 1000u;
    uint64_t x = (uint64_t)(uintptr_t)g ^ ((uint64_t)time(NULL) << 20) ^ 0x9e3779b97f4a7c15ull;
    redisReply *v;
    int rc;

    COUNT(r, lease_waits);
    for (;;) {
        uint64_t now = now_us();
        if (now >= deadline)
            break;
        x ^= x << 13; /* xorshift64: spreads the polls of many waiters */
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t us = delay_us / 2 + x % (delay_us / 2 + 1);
        sleep_us(us < deadline - now ? us : deadline - now);
        delay_us = delay_us * 2 < max_us ? delay_us * 2 : max_us;
        if (get_key(g, g->dkey, g->dkeylen, false, &v) < 0)
            return fallback(g);
        int step;
        if (v->type == REDIS_REPLY_NIL) {
            freeReplyObject(v);
            step = try_acquire(g, &rc);
        } else {
            step = from_value(g, v, &rc);
            freeReplyObject(v);
        }
        if (step == STEP_DONE)
            return rc;
    }
    COUNT(r, wait_timeouts);
    rpool_note(&r->pool, "lease wait on %.*s ran out after %d ms", (int)(g->dkeylen > 200 ? 200 : g->dkeylen),
               g->dkey, g->pol.wait_timeout_ms);
    if (g->pol.on_wait_timeout == INVQ_WAIT_FAIL) {
        give_conn(g);
        return INVQ_EWAIT;
    }
    return load_only(g);
}

/* Versioned family: the data key is "<key>:v<N>", N the version key's value
 * (absent: 0). */
static int versioned_key(get_ctx *g)
{
    redisReply *v;
    int64_t ver = 0;
    int rc = get_key(g, g->pol.version_key, g->pol.version_key_len, true, &v);
    if (rc < 0)
        return rc;
    if (v->type == REDIS_REPLY_STRING && lease_parse_version(v->str, v->len, &ver) < 0) {
        rpool_note(&g->r->pool, "version key %.*s holds %.*s, not an integer",
                   (int)(g->pol.version_key_len > 200 ? 200 : g->pol.version_key_len),
                   (const char *)g->pol.version_key, (int)(v->len > 40 ? 40 : v->len), v->str);
        COUNT(g->r, errors);
        freeReplyObject(v);
        return INVQ_EPROTO;
    }
    freeReplyObject(v);
    char *buf = g->kbuf;
    if (g->keylen + LEASE_VERSION_SUFFIX_MAX > sizeof(g->kbuf)) {
        if (!(g->kheap = malloc(g->keylen + LEASE_VERSION_SUFFIX_MAX)))
            return INVQ_ENOMEM;
        buf = g->kheap;
    }
    g->dkeylen = lease_data_key(g->key, g->keylen, ver, buf);
    g->dkey = buf;
    return 0;
}

static int run_get(get_ctx *g)
{
    invq_reader *r = g->r;
    redisReply *v;
    int rc;

    if (rpool_is_down(&r->pool) || take_conn(g, false) < 0)
        return fallback(g);
    if (g->pol.version_key) {
        if ((rc = versioned_key(g)) == INVQ_ENOMEM)
            return rc;
        if (rc < 0)
            return fallback(g);
    }
    if (get_key(g, g->dkey, g->dkeylen, !g->pol.version_key, &v) < 0)
        return fallback(g);
    if (v->type == REDIS_REPLY_NIL) {
        freeReplyObject(v);
        COUNT(r, misses);
        return try_acquire(g, &rc) == STEP_DONE ? rc : wait_for_fill(g);
    }
    const char *data;
    size_t len;
    lease_kind k = lease_classify(v->str, v->len, &data, &len);
    if (k == LEASE_DATA || k == LEASE_NEG) {
        COUNT(r, hits);
        if (k == LEASE_NEG)
            COUNT(r, negative_hits);
    } else {
        COUNT(r, misses);
    }
    int step = from_value(g, v, &rc);
    freeReplyObject(v);
    return step == STEP_DONE ? rc : wait_for_fill(g);
}

INVQ_API int invq_reader_get(invq_reader *r, const void *key, size_t keylen, const invq_read_opts *opts,
                             invq_loader_cb load, void *user, void **val, size_t *vallen)
{
    char err[512];
    int rc;
    if (val)
        *val = NULL;
    if (vallen)
        *vallen = 0;
    if (!r)
        return INVQ_EINVAL;
    if (!key || keylen == 0 || !load || !val || !vallen) {
        rpool_note(&r->pool, "invq_reader_get: %s", !key || keylen == 0 ? "empty key"
                                                     : !load ? "no loader" : "val or vallen is NULL");
        return INVQ_EINVAL;
    }
    get_ctx g = { .r = r, .key = key, .keylen = keylen, .dkey = key, .dkeylen = keylen,
                  .load = load, .user = user, .val = val, .vallen = vallen };
    if ((rc = reader_policy_resolve(&r->cfg, key, keylen, opts, &g.pol, err, sizeof(err))) < 0) {
        rpool_note(&r->pool, "%s", err);
        return rc;
    }
    rc = run_get(&g);
    give_conn(&g);
    free(g.kheap);
    reader_policy_deinit(&g.pol);
    return rc;
}
