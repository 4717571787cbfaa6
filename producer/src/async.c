/* The asynchronous producer: jobs sent during one loop iteration are flushed
 * together (a uv_idle handle, see uvredis.c) as one MULTI/LPUSH/EXEC round trip over an
 * rlink (core's self-reconnecting link: backoff, TLS, Sentinel, cluster);
 * disconnected, they are spooled or held in memory; the spool is replayed
 * chunk by chunk once connected. A sharded queue has one link and one
 * waiting list per shard (on a cluster each shard's slot may be on another
 * master); a job is placed on its shard's list when it is sent. */
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

/* One shard of the queue (the only one of an unsharded queue). */
typedef struct ashard {
    struct invq_async *a;
    const qkeys *keys;   /* borrowed from a->cfg */
    rlink link;
    send_list waiting;
    bool down;           /* the last connect failed or the connection broke */
} ashard;

/* One round trip in flight: fresh jobs, or a spool chunk being replayed. */
typedef struct abatch {
    invq_async *a;
    ashard *sh;
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
    ashard *sh;          /* cfg.shards of them */
    unsigned next;       /* INVQ_SHARD_ROUND_ROBIN: the next send's shard */
    char url_text[300];
    uv_idle_t flusher;
    int open_handles;    /* handles and links still closing */
    size_t waiting;      /* jobs on every shard's waiting list */
    size_t inflight;     /* batches sent, not yet completed */
    bool replaying;
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

/* Puts every job of l back at the head of sh->waiting, in order. */
static void requeue_front(ashard *sh, send_list *l)
{
    if (l->n == 0)
        return;
    l->tail->next = sh->waiting.head;
    if (!sh->waiting.tail)
        sh->waiting.tail = l->tail;
    sh->waiting.head = l->head;
    sh->waiting.n += l->n;
    sh->a->waiting += l->n;
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

static bool shard_ready(const ashard *sh)
{
    return sh->link.up && !sh->a->finishing;
}

/* Every shard connected. */
static bool is_ready(const invq_async *a)
{
    for (unsigned i = 0; i < a->cfg.shards; i++)
        if (!shard_ready(&a->sh[i]))
            return false;
    return true;
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
        requeue_front(b->sh, &b->jobs);
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
    ashard *sh = b->sh;
    enq_plan_deinit(&b->plan);
    free(b->payloads);
    free(b->lens);
    free(b);
    if (reset)
        rlink_reset(&sh->link, why);
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
    int rc = enq_plan_build(&b->plan, b->sh->keys->pending, b->sh->keys->stats, b->payloads, b->lens, n);
    a->inflight++;
    if (rc < 0) {
        b->status = rc;
        snprintf(b->err, sizeof(b->err), "out of memory");
        b->plan.ncmds = 0;
        batch_done(b);
        return;
    }
    for (size_t i = 0; i < b->plan.ncmds; i++) {
        rc = rlink_command(&b->sh->link, b->plan.argc[i], b->plan.argv + b->plan.start[i],
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
                rlink_reset(&b->sh->link, b->err); /* completes b through the teardown */
            return;
        }
    }
}

static abatch *batch_new(invq_async *a, ashard *sh, size_t n)
{
    abatch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->a = a;
    b->sh = sh;
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

/* The shard of a job: by its first key, or the next in turn. */
static unsigned pick_job_shard(invq_async *a, const invq_job *job)
{
    if (a->cfg.shards <= 1)
        return 0;
    if (a->cfg.pick == INVQ_SHARD_BY_KEY)
        return prod_config_key_shard(&a->cfg, job);
    return a->next++ % a->cfg.shards;
}

/* Replays one spool chunk: to the next shard in turn, or with
 * INVQ_SHARD_BY_KEY one job at a time to its key's shard (the shard is
 * decided when the job is replayed, as for a fresh one). Every shard must be
 * connected, so a chunk never waits on a shard that is down. */
static void replay_step(invq_async *a)
{
    spool_chunk c;
    abatch *b;
    int n;

    if (a->replaying || a->closing || !a->spool || spool_pending(a->spool) == 0 || !is_ready(a))
        return;
    bool by_key = a->cfg.shards > 1 && a->cfg.pick == INVQ_SHARD_BY_KEY;
    n = spool_peek(a->spool, &c, by_key ? 1 : REPLAY_MAX_JOBS, REPLAY_MAX_BYTES, a->errstr, sizeof(a->errstr));
    if (n <= 0)
        return;
    unsigned shard = by_key ? prod_config_payload_shard(&a->cfg, c.payloads[0], c.lens[0])
                            : a->cfg.shards > 1 ? a->next++ % a->cfg.shards : 0;
    if (!(b = batch_new(a, &a->sh[shard], (size_t)n))) {
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
    for (unsigned i = 0; i < a->cfg.shards; i++) {
        ashard *sh = &a->sh[i];
        while (sh->waiting.n > 0 && shard_ready(sh) && !spool_busy) {
            size_t n = 0, bytes = 0;
            abatch *b = batch_new(a, sh, sh->waiting.n < BATCH_MAX_JOBS ? sh->waiting.n : BATCH_MAX_JOBS);
            if (!b)
                return;
            while (sh->waiting.n > 0 && n < BATCH_MAX_JOBS && bytes < BATCH_MAX_BYTES) {
                asend *s = list_pop(&sh->waiting);
                a->waiting--;
                list_push(&b->jobs, s);
                b->payloads[n] = s->buf;
                b->lens[n++] = s->len;
                bytes += s->len;
            }
            batch_send(a, b, n);
        }
        /* While a first connect is under way jobs wait; once Redis is known
         * to be down (or the spool still drains) they go to the spool. */
        if (sh->waiting.n > 0 && a->spool && (spool_busy || sh->down || a->closing)) {
            a->waiting -= sh->waiting.n;
            spool_list(a, &sh->waiting);
        }
    }
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
    ashard *sh = data;
    invq_async *a = sh->a;
    sh->down = !up;
    kick(a); /* send, or spool what waits, or let close finish */
    maybe_finish(a);
}

static void on_link_event(rlink *l, const rlink_event *ev, void *data)
{
    ashard *sh = data;
    invq_async *a = sh->a;
    if (ev->kind == RLINK_EV_UP || ev->kind == RLINK_EV_STABLE)
        return;
    sh->down = true;
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
    for (unsigned i = 0; i < a->cfg.shards; i++) {
        if (a->sh[i].waiting.n > 0 && a->spool)
            spool_list(a, &a->sh[i].waiting);
        while ((s = list_pop(&a->sh[i].waiting)) != NULL)
            complete(a, s, INVQ_ECLOSED);
    }
    a->waiting = 0;
    if (a->close_cb)
        a->close_cb(a, a->close_data);
    spool_close(a->spool);
    free(a->sh);
    prod_config_deinit(&a->cfg);
    free(a);
}

static void on_link_closed(rlink *l, void *data)
{
    ashard *sh = data;
    on_handle_closed((uv_handle_t *)&sh->a->flusher);
}

/* Jobs wait on a shard that could take them now. */
static bool sendable(const invq_async *a)
{
    for (unsigned i = 0; i < a->cfg.shards; i++)
        if (a->sh[i].waiting.n > 0 && shard_ready(&a->sh[i]))
            return true;
    return false;
}

/* Once closing and nothing is in flight: close every handle. */
static void maybe_finish(invq_async *a)
{
    if (!a->closing || a->finishing)
        return;
    if (a->inflight > 0 || sendable(a))
        return;
    a->finishing = true;
    a->open_handles += 1 + (int)a->cfg.shards;
    uv_close((uv_handle_t *)&a->flusher, on_handle_closed);
    for (unsigned i = 0; i < a->cfg.shards; i++)
        rlink_close(&a->sh[i].link, on_link_closed, &a->sh[i]);
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
    if (!(a->sh = calloc(a->cfg.shards, sizeof(*a->sh)))) {
        prod_config_deinit(&a->cfg);
        free(a);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
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
            free(a->sh);
            prod_config_deinit(&a->cfg);
            free(a);
            return rc;
        }
        if (spool_warning(a->spool)[0])
            snprintf(a->errstr, sizeof(a->errstr), "%s", spool_warning(a->spool));
    }
    a->loop = loop;
    redis_url_describe(&a->cfg.url, a->url_text, sizeof(a->url_text));
    uv_idle_init(loop, &a->flusher);
    a->flusher.data = a;
    for (unsigned i = 0; i < a->cfg.shards; i++) {
        ashard *sh = &a->sh[i];
        sh->a = a;
        sh->keys = prod_config_shard(&a->cfg, i);
        rlink_opts lo = {
            .target = "queue",
            .url = &a->cfg.url,
            .url_text = a->url_text,
            .connect_timeout_ms = a->cfg.connect_timeout_ms,
            .command_timeout_ms = a->cfg.command_timeout_ms,
            .backoff_base_ms = (uint64_t)a->cfg.reconnect_min_ms,
            .backoff_max_ms = (uint64_t)a->cfg.reconnect_max_ms,
            .route_key = sh->keys->pending, /* a queue on a cluster: its (shard's) slot's master */
            .on_state = on_link_state,
            .on_event = on_link_event,
            .data = sh,
        };
        if ((rc = rlink_init(&sh->link, loop, &lo)) < 0) {
            /* rlink_init leaves nothing on the loop when it fails; the
             * flusher and the links made so far close as on
             * invq_async_close(), which then frees everything */
            err_set(err, errlen, rc, "%s", invq_strerror(rc));
            a->cfg.shards = i;
            a->closing = true;
            maybe_finish(a);
            return rc;
        }
    }
    for (unsigned i = 0; i < a->cfg.shards; i++)
        rlink_start(&a->sh[i].link);
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
    if (!a->spool && !is_ready(a) && a->waiting >= a->cfg.async_queue_max)
        return err_set(a->errstr, sizeof(a->errstr), INVQ_EQUEUEFULL,
                       "%zu jobs already wait for a connection (async_queue_max)", a->waiting);
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
    list_push(&a->sh[pick_job_shard(a, job)].waiting, s);
    a->waiting++;
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
