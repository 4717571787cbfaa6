/* Spool files: one per producer process, flock'ed while open, adopted by a
 * later producer when their owner died (spool_adopt.c); records checked as
 * spool_scan.c and spool_format.c say. See spool.h and producer/README.md. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "spool_internal.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int spool_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

ssize_t spool_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int spool_sync(spool *s, int fd, bool force)
{
    uint64_t now = now_ms();
    if (s->o.fsync == INVQ_FSYNC_NEVER && !force)
        return 0;
    if (s->o.fsync == INVQ_FSYNC_INTERVAL && !force &&
        now - s->last_fsync_ms < (uint64_t)s->o.fsync_interval_ms)
        return 0;
    s->last_fsync_ms = now;
    return fdatasync(fd);
}

void spool_warn(spool *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->warning, sizeof(s->warning), fmt, ap);
    va_end(ap);
    s->events++;
}

void spool_file_free(spool_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd); /* releases the flock */
    free(f->path);
    free(f->holes);
    free(f);
}

int spool_add_file(spool *s, spool_file *f)
{
    spool_file **nf = realloc(s->files, (s->nfiles + 1) * sizeof(*nf));
    if (!nf)
        return errno = ENOMEM, -1;
    s->files = nf;
    s->files[s->nfiles++] = f;
    s->pending_jobs += f->jobs;
    s->pending_bytes += f->end - f->committed;
    return 0;
}

void spool_remove_file(spool *s, size_t i)
{
    spool_file *f = s->files[i];
    s->pending_jobs -= f->jobs;
    s->pending_bytes -= f->end - f->committed;
    if (f == s->own)
        s->own = NULL;
    spool_file_free(f);
    memmove(s->files + i, s->files + i + 1, (s->nfiles - i - 1) * sizeof(*s->files));
    s->nfiles--;
}

int spool_leave_alone(spool *s, const char *path)
{
    char **nl = realloc(s->left_alone, (s->nleft_alone + 1) * sizeof(*nl));
    if (!nl)
        return errno = ENOMEM, -1;
    s->left_alone = nl;
    if (!(nl[s->nleft_alone] = strdup(path)))
        return errno = ENOMEM, -1;
    s->nleft_alone++;
    return 0;
}

bool spool_knows(const spool *s, const char *path)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i]->path, path) == 0)
            return true;
    for (size_t i = 0; i < s->nleft_alone; i++)
        if (strcmp(s->left_alone[i], path) == 0)
            return true;
    return false;
}

/* Writes f's committed offset into its header (and syncs per policy, or
 * always when force). */
static int write_committed(spool *s, spool_file *f, bool force)
{
    uint8_t b[SPOOL_HEADER_MAX];
    uint64_t off;
    size_t len;
    spool_commit_encode(&f->fmt, f->committed, f->header_trusted, b, &off, &len);
    if (spool_pwrite_all(f->fd, b, len, off) < 0)
        return -1;
    return spool_sync(s, f->fd, force);
}

