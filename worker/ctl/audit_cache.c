/* The audit's read-only cache access (see audit_cache.h): connect through
 * core, SCAN pages, and reads of a key the way a cache-aside reader reads
 * it (version key, data key, lease-protocol kinds from lease.c). */
#include "audit_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>

#include "cluster_slot.h"
#include "cluster_sync.h"
#include "lease.h"
#include "redis_sync.h"
#include "redis_url.h"

int audit_cache_open(audit_cache *c, const char *url, const ctl_common *common, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    char why[256];
    redis_url u;
    if (redis_url_parse(url, &u, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "--cache-url: %s", why);
        return CTL_USAGE;
    }
    redis_url_describe(&u, c->where, sizeof(c->where));
    int rc;
    if (redis_url_is_cluster(&u)) {
        c->url = u;
        c->have_url = true;
        rc = csync_open(&c->url, (int)common->connect_timeout_ms, (int)common->command_timeout_ms, &c->cs, why,
                        sizeof(why));
        if (rc < 0) {
            redis_url_deinit(&c->url);
            c->have_url = false;
        }
    } else {
        rc = redis_sync_connect(&u, (int)common->connect_timeout_ms, (int)common->command_timeout_ms, &c->rc, why,
                                sizeof(why));
        redis_url_deinit(&u);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cache redis %s unreachable: %s", c->where, why);
        return rc == INVQ_ENOMEM ? CTL_SOFTWARE : CTL_UNAVAILABLE;
    }
    return 0;
}

void audit_cache_close(audit_cache *c)
{
    if (c->rc)
        redisFree(c->rc);
    c->rc = NULL;
    csync_free(c->cs);
    c->cs = NULL;
    if (c->have_url)
        redis_url_deinit(&c->url);
    c->have_url = false;
}

/* On a cluster: the command on node `node` (SCAN), or when node is -1 on
 * the master of argv[1]'s slot (GET). */
static redisReply *run_cluster(audit_cache *c, int node, int argc, const char **argv, const size_t *lens, int *code,
                               char *err, size_t errlen)
{
    redisReply *r = NULL;
    char why[600];
    int rc;
    if (node >= 0) {
        rc = csync_node_command(c->cs, (unsigned)node, argc, argv, lens, &r, why, sizeof(why));
    } else {
        size_t klen = lens ? lens[1] : strlen(argv[1]);
        rc = csync_command(c->cs, cluster_keyslot(argv[1], klen), argc, argv, lens, &r, why, sizeof(why));
    }
    if (rc < 0) {
        snprintf(err, errlen, "cache redis %s: %s: %s", c->where, argv[0], why);
        *code = rc == INVQ_ENOMEM ? CTL_SOFTWARE : CTL_UNAVAILABLE;
        return NULL;
    }
    return r;
}

/* Every command the audit sends goes through here: it reads, never writes. */
static redisReply *run_read(audit_cache *c, int node, int argc, const char **argv, const size_t *lens, int *code,
                            char *err, size_t errlen)
{
    if (strcmp(argv[0], "GET") != 0 && strcmp(argv[0], "SCAN") != 0) {
        snprintf(err, errlen, "internal error: the audit does not send %s", argv[0]);
        *code = CTL_SOFTWARE;
        return NULL;
    }
    if (c->cs)
        return run_cluster(c, node, argc, argv, lens, code, err, errlen);
    if (!c->rc) {
        snprintf(err, errlen, "cache redis %s: the connection was lost earlier", c->where);
        *code = CTL_UNAVAILABLE;
        return NULL;
    }
    redisReply *r = redisCommandArgv(c->rc, argc, argv, lens);
    if (!r) {
        char why[512];
        redis_sync_ctx_error(c->rc, argv[0], why, sizeof(why));
        snprintf(err, errlen, "cache redis %s: %s", c->where, why);
        redisFree(c->rc);
        c->rc = NULL;
        *code = CTL_UNAVAILABLE;
        return NULL;
    }
    return r;
}

static int reply_error(audit_cache *c, redisReply *r, const char *what, char *err, size_t errlen)
{
    char why[512];
    int code = redis_reply_error(r, what, why, sizeof(why));
    bool down = code == INVQ_EAUTH || redis_reply_is_transient(r);
    snprintf(err, errlen, "cache redis %s: %s", c->where, why);
    freeReplyObject(r);
    return down ? CTL_UNAVAILABLE : CTL_SOFTWARE;
}

