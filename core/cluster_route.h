/* Routing one slot on a Redis Cluster: the master that serves it, found
 * from any node's CLUSTER SLOTS, and a synchronous connection to that
 * master from the startup nodes of a cluster URL. A queue lives in one
 * slot (all its keys share the hash tag {queue}), so its programs need one
 * connection, to that slot's master; rlink.c does the same on the loop. */
#ifndef INVQ_CORE_CLUSTER_ROUTE_H
#define INVQ_CORE_CLUSTER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

/* Redirects followed before giving up on one connect (each a node that
 * names another as the slot's master). */
#define CLUSTER_ROUTE_MAX_HOPS 3

struct tlsthread;

/* The master of `slot` per a CLUSTER SLOTS reply (borrowed) given by the
 * node asked_host (for masters listed with an empty host): host into
 * host[hostlen], port into *port. Returns 0, INVQ_EPROTO (a reply of the
 * wrong shape), INVQ_EIO (no master serves the slot now) or INVQ_ENOMEM,
 * with a message in err. */
int cluster_route_owner(const redisReply *slots, const char *asked_host, unsigned slot, char *host,
                        size_t hostlen, int *port, char *err, size_t errlen);

/* True for an error reply that redirects the command to another node
 * (-MOVED, -ASK): nothing of the command ran. */
bool cluster_reply_is_redirect(const redisReply *r);

/* Connects to the master of `slot` on the cluster URL u (borrowed): asks
 * the startup nodes in turn for CLUSTER SLOTS, connects to the master
 * named (with u's credentials and TLS) and checks that it names itself,
 * following at most CLUSTER_ROUTE_MAX_HOPS redirects. On 0 *out and *tls (see
 * redis_sync_connect_tls(); tls required) are the connection, freed by the caller
 * with redis_sync_free(); host/port (may be NULL) name the master. Errors
 * as redis_sync_connect_tls(), with a message naming the nodes tried. */
int cluster_route_connect(const redis_url *u, unsigned slot, int connect_timeout_ms, int command_timeout_ms,
                          redisContext **out, struct tlsthread **tls, char *host, size_t hostlen, int *port,
                          char *err, size_t errlen);

/* The slot of a NUL-terminated key (cluster_keyslot()). */
unsigned cluster_route_slot(const char *key);

#endif
