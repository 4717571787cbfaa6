/* Which keys a job may name, and how a refusal reads (job-v1.md §3.1): the
 * one implementation of the reserved-key rule, used by libinvq before it
 * sends, by invqctl enqueue (through libinvq) and by invq-worker before it
 * applies anything, plus the wording of every `key_not_allowed` reason. */
#ifndef INVQ_CODEC_KEY_POLICY_H
#define INVQ_CODEC_KEY_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"

/* Reason code and detail of a refused key. */
#define JOB_REASON_KEY_NOT_ALLOWED "key_not_allowed"
#define JOB_RESERVED_DETAIL "reserved for the queue"

/* Room for any job_describe_key() output, NUL included. */
#define JOB_KEY_DESC_MAX 264

/* True when the key (len bytes, compared byte for byte) starts with "<ns>:"
 * for the namespace ns (NUL-terminated; an empty or NULL ns reserves
 * nothing). Every key of every queue of that namespace has this prefix, so
 * such a key is reserved for the queue and no job may name it. */
bool job_key_reserved(const void *key, size_t len, const char *ns);

/* Where a key sits in a job: ops[op].keys[key]. */
typedef struct job_key_ref {
    size_t op;
    size_t key;
} job_key_ref;

/* Looks for the first key of job (ops in order, then keys in order) that is
 * reserved under any of the nns namespaces (borrowed). Returns true and sets
 * *where when it finds one. */
bool job_find_reserved(const invq_job *job, const char *const *ns, size_t nns, job_key_ref *where);

/* job_find_reserved(), and when a key is reserved writes its refusal
 * ("key_not_allowed: del invq:{default}:pending: reserved for the queue")
 * into reason. Returns true when the job must be refused. */
bool job_reserved_reason(const invq_job *job, const char *const *ns, size_t nns, char *reason, size_t len);

/* Writes the reason of a refused key into buf (always NUL-terminated):
 * "key_not_allowed: <op> <key>" and, when detail is not NULL,
 * ": <detail>" after it. The key is shown as job_describe_key() shows it.
 * Returns the length of the whole reason (as snprintf does). */
int job_reason_key_not_allowed(char *buf, size_t len, job_op_kind op, const void *key, size_t klen,
                               const char *detail);

/* A key for reasons and logs: its first 64 bytes, printable ASCII other than
 * backslash as is, any other byte as \xNN, and "..." when it was longer.
 * buf should hold JOB_KEY_DESC_MAX bytes; shorter buffers cut the text. */
void job_describe_key(char *buf, size_t len, const void *key, size_t klen);

#endif
