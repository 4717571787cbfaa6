/* ULID job ids from the wall clock and getrandom(2). */
#include "ulid.h"

#include <time.h>

#include "random.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

uint64_t ulid_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ulid_encode(uint64_t ms, const uint8_t rnd[10], char out[ULID_LEN + 1])
{
    uint8_t b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    for (int i = 0; i < 10; i++)
        b[6 + i] = rnd[i];
    /* 128 bits as 26 groups of 5 bits, the first group holding the top 3. */
    for (int i = 0; i < ULID_LEN; i++) {
        int bit = i * 5 - 2; /* first bit of this group in b, may be negative */
        unsigned v = 0;
        for (int k = 0; k < 5; k++, bit++) {
            v <<= 1;
            if (bit >= 0)
                v |= (b[bit / 8] >> (7 - bit % 8)) & 1u;
        }
        out[i] = crockford[v];
    }
    out[ULID_LEN] = '\0';
}

int ulid_make(char out[ULID_LEN + 1])
{
    uint8_t rnd[10];
    int rc = random_fill(rnd, sizeof(rnd));
    if (rc < 0)
        return rc;
    ulid_encode(ulid_now_ms(), rnd, out);
    return 0;
}