/* A full SCAN of one server (node: a cluster node id, or -1 for the one server). */
static int scan_one(audit_cache *c, int node, const char *glob, uint64_t count, audit_scan_cb cb, void *data,
                    char *err, size_t errlen)
{
    char cursor[32] = "0", cnt[24];
    snprintf(cnt, sizeof(cnt), "%" PRIu64, count);
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", glob, "COUNT", cnt};
        int code = 0;
        redisReply *r = run_read(c, node, 6, argv, NULL, &code, err, errlen);
        if (!r)
            return code;
        if (r->type == REDIS_REPLY_ERROR)
            return reply_error(c, r, "SCAN", err, errlen);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) || r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "cache redis %s: SCAN: unexpected reply", c->where);
            freeReplyObject(r);
            return CTL_SOFTWARE;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING)
                continue;
            int rc = cb(keys->element[i]->str, keys->element[i]->len, data);
            if (rc) {
                freeReplyObject(r);
                return rc;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int audit_cache_scan(audit_cache *c, const char *glob, uint64_t count, audit_scan_cb cb, void *data, char *err,
                     size_t errlen)
{
    if (c->cs == NULL)
        return scan_one(c, -1, glob, count, cb, data, err, errlen);
    unsigned ids[1024];
    size_t n = csync_masters(c->cs, ids, sizeof(ids) / sizeof(ids[0]));
    if (n > sizeof(ids) / sizeof(ids[0]))
        n = sizeof(ids) / sizeof(ids[0]);
    for (size_t i = 0; i < n; i++) {
        int rc = scan_one(c, (int)ids[i], glob, count, cb, data, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* GET key: *out is the reply (string or nil), or NULL with *wrongtype set
 * for a WRONGTYPE error. Returns 0 or a failure code. */
static int get(audit_cache *c, const void *key, size_t len, redisReply **out, bool *wrongtype, char *err,
               size_t errlen)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, len};
    int code = 0;
    *out = NULL;
    *wrongtype = false;
    redisReply *r = run_read(c, -1, 2, argv, lens, &code, err, errlen);
    if (!r)
        return code;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        freeReplyObject(r);
        *wrongtype = true;
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR)
        return reply_error(c, r, "GET", err, errlen);
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
        snprintf(err, errlen, "cache redis %s: GET: unexpected reply type %d", c->where, r->type);
        freeReplyObject(r);
        return CTL_SOFTWARE;
    }
    *out = r;
    return 0;
}

static char *dup_bytes(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return CTL_SOFTWARE;
}

/* Reads the version key of m: 0 with *version, or *bad set. */
static int read_version(audit_cache *c, const fam_match *m, int64_t *version, bool *bad, char *err, size_t errlen)
{
    char vk[FAM_MAX_PATTERN_LEN * 4];
    size_t vklen = 0;
    *version = 0;
    *bad = false;
    if (families_version_key(m, vk, sizeof(vk), &vklen) != 0) {
        snprintf(err, errlen, "internal error: no version key for a key of family %s", m->family->name);
        return CTL_SOFTWARE;
    }
    redisReply *r;
    bool wrongtype;
    int rc = get(c, vk, vklen, &r, &wrongtype, err, errlen);
    if (rc)
        return rc;
    if (wrongtype || (r->type == REDIS_REPLY_STRING && lease_parse_version(r->str, r->len, version) < 0))
        *bad = true;
    freeReplyObject(r);
    return 0;
}

int audit_cache_read(audit_cache *c, const fam_match *m, const void *key, size_t keylen, audit_snap *s,
                     char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (m->family->version_key) {
        bool bad;
        int rc = read_version(c, m, &s->version, &bad, err, errlen);
        if (rc)
            return rc;
        if (bad) {
            s->kind = AUDIT_SNAP_BADVERSION;
            return 0;
        }
        size_t need = 0;
        families_data_key(key, keylen, s->version, NULL, 0, &need);
        if (!(s->key = malloc(need + 1)))
            return oom(err, errlen);
        families_data_key(key, keylen, s->version, s->key, need, &s->keylen);
        s->key[s->keylen] = '\0';
    } else if (!(s->key = dup_bytes(key, keylen))) {
        return oom(err, errlen);
    } else {
        s->keylen = keylen;
    }
    redisReply *r;
    bool wrongtype;
    int rc = get(c, s->key, s->keylen, &r, &wrongtype, err, errlen);
    if (rc)
        return rc;
    if (wrongtype) {
        s->kind = AUDIT_SNAP_WRONGTYPE;
        return 0;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        s->kind = AUDIT_SNAP_ABSENT;
        return 0;
    }
    s->raw = dup_bytes(r->str, r->len);
    s->rawlen = r->len;
    freeReplyObject(r);
    if (!s->raw)
        return oom(err, errlen);
    switch (lease_classify(s->raw, s->rawlen, &s->data, &s->len)) {
    case LEASE_DATA:
        s->kind = AUDIT_SNAP_DATA;
        break;
    case LEASE_NEG:
        s->kind = AUDIT_SNAP_NEGATIVE;
        break;
    case LEASE_HELD:
        s->kind = AUDIT_SNAP_LEASE;
        break;
    default:
        s->kind = AUDIT_SNAP_UNKNOWN;
        break;
    }
    return 0;
}

void audit_snap_deinit(audit_snap *s)
{
    free(s->raw);
    free(s->key);
    memset(s, 0, sizeof(*s));
}

bool audit_snap_same(const audit_snap *a, const audit_snap *b)
{
    return a->kind == b->kind && a->version == b->version && a->rawlen == b->rawlen &&
           (a->rawlen == 0 || memcmp(a->raw, b->raw, a->rawlen) == 0);
}
