/* invq_strerror() and the error-buffer helper: one English line per status. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

INVQ_API const char *invq_strerror(int code)
{
    switch (code) {
    case INVQ_OK: return "ok: sent, Redis confirmed the job is queued";
    case INVQ_SPOOLED: return "spooled: Redis unreachable, job stored in the local spool for replay";
    case INVQ_EINVAL: return "invalid argument or option";
    case INVQ_ENOMEM: return "out of memory";
    case INVQ_EURL: return "bad Redis URL";
    case INVQ_ECONNECT: return "cannot connect to Redis";
    case INVQ_ETIMEOUT: return "Redis connect or command timed out (not confirmed)";
    case INVQ_EAUTH: return "Redis authentication failed";
    case INVQ_EREPLY: return "Redis replied with an error";
    case INVQ_EIO: return "Redis connection broke (not confirmed)";
    case INVQ_ELIMIT: return "job exceeds a limit";
    case INVQ_EJOB: return "invalid job";
    case INVQ_ESPOOL: return "spool file I/O failed";
    case INVQ_ESPOOLFULL: return "spool full (spool_max_bytes reached), job not stored";
    case INVQ_ECLOSED: return "producer is closing or closed";
    case INVQ_EQUEUEFULL: return "too many jobs waiting in memory for a connection";
    case INVQ_EPROTO: return "unexpected reply from Redis";
    case INVQ_ETLS: return "TLS failed (certificate verification, handshake or TLS files)";
    case INVQ_EFAMILY: return "key outside its family";
    case INVQ_NOTFOUND: return "not found: the source of truth has no such row";
    case INVQ_EWAIT: return "another reader's fill lease outlived the wait (loader not called)";
    default: return "unknown invq status";
    }
}

int err_set(char *buf, size_t len, int code, const char *fmt, ...)
{
    if (buf && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_socket(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return errno;
    return e;
}
