/* `invqctl dlq requeue` and `invqctl dlq purge`: move or delete selected
 * dead-letter entries, each atomically with a Lua script that removes the
 * exact record bytes (LREM) and only then pushes the job back. Works from the
 * oldest end in bounded pages, one pipeline of scripts per page, and stops
 * between pages on SIGINT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "ctl_lua.h"
#include "dlq_scan.h"
#include "interrupt.h"
#include "output.h"
#include "redis_sync.h"

#define WARN_MAX 5 /* warnings of one kind printed before summarising */

enum { OPT_ALL = 1, OPT_DRY_RUN, OPT_YES };

typedef struct move_run {
    bool purge;
    bool dry_run;
    bool all;
    bool yes;
    dlq_filter filter;
    char **ids;
    int nids;
    bool *found;
    bool json;
    bool progress;
    conn *c;
    const char *src;
    char sha[41];
    uint8_t *anchor; /* copy of the newest entry examined and left in place */
    size_t anchor_len;
    long kept; /* entries examined and left in place, at the oldest end */
    uint64_t examined, matched, moved, gone, failed, corrupt, undecodable, oversized, resyncs;
    bool keyfault; /* a script refused a queue key of the wrong type */
} move_run;

enum { ST_KEPT, ST_SENT, ST_DONE, ST_NOSCRIPT };

static const char *verb(const move_run *m)
{
    return m->purge ? "purge" : "requeue";
}

static bool is_selected(move_run *m, const dlq_entry *e)
{
    if (m->nids) {
        bool hit = false;
        for (int i = 0; i < m->nids; i++)
            if (dlq_entry_is(e, m->ids[i]))
                hit = m->found[i] = true;
        return hit;
    }
    return dlq_filter_match(&m->filter, e);
}

static int append_script(move_run *m, const dlq_entry *e, bool by_sha)
{
    const char *cmd = by_sha ? "EVALSHA" : "EVAL";
    const char *body = by_sha ? m->sha : m->src;
    const qkeys *k = &m->c->keys;
    /* an oversized job's bytes stay in their key; the script moves them */
    const char *okey = e->rec && e->rec->job_key ? e->rec->job_key : "";
    if (m->purge) {
        const char *argv[] = {cmd, body, "2", k->dead, k->stats, (const char *)e->raw, okey, k->oversized};
        size_t lens[] = {strlen(cmd), strlen(body), 1, strlen(k->dead), strlen(k->stats), e->raw_len,
                         strlen(okey), strlen(k->oversized)};
        return conn_append(m->c, 8, argv, lens);
    }
    const char *argv[] = {cmd,       body,     "4", k->dead, k->pending, k->stats, k->reaped, (const char *)e->raw,
                          (const char *)e->rec->job, okey, k->oversized};
    size_t lens[] = {strlen(cmd),      strlen(body),     1,          strlen(k->dead), strlen(k->pending),
                     strlen(k->stats), strlen(k->reaped), e->raw_len, e->rec->job_len, strlen(okey),
                     strlen(k->oversized)};
    return conn_append(m->c, 11, argv, lens);
}

/* Reads one script reply into *state and the counters. Returns 0, or
 * CTL_UNAVAILABLE when the connection broke or the node is not a writable
 * master now (READONLY, LOADING, MASTERDOWN, NOREPLICAS). */
static int read_script_reply(move_run *m, const dlq_entry *e, int *state)
{
    void *v = NULL;
    if (redisGetReply(m->c->rc, &v) != REDIS_OK || !v) {
        fprintf(stderr, "invqctl: redis: connection lost: %s\n", m->c->rc->errstr);
        return CTL_UNAVAILABLE;
    }
    redisReply *r = v;
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer == 1)
            m->moved++;
        else
            m->gone++;
        *state = ST_DONE;
    } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        *state = ST_NOSCRIPT;
    } else if (r->type == REDIS_REPLY_ERROR && redis_err_node_unavailable(r->str, r->len)) {
        /* a failover: the node took no write, so nothing of this entry
         * changed; stop, as for a lost connection */
        fprintf(stderr, "invqctl: %s %s: redis: %s (the node cannot take writes now: run it again)\n", verb(m),
                e->ref, r->str);
        freeReplyObject(r);
        return CTL_UNAVAILABLE;
    } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "QUEUEKEY ", 9) == 0) {
        /* the script checks its keys before writing: nothing changed */
        fprintf(stderr, "invqctl: %s %s: %s; nothing was changed: fix or remove that key, then run it again\n",
                verb(m), e->ref, r->str + 9);
        m->failed++;
        m->keyfault = true;
        *state = ST_KEPT;
    } else {
        fprintf(stderr, "invqctl: %s %s: redis: %s\n", verb(m), e->ref,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        m->failed++;
        *state = ST_KEPT;
    }
    freeReplyObject(r);
    return 0;
}

