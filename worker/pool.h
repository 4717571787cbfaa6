/* The worker pool: N consumers on one libuv loop plus the control
 * connection that registers and heartbeats them, promotes due jobs from
 * delayed, reaps dead consumers and samples queue depths; the circuit
 * breaker over the cache connections; graceful shutdown. */
#ifndef INVQ_WORKER_POOL_H
#define INVQ_WORKER_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "batch.h"
#include "config.h"
#include "consumer.h"
#include "fampolicy.h"
#include "keybudget.h"
#include "rlink.h"
#include "metrics.h"
#include "qfault.h"
#include "qkeys.h"
#include "redis_url.h"
#include "rng.h"
#include "scripts.h"

/* Queue-fault sites of the control connection; consumer i is site i. */
enum { POOL_SITE_HEARTBEAT, POOL_SITE_PROMOTE, POOL_SITE_REAP_LIST, POOL_SITE_REAP, POOL_SITE_SAMPLE,
       POOL_CONTROL_SITES };

typedef struct pool {
    uv_loop_t *loop;
    const worker_config *cfg; /* borrowed */
    redis_url qurl, curl;
    char qdesc[256], cdesc[256];
    qkeys keys;
    char start_tag[300];
    metrics *m; /* borrowed; may be NULL */
    rng rng;
    keybudget keys_budget; /* --cache-max-keys-per-s, shared by the consumers (of every shard: group[0]'s) */
    batch_policy policy;
    fampolicy *fam; /* the families file new batches are planned with (a reference); NULL: none */
    scripts sc;
    bool sort_refused; /* the queue Redis refused finish.lua's SORT (an older ACL): jobs are returned by the script */
    bool lmove_refused; /* the queue Redis refused LMOVE (an older ACL): waiting jobs are taken by fetch.lua */
    qfault faults; /* sites: the consumers, then POOL_SITE_* after them */
    char reap_list_cmd[300]; /* the command named in its faults */
    int64_t heartbeat_sent_ms; /* host clock when the last heartbeat was sent */
    rlink control;
    bool control_ready; /* connected and scripts loaded */
    bool registered;    /* consumers ZADDed on the current control connection */
    bool was_registered;
    bool timers_started;
    bool promoting, reaping, sampling;
    unsigned reap_outstanding;
    consumer *consumers;
    unsigned n;
    unsigned cache_down; /* consumers whose cache connection is not up */
    bool cache_was_up;
    bool breaker_open;
    unsigned queue_down;
    bool draining;
    char link_err[2][512]; /* per target (queue, cache): the connection error last logged */
    bool link_back[2];     /* "connected" logged since that error */
    bool link_reset[2];    /* that error came from a reset after connecting (NOAUTH, ...) */
    unsigned wait_short_n; /* consumers whose last WAIT came back short (holds.c) */
    unsigned dlq_full_n;   /* consumers holding a batch for the dead-letter cap (holds.c) */
    bool dlq_spilling;     /* a consumer is moving records to --dlq-overflow's file (dlq_spill.c) */
    bool releasing;
    bool closing;
    unsigned release_outstanding;
    unsigned release_failed;
    int exit_code;
    unsigned open_handles;
    uv_timer_t heartbeat, promote, reap, sample, grace;
    /* A sharded queue: one pool per shard on the same loop and metrics, the
     * group being all of them (pools[0..ngroup-1], borrowed; a pool alone
     * is its own group of one). Gauges are published as the group's sums. */
    struct pool *group;
    unsigned ngroup;
    uint64_t depth[4]; /* this pool's last sampled pending, delayed, dead, processing */
#define POOL_TOTALS_MAX 16
    unsigned ntotals;
    char total_name[POOL_TOTALS_MAX][32]; /* this pool's last sampled stats counters */
    uint64_t total_value[POOL_TOTALS_MAX];
    void (*on_closed)(struct pool *p); /* runs once everything is closed */
    void *data;                        /* the owner's, for on_closed */
} pool;

/* Validates the URLs (message in err) and prepares everything; borrows loop,
 * cfg and m (all must outlive the pool). Returns 0 or a negative code. */
int pool_init(pool *p, uv_loop_t *loop, const worker_config *cfg, metrics *m, char *err, size_t errlen);
/* Makes pools[0..n-1] (each initialised) one group: the shards of one
 * queue, whose gauges are summed. */
void pool_group(pool *pools, unsigned n);
/* Starts the connections and timers. on_closed runs when the pool has shut
 * down (after pool_stop), with p->exit_code set. */
void pool_start(pool *p, void (*on_closed)(pool *p), void *data);
/* Graceful stop: no more fetching, finish batches in flight, give back the
 * rest, deregister, close (bounded by --shutdown-grace-ms). */
void pool_stop(pool *p);
/* Frees what the pool owns once it closed (or if it never started). */
void pool_deinit(pool *p);

/* Plans every batch fetched from now on with fam (a reference is taken;
 * NULL: no families file). The file before is dropped: batches already
 * planned with it keep it until they settle, so a change never reaches a
 * batch in flight. */
void pool_set_families(pool *p, fampolicy *fam);

/* For consumers. */
bool pool_may_fetch(const pool *p);
void pool_consumer_link(pool *p, consumer *c, rlink *l, bool up);
/* Logs what a link reports, once per change of error per target (not per
 * retry), and keeps the error for /readyz. */
void pool_link_event(pool *p, rlink *l, const rlink_event *ev);
void pool_consumer_idle(pool *p);
uint64_t pool_now_ms(void);
/* Logs and counts the jobs a queue script moved aside as too large
 * (`diverted` is its flat { key, size, ... } reply); `who` moved them. */
void pool_diverted(pool *p, const char *who, const redisReply *diverted);

#endif
