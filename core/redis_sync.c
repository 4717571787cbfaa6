/* Synchronous hiredis connect/AUTH/SELECT and hiredis → INVQ_* error
 * translation, shared by the producer, the worker's tools and invqctl. */
#include "redis_sync.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "error.h"
#include "sentinel.h"
#include "sigpipe.h"
#include "tlsthread.h"

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

static int is_timeout_text(const char *s)
{
    return strstr(s, "timed out") || strstr(s, "temporarily unavailable") ||
           strstr(s, "Timeout") || strstr(s, "timeout");
}

int redis_sync_ctx_error(const redisContext *c, const char *what, char *err, size_t errlen)
{
    if (!c)
        return err_set(err, errlen, INVQ_ENOMEM, "%s: out of memory", what);
    switch (c->err) {
    case REDIS_ERR_OOM:
        return err_set(err, errlen, INVQ_ENOMEM, "%s: out of memory", what);
    case REDIS_ERR_PROTOCOL:
        return err_set(err, errlen, INVQ_EPROTO, "%s: protocol error: %s", what, c->errstr);
    case REDIS_ERR_EOF:
        return err_set(err, errlen, INVQ_EIO, "%s: server closed the connection", what);
    default:
        if (is_timeout_text(c->errstr))
            return err_set(err, errlen, INVQ_ETIMEOUT, "%s: timed out (%s)", what, c->errstr);
        return err_set(err, errlen, INVQ_EIO, "%s: %s", what, c->errstr[0] ? c->errstr : "I/O error");
    }
}

static int starts_with(const char *s, size_t n, const char *prefix)
{
    size_t pn = strlen(prefix);
    return n >= pn && memcmp(s, prefix, pn) == 0;
}

int redis_reply_error(const redisReply *r, const char *what, char *err, size_t errlen)
{
    const char *s = r->str ? r->str : "";
    size_t n = r->str ? r->len : 0;
    int code = INVQ_EREPLY;
    if (starts_with(s, n, "NOAUTH") || starts_with(s, n, "WRONGPASS") ||
        starts_with(s, n, "ERR invalid password") || starts_with(s, n, "ERR AUTH") ||
        starts_with(s, n, "ERR Client sent AUTH"))
        code = INVQ_EAUTH;
    return err_set(err, errlen, code, "%s: %.*s", what, (int)(n > 400 ? 400 : n), s);
}

int redis_err_node_unavailable(const char *msg, size_t len)
{
    static const char *const words[] = { "READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS" };
    if (!msg)
        return 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if (len >= n && memcmp(msg, words[i], n) == 0 && (len == n || msg[n] == ' '))
            return 1;
    }
    return 0;
}

int redis_reply_is_transient(const redisReply *r)
{
    static const char *const prefixes[] = { "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
                                            "READONLY", "OOM", "CLUSTERDOWN", "NOREPLICAS" };
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str)
        return 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (starts_with(r->str, r->len, prefixes[i]))
            return 1;
    return 0;
}

/* Runs one command and returns its reply (NULL: the context failed). */
static redisReply *run(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    sigpipe_guard g;
    sigpipe_block(&g);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    sigpipe_restore(&g);
    return r;
}