int spool_open(const spool_opts *o, spool **out, char *err, size_t errlen)
{
    spool *s;
    int rc;
    *out = NULL;
    if (!o->dir || !*o->dir)
        return err_set(err, errlen, INVQ_EINVAL, "spool dir is empty");
    if (mkdir(o->dir, 0700) < 0 && errno != EEXIST)
        return err_set(err, errlen, INVQ_ESPOOL, "spool dir %s: %s", o->dir, strerror(errno));
    if (!(s = calloc(1, sizeof(*s))) || !(s->dir = strdup(o->dir))) {
        free(s);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    s->o = *o;
    s->o.dir = s->dir;
    if ((rc = spool_adopt_orphans(s, err, errlen)) < 0) {
        spool_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Creates this process's file: made under a .tmp name, locked, given its
 * header, then renamed, so adopters never see an unlocked live file. */
static int create_own(spool *s, char *err, size_t errlen)
{
    uint8_t rnd[4 + SPOOL_SALT_LEN], hdr[SPOOL_HEADER_MAX];
    char tmp[4096], path[4096];
    spool_format fmt;
    spool_file *f;
    int fd;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return err_set(err, errlen, INVQ_ESPOOL, "getrandom: %s", strerror(errno));
    spool_format_v2(&fmt, rnd + 4);
    snprintf(path, sizeof(path), "%s/invq-%ld-%02x%02x%02x%02x.spool", s->dir, (long)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(tmp, sizeof(tmp), "%.*s.tmp", (int)(strlen(path) - 6), path);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errlen, INVQ_ESPOOL, "spool create %s: %s", tmp, strerror(errno));
    spool_header_encode(&fmt, fmt.header_len, hdr);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || spool_pwrite_all(fd, hdr, fmt.header_len, 0) < 0 ||
        spool_sync(s, fd, false) < 0 || rename(tmp, path) < 0) {
        int rc = err_set(err, errlen, INVQ_ESPOOL, "spool create %s: %s", path, strerror(errno));
        unlink(tmp);
        close(fd);
        return rc;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path)) || spool_add_file(s, f) < 0) {
        if (f)
            free(f->path);
        free(f);
        unlink(path);
        close(fd);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    f->fd = fd;
    f->fmt = fmt;
    f->header_trusted = true;
    f->own = true;
    f->committed = f->end = fmt.header_len;
    s->own = f;
    return 0;
}

int spool_append(spool *s, const uint8_t *const *payloads, const size_t *lens, size_t n,
                 char *err, size_t errlen)
{
    uint64_t size = 0;
    uint8_t *buf, *p;
    int rc;

    for (size_t i = 0; i < n; i++) {
        if (lens[i] > s->o.max_record)
            return err_set(err, errlen, INVQ_ELIMIT, "spool: record of %zu bytes over the limit", lens[i]);
        size += SPOOL_RECORD_HEADER_MAX + lens[i];
    }
    if (s->pending_bytes + size > s->o.max_bytes)
        return err_set(err, errlen, INVQ_ESPOOLFULL,
                       "spool full: %llu bytes held, %llu more would pass spool_max_bytes %llu",
                       (unsigned long long)s->pending_bytes, (unsigned long long)size,
                       (unsigned long long)s->o.max_bytes);
    if (!s->own && (rc = create_own(s, err, errlen)) < 0)
        return rc;
    if (!(buf = malloc(size)))
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    p = buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t rh = s->own->fmt.rec_header;
        spool_frame_encode(&s->own->fmt, s->own->end + (uint64_t)(p - buf), payloads[i], (uint32_t)lens[i], p);
        memcpy(p + rh, payloads[i], lens[i]);
        p += rh + lens[i];
    }
    size = (uint64_t)(p - buf);
    if (spool_pwrite_all(s->own->fd, buf, size, s->own->end) < 0 || spool_sync(s, s->own->fd, false) < 0) {
        rc = err_set(err, errlen, INVQ_ESPOOL, "spool write %s: %s", s->own->path, strerror(errno));
        if (ftruncate(s->own->fd, (off_t)s->own->end) < 0)
            spool_warn(s, "spool %s: rollback failed: %s", s->own->path, strerror(errno));
        free(buf);
        return rc;
    }
    free(buf);
    s->own->end += size;
    s->own->jobs += n;
    s->pending_jobs += n;
    s->pending_bytes += size;
    return 0;
}

/* Re-checks f from its committed offset after damage found while reading it
 * (bit rot since it was scanned, or in this process's own file): damage
 * becomes a hole or a cut tail, as at adoption, and the counters follow. */
static int rescan_file(spool *s, spool_file *f)
{
    uint64_t jobs = f->jobs, bytes = f->end - f->committed;
    if (spool_scan_file(s, f, f->end) < 0)
        return -1;
    s->pending_jobs = s->pending_jobs - jobs + f->jobs;
    s->pending_bytes = s->pending_bytes - bytes + (f->end - f->committed);
    return 0;
}

/* An adopted file that can no longer be read: released and left on disk
 * for a later producer, instead of stopping every replay after it. */
static void give_up_file(spool *s, size_t i, const char *what)
{
    spool_file *f = s->files[i];
    s->skipped_files++;
    spool_warn(s, "spool %s: %s; released, its %llu unreplayed job(s) stay on disk", f->path, what,
               (unsigned long long)f->jobs);
    if (spool_leave_alone(s, f->path) < 0) {
        /* Out of memory: the next scan may try the file again, harmless. */
    }
    spool_remove_file(s, i);
}

