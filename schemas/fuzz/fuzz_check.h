/* The check of every libFuzzer harness: a failed condition prints the
 * harness file, line and condition, then aborts so libFuzzer keeps the input. */
#ifndef INVQ_FUZZ_CHECK_H
#define INVQ_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
