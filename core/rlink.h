/* A Redis connection that keeps itself connected, the one reconnect
 * mechanism of invq (worker and async producer): it wraps one uvredis at a
 * time and reconnects after a failed connect, a lost connection or a reset
 * by its owner, always with the same capped exponential backoff (the count
 * of failures starts again only after a connection stayed up for
 * stable_ms, so an error right after every connect backs off too).
 *
 * For a Sentinel URL each connect asks the sentinels for the master
 * (sentinel_link), tries the node each one names until one is the master
 * (ROLE), and while connected asks again every sentinel_check_ms: when
 * Sentinel names another master the link reconnects to it. For a cluster
 * URL each attempt connects to the next startup node (the link reaches
 * one node of the cluster; slot routing is its owner's, see
 * worker/cache_cluster.c) -- unless the owner names a route_key: then the
 * link serves that key's slot (a queue: every key shares its hash tag).
 * Each connect asks the node for CLUSTER SLOTS and goes on to the slot's
 * master (at most CLUSTER_ROUTE_MAX_HOPS redirects) before it is up, and a
 * -MOVED reply to any command resets the link after the owner's callback
 * ran, so it reconnects to the slot's new master (a failover, a slot
 * migration).
 *
 * It never logs. It tells its owner when it goes up or down (on_state) and
 * what happened, with the real error, through on_event. */
#ifndef INVQ_CORE_RLINK_H
#define INVQ_CORE_RLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "redis_url.h"
#include "rng.h"
#include "uvredis.h"

struct sentinel_link;
typedef struct rlink rlink;

/* up: the connection is ready (AUTH/SELECT done) or was just lost. */
typedef void (*rlink_state_cb)(rlink *l, bool up, void *data);
typedef void (*rlink_close_cb)(rlink *l, void *data);

typedef enum rlink_event_kind {
    RLINK_EV_UP,             /* connected and ready */
    RLINK_EV_STABLE,         /* up for stable_ms: the failure count starts again */
    RLINK_EV_CONNECT_FAILED, /* an attempt failed (every sentinel and node tried); retry follows */
    RLINK_EV_LOST,           /* a ready connection broke; retry follows */
    RLINK_EV_RESET,          /* rlink_reset() by the owner, or Sentinel named another master */
} rlink_event_kind;

/* Borrowed for the call. */
typedef struct rlink_event {
    rlink_event_kind kind;
    int status;          /* the failure's INVQ_* code; 0 for UP and STABLE */
    const char *error;   /* the failure's message; "" for UP and STABLE */
    bool repeated;       /* the same error as the previous failure, no stable connection between */
    unsigned failures;   /* consecutive failures (UP: before this connect) */
    uint64_t retry_ms;   /* failures: the delay before the next attempt */
    bool reconnect;      /* UP: the link had been up before */
    const char *addr;    /* UP: the node ("h:p/db"; for Sentinel the master it found) */
    bool master_switch;  /* RESET: Sentinel names another master (other links to the same
                            Sentinel master should follow at once: rlink_reset them) */
} rlink_event;

typedef void (*rlink_event_cb)(rlink *l, const rlink_event *ev, void *data);

typedef struct rlink_opts {
    const char *target;          /* "queue" or "cache": for the owner's logs and metrics */
    const redis_url *url;        /* borrowed; must outlive the rlink */
    const char *url_text;        /* for logs, without credentials */
    int connect_timeout_ms;
    int command_timeout_ms;
    uint64_t backoff_base_ms;    /* first delay; doubles per failure ... */
    uint64_t backoff_max_ms;     /* ... up to this cap (half of each delay is jitter) */
    uint64_t stable_ms;          /* 0: backoff_max_ms (at least 1000) */
    uint64_t sentinel_check_ms;  /* Sentinel URLs: ask for the master this often while up; 0: 1000 */
    size_t max_bulk_len;         /* > 0: longer reply strings drop the connection (uvredis_opts) */
    const char *route_key;       /* cluster URL: connect to the master of this key's slot (borrowed;
                                    must outlive the rlink); NULL: any node */
    rlink_state_cb on_state;     /* required */
    rlink_event_cb on_event;     /* may be NULL */
    void *data;                  /* passed to on_state and on_event */
} rlink_opts;

struct rlink {
    uv_loop_t *loop;
    rlink_opts o;
    uvredis *r;
    uv_timer_t timer;  /* retry delay while down, stable_ms while up */
    uv_timer_t watch;  /* Sentinel: the periodic master check */
    rng rng;
    unsigned failures;
    bool up;
    bool was_up;       /* has been up once: the next up is a reconnect */
    unsigned ups;      /* times it came up */
    bool closing;
    rlink_close_cb close_cb;
    void *close_data;
    int pending_closes;
    /* Sentinel */
    struct sentinel_link *sl;
    redis_url node;    /* the master found, owned; zeroed when none */
    unsigned node_tries; /* nodes tried in this attempt */
    unsigned seed;     /* cluster URL: the startup node of the next attempt */
    bool discovering;  /* the next sentinel answer is for a connect */
    bool switching;    /* the reset under way is a master switch */
    /* cluster route_key */
    bool routed;
    unsigned route_slot;
    unsigned hops;     /* redirects followed in this attempt */
    /* the current error ("" when none) and the previous failure's */
    int err_status;
    char err[512];
    char last_err[512];
    char addr[300];
};

/* Embeds a link in its owner (o borrowed, copied); does not connect yet.
 * Returns 0 or a negative code (nothing to close then). */
int rlink_init(rlink *l, uv_loop_t *loop, const rlink_opts *o);
/* Starts connecting; reconnects by itself until closed. */
void rlink_start(rlink *l);
/* Sends one command (argv/lens borrowed for the call). Returns 0, or a
 * negative INVQ_* code when the link is not up (cb then never runs). */
int rlink_command(rlink *l, int argc, const char **argv, const size_t *lens, uvredis_reply_cb cb, void *data);
/* Drops the connection as broken (why: the real error, e.g. a reply of the
 * wrong shape or NOAUTH) and reconnects after the backoff. */
void rlink_reset(rlink *l, const char *why);
/* Closes the connection and the timers; cb runs from the loop once all is closed. */
void rlink_close(rlink *l, rlink_close_cb cb, void *data);

/* The current connection error ("" while up or before the first failure),
 * borrowed until the next callback; and its INVQ_* code (0: none). */
const char *rlink_error(const rlink *l);
int rlink_status(const rlink *l);

#endif
