/* TLS pump between a socketpair end that hiredis uses and the TCP socket
 * to Redis, through OpenSSL memory BIOs on a libuv loop (see tlspipe.h).
 * All socket I/O here uses MSG_NOSIGNAL: no SIGPIPE, whatever the process
 * does with that signal. */
#include "tlspipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "error.h"
#include "tls.h"

#define CHUNK 16384
#define HIGH_WATER (1u << 20) /* bytes buffered one way before reading that way pauses */

typedef struct bytes {
    uint8_t *p;
    size_t len, off, cap;
} bytes;

enum tp_state { TP_CONNECTING, TP_HANDSHAKE, TP_OPEN, TP_ENDED };

struct tlspipe {
    uv_loop_t *loop;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int net_fd, pipe_fd;
    uv_poll_t npoll, ppoll;
    bool npoll_open, ppoll_open;
    int nev, pev;
    uv_timer_t timer;
    int open_handles;
    enum tp_state state;
    bool net_eof;   /* the server sent FIN or close_notify */
    bool app_eof;   /* the app end was closed */
    bool app_shut;  /* shutdown(SHUT_WR) done on the app end */
    bool closing;
    bool cert_requested; /* the server sent a CertificateRequest */
    bool have_cert;      /* the URL gives a client certificate */
    size_t app_rx;       /* plaintext bytes received since the handshake */
    int timeout_ms;
    bytes cin;      /* plaintext from the app, not yet taken by SSL_write */
    bytes cout;     /* plaintext for the app */
    bytes nout;     /* TLS records for the network */
    char peer[300];
    tlspipe_cb cb;
    void *data;
    tlspipe_close_cb close_cb;
    void *close_data;
};

static size_t avail(const bytes *b) { return b->len - b->off; }

