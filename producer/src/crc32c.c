/* Bytewise CRC-32C (reflected polynomial 0x82f63b78); the table is computed
 * at compile time so no global state is written. */
#include "crc32c.h"

#define P 0x82f63b78u
#define B1(c) (((c) & 1u) ? ((c) >> 1) ^ P : (c) >> 1)
#define B2(c) B1(B1(c))
#define B8(c) B2(B2(B2(B2(c))))
#define R2(n) B8(n##u), B8(n##u + 1u)
#define R4(n) R2(n), R2(n + 2)
#define R8(n) R4(n), R4(n + 4)
#define R16(n) R8(n), R8(n + 8)
#define R32(n) R16(n), R16(n + 16)
#define R64(n) R32(n), R32(n + 32)
#define R128(n) R64(n), R64(n + 64)

static const uint32_t table[256] = { R128(0), R128(128) };

uint32_t crc32c(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}
