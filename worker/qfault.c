/* The queue fault registry (see qfault.h). */
#include "qfault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_sync.h"

#define QUEUEKEY_CODE "QUEUEKEY "

int qfault_init(qfault *f, size_t nsites, metrics *m)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->reasons = calloc(nsites ? nsites : 1, sizeof *f->reasons);
    f->since = calloc(nsites ? nsites : 1, sizeof *f->since);
    if (f->reasons == NULL || f->since == NULL) {
        qfault_deinit(f);
        return -ENOMEM;
    }
    f->nsites = nsites;
    return 0;
}

void qfault_deinit(qfault *f)
{
    free(f->reasons);
    free(f->since);
    memset(f, 0, sizeof *f);
}

/* The reason of the site failing for longest, NULL when none is. */
static const char *oldest_reason(const qfault *f)
{
    const char *r = NULL;
    unsigned long best = 0;
    for (size_t i = 0; i < f->nsites; i++) {
        if (f->reasons[i][0] != '\0' && (r == NULL || f->since[i] < best)) {
            r = f->reasons[i];
            best = f->since[i];
        }
    }
    return r;
}

static void publish(qfault *f)
{
    if (f->m != NULL)
        metrics_set_queue_blocked(f->m, oldest_reason(f));
}

void qfault_set(qfault *f, size_t site, const char *script, const char *reason)
{
    if (site >= f->nsites)
        return;
    if (f->m != NULL)
        metrics_queue_script_error(f->m, script);
    if (strcmp(f->reasons[site], reason) == 0)
        return;
    if (f->reasons[site][0] == '\0') {
        f->since[site] = ++f->seq;
        if (f->failing++ == 0)
            log_event(LOG_ERROR, "queue script failing: jobs are held and it is retried until it succeeds",
                      LOG_S("script", script), LOG_S("reason", reason));
    }
    snprintf(f->reasons[site], sizeof f->reasons[site], "%s", reason);
    publish(f);
}

void qfault_clear(qfault *f, size_t site)
{
    if (site >= f->nsites || f->reasons[site][0] == '\0')
        return;
    f->reasons[site][0] = '\0';
    if (--f->failing == 0)
        log_msg(LOG_INFO, "queue scripts succeed again: resuming");
    publish(f);
}

bool qfault_active(const qfault *f)
{
    return f->failing > 0;
}

void qfault_reason(char *buf, size_t len, const char *what, const char *msg)
{
    if (strncmp(msg, QUEUEKEY_CODE, strlen(QUEUEKEY_CODE)) == 0)
        snprintf(buf, len, "%s", msg + strlen(QUEUEKEY_CODE));
    else if (strncmp(msg, "OOM ", 4) == 0) /* every script gets it: one incident */
        snprintf(buf, len, "queue redis out of memory: %s", msg);
    else
        snprintf(buf, len, "%s failed: %s", what, msg);
}

bool qfault_means_reconnect(const char *msg)
{
    return redis_err_node_unavailable(msg, strlen(msg)) != 0 || strncmp(msg, "MOVED ", 6) == 0;
}

unsigned qfault_retry_ms(unsigned n)
{
    unsigned ms = 100;
    for (unsigned i = 1; i < n && ms < 1000; i++)
        ms *= 2;
    return ms < 1000 ? ms : 1000;
}
