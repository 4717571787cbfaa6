/* invqctl output: binary-safe rendering of keys, aligned tables for people,
 * and one-JSON-object-per-line output (jansson) for scripts. */
#ifndef INVQ_CTL_OUTPUT_H
#define INVQ_CTL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Renders bytes safely: printable ASCII as is, a backslash as "\\", any other
 * byte as "\xNN"; input beyond `cap` bytes is cut and "...(+N bytes)" appended
 * (cap 0: no cap). Returns a malloc'd string (caller frees), NULL on ENOMEM. */
char *output_safe_bytes(const void *data, size_t len, size_t cap);

/* Writes up to `max` bytes as lowercase hex ("c1 0a ...") into buf. */
void output_hex_head(const uint8_t *data, size_t len, size_t max, char *buf, size_t buflen);

/* Prints `obj` as one compact JSON line on stdout and releases it (takes
 * the reference). Returns 0, or -EIO / -ENOMEM. */
int output_json_line(json_t *obj);

/* A new JSON string from any bytes, rendered safe as by output_safe_bytes
 * (jansson strings must be UTF-8). New reference; NULL on ENOMEM. */
json_t *output_json_bytes(const void *data, size_t len, size_t cap);

/* A JSON string for text that should be UTF-8 (ids, reasons): as is when it
 * is valid UTF-8, else rendered safe as by output_safe_bytes; JSON null for
 * NULL. New reference; NULL only on ENOMEM. */
json_t *output_json_text(const char *s);

/* Text for a terminal: control bytes (< 0x20, 0x7f) as "\xNN", everything
 * else as is. Returns a malloc'd string (caller frees), NULL on ENOMEM. */
char *output_term_text(const char *s);

/* Aligned columns. Cells are copied; a column can be capped in width
 * (cells cut with "..."). */
typedef struct out_table out_table;

/* headers: ncols borrowed strings. Returns NULL on ENOMEM. */
out_table *out_table_new(size_t ncols, const char *const *headers);
/* Caps column `col` at `width` characters (0: no cap). */
void out_table_cap(out_table *t, size_t col, size_t width);
/* Copies ncols cells (NULL prints as "-"). Returns 0 or -ENOMEM. */
int out_table_add(out_table *t, const char *const *cells);
size_t out_table_rows(const out_table *t);
/* Prints the header and every row, columns separated by two spaces. */
void out_table_print(const out_table *t, FILE *f);
void out_table_free(out_table *t);

#endif
