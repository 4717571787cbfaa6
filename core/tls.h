/* The TLS settings of a Redis URL (ssl_* parameters, see redis_url.h) as
 * OpenSSL objects, and the one description of a TLS failure that every
 * program prints. Used by tlspipe, the only code that moves TLS bytes. */
#ifndef INVQ_CORE_TLS_H
#define INVQ_CORE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "redis_url.h"

/* A client context for u (borrowed): TLS >= 1.2; with ssl_cert_reqs=required
 * the server's chain must verify against ssl_ca_certs (or the system's CAs);
 * ssl_certfile/ssl_keyfile are loaded as the client certificate. The files
 * are read now, so each new connection sees rotated files. On 0 *out is the
 * caller's (SSL_CTX_free()). On failure INVQ_ETLS (a file cannot be used,
 * the message names it and why) or INVQ_ENOMEM. */
int tls_ctx_new(const redis_url *u, SSL_CTX **out, char *err, size_t errlen);

/* A client session on ctx (borrowed; the session holds its own reference)
 * over two memory BIOs, with SNI for a host name and, when u asks for it,
 * the host name or IP address check. On 0 *out is the caller's (SSL_free()).
 * Returns INVQ_ETLS or INVQ_ENOMEM otherwise. */
int tls_ssl_new(SSL_CTX *ctx, const redis_url *u, SSL **out, char *err, size_t errlen);

/* Checks that u's TLS files can be loaded (one tls_ctx_new()), for a
 * program's start-up validation: 0, or INVQ_ETLS with the message. A
 * non-TLS url always passes. */
int tls_check_files(const redis_url *u, char *err, size_t errlen);

/* Explains why an SSL call failed (ssl_error from SSL_get_error, sys_errno
 * for SSL_ERROR_SYSCALL), consuming OpenSSL's error queue of this thread:
 * "certificate verify failed: certificate has expired", "tlsv13 alert
 * certificate required (the server wants a client certificate:
 * ssl_certfile)", ... */
void tls_failure_text(SSL *ssl, int ssl_error, int sys_errno, char *buf, size_t len);

#endif
