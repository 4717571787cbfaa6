/* One dead-letter entry as invqctl sees it: the exact record bytes, their
 * stable ref ("@" + 12 hex digits of the SHA-1 of the bytes), the decoded
 * record and job when they decode, and the filters/selectors that match it. */
#ifndef INVQ_CTL_DLQ_ENTRY_H
#define INVQ_CTL_DLQ_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dead.h"
#include "job.h"

#define DLQ_REF_LEN 13 /* "@" + 12 hex digits */

typedef struct dlq_entry {
    uint8_t *raw; /* owned copy of the record bytes */
    size_t raw_len;
    char ref[DLQ_REF_LEN + 1];
    dead_record *rec; /* owned; NULL when the record itself is corrupt */
    job_error rec_err;
    invq_job *job; /* owned; NULL when rec is NULL or its job does not decode */
    job_error job_err;
} dlq_entry;

/* Copies raw bytes and decodes them (record, then its job). Never fails on
 * bad input (it is recorded in rec_err/job_err); returns 0 or -ENOMEM. */
int dlq_entry_init(dlq_entry *e, const void *raw, size_t raw_len);
void dlq_entry_deinit(dlq_entry *e);

/* Writes the ref of raw bytes into ref (DLQ_REF_LEN + 1 bytes). */
void dlq_ref(const void *raw, size_t raw_len, char *ref);

/* The filters of list/requeue/purge/export. Strings are borrowed. */
typedef struct dlq_filter {
    const char *reason; /* substring of the reason */
    const char *family; /* exact family */
    const char *source; /* exact source */
    bool has_since;
    uint64_t since_ms; /* last_failed_ms >= since */
    bool has_until;
    uint64_t until_ms; /* last_failed_ms <= until */
} dlq_filter;

/* True when any filter is set. */
bool dlq_filter_active(const dlq_filter *f);
/* True when e passes every filter (a corrupt record passes only when no
 * filter is set). */
bool dlq_filter_match(const dlq_filter *f, const dlq_entry *e);

/* True when `sel` (a job id, or a ref "@xxxxxxxxxxxx") names e. */
bool dlq_entry_is(const dlq_entry *e, const char *sel);

/* First up to `max` keys of the job as one safe, comma-separated string
 * with "(+N)" for the rest; malloc'd (caller frees), NULL on ENOMEM. */
char *dlq_entry_keys_summary(const dlq_entry *e, size_t max);

/* Total keys across the job's ops (0 when it did not decode). */
size_t dlq_entry_nkeys(const dlq_entry *e);

#endif
