/* Logging for invq-worker and invqctl: one line per event on stderr, either
 * key=value text or JSON lines (through jansson), filtered by level. */
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static log_level min_level = LOG_INFO;
static log_format out_format = LOG_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(log_level level, log_format format)
{
    min_level = level;
    out_format = format;
}

bool log_enabled(log_level level)
{
    return level >= min_level;
}

int log_level_parse(const char *s, log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *s, log_format *out)
{
    if (strcmp(s, "text") == 0) {
        *out = LOG_TEXT;
        return 0;
    }
    if (strcmp(s, "json") == 0) {
        *out = LOG_JSON;
        return 0;
    }
    return -1;
}

typedef struct outbuf {
    char *p;
    size_t len;
    size_t used;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->used >= o->len)
        return;
    size_t room = o->len - o->used - 1;
    if (n > room)
        n = room;
    memcpy(o->p + o->used, s, n);
    o->used += n;
    o->p[o->used] = '\0';
}

static void puts_(outbuf *o, const char *s)
{
    put(o, s, strlen(s));
}

static void format_ts(char *ts, size_t len, int64_t ts_ms)
{
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, len - n, ".%03dZ", (int)(ts_ms % 1000));
}

/* A text value is written bare when it is non-empty and holds no space,
 * quote, '=' or control byte; otherwise quoted with \" \\ \n \t \xNN escapes. */
static void put_text_value(outbuf *o, const char *v)
{
    bool bare = *v != '\0';
    for (const unsigned char *c = (const unsigned char *)v; *c && bare; c++) {
        if (*c <= ' ' || *c == '"' || *c == '=' || *c == '\\' || *c == 0x7f)
            bare = false;
    }
    if (bare) {
        puts_(o, v);
        return;
    }
    put(o, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            put(o, esc, 2);
        } else if (*c == '\n') {
            put(o, "\\n", 2);
        } else if (*c == '\t') {
            put(o, "\\t", 2);
        } else if (*c < ' ' || *c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *c);
            puts_(o, esc);
        } else {
            put(o, (const char *)c, 1);
        }
    }
    put(o, "\"", 1);
}

static size_t format_text(outbuf *o, const char *ts, log_level level, const char *msg,
                          const log_field *fields, size_t nfields)
{
    puts_(o, "ts=");
    puts_(o, ts);
    puts_(o, " level=");
    puts_(o, level_names[level]);
    puts_(o, " msg=");
    put_text_value(o, msg);
    for (size_t i = 0; i < nfields; i++) {
        const log_field *f = &fields[i];
        if (!f->is_num && f->str == NULL)
            continue;
        put(o, " ", 1);
        puts_(o, f->key);
        put(o, "=", 1);
        if (f->is_num) {
            char num[24];
            snprintf(num, sizeof num, "%" PRId64, f->num);
            puts_(o, num);
        } else {
            put_text_value(o, f->str);
        }
    }
    return o->used;
}

static size_t format_json(outbuf *o, const char *ts, log_level level, const char *msg,
                          const log_field *fields, size_t nfields)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return 0;
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(level_names[level]));
    json_object_set_new(obj, "msg", json_string(msg));
    for (size_t i = 0; i < nfields; i++) {
        const log_field *f = &fields[i];
        if (f->is_num) {
            json_object_set_new(obj, f->key, json_integer(f->num));
        } else if (f->str != NULL) {
            json_t *s = json_string(f->str);
            if (s == NULL) /* not UTF-8: keep it readable, never drop the field */
                s = json_string("(invalid utf-8)");
            json_object_set_new(obj, f->key, s);
        }
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL)
        return 0;
    puts_(o, text);
    free(text);
    return o->used;
}

size_t log_format_event(char *buf, size_t len, log_format format, int64_t ts_ms, log_level level,
                        const char *msg, const log_field *fields, size_t nfields)
{
    if (len < 2)
        return 0;
    char ts[40];
    format_ts(ts, sizeof ts, ts_ms);
    if ((unsigned)level > LOG_ERROR)
        level = LOG_ERROR;
    outbuf o = { buf, len - 1, 0 }; /* keep room for the newline */
    buf[0] = '\0';
    if (format == LOG_JSON)
        format_json(&o, ts, level, msg, fields, nfields);
    else
        format_text(&o, ts, level, msg, fields, nfields);
    buf[o.used++] = '\n';
    buf[o.used] = '\0';
    return o.used;
}

void log_fields(log_level level, const char *msg, const log_field *fields, size_t nfields)
{
    if (!log_enabled(level))
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    char line[4096];
    size_t n = log_format_event(line, sizeof line, out_format, ts_ms, level, msg, fields, nfields);
    if (n > 0 && write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
