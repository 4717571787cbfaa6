/* RESP2 boundary scanning for the fault proxy: no allocation, no copying,
 * just "how many bytes make the next whole message". */
#include "resp_scan.h"

#include <ctype.h>
#include <string.h>

#define RESP_MAX_DEPTH 32

/* Position just after the CRLF that ends the line starting at buf; 0 when the
 * line is incomplete. */
static size_t line_end(const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    if (lf == NULL) {
        return 0;
    }
    return (size_t)(lf - buf) + 1;
}

/* Parses the integer between buf+1 and the CR of a line of length n. */
static int line_int(const char *buf, size_t n, long long *out)
{
    long long v = 0;
    size_t i = 1;
    int neg = 0;
    if (n < 3 || buf[n - 2] != '\r') {
        return -1;
    }
    if (buf[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n - 2) {
        return -1;
    }
    for (; i < n - 2; i++) {
        if (!isdigit((unsigned char)buf[i]) || v > 1000000000000LL) {
            return -1;
        }
        v = v * 10 + (buf[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static long scan_value(const char *buf, size_t len, int depth)
{
    size_t n;
    long long count;
    if (depth > RESP_MAX_DEPTH) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    n = line_end(buf, len);
    if (n == 0) {
        return 0;
    }
    switch (buf[0]) {
    case '+':
    case '-':
    case ':':
        return (long)n;
    case '$':
        if (line_int(buf, n, &count) != 0) {
            return -1;
        }
        if (count < 0) {
            return (long)n;
        }
        if (len - n < (size_t)count + 2) {
            return 0;
        }
        return (long)(n + (size_t)count + 2);
    case '*': {
        size_t pos = n;
        if (line_int(buf, n, &count) != 0) {
            return -1;
        }
        for (long long i = 0; i < count; i++) {
            long m = scan_value(buf + pos, len - pos, depth + 1);
            if (m <= 0) {
                return m;
            }
            pos += (size_t)m;
        }
        return (long)pos;
    }
    default:
        return -1;
    }
}

long resp_scan_reply(const char *buf, size_t len)
{
    return scan_value(buf, len, 0);
}

static void copy_name(char *name, size_t namelen, const char *src, size_t srclen)
{
    size_t i;
    if (namelen == 0) {
        return;
    }
    for (i = 0; i < srclen && i + 1 < namelen; i++) {
        name[i] = (char)toupper((unsigned char)src[i]);
    }
    name[i] = '\0';
}

long resp_scan_command(const char *buf, size_t len, char *name, size_t namelen)
{
    if (len == 0) {
        return 0;
    }
    if (buf[0] == '*') {
        long total = scan_value(buf, len, 0);
        size_t n, m;
        long long blen;
        if (total <= 0) {
            return total;
        }
        /* The first element: "$<len>\r\n<name>\r\n". */
        n = line_end(buf, len);
        if ((size_t)total == n) {
            copy_name(name, namelen, "", 0);
            return total;
        }
        if (buf[n] != '$') {
            return -1;
        }
        m = line_end(buf + n, len - n);
        if (line_int(buf + n, m, &blen) != 0 || blen < 0) {
            return -1;
        }
        copy_name(name, namelen, buf + n + m, (size_t)blen);
        return total;
    }
    /* Inline command: one line, name up to the first space. */
    {
        size_t n = line_end(buf, len);
        size_t w = 0;
        if (n == 0) {
            return 0;
        }
        while (w < n && buf[w] != ' ' && buf[w] != '\r' && buf[w] != '\n') {
            w++;
        }
        copy_name(name, namelen, buf, w);
        return (long)n;
    }
}
