/* Loading the families file for the worker, and the per-job check worded as
 * dead-letter reasons (see fampolicy.h). */
#include "fampolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nettle/sha2.h>

static void hex_digest(const char *text, size_t len, char out[65])
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)text);
    sha256_digest(&ctx, sizeof d, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static fam_action action_of(fam_mode mode)
{
    switch (mode) {
    case FAM_MODE_OFF: return FAM_ACT_COUNT;
    case FAM_MODE_SHADOW: return FAM_ACT_PROBE;
    default: return FAM_ACT_APPLY;
    }
}

static void policy_free(fampolicy *p)
{
    for (size_t i = 0; p->fam != NULL && i < p->n; i++)
        free(p->fam[i].rate_key);
    free(p->fam);
    families_free(p->fams);
    free(p->path);
    free(p);
}

static int fill_families(fampolicy *p, const char *rate_prefix)
{
    p->n = families_count(p->fams);
    p->fam = calloc(p->n ? p->n : 1, sizeof *p->fam);
    if (p->fam == NULL)
        return FAM_ENOMEM;
    for (size_t i = 0; i < p->n; i++) {
        fampolicy_family *pf = &p->fam[i];
        pf->f = families_get(p->fams, i);
        pf->action = action_of(pf->f->mode);
        if (pf->f->rate_keys == 0)
            continue;
        size_t n = strlen(rate_prefix) + strlen(pf->f->name) + 1;
        if ((pf->rate_key = malloc(n)) == NULL)
            return FAM_ENOMEM;
        snprintf(pf->rate_key, n, "%s%s", rate_prefix, pf->f->name);
        pf->rate_interval_us = (double)pf->f->rate_period_ms * 1000.0 / (double)pf->f->rate_keys;
        p->any_rate = true;
    }
    return 0;
}

int fampolicy_load(const char *path, const char *ns, const char *rate_prefix, fampolicy **out,
                   fam_problems *probs)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = families_read_file(path, &text, &len, probs);
    if (rc < 0)
        return rc;
    fampolicy *p = calloc(1, sizeof *p);
    if (p == NULL || (p->path = strdup(path)) == NULL) {
        free(p);
        free(text);
        return FAM_ENOMEM;
    }
    fam_load_opts opts = { ns };
    rc = families_load_buffer(text, len, path, &opts, &p->fams, probs);
    if (rc == 0) {
        hex_digest(text, len, p->sha256);
        p->size = len;
        struct stat st;
        if (stat(path, &st) == 0)
            p->mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
        rc = fill_families(p, rate_prefix);
    }
    free(text);
    if (rc < 0) {
        policy_free(p);
        return rc;
    }
    p->refs = 1;
    *out = p;
    return 0;
}

fampolicy *fampolicy_ref(fampolicy *p)
{
    if (p != NULL)
        p->refs++;
    return p;
}

void fampolicy_unref(fampolicy *p)
{
    if (p != NULL && --p->refs == 0)
        policy_free(p);
}

fam_job_refusal fampolicy_check(const fampolicy *p, const invq_job *job, const fam_family **fams,
                                fam_job_verdict *v, char *reason, size_t len)
{
    fam_job_refusal r = families_check_job(p->fams, job, fams, v);
    if (r == FAM_JOB_OK) {
        if (len > 0)
            reason[0] = '\0';
        return r;
    }
    const job_op *op = &job->ops[v->op];
    const job_key *key = &op->keys[v->key];
    char detail[160], ops[64];
    switch (r) {
    case FAM_JOB_UNKNOWN_FAMILY:
        snprintf(detail, sizeof detail, "family %.64s is not in the families file", job->fam);
        job_reason_key_not_allowed(reason, len, op->kind, key->data, key->len, detail);
        break;
    case FAM_JOB_OTHER_FAMILY:
        snprintf(detail, sizeof detail, "family %s, not the job's family %s", v->got->name, v->want->name);
        job_reason_key_not_allowed(reason, len, op->kind, key->data, key->len, detail);
        break;
    case FAM_JOB_OP_NOT_ALLOWED:
        job_reason_op_not_allowed(reason, len, op->kind, key->data, key->len, v->got->name,
                                  families_ops_text(v->allowed, ops, sizeof ops));
        break;
    default: /* FAM_JOB_NO_FAMILY */
        job_reason_key_not_allowed(reason, len, op->kind, key->data, key->len, NULL);
        break;
    }
    return r;
}
