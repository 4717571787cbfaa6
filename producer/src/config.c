/* invq_options defaults and validation, resolved into a prod_config. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "error.h"
#include "job_limits.h"
#include "tls.h"

INVQ_API void invq_options_init(invq_options *o)
{
    memset(o, 0, sizeof(*o));
    o->url = "redis://127.0.0.1:6379";
    o->ns = "invq";
    o->queue = "default";
    o->connect_timeout_ms = 2000;
    o->command_timeout_ms = 5000;
    o->spool_max_bytes = 64u * 1024u * 1024u;
    o->spool_fsync = INVQ_FSYNC_ALWAYS;
    o->spool_fsync_interval_ms = 1000;
    o->async_queue_max = 10000;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 5000;
}

int prod_config_init(prod_config *c, const invq_options *o, char *err, size_t errlen)
{
    int rc;
    memset(c, 0, sizeof(*c));
    if (!o)
        return err_set(err, errlen, INVQ_EINVAL, "options are NULL (use invq_options_init)");
    const char *ns = o->ns ? o->ns : "invq";
    const char *queue = o->queue ? o->queue : "default";
    if (!*ns || strlen(ns) > 128)
        return err_set(err, errlen, INVQ_EINVAL, "option ns must be 1..128 bytes");
    if (!*queue || strlen(queue) > 128 || strpbrk(queue, "{}"))
        return err_set(err, errlen, INVQ_EINVAL, "option queue must be 1..128 bytes without '{' or '}'");
    if (o->connect_timeout_ms < 0 || o->command_timeout_ms < 0)
        return err_set(err, errlen, INVQ_EINVAL, "timeouts must be >= 0 ms (0: none)");
    if (o->spool_fsync != INVQ_FSYNC_ALWAYS && o->spool_fsync != INVQ_FSYNC_INTERVAL &&
        o->spool_fsync != INVQ_FSYNC_NEVER)
        return err_set(err, errlen, INVQ_EINVAL, "option spool_fsync is not an invq_fsync_policy");
    if (o->queue_shards > 1024)
        return err_set(err, errlen, INVQ_EINVAL, "option queue_shards must be 1..1024 (0 means 1), got %u",
                       o->queue_shards);
    if (o->shard_pick != INVQ_SHARD_ROUND_ROBIN && o->shard_pick != INVQ_SHARD_BY_KEY)
        return err_set(err, errlen, INVQ_EINVAL, "option shard_pick is not an invq_shard_pick");
    if (o->reconnect_min_ms < 0 || o->reconnect_max_ms < o->reconnect_min_ms)
        return err_set(err, errlen, INVQ_EINVAL, "reconnect delays need 0 <= min <= max");
    if ((rc = redis_url_parse(o->url ? o->url : "redis://127.0.0.1:6379", &c->url, err, errlen)) < 0)
        return rc;
    if ((rc = tls_check_files(&c->url, err, errlen)) < 0) { /* a TLS file that cannot be used fails now */
        redis_url_deinit(&c->url);
        return rc;
    }
    snprintf(c->ns, sizeof(c->ns), "%s", ns);
    c->shards = o->queue_shards > 1 ? o->queue_shards : 1;
    c->pick = o->shard_pick;
    char q0[160];
    qkeys_shard_name(q0, sizeof(q0), queue, c->shards, 0);
    int krc = qkeys_init(&c->keys, ns, q0);
    if (krc == 0 && c->shards > 1) {
        c->shard_keys = calloc(c->shards, sizeof(*c->shard_keys));
        krc = c->shard_keys ? 0 : -1;
        for (unsigned i = 0; krc == 0 && i < c->shards; i++) {
            qkeys_shard_name(q0, sizeof(q0), queue, c->shards, i);
            krc = qkeys_init(&c->shard_keys[i], ns, q0);
        }
    }
    c->spool_dir = o->spool_dir ? strdup(o->spool_dir) : NULL;
    if (krc < 0 || (o->spool_dir && !c->spool_dir)) {
        prod_config_deinit(c);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->command_timeout_ms = o->command_timeout_ms;
    job_limits_from_options(o, &c->lim);
    c->spool_max_bytes = o->spool_max_bytes ? o->spool_max_bytes : 64u * 1024u * 1024u;
    c->spool_fsync = o->spool_fsync;
    c->spool_fsync_interval_ms = o->spool_fsync_interval_ms > 0 ? o->spool_fsync_interval_ms : 1000;
    c->async_queue_max = o->async_queue_max ? o->async_queue_max : 10000;
    c->reconnect_min_ms = o->reconnect_min_ms > 0 ? o->reconnect_min_ms : 100;
    c->reconnect_max_ms = o->reconnect_max_ms > 0 ? o->reconnect_max_ms : 5000;
    if (o->families && (rc = invq_families_load(o->families, ns, &c->fams, err, errlen)) < 0) {
        prod_config_deinit(c);
        return rc;
    }
    return 0;
}

int prod_config_check_jobs(const prod_config *c, const invq_job *const *jobs, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; c->fams && i < n; i++) {
        int rc = jobs[i] ? invq_families_check_job(c->fams, jobs[i], err, errlen) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

void prod_config_deinit(prod_config *c)
{
    redis_url_deinit(&c->url);
    qkeys_deinit(&c->keys);
    for (unsigned i = 0; c->shard_keys && i < c->shards; i++)
        qkeys_deinit(&c->shard_keys[i]);
    free(c->shard_keys);
    free(c->spool_dir);
    invq_families_free(c->fams);
    memset(c, 0, sizeof(*c));
}

const qkeys *prod_config_shard(const prod_config *c, unsigned i)
{
    return c->shard_keys && i < c->shards ? &c->shard_keys[i] : &c->keys;
}

unsigned prod_config_key_shard(const prod_config *c, const invq_job *job)
{
    if (c->shards <= 1 || !job || job->nops == 0 || job->ops[0].nkeys == 0)
        return 0;
    const job_key *k = &job->ops[0].keys[0];
    return crc32c(k->data, k->len) % c->shards;
}

unsigned prod_config_payload_shard(const prod_config *c, const uint8_t *payload, size_t len)
{
    if (c->shards <= 1)
        return 0;
    invq_job *j = NULL;
    job_error je;
    unsigned s = job_decode(payload, len, &c->lim, &j, &je) == 0 ? prod_config_key_shard(c, j) : 0;
    job_free(j);
    return s;
}
