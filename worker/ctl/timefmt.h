/* Time helpers for invqctl: the wall clock in ms, compact ages ("3m12s"),
 * RFC 3339 timestamps, and parsing of --since/--until values. */
#ifndef INVQ_CTL_TIMEFMT_H
#define INVQ_CTL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t timefmt_now_ms(void);

/* Writes a compact age into buf: "450ms", "12.3s", "3m12s", "2h05m", "3d04h".
 * Negative ages (clock skew) print as "-" followed by the age. */
void timefmt_age(int64_t ms, char *buf, size_t len);

/* Writes "2026-11-26T06:00:00.123Z" (UTC) into buf. */
void timefmt_rfc3339(uint64_t ms, char *buf, size_t len);

/* Parses an absolute or relative time into ms since the epoch:
 * RFC 3339 ("2026-11-26T06:00:00Z", optional fraction, "Z" or "+hh:mm"),
 * or a relative duration before now ("15m", "2h", "3d", "90s", "500ms",
 * optionally followed by " ago"). Returns 0, or -EINVAL. */
int timefmt_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms);

/* Parses a duration "500ms", "90s", "15m", "2h", "3d" (a bare number is
 * seconds) into ms. Returns 0, or -EINVAL. */
int timefmt_parse_duration(const char *s, uint64_t *out_ms);

#endif
