/* Parsing of Redis addresses: redis://[[user]:password@]host[:port][/db] and
 * unix:///path/to/sock[?db=N], both also taking ?db=, ?user=, ?password=. */
#ifndef INVQ_PRODUCER_REDIS_URL_H
#define INVQ_PRODUCER_REDIS_URL_H

#include <stddef.h>

/* A parsed address. Every string is owned and freed by redis_url_deinit(). */
typedef struct redis_url {
    char *host;     /* TCP host (IPv6 without brackets); NULL for unix sockets */
    int port;       /* TCP port, default 6379; 0 for unix sockets */
    char *path;     /* unix socket path; NULL for TCP */
    char *user;     /* ACL user; NULL when absent (AUTH password only) */
    char *password; /* NULL when absent (no AUTH) */
    int db;         /* SELECT index, default 0 */
} redis_url;

/* Parses s into u (u need not be initialised). Returns 0, or INVQ_EURL /
 * INVQ_ENOMEM with a message naming the problem in err (u is then empty). */
int redis_url_parse(const char *s, redis_url *u, char *err, size_t errlen);

/* Frees what u owns and zeroes it; safe on a zeroed or failed u. */
void redis_url_deinit(redis_url *u);

/* Writes the address without credentials ("127.0.0.1:6379/2",
 * "unix:/tmp/r.sock") into buf for messages. */
void redis_url_describe(const redis_url *u, char *buf, size_t len);

#endif
