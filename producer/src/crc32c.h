/* CRC-32C (Castagnoli), the checksum of spool records. */
#ifndef INVQ_PRODUCER_CRC32C_H
#define INVQ_PRODUCER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of buf[0..len); crc32c("123456789", 9) == 0xe3069283. */
uint32_t crc32c(const void *buf, size_t len);

#endif
