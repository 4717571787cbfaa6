/* `invqctl dlq export` and `invqctl dlq import`: dead-letter entries as JSON
 * lines carrying the exact record bytes in base64, so they move between
 * environments byte for byte. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "commands.h"
#include "dlq_scan.h"
#include "output.h"

#define IMPORT_BATCH 500

static const char export_help[] =
    "Usage: invqctl dlq export [filters] > FILE\n"
    "Writes matching dead-letter entries, newest first, one JSON object per line:\n"
    "  {\"record_b64\": \"<base64 of the exact record bytes>\", \"ref\": \"@...\", \"id\": ...,\n"
    "   \"reason\": ..., \"last_failed_ms\": ..., \"corrupt\": false}\n"
    "record_b64 is authoritative; the other fields are for reading and grep.\n";

static const char import_help[] =
    "Usage: invqctl dlq import [--dry-run] [--allow-corrupt] < FILE\n"
    "Reads `dlq export` lines and appends each record, byte for byte, at the oldest\n"
    "end of the dead-letter list (RPUSH) in file order: importing an export into an\n"
    "empty list reproduces the list exactly; into a non-empty one, the imported\n"
    "entries sit behind (older than) the entries already there. Every line is\n"
    "checked first (JSON, base64, a decodable record); a bad line stops the import\n"
    "before anything is written (exit 65, naming the line).\n"
    "  --dry-run         check the file only\n"
    "  --allow-corrupt   accept records that do not decode (exported corrupt entries)\n";

typedef struct export_state {
    dlq_filter filter;
    uint64_t written;
} export_state;

static int export_opt(int id, const char *arg, void *data)
{
    export_state *st = data;
    int rc = dlq_filter_opt(&st->filter, id, arg);
    return rc < 0 ? CTL_USAGE : rc;
}

static int export_visit(dlq_entry *e, long index, void *data)
{
    export_state *st = data;
    (void)index;
    if (!dlq_filter_match(&st->filter, e))
        return 0;
    char *b64 = base64_encode(e->raw, e->raw_len);
    if (!b64)
        return CTL_SOFTWARE;
    json_t *o = json_object();
    json_object_set_new(o, "record_b64", json_string(b64));
    free(b64);
    json_object_set_new(o, "ref", json_string(e->ref));
    json_object_set_new(o, "id", output_json_text(e->rec ? e->rec->id : NULL));
    json_object_set_new(o, "reason", output_json_text(e->rec ? e->rec->reason : NULL));
    json_object_set_new(o, "last_failed_ms",
                        e->rec ? json_integer((json_int_t)e->rec->last_failed_ms) : json_null());
    json_object_set_new(o, "corrupt", json_boolean(!e->rec));
    if (output_json_line(o) < 0)
        return CTL_SOFTWARE;
    st->written++;
    return 0;
}

int cmd_dlq_export(int argc, char **argv, ctl_common *common)
{
    static const struct option opts[] = {DLQ_FILTER_OPTIONS, {NULL, 0, NULL, 0}};
    export_state st = {0};
    int pos;
    int rc = args_parse(argc, argv, "dlq export", opts, export_opt, &st, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(export_help, dlq_filter_help);
    if (rc)
        return rc;
    if (pos < argc)
        return args_usage_error("dlq export ", "unexpected argument '%s'", argv[pos]);
    conn c;
    if ((rc = conn_open(&c, common)))
        return rc;
    rc = dlq_scan_newest(&c, export_visit, &st);
    conn_close(&c);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "invqctl: export: writing stdout failed\n");
        return CTL_SOFTWARE;
    }
    if (rc)
        return rc;
    fprintf(stderr, "invqctl: exported %llu entries\n", (unsigned long long)st.written);
    return st.written ? CTL_OK : CTL_NOMATCH;
}

typedef struct import_state {
    bool dry_run;
    bool allow_corrupt;
    uint8_t **recs;
    size_t *lens;
    size_t n;
    size_t cap;
} import_state;

enum { OPT_DRY_RUN = 1, OPT_ALLOW_CORRUPT };

static int import_opt(int id, const char *arg, void *data)
{
    import_state *st = data;
    (void)arg;
    if (id == OPT_DRY_RUN)
        st->dry_run = true;
    else if (id == OPT_ALLOW_CORRUPT)
        st->allow_corrupt = true;
    else
        return CTL_USAGE;
    return 0;
}

/* Checks one line; on success appends the record bytes to st. Returns 0,
 * CTL_DATAERR (message printed) or CTL_SOFTWARE. */