static void warn_entry(move_run *m, const dlq_entry *e)
{
    char msg[320];
    if (!e->rec) {
        if (++m->corrupt <= WARN_MAX) {
            job_error_format(&e->rec_err, msg, sizeof msg);
            fprintf(stderr, "invqctl: %s: corrupt record (%s), not requeued; purge it by its ref\n", e->ref,
                    msg);
        }
    } else if (e->rec->job_key) {
        if (++m->oversized <= WARN_MAX)
            fprintf(stderr,
                    "invqctl: warning: %s: oversized job (%llu bytes) goes back from %s; a worker whose "
                    "--max-payload is smaller moves it aside again\n",
                    e->ref, (unsigned long long)e->rec->job_size, e->rec->job_key);
    } else if (!e->job) {
        if (++m->undecodable <= WARN_MAX) {
            job_error_format(&e->job_err, msg, sizeof msg);
            fprintf(stderr,
                    "invqctl: warning: %s: job does not decode (%s); it goes back unchanged and the worker "
                    "will dead-letter it again\n",
                    e->ref, msg);
        }
    }
}

/* Handles one page (entries newest first, n of them). Returns 0 or an exit code. */
static int move_page(move_run *m, redisReply **els, size_t n)
{
    dlq_entry *ents = calloc(n, sizeof *ents);
    int *state = calloc(n, sizeof *state);
    int rc = 0;
    if (!ents || !state) {
        rc = CTL_SOFTWARE;
        goto out;
    }
    size_t sent = 0;
    for (size_t k = n; k-- > 0;) { /* oldest first */
        if (dlq_entry_init(&ents[k], els[k]->str, els[k]->len) < 0) {
            rc = CTL_SOFTWARE;
            goto out;
        }
        m->examined++;
        state[k] = ST_KEPT;
        if (!is_selected(m, &ents[k]))
            continue;
        m->matched++;
        if (!m->purge && (!ents[k].rec || !ents[k].job)) {
            warn_entry(m, &ents[k]);
            if (!ents[k].rec)
                continue;
        }
        if (m->dry_run) {
            m->moved++;
            continue;
        }
        if (append_script(m, &ents[k], true) < 0) {
            rc = CTL_SOFTWARE;
            goto out;
        }
        state[k] = ST_SENT;
        sent++;
    }
    for (size_t k = n; k-- > 0 && sent;) {
        if (state[k] != ST_SENT)
            continue;
        sent--;
        if ((rc = read_script_reply(m, &ents[k], &state[k])) != 0)
            goto out;
    }
    for (size_t k = n; k-- > 0;) {
        if (state[k] != ST_NOSCRIPT)
            continue;
        /* The script cache was flushed under us: send the source itself. */
        if (append_script(m, &ents[k], false) < 0) {
            rc = CTL_SOFTWARE;
            goto out;
        }
        if ((rc = read_script_reply(m, &ents[k], &state[k])) != 0)
            goto out;
        if (state[k] == ST_NOSCRIPT)
            state[k] = ST_KEPT;
    }
    for (size_t k = n; k-- > 0;) {
        if (state[k] != ST_KEPT)
            continue;
        m->kept++;
        free(m->anchor);
        m->anchor = ents[k].raw; /* steal the bytes */
        m->anchor_len = ents[k].raw_len;
        ents[k].raw = NULL;
    }
out:
    for (size_t k = 0; ents && k < n; k++)
        dlq_entry_deinit(&ents[k]);
    free(ents);
    free(state);
    return rc;
}

static void progress(const move_run *m, bool last)
{
    if (!m->progress)
        return;
    fprintf(stderr, "\r%s: examined %llu, %s %llu, already gone %llu%s", verb(m),
            (unsigned long long)m->examined, m->dry_run ? "would move" : "done", (unsigned long long)m->moved,
            (unsigned long long)m->gone, last ? "\n" : "");
    fflush(stderr);
}

