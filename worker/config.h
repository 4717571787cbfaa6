/* invq-worker's settings: command-line flags, each mirrored by an INVQ_*
 * environment variable (a flag beats its variable), validated with one-line
 * errors that name the flag. */
#ifndef INVQ_WORKER_CONFIG_H
#define INVQ_WORKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "job.h"
#include "log.h"

#define CONFIG_EX_USAGE 64

typedef struct worker_config {
    const char *queue_url; /* borrowed from argv or the environment */
    const char *cache_url; /* the queue's when not given */
    const char *ns;
    const char *queue;
    const char *http_addr; /* "off" disables the listener */
    const char *probe_url; /* non-NULL: --probe mode */
    const char *families;  /* --families: path of the families file; NULL: none (every key allowed) */
    unsigned consumers;
    /* --queue-shards: the queue's shards (1: the unsharded queue); the
     * consumers are spread over them, at least one per shard */
    unsigned queue_shards;
    unsigned batch;
    unsigned max_attempts;
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    uint64_t heartbeat_ms;
    uint64_t reap_after_ms;
    uint64_t shutdown_grace_ms;
    uint64_t command_timeout_ms;
    uint64_t connect_timeout_ms;
    uint64_t cache_max_keys_per_s; /* 0: no ceiling (keybudget.h) */
    size_t cache_window_keys;      /* keys in flight per cache connection (cache_target.h) */
    /* --take-linger-ms: an applied batch that was not full waits this long
     * before its finish takes the next (take.c); 0: no wait */
    uint64_t take_linger_ms;
    bool unlink;
    /* --cache-wait-replicas: after a batch's commands, WAIT for this many
     * replicas (0: off) for at most cache_wait_timeout_ms before it is
     * acknowledged; fewer: applied again, no attempt used. A Redis Cluster
     * target WAITs on every node it wrote to, with the same two fields. */
    unsigned cache_wait_replicas;
    uint64_t cache_wait_timeout_ms;
    /* --dlq-max: most dead-letter records the queue holds (0: no cap); a
     * batch that would add dead letters beyond it is held. */
    uint64_t dlq_max;
    /* --dlq-overflow: "hold" (default) or "spill:FILE"; dlq_spill is FILE
     * (borrowed, inside dlq_overflow), NULL for hold. */
    const char *dlq_overflow;
    const char *dlq_spill;
    log_level log_level;
    log_format log_format;
    job_limits limits;
} worker_config;

enum {
    CONFIG_RUN = 0,     /* run the worker */
    CONFIG_HELP = 1,    /* --help given */
    CONFIG_VERSION = 2, /* --version given */
    CONFIG_PROBE = 3,   /* --probe given */
};

/* Fills c with the defaults. */
void config_defaults(worker_config *c);

/* Parses argv (strings borrowed) over the defaults and the environment.
 * Returns CONFIG_RUN/HELP/VERSION/PROBE, or -1 with a one-line message
 * ("invq-worker: --batch: expected an integer 1..100000, got \"x\"") in err. */
int config_parse(worker_config *c, int argc, char **argv, char *err, size_t errlen);

/* Writes the --help text to f. */
void config_usage(FILE *f);

/* True when name (e.g. "INVQ_BATCH") is the environment mirror of a flag. */
bool config_env_known(const char *name);
/* The known variable closest to name when it is a likely typo of one (at
 * most 2 edits away), else NULL. */
const char *config_env_nearest(const char *name);
/* Logs one warning for each INVQ_* variable of the environment that mirrors
 * no flag (it is ignored), naming the nearest known one when there is one.
 * Call once, after log_init(). */
void config_warn_unknown_env(void);

#endif
