/* hiredis async ↔ libuv glue with connect/command timeouts, poll errors
 * treated as a dead connection, TLS through a tlspipe and the setup round
 * trips (AUTH, SELECT, ROLE) (see uvredis.h). Replaces hiredis 0.14's
 * adapters/libuv.h, which ignores poll errors, leaks on uv_poll_init failure,
 * and restarts the poll handle (two epoll_ctl each time) whenever hiredis
 * asks for write interest, that is around every command. */
#include "uvredis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/async.h>

#include "error.h"
#include "redis_sync.h"
#include "sentinel.h"
#include "sigpipe.h"
#include "tlspipe.h"

enum uvredis_state { ST_CONNECTING, ST_READY, ST_GONE, ST_CLOSING };

struct uvredis {
    uv_loop_t *loop;
    redisAsyncContext *ac; /* NULL once hiredis freed it */
    bool freeing;          /* redisAsyncFree() called, maybe deferred by hiredis */
    uv_poll_t poll;
    bool poll_open;
    int poll_events;       /* the events the poll handle is started with */
    uv_idle_t flush;       /* writes hiredis's output buffer before the loop polls */
    bool writing;          /* inside redisAsyncHandleWrite() */
    bool sigpipe_ignored;  /* SIGPIPE was SIG_IGN at connect: writes need no guard */
    uv_timer_t conn_timer; /* connect timeout, and deferred kills */
    uv_timer_t cmd_timer;  /* reply progress while commands are outstanding */
    int open_handles;
    enum uvredis_state state;
    int gone_status;       /* why the connection ended; 0 while alive */
    int setup_pending;     /* AUTH/SELECT/ROLE/PING replies still expected */
    bool tcp_connected;
    tlspipe *tls;          /* TLS: pumps hiredis's socketpair end to the network; NULL for plain */
    bool tls_ready;        /* the handshake finished (always true without TLS) */
    size_t outstanding;
    uvredis_opts o;
    uvredis_close_cb close_cb;
    void *close_data;
    char addr[300];        /* the address, for messages */
    char errstr[512];
};

/* One command in flight: the caller's callback, or a setup step. */
typedef struct tramp {
    uvredis_reply_cb cb;
    void *data;
    int setup; /* 0: a caller's command, or SETUP_* */
} tramp;

enum { SETUP_AUTH = 1, SETUP_SELECT, SETUP_ROLE, SETUP_PING };

static const char *const setup_names[] = { "", "AUTH", "SELECT", "ROLE", "PING" };

static void note_gone(uvredis *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void note_gone(uvredis *r, int status, const char *fmt, ...)
{
    va_list ap;
    if (r->gone_status != 0)
        return; /* the first reason wins */
    r->gone_status = status;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof(r->errstr), fmt, ap);
    va_end(ap);
}

/* The reason hiredis itself dropped the connection. */
static void note_gone_from_ac(uvredis *r, const redisAsyncContext *ac)
{
    if (ac->err == REDIS_ERR_EOF)
        note_gone(r, INVQ_EIO, "Redis closed the connection");
    else if (ac->err == REDIS_ERR_PROTOCOL)
        note_gone(r, INVQ_EPROTO, "protocol error: %s", ac->errstr);
    else if (ac->err == REDIS_ERR_OOM)
        note_gone(r, INVQ_ENOMEM, "out of memory in hiredis");
    else if (ac->err)
        note_gone(r, r->state == ST_CONNECTING ? INVQ_ECONNECT : INVQ_EIO, "%s", ac->errstr);
    else
        note_gone(r, INVQ_EIO, "connection closed");
}

static void maybe_finish_close(uvredis *r)
{
    if (r->state != ST_CLOSING || r->ac || r->open_handles > 0)
        return;
    if (r->close_cb)
        r->close_cb(r, r->close_data);
    free(r);
}

static void on_handle_closed(uv_handle_t *h)
{
    uvredis *r = h->data;
    r->open_handles--;
    maybe_finish_close(r);
}

/* Drops the connection now (or as soon as hiredis leaves its callback). */
static void kill_connection(uvredis *r)
{
    if (!r->ac || r->freeing)
        return;
    r->freeing = true;
    redisAsyncFree(r->ac);
}

/* ------------------------------------------------ event-library hooks */

static void on_poll(uv_poll_t *h, int status, int events);
static void on_flush(uv_idle_t *h);
static void on_conn_timer(uv_timer_t *t);

