/* `invqctl dlq list`: dead-letter entries newest first, one line each, with
 * paging and filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dlq_scan.h"
#include "dlq_view.h"
#include "output.h"
#include "timefmt.h"

enum { OPT_LIMIT = 1, OPT_OFFSET };

static const char list_help[] =
    "Usage: invqctl dlq list [--limit N] [--offset N] [filters] [--json]\n"
    "Lists dead-letter entries newest first: ref, id, age of the last failure,\n"
    "attempts, reason, family, source and the first keys.\n"
    "  --limit N         at most N entries (default 50, 0 = all)\n"
    "  --offset N        skip the first N matching entries (default 0)\n";

typedef struct list_state {
    dlq_filter filter;
    uint64_t limit;
    uint64_t offset;
    uint64_t matched;
    uint64_t shown;
    bool more;
    bool json;
    uint64_t now;
    out_table *table;
    int failed;
} list_state;

static int list_opt(int id, const char *arg, void *data)
{
    list_state *st = data;
    if (id == OPT_LIMIT)
        return args_uint("--limit", arg, 0, 100000000, &st->limit);
    if (id == OPT_OFFSET)
        return args_uint("--offset", arg, 0, 1000000000, &st->offset);
    int rc = dlq_filter_opt(&st->filter, id, arg);
    return rc < 0 ? CTL_USAGE : rc;
}

static int list_row(list_state *st, const dlq_entry *e)
{
    if (st->json)
        return output_json_line(dlq_view_summary_json(e, st->now)) < 0 ? CTL_SOFTWARE : 0;
    char age[32] = "-", attempts[24] = "-";
    char *keys = dlq_entry_keys_summary(e, 3);
    char reason[400];
    const char *id = NULL, *fam = NULL, *src = NULL;
    if (e->rec) {
        timefmt_age((int64_t)(st->now - e->rec->last_failed_ms), age, sizeof age);
        snprintf(attempts, sizeof attempts, "%llu", (unsigned long long)e->rec->attempts);
        snprintf(reason, sizeof reason, "%s", e->rec->reason ? e->rec->reason : "");
        id = e->rec->id;
        if (e->job) {
            fam = e->job->fam;
            src = e->job->src;
        }
    } else {
        char msg[300];
        job_error_format(&e->rec_err, msg, sizeof msg);
        snprintf(reason, sizeof reason, "CORRUPT RECORD (%zu bytes): %s", e->raw_len, msg);
    }
    char *t_reason = output_term_text(reason);
    char *t_id = id ? output_term_text(id) : NULL;
    char *t_fam = fam ? output_term_text(fam) : NULL;
    char *t_src = src ? output_term_text(src) : NULL;
    const char *cells[] = {e->ref, t_id, age, attempts, t_fam, t_src, t_reason, keys && *keys ? keys : NULL};
    int rc = out_table_add(st->table, cells);
    free(keys);
    free(t_reason);
    free(t_id);
    free(t_fam);
    free(t_src);
    return rc < 0 ? CTL_SOFTWARE : 0;
}

static int list_visit(dlq_entry *e, long index, void *data)
{
    list_state *st = data;
    (void)index;
    if (!dlq_filter_match(&st->filter, e))
        return 0;
    st->matched++;
    if (st->matched <= st->offset)
        return 0;
    if (st->limit && st->shown == st->limit) {
        st->more = true;
        return 1;
    }
    st->shown++;
    return list_row(st, e);
}

int cmd_dlq_list(int argc, char **argv, ctl_common *common)
{
    list_state st = {.limit = 50};
    static const struct option opts[] = {
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"offset", required_argument, NULL, OPT_OFFSET},
        DLQ_FILTER_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int pos;
    int rc = args_parse(argc, argv, "dlq list", opts, list_opt, &st, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(list_help, dlq_filter_help);
    if (rc)
        return rc;
    if (pos < argc)
        return args_usage_error("dlq list ", "unexpected argument '%s'", argv[pos]);
    conn c;
    if ((rc = conn_open(&c, common)))
        return rc;
    st.json = common->json;
    st.now = timefmt_now_ms();
    static const char *const headers[] = {"REF", "ID", "AGE", "ATTEMPTS", "FAMILY", "SOURCE", "REASON", "KEYS"};
    if (!st.json) {
        st.table = out_table_new(8, headers);
        if (!st.table) {
            conn_close(&c);
            return CTL_SOFTWARE;
        }
        out_table_cap(st.table, 1, 40);
        out_table_cap(st.table, 4, 24);
        out_table_cap(st.table, 5, 24);
        out_table_cap(st.table, 6, 60);
        out_table_cap(st.table, 7, 60);
    }
    rc = dlq_scan_newest(&c, list_visit, &st);
    conn_close(&c);
    if (!st.json && rc == 0) {
        if (st.shown)
            out_table_print(st.table, stdout);
        if (st.more)
            printf("(more entries: --offset %llu)\n", (unsigned long long)(st.offset + st.shown));
        else if (!st.shown)
            fprintf(stderr, "invqctl: no dead-letter entries matched\n");
    }
    out_table_free(st.table);
    if (rc)
        return rc;
    return st.shown ? CTL_OK : CTL_NOMATCH;
}
