/* Paged newest-first walk over the dead-letter list and the filter flags. */
#include "dlq_scan.h"

#include <stdio.h>

#include "timefmt.h"

const char dlq_filter_help[] =
    "Filters (all must match; entries whose record is corrupt match no filter):\n"
    "  --reason TEXT     reason contains TEXT\n"
    "  --family F        job family is F\n"
    "  --source S        job source is S\n"
    "  --since TIME      last failure at or after TIME\n"
    "  --until TIME      last failure at or before TIME\n"
    "  TIME is RFC 3339 (2026-11-26T06:00:00Z) or relative (15m, 2h, 3d, '90s ago').\n";

int dlq_filter_opt(dlq_filter *f, int id, const char *arg)
{
    switch (id) {
    case DLQ_OPT_REASON:
        f->reason = arg;
        return 0;
    case DLQ_OPT_FAMILY:
        f->family = arg;
        return 0;
    case DLQ_OPT_SOURCE:
        f->source = arg;
        return 0;
    case DLQ_OPT_SINCE:
    case DLQ_OPT_UNTIL: {
        uint64_t t;
        if (timefmt_parse_time(arg, timefmt_now_ms(), &t) < 0) {
            fprintf(stderr,
                    "invqctl: %s: expected RFC 3339 (2026-11-26T06:00:00Z) or a relative time "
                    "(15m, 2h, 3d), got \"%s\"\n",
                    id == DLQ_OPT_SINCE ? "--since" : "--until", arg);
            return CTL_USAGE;
        }
        if (id == DLQ_OPT_SINCE) {
            f->has_since = true;
            f->since_ms = t;
        } else {
            f->has_until = true;
            f->until_ms = t;
        }
        return 0;
    }
    default:
        return -1;
    }
}

/* How many entries the next page asks for: as many as fit in
 * DLQ_SCAN_BYTES at the size of the largest entry just read, at most twice
 * the last count, and never more than DLQ_SCAN_MAX_ENTRIES (so a page of
 * records of the largest size the spec allows stays near 64 MiB). */
static long next_page(long last, size_t largest)
{
    long n = largest ? (long)(DLQ_SCAN_BYTES / largest) : DLQ_SCAN_MAX_ENTRIES;
    if (n > 2 * last)
        n = 2 * last;
    if (n > DLQ_SCAN_MAX_ENTRIES)
        n = DLQ_SCAN_MAX_ENTRIES;
    return n < 1 ? 1 : n;
}

int dlq_scan_newest(conn *c, dlq_visit_cb cb, void *data)
{
    long start = 0, count = DLQ_SCAN_FIRST;
    for (;;) {
        char a1[32], a2[32];
        snprintf(a1, sizeof a1, "%ld", start);
        snprintf(a2, sizeof a2, "%ld", start + count - 1);
        const char *argv[] = {"LRANGE", c->keys.dead, a1, a2};
        redisReply *r = conn_run(c, 4, argv, NULL, REDIS_REPLY_ARRAY);
        if (!r)
            return c->failure;
        int rc = 0;
        size_t largest = 0;
        for (size_t i = 0; i < r->elements && rc == 0; i++) {
            redisReply *el = r->element[i];
            if (el->type != REDIS_REPLY_STRING) {
                fprintf(stderr, "invqctl: redis: LRANGE %s: element is not a string\n", c->keys.dead);
                rc = CTL_SOFTWARE;
                break;
            }
            largest = el->len > largest ? el->len : largest;
            dlq_entry e;
            if (dlq_entry_init(&e, el->str, el->len) < 0) {
                fprintf(stderr, "invqctl: out of memory\n");
                rc = CTL_SOFTWARE;
                break;
            }
            rc = cb(&e, start + (long)i, data);
            dlq_entry_deinit(&e);
        }
        size_t got = r->elements;
        freeReplyObject(r);
        if (rc == 1)
            return 0;
        if (rc)
            return rc;
        if (got < (size_t)count)
            return 0;
        start += count;
        count = next_page(count, largest);
    }
}