/* A replayed adopted file holds nothing more: removed; when it cannot be,
 * emptied (truncated to its header, synced) so that no producer replays it
 * again; when even that fails, kept locked and unread until close, and
 * reported: the next producer will replay it (at least once, loudly). */
static void finish_adopted(spool *s, size_t i)
{
    spool_file *f = s->files[i];
    char why[160];
    if (unlink(f->path) == 0 || errno == ENOENT) {
        spool_remove_file(s, i);
        return;
    }
    snprintf(why, sizeof(why), "%s", strerror(errno));
    s->unremovable++;
    f->committed = f->end = f->fmt.header_len;
    f->nholes = 0;
    if (ftruncate(f->fd, (off_t)f->fmt.header_len) == 0 && write_committed(s, f, true) == 0) {
        spool_warn(s, "spool %s: replayed, but cannot be removed (%s); emptied instead, so it is never "
                   "replayed again", f->path, why);
        if (spool_leave_alone(s, f->path) == 0) {
            spool_remove_file(s, i);
            return;
        }
    } else {
        spool_warn(s, "spool %s: replayed, but can neither be removed (%s) nor emptied (%s): the next "
                   "producer to adopt it replays its jobs again", f->path, why, strerror(errno));
    }
    f->done = true; /* stays locked, counted as nothing */
}

/* Checks the records of c->buf (read from f at f->committed); stops at the
 * first damaged one. Returns the bytes of whole valid records (c->n set),
 * and *damaged. */
static uint64_t chunk_records(spool *s, spool_file *f, spool_chunk *c, uint64_t want, uint64_t limit,
                              size_t max_jobs, bool *damaged)
{
    uint64_t off = 0;
    uint32_t rh = f->fmt.rec_header;
    *damaged = false;
    while (c->n < max_jobs && want - off >= rh) {
        const uint8_t *h = c->buf + off;
        uint32_t len;
        bool trusted;
        const char *why;
        if (spool_frame_check(&f->fmt, f->committed + off, h, s->o.max_record, &len, &trusted, &why) != 0) {
            *damaged = true;
            break;
        }
        if (want - off - rh < len) {
            if (f->committed + off + rh + len <= limit)
                break; /* complete on disk, just past this chunk */
            *damaged = true;
            break;
        }
        if (!spool_payload_ok(h, h + rh, len)) {
            *damaged = true;
            break; /* records before it go out; the next peek resynchronises */
        }
        c->payloads[c->n] = h + rh;
        c->lens[c->n] = len;
        c->n++;
        off += rh + len;
    }
    return off;
}

/* A read of files[i] failed (why): an error for this process's own file;
 * an adopted one is given up and the peek goes on with the next file. */
static int read_failed(spool *s, size_t i, spool_chunk *c, const char *why, size_t max_jobs, size_t max_bytes,
                       char *err, size_t errlen)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "read failed: %s", why);
    spool_chunk_deinit(c);
    if (s->files[i]->own)
        return err_set(err, errlen, INVQ_ESPOOL, "spool %s: %s", s->files[i]->path, msg);
    give_up_file(s, i, msg);
    return spool_peek(s, c, max_jobs, max_bytes, err, errlen);
}

