/* invq-worker as a whole on one loop: the metrics registry, the HTTP
 * listener and the consumer pools (one per queue shard), started and shut down together. */
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
    /* one pool per shard of the queue (one for an unsharded queue), each
     * with its own copy of cfg naming its shard and its share of the
     * consumers */
    pool *pools;
    worker_config *shard_cfg;
    char (*shard_queue)[256];
    unsigned npools;
    unsigned pools_ready; /* pools initialised */
    unsigned pools_open;  /* pools not yet closed */
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
/* SIGHUP: reloads what can change while running, all or nothing: the
 * families file (--families), read and checked first, then swapped in for
 * the batches fetched from then on. Returns 0, or a negative code with a
 * one-line message in err (the running configuration then stays; each
 * problem of the file is logged on its own line). Without --families it
 * says there is nothing to reload and returns 0. */
int app_reload(app *a, char *err, size_t errlen);
/* Frees what a owns once done ran (or after a failed init/start). */
void app_deinit(app *a);

#endif
