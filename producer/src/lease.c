/* Values and keys of the lease protocol (see lease.h, schemas/lease-v1.md). */
#include "lease.h"

#include <stdio.h>
#include <string.h>

const char lease_magic[LEASE_MAGIC_LEN] = { '\0', 'i', 'n', 'v', 'q', ':' };
const char lease_negative[LEASE_NEGATIVE_LEN] = { '\0', 'i', 'n', 'v', 'q', ':', 'N', '1' };
const char lease_escape[LEASE_ESCAPE_LEN] = { '\0', 'i', 'n', 'v', 'q', ':', 'D', '1', ':' };

static int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

lease_kind lease_classify(const char *v, size_t n, const char **data, size_t *len)
{
    if (n < LEASE_MAGIC_LEN || memcmp(v, lease_magic, LEASE_MAGIC_LEN) != 0) {
        *data = v;
        *len = n;
        return LEASE_DATA;
    }
    if (n >= LEASE_ESCAPE_LEN && memcmp(v, lease_escape, LEASE_ESCAPE_LEN) == 0) {
        *data = v + LEASE_ESCAPE_LEN;
        *len = n - LEASE_ESCAPE_LEN;
        return LEASE_DATA;
    }
    *data = NULL;
    *len = 0;
    if (n == LEASE_NEGATIVE_LEN && memcmp(v, lease_negative, LEASE_NEGATIVE_LEN) == 0)
        return LEASE_NEG;
    if (n == LEASE_MARKER_LEN && memcmp(v + LEASE_MAGIC_LEN, "L1:", 3) == 0) {
        for (size_t i = LEASE_MAGIC_LEN + 3; i < n; i++)
            if (!is_hex_lower(v[i]))
                return LEASE_UNKNOWN;
        return LEASE_HELD;
    }
    return LEASE_UNKNOWN;
}

void lease_marker_make(const uint8_t token[LEASE_TOKEN_BYTES], char out[LEASE_MARKER_LEN])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, lease_magic, LEASE_MAGIC_LEN);
    memcpy(out + LEASE_MAGIC_LEN, "L1:", 3);
    char *p = out + LEASE_MAGIC_LEN + 3;
    for (size_t i = 0; i < LEASE_TOKEN_BYTES; i++) {
        *p++ = hex[token[i] >> 4];
        *p++ = hex[token[i] & 15];
    }
}

int lease_needs_escape(const void *data, size_t len)
{
    return len >= LEASE_MAGIC_LEN && memcmp(data, lease_magic, LEASE_MAGIC_LEN) == 0;
}

size_t lease_data_key(const void *key, size_t keylen, int64_t version, char *out)
{
    char suffix[LEASE_VERSION_SUFFIX_MAX + 1];
    int n = snprintf(suffix, sizeof(suffix), ":v%lld", (long long)version);
    memcpy(out, key, keylen);
    memcpy(out + keylen, suffix, (size_t)n);
    return keylen + (size_t)n;
}

int lease_parse_version(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit = (uint64_t)INT64_MAX;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        limit += 1; /* |INT64_MIN| */
        i = 1;
    }
    if (i == n || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

uint64_t lease_ttl_jitter(uint64_t ttl_ms, uint32_t pct, uint64_t rnd)
{
    if (pct > 100)
        pct = 100;
    /* floor(ttl * pct / 100) without overflowing */
    uint64_t span = ttl_ms / 100 * pct + ttl_ms % 100 * pct / 100;
    uint64_t t = ttl_ms - (span == UINT64_MAX ? rnd : rnd % (span + 1));
    return t > 0 ? t : 1;
}