static void consume(bytes *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

static int append(bytes *b, const void *p, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len < n) {
        if (b->off > 0) { /* slide the unread part down first */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->cap - b->len < n) {
            size_t cap = b->cap ? b->cap : CHUNK;
            while (cap - b->len < n)
                cap *= 2;
            uint8_t *np = realloc(b->p, cap);
            if (!np)
                return -1;
            b->p = np;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void on_npoll(uv_poll_t *h, int status, int events);
static void on_ppoll(uv_poll_t *h, int status, int events);
static void pump(tlspipe *t);

static void set_poll(uv_poll_t *h, bool open, int *cur, int want, uv_poll_cb cb)
{
    if (!open || *cur == want)
        return;
    *cur = want;
    if (want)
        uv_poll_start(h, want, cb);
    else
        uv_poll_stop(h);
}

static void update_polls(tlspipe *t)
{
    int nev = 0, pev = 0;
    if (t->closing)
        return;
    if (t->state == TP_CONNECTING) {
        nev = UV_WRITABLE;
    } else if (t->state != TP_ENDED) {
        if (!t->net_eof && avail(&t->cout) < HIGH_WATER)
            nev |= UV_READABLE;
        if (avail(&t->nout) > 0)
            nev |= UV_WRITABLE;
    }
    if (!t->app_eof) {
        if (t->state == TP_OPEN && avail(&t->cin) < HIGH_WATER && avail(&t->nout) < HIGH_WATER)
            pev |= UV_READABLE;
        else if (t->state == TP_ENDED)
            pev |= UV_READABLE; /* discard until the app closes its end */
        else
            pev |= UV_DISCONNECT; /* nothing is read before the handshake: only watch for a close */
        if (avail(&t->cout) > 0)
            pev |= UV_WRITABLE;
    }
    set_poll(&t->npoll, t->npoll_open, &t->nev, nev, on_npoll);
    set_poll(&t->ppoll, t->ppoll_open, &t->pev, pev, on_ppoll);
}

static void maybe_free(tlspipe *t)
{
    if (!t->closing || t->open_handles > 0)
        return;
    SSL_free(t->ssl);
    free(t->cin.p);
    free(t->cout.p);
    free(t->nout.p);
    if (t->close_cb)
        t->close_cb(t, t->close_data);
    free(t);
}

/* One handle closed; fd (may be NULL) is the socket it watched. */
static void handle_closed(tlspipe *t, int *fd)
{
    if (fd && *fd >= 0)
        close(*fd);
    if (fd)
        *fd = -1;
    t->open_handles--;
    maybe_free(t);
}

static void on_net_closed(uv_handle_t *h)
{
    tlspipe *t = h->data;
    handle_closed(t, &t->net_fd);
}

static void on_pipe_closed(uv_handle_t *h)
{
    tlspipe *t = h->data;
    handle_closed(t, &t->pipe_fd);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data, NULL);
}

/* Closes the network side (the fd goes once its poll handle is closed). */
static void close_net(tlspipe *t)
{
    if (!t->npoll_open)
        return;
    t->npoll_open = false;
    uv_close((uv_handle_t *)&t->npoll, on_net_closed);
}

/* After the TLS connection ended: once the app has all plaintext, it reads EOF. */
static void shut_app_if_drained(tlspipe *t)
{
    if (t->state == TP_ENDED && !t->app_shut && !t->app_eof && avail(&t->cout) == 0) {
        t->app_shut = true;
        shutdown(t->pipe_fd, SHUT_WR);
    }
}

static void end_net(tlspipe *t, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The network side is over: report once, then let the app drain and see EOF. */
static void end_net(tlspipe *t, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (t->state == TP_ENDED || t->closing)
        return;
    t->state = TP_ENDED;
    uv_timer_stop(&t->timer);
    close_net(t);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    t->cb(t, TLSPIPE_ENDED, status, status < 0 ? msg : NULL, t->data);
    if (t->closing)
        return;
    shut_app_if_drained(t);
    update_polls(t);
}

static const char *client_cert_hint(const tlspipe *t)
{
    return t->have_cert ? "the server did not accept the client certificate (ssl_certfile)"
                        : "the server requires a client certificate: give ssl_certfile (and ssl_keyfile)";
}

static void tls_fail(tlspipe *t, int ssl_error, const char *what)
{
    char why[300];
    tls_failure_text(t->ssl, ssl_error, errno, why, sizeof why);
    if (t->cert_requested && strstr(why, "alert") && !strstr(why, "ssl_certfile"))
        end_net(t, INVQ_ETLS, "%s %s failed: %s (%s)", what, t->peer, why, client_cert_hint(t));
    else
        end_net(t, INVQ_ETLS, "%s %s failed: %s", what, t->peer, why);
}

/* The connection broke (reset, error). Right after a handshake in which the
 * server asked for a client certificate, that is its way of refusing it
 * (TLS 1.3: the alert can be lost to the reset). */
static void net_broke(tlspipe *t, int err)
{
    if (t->state == TP_OPEN && t->app_rx == 0 && t->cert_requested)
        end_net(t, INVQ_ETLS, "TLS connection to %s: %s right after the handshake: %s", t->peer, strerror(err),
                client_cert_hint(t));
    else
        end_net(t, t->state == TP_HANDSHAKE ? INVQ_ETLS : INVQ_EIO, "TLS connection to %s: %s", t->peer,
                strerror(err));
}

/* OpenSSL's message callback: notes a CertificateRequest from the server. */
static void on_tls_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                       void *arg)
{
    tlspipe *t = arg;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
        t->cert_requested = true;
}

static void app_closed(tlspipe *t)
{
    if (t->app_eof)
        return;
    t->app_eof = true;
    if (t->state == TP_OPEN) {
        /* Say goodbye properly: close_notify, best effort. */
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        uint8_t buf[CHUNK];
        int n;
        while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0)
            (void)send(t->net_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (t->state != TP_ENDED) {
        t->state = TP_ENDED;
        uv_timer_stop(&t->timer);
        close_net(t);
    }
    update_polls(t);
    t->cb(t, TLSPIPE_APP_CLOSED, 0, NULL, t->data);
}

/* Moves what OpenSSL wrote into its memory BIO onto the network queue. */
static int flush_wbio(tlspipe *t)
{
    uint8_t buf[CHUNK];
    int n;
    while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0) {
        if (append(&t->nout, buf, (size_t)n) < 0) {
            end_net(t, INVQ_ENOMEM, "TLS connection to %s: out of memory", t->peer);
            return -1;
        }
    }
    return 0;
}

/* Sends what b holds until the socket would block: 0, or the errno of a
 * failed send (b keeps what was not sent). */
static int send_buffered(int fd, bytes *b)
{
    while (avail(b) > 0) {
        ssize_t n = send(fd, b->p + b->off, avail(b), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            consume(b, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        else
            return n < 0 ? errno : EIO;
    }
    return 0;
}

static int send_net(tlspipe *t)
{
    int e = t->state == TP_ENDED ? 0 : send_buffered(t->net_fd, &t->nout);
    if (e != 0) {
        net_broke(t, e);
        return -1;
    }
    return 0;
}

static void send_app(tlspipe *t)
{
    if (!t->app_eof && send_buffered(t->pipe_fd, &t->cout) != 0) {
        app_closed(t);
        return;
    }
    shut_app_if_drained(t);
}

static void pump_handshake(tlspipe *t)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->state = TP_OPEN;
        uv_timer_stop(&t->timer);
        if (flush_wbio(t) < 0 || send_net(t) < 0)
            return;
        t->cb(t, TLSPIPE_READY, 0, NULL, t->data);
        return;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        tls_fail(t, e, "TLS handshake with");
        return;
    }
    if (flush_wbio(t) < 0 || send_net(t) < 0)
        return;
    if (t->net_eof)
        end_net(t, INVQ_ETLS, "TLS handshake with %s failed: the server closed the connection (is it speaking TLS?)",
                t->peer);
}

static void pump_open(tlspipe *t)
{
    uint8_t buf[CHUNK];
    while (avail(&t->cin) > 0) {
        ERR_clear_error();
        size_t want = avail(&t->cin) > INT_MAX ? INT_MAX : avail(&t->cin);
        int n = SSL_write(t->ssl, t->cin.p + t->cin.off, (int)want);
        if (n > 0) {
            consume(&t->cin, (size_t)n);
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        tls_fail(t, e, "TLS connection to");
        return;
    }
    bool tls_closed = false;
    while (avail(&t->cout) < HIGH_WATER) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, buf, sizeof buf);
        if (n > 0) {
            t->app_rx += (size_t)n;
            if (append(&t->cout, buf, (size_t)n) < 0) {
                end_net(t, INVQ_ENOMEM, "TLS connection to %s: out of memory", t->peer);
                return;
            }
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            tls_closed = true;
            break;
        }
        tls_fail(t, e, "TLS connection to");
        return;
    }
    if (flush_wbio(t) < 0 || send_net(t) < 0)
        return;
    send_app(t);
    if (t->state == TP_OPEN && (tls_closed || (t->net_eof && BIO_ctrl_pending(t->rbio) == 0)))
        end_net(t, 0, "Redis closed the TLS connection");
}

static void pump(tlspipe *t)
{
    if (t->closing)
        return;
    if (t->state == TP_HANDSHAKE)
        pump_handshake(t);
    if (t->closing)
        return;
    if (t->state == TP_OPEN)
        pump_open(t);
    if (!t->closing)
        update_polls(t);
}

static void read_net(tlspipe *t)
{
    uint8_t buf[CHUNK];
    for (int i = 0; i < 16 && !t->net_eof; i++) {
        ssize_t n = recv(t->net_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            if (BIO_write(t->rbio, buf, (int)n) != (int)n) {
                end_net(t, INVQ_ENOMEM, "TLS connection to %s: out of memory", t->peer);
                return;
            }
        } else if (n == 0) {
            t->net_eof = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            net_broke(t, errno);
            return;
        }
    }
}

static void on_npoll(uv_poll_t *h, int status, int events)
{
    tlspipe *t = h->data;
    if (t->closing || t->state == TP_ENDED)
        return;
    if (t->state == TP_CONNECTING) {
        int e = status < 0 ? err_socket(t->net_fd) : (events & UV_WRITABLE) ? err_socket(t->net_fd) : 0;
        if (status < 0 && e == 0)
            e = EIO;
        if (e != 0) {
            end_net(t, INVQ_ECONNECT, "connect %s: %s", t->peer, strerror(e));
            return;
        }
        if (!(events & UV_WRITABLE))
            return;
        t->state = TP_HANDSHAKE;
        pump(t);
        return;
    }
    if (status < 0) {
        int e = err_socket(t->net_fd);
        net_broke(t, e ? e : EIO);
        return;
    }
    if (events & UV_READABLE)
        read_net(t);
    if (!t->closing && t->state != TP_ENDED && (events & UV_WRITABLE))
        send_net(t);
    pump(t);
}

static void read_app(tlspipe *t)
{
    uint8_t buf[CHUNK];
    for (int i = 0; i < 16; i++) {
        if (t->state == TP_OPEN && (avail(&t->cin) >= HIGH_WATER || avail(&t->nout) >= HIGH_WATER))
            break;
        ssize_t n = recv(t->pipe_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            if (t->state == TP_OPEN && append(&t->cin, buf, (size_t)n) < 0) {
                end_net(t, INVQ_ENOMEM, "TLS connection to %s: out of memory", t->peer);
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            app_closed(t);
            return;
        }
    }
}

static void on_ppoll(uv_poll_t *h, int status, int events)
{
    tlspipe *t = h->data;
    if (t->closing || t->app_eof)
        return;
    if (status < 0 || (events & UV_DISCONNECT)) {
        app_closed(t);
        return;
    }
    if (events & UV_WRITABLE)
        send_app(t);
    if (!t->closing && !t->app_eof && (events & UV_READABLE))
        read_app(t);
    pump(t);
    if (!t->closing && t->state == TP_ENDED)
        update_polls(t);
}

static void on_timeout(uv_timer_t *h)
{
    tlspipe *t = h->data;
    if (t->state == TP_CONNECTING)
        end_net(t, INVQ_ETIMEOUT, "connect %s timed out after %d ms", t->peer, t->timeout_ms);
    else
        end_net(t, INVQ_ETIMEOUT, "TLS handshake with %s timed out after %d ms (does the server speak TLS there?)",
                t->peer, t->timeout_ms);
}

int tlspipe_splice(int fd, bool app_blocking, int *net_fd, int *pipe_fd, char *err, size_t errlen)
{
    int sp[2];
    int net = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (net < 0)
        return err_set(err, errlen, INVQ_ECONNECT, "TLS: cannot duplicate the socket: %s", strerror(errno));
    int fl = fcntl(net, F_GETFL);
    if (fl < 0 || fcntl(net, F_SETFL, fl | O_NONBLOCK) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (app_blocking ? 0 : SOCK_NONBLOCK), 0, sp) < 0) {
        int e = errno;
        close(net);
        return err_set(err, errlen, e == ENOMEM || e == ENFILE || e == EMFILE ? INVQ_ENOMEM : INVQ_ECONNECT,
                       "TLS: cannot make a socketpair: %s", strerror(e));
    }
    fl = fcntl(sp[1], F_GETFL);
    /* dup3 replaces what `fd` refers to atomically: its owner now holds the pair's end */
    if (fl < 0 || fcntl(sp[1], F_SETFL, fl | O_NONBLOCK) < 0 || dup3(sp[0], fd, O_CLOEXEC) < 0) {
        int e = errno;
        close(net);
        close(sp[0]);
        close(sp[1]);
        return err_set(err, errlen, INVQ_ECONNECT, "TLS: cannot splice the socket: %s", strerror(e));
    }
    close(sp[0]);
    *net_fd = net;
    *pipe_fd = sp[1];
    return 0;
}

int tlspipe_new(uv_loop_t *loop, const redis_url *u, int net_fd, int pipe_fd, int timeout_ms, tlspipe_cb cb,
                void *data, tlspipe **out, char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    tlspipe *t = NULL;
    int rc;

    *out = NULL;
    if (!(t = calloc(1, sizeof *t))) {
        rc = err_set(err, errlen, INVQ_ENOMEM, "TLS: out of memory");
        goto fail;
    }
    if ((rc = tls_ctx_new(u, &ctx, err, errlen)) < 0 || (rc = tls_ssl_new(ctx, u, &t->ssl, err, errlen)) < 0)
        goto fail;
    SSL_CTX_free(ctx); /* the session holds its own reference */
    ctx = NULL;
    t->rbio = SSL_get_rbio(t->ssl);
    t->wbio = SSL_get_wbio(t->ssl);
    t->have_cert = u->tls_certfile != NULL;
    SSL_set_msg_callback(t->ssl, on_tls_msg);
    SSL_set_msg_callback_arg(t->ssl, t);
    if ((rc = uv_poll_init_socket(loop, &t->npoll, net_fd)) < 0) {
        rc = err_set(err, errlen, INVQ_ECONNECT, "TLS: poll init: %s", uv_strerror(rc));
        goto fail;
    }
    if ((rc = uv_poll_init_socket(loop, &t->ppoll, pipe_fd)) < 0) {
        /* npoll is on the loop now: close it through the loop (t goes
         * with it); uv_close() stops watching the fd at once */
        t->closing = true;
        t->open_handles = 1;
        t->net_fd = t->pipe_fd = -1;
        t->npoll.data = t;
        t->npoll_open = true;
        close_net(t);
        close(net_fd);
        close(pipe_fd);
        return err_set(err, errlen, INVQ_ECONNECT, "TLS: poll init: %s", uv_strerror(rc));
    }
    t->loop = loop;
    t->net_fd = net_fd;
    t->pipe_fd = pipe_fd;
    t->npoll.data = t;
    t->ppoll.data = t;
    t->npoll_open = t->ppoll_open = true;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->open_handles = 3;
    t->state = TP_CONNECTING;
    t->timeout_ms = timeout_ms;
    t->cb = cb;
    t->data = data;
    snprintf(t->peer, sizeof t->peer, "%s%s%s:%d", strchr(u->host, ':') ? "[" : "", u->host,
             strchr(u->host, ':') ? "]" : "", u->port);
    if (timeout_ms > 0)
        uv_timer_start(&t->timer, on_timeout, (uint64_t)timeout_ms, 0);
    update_polls(t);
    *out = t;
    return 0;
fail:
    SSL_CTX_free(ctx);
    if (t)
        SSL_free(t->ssl);
    free(t);
    close(net_fd);
    close(pipe_fd);
    return rc;
}

bool tlspipe_tcp_connected(const tlspipe *t)
{
    return t->state != TP_CONNECTING;
}

void tlspipe_close(tlspipe *t, tlspipe_close_cb cb, void *data)
{
    if (t->closing)
        return;
    t->closing = true; /* from here on no callback runs */
    if (t->state == TP_OPEN && !t->app_eof) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        if (flush_wbio(t) == 0)
            (void)send_net(t);
    }
    t->close_cb = cb;
    t->close_data = data;
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
    close_net(t);
    if (t->ppoll_open) {
        t->ppoll_open = false;
        uv_close((uv_handle_t *)&t->ppoll, on_pipe_closed);
    }
}