/* Runs one command and requires a +OK status reply. */
static int expect_ok(redisContext *c, int argc, const char **argv, const size_t *lens,
                     const char *what, char *err, size_t errlen)
{
    redisReply *r = run(c, argc, argv, lens);
    int rc = 0;
    if (!r)
        return redis_sync_ctx_error(c, what, err, errlen);
    if (r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(r, what, err, errlen);
    else if (r->type != REDIS_REPLY_STATUS)
        rc = err_set(err, errlen, INVQ_EPROTO, "%s: unexpected reply type %d", what, r->type);
    freeReplyObject(r);
    return rc;
}

/* AUTH, SELECT, and for a node found through Sentinel the ROLE check; over
 * TLS at least one round trip (PING), so a server that refuses the client
 * certificate after the handshake is noticed here. */
static int setup(redisContext *c, const redis_url *u, const char *addr, char *err, size_t errlen)
{
    int rc;
    bool talked = false;
    if (u->password) {
        const char *argv[3] = { "AUTH", u->user ? u->user : u->password, u->password };
        size_t lens[3] = { 4, strlen(argv[1]), strlen(u->password) };
        rc = expect_ok(c, u->user ? 3 : 2, argv, lens, "AUTH", err, errlen);
        if (rc < 0)
            return rc == INVQ_EREPLY ? INVQ_EAUTH : rc;
        talked = true;
    }
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[2] = { "SELECT", db };
        size_t lens[2] = { 6, strlen(db) };
        if ((rc = expect_ok(c, 2, argv, lens, "SELECT", err, errlen)) < 0)
            return rc;
        talked = true;
    }
    if (u->require_master) {
        const char *argv[1] = { "ROLE" };
        size_t lens[1] = { 4 };
        redisReply *r = run(c, 1, argv, lens);
        if (!r)
            return redis_sync_ctx_error(c, "ROLE", err, errlen);
        rc = sentinel_check_role(r, addr, err, errlen);
        freeReplyObject(r);
        if (rc < 0)
            return rc;
        talked = true;
    }
    if (u->tls && !talked) {
        const char *argv[1] = { "PING" };
        size_t lens[1] = { 4 };
        redisReply *r = run(c, 1, argv, lens);
        if (!r)
            return redis_sync_ctx_error(c, "PING", err, errlen);
        rc = r->type == REDIS_REPLY_ERROR ? redis_reply_error(r, "PING", err, errlen) : 0;
        freeReplyObject(r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int redis_sync_connect(const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                       redisContext **out, char *err, size_t errlen)
{
    tlsthread *tls;
    int rc = redis_sync_connect_tls(u, connect_timeout_ms, command_timeout_ms, out, &tls, err, errlen);
    tlsthread_release(tls);
    return rc;
}

void redis_sync_free(redisContext *c, struct tlsthread *tls)
{
    if (c)
        redisFree(c); /* closes the pipe's app end: the pump thread ends */
    tlsthread_wait(tls, 5000);
    tlsthread_release(tls);
}

int redis_sync_connect_tls(const redis_url *u, int connect_timeout_ms, int command_timeout_ms,
                           redisContext **out, struct tlsthread **tls_out, char *err, size_t errlen)
{
    char addr[300];
    redisContext *c;
    tlsthread *tls = NULL;
    int rc;

    *out = NULL;
    *tls_out = NULL;
    if (redis_url_is_sentinel(u))
        return sentinel_sync_connect(u, connect_timeout_ms, command_timeout_ms, out, tls_out, NULL, 0, NULL, err,
                                     errlen);
    redis_url_describe(u, addr, sizeof(addr));
    if (connect_timeout_ms > 0)
        c = u->path ? redisConnectUnixWithTimeout(u->path, ms_to_tv(connect_timeout_ms))
                    : redisConnectWithTimeout(u->host, u->port, ms_to_tv(connect_timeout_ms));
    else
        c = u->path ? redisConnectUnix(u->path) : redisConnect(u->host, u->port);
    if (!c)
        return err_set(err, errlen, INVQ_ENOMEM, "connect %s: out of memory", addr);
    if (c->err) {
        rc = is_timeout_text(c->errstr) ? INVQ_ETIMEOUT : INVQ_ECONNECT;
        err_set(err, errlen, rc, "connect %s: %s", addr, c->errstr);
        redisFree(c);
        return rc;
    }
    if (u->tls && (rc = tlsthread_start(c->fd, u, connect_timeout_ms, &tls, err, errlen)) < 0) {
        redisFree(c); /* a thread that was started ends by itself */
        return rc;
    }
    if (command_timeout_ms > 0 && redisSetTimeout(c, ms_to_tv(command_timeout_ms)) != REDIS_OK)
        rc = redis_sync_ctx_error(c, "set timeout", err, errlen);
    else
        rc = setup(c, u, addr, err, errlen);
    if (rc < 0 && tls && (rc == INVQ_EIO || rc == INVQ_EPROTO || rc == INVQ_ETIMEOUT)) {
        char why[400];
        int trc = tlsthread_error(tls, why, sizeof why);
        if (trc < 0)
            rc = err_set(err, errlen, trc, "%s", why); /* the TLS reason beats "connection closed" */
    }
    if (rc < 0) {
        redis_sync_free(c, tls);
        return rc;
    }
    *out = c;
    *tls_out = tls;
    return 0;
}