static void set_events(uvredis *r, int events)
{
    if (!r->poll_open || events == r->poll_events)
        return;
    int rc = events ? uv_poll_start(&r->poll, events, on_poll) : uv_poll_stop(&r->poll);
    r->poll_events = events;
    if (rc < 0) {
        /* We are inside hiredis here: kill from the loop, not from this stack. */
        note_gone(r, INVQ_EIO, "poll: %s", uv_strerror(rc));
        uv_timer_start(&r->conn_timer, on_conn_timer, 0, 0);
    }
}

static void ev_add_read(void *p) { uvredis *r = p; set_events(r, r->poll_events | UV_READABLE); }
static void ev_del_read(void *p) { uvredis *r = p; set_events(r, r->poll_events & ~UV_READABLE); }
static void ev_del_write(void *p) { uvredis *r = p; set_events(r, r->poll_events & ~UV_WRITABLE); }

/* hiredis has output to write. Once connected, on_flush writes it before the
 * loop next polls, so a burst of commands costs one write() and no
 * epoll_ctl. It is an idle handle, not a prepare handle: one started from a
 * prepare callback (the async producer's flusher) would only run after the
 * loop's next poll, which may block; an active idle handle keeps that poll
 * from blocking. The poll handle waits for UV_WRITABLE only while connecting (the
 * first writable event tells hiredis the connect finished) and when the
 * socket did not take everything (hiredis asks again from inside a write). */
static void ev_add_write(void *p)
{
    uvredis *r = p;
    if (r->writing || !(r->ac->c.flags & REDIS_CONNECTED))
        set_events(r, r->poll_events | UV_WRITABLE);
    else if (!(r->poll_events & UV_WRITABLE) && !uv_is_closing((uv_handle_t *)&r->flush))
        uv_idle_start(&r->flush, on_flush);
}

static void on_tls_closed(tlspipe *t, void *data)
{
    uvredis *r = data;
    r->open_handles--;
    maybe_finish_close(r);
}

static void close_tls(uvredis *r)
{
    if (r->tls) {
        tlspipe *t = r->tls;
        r->tls = NULL;
        tlspipe_close(t, on_tls_closed, r);
    }
}

/* hiredis is freeing the context: pending replies already ran with NULL. */
static void ev_cleanup(void *p)
{
    uvredis *r = p;
    enum uvredis_state was = r->state;

    if (r->gone_status == 0)
        note_gone_from_ac(r, r->ac);
    r->ac = NULL;
    close_tls(r);
    if (r->poll_open) {
        r->poll_open = false;
        uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&r->flush))
        uv_idle_stop(&r->flush);
    if (!uv_is_closing((uv_handle_t *)&r->conn_timer))
        uv_timer_stop(&r->conn_timer);
    if (!uv_is_closing((uv_handle_t *)&r->cmd_timer))
        uv_timer_stop(&r->cmd_timer);
    if (was == ST_CLOSING)
        return;
    r->state = ST_GONE;
    if (was == ST_CONNECTING)
        r->o.on_connect(r, r->gone_status, r->o.data);
    else if (was == ST_READY && r->o.on_lost)
        r->o.on_lost(r, r->gone_status, r->o.data);
}

/* Writes what hiredis has buffered. r stays valid across the call even if
 * hiredis drops the connection: it is freed only once its handles closed. */
static void write_output(uvredis *r)
{
    sigpipe_guard g;
    bool guard = !r->sigpipe_ignored;

    if (guard)
        sigpipe_block(&g);
    r->writing = true;
    redisAsyncHandleWrite(r->ac);
    r->writing = false;
    if (guard)
        sigpipe_restore(&g);
}

static void on_flush(uv_idle_t *h)
{
    uvredis *r = h->data;
    uv_idle_stop(h);
    if (r->ac && !r->freeing)
        write_output(r);
}

/* What hiredis has read but not parsed yet starts at the first incomplete
 * item of a reply: when that is a bulk string whose declared length is over
 * the limit (or the unparsed bytes alone are), drop the connection before
 * the rest arrives. Each read adds at most 16 KiB, so this bounds what a
 * reply string costs in memory to the limit. */
