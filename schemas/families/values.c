/* Parsers of the families file's value types (families-v1.md §2.3, §4, §9):
 * durations, percentages, rates, op lists, modes, names, source URLs and
 * the named parameters of an audit query. */
#include <stdio.h>
#include <string.h>

#include "fam_internal.h"

#define MAX_DURATION_MS (3650ull * 86400000ull)
#define MAX_RATE 1000000000ull

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Leading decimal digits of s into *v (saturating above 10^15); returns how many. */
static size_t digits(const char *s, uint64_t *v)
{
    size_t n = 0;
    *v = 0;
    while (is_digit(s[n])) {
        if (*v < 1000000000000000ull)
            *v = *v * 10 + (uint64_t)(s[n] - '0');
        n++;
    }
    return n;
}

int value_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    uint64_t v;
    size_t n = digits(s, &v);
    for (size_t i = 0; n > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].unit) != 0)
            continue;
        if (v == 0 || v > MAX_DURATION_MS / units[i].ms) {
            snprintf(err, errlen, "\"%s\" is out of range (1ms .. 3650d)", s);
            return -1;
        }
        *ms = v * units[i].ms;
        return 0;
    }
    snprintf(err, errlen, "\"%s\" is not a duration (digits and a unit ms, s, m, h or d: 250ms, 60s, 5m)", s);
    return -1;
}

int value_percent(const char *s, uint32_t *pct, char *err, size_t errlen)
{
    uint64_t v;
    size_t n = digits(s, &v);
    if (n == 0 || strcmp(s + n, "%") != 0) {
        snprintf(err, errlen, "\"%s\" is not a percentage (digits and '%%': 10%%)", s);
        return -1;
    }
    if (v > 100) {
        snprintf(err, errlen, "\"%s\" is over 100%%", s);
        return -1;
    }
    *pct = (uint32_t)v;
    return 0;
}

int value_rate(const char *s, uint64_t *keys, uint64_t *period_ms, char *err, size_t errlen)
{
    uint64_t v;
    size_t n = digits(s, &v);
    uint64_t period = 0;
    if (n > 0 && s[n] == '/' && s[n + 1] != '\0' && s[n + 2] == '\0') {
        if (s[n + 1] == 's')
            period = 1000;
        else if (s[n + 1] == 'm')
            period = 60000;
        else if (s[n + 1] == 'h')
            period = 3600000;
    }
    if (!period) {
        snprintf(err, errlen, "\"%s\" is not a rate (keys per second, minute or hour: 50000/s, 600/m, 100/h)", s);
        return -1;
    }
    if (v == 0 || v > MAX_RATE) {
        snprintf(err, errlen, "\"%s\" is out of range (1 .. 1000000000 keys per period)", s);
        return -1;
    }
    *keys = v;
    *period_ms = period;
    return 0;
}

int value_ops(const char *s, unsigned *ops, char *err, size_t errlen)
{
    unsigned mask = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *b = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
            e--;
        size_t n = (size_t)(e - b);
        int op = 0;
        if (n == 3 && memcmp(b, "del", 3) == 0)
            op = FAM_OP_DEL;
        else if (n == 4 && memcmp(b, "bump", 4) == 0)
            op = FAM_OP_BUMP;
        else if (n == 6 && memcmp(b, "expire", 6) == 0)
            op = FAM_OP_EXPIRE;
        if (n == 0) {
            snprintf(err, errlen, "empty item in \"%s\"", s);
            return -1;
        }
        if (!op) {
            snprintf(err, errlen, "unknown op '%.*s' (del, bump, expire)", (int)(n > 32 ? 32 : n), b);
            return -1;
        }
        if (mask & FAM_OP_BIT(op)) {
            snprintf(err, errlen, "'%.*s' is listed twice", (int)n, b);
            return -1;
        }
        mask |= FAM_OP_BIT(op);
        if (!*p)
            break;
        p++; /* ',' */
    }
    *ops = mask;
    return 0;
}

int value_mode(const char *s, fam_mode *mode, char *err, size_t errlen)
{
    if (strcmp(s, "off") == 0)
        *mode = FAM_MODE_OFF;
    else if (strcmp(s, "shadow") == 0)
        *mode = FAM_MODE_SHADOW;
    else if (strcmp(s, "enforce") == 0)
        *mode = FAM_MODE_ENFORCE;
    else {
        snprintf(err, errlen, "\"%.64s\" is not a mode (off, shadow or enforce)", s);
        return -1;
    }
    return 0;
}

