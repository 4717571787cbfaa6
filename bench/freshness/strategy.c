/* The freshness benchmark's strategies (see strategy.h): the writer's
 * invalidation through libinvq's producer, and the reader's path through
 * the cache, plain cache-aside or libinvq's reader. */
#include "strategy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_FAILED (-1000) /* a loader's own error code: the database failed */

static const strategy all[] = {
    { "ttl", "TTL only (no invalidation)", STRAT_NONE, false, false },
    { "del", "delete on write", STRAT_DEL, false, false },
    { "redo", "delete + redo (delayed double delete)", STRAT_DEL_REDO, false, false },
    { "leases", "delete + leases (invq_reader_get)", STRAT_DEL, true, false },
    { "bump", "versioned keys + bump (invq_reader_get)", STRAT_BUMP, true, true },
};

const strategy *strat_all(size_t *n)
{
    *n = sizeof(all) / sizeof(all[0]);
    return all;
}

const strategy *strat_find(const char *name)
{
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i].name, name) == 0)
            return &all[i];
    return NULL;
}

int strat_invalidate(const strategy *s, const fw_params *p, invq_producer *prod, int row, char *err, size_t errlen)
{
    char key[32];
    size_t len;
    int rc;
    if (s->op == STRAT_NONE)
        return 0;
    len = (size_t)(s->op == STRAT_BUMP ? fw_version_key(key, sizeof(key), row) : fw_key(key, sizeof(key), row));
    const void *keys[1] = { key };
    invq_job *job = invq_job_new();
    if (job == NULL) {
        snprintf(err, errlen, "invq_job_new: out of memory");
        return INVQ_ENOMEM;
    }
    if (s->op == STRAT_BUMP)
        rc = invq_job_bump(job, keys, &len, 1);
    else
        rc = invq_job_del(job, keys, &len, 1);
    if (rc == 0 && s->op == STRAT_DEL_REDO)
        rc = invq_job_set_redo_ms(job, (uint64_t)p->redo_ms);
    if (rc == 0)
        rc = invq_send(prod, job);
    invq_job_free(job);
    if (rc < 0) {
        snprintf(err, errlen, "invq_send: %s: %s", invq_strerror(rc), invq_producer_errstr(prod));
        return rc;
    }
    if (rc == INVQ_SPOOLED) {
        snprintf(err, errlen, "invq_send: the job was spooled, but no spool is configured");
        return INVQ_EPROTO;
    }
    return 0;
}

/* The load: the row's SELECT, then load_us of the rest of a remote query.
 * Fills the cached value into buf (FW_VALUE_MAX bytes). */
static int load_row(strat_reader *t, int row, char *buf, size_t *len, long long *version)
{
    char payload[64];
    int rc = fdb_read(t->db, row, version, payload, sizeof(payload), t->err, sizeof(t->err));
    t->loads++;
    if (rc != 0) {
        if (rc > 0)
            snprintf(t->err, sizeof(t->err), "row %d is missing from the table", row);
        return -1;
    }
    fw_sleep_us(t->p->load_us);
    *len = fw_value_format(buf, row, *version, payload);
    return 0;
}

static int invq_loader(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    strat_reader *t = user;
    char buf[FW_VALUE_MAX], k[32];
    size_t len;
    long long version;
    int row;
    /* the logical key is "item:<id>" */
    if (keylen < 6 || keylen >= sizeof(k))
        return INVQ_EINVAL;
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    if (sscanf(k, "item:%d", &row) != 1)
        return INVQ_EINVAL;
    if (load_row(t, row, buf, &len, &version) != 0)
        return LOAD_FAILED;
    return invq_loaded_set(out, buf, len);
}

/* Plain cache-aside: GET; on a miss load the row and SET it with a TTL. */
static int plain_read(strat_reader *t, int row, long long *version)
{
    char key[32], buf[FW_VALUE_MAX];
    size_t len;
    int kl = fw_key(key, sizeof(key), row);
    redisReply *r = redisCommand(t->cache, "GET %b", key, (size_t)kl);
    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        snprintf(t->err, sizeof(t->err), "GET %s: %s", key,
                 r == NULL ? t->cache->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        t->hits++;
        *version = fw_value_parse(r->str, r->len, row);
        freeReplyObject(r);
        return 0;
    }
    freeReplyObject(r);
    t->misses++;
    if (load_row(t, row, buf, &len, version) != 0)
        return -1;
    r = redisCommand(t->cache, "SET %b %b PX %llu", key, (size_t)kl, buf, len,
                     (unsigned long long)fw_ttl_ms(t->p, &t->rng));
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(t->err, sizeof(t->err), "SET %s: %s", key, r == NULL ? t->cache->errstr : r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static int reader_read(strat_reader *t, int row, long long *version)
{
    char key[32], vkey[32];
    void *val;
    size_t len;
    invq_read_opts ro;
    invq_read_opts_init(&ro);
    int kl = fw_key(key, sizeof(key), row);
    if (t->s->versioned) {
        ro.version_key = vkey;
        ro.version_key_len = (size_t)fw_version_key(vkey, sizeof(vkey), row);
    }
    int rc = invq_reader_get(t->reader, key, (size_t)kl, &ro, invq_loader, t, &val, &len);
    if (rc != 0) {
        if (rc != LOAD_FAILED)
            snprintf(t->err, sizeof(t->err), "invq_reader_get %s: %s", key,
                     rc == INVQ_NOTFOUND ? "no such row" : invq_strerror(rc));
        return -1;
    }
    *version = fw_value_parse(val, len, row);
    invq_value_free(val);
    return 0;
}

int strat_read(strat_reader *t, int row, long long *version)
{
    return t->s->leases ? reader_read(t, row, version) : plain_read(t, row, version);
}

int strat_cached_version(const strategy *s, redisContext *c, int row, long long *version, char *err, size_t errlen)
{
    char key[48];
    int kl = fw_key(key, sizeof(key), row);
    redisReply *r;
    if (s->versioned) {
        char vkey[32];
        int vl = fw_version_key(vkey, sizeof(vkey), row);
        long long n = 0;
        r = redisCommand(c, "GET %b", vkey, (size_t)vl);
        if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
            snprintf(err, errlen, "GET %s: %s", vkey, r == NULL ? c->errstr : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING)
            n = strtoll(r->str, NULL, 10);
        freeReplyObject(r);
        kl = snprintf(key, sizeof(key), "item:%d:v%lld", row, n); /* lease-v1.md §3 */
    }
    r = redisCommand(c, "GET %b", key, (size_t)kl);
    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        snprintf(err, errlen, "GET %s: %s", key, r == NULL ? c->errstr : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    int rc = 1;
    /* a value beginning with NUL is one of lease-v1's markers, not a value */
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] != '\0') {
        *version = fw_value_parse(r->str, r->len, row);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}