int spool_peek(spool *s, spool_chunk *c, size_t max_jobs, size_t max_bytes, char *err, size_t errlen)
{
    spool_file *f = NULL;
    uint64_t want, off, limit, maxrec;
    bool damaged = false;
    size_t i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < s->nfiles; i++)
        if (s->files[i]->jobs > 0 && !s->files[i]->done) {
            f = s->files[i];
            break;
        }
    if (!f)
        return 0;
    /* Damaged bytes at the replay position are stepped over (they hold no
     * record); the offset is persisted with the next commit. */
    while (f->nholes > 0 && f->holes[0][0] <= f->committed) {
        s->pending_bytes -= f->holes[0][1] - f->committed;
        f->committed = f->holes[0][1];
        f->nholes--;
        memmove(f->holes, f->holes + 1, f->nholes * sizeof(*f->holes));
    }
    limit = f->nholes > 0 ? f->holes[0][0] : f->end; /* a chunk never spans a hole */
    maxrec = f->fmt.rec_header + s->o.max_record;
    want = limit - f->committed;
    if (want > max_bytes)
        want = max_bytes > maxrec ? max_bytes : maxrec;
    if (want > limit - f->committed)
        want = limit - f->committed;
    c->file = i;
    c->start = f->committed;
    if (!(c->buf = malloc(want ? want : 1)) || !(c->payloads = malloc(max_jobs * sizeof(*c->payloads))) ||
        !(c->lens = malloc(max_jobs * sizeof(*c->lens)))) {
        spool_chunk_deinit(c);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    ssize_t got = spool_pread_all(f->fd, c->buf, want, f->committed);
    if (got != (ssize_t)want)
        return read_failed(s, i, c, got < 0 ? strerror(errno) : "file shorter than its records", max_jobs,
                           max_bytes, err, errlen);
    off = chunk_records(s, f, c, want, limit, max_jobs, &damaged);
    if (c->n == 0 && f->committed + off < limit && (damaged || want - off < f->fmt.rec_header) &&
        rescan_file(s, f) < 0) {
        if (errno == ENOMEM) {
            spool_chunk_deinit(c);
            return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
        }
        return read_failed(s, i, c, strerror(errno), max_jobs, max_bytes, err, errlen);
    }
    c->end = f->committed + off;
    if (c->n == 0) {
        spool_chunk_deinit(c);
        if (f->jobs == 0 && !f->own)
            finish_adopted(s, i);
        return spool_pending(s) > 0 ? spool_peek(s, c, max_jobs, max_bytes, err, errlen) : 0;
    }
    return (int)c->n;
}

int spool_commit(spool *s, const spool_chunk *c, char *err, size_t errlen)
{
    spool_file *f;
    if (c->file >= s->nfiles)
        return err_set(err, errlen, INVQ_EINVAL, "spool commit: stale chunk");
    f = s->files[c->file];
    if (f->committed != c->start)
        return err_set(err, errlen, INVQ_EINVAL, "spool commit: chunk out of order");
    f->committed = c->end;
    f->jobs -= c->n;
    s->pending_jobs -= c->n;
    s->pending_bytes -= c->end - c->start;
    s->replayed += c->n;
    if (f->jobs == 0 && !f->own) {
        finish_adopted(s, c->file);
        return 0;
    }
    if (f->jobs == 0) {
        /* Own file fully replayed: empty it, then record the reset offset. */
        f->committed = f->end = f->fmt.header_len;
        f->nholes = 0;
        if (ftruncate(f->fd, (off_t)f->fmt.header_len) < 0)
            return err_set(err, errlen, INVQ_ESPOOL, "spool truncate %s: %s", f->path, strerror(errno));
    }
    if (write_committed(s, f, false) < 0)
        return err_set(err, errlen, INVQ_ESPOOL, "spool commit %s: %s", f->path, strerror(errno));
    return 0;
}

void spool_chunk_deinit(spool_chunk *c)
{
    free(c->buf);
    free(c->payloads);
    free(c->lens);
    memset(c, 0, sizeof(*c));
}

uint64_t spool_pending(const spool *s)
{
    return s->pending_jobs;
}

void spool_stats(const spool *s, invq_spool_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!s)
        return;
    st->pending_jobs = s->pending_jobs;
    st->pending_bytes = s->pending_bytes;
    st->replayed_jobs = s->replayed;
    st->torn_records = s->torn;
    st->skipped_bytes = s->skipped_bytes;
    st->adopted_files = s->adopted;
    st->skipped_files = s->skipped_files;
    st->damaged_headers = s->damaged_headers;
    st->unremovable_files = s->unremovable;
}

const char *spool_warning(const spool *s)
{
    return s->warning;
}

uint64_t spool_events(const spool *s)
{
    return s->events;
}

const char *spool_own_path(const spool *s)
{
    return s->own ? s->own->path : NULL;
}

void spool_close(spool *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        spool_file *f = s->files[i];
        if (f->own && f->jobs == 0)
            unlink(f->path);
        else if (f->own && s->o.fsync != INVQ_FSYNC_NEVER)
            (void)fdatasync(f->fd);
        spool_file_free(f);
    }
    for (size_t i = 0; i < s->nleft_alone; i++)
        free(s->left_alone[i]);
    free(s->left_alone);
    free(s->files);
    free(s->dir);
    free(s);
}
