/* invqctl's queue connection: URL parsing and connecting (TLS, Sentinel)
 * through the shared core plumbing, the queue's key names (qkeys), and
 * checked command helpers. */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>

#include "cluster_route.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "tls.h"

static int open_queue(conn *c, const ctl_common *o, const char *queue);

int conn_open(conn *c, const ctl_common *o)
{
    memset(c, 0, sizeof *c);
    if (o->queue_shards > 1 && o->shard < 0) {
        fprintf(stderr, "invqctl: the queue has %llu shards (--queue-shards): name one with --shard N (0..%llu)\n",
                (unsigned long long)o->queue_shards, (unsigned long long)o->queue_shards - 1);
        return CTL_USAGE;
    }
    return conn_open_shard(c, o, o->shard < 0 ? 0 : (unsigned)o->shard);
}

int conn_open_shard(conn *c, const ctl_common *o, unsigned i)
{
    char q[300];
    memset(c, 0, sizeof *c);
    if (qkeys_shard_name(q, sizeof q, o->queue, (unsigned)o->queue_shards, i) < 0) {
        fprintf(stderr, "invqctl: --queue: name too long\n");
        return CTL_USAGE;
    }
    return open_queue(c, o, q);
}

static int open_queue(conn *c, const ctl_common *o, const char *queue)
{
    if (!o->queue_url || !*o->queue_url) {
        fprintf(stderr, "invqctl: --queue-url (or INVQ_QUEUE_URL) is required\n");
        return CTL_USAGE;
    }
    char err[1024];
    redis_url u;
    if (redis_url_parse(o->queue_url, &u, err, sizeof err) < 0) {
        fprintf(stderr, "invqctl: --queue-url: %s\n", err);
        return CTL_USAGE;
    }
    if (tls_check_files(&u, err, sizeof err) < 0) {
        redis_url_deinit(&u);
        fprintf(stderr, "invqctl: --queue-url: %s\n", err);
        return CTL_USAGE;
    }
    if (qkeys_init(&c->keys, o->ns, queue) < 0) {
        redis_url_deinit(&u);
        fprintf(stderr, "invqctl: out of memory\n");
        return CTL_SOFTWARE;
    }
    int rc;
    if (redis_url_is_cluster(&u)) /* every key of the queue is in one slot: its master */
        rc = cluster_route_connect(&u, cluster_route_slot(c->keys.pending), (int)o->connect_timeout_ms,
                                   (int)o->command_timeout_ms, &c->rc, &c->tls, NULL, 0, NULL, err, sizeof err);
    else
        rc = redis_sync_connect_tls(&u, (int)o->connect_timeout_ms, (int)o->command_timeout_ms, &c->rc, &c->tls,
                                    err, sizeof err);
    char where[300];
    redis_url_describe(&u, where, sizeof where);
    redis_url_deinit(&u);
    if (rc < 0) {
        conn_close(c);
        fprintf(stderr, "invqctl: queue redis %s unreachable: %s\n", where, err);
        return rc == INVQ_ENOMEM ? CTL_SOFTWARE : CTL_UNAVAILABLE;
    }
    c->failure = CTL_SOFTWARE;
    return 0;
}

void conn_close(conn *c)
{
    redis_sync_free(c->rc, c->tls);
    qkeys_deinit(&c->keys);
    memset(c, 0, sizeof *c);
}

char *conn_processing_key(const conn *c, const char *consumer)
{
    size_t n = strlen(c->keys.prefix) + strlen("processing:") + strlen(consumer) + 1;
    char *k = malloc(n);
    if (k && qkeys_processing(&c->keys, consumer, k, n) < 0) {
        free(k);
        k = NULL;
    }
    return k;
}

static const char *type_name(int t)
{
    switch (t) {
    case REDIS_REPLY_STRING:
        return "a string";
    case REDIS_REPLY_ARRAY:
        return "an array";
    case REDIS_REPLY_INTEGER:
        return "an integer";
    case REDIS_REPLY_NIL:
        return "nil";
    case REDIS_REPLY_STATUS:
        return "a status";
    default:
        return "an error";
    }
}

