/* The reader's resolved configuration (invq_reader_options with defaults
 * applied and the URL parsed) and the per-get cache policy: TTL, jitter,
 * negative TTL, lease TTL, wait and version key, taken field by field from
 * the call's invq_read_opts, then the key's family class, then the reader's
 * defaults. */
#ifndef INVQ_PRODUCER_READER_CONFIG_H
#define INVQ_PRODUCER_READER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <invq/invq.h>

#include "redis_url.h"

/* The cache policy of one get. version_key points into the call's options
 * (or into vk_owned, when the policy built it); both live for the get. */
typedef struct reader_policy {
    uint64_t ttl_ms;
    uint32_t jitter_pct;
    uint64_t negative_ttl_ms; /* 0: no negative caching */
    uint64_t lease_ttl_ms;
    int wait_timeout_ms;
    invq_wait_policy on_wait_timeout;
    const void *version_key; /* NULL: not versioned */
    size_t version_key_len;
    char *vk_owned;          /* freed by reader_policy_deinit() */
} reader_policy;

/* Every pointer is owned and freed by reader_config_deinit(). */
typedef struct reader_config {
    redis_url url;
    int connect_timeout_ms;
    int command_timeout_ms;
    int down_retry_ms;
    size_t max_idle;
    int wait_poll_min_ms;
    int wait_poll_max_ms;
    reader_policy defaults; /* the reader's options (ttl_ms 0: none); no version key */
} reader_config;

/* Resolves o (borrowed) into c. Returns 0, or INVQ_EINVAL / INVQ_EURL /
 * INVQ_ENOMEM with a message naming the bad option (c is then empty). */
int reader_config_init(reader_config *c, const invq_reader_options *o, char *err, size_t errlen);
void reader_config_deinit(reader_config *c);

/* Fills p for a get of key (keylen bytes) with the call's options ro (may
 * be NULL). Returns 0, or INVQ_EINVAL (a bad override, or no TTL from any
 * source) / INVQ_ENOMEM with a message in err. */
int reader_policy_resolve(const reader_config *c, const void *key, size_t keylen, const invq_read_opts *ro,
                          reader_policy *p, char *err, size_t errlen);
void reader_policy_deinit(reader_policy *p);

#endif
