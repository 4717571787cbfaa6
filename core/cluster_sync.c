/* The synchronous whole-cluster client (see cluster_sync.h): a slot map,
 * a connection per node opened on demand, redirects followed. */
#include "cluster_sync.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>

#include "cluster_map.h"
#include "error.h"
#include "redis_sync.h"

struct tlsthread;

typedef struct csync_node {
    redisContext *c; /* NULL until needed, or after a failure */
    struct tlsthread *tls;
    char name[280];
} csync_node;

struct cluster_sync {
    const redis_url *u; /* borrowed */
    int cto, cmdto;
    cluster_map map;
    csync_node *nodes; /* indexed like map.nodes */
    size_t nnodes;
};

static int grow_nodes(cluster_sync *cs)
{
    if (cs->nnodes >= cs->map.nnodes)
        return 0;
    csync_node *n = realloc(cs->nodes, cs->map.nnodes * sizeof(*n));
    if (n == NULL)
        return INVQ_ENOMEM;
    for (size_t i = cs->nnodes; i < cs->map.nnodes; i++) {
        memset(&n[i], 0, sizeof(n[i]));
        const cmap_node *m = &cs->map.nodes[i];
        snprintf(n[i].name, sizeof(n[i].name), strchr(m->host, ':') ? "[%s]:%d" : "%s:%d", m->host, m->port);
    }
    cs->nodes = n;
    cs->nnodes = cs->map.nnodes;
    return 0;
}

static void drop(csync_node *n)
{
    redis_sync_free(n->c, n->tls);
    n->c = NULL;
    n->tls = NULL;
}

static int connect_node(cluster_sync *cs, unsigned id, char *err, size_t errlen)
{
    csync_node *n = &cs->nodes[id];
    if (n->c != NULL)
        return 0;
    redis_url node;
    if (redis_url_cluster_node(cs->u, cs->map.nodes[id].host, cs->map.nodes[id].port, &node) < 0)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    char why[512];
    int rc = redis_sync_connect_tls(&node, cs->cto, cs->cmdto, &n->c, &n->tls, why, sizeof(why));
    redis_url_deinit(&node);
    if (rc < 0)
        return err_set(err, errlen, rc, "cluster node %s: %s", n->name, why);
    return 0;
}

/* One round trip on node id; the connection is dropped when it fails. */
static int node_cmd(cluster_sync *cs, unsigned id, int argc, const char **argv, const size_t *lens, redisReply **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    int rc = connect_node(cs, id, err, errlen);
    if (rc < 0)
        return rc;
    csync_node *n = &cs->nodes[id];
    redisReply *r = redisCommandArgv(n->c, argc, argv, lens);
    if (r == NULL) {
        char why[512];
        rc = redis_sync_ctx_error(n->c, argv[0], why, sizeof(why));
        drop(n);
        return err_set(err, errlen, rc, "cluster node %s: %s", n->name, why);
    }
    *out = r;
    return 0;
}

/* CLUSTER SLOTS from node id into the map. */
static int load_from(cluster_sync *cs, unsigned id, char *err, size_t errlen)
{
    const char *argv[] = { "CLUSTER", "SLOTS" };
    redisReply *r;
    int rc = node_cmd(cs, id, 2, argv, NULL, &r, err, errlen);
    if (rc < 0)
        return rc;
    char why[512];
    if (r->type == REDIS_REPLY_ERROR) {
        rc = redis_reply_error(r, "CLUSTER SLOTS", why, sizeof(why));
        err_set(err, errlen, rc, "cluster node %s: %s", cs->nodes[id].name, why);
    } else if ((rc = cmap_load(&cs->map, r, cs->map.nodes[id].host, why, sizeof(why))) < 0) {
        err_set(err, errlen, rc, "cluster node %s: %s", cs->nodes[id].name, why);
    } else if (rc == 0) {
        rc = err_set(err, errlen, INVQ_EIO, "cluster node %s: CLUSTER SLOTS: no slot is served", cs->nodes[id].name);
    }
    freeReplyObject(r);
    if (rc >= 0 && (rc = grow_nodes(cs)) < 0)
        err_set(err, errlen, rc, "out of memory");
    return rc < 0 ? rc : 0;
}

/* Reloads the map from a node with a connection, else from the startup
 * nodes in turn. */
