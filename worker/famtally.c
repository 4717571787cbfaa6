/* Per-family accounting of a settled batch (see famtally.h): counted per
 * family first, then handed to the metrics registry once per family. */
#include "famtally.h"

#include <stdlib.h>
#include <string.h>

#include "fam_metrics.h"
#include "log.h"

typedef struct tally {
    uint64_t keys[4]; /* by job_op_kind */
    uint64_t hits[4];
    uint64_t probe_errors, probes;
    const char *probe_error; /* the first one's message */
    uint64_t jobs[4]; /* by JOB_SETTLED_* */
    size_t last_job;  /* job index + 1 that counted here last */
    fam_slot *slot;
} tally;

static const char *const settled_names[4] = { NULL, "done", "retried", "dead" };

static fam_slot *slot_of(fam_metrics *fm, tally *t, const fam_family *f)
{
    if (t->slot == NULL)
        t->slot = fam_metrics_slot(fm, f->name);
    return t->slot;
}

static void count_entries(const batch *b, const cache_result *results, tally *t)
{
    for (size_t i = 0; results != NULL && i < b->co.nentries; i++) {
        const cache_entry *e = &b->co.entries[i];
        tally *ft = &t[e->fam];
        unsigned op = (unsigned)e->op & 3;
        if (e->action == ENTRY_APPLY) {
            if (results[i].status == CACHE_OK)
                ft->keys[op]++;
        } else {
            ft->keys[op]++;
            if (e->action != ENTRY_PROBE)
                continue;
            ft->probes++;
            if (results[i].status != CACHE_OK && ft->probe_errors++ == 0)
                ft->probe_error = results[i].msg;
            else if (results[i].status == CACHE_OK && results[i].hit)
                ft->hits[op]++;
        }
    }
}

/* Each job once per family its keys belong to; lag for the jobs done. */
static void count_jobs(const batch *b, tally *t, uint64_t now_ms, fam_metrics *fm)
{
    const fampolicy *fp = b->fam;
    for (size_t j = 0; j < b->n; j++) {
        const batch_job *bj = &b->jobs[j];
        if (bj->plan == PLAN_DEAD && bj->fam_refusal != FAM_JOB_OK) {
            const char *code =
                bj->fam_refusal == FAM_JOB_OP_NOT_ALLOWED ? JOB_REASON_OP_NOT_ALLOWED : JOB_REASON_KEY_NOT_ALLOWED;
            fam_slot *s = bj->fam_refused >= 0 ? slot_of(fm, &t[bj->fam_refused], fp->fam[bj->fam_refused].f)
                                               : fam_metrics_slot(fm, FAM_METRICS_NONE);
            fam_metrics_refused(s, code);
            continue;
        }
        if (bj->plan != PLAN_APPLY || bj->settled == JOB_SETTLED_NONE)
            continue;
        double lag = now_ms > bj->job->ts ? (double)(now_ms - bj->job->ts) / 1000.0 : 0.0;
        for (uint32_t i = 0; i < bj->edge_count; i++) {
            int32_t f = b->co.entries[b->co.edges[bj->edge_first + i]].fam;
            if (t[f].last_job == j + 1)
                continue;
            t[f].last_job = j + 1;
            t[f].jobs[bj->settled]++;
            if (bj->settled == JOB_SETTLED_DONE)
                fam_metrics_lag(slot_of(fm, &t[f], fp->fam[f].f), lag);
        }
    }
}

void famtally_settled(const batch *b, const cache_result *results, uint64_t now_ms, metrics *m)
{
    const fampolicy *fp = b->fam;
    fam_metrics *fm = metrics_families(m);
    tally *t = fm != NULL ? calloc(fp->n ? fp->n : 1, sizeof *t) : NULL;
    if (t == NULL)
        return; /* out of memory: the metrics miss one batch */
    count_entries(b, results, t);
    count_jobs(b, t, now_ms, fm);
    for (size_t f = 0; f < fp->n; f++) {
        const fam_family *fam = fp->fam[f].f;
        const char *mode = families_mode_name(fam->mode);
        tally *ft = &t[f];
        for (int op = JOB_OP_DEL; op <= JOB_OP_EXPIRE; op++) {
            const char *name = job_op_name((job_op_kind)op);
            if (ft->keys[op] > 0)
                fam_metrics_keys(slot_of(fm, ft, fam), name, mode, ft->keys[op]);
            if (ft->hits[op] > 0)
                fam_metrics_shadow_hits(slot_of(fm, ft, fam), name, ft->hits[op]);
        }
        if (ft->probes > 0) {
            int turn = fam_metrics_shadow_probes(slot_of(fm, ft, fam), ft->probe_errors);
            if (turn > 0)
                log_event(LOG_WARN, "shadow probes failing: hits of the family are not counted", LOG_S("family", fam->name),
                          LOG_N("errors", ft->probe_errors), LOG_S("error", ft->probe_error));
            else if (turn < 0)
                log_event(LOG_INFO, "shadow probes succeed again", LOG_S("family", fam->name));
        }
        for (int r = JOB_SETTLED_DONE; r <= JOB_SETTLED_DEAD; r++)
            if (ft->jobs[r] > 0)
                fam_metrics_jobs(slot_of(fm, ft, fam), mode, settled_names[r], ft->jobs[r]);
    }
    free(t);
}
