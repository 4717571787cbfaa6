/* Per-family metrics of a worker that loaded a families file
 * (schemas/families-v1.md): jobs and keys by family, op and mode, shadow
 * hits, rate-limited time, lag by family, refusals, and the loaded file's
 * identity and reloads. Part of the metrics registry (metrics_families())
 * and rendered with it; nothing of it appears before a file is loaded.
 *
 * Label values are bounded: a family gets its own series only while it is
 * declared by the loaded file (at most FAM_METRICS_MAX of them; the rest
 * count under family="(other)"), keys of no family count under
 * family="(none)". Mode, op and result names are the fixed sets below. */
#ifndef INVQ_WORKER_FAM_METRICS_H
#define INVQ_WORKER_FAM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expo.h"

#define FAM_METRICS_MAX 512
#define FAM_METRICS_NONE "(none)"
#define FAM_METRICS_OTHER "(other)"

typedef struct fam_metrics fam_metrics;
/* The counters of one family label value; valid until the next
 * fam_metrics_declare_end() (use it within one loop turn). */
typedef struct fam_slot fam_slot;

fam_metrics *fam_metrics_new(void);
void fam_metrics_free(fam_metrics *fm);

/* A new file was loaded: declare each of its families (name copied, mode
 * "off" | "shadow" | "enforce", whether it has a `rate`) between _begin
 * and _end; _end drops the series of families no longer declared. */
void fam_metrics_declare_begin(fam_metrics *fm);
void fam_metrics_declare(fam_metrics *fm, const char *name, const char *mode, bool has_rate);
void fam_metrics_declare_end(fam_metrics *fm);

/* The loaded file's identity (strings copied), published after a load. */
void fam_metrics_file(fam_metrics *fm, const char *path, const char *sha256, uint64_t size, double mtime,
                      size_t nfamilies);
/* One reload attempt (SIGHUP) and whether it succeeded. */
void fam_metrics_reload(fam_metrics *fm, bool ok);

/* The slot of family `name`, FAM_METRICS_NONE for keys of no family. A
 * family not declared by the current file (one of a batch planned with the
 * file before) gets a slot until the next declaration; beyond the bound,
 * the "(other)" slot. Never NULL. */
fam_slot *fam_metrics_slot(fam_metrics *fm, const char *name);

/* Jobs settled (result "done", "retried", "dead") with keys of the family,
 * in mode "off" | "shadow" | "enforce"; a job with keys of several families
 * counts once in each. */
void fam_metrics_jobs(fam_slot *s, const char *mode, const char *result, uint64_t n);
/* Keys (op "del" | "bump" | "expire", after coalescing) applied (enforce),
 * probed (shadow) or counted (off). */
void fam_metrics_keys(fam_slot *s, const char *op, const char *mode, uint64_t n);
/* Shadow keys that existed in the cache. */
void fam_metrics_shadow_hits(fam_slot *s, const char *op, uint64_t n);
/* One batch's EXISTS probes of the family, `errors` of them answered with
 * an error. Returns 1 when the family's probes start failing
 * (this batch has errors, the one before had none), -1 when they stop, 0
 * otherwise: the caller logs each turn once. */
int fam_metrics_shadow_probes(fam_slot *s, uint64_t errors);
/* A job refused by the file ("key_not_allowed" | "op_not_allowed"),
 * counted under the refused key's family ("(none)" for none). */
void fam_metrics_refused(fam_slot *s, const char *reason);
/* Lag of one settled job (ts to settled), in seconds. */
void fam_metrics_lag(fam_slot *s, double seconds);
/* Seconds a batch waited for the family's fleet-wide rate limit. */
void fam_metrics_rate_limited(fam_slot *s, double seconds);

/* Appends the exposition (HELP, TYPE, samples). Returns 0 or -ENOMEM. */
int fam_metrics_render(const fam_metrics *fm, expo_buf *b);

#endif
