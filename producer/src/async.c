/* The asynchronous producer: jobs sent during one loop iteration are flushed
 * together (a uv_idle handle, see uvredis.c) as one MULTI/LPUSH/EXEC round trip over an
 * rlink (core's self-reconnecting link: backoff, TLS, Sentinel);
 * disconnected, they are spooled or held in memory; the spool is replayed
 * chunk by chunk once connected. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <invq/invq.h>

#include "config.h"
#include "enqueue.h"
#include "error.h"
#include "job_limits.h"
#include "rlink.h"
#include "spool.h"

#define BATCH_MAX_JOBS 10000u
#define BATCH_MAX_BYTES (8u * 1024u * 1024u)
#define REPLAY_MAX_JOBS 1000u
#define REPLAY_MAX_BYTES (4u * 1024u * 1024u)

/* One job handed to invq_async_send(), owned by the producer until its
 * callback ran. */
typedef struct asend {
    struct asend *next;
    uint8_t *buf;
    size_t len;
    invq_send_cb cb;
    void *data;
} asend;

typedef struct send_list {
    asend *head;
    asend *tail;
    size_t n;
} send_list;

/* One round trip in flight: fresh jobs, or a spool chunk being replayed. */
typedef struct abatch {
    invq_async *a;
    send_list jobs;
    spool_chunk chunk;
    bool replay;
    const uint8_t **payloads;
    size_t *lens;
    enq_plan plan;
    size_t next_reply;
    int status;
    int transient;
    char err[256];
} abatch;

struct invq_async {
    uv_loop_t *loop;
    prod_config cfg;
    spool *spool;
    rlink link;
    char url_text[300];
    uv_idle_t flusher;
    int open_handles;    /* handles and the link still closing */
    send_list waiting;
    size_t inflight;     /* batches sent, not yet completed */
    bool replaying;
    bool down;           /* the last connect failed or the connection broke */
    bool closing;
    bool finishing;
    invq_close_cb close_cb;
    void *close_data;
    char errstr[512];
};

static void list_push(send_list *l, asend *s)
{
    s->next = NULL;
    if (l->tail)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
    l->n++;
}

static asend *list_pop(send_list *l)
{
    asend *s = l->head;
    if (s) {
        l->head = s->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
    }
    return s;
}

/* Puts every job of l back at the head of a->waiting, in order. */
static void requeue_front(invq_async *a, send_list *l)
{
    if (l->n == 0)
        return;
    l->tail->next = a->waiting.head;
    if (!a->waiting.tail)
        a->waiting.tail = l->tail;
    a->waiting.head = l->head;
    a->waiting.n += l->n;
    *l = (send_list){ 0 };
}

static void complete(invq_async *a, asend *s, int status)
{
    s->cb(a, status, s->data);
    free(s->buf);
    free(s);
}

static bool spoolable(int rc, int transient)
{
    return rc == INVQ_ECONNECT || rc == INVQ_ETIMEOUT || rc == INVQ_EIO || rc == INVQ_EPROTO || rc == INVQ_ETLS ||
           rc == INVQ_ECLOSED || (rc == INVQ_EREPLY && transient);
}

static bool is_ready(const invq_async *a)
{
    return a->link.up && !a->finishing;
}

static void kick(invq_async *a);
static void maybe_finish(invq_async *a);

/* Spools every job of l (all in one append when it fits, else one by one)
 * and completes each with its definite status. */
static void spool_list(invq_async *a, send_list *l)
{
    const uint8_t **p = malloc(l->n * sizeof(*p));
    size_t *lens = malloc(l->n * sizeof(*lens));
    size_t i = 0;
    int rc = INVQ_ENOMEM;
    asend *s;

    if (p && lens) {
        for (s = l->head; s; s = s->next, i++)
            p[i] = s->buf, lens[i] = s->len;
        rc = spool_append(a->spool, p, lens, l->n, a->errstr, sizeof(a->errstr));
    }
    free(p);
    free(lens);
    while ((s = list_pop(l)) != NULL) {
        int one = rc;
        if (rc == INVQ_ESPOOLFULL || rc == INVQ_ENOMEM) {
            const uint8_t *b = s->buf;
            one = spool_append(a->spool, &b, &s->len, 1, a->errstr, sizeof(a->errstr));
        }
        complete(a, s, one == 0 ? INVQ_SPOOLED : one);
    }
}

