/* The invalidation observer: learns, without any timing assumption, when
 * the cache Redis executed each invalidation of a row, and tells the
 * checker (ck_invalidated()).
 *
 * Redis publishes a keyspace notification (`__keyevent@<db>__:del` for a
 * DEL of item:<id>, `__keyevent@<db>__:incrby` for an INCR of
 * ver:item:<id>) while it executes the command, and one subscriber
 * connection receives every message in the order Redis executed what
 * published it. A ticker publishes, every 500 µs, the local time at which
 * it sends the tick. So an invalidation received after tick T executed
 * after T was sent (the lower bound), and before it was received (the upper
 * bound). The server must have notify-keyspace-events including E, g and $
 * (obs_enable()). */
#ifndef INVQ_BENCH_FRESHNESS_OBSERVER_H
#define INVQ_BENCH_FRESHNESS_OBSERVER_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "checker.h"

typedef struct observer observer;

/* Turns the notifications on (CONFIG SET notify-keyspace-events Eg$) on the
 * server behind c. Returns 0 or -1 with a message. */
int obs_enable(redisContext *c, char *err, size_t errlen);

/* Subscribes (over the unix socket, to database db's events) and starts the
 * subscriber and ticker threads, which report to ck (borrowed until
 * obs_stop()). Returns once the subscription is active: 0 and *out, or -1
 * with a message. */
int obs_start(const char *socket, int db, int rows, checker *ck, observer **out, char *err, size_t errlen);

/* Stops both threads and frees o. Returns the number of invalidations
 * observed, or -1 when the subscriber failed (its message in err). */
long long obs_stop(observer *o, char *err, size_t errlen);

#endif
