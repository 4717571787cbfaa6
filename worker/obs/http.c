/* The worker's HTTP/1.1 listener (see http.h): one request per connection,
 * parsed with http-parser, answered from the metrics registry, then closed.
 * Every connection has a deadline, and when every slot is taken a new
 * connection pushes out the one most likely to be abusive, so slow or silent
 * clients can neither pile up nor lock probes out (worker/obs/README.md). */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#define HTTP_URL_MAX 256
#define HTTP_READ_BUF 16384
/* After answering, how long to wait for the client to close before we do
 * (reading and dropping what it still sends, so the answer is not lost to
 * a TCP reset). */
#define HTTP_LINGER_MS 2000
/* invq_loop_lag_seconds is the worst lateness of this many recent ticks, so
 * a short stall is still visible to a scrape some seconds later. */
#define HTTP_LAG_WINDOW 16

typedef struct http_conn http_conn;

struct http_server {
    uv_loop_t *loop;
    metrics *m;
    http_limits lim;
    uv_tcp_t listener;
    uv_timer_t watchdog;
    uint64_t last_tick_ns;
    double lag[HTTP_LAG_WINDOW]; /* lateness of the recent ticks, a ring */
    unsigned lag_next;
    http_conn *conns; /* doubly linked, every connection not yet freed */
    unsigned nconns;
    unsigned nactive; /* of those, not closing: what max_connections bounds */
    uint64_t next_seq;
    uint64_t evictions;
    unsigned rejects; /* over-limit connections being closed */
    int open_handles; /* listener + watchdog */
    bool closing;
    void (*close_cb)(void *data);
    void *close_data;
    http_parser_settings settings;
    char read_buf[HTTP_READ_BUF]; /* reads are handled one at a time on the loop */
};

enum conn_state { CONN_READING, CONN_ANSWERED, CONN_CLOSING };

struct http_conn {
    http_server *s;
    http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer; /* request deadline, then linger */
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    http_parser parser;
    enum conn_state state;
    int open_handles;
    uint64_t seq;                 /* accept order */
    struct sockaddr_storage peer; /* ss_family 0 when unknown */
    size_t head_bytes;
    bool complete;
    int status; /* set by a parser callback that rejects the request */
    const char *reason; /* with status: the answer's text (static) */
    char url[HTTP_URL_MAX]; /* the path only: the query and fragment are dropped */
    size_t url_len;
    bool url_truncated;
    bool url_query; /* past the '?' or '#' */
    char head[256];
    char text[256]; /* short bodies */
    char *body;     /* owned long body (metrics), or NULL */
};

typedef struct http_reject {
    uv_tcp_t tcp;
    http_server *s;
} http_reject;

void http_limits_default(http_limits *lim)
{
    *lim = (http_limits){
        .max_header_bytes = 8192,
        .max_connections = 64,
        .request_timeout_ms = 10000,
        .watchdog_interval_ms = 1000,
        .watchdog_stale_ms = 5000,
    };
}

/* ---- teardown ---- */

static void server_maybe_closed(http_server *s)
{
    if (!s->closing || s->open_handles > 0 || s->conns || s->rejects > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    free(s);
    if (cb)
        cb(data);
}

static void conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    http_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c->body);
    free(c);
    server_maybe_closed(s);
}

static void conn_close(http_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    c->s->nactive--;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void reject_closed(uv_handle_t *h)
{
    http_reject *r = h->data;
    http_server *s = r->s;
    free(r);
    s->rejects--;
    server_maybe_closed(s);
}

static void server_handle_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    s->open_handles--;
    server_maybe_closed(s);
}

void http_server_close(http_server *s, void (*cb)(void *data), void *data)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    uv_close((uv_handle_t *)&s->listener, server_handle_closed);
    uv_close((uv_handle_t *)&s->watchdog, server_handle_closed);
    for (http_conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

/* ---- answering ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void conn_timer_cb(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    http_conn *c = req->data;
    if (status < 0)
        conn_close(c);
    /* Otherwise keep reading until the client closes or the linger ends. */
}

static void conn_write_cb(uv_write_t *req, int status)
{
    http_conn *c = req->data;
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0 || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0)
        conn_close(c);
}

/* Sends the answer and moves the connection to its linger phase. body is
 * c->text or c->body (both owned by c); HEAD answers omit it. */
static void conn_answer(http_conn *c, int status, const char *content_type, const char *body, size_t len)
{
    bool head_only = c->complete && c->parser.method == HTTP_HEAD;
    int n = snprintf(c->head, sizeof c->head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     status, status_text(status), content_type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    uv_buf_t bufs[2] = { uv_buf_init(c->head, (unsigned)n), uv_buf_init((char *)body, (unsigned)len) };
    c->state = CONN_ANSWERED;
    c->write_req.data = c;
    c->shutdown_req.data = c;
    uv_timer_start(&c->timer, conn_timer_cb, HTTP_LINGER_MS, 0);
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, head_only || len == 0 ? 1 : 2, conn_write_cb) < 0)
        conn_close(c);
}

