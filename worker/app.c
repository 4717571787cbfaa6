/* invq-worker as a whole: metrics, HTTP listener and the pools (one per
 * queue shard) on one loop. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fam_metrics.h"
#include "fampolicy.h"
#include "log.h"

#ifndef INVQ_VERSION
#define INVQ_VERSION "0"
#endif

/* Logs what a reload changes, family by family: added, removed, a new mode
 * or rate (the rollout steps an operator makes with SIGHUP). */
static void log_changes(const fampolicy *old, const fampolicy *now)
{
    char a[32], b[32];
    for (size_t i = 0; i < now->n; i++) {
        const fam_family *f = now->fam[i].f, *was = families_find(old->fams, f->name);
        if (was == NULL) {
            log_event(LOG_INFO, "families: family added", LOG_S("family", f->name),
                      LOG_S("mode", families_mode_name(f->mode)));
            continue;
        }
        if (was->mode != f->mode)
            log_event(LOG_INFO, "families: mode changed", LOG_S("family", f->name),
                      LOG_S("from", families_mode_name(was->mode)), LOG_S("to", families_mode_name(f->mode)));
        if (was->rate_keys != f->rate_keys || was->rate_period_ms != f->rate_period_ms)
            log_event(LOG_INFO, "families: rate changed", LOG_S("family", f->name),
                      LOG_S("from", families_rate_text(was->rate_keys, was->rate_period_ms, a, sizeof a)),
                      LOG_S("to", families_rate_text(f->rate_keys, f->rate_period_ms, b, sizeof b)));
    }
    for (size_t i = 0; i < old->n; i++)
        if (families_find(now->fams, old->fam[i].f->name) == NULL)
            log_event(LOG_INFO, "families: family removed", LOG_S("family", old->fam[i].f->name));
}

/* Loads cfg->families and hands it to the pool and the metrics. A file with
 * problems changes nothing: each problem is logged on a line of its own and
 * err says how many there were. Returns 0 or a negative code. */
static int load_families(app *a, bool reload, char *err, size_t errlen)
{
    const char *path = a->cfg->families;
    fam_problems probs;
    fampolicy *f = NULL;
    fam_problems_init(&probs);
    /* each shard counts its families' rates with its own keys (in its own
     * slot): the file is read once per shard, the first one reporting */
    fampolicy **more = calloc(a->npools, sizeof *more);
    int rc = more == NULL ? FAM_ENOMEM : fampolicy_load(path, a->cfg->ns, a->pools[0].keys.rate, &f, &probs);
    for (unsigned i = 1; rc >= 0 && i < a->npools; i++) {
        fam_problems quiet;
        fam_problems_init(&quiet);
        rc = fampolicy_load(path, a->cfg->ns, a->pools[i].keys.rate, &more[i], &quiet);
        if (rc < 0)
            probs.oom = probs.oom || quiet.oom || quiet.n == 0;
        fam_problems_deinit(&quiet);
    }
    if (rc < 0) {
        for (unsigned i = 1; more != NULL && i < a->npools; i++)
            fampolicy_unref(more[i]);
        fampolicy_unref(f);
        f = NULL;
    }
    fam_metrics *fm = metrics_families(a->m);
    if (rc < 0) {
        char line[1024];
        for (size_t i = 0; i < probs.n; i++) {
            fam_problem_format(&probs, i, line, sizeof line);
            log_event(LOG_ERROR, reload ? "families file problem: the loaded file stays" : "families file problem",
                      LOG_S("problem", line));
        }
        if (rc == FAM_ENOMEM || probs.oom)
            snprintf(err, errlen, "invq-worker: --families %s: out of memory", path);
        else
            snprintf(err, errlen, "invq-worker: --families %s: %zu problem%s%s", path, probs.n,
                     probs.n == 1 ? "" : "s", reload ? "; the loaded file stays" : "");
        fam_problems_deinit(&probs);
        free(more);
        if (reload && fm != NULL)
            fam_metrics_reload(fm, false);
        return rc == FAM_ENOMEM ? -ENOMEM : -EINVAL;
    }
    fam_problems_deinit(&probs);
    if (a->pools[0].fam != NULL)
        log_changes(a->pools[0].fam, f);
    pool_set_families(&a->pools[0], f);
    for (unsigned i = 1; i < a->npools; i++) {
        pool_set_families(&a->pools[i], more[i]);
        fampolicy_unref(more[i]);
    }
    free(more);
    if (fm != NULL) {
        fam_metrics_declare_begin(fm);
        for (size_t i = 0; i < f->n; i++)
            fam_metrics_declare(fm, f->fam[i].f->name, families_mode_name(f->fam[i].f->mode),
                                f->fam[i].rate_key != NULL);
        fam_metrics_declare_end(fm);
        fam_metrics_file(fm, f->path, f->sha256, f->size, f->mtime, f->n);
        if (reload)
            fam_metrics_reload(fm, true);
    }
    size_t modes[3] = { 0, 0, 0 };
    for (size_t i = 0; i < f->n; i++)
        modes[f->fam[i].f->mode]++;
    log_event(LOG_INFO, reload ? "families file reloaded: new batches follow it" : "families file loaded",
              LOG_S("path", path), LOG_S("sha256", f->sha256), LOG_N("families", f->n), LOG_N("enforce", modes[FAM_MODE_ENFORCE]),
              LOG_N("shadow", modes[FAM_MODE_SHADOW]), LOG_N("off", modes[FAM_MODE_OFF]));
    fampolicy_unref(f); /* the pool holds it now */
    return 0;
}

