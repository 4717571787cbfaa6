/* invqctl output helpers: safe byte rendering, aligned tables and JSON lines. */
#include "output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

char *output_safe_bytes(const void *data, size_t len, size_t cap)
{
    const uint8_t *p = data;
    size_t n = (cap && len > cap) ? cap : len;
    char *out = malloc(n * 4 + 40);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (n < len)
        o += (size_t)snprintf(out + o, 40, "...(+%zu bytes)", len - n);
    out[o] = '\0';
    return out;
}

void output_hex_head(const uint8_t *data, size_t len, size_t max, char *buf, size_t buflen)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < len && i < max && o + 4 < buflen; i++)
        o += (size_t)snprintf(buf + o, buflen - o, "%s%02x", i ? " " : "", data[i]);
    if (len > max && o + 4 < buflen)
        snprintf(buf + o, buflen - o, " ..");
}

int output_json_line(json_t *obj)
{
    if (!obj)
        return -ENOMEM;
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s)
        return -ENOMEM;
    int rc = (fputs(s, stdout) < 0 || fputc('\n', stdout) == EOF) ? -EIO : 0;
    free(s);
    return rc;
}

json_t *output_json_bytes(const void *data, size_t len, size_t cap)
{
    char *s = output_safe_bytes(data, len, cap);
    if (!s)
        return NULL;
    json_t *j = json_string(s);
    free(s);
    return j;
}

json_t *output_json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    return j ? j : output_json_bytes(s, strlen(s), 0);
}

char *output_term_text(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)sprintf(out + o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

struct out_table {
    size_t ncols;
    char **cells; /* rows * ncols, row 0 = headers */
    size_t rows;  /* including the header row */
    size_t cap_rows;
    size_t *width_cap;
};

static int table_push(out_table *t, const char *const *cells)
{
    if (t->rows == t->cap_rows) {
        size_t nc = t->cap_rows ? t->cap_rows * 2 : 16;
        char **n = realloc(t->cells, nc * t->ncols * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->cells = n;
        t->cap_rows = nc;
    }
    char **row = t->cells + t->rows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (!row[i]) {
            while (i--)
                free(row[i]);
            return -ENOMEM;
        }
    }
    t->rows++;
    return 0;
}

out_table *out_table_new(size_t ncols, const char *const *headers)
{
    out_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->width_cap = calloc(ncols, sizeof *t->width_cap);
    if (!t->width_cap || table_push(t, headers) < 0) {
        out_table_free(t);
        return NULL;
    }
    return t;
}

void out_table_cap(out_table *t, size_t col, size_t width)
{
    if (col < t->ncols)
        t->width_cap[col] = width < 4 ? 4 : width;
}

int out_table_add(out_table *t, const char *const *cells)
{
    return table_push(t, cells);
}

size_t out_table_rows(const out_table *t)
{
    return t->rows - 1;
}

void out_table_print(const out_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof *w);
    if (!w)
        return;
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (t->width_cap[c] && n > t->width_cap[c])
                n = t->width_cap[c];
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = strlen(s);
            bool last = c + 1 == t->ncols;
            if (t->width_cap[c] && n > t->width_cap[c])
                fprintf(f, "%.*s...", (int)(t->width_cap[c] - 3), s);
            else
                fputs(s, f);
            if (!last) {
                size_t shown = (t->width_cap[c] && n > t->width_cap[c]) ? t->width_cap[c] : n;
                fprintf(f, "%*s", (int)(w[c] - shown + 2), "");
            }
        }
        fputc('\n', f);
    }
    free(w);
}

void out_table_free(out_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width_cap);
    free(t);
}
