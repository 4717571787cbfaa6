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
    uint64_t cumulative = 0;
    int rc = 0;
    for (size_t i = 0; i < h->nbounds && rc == 0; i++) {
        cumulative += h->counts[i];
        rc = expo_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[i], cumulative);
    }
    if (rc == 0)
        rc = expo_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    if (rc == 0)
        rc = expo_printf(b, "%s_sum %.17g\n", name, h->sum);
    if (rc == 0)
        rc = expo_printf(b, "%s_count %" PRIu64 "\n", name, h->count);
    return rc;
}
