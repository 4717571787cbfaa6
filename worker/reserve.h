/* Growing the worker's reusable arrays: one doubling policy for every buffer
 * a batch fills, so steady-state batches allocate nothing. */
#ifndef INVQ_WORKER_RESERVE_H
#define INVQ_WORKER_RESERVE_H

#include <stddef.h>

/* Makes room for `need` elements of `size` bytes in *p, whose capacity is
 * *cap elements: starting at `initial` (when *cap is 0) and doubling until it
 * fits. *p stays owned by the caller; on failure it is left as it was.
 * Returns 0 or -ENOMEM. */
int array_reserve(void **p, size_t *cap, size_t need, size_t size, size_t initial);

#endif
