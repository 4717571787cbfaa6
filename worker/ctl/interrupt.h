/* SIGINT/SIGTERM for invqctl's long operations: the handler only sets a
 * flag; the operation finishes its current batch, then stops. */
#ifndef INVQ_CTL_INTERRUPT_H
#define INVQ_CTL_INTERRUPT_H

#include <stdbool.h>

/* Installs the handlers (SA_RESTART, so Redis I/O in flight completes). */
void interrupt_install(void);
/* True once SIGINT or SIGTERM arrived. */
bool interrupt_requested(void);

#endif
