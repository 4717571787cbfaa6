/* Helpers shared by the codec's source files; not for use outside schemas/. */
#ifndef INVQ_CODEC_INTERNAL_H
#define INVQ_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "job.h"
#include "mp_reader.h"

#if defined(__GNUC__) || defined(__clang__)
#define CODEC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CODEC_PRINTF(a, b)
#endif

/* Fills err (which may be NULL) and returns code. */
int codec_err(job_error *err, int code, const char *field, const char *fmt, ...) CODEC_PRINTF(4, 5);

/* Copies up to out_len-1 bytes of a (possibly binary) name, replacing bytes
 * outside printable ASCII with '?', for use in error messages. */
void codec_printable(char *out, size_t out_len, const uint8_t *p, size_t n);

/* True when ptr lies in the job's decode pool (released with the job). */
static inline bool job_pool_owns(const invq_job *job, const void *ptr)
{
    const uint8_t *p = ptr;

    return job->pool != NULL && p >= job->pool && p < job->pool + job->pool_len;
}

/* Frees ptr unless it lives in the job's pool. */
void job_release(const invq_job *job, void *ptr);

/* Resolves lim NULL to the defaults. */
const job_limits *codec_limits(const job_limits *lim, job_limits *storage);

/* Names of the worker-owned top-level fields. */
#define JOB_F_ATTEMPT "attempt"
#define JOB_F_FIRST_FAILED "first_failed_ms"
#define JOB_F_REDO "redo"
#define JOB_F_ERRS "errs"

/* True when the str body names a worker-owned field. */
bool job_is_worker_field(const uint8_t *p, size_t n);

/* Packs the worker-owned entries that are set (attempt > 0,
 * first_failed_ms > 0, redo true, nerrs > 0). Returns 0 or -1 (no memory). */
int job_pack_meta(msgpack_packer *pk, uint64_t attempt, uint64_t first_failed_ms, bool redo,
                  const char *const *errs, size_t nerrs);

/* Number of worker-owned entries job_pack_meta() would write. */
size_t job_meta_count(uint64_t attempt, uint64_t first_failed_ms, bool redo, size_t nerrs);

/* A str key seen in a map, for duplicate detection. */
typedef struct codec_slice {
    const uint8_t *p;
    size_t n;
} codec_slice;

/* Sorts s[0..n) and returns the index of one entry that occurs twice, or -1. */
long codec_find_duplicate(codec_slice *s, size_t n);

/* Reads the n entries of a map whose header `r` has just passed. For each
 * key that equals names[i], pos[i] is set to where its value starts (pos
 * must hold nnames entries, NULL-initialised); other keys are skipped. Keys
 * must be str (else JOB_EWRONGTYPE at `path`) and occur once (else
 * JOB_EDUPLICATE at "path.key"); path NULL means the top level. Leaves `r`
 * after the map. */
int codec_scan_map(mp_reader *r, uint64_t n, const char *const *names, size_t nnames, const uint8_t **pos,
                   const char *path, job_error *err);

/* mp_prescan(buf, len) and, in the same pass, codec_scan_map() of the top
 * level with path "". Returns the pre-scan's 0 or JOB_E* (err untouched on
 * failure). After a clean pre-scan *scan is 1 when the top level is not a
 * map, else what codec_scan_map() returns (err filled on failure). Allocates
 * nothing before the pre-scan has passed. */
int codec_prescan_top(const uint8_t *buf, size_t len, const char *const *names, size_t nnames,
                      const uint8_t **pos, job_error *err, int *scan);

/* Writes "path.name" into out ("name" when path is NULL or empty, "path"
 * when name is empty). */
void codec_join(char *out, size_t len, const char *path, const char *name);

#endif
