/* invq_reader_options defaults and validation, and the per-get policy with
 * its one seam for the families file (see family_policy()): the call's
 * invq_read_opts, then the key's family class, then the reader's options. */
#include "reader_config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "families.h"

INVQ_API void invq_reader_options_init(invq_reader_options *o)
{
    memset(o, 0, sizeof(*o));
    o->url = "redis://127.0.0.1:6379";
    o->connect_timeout_ms = 500;
    o->command_timeout_ms = 250;
    o->down_retry_ms = 1000;
    o->max_idle_connections = 16;
    o->jitter_pct = 10;
    o->lease_ttl_ms = 5000;
    o->wait_timeout_ms = 1000;
    o->wait_poll_min_ms = 1;
    o->wait_poll_max_ms = 16;
    o->on_wait_timeout = INVQ_WAIT_LOAD;
}

INVQ_API void invq_read_opts_init(invq_read_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->jitter_pct = -1;
    o->negative_ttl_ms = -1;
    o->wait_timeout_ms = -1;
    o->on_wait_timeout = -1;
}

static int valid_policy(int v)
{
    return v == INVQ_WAIT_LOAD || v == INVQ_WAIT_FAIL;
}

int reader_config_init(reader_config *c, const invq_reader_options *o, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (!o)
        return err_set(err, errlen, INVQ_EINVAL, "reader options are NULL (use invq_reader_options_init)");
    if (o->connect_timeout_ms < 0 || o->command_timeout_ms < 0)
        return err_set(err, errlen, INVQ_EINVAL, "timeouts must be >= 0 ms (0: none)");
    if (o->down_retry_ms < 0)
        return err_set(err, errlen, INVQ_EINVAL, "option down_retry_ms must be >= 0");
    if (o->jitter_pct < 0 || o->jitter_pct > 100)
        return err_set(err, errlen, INVQ_EINVAL, "option jitter_pct must be 0..100, not %d", o->jitter_pct);
    if (o->lease_ttl_ms == 0)
        return err_set(err, errlen, INVQ_EINVAL, "option lease_ttl_ms must be > 0");
    if (o->wait_timeout_ms < 0)
        return err_set(err, errlen, INVQ_EINVAL, "option wait_timeout_ms must be >= 0");
    if (o->wait_poll_min_ms < 1 || o->wait_poll_max_ms < o->wait_poll_min_ms)
        return err_set(err, errlen, INVQ_EINVAL, "wait poll delays need 1 <= wait_poll_min_ms <= wait_poll_max_ms");
    if (!valid_policy((int)o->on_wait_timeout))
        return err_set(err, errlen, INVQ_EINVAL, "option on_wait_timeout is not an invq_wait_policy");
    int rc = redis_url_parse(o->url ? o->url : "redis://127.0.0.1:6379", &c->url, err, errlen);
    if (rc < 0)
        return rc;
    if (o->families) {
        if ((rc = invq_families_load(o->families, NULL, &c->fams, err, errlen)) < 0 ||
            !(c->fams_path = strdup(o->families))) {
            reader_config_deinit(c);
            return rc < 0 ? rc : err_set(err, errlen, INVQ_ENOMEM, "out of memory");
        }
    }
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->command_timeout_ms = o->command_timeout_ms;
    c->down_retry_ms = o->down_retry_ms;
    c->max_idle = o->max_idle_connections;
    c->wait_poll_min_ms = o->wait_poll_min_ms;
    c->wait_poll_max_ms = o->wait_poll_max_ms;
    c->defaults = (reader_policy){
        .ttl_ms = o->ttl_ms,
        .jitter_pct = (uint32_t)o->jitter_pct,
        .negative_ttl_ms = o->negative_ttl_ms,
        .lease_ttl_ms = o->lease_ttl_ms,
        .wait_timeout_ms = o->wait_timeout_ms,
        .on_wait_timeout = o->on_wait_timeout,
    };
    return 0;
}

void reader_config_deinit(reader_config *c)
{
    redis_url_deinit(&c->url);
    invq_families_free(c->fams);
    free(c->fams_path);
    memset(c, 0, sizeof(*c));
}

/* The version key of key (its family is versioned), malloc'd into p. */
static int family_version_key(const reader_config *c, const void *key, size_t keylen, reader_policy *p,
                              char *err, size_t errlen)
{
    size_t need = 0;
    int rc = invq_families_version_key(c->fams, key, keylen, NULL, 0, &need);
    if (rc == INVQ_EINVAL && need > 0 && (p->vk_owned = malloc(need)) != NULL)
        rc = invq_families_version_key(c->fams, key, keylen, p->vk_owned, need, &need);
    else if (rc == INVQ_EINVAL && need > 0)
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    if (rc < 0)
        return err_set(err, errlen, rc, "families: no version key for a key of a versioned family (%d)", rc);
    p->version_key = p->vk_owned;
    p->version_key_len = need;
    return 0;
}

/* The families seam. With a families file (schemas/families-v1.md), the
 * family that claims key supplies its class's ttl, jitter, negative_ttl
 * (absent: no negative caching) and lease_ttl, and, when versioned, its
 * version_key with the key's placeholders filled in (into p->vk_owned),
 * over the reader's defaults already in p; the call's overrides are applied
 * after this. A key no family claims is refused: no producer with the same
 * file could ever invalidate it, so caching it would keep it stale for a
 * whole TTL. So are version keys and data keys given as the key to read
 * (the reader derives both itself), and a key outside the family the call
 * names. Without a file there is no family and p stays as it is. */
