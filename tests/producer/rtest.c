/* Helpers for the reader's tests (see rtest.h). */
#include "rtest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease.h"

void rsrc_init(rsrc *s, const char *row)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    snprintf(s->row, sizeof(s->row), "%s", row);
}

void rsrc_deinit(rsrc *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void rsrc_set(rsrc *s, const char *row)
{
    pthread_mutex_lock(&s->mu);
    snprintf(s->row, sizeof(s->row), "%s", row);
    pthread_mutex_unlock(&s->mu);
}

void rsrc_set_missing(rsrc *s, bool missing)
{
    pthread_mutex_lock(&s->mu);
    s->missing = missing;
    pthread_mutex_unlock(&s->mu);
}

void rsrc_set_fail(rsrc *s, int rc)
{
    pthread_mutex_lock(&s->mu);
    s->fail_rc = rc;
    pthread_mutex_unlock(&s->mu);
}

void rsrc_arm_pause(rsrc *s)
{
    pthread_mutex_lock(&s->mu);
    s->pause_armed = true;
    s->paused = s->released = false;
    pthread_mutex_unlock(&s->mu);
}

static bool timed_wait(rsrc *s, bool *flag)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WT_DEADLINE_MS / 1000;
    while (!*flag)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0)
            return *flag;
    return true;
}

void rsrc_wait_paused(rsrc *s)
{
    pthread_mutex_lock(&s->mu);
    bool ok = timed_wait(s, &s->paused);
    pthread_mutex_unlock(&s->mu);
    WT_CHECK(ok, "no load paused within %d ms", WT_DEADLINE_MS);
}

void rsrc_release(rsrc *s)
{
    pthread_mutex_lock(&s->mu);
    s->released = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int rsrc_loads(rsrc *s)
{
    return atomic_load(&s->loads);
}

int rsrc_load(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    rsrc *s = user;
    char row[256];
    atomic_fetch_add(&s->loads, 1);
    pthread_mutex_lock(&s->mu);
    snprintf(row, sizeof(row), "%s", s->row); /* the read */
    bool missing = s->missing;
    int fail = s->fail_rc;
    if (s->pause_armed) {
        s->pause_armed = false;
        s->paused = true;
        pthread_cond_broadcast(&s->cv);
        bool ok = timed_wait(s, &s->released);
        pthread_mutex_unlock(&s->mu);
        WT_CHECK(ok, "paused load never released");
    } else {
        pthread_mutex_unlock(&s->mu);
    }
    if (s->hold)
        WT_CHECK(wt_wait_for(s->hold, s->hold_ctx, RTEST_HOLD_MS), "load held past the deadline");
    (void)key;
    (void)keylen;
    if (fail)
        return fail;
    if (missing)
        return INVQ_NOTFOUND;
    return invq_loaded_set(out, row, strlen(row));
}

invq_reader *rtest_reader(const char *url, void (*tweak)(invq_reader_options *o))
{
    invq_reader_options o;
    invq_reader *r = NULL;
    char err[256];
    invq_reader_options_init(&o);
    o.url = url;
    o.ttl_ms = 60000;
    o.jitter_pct = 0;
    o.wait_timeout_ms = WT_DEADLINE_MS;
    /* generous: valgrind and a loaded machine must not look like an outage */
    o.connect_timeout_ms = 5000;
    o.command_timeout_ms = 5000;
    if (tweak)
        tweak(&o);
    int rc = invq_reader_new(&o, &r, err, sizeof(err));
    WT_CHECK(rc == 0 && r, "invq_reader_new: %s", err);
    return r;
}

char *rtest_get(invq_reader *r, const char *key, const invq_read_opts *ro, rsrc *s, int want)
{
    void *v = NULL;
    size_t n = 0;
    char err[512];
    int rc = invq_reader_get(r, key, strlen(key), ro, rsrc_load, s, &v, &n);
    invq_reader_errstr(r, err, sizeof(err));
    WT_CHECK(rc == want, "get %s returned %d (%s), want %d; last error: %s", key, rc, invq_strerror(rc), want,
             err);
    WT_CHECK(rc == 0 || (v == NULL && n == 0), "a failed get left a value");
    char *out = malloc(n + 1);
    WT_CHECK(out != NULL, "malloc");
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
    WT_CHECK(v == NULL || ((char *)v)[n] == '\0', "value not NUL-terminated");
    invq_value_free(v);
    return out;
}

invq_reader_stats rtest_stats(const invq_reader *r)
{
    invq_reader_stats st;
    invq_reader_stats_get(r, &st);
    return st;
}

static void *bg_main(void *arg)
{
    rtest_bg *b = arg;
    void *v = NULL;
    size_t n = 0;
    b->rc = invq_reader_get(b->r, b->key, strlen(b->key), b->ro, rsrc_load, b->src, &v, &n);
    if (b->rc == 0) {
        b->val = malloc(n + 1);
        if (b->val) {
            memcpy(b->val, v, n);
            b->val[n] = '\0';
        }
    }
    invq_value_free(v);
    return NULL;
}

void rtest_bg_start(rtest_bg *b, invq_reader *r, const char *key, const invq_read_opts *ro, rsrc *s)
{
    memset(b, 0, sizeof(*b));
    b->r = r;
    b->key = key;
    b->ro = ro;
    b->src = s;
    WT_CHECK(pthread_create(&b->th, NULL, bg_main, b) == 0, "pthread_create");
}

void rtest_bg_join(rtest_bg *b)
{
    pthread_join(b->th, NULL);
}

void rtest_send(const rfix *queue, bool bump, const char *key)
{
    invq_options o;
    invq_producer *p;
    char err[256];
    invq_options_init(&o);
    o.url = rfix_url(queue);
    WT_CHECK(invq_producer_new(&o, &p, err, sizeof(err)) == 0, "invq_producer_new: %s", err);
    invq_job *j = invq_job_new();
    const void *keys[] = { key };
    WT_CHECK(j && (bump ? invq_job_bump(j, keys, NULL, 1) : invq_job_del(j, keys, NULL, 1)) == 0, "job");
    int rc = invq_send(p, j);
    WT_CHECK(rc == INVQ_SENT, "invq_send: %s: %s", invq_strerror(rc), invq_producer_errstr(p));
    invq_job_free(j);
    invq_producer_free(p);
}

char *rtest_raw_get(redisContext *c, const char *key, size_t *len)
{
    redisReply *r = redisCommand(c, "GET %s", key);
    WT_CHECK(r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL), "GET %s", key);
    char *out = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        out = malloc(r->len + 1);
        WT_CHECK(out != NULL, "malloc");
        memcpy(out, r->str, r->len);
        out[r->len] = '\0';
        if (len)
            *len = r->len;
    } else if (len) {
        *len = 0;
    }
    freeReplyObject(r);
    return out;
}

void rtest_foreign_marker(char out[64], size_t *len)
{
    uint8_t tok[LEASE_TOKEN_BYTES];
    for (size_t i = 0; i < sizeof(tok); i++)
        tok[i] = (uint8_t)(0xa0 + i);
    lease_marker_make(tok, out);
    *len = LEASE_MARKER_LEN;
}
