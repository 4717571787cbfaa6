/* Helpers shared by the benchmark's tests (see btest.h). */
#include "btest.h"

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int btest_failures;

int btest_run(const char *const argv[], char *out, size_t outlen)
{
    char path[] = "/tmp/invq-bench-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    pid_t pid;
    /* posix_spawn does not modify argv; its prototype predates const. */
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (rc == 0)
        waitpid(pid, &status, 0);
    FILE *f = fdopen(fd, "r");
    size_t n = 0;
    if (f != NULL) {
        rewind(f);
        n = fread(out, 1, outlen - 1, f);
        fclose(f);
    } else {
        close(fd);
    }
    out[n] = '\0';
    unlink(path);
    if (rc != 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