int app_init(app *a, uv_loop_t *loop, const worker_config *cfg, char *err, size_t errlen, int *exit_code)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = cfg;
    *exit_code = 1;
    a->m = metrics_new(INVQ_VERSION);
    if (a->m == NULL) {
        snprintf(err, errlen, "invq-worker: out of memory");
        return -ENOMEM;
    }
    unsigned shards = cfg->queue_shards > 1 ? cfg->queue_shards : 1;
    a->npools = shards;
    a->pools = calloc(shards, sizeof *a->pools);
    a->shard_cfg = calloc(shards, sizeof *a->shard_cfg);
    a->shard_queue = calloc(shards, sizeof *a->shard_queue);
    if (a->pools == NULL || a->shard_cfg == NULL || a->shard_queue == NULL) {
        snprintf(err, errlen, "invq-worker: out of memory");
        return -ENOMEM;
    }
    /* the consumers spread over the shards, at least one each */
    unsigned total = cfg->consumers > shards ? cfg->consumers : shards;
    for (unsigned i = 0; i < shards; i++) {
        a->shard_cfg[i] = *cfg;
        if (qkeys_shard_name(a->shard_queue[i], sizeof a->shard_queue[i], cfg->queue, shards, i) < 0) {
            snprintf(err, errlen, "invq-worker: --queue: name too long");
            *exit_code = CONFIG_EX_USAGE;
            return -EINVAL;
        }
        a->shard_cfg[i].queue = a->shard_queue[i];
        a->shard_cfg[i].consumers = total / shards + (i < total % shards ? 1 : 0);
        int rc = pool_init(&a->pools[i], loop, &a->shard_cfg[i], a->m, err, errlen);
        if (rc == -EINVAL)
            *exit_code = CONFIG_EX_USAGE;
        if (rc < 0)
            return rc;
        a->pools_ready++;
    }
    pool_group(a->pools, shards);
    int rc;
    if (cfg->families != NULL && (rc = load_families(a, false, err, errlen)) < 0) {
        if (rc == -EINVAL)
            *exit_code = CONFIG_EX_USAGE;
        return rc;
    }
    return 0;
}

static void on_http_closed(void *data)
{
    app *a = data;
    a->http = NULL;
    a->done(a, a->exit_code);
}

static void on_pool_closed(pool *p)
{
    app *a = p->data;
    if (p->exit_code != 0)
        a->exit_code = p->exit_code;
    if (--a->pools_open > 0)
        return;
    if (a->http != NULL)
        http_server_close(a->http, on_http_closed, a);
    else
        a->done(a, a->exit_code);
}

int app_start(app *a, app_done_cb done, void *data, char *err, size_t errlen)
{
    a->done = done;
    a->data = data;
    struct sockaddr_storage addr;
    char msg[256] = "";
    int rc = http_addr_parse(a->cfg->http_addr, &addr, msg, sizeof msg);
    if (rc < 0) {
        snprintf(err, errlen, "invq-worker: --http-addr: %s", msg);
        return -EINVAL;
    }
    if (rc == 0) {
        rc = http_server_start(&a->http, a->loop, (const struct sockaddr *)&addr, a->m);
        if (rc < 0) {
            snprintf(err, errlen, "invq-worker: --http-addr %s: %s", a->cfg->http_addr, uv_strerror(rc));
            a->http = NULL;
            return rc;
        }
    }
    log_event(LOG_INFO, "worker starting", LOG_S("queue_url", a->pools[0].qdesc),
              LOG_S("cache_url", a->pools[0].cdesc), LOG_S("queue", a->pools[0].keys.prefix),
              LOG_N("shards", a->npools), LOG_N("consumers", a->cfg->consumers), LOG_N("batch", a->cfg->batch),
              LOG_S("http_addr", a->cfg->http_addr));
    a->exit_code = 0;
    a->pools_open = a->npools;
    for (unsigned i = 0; i < a->npools; i++)
        pool_start(&a->pools[i], on_pool_closed, a);
    return 0;
}

void app_stop(app *a)
{
    for (unsigned i = 0; i < a->npools; i++)
        pool_stop(&a->pools[i]);
}

int app_reload(app *a, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    /* Load and check the new settings, then swap them in only when every
     * part is valid: today the families file. */
    if (a->cfg->families == NULL) {
        log_msg(LOG_INFO, "reload: nothing to reload");
        return 0;
    }
    return load_families(a, true, err, errlen);
}

void app_deinit(app *a)
{
    for (unsigned i = 0; i < a->pools_ready; i++)
        pool_deinit(&a->pools[i]);
    free(a->pools);
    free(a->shard_cfg);
    free(a->shard_queue);
    metrics_free(a->m);
    memset(a, 0, sizeof *a);
}
