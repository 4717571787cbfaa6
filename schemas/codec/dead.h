/* Dead-letter records (job-v1.md "Dead-letter record"): the msgpack map the
 * worker pushes to <ns>:{<queue>}:dead and invqctl reads back. */
#ifndef INVQ_CODEC_DEAD_H
#define INVQ_CODEC_DEAD_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* Every pointer is owned by the record and freed by dead_free(). */
typedef struct dead_record {
    uint8_t *job; /* the job's bytes, exactly as the producer sent them */
    size_t job_len;
    char *reason;   /* why it was dead-lettered, e.g. "wrong_type: ops[0] WRONGTYPE ..." */
    uint64_t attempts;
    uint64_t first_failed_ms;
    uint64_t last_failed_ms;
    char *consumer; /* consumer id that dead-lettered it */
    char *id;       /* job id, NULL when the job could not be decoded */
    char **errs;    /* reasons of every failed attempt, oldest first (at most JOB_MAX_ERRS) */
    size_t nerrs;
    /* A job too large to keep in the record (job-v1.md §7): `job` is empty,
     * job_key names the STRING key that holds its exact bytes and job_size
     * is their length. job_key is NULL for every other record. */
    char *job_key;
    uint64_t job_size;
} dead_record;

/* Bytes a record may take beyond max_payload (reasons, ids, times). */
#define DEAD_EXTRA (64u * 1024u)

/* Encodes a record. *out is malloc'd (caller frees with free()). */
int dead_encode(const dead_record *rec, uint8_t **out, size_t *outlen);

/* Decodes a record from untrusted bytes, with the same bounds as job_decode
 * (payload limit: lim->max_payload plus 64 KiB). On success *out is new (free
 * with dead_free()); on failure err names the field. */
int dead_decode(const uint8_t *buf, size_t len, const job_limits *lim, dead_record **out, job_error *err);

/* Frees a record and everything it owns; NULL is fine. */
void dead_free(dead_record *rec);

#endif
