/* Reading the dead-letter list in bounded pages (never one giant LRANGE),
 * and the filter flags shared by list, requeue, purge and export. */
#ifndef INVQ_CTL_DLQ_SCAN_H
#define INVQ_CTL_DLQ_SCAN_H

#include "conn.h"
#include "dlq_entry.h"

#define DLQ_PAGE 500 /* entries per page of the oldest-first walks (requeue, purge) */

/* The newest-first walk (list, show, export) bounds its pages in bytes too:
 * DLQ_SCAN_FIRST entries first, then as many as fit in DLQ_SCAN_BYTES at the
 * largest entry size seen, at most DLQ_SCAN_MAX_ENTRIES (64 MiB of records
 * of the spec's largest size, 1 MiB + 64 KiB). */
#define DLQ_SCAN_FIRST 16
#define DLQ_SCAN_BYTES (4u * 1024u * 1024u)
#define DLQ_SCAN_MAX_ENTRIES 60

/* Called for each entry, newest first; index is its position at read time.
 * Return 0 to go on, 1 to stop, or an exit code > 1 to abort with it. The
 * entry is borrowed for the call (the callback may steal its fields by
 * zeroing them). */
typedef int (*dlq_visit_cb)(dlq_entry *e, long index, void *data);

/* Walks the list from index 0 (newest), one page in memory at a time.
 * Entries the worker pushes meanwhile shift the pages, so a concurrent push
 * may show one entry twice; nothing present for the whole walk is missed
 * unless removed. Returns 0 or an exit code (printed). */
int dlq_scan_newest(conn *c, dlq_visit_cb cb, void *data);

/* getopt_long entries for the filter flags (ids DLQ_OPT_*). */
enum {
    DLQ_OPT_REASON = 0x2000,
    DLQ_OPT_FAMILY,
    DLQ_OPT_SOURCE,
    DLQ_OPT_SINCE,
    DLQ_OPT_UNTIL,
};
#define DLQ_FILTER_OPTIONS                                        \
    {"reason", required_argument, NULL, DLQ_OPT_REASON},         \
        {"family", required_argument, NULL, DLQ_OPT_FAMILY},     \
        {"source", required_argument, NULL, DLQ_OPT_SOURCE},     \
        {"since", required_argument, NULL, DLQ_OPT_SINCE},       \
    {                                                             \
        "until", required_argument, NULL, DLQ_OPT_UNTIL           \
    }

extern const char dlq_filter_help[];

/* Handles one filter flag; returns 0, CTL_USAGE (printed), or -1 when id
 * is not a filter flag. */
int dlq_filter_opt(dlq_filter *f, int id, const char *arg);

#endif
