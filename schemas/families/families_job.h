/* A decoded job against a families file (families-v1.md §7): the one
 * implementation of "which keys and ops a job may name", used by libinvq
 * before it sends and by invq-worker before it applies. It decides; each
 * caller words the refusal its own way (libinvq: an INVQ_EFAMILY message,
 * the worker: a dead-letter reason). */
#ifndef INVQ_FAMILIES_JOB_H
#define INVQ_FAMILIES_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "families.h"
#include "job.h"

typedef enum fam_job_refusal {
    FAM_JOB_OK = 0,
    FAM_JOB_UNKNOWN_FAMILY = 1, /* the job's `fam` names no family of the file */
    FAM_JOB_NO_FAMILY = 2,      /* a key that no family claims */
    FAM_JOB_OTHER_FAMILY = 3,   /* `fam` set: a key claimed by another family */
    FAM_JOB_OP_NOT_ALLOWED = 4, /* an op the key's family does not allow on that key */
} fam_job_refusal;

typedef struct fam_job_verdict {
    fam_job_refusal refusal;
    size_t op, key;         /* the refused key: job->ops[op].keys[key] (0, 0 for UNKNOWN_FAMILY) */
    const fam_family *want; /* the family the job's `fam` names; NULL without `fam` or when unknown */
    const fam_family *got;  /* the refused key's family; NULL when no family claims it */
    bool version_key;       /* OP_NOT_ALLOWED: the key is got's version key and got's ops include the op */
    unsigned allowed;       /* OP_NOT_ALLOWED: ops allowed on that key (families_key_ops()) */
} fam_job_verdict;

/* Checks every key of job (ops in order, then keys in order) and stops at
 * the first one refused. fams is NULL, or has room for one pointer per key
 * of the job in that order; it receives each key's family, up to the
 * refused key. Returns FAM_JOB_OK or the refusal, which *v (not NULL)
 * describes. Borrows everything; never allocates. */
fam_job_refusal families_check_job(const families *f, const invq_job *job, const fam_family **fams,
                                   fam_job_verdict *v);

#endif