/* Checks a reply (NULL: the context failed). Frees it and prints on error. */
static redisReply *check(conn *c, redisReply *r, const char *what, int want_type)
{
    char err[512];
    if (!r) {
        redis_sync_ctx_error(c->rc, what, err, sizeof err);
        fprintf(stderr, "invqctl: redis: %s\n", err);
        c->failure = CTL_UNAVAILABLE;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        int code = redis_reply_error(r, what, err, sizeof err);
        /* a node that is not a writable master now (a failover): the
         * command changed nothing; running invqctl again reconnects, and
         * rediscovers a Sentinel master */
        bool node = redis_err_node_unavailable(r->str, r->len) != 0;
        fprintf(stderr, "invqctl: redis: %s%s\n", err, node ? " (the node cannot take writes now: run it again)" : "");
        c->failure = code == INVQ_EAUTH || node ? CTL_UNAVAILABLE : CTL_SOFTWARE;
        freeReplyObject(r);
        return NULL;
    }
    if (want_type >= 0 && r->type != want_type) {
        fprintf(stderr, "invqctl: redis: %s: expected %s reply, got %s\n", what, type_name(want_type),
                type_name(r->type));
        c->failure = CTL_SOFTWARE;
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static void describe(char *buf, size_t len, int argc, const char **argv)
{
    snprintf(buf, len, "%s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

redisReply *conn_run(conn *c, int argc, const char **argv, const size_t *lens, int want_type)
{
    char what[256];
    describe(what, sizeof what, argc, argv);
    return check(c, redisCommandArgv(c->rc, argc, argv, lens), what, want_type);
}

redisReply *conn_runf(conn *c, int want_type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->rc, fmt, ap);
    va_end(ap);
    char what[64];
    snprintf(what, sizeof what, "%.*s", (int)strcspn(fmt, " "), fmt);
    return check(c, r, what, want_type);
}

int conn_append(conn *c, int argc, const char **argv, const size_t *lens)
{
    if (redisAppendCommandArgv(c->rc, argc, argv, lens) != REDIS_OK) {
        fprintf(stderr, "invqctl: out of memory\n");
        c->failure = CTL_SOFTWARE;
        return -ENOMEM;
    }
    return 0;
}

redisReply *conn_reply(conn *c, const char *what, int want_type)
{
    void *r = NULL;
    if (redisGetReply(c->rc, &r) != REDIS_OK)
        r = NULL;
    return check(c, r, what, want_type);
}

int conn_script_load(conn *c, const char *src, char *sha)
{
    const char *argv[] = {"SCRIPT", "LOAD", src};
    redisReply *r = conn_run(c, 3, argv, NULL, REDIS_REPLY_STRING);
    if (!r)
        return c->failure;
    snprintf(sha, 41, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

static int check_types(conn *c, const char *const *keys, const char *const *types, size_t n, bool lenient)
{
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"TYPE", keys[i]};
        redisReply *t = redisCommandArgv(c->rc, 2, argv, NULL);
        if (lenient && t && t->type == REDIS_REPLY_ERROR && strncmp(t->str, "NOPERM", 6) == 0) {
            freeReplyObject(t); /* this user may not look: the write itself will tell */
            return 0;
        }
        t = check(c, t, "TYPE", REDIS_REPLY_STATUS);
        if (!t)
            return c->failure;
        bool ok = strcmp(t->str, types[i]) == 0 || strcmp(t->str, "none") == 0;
        if (!ok)
            fprintf(stderr,
                    "invqctl: queue key %s has type %s, expected %s; refusing to write: fix or remove that key\n",
                    keys[i], t->str, types[i]);
        freeReplyObject(t);
        if (!ok)
            return CTL_SOFTWARE;
    }
    return 0;
}

int conn_check_types(conn *c, const char *const *keys, const char *const *types, size_t n)
{
    return check_types(c, keys, types, n, false);
}

int conn_check_types_if_allowed(conn *c, const char *const *keys, const char *const *types, size_t n)
{
    return check_types(c, keys, types, n, true);
}

long long conn_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}
