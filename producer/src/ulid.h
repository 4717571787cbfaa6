/* Job ids: ULIDs (48-bit millisecond timestamp + 80 random bits from
 * getrandom(2)), 26 characters of Crockford base32. */
#ifndef INVQ_PRODUCER_ULID_H
#define INVQ_PRODUCER_ULID_H

#include <stdint.h>

#define ULID_LEN 26

/* Writes a new id and its NUL into out (ULID_LEN + 1 bytes). Returns 0, or
 * INVQ_EIO when getrandom(2) fails. */
int ulid_make(char out[ULID_LEN + 1]);

/* Encodes the given timestamp and 10 random bytes (for tests). */
void ulid_encode(uint64_t ms, const uint8_t rnd[10], char out[ULID_LEN + 1]);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t ulid_now_ms(void);

#endif
