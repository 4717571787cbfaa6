/* Keeps a write to a dead socket from killing the process with SIGPIPE,
 * without touching the process-wide signal disposition: SIGPIPE is blocked
 * in the calling thread around the write, and one raised by it is consumed. */
#ifndef INVQ_PRODUCER_SIGPIPE_H
#define INVQ_PRODUCER_SIGPIPE_H

#include <signal.h>
#include <stdbool.h>

typedef struct sigpipe_guard {
    sigset_t old;
    bool already_blocked;
    bool was_pending;
} sigpipe_guard;

void sigpipe_block(sigpipe_guard *g);
void sigpipe_restore(sigpipe_guard *g);

/* True when SIGPIPE's disposition is SIG_IGN (one sigaction() call): a write
 * then cannot raise it, and a caller that checked may skip the guard. */
bool sigpipe_ignored(void);

#endif
