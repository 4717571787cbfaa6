/* Time helpers for invqctl: ages, RFC 3339 formatting and parsing, and the
 * relative times accepted by --since/--until. */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void timefmt_age(int64_t ms, char *buf, size_t len)
{
    const char *sign = "";
    uint64_t a;
    if (ms < 0) {
        sign = "-";
        a = (uint64_t)(-(ms + 1)) + 1u;
    } else {
        a = (uint64_t)ms;
    }
    uint64_t s = a / 1000u;
    if (a < 1000u)
        snprintf(buf, len, "%s%" PRIu64 "ms", sign, a);
    else if (s < 60u)
        snprintf(buf, len, "%s%" PRIu64 ".%" PRIu64 "s", sign, s, (a % 1000u) / 100u);
    else if (s < 3600u)
        snprintf(buf, len, "%s%" PRIu64 "m%02" PRIu64 "s", sign, s / 60u, s % 60u);
    else if (s < 86400u)
        snprintf(buf, len, "%s%" PRIu64 "h%02" PRIu64 "m", sign, s / 3600u, (s % 3600u) / 60u);
    else
        snprintf(buf, len, "%s%" PRIu64 "d%02" PRIu64 "h", sign, s / 86400u, (s % 86400u) / 3600u);
}

void timefmt_rfc3339(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
}

int timefmt_parse_duration(const char *s, uint64_t *out_ms)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    uint64_t mul;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return -EINVAL;
    if (n > UINT64_MAX / mul)
        return -EINVAL;
    *out_ms = (uint64_t)n * mul;
    return 0;
}

/* Reads exactly `n` digits at *p into *out and advances *p. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, uint64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -EINVAL;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &sec))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    unsigned frac_ms = 0;
    if (*p == '.') {
        p++;
        unsigned scale = 100;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p)) {
            frac_ms += (unsigned)(*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om))
            return -EINVAL;
        offset_s = sign * (oh * 3600L + om * 60L);
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    long long epoch = (long long)t - offset_s;
    if (epoch < 0)
        return -EINVAL;
    *out_ms = (uint64_t)epoch * 1000u + frac_ms;
    return 0;
}

int timefmt_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms)
{
    if (!s || !*s)
        return -EINVAL;
    if (parse_rfc3339(s, out_ms) == 0)
        return 0;
    char tmp[64];
    size_t n = strlen(s);
    if (n >= sizeof tmp)
        return -EINVAL;
    memcpy(tmp, s, n + 1);
    if (n > 4 && strcmp(tmp + n - 4, " ago") == 0)
        tmp[n - 4] = '\0';
    else if (n > 3 && strcmp(tmp + n - 3, "ago") == 0)
        tmp[n - 3] = '\0';
    uint64_t d;
    if (timefmt_parse_duration(tmp, &d) < 0)
        return -EINVAL;
    *out_ms = d > now_ms ? 0 : now_ms - d;
    return 0;
}
