/* Delays: retry backoff with full jitter, reconnect backoff, TTL jitter. */
#include "backoff.h"

uint64_t backoff_cap(uint64_t base_ms, uint64_t max_ms, uint64_t attempt)
{
    if (attempt == 0)
        attempt = 1;
    uint64_t d = base_ms;
    for (uint64_t i = 1; i < attempt && d < max_ms; i++) {
        if (d > UINT64_MAX / 2)
            return max_ms;
        d *= 2;
    }
    return d < max_ms ? d : max_ms;
}

uint64_t backoff_full_jitter(rng *r, uint64_t base_ms, uint64_t max_ms, uint64_t attempt)
{
    return rng_upto(r, backoff_cap(base_ms, max_ms, attempt));
}

uint64_t backoff_reconnect(rng *r, uint64_t base_ms, uint64_t max_ms, uint64_t failures)
{
    uint64_t cap = backoff_cap(base_ms, max_ms, failures);
    return cap / 2 + rng_upto(r, cap / 2);
}

uint64_t backoff_ttl_jitter(rng *r, uint64_t ttl_ms, uint32_t pct)
{
    if (pct > 100)
        pct = 100;
    uint64_t span = ttl_ms / 100 * pct + ttl_ms % 100 * pct / 100;
    uint64_t t = ttl_ms - rng_upto(r, span);
    return t > 0 ? t : 1;
}
