/* rate.lua's arguments and answer (see ratelimit.h). */
#include "ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fam_metrics.h"

/* A fractional number as an owned argument. */
static int push_double(argv_buf *a, double v)
{
    char num[48];
    snprintf(num, sizeof num, "%.6f", v);
    char *p = strdup(num);
    return p != NULL ? argv_push_owned(a, p, strlen(p)) : -ENOMEM;
}

int ratelimit_args(argv_buf *a, const char *sha, const batch *b)
{
    const fampolicy *fp = b->fam;
    argv_reset(a);
    int rc = argv_push_str(a, "EVALSHA");
    if (rc >= 0)
        rc = argv_push_str(a, sha);
    if (rc >= 0)
        rc = argv_push_u64(a, b->nrate);
    for (size_t i = 0; i < b->nrate && rc >= 0; i++)
        rc = argv_push_str(a, fp->fam[b->rate[i].fam].rate_key);
    for (size_t i = 0; i < b->nrate && rc >= 0; i++) {
        const fampolicy_family *pf = &fp->fam[b->rate[i].fam];
        double tolerance = pf->rate_interval_us > RATE_TOLERANCE_US ? pf->rate_interval_us : RATE_TOLERANCE_US;
        if ((rc = argv_push_u64(a, b->rate[i].keys)) >= 0 && (rc = push_double(a, pf->rate_interval_us)) >= 0)
            rc = push_double(a, tolerance);
    }
    if (rc < 0)
        return -ENOMEM;
    argv_finalize(a);
    return 0;
}

long ratelimit_reply(const redisReply *reply, batch *b)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[0]->integer < 0)
        return -1;
    for (size_t i = 0; i < b->nrate; i++)
        b->rate[i].limited = false;
    long long wait = reply->element[0]->integer;
    if (wait == 0)
        return reply->elements == 1 ? 0 : -1;
    for (size_t i = 1; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_INTEGER || e->integer < 1 || (size_t)e->integer > b->nrate)
            return -1;
        b->rate[e->integer - 1].limited = true;
    }
    return wait < RATE_MAX_WAIT_MS ? (long)wait : RATE_MAX_WAIT_MS;
}

void ratelimit_waited(const batch *b, double seconds, metrics *m)
{
    fam_metrics *fm = m != NULL ? metrics_families(m) : NULL;
    for (size_t i = 0; fm != NULL && i < b->nrate; i++)
        if (b->rate[i].limited)
            fam_metrics_rate_limited(fam_metrics_slot(fm, b->fam->fam[b->rate[i].fam].f->name), seconds);
}
