/* invq-worker: parses the arguments, installs the signal handlers and runs
 * the loop; everything else lives in app.c and below. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"

#ifndef INVQ_VERSION
#define INVQ_VERSION "0"
#endif

typedef struct main_state {
    app app;
    uv_signal_t sigterm, sigint, sighup;
    int signals;
    int exit_code;
} main_state;

static void on_signal(uv_signal_t *h, int signum)
{
    main_state *s = h->data;
    if (++s->signals > 1) {
        log_event(LOG_WARN, "second signal: exiting now; the reaper will return unfinished jobs",
                  LOG_N("signal", signum));
        exit(1);
    }
    log_event(LOG_INFO, "signal received", LOG_N("signal", signum));
    app_stop(&s->app);
}

/* SIGHUP never stops the worker: it asks the app to reload. */
static void on_sighup(uv_signal_t *h, int signum)
{
    main_state *s = h->data;
    char err[512] = "";
    log_event(LOG_INFO, "signal received: reloading", LOG_N("signal", signum));
    if (app_reload(&s->app, err, sizeof err) < 0)
        log_event(LOG_ERROR, "reload failed: the running configuration stays", LOG_S("error", err));
}

static void close_signals(main_state *s)
{
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void on_done(app *a, int exit_code)
{
    main_state *s = a->data;
    s->exit_code = exit_code;
    close_signals(s);
}

int main(int argc, char **argv)
{
    worker_config cfg;
    char err[512];
    config_defaults(&cfg);
    int rc = config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return CONFIG_EX_USAGE;
    }
    if (rc == CONFIG_HELP) {
        config_usage(stdout);
        return 0;
    }
    if (rc == CONFIG_VERSION) {
        printf("invq-worker %s\n", INVQ_VERSION);
        return 0;
    }
    if (rc == CONFIG_PROBE)
        return http_probe(cfg.probe_url, (int)cfg.connect_timeout_ms);
    log_init(cfg.log_level, cfg.log_format);
    config_warn_unknown_env();
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "invq-worker: cannot create the event loop\n");
        return 1;
    }
    static main_state s;
    int exit_code = 1;
    /* Signals first: a SIGTERM that arrives while connecting must drain,
     * not kill, and a SIGHUP must never kill. */
    uv_signal_init(&loop, &s.sigterm);
    uv_signal_init(&loop, &s.sigint);
    uv_signal_init(&loop, &s.sighup);
    s.sigterm.data = &s;
    s.sigint.data = &s;
    s.sighup.data = &s;
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sighup, on_sighup, SIGHUP);
    if (app_init(&s.app, &loop, &cfg, err, sizeof err, &exit_code) < 0 ||
        app_start(&s.app, on_done, &s, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        close_signals(&s);
        app_deinit(&s.app);
        uv_run(&loop, UV_RUN_DEFAULT); /* let closed handles finish */
        uv_loop_close(&loop);
        return exit_code;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    app_deinit(&s.app);
    rc = uv_loop_close(&loop);
    if (rc != 0)
        log_event(LOG_WARN, "event loop not empty at exit", LOG_S("error", uv_err_name(rc)));
    return s.exit_code;
}
