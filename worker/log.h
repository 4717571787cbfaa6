/* Logging for invq-worker and invqctl: one line per event on stderr, either
 * key=value text or JSON lines, filtered by level. */
#ifndef INVQ_WORKER_LOG_H
#define INVQ_WORKER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
} log_level;

typedef enum log_format {
    LOG_TEXT = 0,
    LOG_JSON = 1,
} log_format;

/* One field of an event: a string (NULL: the field is left out) or a number. */
typedef struct log_field {
    const char *key;
    const char *str;
    int64_t num;
    bool is_num;
} log_field;

#define LOG_S(k, v) ((log_field){ .key = (k), .str = (v), .num = 0, .is_num = false })
#define LOG_N(k, v) ((log_field){ .key = (k), .str = NULL, .num = (int64_t)(v), .is_num = true })

/* Sets the minimum level and the format (process-wide; default info, text). */
void log_init(log_level level, log_format format);

/* True when events of `level` are written. */
bool log_enabled(log_level level);

/* "debug", "info", "warn", "error" → 0 and *out; -1 for anything else. */
int log_level_parse(const char *s, log_level *out);
/* "text", "json" → 0 and *out; -1 for anything else. */
int log_format_parse(const char *s, log_format *out);

/* Formats one event into buf (NUL-terminated, truncated to len, ending with
 * '\n'); ts_ms is the event time in ms since the epoch. Returns the length. */
size_t log_format_event(char *buf, size_t len, log_format format, int64_t ts_ms, log_level level,
                        const char *msg, const log_field *fields, size_t nfields);

/* Writes one event (if its level passes the filter) in a single write(2). */
void log_fields(log_level level, const char *msg, const log_field *fields, size_t nfields);

/* log_event(LOG_WARN, "queue redis unreachable", LOG_S("url", u), LOG_N("retry_ms", 500)); */
#define log_event(level, msg, ...)                                                 \
    do {                                                                           \
        const log_field log_f_[] = { __VA_ARGS__ };                                \
        log_fields((level), (msg), log_f_, sizeof log_f_ / sizeof log_f_[0]);      \
    } while (0)

/* An event without fields. */
#define log_msg(level, msg) log_fields((level), (msg), NULL, 0)

#endif