/* Completes a batch's jobs with the outcome of its round trip. */
static void batch_done(abatch *b)
{
    invq_async *a = b->a;
    asend *s;

    a->inflight--;
    if (b->status < 0)
        snprintf(a->errstr, sizeof(a->errstr), "%s", b->err);
    if (b->replay) {
        a->replaying = false;
        if (b->status == 0 && spool_commit(a->spool, &b->chunk, a->errstr, sizeof(a->errstr)) < 0)
            snprintf(a->errstr + strlen(a->errstr), sizeof(a->errstr) - strlen(a->errstr), " (replay)");
        spool_chunk_deinit(&b->chunk);
    } else if (b->status == 0) {
        while ((s = list_pop(&b->jobs)) != NULL)
            complete(a, s, INVQ_SENT);
    } else if (b->transient == ENQ_REDIRECT) {
        /* the queue's slot moved (cluster): nothing was written; send
         * again, first, once the link reached the slot's new master */
        requeue_front(a, &b->jobs);
    } else if (a->spool && spoolable(b->status, b->transient)) {
        spool_list(a, &b->jobs);
    } else {
        while ((s = list_pop(&b->jobs)) != NULL)
            complete(a, s, b->status);
    }
    /* A node that cannot take writes now (READONLY, NOREPLICAS, LOADING,
     * ...) is a connection problem: reconnect (rediscover, for Sentinel)
     * after the backoff, rather than send again at once. */
    bool reset = b->status == INVQ_EREPLY && b->transient;
    char why[256];
    snprintf(why, sizeof(why), "%s", b->err);
    enq_plan_deinit(&b->plan);
    free(b->payloads);
    free(b->lens);
    free(b);
    if (reset)
        rlink_reset(&a->link, why);
    kick(a);
    maybe_finish(a);
}

static void on_batch_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    abatch *b = data;
    size_t i = b->next_reply++;
    if (b->status == 0) {
        if (status < 0) {
            b->status = status;
            snprintf(b->err, sizeof(b->err), "enqueue: %s", uvredis_errstr(r));
        } else {
            int tr = 0;
            b->status = enq_check_reply(&b->plan, i, reply, &tr, b->err, sizeof(b->err));
            b->transient = tr;
        }
    }
    if (b->next_reply == b->plan.ncmds)
        batch_done(b);
}

/* Sends a batch's commands; on failure the connection is dropped, which
 * completes whatever part was already queued. */
static void batch_send(invq_async *a, abatch *b, size_t n)
{
    int rc = enq_plan_build(&b->plan, a->cfg.keys.pending, a->cfg.keys.stats, b->payloads, b->lens, n);
    a->inflight++;
    if (rc < 0) {
        b->status = rc;
        snprintf(b->err, sizeof(b->err), "out of memory");
        b->plan.ncmds = 0;
        batch_done(b);
        return;
    }
    for (size_t i = 0; i < b->plan.ncmds; i++) {
        rc = rlink_command(&a->link, b->plan.argc[i], b->plan.argv + b->plan.start[i],
                           b->plan.lens + b->plan.start[i], on_batch_reply, b);
        if (rc < 0) {
            /* Commands 0..i-1 complete through the connection's teardown;
             * account for the ones never queued. */
            b->status = rc;
            snprintf(b->err, sizeof(b->err), "enqueue: %s", invq_strerror(rc));
            b->plan.ncmds = i;
            if (i == 0)
                batch_done(b);
            else
                rlink_reset(&a->link, b->err); /* completes b through the teardown */
            return;
        }
    }
}

static abatch *batch_new(invq_async *a, size_t n)
{
    abatch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->a = a;
    b->payloads = malloc(n * sizeof(*b->payloads));
    b->lens = malloc(n * sizeof(*b->lens));
    if (!b->payloads || !b->lens) {
        free(b->payloads);
        free(b->lens);
        free(b);
        return NULL;
    }
    return b;
}

