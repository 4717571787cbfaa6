/* A fault-injecting RESP proxy for tests: listens on 127.0.0.1 (ephemeral
 * port), forwards every connection to a real redis-server, and on request
 * replaces replies with errors, delays replies, drops or refuses connections. */
#ifndef INVQ_TESTS_FAULTPROXY_H
#define INVQ_TESTS_FAULTPROXY_H

#include <stdbool.h>

typedef struct faultproxy faultproxy;

/* Starts a proxy on its own thread in front of a unix socket (`upstream_socket`
 * non-NULL) or host:port. Returns 0 or a negative errno; *out is freed with
 * faultproxy_free(). */
int faultproxy_new(faultproxy **out, const char *upstream_socket, const char *upstream_host,
                   int upstream_port);

/* The port the proxy listens on, and "redis://127.0.0.1:<port>" (borrowed,
 * valid until faultproxy_free()). */
int faultproxy_port(const faultproxy *p);
const char *faultproxy_url(const faultproxy *p);

/* Answers the next `n` commands named `cmd` (n < 0: every one until
 * cleared; case-insensitive, e.g. "DEL") with the error `error`, written
 * without the leading '-' and CRLF (e.g. "LOADING Redis is loading"). Such a
 * command is not forwarded, so it has no effect on the server, as with a
 * server that is loading or busy; its error comes back in its place among
 * the pipelined replies. One rule per command name; a new call for the same
 * name replaces the rule. */
int faultproxy_fail_next(faultproxy *p, const char *cmd, int n, const char *error);

/* Makes the proxy a one-node Redis Cluster in front of its plain upstream
 * (on: before clients connect). It answers every CLUSTER command itself
 * with the CLUSTER SLOTS reply naming 127.0.0.1:<its port> the master of
 * slots 0-16383 (so a cluster client sends everything to it), and ASKING
 * with +OK. A rule whose error starts with "ASK " then behaves like a node
 * that imports the slot: a command right after ASKING on its connection is
 * forwarded, neither answered by the rule nor counted against its n.
 * "MOVED <slot> 127.0.0.1:<its port>" makes a redirect loop. */
void faultproxy_set_cluster(faultproxy *p, bool on);

/* Holds every reply for `ms` milliseconds before passing it on (0: off). */
void faultproxy_set_delay(faultproxy *p, int ms);

/* Closes every open connection (both sides) now; returns once they are closed. */
void faultproxy_drop_all(faultproxy *p);

/* While true, new connections are accepted and closed at once. */
void faultproxy_set_refuse(faultproxy *p, bool refuse);

/* Removes every rule, the delay and the refusal. */
void faultproxy_clear(faultproxy *p);

/* How many commands were answered with injected errors so far. */
long faultproxy_injected(faultproxy *p);

/* How many commands named `cmd` (case-insensitive) clients sent so far. */
long faultproxy_count(faultproxy *p, const char *cmd);

/* Stops the thread, closes everything; NULL is fine. */
void faultproxy_free(faultproxy *p);

#endif
