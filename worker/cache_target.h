/* The cache target: applies a batch of (op, key, arg) entries to the cache
 * Redis and reports a result per entry. DEL/UNLINK go in chunks of up to
 * CACHE_DEL_CHUNK keys, INCR and PEXPIRE ... LT one command per key,
 * pipelined within a window: at most t->window keys (CACHE_WINDOW_KEYS
 * unless set after init) are in flight on
 * the connection at a time (the next command goes out as a reply comes
 * back), so that the cache Redis never holds a long run of one worker's
 * commands in front of its other clients' (bench/README.md, "Fairness"). Entries
 * of a shadow-mode family are probed with EXISTS instead (their result says
 * whether the key exists), and those of an off family are not sent. This is
 * the one place that sends invalidations; with a Redis Cluster (t->cluster
 * set) the batch goes through cache_cluster.c instead: split by slot, sent to
 * each slot's master, MOVED/ASK followed. */
#ifndef INVQ_WORKER_CACHE_TARGET_H
#define INVQ_WORKER_CACHE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "argv.h"
#include "batch.h"
#include "coalesce.h"
#include "rlink.h"

#define CACHE_DEL_CHUNK 128
/* Keys in flight per cache connection by default (--cache-window-keys); a
 * command with more than the window is sent alone. */
#define CACHE_WINDOW_KEYS 256

typedef struct cache_target cache_target;
struct cache_cluster;

/* status 0: every entry has its result in results[]; CACHE_LOST: the
 * connection broke or timed out before every reply arrived, or a reply said
 * the node is not a writable master (READONLY, LOADING, MASTERDOWN,
 * NOREPLICAS: lost_why holds it, and the owner resets the connection), so
 * the outcome is unknown and the batch must be applied again once the cache
 * is back; CACHE_WAIT_SHORT: every command succeeded but WAIT saw fewer
 * replicas than wait_replicas (t->replicas), so the batch is applied again. */
#define CACHE_LOST 1
#define CACHE_WAIT_SHORT 2
typedef void (*cache_done_cb)(cache_target *t, int status, void *data);

typedef struct cache_cmd {
    cache_target *t;
    uint32_t first; /* into t->idx */
    uint32_t count;
} cache_cmd;

struct cache_target {
    rlink *conn; /* borrowed */
    bool unlink;
    unsigned wait_replicas;     /* > 0: WAIT wait_replicas wait_timeout_ms after the writes */
    uint64_t wait_timeout_ms;
    const cache_entry *entries; /* borrowed for one apply */
    size_t nentries;
    cache_result *results; /* owned, one per entry */
    size_t cap_results;
    char **msgs; /* copies of error replies, freed on the next apply */
    size_t nmsgs, cap_msgs;
    cache_cmd *cmds;
    size_t ncmds, cap_cmds;
    uint32_t *idx; /* entry indices, grouped by command */
    size_t cap_idx;
    argv_buf argv;
    size_t outstanding;
    size_t window;      /* most keys in flight (at least one command always goes) */
    size_t next_cmd;    /* the first of t->cmds not sent yet */
    size_t window_keys; /* keys of the commands in flight */
    bool lost;
    char lost_why[256]; /* a node error that lost the batch ("" when the connection broke) */
    bool wait_short;
    bool wait_sent;     /* this batch's WAIT went out */
    long long replicas; /* WAIT's answer, -1 when no WAIT was sent */
    cache_cmd wait_cmd;
    cache_done_cb cb;
    void *data;
    struct cache_cluster *cluster; /* owned; NULL: a single node behind conn */
};

void cache_target_init(cache_target *t, rlink *conn, bool use_unlink);
/* WAIT for `replicas` replicas (0: off) for at most timeout_ms after the
 * commands of each batch that writes. */
void cache_target_set_wait(cache_target *t, unsigned replicas, uint64_t timeout_ms);
void cache_target_deinit(cache_target *t);

/* Sends every entry (borrowed until cb runs). On a 0 return cb runs exactly
 * once, possibly before this returns (when every send failed at once).
 * Returns -ENOMEM, or CACHE_LOST when the connection is not up (then cb does
 * not run). */
int cache_target_apply(cache_target *t, const cache_entry *entries, size_t n, cache_done_cb cb, void *data);

/* Closes what the target holds on the loop (a cluster's node connections);
 * cb(data) runs once all is closed (at once for a single node). */
void cache_target_close(cache_target *t, void (*cb)(void *data), void *data);

/* For cache_cluster.c: the command c of the planned t->cmds / t->idx into
 * t->argv. Returns 0 or -ENOMEM. */
int cache_target_build_argv(cache_target *t, const cache_cmd *c);
/* A copy of an error reply's text kept until the next apply (borrowed by
 * t->results); "(out of memory)" when it cannot be kept. */
const char *cache_target_keep_msg(cache_target *t, const char *s, size_t len);

#endif
