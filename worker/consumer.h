/* One consumer of the pool: its own queue and cache connections and its own
 * processing list. It fetches a batch, asks rate.lua when the batch has keys
 * of rate-limited families (waiting, the batch held, until they have room),
 * applies it through the cache target, settles it with finish.lua
 * (pipelining the next fetch behind it), holds a batch whose cache
 * connection broke until the cache is back, and holds it too while the
 * queue Redis refuses a script (a queue fault), trying again until it
 * succeeds. */
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
    /* the take pipeline in flight (consumer.c, "finish and fetch") */
    bool take_piped;      /* BLMOVE + HLEN follow the script */
    bool take_blmoved;    /* the BLMOVE brought a job into the batch */
    long long take_hlen;  /* HLEN reaped after the BLMOVE */
    bool take_failed;     /* a reply of the pipeline was an error (reported) */
    size_t take_more;     /* jobs a plain finish saw in pending beyond the one the BLMOVE takes */
    bool take_store;      /* finish.lua may store the next jobs: an LRANGE of processing follows it */
    long long take_stored; /* jobs finish.lua stored on processing (-1: none, it returned them) */
    bool take_idle;       /* the last BLMOVE waited for its job: the queue is idle (take.c) */
    uint64_t take_mark_ns; /* when the reply ahead of the BLMOVE came (uv_hrtime) */
    bool plain_len;       /* the plain finish in flight asks LLEN pending */
    bool settled_plain;   /* the settlement is all done, no records: may finish without the script */
    size_t plain_n;       /* jobs of the plain finish in flight */
    bool plain_uncounted; /* its HINCRBY was refused */
    uint64_t carry_done;  /* jobs a plain finish trimmed but could not count (stats refused the HINCRBY) */
    uint64_t carried;     /* of those, the ones finish_argv counts */
    char *stash;          /* owned: a job BLMOVEd behind a batch whose finish failed */
    size_t stash_len;
    int at_max, at_leave, at_store; /* finish_argv indices of finish.lua's max, leave and store */
    bool rating;          /* rate.lua outstanding */
    bool rate_wait;       /* the rate timer runs: the batch waits for its families' rate */
    bool budget_wait;     /* the rate timer runs: the batch waits for the process's key budget */
    bool linger_wait;     /* the rate timer runs: the applied batch waits --take-linger-ms (take.c) */
    bool lingered;        /* the batch has waited its --take-linger-ms */
    uv_timer_t rate_timer; /* the batch's waits: its families' rate, the key budget, the linger */
    uint64_t rate_since_ns; /* when the current wait began */
    argv_buf rate_argv;
    uv_timer_t retry;     /* after a queue fault: when to try again */
    bool retry_wait;      /* the retry timer runs: take no other step */
    int retry_what;       /* what to try again (consumer.c) */
    unsigned retries;     /* consecutive queue faults */
    unsigned wait_retries; /* consecutive WAITs that came back short */
    bool wait_short;      /* in the WAIT incident (holds.c) */
    bool dlq_full;        /* in the dead-letter-cap incident (holds.c) */
    bool dlq_ok;          /* the settled batch may add its dead letters */
    uint64_t settled_dead; /* dead letters the settled batch adds */
    void (*dlq_cb)(struct consumer *c, int verdict); /* LLEN outstanding (holds.c) */
    uint64_t dlq_adding;
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
/* Closes both connections and the timers; cb once all are closed. */
void consumer_close(consumer *c, void (*cb)(consumer *c));
/* Frees what c owns (after consumer_close completed or if never started). */
void consumer_deinit(consumer *c);

/* release.lua for consumer c: its list back to pending (jobs over the
 * payload limit moved aside), and deregistered when asked. */
#define RELEASE_ARGC 13
typedef struct release_argv {
    const char *argv[RELEASE_ARGC]; /* borrowed from c, the pool and the numbers below */
    size_t lens[RELEASE_ARGC];
    char limit[24], now[24];
} release_argv;
void consumer_release_args(const consumer *c, bool deregister, release_argv *a);
/* True when reply has release.lua's shape { jobs returned, { key, size, ... } };
 * *n is the number of jobs returned. */
bool consumer_release_reply(const redisReply *reply, long long *n);

#endif
