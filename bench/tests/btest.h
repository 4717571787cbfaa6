/* Helpers shared by the benchmark's tests (bench/tests/): a check that
 * counts failures instead of exiting, and running a program with its
 * standard output captured. */
#ifndef INVQ_BENCH_TESTS_BTEST_H
#define INVQ_BENCH_TESTS_BTEST_H

#include <stddef.h>
#include <stdio.h>

/* Failed checks so far; a test exits 1 when it is not 0. */
extern int btest_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            btest_failures++;                                               \
        }                                                                   \
    } while (0)

/* Runs argv (argv[0] is the program's path; borrowed), its stdout captured
 * into out (NUL-terminated, truncated to outlen - 1 bytes) and its stderr
 * left on ours. Returns its exit code, or -1 when it could not be run or was
 * killed by a signal. */
int btest_run(const char *const argv[], char *out, size_t outlen);

#endif