static void replay_step(invq_async *a)
{
    spool_chunk c;
    abatch *b;
    int n;

    if (a->replaying || a->closing || !a->spool || spool_pending(a->spool) == 0 || !is_ready(a))
        return;
    n = spool_peek(a->spool, &c, REPLAY_MAX_JOBS, REPLAY_MAX_BYTES, a->errstr, sizeof(a->errstr));
    if (n <= 0)
        return;
    if (!(b = batch_new(a, (size_t)n))) {
        spool_chunk_deinit(&c);
        return;
    }
    b->replay = true;
    b->chunk = c;
    memcpy(b->payloads, c.payloads, (size_t)n * sizeof(*b->payloads));
    memcpy(b->lens, c.lens, (size_t)n * sizeof(*b->lens));
    a->replaying = true;
    batch_send(a, b, (size_t)n);
}

/* Moves waiting jobs to Redis (connected, spool drained), to the spool
 * (disconnected or spool still draining), or leaves them waiting. */
static void flush(invq_async *a)
{
    bool spool_busy = a->spool && spool_pending(a->spool) > 0;

    replay_step(a);
    while (a->waiting.n > 0 && is_ready(a) && !spool_busy) {
        size_t n = 0, bytes = 0;
        abatch *b = batch_new(a, a->waiting.n < BATCH_MAX_JOBS ? a->waiting.n : BATCH_MAX_JOBS);
        if (!b)
            return;
        while (a->waiting.n > 0 && n < BATCH_MAX_JOBS && bytes < BATCH_MAX_BYTES) {
            asend *s = list_pop(&a->waiting);
            list_push(&b->jobs, s);
            b->payloads[n] = s->buf;
            b->lens[n++] = s->len;
            bytes += s->len;
        }
        batch_send(a, b, n);
    }
    /* While a first connect is under way jobs wait; once Redis is known
     * to be down (or the spool still drains) they go to the spool. */
    if (a->waiting.n > 0 && a->spool && (spool_busy || a->down || a->closing))
        spool_list(a, &a->waiting);
}

static void on_flusher(uv_idle_t *h)
{
    invq_async *a = h->data;
    uv_idle_stop(h);
    flush(a);
    maybe_finish(a);
}

static void kick(invq_async *a)
{
    if (!uv_is_closing((uv_handle_t *)&a->flusher))
        uv_idle_start(&a->flusher, on_flusher);
}

/* ------------------------------------------------------------ connection */

static void on_link_state(rlink *l, bool up, void *data)
{
    invq_async *a = data;
    a->down = !up;
    kick(a); /* send, or spool what waits, or let close finish */
    maybe_finish(a);
}

static void on_link_event(rlink *l, const rlink_event *ev, void *data)
{
    invq_async *a = data;
    if (ev->kind == RLINK_EV_UP || ev->kind == RLINK_EV_STABLE)
        return;
    a->down = true;
    snprintf(a->errstr, sizeof(a->errstr), "%s", ev->error);
    kick(a);
    maybe_finish(a);
}

/* ----------------------------------------------------------------- close */

static void on_handle_closed(uv_handle_t *h)
{
    invq_async *a = h->data;
    asend *s;
    if (--a->open_handles > 0 || !a->finishing)
        return;
    /* Nothing of the producer is left on the loop; settle what waits. */
    if (a->waiting.n > 0 && a->spool)
        spool_list(a, &a->waiting);
    while ((s = list_pop(&a->waiting)) != NULL)
        complete(a, s, INVQ_ECLOSED);
    if (a->close_cb)
        a->close_cb(a, a->close_data);
    spool_close(a->spool);
    prod_config_deinit(&a->cfg);
    free(a);
}

static void on_link_closed(rlink *l, void *data)
{
    invq_async *a = data;
    on_handle_closed((uv_handle_t *)&a->flusher);
}

/* Once closing and nothing is in flight: close every handle. */
static void maybe_finish(invq_async *a)
{
    if (!a->closing || a->finishing)
        return;
    if (a->inflight > 0 || (a->waiting.n > 0 && is_ready(a)))
        return;
    a->finishing = true;
    a->open_handles += 2;
    uv_close((uv_handle_t *)&a->flusher, on_handle_closed);
    rlink_close(&a->link, on_link_closed, a);
}

/* ------------------------------------------------------------------- API */

