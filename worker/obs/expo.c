/* Text buffer and exposition-format helpers (see expo.h). */
#include "expo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void expo_init(expo_buf *b)
{
    *b = (expo_buf){ 0 };
}

void expo_deinit(expo_buf *b)
{
    free(b->data);
    expo_init(b);
}

char *expo_take(expo_buf *b, size_t *len)
{
    char *data = b->data;
    if (len)
        *len = b->len;
    expo_init(b);
    return data;
}

static int expo_reserve(expo_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int expo_printf(expo_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if (expo_reserve(b, (size_t)n) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int expo_header(expo_buf *b, const char *name, const char *type, const char *help)
{
    return expo_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int expo_label_value(expo_buf *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '\\')
            rc = expo_printf(b, "\\\\");
        else if (*s == '"')
            rc = expo_printf(b, "\\\"");
        else if (*s == '\n')
            rc = expo_printf(b, "\\n");
        else
            rc = expo_printf(b, "%c", *s);
        if (rc < 0)
            return rc;
    }
    return 0;
}
