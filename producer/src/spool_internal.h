/* What the spool's modules share: the spool and spool-file structs, file
 * I/O helpers, and the record scanner (spool_scan.c) and adoption
 * (spool_adopt.c) that spool.c builds on. Not installed, not for callers
 * of spool.h. */
#ifndef INVQ_PRODUCER_SPOOL_INTERNAL_H
#define INVQ_PRODUCER_SPOOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spool.h"
#include "spool_format.h"

typedef struct spool_file {
    int fd;             /* holds the file's flock while open */
    char *path;
    spool_format fmt;
    bool header_trusted; /* commits may write the v2 header checksum */
    bool salt_seen;     /* a record of a damaged v2 header checked with its salt */
    uint64_t committed; /* records before this offset are confirmed */
    uint64_t end;       /* end of the last valid record */
    uint64_t jobs;      /* records in [committed, end) */
    uint64_t (*holes)[2]; /* damaged [start, end) ranges past committed, in order */
    size_t nholes;
    bool own;
    bool done;          /* replayed, but could neither be removed nor emptied:
                           kept (locked) and never read again */
} spool_file;

struct spool {
    char *dir;
    spool_opts o;
    spool_file **files; /* adopted files, then this process's own once created */
    size_t nfiles;
    spool_file *own;
    char **left_alone;  /* paths adoption will not look at again */
    size_t nleft_alone;
    uint64_t pending_jobs;
    uint64_t pending_bytes;
    uint64_t replayed;
    uint64_t torn;
    uint64_t skipped_bytes;
    uint64_t adopted;
    uint64_t skipped_files;
    uint64_t damaged_headers;
    uint64_t unremovable;
    uint64_t events;    /* problems reported so far (each replaced warning) */
    uint64_t last_fsync_ms;
    char warning[512];
};

/* pwrite/pread that loop over short transfers and EINTR; -1 with errno. */
int spool_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
ssize_t spool_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* fdatasync per the fsync policy; force for the moments that must be
 * durable regardless. 0 or -1 with errno. */
int spool_sync(spool *s, int fd, bool force);

/* Records a problem: the last-error string and the event count. */
void spool_warn(spool *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Closes (releasing the flock) and frees; NULL is fine. */
void spool_file_free(spool_file *f);

/* Appends f to s->files (f stays owned by s) and counts its records as
 * pending. 0 or -1 (ENOMEM). */
int spool_add_file(spool *s, spool_file *f);

/* Takes files[i] out of s (uncounting what it still holds) and frees it. */
void spool_remove_file(spool *s, size_t i);

/* Walks f's records from its committed offset up to size: counts valid
 * ones, turns damage followed by an intact record into a hole, cuts a torn
 * tail (damage with nothing intact after it), and reports each. 0, or -1
 * with errno (an I/O error, ENOMEM). */
int spool_scan_file(spool *s, spool_file *f, uint64_t size);

/* Remembers that adoption leaves path alone from now on. 0 or -1 (ENOMEM). */
int spool_leave_alone(spool *s, const char *path);

/* True when path is one of s's files or left alone. */
bool spool_knows(const spool *s, const char *path);

#endif