/* The walk from the oldest end: each page is the DLQ_PAGE entries just
 * newer than the `kept` entries already examined and left in place. The
 * page also returns the newest kept entry (the anchor); when it is not where
 * expected, someone else removed kept entries, so the walk restarts from the
 * oldest end (re-examining is harmless: moved entries are gone). */
static int move_walk(move_run *m)
{
    for (;;) {
        if (interrupt_requested())
            return CTL_INTERRUPTED;
        char a1[32], a2[32];
        snprintf(a1, sizeof a1, "%ld", -(m->kept + DLQ_PAGE));
        snprintf(a2, sizeof a2, "%ld", m->kept ? -m->kept : -1L);
        const char *argv[] = {"LRANGE", m->c->keys.dead, a1, a2};
        redisReply *r = conn_run(m->c, 4, argv, NULL, REDIS_REPLY_ARRAY);
        if (!r)
            return m->c->failure;
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++)
            if (r->element[i]->type != REDIS_REPLY_STRING) {
                freeReplyObject(r);
                fprintf(stderr, "invqctl: redis: LRANGE %s: element is not a string\n", m->c->keys.dead);
                return CTL_SOFTWARE;
            }
        if (m->kept) {
            redisReply *last = n ? r->element[n - 1] : NULL;
            if (!last || last->len != m->anchor_len || memcmp(last->str, m->anchor, m->anchor_len) != 0) {
                freeReplyObject(r);
                m->kept = 0;
                m->resyncs++;
                continue;
            }
            n--;
        }
        int rc = n ? move_page(m, r->element, n) : 0;
        freeReplyObject(r);
        progress(m, false);
        if (rc)
            return rc;
        if (m->failed) /* a script failed: stop rather than repeat it */
            return m->keyfault ? CTL_SOFTWARE : CTL_PARTIAL;
        if (n < DLQ_PAGE)
            return 0;
    }
}

static void summary(const move_run *m, int rc)
{
    bool interrupted = rc == CTL_INTERRUPTED;
    if (m->json) {
        json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I}", "action", verb(m),
                              "dry_run", m->dry_run, "examined", (json_int_t)m->examined, "matched",
                              (json_int_t)m->matched, m->dry_run ? "would_move" : "moved",
                              (json_int_t)m->moved, "already_gone", (json_int_t)m->gone, "failed",
                              (json_int_t)m->failed, "corrupt", (json_int_t)m->corrupt, "undecodable_jobs",
                              (json_int_t)m->undecodable, "interrupted", interrupted, "rescans",
                              (json_int_t)m->resyncs);
        output_json_line(o);
        return;
    }
    const char *done = m->purge ? "purged" : "requeued";
    if (m->dry_run)
        printf("dry run: would %s %llu of %llu matching entries", verb(m), (unsigned long long)m->moved,
               (unsigned long long)m->matched);
    else
        printf("%s %llu of %llu matching entries (%llu already gone, %llu failed)", done,
               (unsigned long long)m->moved, (unsigned long long)m->matched, (unsigned long long)m->gone,
               (unsigned long long)m->failed);
    if (m->corrupt)
        printf("; %llu corrupt records left in place", (unsigned long long)m->corrupt);
    if (m->undecodable)
        printf("; %llu undecodable jobs %s", (unsigned long long)m->undecodable,
               m->dry_run ? "would go back unchanged" : "went back unchanged");
    printf("%s\n", interrupted ? " -- interrupted, stopped after the current batch" : "");
}

static int move_opt(int id, const char *arg, void *data)
{
    move_run *m = data;
    switch (id) {
    case OPT_ALL:
        m->all = true;
        return 0;
    case OPT_DRY_RUN:
        m->dry_run = true;
        return 0;
    case OPT_YES:
        m->yes = true;
        return 0;
    default: {
        int rc = dlq_filter_opt(&m->filter, id, arg);
        return rc < 0 ? CTL_USAGE : rc;
    }
    }
}

