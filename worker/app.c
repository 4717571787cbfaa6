/* invq-worker as a whole: metrics, HTTP listener and pool on one loop. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
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
    int rc = fampolicy_load(path, a->cfg->ns, a->pool.keys.rate, &f, &probs);
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
        if (reload && fm != NULL)
            fam_metrics_reload(fm, false);
        return rc == FAM_ENOMEM ? -ENOMEM : -EINVAL;
    }
    fam_problems_deinit(&probs);
    if (a->pool.fam != NULL)
        log_changes(a->pool.fam, f);
    pool_set_families(&a->pool, f);
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
    int rc = pool_init(&a->pool, loop, cfg, a->m, err, errlen);
    if (rc == -EINVAL)
        *exit_code = CONFIG_EX_USAGE;
    if (rc < 0)
        return rc;
    a->pool_ready = true;
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
    a->exit_code = p->exit_code;
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
    log_event(LOG_INFO, "worker starting", LOG_S("queue_url", a->pool.qdesc), LOG_S("cache_url", a->pool.cdesc),
              LOG_S("queue", a->pool.keys.prefix), LOG_N("consumers", a->cfg->consumers),
              LOG_N("batch", a->cfg->batch), LOG_S("http_addr", a->cfg->http_addr));
    pool_start(&a->pool, on_pool_closed, a);
    return 0;
}

void app_stop(app *a)
{
    pool_stop(&a->pool);
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
    if (a->pool_ready)
        pool_deinit(&a->pool);
    metrics_free(a->m);
    memset(a, 0, sizeof *a);
}
