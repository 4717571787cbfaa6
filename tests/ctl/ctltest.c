/* invqctl runs for the C tests (see ctltest.h). */
#include "ctltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
    char log[512];
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
    snprintf(log, sizeof log, "%s/invqctl.out", dir);
    remove(log);
    int st = wt_run(argv[0], argv, NULL, log, WT_DEADLINE_MS);
    WT_CHECK(st != -1 && WIFEXITED(st), "invqctl did not exit");
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(out, 1, outlen - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    printf("# invqctl %s (%.60s...) -> %d: %.*s\n", cmd, url, WEXITSTATUS(st), (int)strcspn(out, "\n"), out);
    return WEXITSTATUS(st);
}
