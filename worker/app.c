/* invq-worker as a whole: metrics, HTTP listener and pool on one loop. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#ifndef INVQ_VERSION
#define INVQ_VERSION "0"
#endif

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
    (void)a;
    if (errlen > 0)
        err[0] = '\0';
    /* Load and check the new settings, then swap them in only when every
     * part is valid; none exists yet. */
    log_msg(LOG_INFO, "reload: nothing to reload");
    return 0;
}

void app_deinit(app *a)
{
    if (a->pool_ready)
        pool_deinit(&a->pool);
    metrics_free(a->m);
    memset(a, 0, sizeof *a);
}