static int family_policy(const reader_config *c, const void *key, size_t keylen, const char *want,
                         reader_policy *p, char *err, size_t errlen)
{
    invq_key_info ki;
    char shown[160];
    if (!c->fams) {
        if (want)
            return err_set(err, errlen, INVQ_EINVAL,
                           "read option family '%.64s' needs a families file (invq_reader_options.families)", want);
        return 0;
    }
    if (want && invq_families_find(c->fams, want) < 0)
        return err_set(err, errlen, INVQ_EFAMILY, "read option family '%.64s' is not in %s", want, c->fams_path);
    int rc = invq_families_explain(c->fams, key, keylen, &ki, sizeof(ki));
    if (rc < 0)
        return err_set(err, errlen, rc, "families: cannot look the key up");
    families_render_key(key, keylen, shown, sizeof(shown));
    if (rc == 0)
        return err_set(err, errlen, INVQ_EFAMILY, "key '%s' belongs to no family of %s", shown, c->fams_path);
    if (ki.kind == INVQ_KEY_VERSION)
        return err_set(err, errlen, INVQ_EFAMILY,
                       "key '%s' is the version key of family '%s': get the data's own key, the reader reads "
                       "the version key itself", shown, ki.family.name);
    if (ki.kind == INVQ_KEY_VERSIONED)
        return err_set(err, errlen, INVQ_EFAMILY,
                       "key '%s' is a data key of versioned family '%s': get the key without its ':v%lld' "
                       "suffix, the reader picks the version itself", shown, ki.family.name,
                       (long long)ki.version);
    if (want && strcmp(want, ki.family.name) != 0)
        return err_set(err, errlen, INVQ_EFAMILY, "key '%s' belongs to family '%s', not to family '%s'", shown,
                       ki.family.name, want);
    p->ttl_ms = ki.family.ttl_ms;
    p->jitter_pct = ki.family.jitter_pct;
    p->negative_ttl_ms = ki.family.negative_ttl_ms;
    p->lease_ttl_ms = ki.family.lease_ttl_ms;
    return ki.family.version_key ? family_version_key(c, key, keylen, p, err, errlen) : 0;
}

int reader_policy_resolve(const reader_config *c, const void *key, size_t keylen, const invq_read_opts *ro,
                          reader_policy *p, char *err, size_t errlen)
{
    int rc;
    *p = c->defaults;
    if ((rc = family_policy(c, key, keylen, ro ? ro->family : NULL, p, err, errlen)) < 0) {
        reader_policy_deinit(p);
        return rc;
    }
    if (ro) {
        if (ro->jitter_pct < -1 || ro->jitter_pct > 100)
            rc = err_set(err, errlen, INVQ_EINVAL, "read option jitter_pct must be 0..100 (-1: inherit), not %d",
                         ro->jitter_pct);
        else if (ro->negative_ttl_ms < -1)
            rc = err_set(err, errlen, INVQ_EINVAL, "read option negative_ttl_ms must be >= 0 (-1: inherit)");
        else if (ro->wait_timeout_ms < -1)
            rc = err_set(err, errlen, INVQ_EINVAL, "read option wait_timeout_ms must be >= 0 (-1: inherit)");
        else if (ro->on_wait_timeout != -1 && !valid_policy(ro->on_wait_timeout))
            rc = err_set(err, errlen, INVQ_EINVAL, "read option on_wait_timeout is not an invq_wait_policy (-1: inherit)");
        if (rc < 0) {
            reader_policy_deinit(p);
            return rc;
        }
        if (ro->ttl_ms)
            p->ttl_ms = ro->ttl_ms;
        if (ro->jitter_pct >= 0)
            p->jitter_pct = (uint32_t)ro->jitter_pct;
        if (ro->negative_ttl_ms >= 0)
            p->negative_ttl_ms = (uint64_t)ro->negative_ttl_ms;
        if (ro->lease_ttl_ms)
            p->lease_ttl_ms = ro->lease_ttl_ms;
        if (ro->wait_timeout_ms >= 0)
            p->wait_timeout_ms = ro->wait_timeout_ms;
        if (ro->on_wait_timeout >= 0)
            p->on_wait_timeout = (invq_wait_policy)ro->on_wait_timeout;
        if (ro->version_key) {
            p->version_key = ro->version_key;
            p->version_key_len = ro->version_key_len ? ro->version_key_len : strlen(ro->version_key);
            if (p->version_key_len == 0) {
                reader_policy_deinit(p);
                return err_set(err, errlen, INVQ_EINVAL, "read option version_key is empty");
            }
        }
    }
    if (p->ttl_ms == 0) {
        reader_policy_deinit(p);
        return err_set(err, errlen, INVQ_EINVAL,
                       "no TTL for this key: set invq_reader_options.ttl_ms or invq_read_opts.ttl_ms");
    }
    return 0;
}

void reader_policy_deinit(reader_policy *p)
{
    free(p->vk_owned);
    memset(p, 0, sizeof(*p));
}
