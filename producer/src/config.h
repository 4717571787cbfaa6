/* Resolved producer configuration: invq_options with defaults applied, the
 * URL parsed and the queue's key names built; shared by the sync and async
 * producers. */
#ifndef INVQ_PRODUCER_CONFIG_H
#define INVQ_PRODUCER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <invq/invq.h>

#include "job.h"
#include "qkeys.h"
#include "redis_url.h"

/* Every pointer is owned and freed by prod_config_deinit(). */
typedef struct prod_config {
    redis_url url;
    char ns[129]; /* the namespace: no job may name a key under "<ns>:" */
    qkeys keys;   /* the queue's key names (a sharded queue: shard 0's) */
    unsigned shards;        /* 1: unsharded */
    invq_shard_pick pick;
    qkeys *shard_keys;      /* shards > 1: every shard's key names; NULL otherwise */
    int connect_timeout_ms;
    int command_timeout_ms;
    job_limits lim;
    char *spool_dir; /* NULL: no spool */
    uint64_t spool_max_bytes;
    invq_fsync_policy spool_fsync;
    int spool_fsync_interval_ms;
    size_t async_queue_max;
    int reconnect_min_ms;
    int reconnect_max_ms;
    invq_families *fams; /* options.families loaded; NULL: no families file */
} prod_config;

/* Resolves o (borrowed) into c, loading o->families when set. Returns 0, or
 * INVQ_EINVAL / INVQ_EURL / INVQ_ETLS (a TLS file of the URL cannot be used)
 * / INVQ_ENOMEM with a message naming the bad option (for a bad families
 * file: every problem, one per line) and c empty. */
int prod_config_init(prod_config *c, const invq_options *o, char *err, size_t errlen);

void prod_config_deinit(prod_config *c);

/* The key names of shard i (keys itself for an unsharded queue). */
const qkeys *prod_config_shard(const prod_config *c, unsigned i);
/* The shard of a job by its first key (INVQ_SHARD_BY_KEY): the CRC-32C of
 * the key modulo the shards; 0 for a job without keys. */
unsigned prod_config_key_shard(const prod_config *c, const invq_job *job);
/* The same for an encoded job (a spooled one): decoded for its first key;
 * a payload that does not decode goes to shard 0. */
unsigned prod_config_payload_shard(const prod_config *c, const uint8_t *payload, size_t len);

/* With a families file: checks every job of jobs[0..n) against it (the
 * whole batch is refused when one job is). Returns 0 or INVQ_EFAMILY with
 * the message in err. */
int prod_config_check_jobs(const prod_config *c, const invq_job *const *jobs, size_t n, char *err, size_t errlen);

#endif
