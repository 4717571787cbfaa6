/* The families file as invq-worker applies it (schemas/families-v1.md §7,
 * §8): the parsed file (schemas/families), its identity (path, SHA-256 of
 * its bytes, size, mtime), what each family's mode does to its keys, its
 * fleet-wide rate-limit key, and the check of one job worded as a
 * dead-letter reason.
 *
 * Reference counted, on the loop thread only: the pool holds the current
 * policy and each batch holds the one it was planned with, so a reload
 * (SIGHUP) never changes a batch in flight, and an old policy is freed when
 * the last batch planned with it has settled. */
#ifndef INVQ_WORKER_FAMPOLICY_H
#define INVQ_WORKER_FAMPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "families.h"
#include "families_job.h"
#include "job.h"
#include "key_policy.h"

/* What a family's mode does with its keys. */
typedef enum fam_action {
    FAM_ACT_APPLY = 0, /* enforce: the op is sent to the cache */
    FAM_ACT_PROBE = 1, /* shadow: EXISTS instead, nothing applied; counted with its hit */
    FAM_ACT_COUNT = 2, /* off: nothing sent; counted */
} fam_action;

typedef struct fampolicy_family {
    const fam_family *f; /* owned by the policy's families */
    fam_action action;
    char *rate_key;          /* "<ns>:{<q>}:rate:<name>" when the family has a `rate`, else NULL (owned) */
    double rate_interval_us; /* rate: microseconds per key */
} fampolicy_family;

typedef struct fampolicy {
    families *fams;
    fampolicy_family *fam; /* n, in file order: fam[i].f->index == i */
    size_t n;
    bool any_rate;
    char *path;
    char sha256[65]; /* of the bytes parsed, lowercase hex */
    uint64_t size;
    double mtime; /* seconds since the epoch; 0 when unknown */
    unsigned refs;
} fampolicy;

/* Loads the families file at path for namespace ns (whose keys no family
 * may claim) and the queue whose rate-limit keys start with rate_prefix
 * (qkeys.rate). Returns 0 and *out holding one reference; otherwise
 * FAM_EINVALID, FAM_EIO or FAM_ENOMEM, *out = NULL and every problem
 * appended to probs (which may be NULL). */
int fampolicy_load(const char *path, const char *ns, const char *rate_prefix, fampolicy **out,
                   fam_problems *probs);

/* Takes a reference (p may be NULL); returns p. */
fampolicy *fampolicy_ref(fampolicy *p);
/* Drops a reference; the last one frees p. NULL is fine. */
void fampolicy_unref(fampolicy *p);

/* Checks job against the file (families_check_job(): the rule libinvq
 * applies before sending). fams has room for one pointer per key of the job
 * (ops, then keys) and receives each key's family. Returns FAM_JOB_OK, or
 * the refusal with its dead-letter reason in reason (always NUL-terminated):
 *   key_not_allowed: <op> <key>                       no family claims the key
 *   key_not_allowed: <op> <key>: family <g>, not the job's family <f>
 *   key_not_allowed: <op> <key>: family <f> is not in the families file
 *   op_not_allowed: <op> <key>: family <g> allows <ops>
 * and *v filled. */
fam_job_refusal fampolicy_check(const fampolicy *p, const invq_job *job, const fam_family **fams,
                                fam_job_verdict *v, char *reason, size_t len);

/* Room for any reason fampolicy_check() writes, NUL included. */
#define FAMPOLICY_REASON_MAX (JOB_KEY_DESC_MAX + 160)

#endif
