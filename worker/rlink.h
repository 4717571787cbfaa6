/* A Redis connection that keeps itself connected: wraps one uvredis at a
 * time, reconnects with capped exponential backoff after a failed connect or
 * a lost connection, logs both, and tells its owner when it goes up or down. */
#ifndef INVQ_WORKER_RLINK_H
#define INVQ_WORKER_RLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "redis_url.h"
#include "rng.h"
#include "uvredis.h"

typedef struct rlink rlink;

/* up: the connection is ready (AUTH/SELECT done) or was just lost. */
typedef void (*rlink_state_cb)(rlink *l, bool up, void *data);
typedef void (*rlink_close_cb)(rlink *l, void *data);

typedef struct rlink_opts {
    const char *target;          /* "queue" or "cache": for logs and metrics */
    const redis_url *url;        /* borrowed; must outlive the rlink */
    const char *url_text;        /* for logs, without credentials */
    int connect_timeout_ms;
    int command_timeout_ms;
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    size_t max_bulk_len; /* > 0: longer reply strings drop the connection (uvredis_opts) */
    rlink_state_cb on_state;
    void *data;
} rlink_opts;

struct rlink {
    uv_loop_t *loop;
    rlink_opts o;
    uvredis *r;
    uv_timer_t timer;
    rng rng;
    unsigned failures;
    bool up;
    bool was_up; /* has been up once: the next up is a reconnect */
    unsigned ups;  /* times it came up */
    bool closing;
    rlink_close_cb close_cb;
    void *close_data;
    int pending_closes;
};

/* Embeds a link in its owner (o borrowed, copied); does not connect yet. */
int rlink_init(rlink *l, uv_loop_t *loop, const rlink_opts *o);
/* Starts connecting; reconnects by itself until closed. */
void rlink_start(rlink *l);
/* Sends one command (argv/lens borrowed for the call). Returns 0, or a
 * negative INVQ_* code when the link is not up (cb then never runs). */
int rlink_command(rlink *l, int argc, const char **argv, const size_t *lens, uvredis_reply_cb cb, void *data);
/* Drops the connection as broken (e.g. a reply of the wrong shape) and reconnects. */
void rlink_reset(rlink *l, const char *why);
/* Closes the connection and the timer; cb runs from the loop once all is closed. */
void rlink_close(rlink *l, rlink_close_cb cb, void *data);

#endif
