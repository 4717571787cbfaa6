/* Base64 for invqctl over nettle: strict decoding (padding required,
 * no stray characters) so a damaged export line is rejected, not guessed. */
#include "base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

char *base64_encode(const uint8_t *data, size_t len)
{
    size_t n = BASE64_ENCODE_RAW_LENGTH(len);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    base64_encode_raw(out, len, data);
    out[n] = '\0';
    return out;
}

int base64_decode(const char *text, uint8_t **out, size_t *outlen)
{
    size_t n = strlen(text);
    if (n % 4 != 0)
        return -EINVAL;
    uint8_t *buf = malloc(BASE64_DECODE_LENGTH(n) + 1);
    if (!buf)
        return -ENOMEM;
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    size_t got = BASE64_DECODE_LENGTH(n);
    if (!base64_decode_update(&ctx, &got, buf, n, text) || !base64_decode_final(&ctx)) {
        free(buf);
        return -EINVAL;
    }
    /* nettle skips whitespace; an exact round trip must not contain any. */
    if (BASE64_ENCODE_RAW_LENGTH(got) != n) {
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    *outlen = got;
    return 0;
}
