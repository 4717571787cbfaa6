/* Redis Sentinel, the parts every connection path shares: reading a
 * sentinel's answer to SENTINEL get-master-addr-by-name, the ROLE check a
 * node found through Sentinel must pass, and the synchronous discovery
 * (redis_sync_connect() with a redis-sentinel:// URL). The asynchronous
 * discovery is sentinel_link (sentinel_link.h), used by rlink. */
#ifndef INVQ_CORE_SENTINEL_H
#define INVQ_CORE_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

#define SENTINEL_HOST_MAX 256

/* The command that asks a sentinel for the master (argv for master_name). */
void sentinel_query_argv(const char *master_name, const char *argv[3], size_t lens[3]);

/* Reads the reply to SENTINEL get-master-addr-by-name (r may be an error
 * reply): 0 with host (hostlen bytes) and *port, or INVQ_EREPLY (the
 * sentinel does not know the master, or refused) / INVQ_EAUTH / INVQ_EPROTO
 * with a message. */
int sentinel_parse_addr(const redisReply *r, const char *master_name, char *host, size_t hostlen, int *port,
                        char *err, size_t errlen);

/* Checks the reply to ROLE from node `addr` (for messages): 0 when it is a
 * master; INVQ_ECONNECT when it is a replica or a sentinel ("is not the
 * master"), INVQ_EAUTH / INVQ_EREPLY when ROLE was refused (the message says
 * the user needs +role), INVQ_EPROTO for another shape. */
int sentinel_check_role(const redisReply *r, const char *addr, char *err, size_t errlen);

/* Discovers the master of u (a Sentinel URL, borrowed) and connects to it
 * as redis_sync_connect_tls() does (free with redis_sync_free(*out, *tls)):
 * every sentinel is asked in turn until one
 * names a node that accepts the connection and answers ROLE master. On
 * success host (hostlen bytes; may be NULL) and *port (may be NULL) say
 * which node. On failure the message lists what each sentinel gave. */
struct tlsthread;
int sentinel_sync_connect(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, redisContext **out,
                          struct tlsthread **tls, char *host, size_t hostlen, int *port, char *err, size_t errlen);

/* Asks the sentinels of u in turn for the master's address (no connection
 * to it): 0 with host and *port, or the last failure with a message. For a
 * synchronous client's periodic check that Sentinel still names the node
 * it is connected to. */
int sentinel_sync_master(const redis_url *u, int connect_timeout_ms, int command_timeout_ms, char *host,
                         size_t hostlen, int *port, char *err, size_t errlen);

#endif
