/* families_check_job(): a job's keys and ops against the file (see
 * families_job.h). */
#include "families_job.h"

#include <string.h>

_Static_assert((int)FAM_OP_DEL == (int)JOB_OP_DEL && (int)FAM_OP_BUMP == (int)JOB_OP_BUMP &&
                   (int)FAM_OP_EXPIRE == (int)JOB_OP_EXPIRE,
               "families op numbers are the codec's");

fam_job_refusal families_check_job(const families *f, const invq_job *job, const fam_family **fams,
                                   fam_job_verdict *v)
{
    memset(v, 0, sizeof *v);
    if (job->fam && !(v->want = families_find(f, job->fam)))
        return v->refusal = FAM_JOB_UNKNOWN_FAMILY;
    size_t at = 0;
    for (size_t i = 0; i < job->nops; i++) {
        const job_op *op = &job->ops[i];
        for (size_t k = 0; k < op->nkeys; k++) {
            fam_match m;
            const job_key *key = &op->keys[k];
            const fam_family *got = families_lookup(f, key->data, key->len, &m);
            v->op = i;
            v->key = k;
            v->got = got;
            if (!got)
                return v->refusal = FAM_JOB_NO_FAMILY;
            if (v->want && got != v->want)
                return v->refusal = FAM_JOB_OTHER_FAMILY;
            if (!families_op_allowed(&m, (int)op->kind)) {
                v->version_key = m.kind == FAM_KEY_VERSION && (got->ops & FAM_OP_BIT(op->kind));
                v->allowed = families_key_ops(&m);
                return v->refusal = FAM_JOB_OP_NOT_ALLOWED;
            }
            if (fams)
                fams[at] = got;
            at++;
        }
    }
    v->op = v->key = 0;
    v->got = NULL;
    return FAM_JOB_OK;
}
