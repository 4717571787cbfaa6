/* Fixed-bucket histograms for the metrics registry (see histogram.h). */
#include "histogram.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

int histogram_init(histogram *h, const double *bounds, size_t nbounds)
{
    if (nbounds == 0 || nbounds > HISTOGRAM_MAX_BUCKETS)
        return -EINVAL;
    for (size_t i = 1; i < nbounds; i++)
        if (!(bounds[i - 1] < bounds[i]))
            return -EINVAL;
    *h = (histogram){ .bounds = bounds, .nbounds = nbounds };
    return 0;
}

void histogram_observe(histogram *h, double value)
{
    if (isnan(value))
        return;
    if (value < 0)
        value = 0;
    /* First bound >= value; nbounds (the +Inf bucket) when there is none. */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    h->counts[lo]++;
    h->count++;
    h->sum += value;
}

int histogram_render(const histogram *h, const char *name, expo_buf *b)
{
    return histogram_render_labelled(h, name, NULL, b);
}

int histogram_render_labelled(const histogram *h, const char *name, const char *labels, expo_buf *b)
{
    uint64_t cumulative = 0;
    int rc = 0;
    const char *lb = labels != NULL ? labels : "", *sep = labels != NULL ? "," : "";
    for (size_t i = 0; i < h->nbounds && rc == 0; i++) {
        cumulative += h->counts[i];
        rc = expo_printf(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, lb, sep, h->bounds[i], cumulative);
    }
    if (rc == 0)
        rc = expo_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, lb, sep, h->count);
    if (labels != NULL) {
        if (rc == 0)
            rc = expo_printf(b, "%s_sum{%s} %.17g\n", name, labels, h->sum);
        if (rc == 0)
            rc = expo_printf(b, "%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
        return rc;
    }
    if (rc == 0)
        rc = expo_printf(b, "%s_sum %.17g\n", name, h->sum);
    if (rc == 0)
        rc = expo_printf(b, "%s_count %" PRIu64 "\n", name, h->count);
    return rc;
}

const double histogram_lag_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
const size_t histogram_lag_nbounds = sizeof histogram_lag_bounds / sizeof histogram_lag_bounds[0];
