/* `invqctl dlq export` and `invqctl dlq import`: dead-letter entries as JSON
 * lines carrying the exact record bytes in base64, so they move between
 * environments byte for byte. Both stream: export holds one page of the
 * list, import one line and one push batch, whatever the sizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "commands.h"
#include "dlq_scan.h"
#include "output.h"

static const char export_help[] =
    "Usage: invqctl dlq export [filters] > FILE\n"
    "Writes matching dead-letter entries, newest first, one JSON object per line:\n"
    "  {\"record_b64\": \"<base64 of the exact record bytes>\", \"ref\": \"@...\", \"id\": ...,\n"
    "   \"reason\": ..., \"last_failed_ms\": ..., \"corrupt\": false}\n"
    "record_b64 is authoritative; the other fields are for reading and grep.\n";

static const char import_help[] =
    "Usage: invqctl dlq import [--dry-run] [--allow-corrupt] [--max-payload N] < FILE\n"
    "Reads `dlq export` lines and appends each record, byte for byte, at the oldest\n"
    "end of the dead-letter list (RPUSH) in file order: importing an export into an\n"
    "empty list reproduces the list exactly; into a non-empty one, the imported\n"
    "entries sit behind (older than) the entries already there. Every line is\n"
    "checked first (JSON, base64, a decodable record within the size limits); a\n"
    "bad line stops the import before anything is written (exit 65, naming the\n"
    "line). Blank and whitespace-only lines are skipped. Checked records wait in\n"
    "an unlinked temporary file under $TMPDIR (default /tmp), not in memory.\n"
    "  --dry-run         check the file only\n"
    "  --allow-corrupt   accept records that do not decode (exported corrupt entries)\n"
    "  --max-payload N   the queue's job size limit (INVQ_MAX_PAYLOAD, default 1048576):\n"
    "                    a record may be N + 64 KiB bytes, its job N bytes\n";

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

/* Records pushed per RPUSH: at most this many, and about this many bytes. */
#define IMPORT_BATCH 500
#define IMPORT_BATCH_BYTES (4u * 1024u * 1024u)
#define RECORD_SLACK (64u * 1024u) /* a dead-letter record may exceed its job by this */
#define MAX_PAYLOAD_DEFAULT (1024u * 1024u)
#define MAX_PAYLOAD_MIN 16u
#define MAX_PAYLOAD_MAX (64u * 1024u * 1024u)

typedef struct import_state {
    bool dry_run;
    bool allow_corrupt;
    uint64_t max_payload; /* a job's limit; a record's is max_payload + RECORD_SLACK */
    FILE *stage;          /* checked records, each u32 length + bytes; NULL in a dry run */
    size_t n;             /* checked records */
} import_state;

enum { OPT_DRY_RUN = 1, OPT_ALLOW_CORRUPT, OPT_MAX_PAYLOAD };

static int import_opt(int id, const char *arg, void *data)
{
    import_state *st = data;
    if (id == OPT_DRY_RUN)
        st->dry_run = true;
    else if (id == OPT_ALLOW_CORRUPT)
        st->allow_corrupt = true;
    else if (id == OPT_MAX_PAYLOAD)
        return args_uint("--max-payload", arg, MAX_PAYLOAD_MIN, MAX_PAYLOAD_MAX, &st->max_payload);
    else
        return CTL_USAGE;
    return 0;
}

static uint64_t record_limit(const import_state *st)
{
    return st->max_payload + RECORD_SLACK;
}

/* Decodes the base64 of one line's record and checks it against the size
 * limits (before and after decoding) and, unless --allow-corrupt, that it is
 * a dead-letter record. Returns 0 with *raw (caller frees) and *len, or
 * CTL_DATAERR (message printed) / CTL_SOFTWARE. */
