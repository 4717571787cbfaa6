/* The slot map of a Redis Cluster: CLUSTER SLOTS replies and MOVED patches. */
#include "cluster_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "invq/invq.h"

void cmap_init(cluster_map *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < CLUSTER_SLOTS; i++)
        m->owner[i] = CMAP_NONE;
}

void cmap_deinit(cluster_map *m)
{
    for (size_t i = 0; i < m->nnodes; i++)
        free(m->nodes[i].host);
    free(m->nodes);
    memset(m, 0, sizeof *m);
}

int cmap_add_node(cluster_map *m, const char *host, int port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return (int)i;
    if (m->nnodes >= CMAP_MAX_NODES)
        return INVQ_EINVAL;
    if (m->nnodes == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        cmap_node *n = realloc(m->nodes, cap * sizeof *n);
        if (n == NULL)
            return INVQ_ENOMEM;
        m->nodes = n;
        m->cap = cap;
    }
    char *h = strdup(host);
    if (h == NULL)
        return INVQ_ENOMEM;
    m->nodes[m->nnodes] = (cmap_node){ h, port };
    return (int)m->nnodes++;
}

static bool is_int(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER;
}

int cmap_load(cluster_map *m, const redisReply *slots, const char *asked_host, char *err, size_t errlen)
{
    if (slots == NULL || slots->type != REDIS_REPLY_ARRAY)
        return err_set(err, errlen, INVQ_EPROTO, "CLUSTER SLOTS: expected an array, got reply type %d",
                       slots != NULL ? slots->type : -1);
    /* check the whole reply before changing anything */
    for (size_t i = 0; i < slots->elements; i++) {
        const redisReply *e = slots->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || !is_int(e->element[0]) || !is_int(e->element[1]) ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING || !is_int(e->element[2]->element[1]))
            return err_set(err, errlen, INVQ_EPROTO, "CLUSTER SLOTS: entry %zu has an unexpected shape", i);
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        long long port = e->element[2]->element[1]->integer;
        if (lo < 0 || hi < lo || hi >= CLUSTER_SLOTS || port < 1 || port > 65535)
            return err_set(err, errlen, INVQ_EPROTO, "CLUSTER SLOTS: entry %zu: slots %lld-%lld port %lld", i, lo,
                           hi, port);
    }
    uint16_t owner[CLUSTER_SLOTS];
    for (size_t i = 0; i < CLUSTER_SLOTS; i++)
        owner[i] = CMAP_NONE;
    int served = 0;
    for (size_t i = 0; i < slots->elements; i++) {
        const redisReply *e = slots->element[i];
        const redisReply *master = e->element[2];
        const char *host = master->element[0]->str;
        if (host[0] == '\0' || strcmp(host, "?") == 0)
            host = asked_host;
        int idx = cmap_add_node(m, host, (int)master->element[1]->integer);
        if (idx < 0)
            return err_set(err, errlen, idx, "CLUSTER SLOTS: %s", idx == INVQ_ENOMEM ? "out of memory"
                                                                                      : "too many nodes");
        for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++) {
            served += owner[s] == CMAP_NONE;
            owner[s] = (uint16_t)idx;
        }
    }
    memcpy(m->owner, owner, sizeof owner);
    m->loads++;
    return served;
}
