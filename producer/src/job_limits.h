/* Glue between the public job API and the codec: limits from options,
 * encoding with INVQ_* codes and messages naming the limit. */
#ifndef INVQ_PRODUCER_JOB_LIMITS_H
#define INVQ_PRODUCER_JOB_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <invq/invq.h>

#include "job.h"

/* Spec defaults, overridden by the non-zero limits of o (o may be NULL). */
void job_limits_from_options(const invq_options *o, job_limits *lim);

/* JOB_E* → INVQ_ELIMIT (size/count/length limits), INVQ_ENOMEM or INVQ_EJOB. */
int job_status_from_codec(int rc);

/* Validates job, refuses it (INVQ_EJOB) when it names a key reserved for
 * the queue under namespace ns (job-v1.md §3.1), and encodes it; *out is
 * malloc'd (caller frees with free()). On failure err reads
 * "job <id>: <code> <field>: <reason>" or
 * "job <id>: key_not_allowed: <op> <key>: reserved for the queue". */
int job_encode_checked(const invq_job *job, const job_limits *lim, const char *ns, uint8_t **out,
                       size_t *outlen, char *err, size_t errlen);

#endif