static int import_record(const import_state *st, const char *b64, size_t lineno, uint8_t **raw, size_t *len)
{
    uint64_t limit = record_limit(st);
    if (strlen(b64) / 4 * 3 > limit + 3) {
        fprintf(stderr, "invqctl: import: line %zu: record of about %zu bytes is over the dead-letter record "
                        "limit of %llu bytes (max_payload %llu + 64 KiB); --max-payload raises it\n",
                lineno, strlen(b64) / 4 * 3, (unsigned long long)limit, (unsigned long long)st->max_payload);
        return CTL_DATAERR;
    }
    int rc = base64_decode(b64, raw, len);
    if (rc == -ENOMEM)
        return CTL_SOFTWARE;
    if (rc < 0) {
        fprintf(stderr, "invqctl: import: line %zu: record_b64 is not valid base64\n", lineno);
        return CTL_DATAERR;
    }
    if (*len > limit) {
        fprintf(stderr, "invqctl: import: line %zu: record of %zu bytes is over the dead-letter record limit "
                        "of %llu bytes (max_payload %llu + 64 KiB); --max-payload raises it\n",
                lineno, *len, (unsigned long long)limit, (unsigned long long)st->max_payload);
        free(*raw);
        return CTL_DATAERR;
    }
    dlq_entry e;
    if (dlq_entry_init(&e, *raw, *len) < 0) {
        free(*raw);
        return CTL_SOFTWARE;
    }
    rc = 0;
    if (!e.rec && !st->allow_corrupt) {
        char msg[320];
        job_error_format(&e.rec_err, msg, sizeof msg);
        fprintf(stderr, "invqctl: import: line %zu: not a dead-letter record (%s); --allow-corrupt takes it as is\n",
                lineno, msg);
        rc = CTL_DATAERR;
    } else if (e.rec && e.rec->job_len > st->max_payload) {
        fprintf(stderr, "invqctl: import: line %zu: the record's job is %zu bytes, over max_payload %llu; "
                        "--max-payload raises it\n",
                lineno, e.rec->job_len, (unsigned long long)st->max_payload);
        rc = CTL_DATAERR;
    }
    dlq_entry_deinit(&e);
    if (rc)
        free(*raw);
    return rc;
}

/* Checks one line; on success stages its record. Returns 0, CTL_DATAERR
 * (message printed) or CTL_SOFTWARE. */
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
    int rc = import_record(st, b64, lineno, &raw, &len);
    json_decref(o);
    if (rc)
        return rc;
    if (st->stage) {
        uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
        if (fwrite(hdr, 1, 4, st->stage) != 4 || fwrite(raw, 1, len, st->stage) != len) {
            fprintf(stderr, "invqctl: import: writing the temporary file of checked records failed: %s\n",
                    strerror(errno));
            rc = CTL_SOFTWARE;
        }
    }
    free(raw);
    st->n += rc == 0;
    return rc;
}

enum { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_ERROR };

/* Reads one line (without its newline) into *buf (*cap >= 1 bytes), growing
 * it up to max + 1 bytes: never more of a line is held in memory. */
static int read_line(FILE *in, char **buf, size_t *cap, size_t max, size_t *len)
{
    size_t n = 0;
    int ch;
    while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
        if (n == max)
            return LINE_TOO_LONG;
        if (n + 2 > *cap) {
            size_t nc = *cap * 2;
            char *nb = realloc(*buf, nc > max + 1 ? max + 1 : nc);
            if (!nb)
                return LINE_ERROR;
            *buf = nb;
            *cap = nc > max + 1 ? max + 1 : nc;
        }
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && (ferror(in) || n == 0))
        return ferror(in) ? LINE_ERROR : LINE_EOF;
    (*buf)[n] = '\0';
    *len = n;
    return LINE_OK;
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int import_read(import_state *st, FILE *in)
{
    /* An export line is the record in base64 (4/3) plus its text fields,
     * which come from the record and grow at most 6-fold when escaped. */
    size_t max = (size_t)(8 * record_limit(st));
    size_t cap = 4096, lineno = 0, got;
    char *line = malloc(cap);
    int rc = 0, lr = LINE_ERROR;
    while (line && rc == 0 && (lr = read_line(in, &line, &cap, max, &got)) == LINE_OK) {
        lineno++;
        if (is_blank(line, got))
            continue;
        if (strlen(line) != got) {
            fprintf(stderr, "invqctl: import: line %zu: contains a NUL byte\n", lineno);
            rc = CTL_DATAERR;
            break;
        }
        rc = import_line(st, line, lineno);
    }
    free(line);
    if (rc == 0 && lr == LINE_TOO_LONG) {
        fprintf(stderr, "invqctl: import: line %zu: longer than %zu bytes, more than an export line of a record "
                        "within the limits can be\n", lineno + 1, max);
        rc = CTL_DATAERR;
    } else if (rc == 0 && lr == LINE_ERROR) {
        fprintf(stderr, "invqctl: import: reading stdin failed%s\n", ferror(in) ? "" : ": out of memory");
        rc = ferror(in) ? CTL_DATAERR : CTL_SOFTWARE;
    }
    return rc;
}

