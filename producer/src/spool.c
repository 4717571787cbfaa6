/* Spool files: one per producer process, flock'ed while open, adopted by a
 * later producer when their owner died. See spool.h and producer/README.md. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"

static const char header_magic[8] = { 'I', 'N', 'V', 'Q', 'S', 'P', 'L', '1' };

typedef struct spool_file {
    int fd;
    char *path;
    uint64_t committed; /* records before this offset are confirmed */
    uint64_t end;       /* end of the last valid record */
    uint64_t jobs;      /* records in [committed, end) */
    uint64_t (*holes)[2]; /* damaged [start, end) ranges past committed, in order */
    size_t nholes;
    bool own;
} spool_file;

struct spool {
    char *dir;
    spool_opts o;
    spool_file **files; /* adopted files, then this process's own once created */
    size_t nfiles;
    spool_file *own;
    uint64_t pending_jobs;
    uint64_t pending_bytes;
    uint64_t replayed;
    uint64_t torn;
    uint64_t skipped_bytes;
    uint64_t adopted;
    uint64_t last_fsync_ms;
    char warning[300];
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
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

static ssize_t pread_all(int fd, void *buf, size_t len, uint64_t off)
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

/* fsync per policy; force for the moments that must be durable regardless. */
static int sync_file(spool *s, int fd, bool force)
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

static int write_committed(spool *s, spool_file *f)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(f->committed >> (8 * i));
    if (pwrite_all(f->fd, b, 8, 8) < 0)
        return -1;
    return sync_file(s, f->fd, false);
}

static void file_free(spool_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd); /* releases the flock */
    free(f->path);
    free(f->holes);
    free(f);
}

static void warn(spool *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(spool *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->warning, sizeof(s->warning), fmt, ap);
    va_end(ap);
}

/* Checks the frame at off (file size `size`): 0 valid (*len set), 1 damaged
 * (*why set), -1 I/O or memory error. buf and cap: a reusable buffer. */
static int check_frame(spool *s, int fd, uint64_t off, uint64_t size, uint8_t **buf, size_t *cap,
                       uint32_t *len, const char **why)
{
    uint8_t hdr[SPOOL_RECORD_HEADER];

    if (size - off < SPOOL_RECORD_HEADER)
        return *why = "record header cut short", 1;
    if (pread_all(fd, hdr, sizeof(hdr), off) != (ssize_t)sizeof(hdr))
        return -1;
    *len = get32(hdr + 4);
    if (get32(hdr) != SPOOL_RECORD_MAGIC)
        return *why = "bad record magic", 1;
    if (*len > s->o.max_record)
        return *why = "record length over the payload limit", 1;
    if (size - off - SPOOL_RECORD_HEADER < *len)
        return *why = "record cut short", 1;
    if (*len > *cap) {
        uint8_t *nb = realloc(*buf, *len);
        if (!nb)
            return -1;
        *buf = nb, *cap = *len;
    }
    if (pread_all(fd, *buf, *len, off + SPOOL_RECORD_HEADER) != (ssize_t)*len)
        return -1;
    if (crc32c(*buf, *len) != get32(hdr + 8))
        return *why = "record checksum mismatch", 1;
    return 0;
}

/* Resynchronises after damage at `from`: the offset of the next complete,
 * valid frame (magic, length within the file, CRC) after it, or `size` when
 * none follows. Candidates are found by scanning for the magic byte by byte. */
static int find_next_frame(spool *s, int fd, uint64_t from, uint64_t size, uint8_t **buf,
                           size_t *cap, uint64_t *next)
{
    uint8_t win[4096];
    uint64_t base = from + 1;

    while (size - base >= SPOOL_RECORD_HEADER) {
        size_t n = size - base > sizeof(win) ? sizeof(win) : (size_t)(size - base);
        if (pread_all(fd, win, n, base) != (ssize_t)n)
            return -1;
        for (size_t i = 0; i + 4 <= n; i++) {
            uint32_t len;
            const char *why;
            int rc;
            if (get32(win + i) != SPOOL_RECORD_MAGIC)
                continue;
            if ((rc = check_frame(s, fd, base + i, size, buf, cap, &len, &why)) < 0)
                return -1;
            if (rc == 0) {
                *next = base + i;
                return 0;
            }
        }
        base += n - 3; /* a magic may straddle the window's end */
    }
    *next = size;
    return 0;
}

