/* A Prometheus histogram with fixed bucket bounds: observing is a binary
 * search over the bounds and one increment, with no allocation. */
#ifndef INVQ_WORKER_HISTOGRAM_H
#define INVQ_WORKER_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "expo.h"

#define HISTOGRAM_MAX_BUCKETS 24

typedef struct histogram {
    const double *bounds;                       /* borrowed, ascending upper bounds (without +Inf) */
    size_t nbounds;
    uint64_t counts[HISTOGRAM_MAX_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t count;
    double sum;
} histogram;

/* Zeroes h and sets its bounds; bounds (ascending, at most
 * HISTOGRAM_MAX_BUCKETS) are borrowed and must outlive h. Returns 0 or
 * -EINVAL. */
int histogram_init(histogram *h, const double *bounds, size_t nbounds);

/* Counts one value. NaN is ignored; a negative value counts as 0. */
void histogram_observe(histogram *h, double value);

/* Appends the _bucket, _sum and _count samples of `name` to b (the caller
 * writes HELP and TYPE). Returns 0 or -ENOMEM. */
int histogram_render(const histogram *h, const char *name, expo_buf *b);
/* The same with more labels on every sample: `labels` is rendered label
 * pairs without braces (`family="user"`), or NULL for none. */
int histogram_render_labelled(const histogram *h, const char *name, const char *labels, expo_buf *b);

/* The bounds of every job-lag histogram, in seconds: 0.5 ms to 5 min. */
extern const double histogram_lag_bounds[];
extern const size_t histogram_lag_nbounds;

#endif
