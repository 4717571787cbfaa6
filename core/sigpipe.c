/* Thread-local SIGPIPE suppression around socket writes (see sigpipe.h). */
#include "sigpipe.h"

#include <pthread.h>
#include <time.h>

static bool pipe_pending(void)
{
    sigset_t pend;
    sigemptyset(&pend);
    return sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1;
}

void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->already_blocked = sigismember(&g->old, SIGPIPE) == 1;
    g->was_pending = pipe_pending();
}

void sigpipe_restore(sigpipe_guard *g)
{
    if (g->already_blocked)
        return;
    if (!g->was_pending && pipe_pending()) {
        sigset_t set;
        struct timespec zero = { 0, 0 };
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        (void)sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

bool sigpipe_ignored(void)
{
    struct sigaction old;
    return sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
           old.sa_handler == SIG_IGN;
}