static void conn_answer_text(http_conn *c, int status, const char *text)
{
    int n = snprintf(c->text, sizeof c->text, "%s\n", text);
    conn_answer(c, status, "text/plain; charset=utf-8", c->text, (size_t)n);
}

static void route_metrics(http_conn *c)
{
    size_t len = 0;
    c->body = metrics_render(c->s->m, &len);
    if (!c->body) {
        conn_answer_text(c, 500, "out of memory");
        return;
    }
    conn_answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", c->body, len);
}

static void route_healthz(http_conn *c)
{
    http_server *s = c->s;
    uint64_t age_ms = (uv_hrtime() - s->last_tick_ns) / 1000000;
    if (age_ms > s->lim.watchdog_stale_ms) {
        char msg[128];
        snprintf(msg, sizeof msg, "event loop stalled: watchdog last ran %llu ms ago",
                 (unsigned long long)age_ms);
        conn_answer_text(c, 503, msg);
        return;
    }
    conn_answer_text(c, 200, "ok");
}

static void route_readyz(http_conn *c)
{
    char reason[512];
    if (metrics_ready(c->s->m, reason, sizeof reason))
        conn_answer_text(c, 200, "ready");
    else
        conn_answer_text(c, 503, reason);
}

static void conn_route(http_conn *c)
{
    static const struct {
        const char *path;
        void (*handler)(http_conn *c);
    } routes[] = {
        { "/metrics", route_metrics },
        { "/healthz", route_healthz },
        { "/readyz", route_readyz },
    };
    size_t path_len = strcspn(c->url, "?#");
    for (size_t i = 0; !c->url_truncated && i < sizeof routes / sizeof routes[0]; i++) {
        if (strlen(routes[i].path) != path_len || memcmp(routes[i].path, c->url, path_len) != 0)
            continue;
        if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) {
            conn_answer_text(c, 405, "method not allowed");
            return;
        }
        routes[i].handler(c);
        return;
    }
    conn_answer_text(c, 404, "not found");
}

/* ---- parsing ---- */

/* Length of the prefix of at[0..len) holding none of the bytes in stop. */
static size_t strcspn_n(const char *at, size_t len, const char *stop)
{
    size_t i = 0;
    while (i < len && !strchr(stop, at[i]))
        i++;
    return i;
}

static int conn_reject(http_conn *c, int status, const char *reason)
{
    c->status = status;
    c->reason = reason;
    return -1;
}

static int conn_count_head(http_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->s->lim.max_header_bytes)
        return conn_reject(c, 431, status_text(431));
    return 0;
}

/* Keeps the path; a query or fragment, however long, is dropped (it only
 * counts against the header limit). May be called in pieces. */
static int on_url(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    size_t path = c->url_query ? 0 : strcspn_n(at, len, "?#");
    if (path < len)
        c->url_query = true;
    size_t room = sizeof c->url - 1 - c->url_len;
    if (path > room)
        c->url_truncated = true;
    size_t n = path < room ? path : room;
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return conn_count_head(c, len);
}

static int on_header_part(http_parser *p, const char *at, size_t len)
{
    /* +2 per part: the ": " or CRLF around it, so many tiny headers count too. */
    return conn_count_head(p->data, len + 2);
}

static int on_headers_complete(http_parser *p)
{
    http_conn *c = p->data;
    if (p->http_major != 1)
        return conn_reject(c, 400, "unsupported HTTP version: only HTTP/1.x is served");
    /* RFC 9112 6.3: a request whose final transfer coding is not chunked has
     * no determinable length (identity included): 400. */
    if (p->uses_transfer_encoding && !(p->flags & F_CHUNKED))
        return conn_reject(c, 400, "unsupported Transfer-Encoding: only chunked is understood");
    if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))
        return conn_reject(c, 413, "request bodies are not accepted");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    c->complete = true;
    http_parser_pause(p, 1); /* one request per connection: ignore the rest */
    return 0;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;
    *buf = uv_buf_init(c->s->read_buf, sizeof c->s->read_buf);
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    if (nread < 0) {
        conn_close(c); /* EOF or error, in any state */
        return;
    }
    if (nread == 0 || c->state != CONN_READING)
        return; /* after the answer: drop what the client still sends */
    http_parser_execute(&c->parser, &c->s->settings, buf->base, (size_t)nread);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    /* http-parser marks a request line without a version as 0.9 and then
     * waits for headers that an HTTP/0.9 client never sends. */
    if (!c->status && !c->complete && c->parser.http_major == 0 && c->parser.http_minor == 9)
        conn_reject(c, 400, "unsupported HTTP version: only HTTP/1.x is served");
    if (c->status)
        conn_answer_text(c, c->status, c->reason);
    else if (c->complete)
        conn_route(c);
    else if (err == HPE_HEADER_OVERFLOW)
        conn_answer_text(c, 431, status_text(431));
    else if (err != HPE_OK)
        conn_answer_text(c, 400, http_errno_description(err));
    /* else: wait for more of the request, within the deadline. */
}

/* ---- accepting ---- */