static int add_hole(spool_file *f, uint64_t start, uint64_t end)
{
    uint64_t (*nh)[2] = realloc(f->holes, (f->nholes + 1) * sizeof(*nh));
    if (!nh)
        return -1;
    f->holes = nh;
    f->holes[f->nholes][0] = start;
    f->holes[f->nholes][1] = end;
    f->nholes++;
    return 0;
}

/* Walks the records of f from its committed offset, counting valid ones.
 * Damage followed by an intact record becomes a hole, skipped on replay;
 * damage with nothing intact after it (a torn tail) is cut off. */
static int scan_file(spool *s, spool_file *f, uint64_t size)
{
    uint64_t off = f->committed;
    uint8_t *buf = NULL;
    size_t cap = 0;

    f->jobs = 0;
    f->nholes = 0;
    while (off < size) {
        const char *why = NULL;
        uint32_t len = 0;
        uint64_t next;
        int rc = check_frame(s, f->fd, off, size, &buf, &cap, &len, &why);
        if (rc < 0 || (rc > 0 && find_next_frame(s, f->fd, off, size, &buf, &cap, &next) < 0)) {
            free(buf);
            return -1;
        }
        if (rc == 0) {
            off += SPOOL_RECORD_HEADER + len;
            f->jobs++;
            continue;
        }
        s->torn++;
        s->skipped_bytes += next - off;
        if (next < size) {
            warn(s, "spool %s: damaged record at offset %llu (%s), %llu bytes skipped, "
                 "replay resumes at offset %llu", f->path, (unsigned long long)off, why,
                 (unsigned long long)(next - off), (unsigned long long)next);
            if (add_hole(f, off, next) < 0) {
                free(buf);
                return -1;
            }
            off = next;
            continue;
        }
        warn(s, "spool %s: torn record at offset %llu (%s), %llu bytes skipped",
             f->path, (unsigned long long)off, why, (unsigned long long)(size - off));
        if (ftruncate(f->fd, (off_t)off) < 0) {
            free(buf);
            return -1;
        }
        break;
    }
    free(buf);
    f->end = off;
    return 0;
}

static int add_file(spool *s, spool_file *f)
{
    spool_file **nf = realloc(s->files, (s->nfiles + 1) * sizeof(*nf));
    if (!nf)
        return -1;
    s->files = nf;
    s->files[s->nfiles++] = f;
    s->pending_jobs += f->jobs;
    s->pending_bytes += f->end - f->committed;
    return 0;
}

static bool is_adopted_already(const spool *s, const char *path)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i]->path, path) == 0)
            return true;
    return false;
}

