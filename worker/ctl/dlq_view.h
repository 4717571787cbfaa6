/* JSON views of a dead-letter entry: the one-line summary of `dlq list`
 * and the full record of `dlq show`. */
#ifndef INVQ_CTL_DLQ_VIEW_H
#define INVQ_CTL_DLQ_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "conn.h"
#include "dlq_entry.h"

/* What the key of an oversized job (a record with job_key) holds now. */
typedef struct dlq_oversized {
    char type[16];  /* as TYPE names it; "none" when the key is gone */
    bool present;   /* a string: the job's bytes */
    uint64_t size;  /* STRLEN */
    uint8_t head[32];
    size_t head_len;
} dlq_oversized;

/* Looks at key (dlq_job.c). Returns 0 or the failure exit code (printed). */
int dlq_oversized_probe(conn *c, const char *key, dlq_oversized *ov);

/* New references (caller owns them; output_json_line takes them), NULL on
 * ENOMEM. now is the wall clock in ms, for ages. ov (may be NULL) is what
 * the key of an oversized job holds. */
json_t *dlq_view_summary_json(const dlq_entry *e, uint64_t now);
json_t *dlq_view_full_json(const dlq_entry *e, uint64_t now, const dlq_oversized *ov);

/* Prints the whole entry for people (dlq show); ov as above. */
void dlq_view_print(const dlq_entry *e, uint64_t now, const dlq_oversized *ov);

#endif