bool value_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > FAM_MAX_NAME_LEN || !(is_alpha(s[0]) || is_digit(s[0])))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* libpq keyword/value string: kw = value pairs separated by blanks. */
static bool conninfo_ok(const char *s, char *err, size_t errlen)
{
    const char *p = s;
    int pairs = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *kw = p;
        while ((*p >= 'a' && *p <= 'z') || *p == '_')
            p++;
        size_t kwlen = (size_t)(p - kw);
        while (*p == ' ' || *p == '\t')
            p++;
        if (kwlen == 0 || *p != '=') {
            snprintf(err, errlen,
                     "is not sqlite:///PATH, postgresql://... or a libpq keyword string (host=... dbname=...)");
            return false;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p != '\'') {
                snprintf(err, errlen, "the quoted value of '%.*s' is not closed", (int)kwlen, kw);
                return false;
            }
            p++;
        } else {
            const char *v = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\n')
                p++;
            if (p == v) {
                snprintf(err, errlen, "'%.*s' has no value", (int)kwlen, kw);
                return false;
            }
        }
        pairs++;
    }
    if (pairs == 0) {
        snprintf(err, errlen, "is empty");
        return false;
    }
    return true;
}

int value_source(const char *s, fam_source_kind *kind, const char **path, size_t *pathlen, char *err,
                 size_t errlen)
{
    *path = NULL;
    *pathlen = 0;
    if (strncmp(s, "sqlite:", 7) == 0) {
        const char *p = s + 9;
        if (strncmp(s, "sqlite://", 9) != 0 || *p != '/' || p[1] == '\0') {
            snprintf(err, errlen, "\"%.200s\": write sqlite:///ABSOLUTE/PATH (three slashes, then the path)", s);
            return -1;
        }
        if (strpbrk(p, "?#\n")) {
            snprintf(err, errlen, "\"%.200s\": a sqlite path takes no '?', '#' or line break", s);
            return -1;
        }
        *kind = FAM_SOURCE_SQLITE;
        *path = p;
        *pathlen = strlen(p);
        return 0;
    }
    if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
        if (strpbrk(s, " \t\n")) {
            snprintf(err, errlen, "a postgresql:// URI has no blanks (use %%20)");
            return -1;
        }
        *kind = FAM_SOURCE_POSTGRES;
        return 0;
    }
    if (strstr(s, "://")) {
        snprintf(err, errlen, "\"%.200s\": the scheme must be sqlite:// or postgresql://", s);
        return -1;
    }
    char why[160];
    if (!conninfo_ok(s, why, sizeof(why))) {
        snprintf(err, errlen, "\"%.120s\" %s", s, why);
        return -1;
    }
    *kind = FAM_SOURCE_POSTGRES;
    return 0;
}

int sql_scan(const char *sql, size_t len, int (*cb)(const sql_param *p, void *data), void *data,
             char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len) {
        char c = sql[i];
        if (c == '\'' || c == '"') {
            size_t start = i++;
            for (;;) {
                if (i >= len) {
                    snprintf(err, errlen, "the %s starting at byte %zu is not closed",
                             c == '\'' ? "string literal" : "quoted identifier", start + 1);
                    return -1;
                }
                if (sql[i] == c) {
                    if (i + 1 < len && sql[i + 1] == c) {
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                i++;
            }
        } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            size_t start = i;
            i += 2;
            while (i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/'))
                i++;
            if (i + 1 >= len) {
                snprintf(err, errlen, "the comment starting at byte %zu is not closed", start + 1);
                return -1;
            }
            i += 2;
        } else if (c == ':' && i + 1 < len && sql[i + 1] == ':') {
            i += 2;
        } else if (c == ':' && i + 1 < len && (is_alpha(sql[i + 1]) || sql[i + 1] == '_')) {
            size_t j = i + 1;
            while (j < len && (is_alpha(sql[j]) || is_digit(sql[j]) || sql[j] == '_'))
                j++;
            sql_param p = {i, j - i};
            int rc = cb(&p, data);
            if (rc)
                return rc;
            i = j;
        } else {
            i++;
        }
    }
    return 0;
}

const char *families_duration_text(uint64_t ms, char *buf, size_t len)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
    };
    for (size_t i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    snprintf(buf, len, "%llums", (unsigned long long)ms);
    return buf;
}

const char *families_rate_text(uint64_t keys, uint64_t period_ms, char *buf, size_t len)
{
    if (!keys)
        snprintf(buf, len, "none");
    else
        snprintf(buf, len, "%llu/%s", (unsigned long long)keys,
                 period_ms == 3600000 ? "h" : period_ms == 60000 ? "m" : "s");
    return buf;
}
