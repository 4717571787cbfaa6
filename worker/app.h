/* invq-worker as a whole on one loop: the metrics registry, the HTTP
 * listener and the consumer pool, started and shut down together. */
#ifndef INVQ_WORKER_APP_H
#define INVQ_WORKER_APP_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "http.h"
#include "metrics.h"
#include "pool.h"

typedef struct app app;
typedef void (*app_done_cb)(app *a, int exit_code);

struct app {
    uv_loop_t *loop;
    const worker_config *cfg;
    metrics *m;
    http_server *http;
    pool pool;
    bool pool_ready;
    app_done_cb done;
    void *data; /* the owner's, for done */
    int exit_code;
};

/* Prepares everything (cfg and loop borrowed). Returns 0, or a negative code
 * with a one-line message in err (exit 64 for bad URLs, 1 otherwise: *exit_code). */
int app_init(app *a, uv_loop_t *loop, const worker_config *cfg, char *err, size_t errlen, int *exit_code);
/* Starts the listener and the pool; done runs once everything has closed. */
int app_start(app *a, app_done_cb done, void *data, char *err, size_t errlen);
/* Graceful shutdown (first SIGTERM/SIGINT). */
void app_stop(app *a);
/* SIGHUP: reloads what can change while running, all or nothing. Returns
 * 0, or a negative code with a one-line message in err (the running
 * configuration then stays). Nothing is reloadable yet: it says so and
 * returns 0. What becomes reloadable (a families file) is read and checked
 * here first, then swapped in. */
int app_reload(app *a, char *err, size_t errlen);
/* Frees what a owns once done ran (or after a failed init/start). */
void app_deinit(app *a);

#endif
