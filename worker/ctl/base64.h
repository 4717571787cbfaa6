/* Standard base64 (RFC 4648, padded) for invqctl's export/import lines,
 * over nettle's codec. */
#ifndef INVQ_CTL_BASE64_H
#define INVQ_CTL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes. Returns a malloc'd NUL-terminated string the caller
 * frees with free(), or NULL when out of memory. */
char *base64_encode(const uint8_t *data, size_t len);

/* Decodes a padded base64 string. On success *out is malloc'd (caller
 * frees with free(), non-NULL even for 0 bytes) and *outlen set. Returns 0,
 * -EINVAL for invalid input, -ENOMEM. */
int base64_decode(const char *text, uint8_t **out, size_t *outlen);

#endif
