/* Sentinel replies, the ROLE check and synchronous discovery (see
 * sentinel.h). */
#include "sentinel.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "redis_sync.h"
#include "sigpipe.h"

void sentinel_query_argv(const char *master_name, const char *argv[3], size_t lens[3])
{
    argv[0] = "SENTINEL";
    argv[1] = "get-master-addr-by-name";
    argv[2] = master_name;
    lens[0] = 8;
    lens[1] = strlen(argv[1]);
    lens[2] = strlen(master_name);
}

int sentinel_parse_addr(const redisReply *r, const char *master_name, char *host, size_t hostlen, int *port,
                        char *err, size_t errlen)
{
    if (r->type == REDIS_REPLY_ERROR)
        return redis_reply_error(r, "SENTINEL get-master-addr-by-name", err, errlen);
    if (r->type == REDIS_REPLY_NIL)
        return err_set(err, errlen, INVQ_EREPLY, "the sentinel does not know a master named '%s'", master_name);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 ||
        r->element[0]->len >= hostlen || r->element[1]->len > 5)
        return err_set(err, errlen, INVQ_EPROTO, "SENTINEL get-master-addr-by-name: unexpected reply");
    int p = 0;
    for (size_t i = 0; i < r->element[1]->len; i++) {
        char c = r->element[1]->str[i];
        if (c < '0' || c > '9')
            return err_set(err, errlen, INVQ_EPROTO, "SENTINEL get-master-addr-by-name: bad port");
        p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535)
        return err_set(err, errlen, INVQ_EPROTO, "SENTINEL get-master-addr-by-name: bad port");
    memcpy(host, r->element[0]->str, r->element[0]->len);
    host[r->element[0]->len] = '\0';
    *port = p;
    return 0;
}

int sentinel_check_role(const redisReply *r, const char *addr, char *err, size_t errlen)
{
    if (r->type == REDIS_REPLY_ERROR) {
        char msg[300];
        int rc = redis_reply_error(r, "ROLE", msg, sizeof msg);
        return err_set(err, errlen, rc, "%s: %s (a Sentinel URL's user must be allowed +role)", addr, msg);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return err_set(err, errlen, INVQ_EPROTO, "%s: ROLE: unexpected reply", addr);
    if (strcmp(r->element[0]->str, "master") == 0)
        return 0;
    return err_set(err, errlen, INVQ_ECONNECT, "%s is not the master (ROLE says %s)", addr, r->element[0]->str);
}

/* Asks one sentinel (index i of u) for the master's address. */
static int ask_sentinel(const redis_url *u, size_t i, int connect_timeout_ms, int command_timeout_ms, char *host,
                        size_t hostlen, int *port, char *err, size_t errlen)
{
    redis_url s;
    redisContext *c;
    struct tlsthread *tls;
    int rc;
    if (redis_url_node(u, i, NULL, 0, &s) < 0)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    rc = redis_sync_connect_tls(&s, connect_timeout_ms, command_timeout_ms, &c, &tls, err, errlen);
    redis_url_deinit(&s);
    if (rc < 0)
        return rc;
    const char *argv[3];
    size_t lens[3];
    sigpipe_guard g;
    sentinel_query_argv(u->master_name, argv, lens);
    sigpipe_block(&g);
    redisReply *r = redisCommandArgv(c, 3, argv, lens);
    sigpipe_restore(&g);
    if (!r)
        rc = redis_sync_ctx_error(c, "SENTINEL get-master-addr-by-name", err, errlen);
    else
        rc = sentinel_parse_addr(r, u->master_name, host, hostlen, port, err, errlen);
    if (r)
        freeReplyObject(r);
    redis_sync_free(c, tls);
    return rc;
}

int sentinel_sync_master(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, char *host,
                         size_t hostlen, int *port, char *err, size_t errlen)
{
    int rc = INVQ_ECONNECT;
    for (size_t i = 0; i < u->nsentinels; i++) {
        rc = ask_sentinel(u, i, connect_timeout_ms, command_timeout_ms, host, hostlen, port, err, errlen);
        if (rc == 0 || rc == INVQ_ENOMEM)
            return rc;
    }
    return rc;
}

int sentinel_sync_connect(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, redisContext **out,
                          struct tlsthread **tls, char *node_host, size_t node_hostlen, int *node_port, char *err,
                          size_t errlen)
{
    char seen[1024] = "";
    size_t used = 0;
    int last = INVQ_ECONNECT;

    *out = NULL;
    *tls = NULL;
    for (size_t i = 0; i < u->nsentinels; i++) {
        char host[SENTINEL_HOST_MAX], msg[400];
        int port = 0;
        int rc = ask_sentinel(u, i, connect_timeout_ms, command_timeout_ms, host, sizeof host, &port, msg,
                              sizeof msg);
        if (rc == 0) {
            redis_url node;
            if (redis_url_node(u, 0, host, port, &node) < 0)
                return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
            rc = redis_sync_connect_tls(&node, connect_timeout_ms, command_timeout_ms, out, tls, msg, sizeof msg);
            redis_url_deinit(&node);
            if (rc == 0) {
                if (node_host)
                    snprintf(node_host, node_hostlen, "%s", host);
                if (node_port)
                    *node_port = port;
                return 0;
            }
        }
        if (rc == INVQ_ENOMEM)
            return err_set(err, errlen, rc, "%s", msg);
        last = rc == INVQ_EREPLY || rc == INVQ_EPROTO ? INVQ_ECONNECT : rc;
        if (used < sizeof seen) {
            int n = snprintf(seen + used, sizeof seen - used, "%ssentinel %s:%d: %s", i ? "; " : "",
                             u->sentinels[i].host, u->sentinels[i].port, msg);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    return err_set(err, errlen, last, "no usable master '%s' through %zu sentinel(s): %s", u->master_name,
                   u->nsentinels, seen);
}