static int move_main(int argc, char **argv, ctl_common *common, bool purge)
{
    static const char requeue_help[] =
        "Usage: invqctl dlq requeue (ID... | --all | filters) [--dry-run] [--json]\n"
        "Puts dead-letter entries back on pending with their attempts reset (the job\n"
        "bytes exactly as the producer sent them). Each entry moves atomically: two\n"
        "operators requeuing at once never duplicate or lose one. Works in batches of\n"
        "500 from the oldest entry; Ctrl-C stops after the current batch (exit 130).\n"
        "  ID                job id or entry ref (@ + 12 hex digits)\n"
        "  --all             every entry (combined with filters: every matching one)\n"
        "  --dry-run         count what would move, change nothing\n";
    static const char purge_help[] =
        "Usage: invqctl dlq purge (ID... | --all | filters) [--dry-run] [--yes] [--json]\n"
        "Deletes dead-letter entries, each atomically, in batches of 500 from the\n"
        "oldest; Ctrl-C stops after the current batch (exit 130). Corrupt records\n"
        "can be purged by their ref.\n"
        "  ID                job id or entry ref (@ + 12 hex digits)\n"
        "  --all             every entry; without filters it needs --yes\n"
        "  --yes             confirm purging the whole dead-letter queue\n"
        "  --dry-run         count what would be deleted, change nothing\n";
    static const struct option opts[] = {
        {"all", no_argument, NULL, OPT_ALL},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"yes", no_argument, NULL, OPT_YES},
        DLQ_FILTER_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    move_run m = {.purge = purge};
    const char *cmd = purge ? "dlq purge" : "dlq requeue";
    const char *hint = purge ? "dlq purge " : "dlq requeue ";
    int pos;
    int rc = args_parse(argc, argv, cmd, opts, move_opt, &m, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(purge ? purge_help : requeue_help, dlq_filter_help);
    if (rc)
        return rc;
    m.ids = argv + pos;
    m.nids = argc - pos;
    bool filters = dlq_filter_active(&m.filter);
    if (m.nids && (m.all || filters))
        return args_usage_error(hint, "give IDs, or --all/filters, not both");
    if (!m.nids && !m.all && !filters)
        return args_usage_error(hint, "say which entries: ID..., --all, or filters");
    if (purge && m.all && !filters && !m.yes && !m.dry_run)
        return args_usage_error(hint, "--all without filters deletes the whole dead-letter queue; add --yes");
    m.json = common->json;
    m.progress = !m.json && isatty(STDERR_FILENO);
    m.src = purge ? ctl_lua_purge : ctl_lua_requeue;
    if (m.nids && !(m.found = calloc((size_t)m.nids, sizeof *m.found)))
        return CTL_SOFTWARE;
    conn c;
    if ((rc = conn_open(&c, common))) {
        free(m.found);
        return rc;
    }
    m.c = &c;
    if (!m.dry_run) {
        /* every key the script writes, checked up front (the script checks
         * again, atomically, before each entry) */
        const char *keys[] = {c.keys.dead, c.keys.stats, c.keys.pending, c.keys.reaped};
        const char *types[] = {"list", "hash", "list", "hash"};
        rc = conn_check_types(&c, keys, types, purge ? 2 : 4);
        if (!rc)
            rc = conn_script_load(&c, m.src, m.sha);
    }
    if (!rc) {
        interrupt_install();
        rc = move_walk(&m);
        progress(&m, true);
        summary(&m, rc);
    }
    if (m.corrupt > WARN_MAX)
        fprintf(stderr, "invqctl: ... and %llu more corrupt records\n", (unsigned long long)(m.corrupt - WARN_MAX));
    if (m.undecodable > WARN_MAX)
        fprintf(stderr, "invqctl: ... and %llu more undecodable jobs\n",
                (unsigned long long)(m.undecodable - WARN_MAX));
    if (m.oversized > WARN_MAX)
        fprintf(stderr, "invqctl: ... and %llu more oversized jobs\n", (unsigned long long)(m.oversized - WARN_MAX));
    bool missing = false;
    for (int i = 0; i < m.nids && (rc == 0 || rc == CTL_PARTIAL); i++)
        if (!m.found[i]) {
            fprintf(stderr, "invqctl: no dead-letter entry %s\n", m.ids[i]);
            missing = true;
        }
    conn_close(&c);
    free(m.found);
    free(m.anchor);
    if (rc)
        return rc;
    if (!m.matched)
        return CTL_NOMATCH;
    return (missing || m.corrupt || m.failed) ? CTL_PARTIAL : CTL_OK;
}

int cmd_dlq_requeue(int argc, char **argv, ctl_common *common)
{
    return move_main(argc, argv, common, false);
}

int cmd_dlq_purge(int argc, char **argv, ctl_common *common)
{
    return move_main(argc, argv, common, true);
}
