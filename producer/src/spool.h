/* The producer's local spool: jobs that could not reach Redis, appended to a
 * file of checksummed record frames (spool_format.h) and replayed in order
 * once Redis is back. Format, fsync policy, locking, adoption and crash
 * behaviour are described in producer/README.md ("The spool"). */
#ifndef INVQ_PRODUCER_SPOOL_H
#define INVQ_PRODUCER_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <invq/invq.h>

typedef struct spool spool;

typedef struct spool_opts {
    const char *dir;            /* borrowed; created (0700) when missing */
    uint64_t max_bytes;         /* bound on unconfirmed record bytes */
    invq_fsync_policy fsync;
    int fsync_interval_ms;
    size_t max_record;          /* payload bytes above this are damage */
} spool_opts;

/* A run of consecutive records from one file, read for replay. Payload
 * pointers point into `buf`; everything is owned by the chunk. */
typedef struct spool_chunk {
    uint8_t *buf;
    const uint8_t **payloads;
    size_t *lens;
    size_t n;
    size_t file;      /* index of the file it came from */
    uint64_t start;   /* file offsets covered */
    uint64_t end;
} spool_chunk;

/* Opens the spool in o->dir and adopts every orphaned spool file there
 * (files of dead processes, recognised by a flock we can take); entries it
 * cannot use are left alone and reported (spool_warning()), never an
 * error. Returns 0 and *out (free with spool_close()), or INVQ_EINVAL /
 * INVQ_ESPOOL (the directory itself is unusable) / INVQ_ENOMEM with err. */
int spool_open(const spool_opts *o, spool **out, char *err, size_t errlen);

/* Syncs and closes; this process's file is removed when it is empty, else it
 * is left for the next producer to adopt. NULL is fine. */
void spool_close(spool *s);

/* Appends n records, all or none. Returns 0, INVQ_ESPOOLFULL (would pass
 * max_bytes; nothing written) or INVQ_ESPOOL (I/O error, file rolled back). */
int spool_append(spool *s, const uint8_t *const *payloads, const size_t *lens, size_t n,
                 char *err, size_t errlen);

/* Reads the oldest unconfirmed records (at most max_jobs, about max_bytes)
 * into c. Returns the number read (0: spool empty) or INVQ_ESPOOL (this
 * process's own file cannot be read) / INVQ_ENOMEM. A damaged record is
 * skipped: replay resynchronises at the next intact frame (a torn tail is
 * cut off). Either way it is counted in torn_records / skipped_bytes and
 * described by spool_warning(). A chunk never spans damaged bytes. An
 * adopted file that can no longer be read is released (left on disk,
 * counted in skipped_files) and replay goes on with the next. */
int spool_peek(spool *s, spool_chunk *c, size_t max_jobs, size_t max_bytes, char *err, size_t errlen);

/* Marks c's records confirmed by Redis (advances the file's committed offset;
 * a fully replayed file is truncated, or removed when adopted; an adopted
 * file that cannot be removed is emptied instead and counted in
 * unremovable_files). */
int spool_commit(spool *s, const spool_chunk *c, char *err, size_t errlen);

void spool_chunk_deinit(spool_chunk *c);

/* Unconfirmed jobs right now. */
uint64_t spool_pending(const spool *s);

/* Re-scans the directory for orphans (e.g. from an explicit flush). Returns
 * 0, or INVQ_ESPOOL (the directory cannot be read) / INVQ_ENOMEM. */
int spool_adopt_orphans(spool *s, char *err, size_t errlen);

void spool_stats(const spool *s, invq_spool_stats *st);

/* The last problem met (a damaged record, an entry left alone, a file that
 * cannot be removed, ...), "" when none. It stays until a newer problem
 * replaces it. Borrowed, valid until spool_close(). */
const char *spool_warning(const spool *s);

/* How many problems were reported so far: a change means spool_warning()
 * holds a new one. */
uint64_t spool_events(const spool *s);

/* Path of this process's spool file, NULL until the first append. */
const char *spool_own_path(const spool *s);

#endif
