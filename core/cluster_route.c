/* The master of one slot, from CLUSTER SLOTS, and a sync connection to it
 * (see cluster_route.h). */
#include "cluster_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_map.h"
#include "cluster_slot.h"
#include "error.h"
#include "redis_sync.h"

int cluster_route_owner(const redisReply *slots, const char *asked_host, unsigned slot, char *host,
                        size_t hostlen, int *port, char *err, size_t errlen)
{
    cluster_map *m = malloc(sizeof *m);
    if (m == NULL)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    cmap_init(m);
    int rc = cmap_load(m, slots, asked_host, err, errlen);
    if (rc >= 0) {
        unsigned idx = cmap_owner(m, slot);
        if (idx == CMAP_NONE) {
            rc = err_set(err, errlen, INVQ_EIO, "CLUSTER SLOTS: no master serves slot %u now", slot);
        } else {
            snprintf(host, hostlen, "%s", m->nodes[idx].host);
            *port = m->nodes[idx].port;
            rc = 0;
        }
    }
    cmap_deinit(m);
    free(m);
    return rc;
}

static bool starts_with(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && memcmp(s, p, k) == 0;
}

bool cluster_reply_is_redirect(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           (starts_with(r->str, r->len, "MOVED ") || starts_with(r->str, r->len, "ASK "));
}

unsigned cluster_route_slot(const char *key)
{
    return cluster_keyslot(key, strlen(key));
}

/* One node: connect, ask CLUSTER SLOTS. 1 with the connection kept when the
 * node serves slot itself, 0 with host/port set to the master it names,
 * negative on failure. */
static int ask_node(const redis_url *u, const char *nhost, int nport, unsigned slot, int cto, int cmdto,
                    redisContext **out, struct tlsthread **tls, char *host, size_t hostlen, int *port, char *err,
                    size_t errlen)
{
    redis_url node;
    redisContext *c = NULL;
    struct tlsthread *t = NULL;
    if (redis_url_cluster_node(u, nhost, nport, &node) < 0)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    int rc = redis_sync_connect_tls(&node, cto, cmdto, &c, &t, err, errlen);
    redis_url_deinit(&node);
    if (rc < 0)
        return rc;
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    if (r == NULL)
        rc = redis_sync_ctx_error(c, "CLUSTER SLOTS", err, errlen);
    else if (r->type == REDIS_REPLY_ERROR)
        rc = redis_reply_error(r, "CLUSTER SLOTS", err, errlen);
    else
        rc = cluster_route_owner(r, nhost, slot, host, hostlen, port, err, errlen);
    freeReplyObject(r);
    if (rc == 0 && strcmp(host, nhost) == 0 && *port == nport) {
        *out = c;
        *tls = t;
        return 1;
    }
    redis_sync_free(c, t);
    return rc;
}

int cluster_route_connect(const redis_url *u, unsigned slot, int connect_timeout_ms, int command_timeout_ms,
                          redisContext **out, struct tlsthread **tls, char *host, size_t hostlen, int *port,
                          char *err, size_t errlen)
{
    char h[256], msg[512] = "";
    int p = 0, rc = INVQ_ECONNECT;
    struct tlsthread *t = NULL;
    *out = NULL;
    *tls = NULL;
    for (size_t i = 0; i < u->nnodes; i++) {
        const char *nh = u->nodes[i].host;
        int np = u->nodes[i].port;
        char cur[256];
        snprintf(cur, sizeof cur, "%s", nh);
        for (int hop = 0; hop <= CLUSTER_ROUTE_MAX_HOPS; hop++) {
            rc = ask_node(u, cur, np, slot, connect_timeout_ms, command_timeout_ms, out, &t, h, sizeof h, &p, msg,
                          sizeof msg);
            if (rc == 1) {
                *tls = t;
                if (host)
                    snprintf(host, hostlen, "%s", cur);
                if (port)
                    *port = np;
                return 0;
            }
            if (rc < 0)
                break;
            snprintf(cur, sizeof cur, "%s", h); /* the master it names: ask that one */
            np = p;
            rc = err_set(msg, sizeof msg, INVQ_EIO, "slot %u: more than %d redirects", slot,
                         CLUSTER_ROUTE_MAX_HOPS);
        }
        if (rc == INVQ_EAUTH || rc == INVQ_ETLS || rc == INVQ_ENOMEM)
            break; /* the same for every node */
    }
    return err_set(err, errlen, rc, "cluster (slot %u): %s", slot, msg);
}
