/* Runs worker/demo/run-demo.sh BUILD_DIR as a test: a C launcher so that
 * `meson test --wrapper valgrind` checks our code, not the shell's. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    pid_t pid;
    int st;
    if (argc != 3) {
        fprintf(stderr, "usage: run_demo SCRIPT BUILD_DIR\n");
        return 64;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", argv[1], argv[2], (char *)NULL);
        perror("exec /bin/sh");
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    fprintf(stderr, "run-demo.sh killed by signal %d\n", WTERMSIG(st));
    return 1;
}