INVQ_API int invq_async_new(void *loop, const invq_options *o, invq_async **out, char *err, size_t errlen)
{
    invq_async *a;
    int rc;

    if (!out || !loop)
        return err_set(err, errlen, INVQ_EINVAL, "loop and out are required");
    *out = NULL;
    if (!(a = calloc(1, sizeof(*a))))
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    if ((rc = prod_config_init(&a->cfg, o, err, errlen)) < 0) {
        free(a);
        return rc;
    }
    if (a->cfg.shards > 1) {
        prod_config_deinit(&a->cfg);
        free(a);
        return err_set(err, errlen, INVQ_EINVAL,
                       "option queue_shards: a sharded queue needs the sync producer (invq_producer_new)");
    }
    if (a->cfg.spool_dir) {
        spool_opts so = {
            .dir = a->cfg.spool_dir,
            .max_bytes = a->cfg.spool_max_bytes,
            .fsync = a->cfg.spool_fsync,
            .fsync_interval_ms = a->cfg.spool_fsync_interval_ms,
            .max_record = a->cfg.lim.max_payload,
        };
        if ((rc = spool_open(&so, &a->spool, err, errlen)) < 0) {
            prod_config_deinit(&a->cfg);
            free(a);
            return rc;
        }
        if (spool_warning(a->spool)[0])
            snprintf(a->errstr, sizeof(a->errstr), "%s", spool_warning(a->spool));
    }
    a->loop = loop;
    redis_url_describe(&a->cfg.url, a->url_text, sizeof(a->url_text));
    rlink_opts lo = {
        .target = "queue",
        .url = &a->cfg.url,
        .url_text = a->url_text,
        .connect_timeout_ms = a->cfg.connect_timeout_ms,
        .command_timeout_ms = a->cfg.command_timeout_ms,
        .backoff_base_ms = (uint64_t)a->cfg.reconnect_min_ms,
        .backoff_max_ms = (uint64_t)a->cfg.reconnect_max_ms,
        .route_key = a->cfg.keys.pending, /* a queue on a cluster: its slot's master */
        .on_state = on_link_state,
        .on_event = on_link_event,
        .data = a,
    };
    if ((rc = rlink_init(&a->link, loop, &lo)) < 0) {
        spool_close(a->spool);
        prod_config_deinit(&a->cfg);
        free(a);
        return err_set(err, errlen, rc, "%s", invq_strerror(rc));
    }
    uv_idle_init(loop, &a->flusher);
    a->flusher.data = a;
    rlink_start(&a->link);
    *out = a;
    return 0;
}

INVQ_API int invq_async_send(invq_async *a, const invq_job *job, invq_send_cb cb, void *data)
{
    asend *s;
    int rc;

    if (!a || !cb)
        return INVQ_EINVAL;
    if (a->closing)
        return err_set(a->errstr, sizeof(a->errstr), INVQ_ECLOSED, "producer is closing");
    if (!a->spool && !is_ready(a) && a->waiting.n >= a->cfg.async_queue_max)
        return err_set(a->errstr, sizeof(a->errstr), INVQ_EQUEUEFULL,
                       "%zu jobs already wait for a connection (async_queue_max)", a->waiting.n);
    if ((rc = prod_config_check_jobs(&a->cfg, &job, 1, a->errstr, sizeof(a->errstr))) < 0)
        return rc;
    if (!(s = calloc(1, sizeof(*s))))
        return err_set(a->errstr, sizeof(a->errstr), INVQ_ENOMEM, "out of memory");
    rc = job_encode_checked(job, &a->cfg.lim, a->cfg.ns, &s->buf, &s->len, a->errstr, sizeof(a->errstr));
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->cb = cb;
    s->data = data;
    list_push(&a->waiting, s);
    kick(a);
    return 0;
}

INVQ_API void invq_async_close(invq_async *a, invq_close_cb cb, void *data)
{
    if (!a || a->closing)
        return;
    a->closing = true;
    a->close_cb = cb;
    a->close_data = data;
    kick(a);
    maybe_finish(a); /* not connected: closes at once, without waiting for a connect */
}

INVQ_API const invq_families *invq_async_families(const invq_async *a)
{
    return a ? a->cfg.fams : NULL;
}

INVQ_API const char *invq_async_errstr(const invq_async *a)
{
    return a ? a->errstr : "";
}

INVQ_API void invq_async_spool_stats(const invq_async *a, invq_spool_stats *st)
{
    spool_stats(a ? a->spool : NULL, st);
}

INVQ_API const char *invq_async_spool_error(const invq_async *a)
{
    return a && a->spool ? spool_warning(a->spool) : "";
}