/* An unlinked temporary file for the checked records; NULL (message
 * printed) on failure. */
static FILE *stage_open(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(path, sizeof path, "%s/invqctl-import-XXXXXX", dir);
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w+") : NULL;
    if (fd >= 0)
        unlink(path);
    if (!f) {
        fprintf(stderr, "invqctl: import: cannot make a temporary file in %s: %s\n", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

/* Reads the next staged record (buf grows as needed). 1, 0 at the end, -1
 * on a read error or out of memory. */
static int stage_next(FILE *f, uint8_t **buf, size_t *cap, size_t *len)
{
    uint8_t h[4];
    size_t got = fread(h, 1, 4, f);
    if (got == 0 && feof(f))
        return 0;
    if (got != 4)
        return -1;
    *len = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (*len > *cap) {
        uint8_t *nb = realloc(*buf, *len);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = *len;
    }
    return fread(*buf, 1, *len, f) == *len ? 1 : -1;
}

/* Pushes the staged records in file order, in batches bounded in entries
 * and bytes. */
static int import_push(conn *c, import_state *st, size_t *pushed)
{
    const char *argv[IMPORT_BATCH + 2];
    size_t lens[IMPORT_BATCH + 2];
    uint8_t *recs[IMPORT_BATCH] = {0};
    size_t caps[IMPORT_BATCH] = {0};
    int rc = 0;
    if (fflush(st->stage) != 0 || fseek(st->stage, 0, SEEK_SET) != 0) {
        fprintf(stderr, "invqctl: import: the temporary file of checked records: %s\n", strerror(errno));
        return CTL_SOFTWARE;
    }
    argv[0] = "RPUSH";
    lens[0] = 5;
    argv[1] = c->keys.dead;
    lens[1] = strlen(c->keys.dead);
    for (bool more = true; rc == 0 && more;) {
        size_t k = 0, bytes = 0;
        while (k < IMPORT_BATCH && bytes < IMPORT_BATCH_BYTES) {
            int got = stage_next(st->stage, &recs[k], &caps[k], &lens[2 + k]);
            if (got < 0) {
                fprintf(stderr, "invqctl: import: reading back the checked records failed\n");
                rc = CTL_SOFTWARE;
            }
            if (got <= 0) {
                more = false;
                break;
            }
            argv[2 + k] = (const char *)recs[k];
            bytes += lens[2 + k];
            k++;
        }
        if (rc || k == 0)
            break;
        redisReply *r = conn_run(c, (int)k + 2, argv, lens, REDIS_REPLY_INTEGER);
        if (!r) {
            rc = c->failure;
            break;
        }
        freeReplyObject(r);
        *pushed += k;
    }
    for (size_t i = 0; i < IMPORT_BATCH; i++)
        free(recs[i]);
    return rc;
}

int cmd_dlq_import(int argc, char **argv, ctl_common *common)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"allow-corrupt", no_argument, NULL, OPT_ALLOW_CORRUPT},
        {"max-payload", required_argument, NULL, OPT_MAX_PAYLOAD},
        {NULL, 0, NULL, 0},
    };
    import_state st = {.max_payload = MAX_PAYLOAD_DEFAULT};
    const char *env = getenv("INVQ_MAX_PAYLOAD");
    if (env && args_uint("INVQ_MAX_PAYLOAD", env, MAX_PAYLOAD_MIN, MAX_PAYLOAD_MAX, &st.max_payload))
        return CTL_USAGE;
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
    if (!st.dry_run && !(st.stage = stage_open()))
        return CTL_SOFTWARE;
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
    if (st.stage)
        fclose(st.stage);
    if (connected)
        conn_close(&c);
    return rc;
}