static int import_line(import_state *st, const char *line, size_t lineno)
{
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        fprintf(stderr, "invqctl: import: line %zu: not a JSON object%s%s\n", lineno, o ? "" : ": ",
                o ? "" : jerr.text);
        json_decref(o);
        return CTL_DATAERR;
    }
    const char *b64 = json_string_value(json_object_get(o, "record_b64"));
    if (!b64) {
        fprintf(stderr, "invqctl: import: line %zu: no \"record_b64\" string\n", lineno);
        json_decref(o);
        return CTL_DATAERR;
    }
    uint8_t *raw;
    size_t len;
    int rc = base64_decode(b64, &raw, &len);
    json_decref(o);
    if (rc == -ENOMEM)
        return CTL_SOFTWARE;
    if (rc < 0) {
        fprintf(stderr, "invqctl: import: line %zu: record_b64 is not valid base64\n", lineno);
        return CTL_DATAERR;
    }
    dlq_entry e;
    if (dlq_entry_init(&e, raw, len) < 0) {
        free(raw);
        return CTL_SOFTWARE;
    }
    if (!e.rec && !st->allow_corrupt) {
        char msg[320];
        job_error_format(&e.rec_err, msg, sizeof msg);
        fprintf(stderr, "invqctl: import: line %zu: not a dead-letter record (%s); --allow-corrupt takes it as is\n",
                lineno, msg);
        dlq_entry_deinit(&e);
        free(raw);
        return CTL_DATAERR;
    }
    dlq_entry_deinit(&e);
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 256;
        uint8_t **nr = realloc(st->recs, nc * sizeof *nr);
        if (nr)
            st->recs = nr;
        size_t *nl = nr ? realloc(st->lens, nc * sizeof *nl) : NULL;
        if (!nl) {
            free(raw);
            return CTL_SOFTWARE;
        }
        st->lens = nl;
        st->cap = nc;
    }
    st->recs[st->n] = raw;
    st->lens[st->n] = len;
    st->n++;
    return 0;
}

static int import_read(import_state *st, FILE *in)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0)
            continue;
        if (strlen(line) != (size_t)got) {
            fprintf(stderr, "invqctl: import: line %zu: contains a NUL byte\n", lineno);
            rc = CTL_DATAERR;
            break;
        }
        rc = import_line(st, line, lineno);
    }
    free(line);
    if (rc == 0 && ferror(in)) {
        fprintf(stderr, "invqctl: import: reading stdin failed\n");
        rc = CTL_DATAERR;
    }
    return rc;
}

static int import_push(conn *c, import_state *st, size_t *pushed)
{
    const char **argv = malloc((IMPORT_BATCH + 2) * sizeof *argv);
    size_t *lens = malloc((IMPORT_BATCH + 2) * sizeof *lens);
    int rc = 0;
    if (!argv || !lens)
        rc = CTL_SOFTWARE;
    for (size_t i = 0; rc == 0 && i < st->n; i += IMPORT_BATCH) {
        size_t k = st->n - i < IMPORT_BATCH ? st->n - i : IMPORT_BATCH;
        argv[0] = "RPUSH";
        lens[0] = 5;
        argv[1] = c->keys.dead;
        lens[1] = strlen(c->keys.dead);
        for (size_t j = 0; j < k; j++) {
            argv[2 + j] = (const char *)st->recs[i + j];
            lens[2 + j] = st->lens[i + j];
        }
        redisReply *r = conn_run(c, (int)k + 2, argv, lens, REDIS_REPLY_INTEGER);
        if (!r) {
            rc = c->failure;
            break;
        }
        freeReplyObject(r);
        *pushed += k;
    }
    free(argv);
    free(lens);
    return rc;
}

int cmd_dlq_import(int argc, char **argv, ctl_common *common)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"allow-corrupt", no_argument, NULL, OPT_ALLOW_CORRUPT},
        {NULL, 0, NULL, 0},
    };
    import_state st = {0};
    int pos;
    int rc = args_parse(argc, argv, "dlq import", opts, import_opt, &st, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(import_help, NULL);
    if (rc)
        return rc;
    if (pos < argc)
        return args_usage_error("dlq import ", "unexpected argument '%s' (the file comes on stdin)", argv[pos]);
    conn c = {0};
    bool connected = false;
    rc = import_read(&st, stdin);
    if (rc == 0 && !st.dry_run) {
        rc = conn_open(&c, common);
        connected = rc == 0;
        const char *key[] = {c.keys.dead}, *type[] = {"list"};
        if (connected)
            rc = conn_check_types(&c, key, type, 1);
    }
    size_t pushed = 0;
    if (rc == 0 && !st.dry_run)
        rc = import_push(&c, &st, &pushed);
    if (rc == 0 || pushed) {
        if (common->json)
            output_json_line(json_pack("{s:s, s:b, s:I, s:I}", "action", "import", "dry_run", st.dry_run,
                                       "valid", (json_int_t)st.n, "imported", (json_int_t)pushed));
        else if (st.dry_run)
            printf("dry run: %zu valid entries\n", st.n);
        else
            printf("imported %zu of %zu entries into %s\n", pushed, st.n, c.keys.dead);
    }
    for (size_t i = 0; i < st.n; i++)
        free(st.recs[i]);
    free(st.recs);
    free(st.lens);
    if (connected)
        conn_close(&c);
    return rc;
}
