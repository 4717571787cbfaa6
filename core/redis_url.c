/* Redis URL parsing for every invq program; percent-decodes user and
 * password, rejects anything it does not understand with a precise message. */
#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [s, s+n) percent-decoded into a new string; NULL on a bad escape
 * (*bad = 1) or no memory (*bad = 0). */
static char *dup_decoded(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    *bad = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
                (hexval(s[i + 1]) == 0 && hexval(s[i + 2]) == 0)) {
                free(out);
                *bad = 1;
                return NULL;
            }
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int set_field(char **field, const char *s, size_t n, const char *what,
                     char *err, size_t errlen)
{
    int bad;
    free(*field);
    *field = dup_decoded(s, n, &bad);
    if (*field)
        return 0;
    if (bad)
        return err_set(err, errlen, INVQ_EURL, "bad %%-escape in the %s of the Redis URL", what);
    return err_set(err, errlen, INVQ_ENOMEM, "out of memory parsing the Redis URL");
}

/* Parses "k=v&k=v" (the part after '?'). */
static int parse_query(const char *q, redis_url *u, char *err, size_t errlen)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        int rc = 0;
        if (!eq)
            return err_set(err, errlen, INVQ_EURL, "Redis URL query item '%.*s' has no '='", (int)n, q);
        size_t kn = (size_t)(eq - q), vn = n - kn - 1;
        if (kn == 2 && memcmp(q, "db", 2) == 0) {
            if (parse_int(eq + 1, vn, 0, 1000000, &u->db) < 0)
                return err_set(err, errlen, INVQ_EURL, "Redis URL db '%.*s' is not a number >= 0", (int)vn, eq + 1);
        } else if (kn == 8 && memcmp(q, "password", 8) == 0) {
            rc = set_field(&u->password, eq + 1, vn, "password", err, errlen);
        } else if (kn == 4 && memcmp(q, "user", 4) == 0) {
            rc = set_field(&u->user, eq + 1, vn, "user", err, errlen);
        } else {
            return err_set(err, errlen, INVQ_EURL,
                           "unknown Redis URL parameter '%.*s' (known: db, user, password)", (int)kn, q);
        }
        if (rc < 0)
            return rc;
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

static int parse_unix(const char *rest, redis_url *u, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/')
        return err_set(err, errlen, INVQ_EURL, "unix URL needs an absolute socket path: unix:///path/to/sock");
    int rc = set_field(&u->path, rest, n, "socket path", err, errlen);
    if (rc < 0)
        return rc;
    return q ? parse_query(q + 1, u, err, errlen) : 0;
}

static int parse_tcp(const char *rest, redis_url *u, char *err, size_t errlen)
{
    const char *end = rest + strcspn(rest, "/?");
    const char *at = NULL;
    int rc;

    for (const char *c = rest; c < end; c++)
        if (*c == '@')
            at = c; /* the last '@' ends the credentials */
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon)
            return err_set(err, errlen, INVQ_EURL,
                           "Redis URL credentials must be ':password@' or 'user:password@'");
        if (colon > rest && (rc = set_field(&u->user, rest, (size_t)(colon - rest), "user", err, errlen)) < 0)
            return rc;
        if ((rc = set_field(&u->password, colon + 1, (size_t)(at - colon - 1), "password", err, errlen)) < 0)
            return rc;
        rest = at + 1;
    }

    const char *hend, *port = NULL;
    const char *hstart = rest;
    if (*rest == '[') {
        const char *rb = memchr(rest, ']', (size_t)(end - rest));
        if (!rb)
            return err_set(err, errlen, INVQ_EURL, "Redis URL has '[' without ']' around an IPv6 host");
        hstart = rest + 1;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return err_set(err, errlen, INVQ_EURL, "unexpected text after ']' in the Redis URL");
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(rest, ':', (size_t)(end - rest));
        hend = colon ? colon : end;
        if (colon)
            port = colon + 1;
    }
    if (hend == hstart)
        return err_set(err, errlen, INVQ_EURL, "Redis URL has no host");
    if ((rc = set_field(&u->host, hstart, (size_t)(hend - hstart), "host", err, errlen)) < 0)
        return rc;
    u->port = 6379;
    if (port && parse_int(port, (size_t)(end - port), 1, 65535, &u->port) < 0)
        return err_set(err, errlen, INVQ_EURL, "Redis URL port '%.*s' is not a number in 1..65535",
                       (int)(end - port), port);

    if (*end == '/') {
        const char *dbs = end + 1;
        size_t dn = strcspn(dbs, "?");
        if (dn > 0 && parse_int(dbs, dn, 0, 1000000, &u->db) < 0)
            return err_set(err, errlen, INVQ_EURL, "Redis URL database '%.*s' is not a number >= 0", (int)dn, dbs);
        end = dbs + dn;
    }
    return *end == '?' ? parse_query(end + 1, u, err, errlen) : 0;
}

int redis_url_parse(const char *s, redis_url *u, char *err, size_t errlen)
{
    int rc;
    memset(u, 0, sizeof(*u));
    if (!s || !*s)
        return err_set(err, errlen, INVQ_EURL, "Redis URL is empty");
    if (strncmp(s, "unix://", 7) == 0) {
        rc = parse_unix(s + 7, u, err, errlen);
    } else if (strncmp(s, "redis://", 8) == 0) {
        rc = parse_tcp(s + 8, u, err, errlen);
    } else if (strncmp(s, "rediss://", 9) == 0) {
        rc = err_set(err, errlen, INVQ_EURL, "rediss:// (TLS) is not supported");
    } else {
        rc = err_set(err, errlen, INVQ_EURL,
                     "Redis URL '%.40s' must start with redis:// or unix://", s);
    }
    if (rc == 0 && u->password && !*u->password && !u->user) {
        free(u->password); /* "redis://:@host": no password at all */
        u->password = NULL;
    }
    if (rc == 0 && u->user && !u->password)
        rc = err_set(err, errlen, INVQ_EURL, "Redis URL names user '%s' but no password", u->user);
    if (rc < 0)
        redis_url_deinit(u);
    return rc;
}

void redis_url_deinit(redis_url *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof(*u));
}

void redis_url_describe(const redis_url *u, char *buf, size_t len)
{
    if (u->path)
        snprintf(buf, len, "unix:%s/%d", u->path, u->db);
    else
        snprintf(buf, len, "%s%s%s:%d/%d", strchr(u->host ? u->host : "", ':') ? "[" : "",
                 u->host ? u->host : "?", strchr(u->host ? u->host : "", ':') ? "]" : "", u->port, u->db);
}
