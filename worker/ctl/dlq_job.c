/* `invqctl dlq job ID`: the exact job bytes of one dead-letter entry on
 * stdout — from the record, or, for a job too large to keep in it, streamed
 * from the key that holds it (GETRANGE in 1 MiB pieces, never whole) — and
 * the look at such a key that `dlq show` prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "dlq_scan.h"
#include "dlq_view.h"

#define JOB_CHUNK (1u << 20)

static const char job_help[] =
    "Usage: invqctl dlq job ID > FILE\n"
    "Writes the exact bytes of the job of one dead-letter entry to stdout: the\n"
    "producer's bytes as stored in the record, or, for a job too large to keep\n"
    "in it (reason too_large, `job key` in dlq show), the bytes kept in that key.\n"
    "ID is a job id or an entry ref (@ and 12 hex digits); a job id must name\n"
    "one entry only. stdout must not be a terminal.\n";

int dlq_oversized_probe(conn *c, const char *key, dlq_oversized *ov)
{
    memset(ov, 0, sizeof *ov);
    const char *targv[] = {"TYPE", key};
    redisReply *t = conn_run(c, 2, targv, NULL, REDIS_REPLY_STATUS);
    if (!t)
        return c->failure;
    snprintf(ov->type, sizeof ov->type, "%s", t->str);
    freeReplyObject(t);
    if (strcmp(ov->type, "string") != 0)
        return 0;
    const char *largv[] = {"STRLEN", key};
    redisReply *l = conn_run(c, 2, largv, NULL, REDIS_REPLY_INTEGER);
    if (!l)
        return c->failure;
    ov->size = l->integer > 0 ? (uint64_t)l->integer : 0;
    freeReplyObject(l);
    const char *gargv[] = {"GETRANGE", key, "0", "31"};
    redisReply *g = conn_run(c, 4, gargv, NULL, REDIS_REPLY_STRING);
    if (!g)
        return c->failure;
    ov->head_len = g->len < sizeof ov->head ? g->len : sizeof ov->head;
    memcpy(ov->head, g->str, ov->head_len);
    freeReplyObject(g);
    ov->present = true;
    return 0;
}

typedef struct job_state {
    const char *id;
    dlq_entry found; /* the first match, stolen from the scan */
    size_t matches;
    char refs[3][DLQ_REF_LEN + 1];
} job_state;

static int job_visit(dlq_entry *e, long index, void *data)
{
    job_state *st = data;
    (void)index;
    if (!dlq_entry_is(e, st->id))
        return 0;
    if (st->matches < 3)
        memcpy(st->refs[st->matches], e->ref, sizeof st->refs[0]);
    if (st->matches++ == 0) {
        st->found = *e;
        memset(e, 0, sizeof *e); /* stolen */
    }
    return 0;
}

static int write_all(const void *p, size_t n)
{
    if (n > 0 && fwrite(p, 1, n, stdout) != n) {
        fprintf(stderr, "invqctl: dlq job: cannot write to stdout\n");
        return CTL_SOFTWARE;
    }
    return 0;
}

/* Streams the string at key to stdout, checking it is `size` bytes. */
static int stream_key(conn *c, const char *key, uint64_t size)
{
    dlq_oversized ov;
    int rc = dlq_oversized_probe(c, key, &ov);
    if (rc)
        return rc;
    if (!ov.present) {
        fprintf(stderr, "invqctl: dlq job: the key %s that held the job is %s\n", key,
                strcmp(ov.type, "none") == 0 ? "gone" : "not a string");
        return CTL_SOFTWARE;
    }
    if (ov.size != size)
        fprintf(stderr, "invqctl: warning: %s holds %llu bytes, the record says %llu\n", key,
                (unsigned long long)ov.size, (unsigned long long)size);
    for (uint64_t off = 0; off < ov.size; off += JOB_CHUNK) {
        char a1[24], a2[24];
        uint64_t last = off + JOB_CHUNK - 1 < ov.size - 1 ? off + JOB_CHUNK - 1 : ov.size - 1;
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)off);
        snprintf(a2, sizeof a2, "%llu", (unsigned long long)last);
        const char *argv[] = {"GETRANGE", key, a1, a2};
        redisReply *r = conn_run(c, 4, argv, NULL, REDIS_REPLY_STRING);
        if (!r)
            return c->failure;
        if ((uint64_t)r->len != last - off + 1) {
            freeReplyObject(r);
            fprintf(stderr, "invqctl: dlq job: %s changed while it was read\n", key);
            return CTL_SOFTWARE;
        }
        rc = write_all(r->str, r->len);
        freeReplyObject(r);
        if (rc)
            return rc;
    }
    return 0;
}

int cmd_dlq_job(int argc, char **argv, ctl_common *common)
{
    int pos;
    int rc = args_parse(argc, argv, "dlq job", NULL, NULL, NULL, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(job_help, NULL);
    if (rc)
        return rc;
    if (argc - pos != 1)
        return args_usage_error("dlq job ", "expected exactly one ID");
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "invqctl: dlq job: stdout is a terminal; redirect it to a file (> job.msgpack)\n");
        return CTL_USAGE;
    }
    job_state st = {.id = argv[pos]};
    conn c;
    if ((rc = conn_open(&c, common)))
        return rc;
    rc = dlq_scan_newest(&c, job_visit, &st);
    if (!rc && st.matches == 0) {
        fprintf(stderr, "invqctl: no dead-letter entry %s\n", st.id);
        rc = CTL_NOMATCH;
    } else if (!rc && st.matches > 1) {
        fprintf(stderr, "invqctl: dlq job: %s names %zu entries (%s, %s%s); give one ref\n", st.id, st.matches,
                st.refs[0], st.refs[1], st.matches > 2 ? ", ..." : "");
        rc = CTL_USAGE;
    } else if (!rc && !st.found.rec) {
        fprintf(stderr, "invqctl: dlq job: %s is a corrupt record; it holds no job\n", st.found.ref);
        rc = CTL_DATAERR;
    } else if (!rc && st.found.rec->job_key) {
        rc = stream_key(&c, st.found.rec->job_key, st.found.rec->job_size);
    } else if (!rc) {
        rc = write_all(st.found.rec->job, st.found.rec->job_len);
    }
    if (!rc && fflush(stdout) != 0) {
        fprintf(stderr, "invqctl: dlq job: cannot write to stdout\n");
        rc = CTL_SOFTWARE;
    }
    dlq_entry_deinit(&st.found);
    conn_close(&c);
    return rc;
}
