/* The cache target on a Redis Cluster. A batch is split by slot (a DEL or
 * UNLINK chunk never spans two slots), every command goes to its slot's
 * master on a connection of its own per master (an rlink each), pipelined,
 * and its reply is given to its entries. MOVED patches the slot, asks for
 * one throttled, single-flight CLUSTER SLOTS refresh and resends only that
 * command; ASK resends it once behind ASKING, map unchanged. TRYAGAIN,
 * CLUSTERDOWN, LOADING, MASTERDOWN, a master that cannot be reached or whose
 * connection breaks, and a redirect loop longer than CC_MAX_HOPS hold the
 * commands concerned: they are sent again after a backoff (and a refresh),
 * never turned into job failures, so no attempt is used. With
 * wait_replicas > 0 every master the batch wrote to is asked WAIT N
 * timeout afterwards, and the batch is reported applied only once each
 * answered with at least N replicas; a node that answers fewer gets its
 * commands again. */
#ifndef INVQ_WORKER_CACHE_CLUSTER_H
#define INVQ_WORKER_CACHE_CLUSTER_H

#include <stdint.h>

#include <uv.h>

#include "rlink.h"

struct cache_target;
typedef struct cache_cluster cache_cluster;

/* Redirects (MOVED or ASK) one command may follow within one round before
 * it is held as transient (and the map refreshed). */
#define CC_MAX_HOPS 5
/* Least time between two CLUSTER SLOTS refreshes. */
#define CC_REFRESH_MIN_MS 100

typedef struct cache_cluster_opts {
    uv_loop_t *loop;         /* borrowed */
    rlink *seed;             /* borrowed: the consumer's link to a startup node; its opts (timeouts,
                                the cluster URL's credentials and TLS) serve every master's link */
    const char *consumer;    /* borrowed: for logs */
    unsigned wait_replicas;  /* 0: no WAIT */
    uint64_t wait_timeout_ms;
} cache_cluster_opts;

/* Counters since start (for logs and tests). */
typedef struct cache_cluster_stats {
    uint64_t moved, ask, refreshes, held_rounds, waits_short;
} cache_cluster_stats;

/* Makes a cluster router (o borrowed, copied). Returns 0 or -ENOMEM. */
int cache_cluster_new(const cache_cluster_opts *o, cache_cluster **out);
/* Frees it after cache_cluster_close() completed (or if never used); NULL is fine. */
void cache_cluster_free(cache_cluster *cc);

/* Applies t's entries (cache_target_apply() delegates here; t borrowed
 * until t->cb runs, exactly once on a 0 return). Returns 0 or -ENOMEM. */
int cache_cluster_apply(cache_cluster *cc, struct cache_target *t);

/* Closes every master's link and the timers; an apply in progress ends
 * with CACHE_LOST. cb(data) runs from the loop once all is closed. */
void cache_cluster_close(cache_cluster *cc, void (*cb)(void *data), void *data);

const cache_cluster_stats *cache_cluster_get_stats(const cache_cluster *cc);

#endif
