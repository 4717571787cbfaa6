/* Parsing of Redis addresses, for every invq program:
 *
 *   redis://[[user]:password@]host[:port][/db][?params]
 *   rediss://...                                   the same over TLS
 *   unix:///path/to/sock[?params]
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db][?params]#MASTER
 *   rediss-sentinel://...                          Sentinel, every connection over TLS
 *   redis-cluster://[[user]:password@]host[:port][,host[:port]...][?params]
 *   rediss-cluster://...                           Redis Cluster, every connection over TLS
 *
 * params: db, user, password; for TLS ssl_ca_certs, ssl_certfile,
 * ssl_keyfile, ssl_cert_reqs (required|none), ssl_check_hostname
 * (true|false); for Sentinel sentinel_user, sentinel_password. A part given
 * twice (/2?db=3, user:pw@ and ?password=, a repeated parameter) is refused. */
#ifndef INVQ_PRODUCER_REDIS_URL_H
#define INVQ_PRODUCER_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define REDIS_URL_DEFAULT_PORT 6379
#define REDIS_URL_DEFAULT_SENTINEL_PORT 26379

/* One host:port of a Sentinel URL; host owned by the redis_url. */
typedef struct redis_addr {
    char *host; /* IPv6 without brackets */
    int port;
} redis_addr;

/* A parsed address. Every string is owned and freed by redis_url_deinit(). */
typedef struct redis_url {
    char *host;     /* TCP host (IPv6 without brackets); NULL for unix sockets and Sentinel URLs */
    int port;       /* TCP port, default 6379; 0 for unix sockets and Sentinel URLs */
    char *path;     /* unix socket path; NULL for TCP */
    char *user;     /* ACL user; NULL when absent (AUTH password only) */
    char *password; /* NULL when absent (no AUTH) */
    int db;         /* SELECT index, default 0 */

    /* TLS (rediss://, rediss-sentinel://): every byte goes through TLS. */
    bool tls;
    char *tls_ca_certs;      /* ssl_ca_certs: PEM CA bundle; NULL: the system's trusted CAs */
    char *tls_certfile;      /* ssl_certfile: PEM client certificate (chain); NULL: none */
    char *tls_keyfile;       /* ssl_keyfile: its PEM private key; NULL: inside tls_certfile */
    bool tls_verify;         /* ssl_cert_reqs=required (the default); false for none */
    bool tls_check_hostname; /* ssl_check_hostname, default = tls_verify: the certificate must
                                name the host (DNS name or IP address) */

    /* Sentinel (redis-sentinel://, rediss-sentinel://). */
    char *master_name;       /* the #MASTER fragment; NULL for a direct address */
    redis_addr *sentinels;   /* nsentinels addresses, in the URL's order */
    size_t nsentinels;
    char *sentinel_user;     /* AUTH for the sentinels themselves; NULL: none */
    char *sentinel_password;

    /* Redis Cluster (redis-cluster://, rediss-cluster://): the startup
     * nodes, in the URL's order; host/port are the first of them. db is 0. */
    bool cluster;
    redis_addr *nodes;
    size_t nnodes;

    /* Set on a node found through Sentinel: after connecting, ROLE must say
     * master, or the connection is refused. */
    bool require_master;
} redis_url;

/* Parses s into u (u need not be initialised). Returns 0, or INVQ_EURL /
 * INVQ_ENOMEM with a message naming the problem in err (u is then empty). */
int redis_url_parse(const char *s, redis_url *u, char *err, size_t errlen);

/* Frees what u owns and zeroes it; safe on a zeroed or failed u. */
void redis_url_deinit(redis_url *u);

/* True for redis-sentinel:// and rediss-sentinel:// URLs. */
bool redis_url_is_sentinel(const redis_url *u);

/* True for redis-cluster:// and rediss-cluster:// URLs. */
bool redis_url_is_cluster(const redis_url *u);

/* A direct address of the cluster node host:port (a startup node or one
 * named by CLUSTER SLOTS, MOVED or ASK) with the cluster URL u's
 * credentials and TLS settings, into out (caller frees with
 * redis_url_deinit()). Returns 0 or INVQ_ENOMEM. */
int redis_url_cluster_node(const redis_url *u, const char *host, int port, redis_url *out);

/* A direct address derived from a Sentinel URL u (borrowed) into out (owned
 * by the caller, freed with redis_url_deinit()), with u's TLS settings:
 * sentinel i of u (its own credentials, db 0) when host is NULL, or the
 * node host:port with u's credentials and db and require_master set.
 * Returns 0 or INVQ_ENOMEM. */
int redis_url_node(const redis_url *u, size_t i, const char *host, int port, redis_url *out);

/* Writes the address without credentials or parameters into buf for
 * messages: "127.0.0.1:6379/2", "unix:/tmp/r.sock/0",
 * "rediss://h:6380/0", "redis-sentinel://h1:26379,h2:26379/0#mymaster". */
void redis_url_describe(const redis_url *u, char *buf, size_t len);

#endif
