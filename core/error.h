/* Status codes shared by libinvq, the worker and invqctl: invq_strerror()
 * (declared in <invq/invq.h>) and a small helper that fills error buffers. */
#ifndef INVQ_PRODUCER_ERROR_H
#define INVQ_PRODUCER_ERROR_H

#include <stddef.h>

#include <invq/invq.h>

/* Writes a printf-style message into buf (len bytes; len 0 writes nothing)
 * and returns code, so callers can `return err_set(...)`. */
int err_set(char *buf, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The pending error of a socket (SO_ERROR: why a connect or a poll failed),
 * 0 when none; the errno of getsockopt() when that fails. */
int err_socket(int fd);

#endif
