/* `invqctl dlq show ID…`: every entry named by a job id or a ref, whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dlq_scan.h"
#include "dlq_view.h"
#include "output.h"
#include "timefmt.h"

static const char show_help[] =
    "Usage: invqctl dlq show ID... [--json]\n"
    "Shows the whole dead-letter record of each ID: reason, attempts, first and\n"
    "last failure, consumer, error history, and the job decoded (keys shown\n"
    "safely: printable ASCII as is, other bytes as \\xNN). ID is a job id or an\n"
    "entry ref (@ and 12 hex digits, as printed by `dlq list`); a job id that\n"
    "was dead-lettered several times shows every entry.\n";

typedef struct show_state {
    char **ids;
    int nids;
    bool *found;
    size_t shown;
    bool json;
    uint64_t now;
    conn *c;
} show_state;

static int show_visit(dlq_entry *e, long index, void *data)
{
    show_state *st = data;
    (void)index;
    bool hit = false;
    for (int i = 0; i < st->nids; i++)
        if (dlq_entry_is(e, st->ids[i]))
            hit = st->found[i] = true;
    if (!hit)
        return 0;
    dlq_oversized ov;
    const dlq_oversized *pov = NULL;
    if (e->rec && e->rec->job_key) {
        int rc = dlq_oversized_probe(st->c, e->rec->job_key, &ov);
        if (rc)
            return rc;
        pov = &ov;
    }
    if (st->json) {
        if (output_json_line(dlq_view_full_json(e, st->now, pov)) < 0)
            return CTL_SOFTWARE;
    } else {
        if (st->shown)
            printf("\n");
        dlq_view_print(e, st->now, pov);
    }
    st->shown++;
    return 0;
}

int cmd_dlq_show(int argc, char **argv, ctl_common *common)
{
    int pos;
    int rc = args_parse(argc, argv, "dlq show", NULL, NULL, NULL, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(show_help, NULL);
    if (rc)
        return rc;
    if (pos >= argc)
        return args_usage_error("dlq show ", "expected at least one ID");
    show_state st = {.ids = argv + pos, .nids = argc - pos, .json = common->json, .now = timefmt_now_ms()};
    st.found = calloc((size_t)st.nids, sizeof *st.found);
    if (!st.found)
        return CTL_SOFTWARE;
    conn c;
    if ((rc = conn_open(&c, common))) {
        free(st.found);
        return rc;
    }
    st.c = &c;
    rc = dlq_scan_newest(&c, show_visit, &st);
    conn_close(&c);
    bool missing = false;
    for (int i = 0; rc == 0 && i < st.nids; i++)
        if (!st.found[i]) {
            fprintf(stderr, "invqctl: no dead-letter entry %s\n", st.ids[i]);
            missing = true;
        }
    free(st.found);
    if (rc)
        return rc;
    if (!st.shown)
        return CTL_NOMATCH;
    return missing ? CTL_PARTIAL : CTL_OK;
}
