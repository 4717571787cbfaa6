/* Runs `promtool check metrics` over a text, for the exposition tests. */
#include "promtool_check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int promtool_check(const char *text)
{
    const char *promtool = getenv("PROMTOOL");
    if (!promtool || !*promtool || access(promtool, X_OK) != 0)
        return PROMTOOL_ABSENT;
    char path[] = "/tmp/invq-obs-expo-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    int status = -1;
    if (ok) {
        pid_t pid = fork();
        if (pid == 0) {
            int in = open(path, 0);
            if (in < 0 || dup2(in, 0) < 0)
                _exit(126);
            execl(promtool, promtool, "check", "metrics", (char *)NULL);
            _exit(127);
        }
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
            status = WEXITSTATUS(status);
        else
            status = -1;
    }
    unlink(path);
    if (status != 0)
        fprintf(stderr, "promtool check metrics failed (%d) on:\n%s\n", status, text);
    return status;
}
