/* A synchronous client of a whole Redis Cluster, for programs that touch a
 * few keys at a time on one thread (invqctl audit): the slot map from
 * CLUSTER SLOTS (cluster_map.h), one connection per master opened when a
 * command first needs it, and commands whose keys share one slot sent to
 * that slot's master, following -MOVED (the map is reloaded) and -ASK
 * (ASKING, then the command once on the node named) at most
 * CSYNC_MAX_HOPS times. Not thread-safe: one per thread. */
#ifndef INVQ_CORE_CLUSTER_SYNC_H
#define INVQ_CORE_CLUSTER_SYNC_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

/* Redirects followed for one command before it fails with INVQ_EIO. */
#define CSYNC_MAX_HOPS 5

typedef struct cluster_sync cluster_sync;

/* Reads the slot map from the first startup node of the cluster URL u
 * (borrowed: it must outlive *out) that answers. Returns 0 with *out (free with
 * csync_free()), or the connect error of the last node tried (INVQ_ECONNECT,
 * INVQ_EAUTH, INVQ_ETLS, ...) with a message naming the nodes in err. */
int csync_open(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, cluster_sync **out, char *err,
               size_t errlen);
void csync_free(cluster_sync *cs);

/* Runs a command whose keys all hash to `slot` on that slot's master. On 0
 * *out is the reply (the caller frees it; it may be an error reply other
 * than a redirect); otherwise a negative code (INVQ_ECONNECT, INVQ_ETIMEOUT,
 * INVQ_EIO for a lost connection or too many redirects, INVQ_EPROTO, ...)
 * with a message naming the node in err, and the node's connection is
 * dropped (opened again by the next command). */
int csync_command(cluster_sync *cs, unsigned slot, int argc, const char **argv, const size_t *lens,
                  redisReply **out, char *err, size_t errlen);

/* The masters that serve at least one slot now: their count, and node ids
 * for csync_node_command() / csync_node_name() in ids[0..max-1]. */
size_t csync_masters(const cluster_sync *cs, unsigned *ids, size_t max);

/* A command on one node (a master from csync_masters()): for commands
 * about the node itself rather than a key, such as SCAN. Returns as
 * csync_command() does, without following redirects. */
int csync_node_command(cluster_sync *cs, unsigned node, int argc, const char **argv, const size_t *lens,
                       redisReply **out, char *err, size_t errlen);

/* "host:port" of a node (borrowed until csync_free()). */
const char *csync_node_name(const cluster_sync *cs, unsigned node);

#endif
