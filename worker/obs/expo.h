/* A growable text buffer for rendering the Prometheus exposition format,
 * plus the helpers that write HELP/TYPE headers and escaped label values. */
#ifndef INVQ_WORKER_EXPO_H
#define INVQ_WORKER_EXPO_H

#include <stddef.h>

typedef struct expo_buf {
    char *data; /* owned; NUL-terminated while len > 0 */
    size_t len;
    size_t cap;
} expo_buf;

void expo_init(expo_buf *b);
/* Frees the buffer's memory; b may be reused after expo_init(). */
void expo_deinit(expo_buf *b);
/* Hands the text to the caller (free with free()) and leaves b empty. */
char *expo_take(expo_buf *b, size_t *len);

/* Appends formatted text. Returns 0 or -ENOMEM. */
int expo_printf(expo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "# HELP name help\n# TYPE name type\n". Returns 0 or -ENOMEM. */
int expo_header(expo_buf *b, const char *name, const char *type, const char *help);
/* Appends s escaped as a label value (\\, \" and \n). Returns 0 or -ENOMEM. */
int expo_label_value(expo_buf *b, const char *s);

#endif
