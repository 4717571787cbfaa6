/* The freshness benchmark's workload: parameters, row choice, cached
 * values and the clock (see workload.h). */
#include "workload.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fw_params_full(fw_params *p)
{
    *p = (fw_params){
        .rows = 1000,
        .hot_pct = 10,
        .hot_share = 80,
        .readers = 8,
        .writers = 2,
        .write_rate = 200,
        .burst = 2,
        .burst_gap_us = 1500,
        .ttl_ms = 2000,
        .jitter_pct = 10,
        .load_us = 2000,
        .redo_ms = 200,
        .threshold_ms = 100,
        .reads = 10000000,
        .max_seconds = 0,
    };
}

void fw_params_quick(fw_params *p)
{
    fw_params_full(p);
    p->reads = 1000000;
}

void fw_params_smoke(fw_params *p)
{
    fw_params_full(p);
    /* Few rows, each written a few times in the run, loads slow enough that
     * the second write of a burst lands while the first one's reloads run:
     * the delete/fill race happens often, and a stale set would outlive the
     * run (the final check finds it). TTLs outlast the run. */
    p->rows = 40;
    p->readers = 4;
    p->write_rate = 100;
    p->burst = 3;
    p->burst_gap_us = 3000;
    p->load_us = 8000;
    p->ttl_ms = 60000;
    p->reads = 20000;
    p->max_seconds = 8;
}

void fw_params_demo(fw_params *p)
{
    fw_params_full(p);
    p->rows = 200;
    p->readers = 4;
    p->write_rate = 100;
    p->ttl_ms = 1000;
    p->reads = LLONG_MAX;
    p->max_seconds = 2.5;
}

int fw_params_check(const fw_params *p, char *err, size_t errlen)
{
    struct {
        const char *name;
        long long v, min, max;
    } c[] = {
        { "--rows", p->rows, 1, 100000 },
        { "--hot-pct", p->hot_pct, 1, 100 },
        { "--hot-share", p->hot_share, 0, 100 },
        { "--readers", p->readers, 1, 256 },
        { "--writers", p->writers, 1, 64 },
        { "--write-rate", p->write_rate, 1, 100000 },
        { "--burst", p->burst, 1, 100 },
        { "--burst-gap-us", p->burst_gap_us, 0, 10000000 },
        { "--ttl-ms", p->ttl_ms, 1, 86400000 },
        { "--jitter-pct", p->jitter_pct, 0, 100 },
        { "--load-us", p->load_us, 0, 10000000 },
        { "--redo-ms", p->redo_ms, 1, 3600000 },
        { "--threshold-ms", p->threshold_ms, 0, 3600000 },
        { "--reads", p->reads, 1, LLONG_MAX },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        if (c[i].v < c[i].min || c[i].v > c[i].max) {
            snprintf(err, errlen, "%s: %lld is out of range (%lld .. %lld)", c[i].name, c[i].v, c[i].min, c[i].max);
            return -1;
        }
    }
    if (p->writers > p->rows) {
        snprintf(err, errlen, "--writers: %d writers need at least as many rows (--rows %d)", p->writers, p->rows);
        return -1;
    }
    if (p->max_seconds < 0) {
        snprintf(err, errlen, "--seconds: must not be negative");
        return -1;
    }
    return 0;
}

void fw_rng_seed(fw_rng *r, uint64_t seed)
{
    r->s = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
    if (r->s == 0)
        r->s = 1;
}

uint64_t fw_rng_next(fw_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

uint64_t fw_rng_below(fw_rng *r, uint64_t n)
{
    return n ? fw_rng_next(r) % n : 0;
}

/* An index in [0, n): the first hot_pct % of [0, n) with probability
 * hot_share %, else uniform. */
static uint64_t skewed(const fw_params *p, fw_rng *r, uint64_t n)
{
    uint64_t hot = n * (uint64_t)p->hot_pct / 100;
    if (hot == 0)
        hot = 1;
    if (fw_rng_below(r, 100) < (uint64_t)p->hot_share)
        return fw_rng_below(r, hot);
    return fw_rng_below(r, n);
}

int fw_pick_row(const fw_params *p, fw_rng *r)
{
    return (int)skewed(p, r, (uint64_t)p->rows);
}

int fw_pick_owned_row(const fw_params *p, fw_rng *r, int w)
{
    /* rows w, w + W, w + 2W, ...: the same skew over the writer's own rows */
    uint64_t owned = (uint64_t)((p->rows - w + p->writers - 1) / p->writers);
    return (int)(skewed(p, r, owned) * (uint64_t)p->writers) + w;
}

uint64_t fw_ttl_ms(const fw_params *p, fw_rng *r)
{
    uint64_t ttl = (uint64_t)p->ttl_ms;
    uint64_t j = ttl * (uint64_t)p->jitter_pct / 100;
    uint64_t t = ttl - fw_rng_below(r, j + 1);
    return t ? t : 1;
}

void fw_payload(char *buf, size_t len, int row, long long version)
{
    snprintf(buf, len, "name=item-%d price=%lld.%02lld", row, 10 + version % 1000, version % 100);
}

size_t fw_value_format(char *buf, int row, long long version, const char *payload)
{
    int n = snprintf(buf, FW_VALUE_MAX, "item=%d v=%lld %s", row, version, payload);
    return n < 0 ? 0 : (size_t)n < FW_VALUE_MAX ? (size_t)n : FW_VALUE_MAX - 1;
}

long long fw_value_parse(const void *val, size_t len, int row)
{
    char buf[FW_VALUE_MAX];
    char *end;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, val, len);
    buf[len] = '\0';
    if (strncmp(buf, "item=", 5) != 0)
        return -1;
    errno = 0;
    long id = strtol(buf + 5, &end, 10);
    if (errno || end == buf + 5 || id != row || strncmp(end, " v=", 3) != 0)
        return -1;
    const char *vp = end + 3;
    long long v = strtoll(vp, &end, 10);
    if (errno || end == vp || v < 0 || *end != ' ')
        return -1;
    return v;
}

int fw_key(char *buf, size_t len, int row)
{
    return snprintf(buf, len, "item:%d", row);
}

int fw_version_key(char *buf, size_t len, int row)
{
    return snprintf(buf, len, "ver:item:%d", row);
}

int64_t fw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fw_sleep_us(long us)
{
    if (us <= 0)
        return;
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void fw_sleep_until(int64_t t_ns)
{
    struct timespec ts = { (time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000) };
    if (t_ns <= fw_now_ns())
        return;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}
