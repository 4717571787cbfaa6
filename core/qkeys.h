/* The Redis key names of one queue (DESIGN.md "Redis key layout"): every key
 * shares the hash tag {<queue>}, so all of them live in one cluster slot. */
#ifndef INVQ_QKEYS_H
#define INVQ_QKEYS_H

#include <stddef.h>

typedef struct qkeys {
    char *prefix; /* "<ns>:{<q>}:" */
    char *pending;
    char *delayed;
    char *dead;
    char *consumers;
    char *reaped;
    char *stats;
    char *oversized; /* "<ns>:{<q>}:oversized:": prefix of the keys holding jobs too large for a worker */
    char *rate;      /* "<ns>:{<q>}:rate:": prefix of the families' fleet-wide rate-limit keys */
} qkeys;

/* Builds every name; returns 0 or -ENOMEM. Strings are owned by k. */
int qkeys_init(qkeys *k, const char *ns, const char *queue);
void qkeys_deinit(qkeys *k);

/* The queue name of shard i of a queue declared with `shards` shards:
 * "<queue>.<i>" (each shard its own hash tag {<queue>.<i>}, so the shards
 * spread over a cluster's masters); shards <= 1 is the unsharded queue
 * itself. Returns 0, -EINVAL (i >= shards) or -ENAMETOOLONG. */
int qkeys_shard_name(char *buf, size_t len, const char *queue, unsigned shards, unsigned i);

/* "<ns>:{<q>}:processing:<consumer>" into buf; returns -ENAMETOOLONG if it
 * does not fit. */
int qkeys_processing(const qkeys *k, const char *consumer, char *buf, size_t len);

/* Consumer id unique for every start: "<hostname>-<pid>-<8 random hex>-<index>". */
int qkeys_consumer_id(char *buf, size_t len, const char *start_tag, unsigned index);
/* The per-start part "<hostname>-<pid>-<8 random hex from getrandom>". */
int qkeys_start_tag(char *buf, size_t len);

#endif