static void check_bulk_len(uvredis *r)
{
    const redisReader *rd = r->ac->c.reader;
    const char *p = rd->buf + rd->pos;
    size_t n = rd->len - rd->pos, i;
    unsigned long long len = 0;

    if (n > r->o.max_bulk_len + 64) {
        note_gone(r, INVQ_EPROTO, "reply of more than %zu bytes refused", r->o.max_bulk_len);
        kill_connection(r);
        return;
    }
    /* hiredis consumes the '$' of a bulk string before its length */
    if (n > 0 && p[0] == '$')
        i = 1;
    else if (rd->ridx >= 0 && rd->rstack[rd->ridx].type == REDIS_REPLY_STRING)
        i = 0;
    else
        return;
    for (size_t start = i; i < n && i < start + 20 && p[i] >= '0' && p[i] <= '9'; i++)
        len = len * 10 + (unsigned long long)(p[i] - '0');
    if (len > r->o.max_bulk_len) {
        note_gone(r, INVQ_EPROTO, "reply string of %llu bytes over the limit of %zu refused", len,
                  r->o.max_bulk_len);
        kill_connection(r);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    uvredis *r = h->data;
    if (!r->ac || r->freeing)
        return;
    if (status < 0) {
        int e = err_socket(r->ac->c.fd); /* libuv reports any POLLERR as UV_EBADF */
        if (r->state == ST_CONNECTING && !r->tcp_connected)
            note_gone(r, INVQ_ECONNECT, "connect %s: %s", r->addr, e ? strerror(e) : uv_strerror(status));
        else
            note_gone(r, INVQ_EIO, "connection to %s: %s", r->addr, e ? strerror(e) : uv_strerror(status));
        kill_connection(r);
        return;
    }
    if (events & UV_READABLE) {
        redisAsyncHandleRead(r->ac);
        if (r->ac && !r->freeing && r->o.max_bulk_len > 0)
            check_bulk_len(r);
    }
    if (r->ac && !r->freeing && (events & UV_WRITABLE))
        write_output(r);
}

/* Connect timeout, or a kill deferred out of a hiredis hook. */
static void on_conn_timer(uv_timer_t *t)
{
    uvredis *r = t->data;
    if (r->state == ST_CONNECTING && r->tls && tlspipe_tcp_connected(r->tls) && !r->tls_ready)
        note_gone(r, INVQ_ETIMEOUT, "TLS handshake with %s timed out after %d ms (does the server speak TLS there?)",
                  r->addr, r->o.connect_timeout_ms);
    else
        note_gone(r, INVQ_ETIMEOUT, "connect %s timed out after %d ms", r->addr, r->o.connect_timeout_ms);
    kill_connection(r);
}

static void on_cmd_timer(uv_timer_t *t)
{
    uvredis *r = t->data;
    note_gone(r, INVQ_ETIMEOUT, "no reply from Redis for %d ms", r->o.command_timeout_ms);
    kill_connection(r);
}

/* ------------------------------------------------------ connect/ready */

static void become_ready(uvredis *r)
{
    uv_timer_stop(&r->conn_timer);
    r->state = ST_READY;
    /* the command timeout counts from here: until now the connect timeout
     * covered the commands queued behind the connect (and a TLS handshake) */
    if (r->outstanding > 0 && r->o.command_timeout_ms > 0)
        uv_timer_start(&r->cmd_timer, on_cmd_timer, (uint64_t)r->o.command_timeout_ms, 0);
    r->o.on_connect(r, 0, r->o.data);
}

static void maybe_ready(uvredis *r)
{
    if (r->tcp_connected && r->tls_ready && r->setup_pending == 0 && r->state == ST_CONNECTING)
        become_ready(r);
}

static void on_hiredis_connect(const redisAsyncContext *ac, int status)
{
    uvredis *r = ac->data;
    if (status != REDIS_OK) {
        note_gone(r, INVQ_ECONNECT, "connect %s: %s", r->addr, ac->errstr);
        return; /* hiredis frees the context next; ev_cleanup reports it */
    }
    r->tcp_connected = true;
    maybe_ready(r);
}

/* The TLS pump's news: the handshake is done, or the connection is over
 * (its reason wins over the end of file hiredis reads next). */
static void on_tls(tlspipe *t, tlspipe_event ev, int status, const char *msg, void *data)
{
    uvredis *r = data;
    if (ev == TLSPIPE_READY) {
        r->tls_ready = true;
        maybe_ready(r);
    } else if (ev == TLSPIPE_ENDED && status < 0) {
        note_gone(r, status, "%s", msg);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    uvredis *r = ac->data;
    tramp *t = privdata;
    redisReply *rep = reply;

    r->outstanding--;
    if (r->o.command_timeout_ms > 0 && r->state == ST_READY && !uv_is_closing((uv_handle_t *)&r->cmd_timer)) {
        if (r->outstanding > 0 && rep)
            uv_timer_start(&r->cmd_timer, on_cmd_timer, (uint64_t)r->o.command_timeout_ms, 0);
        else if (r->outstanding == 0)
            uv_timer_stop(&r->cmd_timer);
    }
    if (!rep) {
        /* hiredis is tearing the context down: accept no more commands. */
        r->freeing = true;
        if (r->gone_status == 0)
            note_gone_from_ac(r, ac);
    }

    if (t->setup) {
        char msg[400];
        int code = 0;
        if (rep && t->setup == SETUP_ROLE)
            code = sentinel_check_role(rep, r->addr, msg, sizeof(msg));
        else if (rep && rep->type == REDIS_REPLY_ERROR)
            code = redis_reply_error(rep, setup_names[t->setup], msg, sizeof(msg));
        if (code < 0) {
            if (t->setup == SETUP_AUTH)
                code = INVQ_EAUTH;
            note_gone(r, code, "%s", msg);
            kill_connection(r); /* deferred by hiredis until we return */
        } else if (rep) {
            r->setup_pending--;
            maybe_ready(r);
        }
    } else if (t->cb) {
        t->cb(r, rep ? 0 : r->gone_status, rep, t->data);
    }
    free(t);
}

static int send_cmd(uvredis *r, int argc, const char **argv, const size_t *lens, tramp *t)
{
    if (redisAsyncCommandArgv(r->ac, on_reply, t, argc, argv, lens) != REDIS_OK)
        return INVQ_ENOMEM;
    if (r->outstanding++ == 0 && r->o.command_timeout_ms > 0 && r->state == ST_READY)
        uv_timer_start(&r->cmd_timer, on_cmd_timer, (uint64_t)r->o.command_timeout_ms, 0);
    return 0;
}

static int send_setup1(uvredis *r, int setup, int argc, const char **argv, const size_t *lens)
{
    tramp *t = calloc(1, sizeof(*t));
    if (!t)
        return INVQ_ENOMEM;
    t->setup = setup;
    if (send_cmd(r, argc, argv, lens, t) < 0) {
        free(t);
        return INVQ_ENOMEM;
    }
    r->setup_pending++;
    return 0;
}

/* AUTH, SELECT, ROLE for a node found through Sentinel; over TLS at least
 * one round trip (PING), so a client certificate the server refuses after
 * the handshake fails the connect rather than the first command. */
static int send_setup(uvredis *r, const redis_url *u)
{
    int rc = 0;
    if (u->password) {
        const char *argv[3] = { "AUTH", u->user ? u->user : u->password, u->password };
        size_t lens[3] = { 4, strlen(argv[1]), strlen(u->password) };
        rc = send_setup1(r, SETUP_AUTH, u->user ? 3 : 2, argv, lens);
    }
    if (rc == 0 && u->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[2] = { "SELECT", db };
        size_t lens[2] = { 6, strlen(db) };
        rc = send_setup1(r, SETUP_SELECT, 2, argv, lens);
    }
    if (rc == 0 && u->require_master) {
        const char *argv[1] = { "ROLE" };
        size_t lens[1] = { 4 };
        rc = send_setup1(r, SETUP_ROLE, 1, argv, lens);
    }
    if (rc == 0 && u->tls && r->setup_pending == 0) {
        const char *argv[1] = { "PING" };
        size_t lens[1] = { 4 };
        rc = send_setup1(r, SETUP_PING, 1, argv, lens);
    }
    return rc;
}

int uvredis_new(uv_loop_t *loop, const redis_url *u, const uvredis_opts *o, uvredis **out,
                char *err, size_t errlen)
{
    char addr[300];
    uvredis *r;
    redisAsyncContext *ac;
    int rc;

    *out = NULL;
    redis_url_describe(u, addr, sizeof(addr));
    if (!o->on_connect)
        return err_set(err, errlen, INVQ_EINVAL, "uvredis: on_connect is required");
    if (redis_url_is_sentinel(u))
        return err_set(err, errlen, INVQ_EINVAL, "uvredis: %s: a Sentinel URL is resolved by rlink", addr);
    if (!(r = calloc(1, sizeof(*r))))
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    ac = u->path ? redisAsyncConnectUnix(u->path) : redisAsyncConnect(u->host, u->port);
    if (!ac) {
        free(r);
        return err_set(err, errlen, INVQ_ENOMEM, "connect %s: out of memory", addr);
    }
    if (ac->err) {
        rc = err_set(err, errlen, INVQ_ECONNECT, "connect %s: %s", addr, ac->errstr);
        redisAsyncFree(ac);
        free(r);
        return rc;
    }
    int net_fd = -1, pipe_fd = -1;
    if (u->tls && (rc = tlspipe_splice(ac->c.fd, false, &net_fd, &pipe_fd, err, errlen)) < 0) {
        redisAsyncFree(ac);
        free(r);
        return rc;
    }
    if ((rc = uv_poll_init_socket(loop, &r->poll, ac->c.fd)) < 0) {
        redisAsyncFree(ac); /* no hooks attached yet: nothing calls back */
        free(r);
        if (u->tls) {
            close(net_fd);
            close(pipe_fd);
        }
        return err_set(err, errlen, INVQ_ECONNECT, "connect %s: poll init: %s", addr, uv_strerror(rc));
    }
    r->loop = loop;
    r->ac = ac;
    r->o = *o;
    r->state = ST_CONNECTING;
    r->poll.data = r;
    r->poll_open = true;
    r->open_handles = 4;
    r->sigpipe_ignored = sigpipe_ignored();
    r->tls_ready = !u->tls;
    snprintf(r->addr, sizeof(r->addr), "%s", addr);
    uv_idle_init(loop, &r->flush);
    uv_timer_init(loop, &r->conn_timer);
    uv_timer_init(loop, &r->cmd_timer);
    r->flush.data = r;
    r->conn_timer.data = r;
    r->cmd_timer.data = r;

    ac->data = r;
    ac->ev.data = r;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_hiredis_connect);
    if (o->connect_timeout_ms > 0)
        uv_timer_start(&r->conn_timer, on_conn_timer, (uint64_t)o->connect_timeout_ms, 0);
    if (u->tls) {
        /* the pipe's own timeout stays off: conn_timer covers the handshake */
        rc = tlspipe_new(loop, u, net_fd, pipe_fd, 0, on_tls, r, &r->tls, err, errlen);
        if (rc < 0) {
            r->state = ST_CLOSING;
            uvredis_close(r, NULL, NULL);
            return rc;
        }
        r->open_handles++;
    }

    if (send_setup(r, u) < 0) {
        /* Tear down quietly: the caller gets the error, no callback. */
        r->state = ST_CLOSING;
        uvredis_close(r, NULL, NULL);
        return err_set(err, errlen, INVQ_ENOMEM, "connect %s: out of memory", addr);
    }
    snprintf(r->errstr, sizeof(r->errstr), "%s", "");
    *out = r;
    return 0;
}

int uvredis_command_argv(uvredis *r, int argc, const char **argv, const size_t *lens,
                         uvredis_reply_cb cb, void *data)
{
    tramp *t;
    if (!r->ac || r->freeing || (r->state != ST_CONNECTING && r->state != ST_READY))
        return INVQ_ECLOSED;
    if (!(t = malloc(sizeof(*t))))
        return INVQ_ENOMEM;
    t->cb = cb;
    t->data = data;
    t->setup = 0;
    if (send_cmd(r, argc, argv, lens, t) < 0) {
        free(t);
        return INVQ_ENOMEM;
    }
    return 0;
}

int uvredis_is_ready(const uvredis *r)
{
    return r->state == ST_READY && r->ac && !r->freeing;
}

size_t uvredis_outstanding(const uvredis *r)
{
    return r->outstanding;
}

const char *uvredis_errstr(const uvredis *r)
{
    return r->errstr;
}

void uvredis_close(uvredis *r, uvredis_close_cb cb, void *data)
{
    r->state = ST_CLOSING;
    r->close_cb = cb;
    r->close_data = data;
    note_gone(r, INVQ_ECLOSED, "connection closed by its owner");
    if (!uv_is_closing((uv_handle_t *)&r->flush))
        uv_close((uv_handle_t *)&r->flush, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&r->conn_timer))
        uv_close((uv_handle_t *)&r->conn_timer, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&r->cmd_timer))
        uv_close((uv_handle_t *)&r->cmd_timer, on_handle_closed);
    close_tls(r);
    kill_connection(r); /* ev_cleanup closes the poll handle */
    maybe_finish_close(r);
}
