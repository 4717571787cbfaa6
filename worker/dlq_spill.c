/* Spilling the oldest dead letters into a local export file (see
 * dlq_spill.h). The file is opened, appended, synced and closed on the
 * loop thread for each spill (at most DLQ_SPILL_MAX records, which happens
 * only at the cap); a failed append is cut off again, so the file always
 * holds whole lines that `invqctl dlq import` reads. */
#include "dlq_spill.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "consumer.h"
#include "dead.h"
#include "log.h"
#include "pool.h"

typedef struct spill_run {
    consumer *c;
    dlq_spill_cb cb;
    long long len;      /* the list's length when the spill began */
    unsigned pending;   /* LREM replies still to come */
    long long removed;
    size_t written;
    bool broken;        /* an LREM failed */
    bool lost;          /* ... because the link broke */
} spill_run;

static json_t *text_or_null(const char *s)
{
    /* ids and reasons are bytes from the queue: invalid UTF-8 becomes null */
    json_t *j = s != NULL ? json_string(s) : NULL;
    return j != NULL ? j : json_null();
}

char *dlq_spill_line(const uint8_t *rec, size_t len, const job_limits *lim)
{
    char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    if (b64 == NULL)
        return NULL;
    base64_encode_raw(b64, len, rec);
    b64[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha);
    sha1_update(&sha, len, rec);
    sha1_digest(&sha, sizeof digest, digest);
    char ref[16] = "@";
    for (int i = 0; i < 6; i++)
        snprintf(ref + 1 + 2 * i, 3, "%02x", digest[i]);
    dead_record *d = NULL;
    job_error jerr;
    (void)dead_decode(rec, len, lim, &d, &jerr); /* corrupt records are spilled too */
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "record_b64", json_string(b64));
        json_object_set_new(o, "ref", json_string(ref));
        json_object_set_new(o, "id", text_or_null(d != NULL ? d->id : NULL));
        json_object_set_new(o, "reason", text_or_null(d != NULL ? d->reason : NULL));
        json_object_set_new(o, "last_failed_ms", d != NULL ? json_integer((json_int_t)d->last_failed_ms) : json_null());
        json_object_set_new(o, "corrupt", json_boolean(d == NULL));
    }
    free(b64);
    dead_free(d);
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (line == NULL) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Appends the records of an LRANGE reply (newest first, as `dlq export`
 * writes) and syncs. Returns 0, or a negative errno with nothing of this
 * spill left in the file (when the cut succeeds). */
static int append_records(const char *path, const redisReply *r, const job_limits *lim, char *err, size_t errlen)
{
    bool created = true;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    const char *what = "fstat";
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        char *line = dlq_spill_line((const uint8_t *)e->str, e->len, lim);
        rc = line != NULL ? write_all(fd, line, strlen(line)) : -ENOMEM;
        what = "write";
        free(line);
    }
    if (rc == 0 && fdatasync(fd) != 0) {
        rc = -errno;
        what = "fdatasync";
    }
    if (rc == 0 && created) {
        /* a new file: its directory entry must survive a crash too */
        rc = sync_dir(path);
        what = "fsync of its directory";
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", what, strerror(-rc));
        if (ftruncate(fd, st.st_size) != 0 || fdatasync(fd) != 0) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (and the partial lines could not be cut off: %s)", strerror(errno));
        }
    }
    close(fd);
    return rc;
}

static void finish_run(spill_run *s)
{
    consumer *c = s->c;
    pool *p = c->p;
    dlq_spill_cb cb = s->cb;
    p->dlq_spilling = false;
    if (s->broken) {
        /* in the file and maybe still on the list: imported, they come back twice at worst */
        log_event(LOG_WARN, "dead letters spilled, but not all removed from the list",
                  LOG_S("file", p->cfg->dlq_spill), LOG_N("records", s->written), LOG_N("removed", s->removed));
    } else {
        log_event(LOG_INFO, "dead-letter list at --dlq-max: oldest records spilled to the file",
                  LOG_S("file", p->cfg->dlq_spill), LOG_N("records", s->written), LOG_N("removed", s->removed),
                  LOG_S("import", "invqctl dlq import < FILE"));
    }
    if (p->m != NULL)
        metrics_dlq_spilled(p->m, (uint64_t)s->written);
    int verdict = s->lost ? -1 : 0;
    long long len = s->len;
    free(s);
    cb(c, verdict, len, NULL);
}

static void on_lrem(uvredis *r, int status, redisReply *reply, void *data)
{
    (void)r;
    spill_run *s = data;
    if (status < 0 || reply == NULL)
        s->broken = s->lost = true;
    else if (reply->type != REDIS_REPLY_INTEGER)
        s->broken = true; /* a dead list of the wrong type: finish.lua reports it */
    else
        s->removed += reply->integer;
    if (--s->pending == 0)
        finish_run(s);
}

static void on_lrange(uvredis *r, int status, redisReply *reply, void *data)
{
    (void)r;
    spill_run *s = data;
    consumer *c = s->c;
    pool *p = c->p;
    if (status < 0 || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        dlq_spill_cb cb = s->cb;
        p->dlq_spilling = false;
        long long len = s->len;
        free(s);
        /* an empty range: the list was drained meanwhile, there is room;
         * an error reply (a dead list of the wrong type): finish.lua
         * refuses the batch and reports it, as without the policy */
        cb(c, status < 0 || reply == NULL ? -1 : 0, len, NULL);
        return;
    }
    char err[320];
    if (append_records(p->cfg->dlq_spill, reply, &p->cfg->limits, err, sizeof err) < 0) {
        char why[600];
        snprintf(why, sizeof why, "spill file %s cannot be written: %s", p->cfg->dlq_spill, err);
        dlq_spill_cb cb = s->cb;
        p->dlq_spilling = false;
        long long len = s->len;
        free(s);
        cb(c, 1, len, why);
        return;
    }
    /* in the file and synced: now remove exactly those records, each from
     * the oldest end (a record the list holds twice loses one copy) */
    for (size_t i = 0; i < reply->elements; i++)
        s->written += reply->element[i]->type == REDIS_REPLY_STRING;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue; /* not written either */
        const char *argv[] = { "LREM", p->keys.dead, "-1", e->str };
        size_t lens[] = { 4, strlen(p->keys.dead), 2, e->len };
        if (rlink_command(&c->q, 4, argv, lens, on_lrem, s) < 0) {
            s->broken = s->lost = true;
            break;
        }
        s->pending++;
    }
    if (s->pending == 0)
        finish_run(s);
}

int dlq_spill_start(consumer *c, long long len, uint64_t adding, dlq_spill_cb cb)
{
    pool *p = c->p;
    if (p->dlq_spilling) {
        cb(c, 1, len, NULL);
        return 0;
    }
    long long need = len - (long long)p->cfg->dlq_max + (long long)adding;
    if (need < 1)
        need = 1;
    if (need > DLQ_SPILL_MAX)
        need = DLQ_SPILL_MAX;
    spill_run *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->c = c;
    s->cb = cb;
    s->len = len;
    char from[24];
    snprintf(from, sizeof from, "%lld", -need);
    const char *argv[] = { "LRANGE", p->keys.dead, from, "-1" };
    size_t lens[] = { 6, strlen(p->keys.dead), strlen(from), 2 };
    int rc = rlink_command(&c->q, 4, argv, lens, on_lrange, s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    p->dlq_spilling = true;
    return 0;
}
