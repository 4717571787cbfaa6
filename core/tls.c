/* OpenSSL contexts and sessions from a Redis URL's ssl_* parameters, and
 * the text of TLS failures (see tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "error.h"

/* The reason of the oldest queued OpenSSL error ("" when none); clears the queue. */
static void pop_errors(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    buf[0] = '\0';
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}

static int file_error(const char *param, const char *path, char *err, size_t errlen)
{
    char why[200];
    if (access(path, R_OK) != 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else
        pop_errors(why, sizeof why);
    ERR_clear_error();
    return err_set(err, errlen, INVQ_ETLS, "%s '%s': cannot be used: %s", param, path,
                   why[0] ? why : "not a PEM file");
}

int tls_ctx_new(const redis_url *u, SSL_CTX **out, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    *out = NULL;
    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(TLS_client_method())))
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: cannot create a context (out of memory)");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, u->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    int rc = 0;
    if (u->tls_verify) {
        if (u->tls_ca_certs) {
            if (SSL_CTX_load_verify_locations(ctx, u->tls_ca_certs, NULL) != 1)
                rc = file_error("ssl_ca_certs", u->tls_ca_certs, err, errlen);
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            rc = err_set(err, errlen, INVQ_ETLS, "TLS: cannot load the system's trusted CAs (give ssl_ca_certs)");
        }
    }
    if (rc == 0 && u->tls_certfile) {
        const char *key = u->tls_keyfile ? u->tls_keyfile : u->tls_certfile;
        if (SSL_CTX_use_certificate_chain_file(ctx, u->tls_certfile) != 1)
            rc = file_error("ssl_certfile", u->tls_certfile, err, errlen);
        else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
                rc = err_set(err, errlen, INVQ_ETLS, "ssl_keyfile '%s' is not the key of ssl_certfile '%s'", key,
                             u->tls_certfile);
            else
                rc = file_error(u->tls_keyfile ? "ssl_keyfile" : "ssl_certfile (no ssl_keyfile: the key)", key, err,
                                errlen);
        }
        else if (SSL_CTX_check_private_key(ctx) != 1)
            rc = err_set(err, errlen, INVQ_ETLS, "ssl_keyfile '%s' is not the key of ssl_certfile '%s'", key,
                         u->tls_certfile);
    }
    ERR_clear_error();
    if (rc < 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int tls_ssl_new(SSL_CTX *ctx, const redis_url *u, SSL **out, char *err, size_t errlen)
{
    SSL *ssl;
    BIO *rbio, *wbio;
    bool ip = is_ip_literal(u->host);

    *out = NULL;
    ERR_clear_error();
    if (!(ssl = SSL_new(ctx)))
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: cannot create a session (out of memory)");
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: out of memory");
    }
    /* An empty read BIO means "no data yet", not end of file. */
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);
    int ok = 1;
    if (!ip)
        ok = SSL_set_tlsext_host_name(ssl, u->host) == 1;
    if (ok && u->tls_check_hostname) {
        if (ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, u->host) == 1;
        }
    }
    ERR_clear_error();
    if (!ok) {
        SSL_free(ssl);
        return err_set(err, errlen, INVQ_ETLS, "TLS: cannot use host name '%s' for the certificate check", u->host);
    }
    *out = ssl;
    return 0;
}

int tls_check_files(const redis_url *u, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    if (!u->tls)
        return 0;
    int rc = tls_ctx_new(u, &ctx, err, errlen);
    SSL_CTX_free(ctx);
    return rc;
}

void tls_failure_text(SSL *ssl, int ssl_error, int sys_errno, char *buf, size_t len)
{
    char why[200];
    long vr = X509_V_OK;

    if (ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER))
        vr = SSL_get_verify_result(ssl);
    pop_errors(why, sizeof why);
    if (vr != X509_V_OK) {
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (why[0]) {
        if (strstr(why, "certificate required"))
            snprintf(buf, len, "%s (the server wants a client certificate: ssl_certfile)", why);
        else if (strstr(why, "wrong version number") || strstr(why, "packet length too long"))
            snprintf(buf, len, "%s (is the server speaking TLS on this port?)", why);
        else
            snprintf(buf, len, "%s", why);
    } else if (ssl_error == SSL_ERROR_SYSCALL && sys_errno != 0) {
        snprintf(buf, len, "%s", strerror(sys_errno));
    } else {
        snprintf(buf, len, "TLS error %d", ssl_error);
    }
}
