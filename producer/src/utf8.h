/* UTF-8 validity check used to choose msgpack str or bin for a key. */
#ifndef INVQ_PRODUCER_UTF8_H
#define INVQ_PRODUCER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF). */
bool utf8_valid(const void *s, size_t n);

#endif
