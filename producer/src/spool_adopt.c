/* Adopting orphaned spool files: files named like spool files in the spool
 * directory whose flock can be taken (their producer is gone). Whatever
 * cannot be used is left alone and reported; the rest is checked and
 * queued for replay (producer/README.md, "Several producers on one host"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "spool_internal.h"

/* Adoption outcomes. */
enum { ADOPT_NOTHING = 0, ADOPT_TAKEN = 1, ADOPT_LEFT_ALONE = 2 };

/* Reports an entry adoption cannot use and remembers to leave it alone.
 * Returns ADOPT_LEFT_ALONE, or -1 (ENOMEM). */
static int left_alone(spool *s, const char *path, int fd, const char *what)
{
    if (fd >= 0)
        close(fd);
    s->skipped_files++;
    spool_warn(s, "spool %s: %s; left alone, nothing replayed from it", path, what);
    return spool_leave_alone(s, path) < 0 ? -1 : ADOPT_LEFT_ALONE;
}

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISLNK(m))
        return "a symbolic link";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

/* Opens path for adoption without following links or blocking: the fd, or
 * -1 (errno). */
static int open_entry(const char *path)
{
    return open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
}

/* A fully replayed (or empty) orphan: removed, or when that fails, left
 * alone (it holds nothing to replay). Returns ADOPT_NOTHING, ADOPT_LEFT_ALONE
 * or -1 (ENOMEM). */
static int drop_empty(spool *s, const char *path, int fd)
{
    if (unlink(path) == 0 || errno == ENOENT) {
        close(fd);
        return ADOPT_NOTHING;
    }
    char msg[200];
    snprintf(msg, sizeof(msg), "holds no records to replay but cannot be removed (%s)", strerror(errno));
    close(fd);
    s->unremovable++;
    spool_warn(s, "spool %s: %s; left in place", path, msg);
    return spool_leave_alone(s, path) < 0 ? -1 : ADOPT_LEFT_ALONE;
}

/* Takes over one orphan. Returns ADOPT_*, or -1 (ENOMEM: the only failure
 * that is not about this one file). */
static int adopt_one(spool *s, const char *path, bool tmp)
{
    struct stat st;
    uint8_t hdr[SPOOL_HEADER_MAX];
    spool_format fmt;
    uint64_t committed = 0;
    int version = 0;
    char msg[200];
    spool_file *f;
    int fd;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? ADOPT_NOTHING : left_alone(s, path, -1, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return left_alone(s, path, -1, file_kind(st.st_mode));
    if (st.st_uid != geteuid()) {
        snprintf(msg, sizeof(msg), "owned by uid %ld, not by this process (uid %ld)", (long)st.st_uid,
                 (long)geteuid());
        return left_alone(s, path, -1, msg);
    }
    if ((fd = open_entry(path)) < 0) {
        if (errno == ENOENT)
            return ADOPT_NOTHING;
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        return left_alone(s, path, -1, msg);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return ADOPT_NOTHING; /* a live producer's file */
        snprintf(msg, sizeof(msg), "cannot lock: %s", strerror(e));
        return left_alone(s, path, -1, msg);
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        /* Replaced between lstat and open: look again on the next scan. */
        close(fd);
        return ADOPT_NOTHING;
    }
    if (st.st_nlink == 0 || tmp) {
        /* Removed meanwhile, or a file whose creation never finished (old
         * enough that its creator cannot be between open() and flock()). */
        if (tmp && st.st_nlink > 0 && time(NULL) - st.st_mtime > 60)
            unlink(path);
        close(fd);
        return ADOPT_NOTHING;
    }
    ssize_t got = spool_pread_all(fd, hdr, sizeof(hdr), 0);
    if (got < 0) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        return left_alone(s, path, fd, msg);
    }
    if (got == 0)
        return drop_empty(s, path, fd); /* e.g. a header lost to a power cut: nothing in it */
    switch (spool_header_parse(hdr, (size_t)got, &fmt, &committed, &version)) {
    case SPOOL_HDR_FOREIGN:
        return left_alone(s, path, fd, "not a spool file (bad header)");
    case SPOOL_HDR_NEWER:
        snprintf(msg, sizeof(msg), "spool format version %d, newer than this library reads (1..%d)", version,
                 SPOOL_FORMAT_VERSION);
        return left_alone(s, path, fd, msg);
    case SPOOL_HDR_DAMAGED:
        s->damaged_headers++;
        spool_warn(s, "spool %s: header checksum mismatch: its committed offset is not trusted, every "
                   "record is replayed from the first (some may arrive twice)", path);
        committed = fmt.header_len;
        break;
    case SPOOL_HDR_OK:
        break;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return errno = ENOMEM, -1;
    }
    f->fd = fd;
    f->fmt = fmt;
    f->header_trusted = fmt.keyed || fmt.version == 1;
    f->committed = committed;
    if (f->committed < fmt.header_len || f->committed > (uint64_t)st.st_size)
        f->committed = fmt.header_len; /* impossible offset: replay all (at least once) */
    if (spool_scan_file(s, f, (uint64_t)st.st_size) < 0) {
        if (errno == ENOMEM) {
            spool_file_free(f);
            return -1;
        }
        snprintf(msg, sizeof(msg), "cannot read its records: %s", strerror(errno));
        f->fd = -1;
        spool_file_free(f);
        return left_alone(s, path, fd, msg);
    }
    if (f->jobs == 0) {
        f->fd = -1;
        spool_file_free(f);
        return drop_empty(s, path, fd);
    }
    if (spool_add_file(s, f) < 0) {
        spool_file_free(f);
        return -1;
    }
    s->adopted++;
    return ADOPT_TAKEN;
}

static bool is_spool_name(const char *name, bool *tmp)
{
    size_t n = strlen(name);
    if (n <= 9 || strncmp(name, "invq-", 5) != 0)
        return false;
    *tmp = strcmp(name + n - 4, ".tmp") == 0;
    return *tmp || (n > 11 && strcmp(name + n - 6, ".spool") == 0);
}

int spool_adopt_orphans(spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    if (!d)
        return err_set(err, errlen, INVQ_ESPOOL, "spool dir %s: %s", s->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        bool tmp;
        if (!is_spool_name(e->d_name, &tmp))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (spool_knows(s, path))
            continue;
        if (adopt_one(s, path, tmp) < 0) {
            closedir(d);
            return err_set(err, errlen, INVQ_ENOMEM, "spool adopt %s: out of memory", path);
        }
    }
    closedir(d);
    return 0;
}
