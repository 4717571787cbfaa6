/* The audit's view of the cache Redis: read-only by construction. Only
 * SCAN and GET are ever sent (a gate in audit_cache.c refuses anything
 * else; on a Redis Cluster also CLUSTER SLOTS and ASKING, which read or
 * change nothing), over the shared sync connect of core/ (every URL form
 * core accepts works for --cache-url). On a Redis Cluster
 * (redis-cluster://) SCAN runs on every master and each GET goes to the
 * master of its key's slot (core/cluster_sync.h). A read returns what a cache-aside reader
 * would make of the key, interpreted by libinvq's one implementation of
 * the lease protocol (producer/src/lease.c, schemas/lease-v1.md). */
#ifndef INVQ_CTL_AUDIT_CACHE_H
#define INVQ_CTL_AUDIT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "args.h"
#include "families.h"
#include "redis_url.h"

struct cluster_sync;

typedef struct audit_cache {
    redisContext *rc;  /* owned; NULL once a failure made it unusable */
    struct cluster_sync *cs; /* owned; a Redis Cluster cache (then rc is NULL) */
    redis_url url;     /* the parsed --cache-url (cs borrows it) */
    bool have_url;
    char where[300];   /* the address without credentials, for messages */
} audit_cache;

/* Connects to url (connect and command timeouts from common). Returns 0,
 * or CTL_USAGE (bad URL), CTL_UNAVAILABLE or CTL_SOFTWARE with a message in
 * err. */
int audit_cache_open(audit_cache *c, const char *url, const ctl_common *common, char *err, size_t errlen);
void audit_cache_close(audit_cache *c);

/* Called for every key a SCAN page returns (borrowed bytes). Return 0 to go
 * on, or a negative code to stop the scan with it. */
typedef int (*audit_scan_cb)(const char *key, size_t len, void *data);

/* A full SCAN with MATCH glob and COUNT count (on a cluster: of every
 * master in turn; a key is seen once unless its slot moves mid-scan). Returns 0, the callback's
 * code, or CTL_UNAVAILABLE / CTL_SOFTWARE (message in err). */
int audit_cache_scan(audit_cache *c, const char *glob, uint64_t count, audit_scan_cb cb, void *data, char *err,
                     size_t errlen);

/* What a key holds, as a reader reads it. */
typedef enum audit_snap_kind {
    AUDIT_SNAP_ABSENT,      /* no key */
    AUDIT_SNAP_DATA,        /* a cached value (escaped data included) */
    AUDIT_SNAP_NEGATIVE,    /* a negative entry: "the source has no such row" */
    AUDIT_SNAP_LEASE,       /* a lease marker */
    AUDIT_SNAP_UNKNOWN,     /* a marker of a later protocol version */
    AUDIT_SNAP_WRONGTYPE,   /* not a string */
    AUDIT_SNAP_BADVERSION,  /* versioned: the version key is not an integer */
} audit_snap_kind;

typedef struct audit_snap {
    audit_snap_kind kind;
    int64_t version;   /* versioned family: the version key's value (0 when absent) */
    char *raw;         /* the stored bytes (owned, NUL-terminated) */
    size_t rawlen;
    const char *data;  /* AUDIT_SNAP_DATA: the value inside raw, escape removed */
    size_t len;
    char *key;         /* the data key that was read (owned) */
    size_t keylen;
} audit_snap;

/* Reads the logical key `key` of family m->family, described by m (kind
 * PLAIN): for a versioned family first its version key, then the data key
 * <key>:v<N>. Returns 0 with *s filled (free with audit_snap_deinit), or
 * CTL_UNAVAILABLE / CTL_SOFTWARE with a message in err. */
int audit_cache_read(audit_cache *c, const fam_match *m, const void *key, size_t keylen, audit_snap *s,
                     char *err, size_t errlen);
void audit_snap_deinit(audit_snap *s);

/* True when both reads saw exactly the same thing (kind, version, bytes). */
bool audit_snap_same(const audit_snap *a, const audit_snap *b);

#endif
