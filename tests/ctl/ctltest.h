/* Running invqctl from the C tests of tests/ctl/: its path from $INVQCTL
 * (exit 77, skipped, when unset) and one run with its output captured. */
#ifndef INVQ_TESTS_CTLTEST_H
#define INVQ_TESTS_CTLTEST_H

#include <stddef.h>

/* $INVQCTL; exits 77 when it is not set. Borrowed. */
const char *ctl_path(void);

/* Runs `invqctl --queue-url URL --connect-timeout-ms 20000 ARGS...` (args
 * NULL-terminated, at most 10), its stdout and stderr into dir/invqctl.out,
 * copied into out (outlen bytes, NUL-terminated); prints a "# ..." line
 * with the exit code and the first line of output. Returns the exit code;
 * fails the test when invqctl did not exit within WT_DEADLINE_MS. */
int ctl_run(const char *dir, const char *url, const char *const *args, char *out, size_t outlen);

#endif