static int reload(cluster_sync *cs, char *err, size_t errlen)
{
    for (size_t i = 0; i < cs->nnodes; i++)
        if (cs->nodes[i].c != NULL && load_from(cs, (unsigned)i, err, errlen) == 0)
            return 0;
    int rc = INVQ_ECONNECT;
    char tried[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < cs->u->nnodes; i++) {
        int id = cmap_add_node(&cs->map, cs->u->nodes[i].host, cs->u->nodes[i].port);
        if (id < 0 || (rc = grow_nodes(cs)) < 0)
            return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
        char one[600];
        if ((rc = load_from(cs, (unsigned)id, one, sizeof(one))) == 0)
            return 0;
        if (used < sizeof(tried))
            used += (size_t)snprintf(tried + used, sizeof(tried) - used, "%s%s", used ? "; " : "", one);
        if (rc == INVQ_EAUTH || rc == INVQ_ETLS)
            break; /* the same answer from every node */
    }
    return err_set(err, errlen, rc, "no cluster node gave its slot map: %s", tried);
}

int csync_open(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, cluster_sync **out, char *err,
               size_t errlen)
{
    *out = NULL;
    cluster_sync *cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    cs->u = u;
    cs->cto = connect_timeout_ms;
    cs->cmdto = command_timeout_ms;
    cmap_init(&cs->map);
    int rc = reload(cs, err, errlen);
    if (rc < 0) {
        csync_free(cs);
        return rc;
    }
    *out = cs;
    return 0;
}

void csync_free(cluster_sync *cs)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < cs->nnodes; i++)
        drop(&cs->nodes[i]);
    free(cs->nodes);
    cmap_deinit(&cs->map);
    free(cs);
}

static bool redirect_of(const redisReply *r, cluster_redirect *rd)
{
    return r->type == REDIS_REPLY_ERROR && cluster_parse_redirect(r->str, r->len, rd);
}

int csync_command(cluster_sync *cs, unsigned slot, int argc, const char **argv, const size_t *lens,
                  redisReply **out, char *err, size_t errlen)
{
    *out = NULL;
    int ask_node = -1; /* after -ASK: the node to send ASKING + the command to, once */
    for (int hop = 0; hop <= CSYNC_MAX_HOPS; hop++) {
        unsigned id = ask_node >= 0 ? (unsigned)ask_node : cmap_owner(&cs->map, slot);
        int rc;
        if (id == CMAP_NONE) {
            if ((rc = reload(cs, err, errlen)) < 0)
                return rc;
            if ((id = cmap_owner(&cs->map, slot)) == CMAP_NONE)
                return err_set(err, errlen, INVQ_EIO, "cluster: no master serves slot %u", slot);
        }
        redisReply *r;
        if (ask_node >= 0) {
            const char *asking[] = { "ASKING" };
            if ((rc = node_cmd(cs, id, 1, asking, NULL, &r, err, errlen)) < 0)
                return rc;
            freeReplyObject(r);
            ask_node = -1;
        }
        if ((rc = node_cmd(cs, id, argc, argv, lens, &r, err, errlen)) < 0)
            return rc;
        cluster_redirect rd;
        if (!redirect_of(r, &rd)) {
            *out = r;
            return 0;
        }
        freeReplyObject(r);
        const char *host = rd.host[0] ? rd.host : cs->map.nodes[id].host;
        int to = cmap_add_node(&cs->map, host, rd.port);
        if (to < 0 || grow_nodes(cs) < 0)
            return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
        if (rd.ask) {
            ask_node = to;
        } else {
            cmap_set(&cs->map, rd.slot, (unsigned)to);
            char why[512];
            if (reload(cs, why, sizeof(why)) < 0)
                cmap_set(&cs->map, rd.slot, (unsigned)to); /* keep at least what MOVED said */
        }
    }
    return err_set(err, errlen, INVQ_EIO, "cluster: slot %u: more than %d redirects", slot, CSYNC_MAX_HOPS);
}

size_t csync_masters(const cluster_sync *cs, unsigned *ids, size_t max)
{
    bool seen[CMAP_MAX_NODES] = { false };
    size_t n = 0;
    for (unsigned s = 0; s < CLUSTER_SLOTS; s++) {
        unsigned id = cmap_owner(&cs->map, s);
        if (id == CMAP_NONE || seen[id])
            continue;
        seen[id] = true;
        if (n < max)
            ids[n] = id;
        n++;
    }
    return n;
}

int csync_node_command(cluster_sync *cs, unsigned node, int argc, const char **argv, const size_t *lens,
                       redisReply **out, char *err, size_t errlen)
{
    *out = NULL;
    if (node >= cs->nnodes)
        return err_set(err, errlen, INVQ_EINVAL, "cluster: no node %u", node);
    return node_cmd(cs, node, argc, argv, lens, out, err, errlen);
}

const char *csync_node_name(const cluster_sync *cs, unsigned node)
{
    return node < cs->nnodes ? cs->nodes[node].name : "?";
}