static void server_reject(http_server *s)
{
    http_reject *r = malloc(sizeof *r);
    /* Out of memory: leave the connection in the backlog (libuv pauses the
     * listener until one is accepted). */
    if (!r || uv_tcp_init(s->loop, &r->tcp) < 0) {
        free(r);
        return;
    }
    r->s = s;
    r->tcp.data = r;
    s->rejects++;
    uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&r->tcp);
    uv_close((uv_handle_t *)&r->tcp, reject_closed);
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family || a->ss_family == 0)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
                      sizeof(struct in_addr)) == 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return false;
}

static unsigned peer_connections(const http_server *s, const http_conn *c)
{
    unsigned n = 0;
    for (const http_conn *o = s->conns; o; o = o->next)
        n += o->state != CONN_CLOSING && same_peer(&o->peer, &c->peer);
    return n;
}

/* The connection to push out when every slot is taken: one still waiting
 * for its request (slow, silent or dripping), of the peer address holding
 * the most connections, the oldest of those; when every connection has its
 * answer already, the oldest of them. NULL when none is open. */
static http_conn *pick_victim(http_server *s)
{
    http_conn *best = NULL;
    unsigned best_peer = 0;
    for (http_conn *c = s->conns; c; c = c->next) {
        if (c->state != CONN_READING)
            continue;
        unsigned n = peer_connections(s, c);
        if (!best || n > best_peer || (n == best_peer && c->seq < best->seq))
            best = c, best_peer = n;
    }
    if (best)
        return best;
    for (http_conn *c = s->conns; c; c = c->next)
        if (c->state == CONN_ANSWERED && (!best || c->seq < best->seq))
            best = c;
    return best;
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
    http_server *s = listener->data;
    if (status < 0 || s->closing)
        return;
    if (s->nactive >= s->lim.max_connections) {
        http_conn *victim = pick_victim(s);
        if (!victim) {
            server_reject(s);
            return;
        }
        conn_close(victim);
        s->evictions++;
    }
    http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        server_reject(s);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    c->timer.data = c;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->nactive++;
    c->seq = s->next_seq++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) < 0) {
        conn_close(c);
        return;
    }
    int plen = sizeof c->peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) < 0)
        c->peer.ss_family = 0;
    uv_timer_start(&c->timer, conn_timer_cb, s->lim.request_timeout_ms, 0);
}

static void watchdog_cb(uv_timer_t *t)
{
    http_server *s = t->data;
    uint64_t now = uv_hrtime();
    double late = (double)(now - s->last_tick_ns) / 1e9 - (double)s->lim.watchdog_interval_ms / 1e3;
    s->lag[s->lag_next++ % HTTP_LAG_WINDOW] = late > 0 ? late : 0;
    double worst = 0;
    for (size_t i = 0; i < HTTP_LAG_WINDOW; i++)
        worst = s->lag[i] > worst ? s->lag[i] : worst;
    metrics_set_loop_lag(s->m, worst);
    s->last_tick_ns = now;
}

/* A bound, listening socket. Made before any libuv handle, so the usual
 * failures (address in use, no permission) leave nothing to close. */
static int listen_socket(const struct sockaddr *addr, int *out)
{
    socklen_t len;
    if (addr->sa_family == AF_INET)
        len = sizeof(struct sockaddr_in);
    else if (addr->sa_family == AF_INET6)
        len = sizeof(struct sockaddr_in6);
    else
        return UV_EAFNOSUPPORT;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 || bind(fd, addr, len) < 0 ||
        listen(fd, 128) < 0) {
        int err = errno;
        close(fd);
        return uv_translate_sys_error(err);
    }
    *out = fd;
    return 0;
}

int http_server_start_limits(http_server **out, uv_loop_t *loop, const struct sockaddr *addr, metrics *m,
                             const http_limits *lim)
{
    *out = NULL;
    int fd = -1;
    int rc = listen_socket(addr, &fd);
    if (rc < 0)
        return rc;
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return UV_ENOMEM;
    }
    s->loop = loop;
    s->m = m;
    s->lim = *lim;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_part;
    s->settings.on_header_value = on_header_part;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_message_complete = on_message_complete;
    s->listener.data = s;
    s->watchdog.data = s;
    uv_tcp_init(loop, &s->listener);
    uv_timer_init(loop, &s->watchdog);
    s->open_handles = 2;
    s->last_tick_ns = uv_hrtime();
    rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0)
        close(fd); /* not yet owned by the handle */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 128, server_connection_cb);
    if (rc == 0)
        rc = uv_timer_start(&s->watchdog, watchdog_cb, s->lim.watchdog_interval_ms, s->lim.watchdog_interval_ms);
    if (rc < 0) {
        /* Rare (out of memory in libuv): the handles close on the next loop turn. */
        http_server_close(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

int http_server_start(http_server **out, uv_loop_t *loop, const struct sockaddr *addr, metrics *m)
{
    http_limits lim;
    http_limits_default(&lim);
    return http_server_start_limits(out, loop, addr, m, &lim);
}

int http_server_port(const http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return rc;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return UV_EAFNOSUPPORT;
}

unsigned http_server_connections(const http_server *s)
{
    return s->nconns;
}

uint64_t http_server_evictions(const http_server *s)
{
    return s->evictions;
}
