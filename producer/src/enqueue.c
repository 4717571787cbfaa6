/* Building and checking the MULTI/LPUSH/HINCRBY/EXEC round trip that puts
 * jobs on a queue atomically. */
#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_route.h"
#include "error.h"
#include "redis_sync.h"
#include "sigpipe.h"

int enq_plan_build(enq_plan *p, const char *pending_key, const char *stats_key,
                   const uint8_t *const *payloads, const size_t *lens, size_t n)
{
    size_t chunks = (n + ENQ_MAX_PER_LPUSH - 1) / ENQ_MAX_PER_LPUSH;
    size_t total = 1 + chunks * 2 + n + 4 + 1, a = 0, done = 0, c = 0;

    memset(p, 0, sizeof(*p));
    p->ncmds = chunks + 3;
    p->nlpush = chunks;
    p->argv = malloc(total * sizeof(*p->argv));
    p->lens = malloc(total * sizeof(*p->lens));
    p->start = malloc(p->ncmds * sizeof(*p->start));
    p->argc = malloc(p->ncmds * sizeof(*p->argc));
    if (!p->argv || !p->lens || !p->start || !p->argc) {
        enq_plan_deinit(p);
        return INVQ_ENOMEM;
    }
    snprintf(p->count, sizeof(p->count), "%zu", n);

#define ARG(s, l) (p->argv[a] = (const char *)(s), p->lens[a] = (l), a++)
    p->start[c] = a, p->argc[c++] = 1;
    ARG("MULTI", 5);
    while (done < n) {
        size_t k = n - done < ENQ_MAX_PER_LPUSH ? n - done : ENQ_MAX_PER_LPUSH;
        p->start[c] = a, p->argc[c++] = (int)(k + 2);
        ARG("LPUSH", 5);
        ARG(pending_key, strlen(pending_key));
        for (size_t i = 0; i < k; i++)
            ARG(payloads[done + i], lens[done + i]);
        done += k;
    }
    p->start[c] = a, p->argc[c++] = 4;
    ARG("HINCRBY", 7);
    ARG(stats_key, strlen(stats_key));
    ARG("enqueued", 8);
    ARG(p->count, strlen(p->count));
    p->start[c] = a, p->argc[c++] = 1;
    ARG("EXEC", 4);
#undef ARG
    return 0;
}

void enq_plan_deinit(enq_plan *p)
{
    free(p->argv);
    free(p->lens);
    free(p->start);
    free(p->argc);
    memset(p, 0, sizeof(*p));
}

int enq_check_reply(const enq_plan *p, size_t i, const redisReply *r, int *transient,
                    char *err, size_t errlen)
{
    *transient = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        *transient = cluster_reply_is_redirect(r) ? ENQ_REDIRECT : redis_reply_is_transient(r);
        return redis_reply_error(r, i == 0 ? "MULTI" : i + 1 == p->ncmds ? "EXEC" : "enqueue", err, errlen);
    }
    if (i + 1 < p->ncmds) {
        const char *want = i == 0 ? "OK" : "QUEUED";
        if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, want) != 0)
            return err_set(err, errlen, INVQ_EPROTO, "enqueue: expected +%s, got reply type %d", want, r->type);
        return 0;
    }
    if (r->type == REDIS_REPLY_NIL)
        return err_set(err, errlen, INVQ_EREPLY, "EXEC: transaction aborted");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != p->nlpush + 1)
        return err_set(err, errlen, INVQ_EPROTO, "EXEC: unexpected reply type %d", r->type);
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type == REDIS_REPLY_ERROR) {
            *transient = cluster_reply_is_redirect(e) ? ENQ_REDIRECT : redis_reply_is_transient(e);
            return redis_reply_error(e, k < p->nlpush ? "LPUSH" : "HINCRBY", err, errlen);
        }
        if (e->type != REDIS_REPLY_INTEGER)
            return err_set(err, errlen, INVQ_EPROTO, "EXEC: element %zu has type %d", k, e->type);
    }
    return 0;
}

static int run_sync(const enq_plan *p, redisContext *c, int *transient, int *conn_broken,
                    char *err, size_t errlen)
{
    int rc = 0;
    *transient = 0;
    *conn_broken = 0;
    for (size_t i = 0; i < p->ncmds; i++) {
        if (redisAppendCommandArgv(c, p->argc[i], p->argv + p->start[i], p->lens + p->start[i]) != REDIS_OK) {
            *conn_broken = 1;
            return redis_sync_ctx_error(c, "enqueue", err, errlen);
        }
    }
    for (size_t i = 0; i < p->ncmds; i++) {
        void *v = NULL;
        int tr = 0;
        if (redisGetReply(c, &v) != REDIS_OK || !v) {
            *conn_broken = 1;
            return redis_sync_ctx_error(c, "enqueue", err, errlen);
        }
        /* Read every reply to keep the connection in step; report the first error. */
        int one = enq_check_reply(p, i, v, &tr, rc < 0 ? NULL : err, rc < 0 ? 0 : errlen);
        if (one < 0 && rc == 0) {
            rc = one;
            *transient = tr;
        }
        freeReplyObject(v);
    }
    return rc;
}

int enq_plan_run_sync(const enq_plan *p, redisContext *c, int *transient, int *conn_broken,
                      char *err, size_t errlen)
{
    sigpipe_guard g;
    sigpipe_block(&g);
    int rc = run_sync(p, c, transient, conn_broken, err, errlen);
    sigpipe_restore(&g);
    return rc;
}
