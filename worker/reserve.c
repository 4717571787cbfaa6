/* One doubling policy for the worker's reusable arrays. */
#include "reserve.h"

#include <errno.h>
#include <stdlib.h>

int array_reserve(void **p, size_t *cap, size_t need, size_t size, size_t initial)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap != 0 ? *cap : initial;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (q == NULL)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}
