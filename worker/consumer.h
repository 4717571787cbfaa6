/* One consumer of the pool: its own queue and cache connections and its own
 * processing list. It fetches a batch, applies it through the cache target,
 * settles it with finish.lua (pipelining the next fetch behind it), and holds
 * a batch whose cache connection broke until the cache is back. */
#ifndef INVQ_WORKER_CONSUMER_H
#define INVQ_WORKER_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "argv.h"
#include "batch.h"
#include "cache_target.h"
#include "rlink.h"

struct pool;

typedef struct consumer {
    struct pool *p; /* borrowed: the pool owns the consumer */
    unsigned index;
    char id[320];
    char processing[512];
    rlink q; /* queue Redis */
    rlink c; /* cache Redis */
    bool q_ready;      /* connected, scripts loaded, own list released */
    unsigned q_epoch;  /* bumps on every queue connection loss */
    cache_target ct;
    batch_policy policy; /* the pool's, with this consumer's id */
    batch b;
    bool has_batch;
    unsigned batch_epoch; /* q_epoch when the batch was taken */
    bool started;         /* its apply has been sent at least once */
    bool applied;         /* results are in */
    bool held;            /* waiting for the cache connection */
    bool fetching;
    bool applying;
    bool finishing;
    bool blocking;        /* BLMOVE outstanding */
    bool released;        /* shutdown: list returned, deregistered */
    bool settled;         /* finish_argv holds the settlement */
    bool reloading;       /* SCRIPT LOAD outstanding */
    size_t prefilled;     /* jobs already in the batch when the fetch was sent */
    int closed;
    void (*close_cb)(struct consumer *c);
    uint64_t apply_start_ns;
    argv_buf fetch_argv;
    argv_buf finish_argv;
} consumer;

/* Sets up c in place (connections not started). */
int consumer_init(consumer *c, struct pool *p, unsigned index);
/* Starts both connections. */
void consumer_start(consumer *c);
/* Takes the next step if there is one (fetch, apply, finish); safe anytime. */
void consumer_kick(consumer *c);
/* True when nothing is in flight and no started batch is unfinished: safe to
 * release its list during shutdown. */
bool consumer_idle(const consumer *c);
/* Closes both connections; cb once both are closed. */
void consumer_close(consumer *c, void (*cb)(consumer *c));
/* Frees what c owns (after consumer_close completed or if never started). */
void consumer_deinit(consumer *c);

#endif
