/* JSON views of a dead-letter entry: the one-line summary of `dlq list`
 * and the full record of `dlq show`. */
#ifndef INVQ_CTL_DLQ_VIEW_H
#define INVQ_CTL_DLQ_VIEW_H

#include <stdint.h>

#include <jansson.h>

#include "dlq_entry.h"

/* New references (caller owns them; output_json_line takes them), NULL on
 * ENOMEM. now is the wall clock in ms, for ages. */
json_t *dlq_view_summary_json(const dlq_entry *e, uint64_t now);
json_t *dlq_view_full_json(const dlq_entry *e, uint64_t now);

/* Prints the whole entry for people (dlq show). */
void dlq_view_print(const dlq_entry *e, uint64_t now);

#endif
