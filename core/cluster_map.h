/* A Redis Cluster slot map: which master serves each of the 16384 slots,
 * read from a CLUSTER SLOTS reply (Redis 7.0 and older) and patched by
 * MOVED redirects. Nodes get a stable index the first time they are named
 * and keep it for the map's life (a node that serves no slot keeps its
 * index), so owners can keep a connection per index. */
#ifndef INVQ_CORE_CLUSTER_MAP_H
#define INVQ_CORE_CLUSTER_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "cluster_slot.h"

#define CMAP_NONE 0xffff /* a slot no master serves (as far as the map knows) */
#define CMAP_MAX_NODES 1024

typedef struct cmap_node {
    char *host; /* owned; IPv6 without brackets */
    int port;
} cmap_node;

typedef struct cluster_map {
    uint16_t owner[CLUSTER_SLOTS]; /* node index or CMAP_NONE */
    cmap_node *nodes;
    size_t nnodes, cap;
    unsigned loads;                /* CLUSTER SLOTS replies loaded */
} cluster_map;

void cmap_init(cluster_map *m);
void cmap_deinit(cluster_map *m);

/* Index of host:port (borrowed), added when new. Returns it, or INVQ_ENOMEM
 * / INVQ_EINVAL (more than CMAP_MAX_NODES nodes). */
int cmap_add_node(cluster_map *m, const char *host, int port);

/* Replaces every slot's owner with what a CLUSTER SLOTS reply (borrowed)
 * says; a master given with an empty host is `asked_host` (the node that
 * answered, borrowed). A reply of the wrong shape changes nothing and
 * returns INVQ_EPROTO with a message in err; slots it leaves unserved are
 * CMAP_NONE. Returns the number of slots served (0..16384) or a negative
 * code. */
int cmap_load(cluster_map *m, const redisReply *slots, const char *asked_host, char *err, size_t errlen);

/* The master of slot now (CMAP_NONE when unknown). */
static inline unsigned cmap_owner(const cluster_map *m, unsigned slot)
{
    return m->owner[slot & (CLUSTER_SLOTS - 1)];
}

/* A MOVED redirect: slot is now served by node index idx. */
static inline void cmap_set(cluster_map *m, unsigned slot, unsigned idx)
{
    m->owner[slot & (CLUSTER_SLOTS - 1)] = (uint16_t)idx;
}

#endif
