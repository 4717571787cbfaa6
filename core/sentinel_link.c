/* Master discovery through the sentinels of a Sentinel URL, one sentinel
 * at a time, over uvredis (see sentinel_link.h). */
#include "sentinel_link.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sentinel.h"
#include "uvredis.h"

struct sentinel_link {
    uv_loop_t *loop;
    const redis_url *u;
    int connect_timeout_ms, command_timeout_ms;
    size_t cur;       /* the sentinel asked next (and connected, when conn is set) */
    uvredis *conn;    /* kept between queries */
    bool conn_ready;
    uv_timer_t kick;  /* starts a query from the loop */
    bool busy;
    size_t tried;     /* sentinels that failed in this query */
    int last;         /* the last failure's code */
    sentinel_query_cb cb;
    void *data;
    char seen[1024];  /* what each sentinel gave in this query */
    bool closing;
    int pending;      /* handles and connections still closing */
    sentinel_link_close_cb close_cb;
    void *close_data;
};

static void ask(sentinel_link *s);

static void maybe_free(sentinel_link *s)
{
    if (!s->closing || s->pending > 0)
        return;
    if (s->close_cb)
        s->close_cb(s, s->close_data);
    free(s);
}

static void on_conn_closed(uvredis *r, void *data)
{
    sentinel_link *s = data;
    s->pending--;
    maybe_free(s);
}

static void drop_conn(sentinel_link *s)
{
    if (!s->conn)
        return;
    uvredis *r = s->conn;
    s->conn = NULL;
    s->conn_ready = false;
    s->pending++;
    uvredis_close(r, on_conn_closed, s);
}

static void finish(sentinel_link *s, int status, const char *host, int port)
{
    s->busy = false;
    s->cb(s, status, host, port, status < 0 ? s->seen : NULL, s->data);
}

/* The current sentinel failed: note why and go on with the next one. */
static void failed(sentinel_link *s, int status, const char *why)
{
    size_t used = strlen(s->seen);
    const redis_addr *a = &s->u->sentinels[s->cur];
    snprintf(s->seen + used, sizeof s->seen - used, "%ssentinel %s:%d: %s", used ? "; " : "", a->host, a->port,
             why);
    s->last = status == INVQ_EREPLY || status == INVQ_EPROTO ? INVQ_ECONNECT : status;
    drop_conn(s);
    s->cur = (s->cur + 1) % s->u->nsentinels;
    if (++s->tried >= s->u->nsentinels) {
        finish(s, s->last, NULL, 0);
        return;
    }
    ask(s);
}

static void on_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    sentinel_link *s = data;
    char host[SENTINEL_HOST_MAX], msg[300];
    int port = 0;
    if (s->closing || !s->busy || r != s->conn)
        return; /* a connection already dropped */
    if (status < 0) {
        failed(s, status, uvredis_errstr(r)[0] ? uvredis_errstr(r) : invq_strerror(status));
        return;
    }
    int rc = sentinel_parse_addr(reply, s->u->master_name, host, sizeof host, &port, msg, sizeof msg);
    if (rc < 0) {
        failed(s, rc, msg);
        return;
    }
    finish(s, 0, host, port);
}

static void send_query(sentinel_link *s)
{
    const char *argv[3];
    size_t lens[3];
    sentinel_query_argv(s->u->master_name, argv, lens);
    int rc = uvredis_command_argv(s->conn, 3, argv, lens, on_reply, s);
    if (rc < 0)
        failed(s, rc, invq_strerror(rc));
}

static void on_connect(uvredis *r, int status, void *data)
{
    sentinel_link *s = data;
    if (r != s->conn)
        return;
    if (status < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", uvredis_errstr(r));
        if (s->busy)
            failed(s, status, why);
        else
            drop_conn(s);
        return;
    }
    s->conn_ready = true;
}

static void on_lost(uvredis *r, int status, void *data)
{
    sentinel_link *s = data;
    /* an outstanding query has already failed through its reply callback */
    if (r == s->conn)
        drop_conn(s);
}

static void ask(sentinel_link *s)
{
    if (!s->conn) {
        redis_url node;
        char err[512];
        uvredis_opts o = {
            .connect_timeout_ms = s->connect_timeout_ms,
            .command_timeout_ms = s->command_timeout_ms,
            .on_connect = on_connect,
            .on_lost = on_lost,
            .data = s,
        };
        if (redis_url_node(s->u, s->cur, NULL, 0, &node) < 0) {
            failed(s, INVQ_ENOMEM, "out of memory");
            return;
        }
        int rc = uvredis_new(s->loop, &node, &o, &s->conn, err, sizeof err);
        redis_url_deinit(&node);
        if (rc < 0) {
            s->conn = NULL;
            failed(s, rc, err);
            return;
        }
    }
    send_query(s); /* queued behind the connect when it is still under way */
}

static void on_kick(uv_timer_t *t)
{
    sentinel_link *s = t->data;
    if (s->busy && !s->closing)
        ask(s);
}

int sentinel_link_new(uv_loop_t *loop, const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                      sentinel_link **out)
{
    sentinel_link *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return INVQ_ENOMEM;
    s->loop = loop;
    s->u = u;
    s->connect_timeout_ms = connect_timeout_ms;
    s->command_timeout_ms = command_timeout_ms;
    uv_timer_init(loop, &s->kick);
    s->kick.data = s;
    *out = s;
    return 0;
}

int sentinel_link_query(sentinel_link *s, sentinel_query_cb cb, void *data)
{
    if (s->busy || s->closing)
        return INVQ_EINVAL;
    s->busy = true;
    s->tried = 0;
    s->seen[0] = '\0';
    s->last = INVQ_ECONNECT;
    s->cb = cb;
    s->data = data;
    uv_timer_start(&s->kick, on_kick, 0, 0);
    return 0;
}

int sentinel_link_busy(const sentinel_link *s)
{
    return s->busy;
}

void sentinel_link_next(sentinel_link *s)
{
    if (s->busy || s->closing)
        return;
    drop_conn(s);
    s->cur = (s->cur + 1) % s->u->nsentinels;
}

static void on_kick_closed(uv_handle_t *h)
{
    sentinel_link *s = h->data;
    s->pending--;
    maybe_free(s);
}

void sentinel_link_close(sentinel_link *s, sentinel_link_close_cb cb, void *data)
{
    if (s->closing)
        return;
    s->closing = true;
    s->busy = false;
    s->close_cb = cb;
    s->close_data = data;
    s->pending++;
    uv_close((uv_handle_t *)&s->kick, on_kick_closed);
    drop_conn(s);
}
