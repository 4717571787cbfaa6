/* invqctl runs for the C tests (see ctltest.h). */
#include "ctltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtest.h"

const char *ctl_path(void)
{
    const char *p = getenv("INVQCTL");
    if (p == NULL || *p == '\0') {
        printf("# INVQCTL is not set: skipping\n");
        exit(77);
    }
    return p;
}

int ctl_run(const char *dir, const char *url, const char *const *args, char *out, size_t outlen)
{
    const char *argv[16];
    const char *cmd = args[0];
    int n = 0;
    argv[n++] = ctl_path();
    argv[n++] = "--queue-url";
    argv[n++] = url;
    argv[n++] = "--connect-timeout-ms"; /* TLS under valgrind on a loaded machine takes seconds */
    argv[n++] = "20000";
    for (; *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int code = wt_run_output(argv, dir, "invqctl", out, outlen);
    printf("# invqctl %s (%.60s...) -> %d: %.*s\n", cmd, url, code, (int)strcspn(out, "\n"), out);
    return code;
}