/* Takes over one orphan: 1 adopted, 0 skipped (alive owner, empty), < 0 error. */
static int adopt_one(spool *s, const char *path, bool tmp)
{
    struct stat st;
    uint8_t hdr[SPOOL_HEADER_LEN];
    spool_file *f;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return errno == EWOULDBLOCK ? 0 : -1;
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    if (st.st_nlink == 0 || tmp) {
        /* Removed meanwhile, or a file whose creation never finished (old
         * enough that its creator cannot be between open() and flock()). */
        if (tmp && st.st_nlink > 0 && time(NULL) - st.st_mtime > 60)
            unlink(path);
        close(fd);
        return 0;
    }
    if (pread_all(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        memcmp(hdr, header_magic, sizeof(header_magic)) != 0) {
        s->torn++;
        warn(s, "spool %s: not a spool file (bad header), left alone", path);
        close(fd);
        return 0;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->committed = 0;
    for (int i = 0; i < 8; i++)
        f->committed |= (uint64_t)hdr[8 + i] << (8 * i);
    if (f->committed < SPOOL_HEADER_LEN || f->committed > (uint64_t)st.st_size)
        f->committed = SPOOL_HEADER_LEN; /* damaged offset: replay all (at least once) */
    if (scan_file(s, f, (uint64_t)st.st_size) < 0) {
        file_free(f);
        return -1;
    }
    if (f->jobs == 0) {
        unlink(path);
        file_free(f);
        return 0;
    }
    if (add_file(s, f) < 0) {
        file_free(f);
        return -1;
    }
    s->adopted++;
    return 1;
}

int spool_adopt_orphans(spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    if (!d)
        return err_set(err, errlen, INVQ_ESPOOL, "spool dir %s: %s", s->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        bool spl = n > 11 && strncmp(e->d_name, "invq-", 5) == 0 && strcmp(e->d_name + n - 6, ".spool") == 0;
        bool tmp = n > 9 && strncmp(e->d_name, "invq-", 5) == 0 && strcmp(e->d_name + n - 4, ".tmp") == 0;
        char path[4096];
        if (!spl && !tmp)
            continue;
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        if ((s->own && strcmp(path, s->own->path) == 0) || is_adopted_already(s, path))
            continue;
        if (adopt_one(s, path, tmp) < 0) {
            int rc = err_set(err, errlen, INVQ_ESPOOL, "spool adopt %s: %s", path, strerror(errno));
            closedir(d);
            return rc;
        }
    }
    closedir(d);
    return 0;
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
    uint8_t rnd[4], hdr[SPOOL_HEADER_LEN];
    char tmp[4096], path[4096];
    spool_file *f;
    int fd;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return err_set(err, errlen, INVQ_ESPOOL, "getrandom: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/invq-%ld-%02x%02x%02x%02x.spool", s->dir, (long)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(tmp, sizeof(tmp), "%.*s.tmp", (int)(strlen(path) - 6), path);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errlen, INVQ_ESPOOL, "spool create %s: %s", tmp, strerror(errno));
    memcpy(hdr, header_magic, 8);
    for (int i = 0; i < 8; i++)
        hdr[8 + i] = (uint8_t)((uint64_t)SPOOL_HEADER_LEN >> (8 * i));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || pwrite_all(fd, hdr, sizeof(hdr), 0) < 0 ||
        sync_file(s, fd, false) < 0 || rename(tmp, path) < 0) {
        int rc = err_set(err, errlen, INVQ_ESPOOL, "spool create %s: %s", path, strerror(errno));
        unlink(tmp);
        close(fd);
        return rc;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path)) || add_file(s, f) < 0) {
        if (f)
            free(f->path);
        free(f);
        unlink(path);
        close(fd);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    f->fd = fd;
    f->own = true;
    f->committed = f->end = SPOOL_HEADER_LEN;
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
        size += SPOOL_RECORD_HEADER + lens[i];
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
        put32(p, SPOOL_RECORD_MAGIC);
        put32(p + 4, (uint32_t)lens[i]);
        put32(p + 8, crc32c(payloads[i], lens[i]));
        memcpy(p + SPOOL_RECORD_HEADER, payloads[i], lens[i]);
        p += SPOOL_RECORD_HEADER + lens[i];
    }
    if (pwrite_all(s->own->fd, buf, size, s->own->end) < 0 || sync_file(s, s->own->fd, false) < 0) {
        rc = err_set(err, errlen, INVQ_ESPOOL, "spool write %s: %s", s->own->path, strerror(errno));
        if (ftruncate(s->own->fd, (off_t)s->own->end) < 0)
            warn(s, "spool %s: rollback failed: %s", s->own->path, strerror(errno));
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
 * becomes a hole or a cut tail, as in scan_file, and the counters follow. */
static int rescan_file(spool *s, spool_file *f)
{
    uint64_t jobs = f->jobs, bytes = f->end - f->committed;
    if (scan_file(s, f, f->end) < 0)
        return -1;
    s->pending_jobs = s->pending_jobs - jobs + f->jobs;
    s->pending_bytes = s->pending_bytes - bytes + (f->end - f->committed);
    return 0;
}

int spool_peek(spool *s, spool_chunk *c, size_t max_jobs, size_t max_bytes, char *err, size_t errlen)
{
    spool_file *f = NULL;
    uint64_t want, off, limit;
    bool damaged = false;
    size_t i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < s->nfiles; i++)
        if (s->files[i]->jobs > 0) {
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
    want = limit - f->committed;
    if (want > max_bytes)
        want = max_bytes > SPOOL_RECORD_HEADER + s->o.max_record ? max_bytes
                                                                 : SPOOL_RECORD_HEADER + s->o.max_record;
    if (want > limit - f->committed)
        want = limit - f->committed;
    c->file = i;
    c->start = f->committed;
    if (!(c->buf = malloc(want ? want : 1)) || !(c->payloads = malloc(max_jobs * sizeof(*c->payloads))) ||
        !(c->lens = malloc(max_jobs * sizeof(*c->lens)))) {
        spool_chunk_deinit(c);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    if (pread_all(f->fd, c->buf, want, f->committed) != (ssize_t)want) {
        spool_chunk_deinit(c);
        return err_set(err, errlen, INVQ_ESPOOL, "spool read %s: %s", f->path, strerror(errno));
    }
    off = 0;
    while (c->n < max_jobs && want - off >= SPOOL_RECORD_HEADER) {
        const uint8_t *h = c->buf + off;
        uint32_t len = get32(h + 4);
        if (get32(h) != SPOOL_RECORD_MAGIC || len > s->o.max_record)
            damaged = true;
        else if (want - off - SPOOL_RECORD_HEADER < len) {
            if (f->committed + off + SPOOL_RECORD_HEADER + len <= limit)
                break; /* complete on disk, just past this chunk */
            damaged = true;
        } else if (crc32c(h + SPOOL_RECORD_HEADER, len) != get32(h + 8))
            damaged = true;
        if (damaged)
            break; /* records before it go out; the next peek resynchronises */
        c->payloads[c->n] = h + SPOOL_RECORD_HEADER;
        c->lens[c->n] = len;
        c->n++;
        off += SPOOL_RECORD_HEADER + len;
    }
    if (c->n == 0 && f->committed + off < limit && (damaged || want - off < SPOOL_RECORD_HEADER) &&
        rescan_file(s, f) < 0) {
        spool_chunk_deinit(c);
        return err_set(err, errlen, INVQ_ESPOOL, "spool read %s: %s", f->path, strerror(errno));
    }
    c->end = f->committed + off;
    if (c->n == 0) {
        spool_chunk_deinit(c);
        if (f->jobs == 0 && !f->own) {
            unlink(f->path);
            file_free(f);
            memmove(s->files + i, s->files + i + 1, (s->nfiles - i - 1) * sizeof(*s->files));
            s->nfiles--;
        }
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
        unlink(f->path);
        file_free(f);
        memmove(s->files + c->file, s->files + c->file + 1, (s->nfiles - c->file - 1) * sizeof(*s->files));
        s->nfiles--;
        return 0;
    }
    if (f->jobs == 0) {
        /* Own file fully replayed: empty it, then record the reset offset. */
        f->committed = f->end = SPOOL_HEADER_LEN;
        f->nholes = 0;
        if (ftruncate(f->fd, (off_t)SPOOL_HEADER_LEN) < 0)
            return err_set(err, errlen, INVQ_ESPOOL, "spool truncate %s: %s", f->path, strerror(errno));
    }
    if (write_committed(s, f) < 0)
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
}

const char *spool_warning(const spool *s)
{
    return s->warning;
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
        file_free(f);
    }
    free(s->files);
    free(s->dir);
    free(s);
}
