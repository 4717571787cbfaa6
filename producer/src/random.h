/* Random bytes from getrandom(2), for job ids and lease tokens. */
#ifndef INVQ_PRODUCER_RANDOM_H
#define INVQ_PRODUCER_RANDOM_H

#include <stddef.h>

/* Fills buf with n random bytes. Returns 0, or INVQ_EIO when the kernel
 * has none to give. */
int random_fill(void *buf, size_t n);

#endif
