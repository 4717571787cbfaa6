/* The fault-injecting RESP proxy (see faultproxy.h): one thread, one poll()
 * loop, each client connection paired with its own upstream connection.
 * Commands are forwarded whole; replies are matched to commands in order. */
#include "faultproxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>

#include "resp_scan.h"

#define FP_MAX_CONNS 128
#define FP_MAX_RULES 16
#define FP_MAX_NAMES 64
#define FP_NAME_LEN 32
#define FP_ERR_LEN 256

typedef struct fp_buf {
    char *data;
    size_t len;
    size_t cap;
} fp_buf;

/* A reply waiting to be written to the client at due_ms. */
typedef struct fp_segment {
    uint64_t due_ms;
    char *data;
    size_t len;
} fp_segment;

/* A command awaiting its reply: from the server, or (synthetic != NULL) the
 * injected error the proxy answers instead of forwarding the command. */
typedef struct fp_pending {
    char name[FP_NAME_LEN];
    char *synthetic;
} fp_pending;

typedef struct fp_conn {
    int cfd;
    int sfd;
    fp_buf cin; /* client bytes not yet a whole command */
    fp_buf sin; /* server bytes not yet a whole reply */
    fp_pending *names; /* ring: commands awaiting replies, oldest first */
    size_t nhead;
    size_t ncount;
    size_t ncap;
    fp_segment *out;
    size_t nout;
    size_t capout;
    int dead;
    bool asking; /* cluster mode: the last command was ASKING */
} fp_conn;

typedef struct fp_rule {
    char name[FP_NAME_LEN];
    int remaining; /* < 0: forever */
    char error[FP_ERR_LEN];
} fp_rule;

typedef struct fp_count {
    char name[FP_NAME_LEN];
    long count;
} fp_count;

struct faultproxy {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int lfd;
    int wake[2];
    int port;
    char url[64];
    char upstream_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char upstream_host[64];
    int upstream_port;

    /* Guarded by mu. */
    int stop;
    fp_rule rules[FP_MAX_RULES];
    size_t nrules;
    int delay_ms;
    bool refuse;
    bool cluster;
    long injected;
    fp_count counts[FP_MAX_NAMES];
    size_t ncounts;
    unsigned drop_req;
    unsigned drop_done;

    /* Proxy thread only. */
    fp_conn *conns[FP_MAX_CONNS];
    size_t nconns;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int buf_append(fp_buf *b, const char *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + len) {
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (p == NULL) {
            return -ENOMEM;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void buf_consume(fp_buf *b, size_t n)
{
    if (n == 0) {
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void wake_thread(faultproxy *p)
{
    char c = 1;
    ssize_t n = write(p->wake[1], &c, 1);
    (void)n;
}

static void conn_free(fp_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->cfd >= 0) {
        close(c->cfd);
    }
    if (c->sfd >= 0) {
        close(c->sfd);
    }
    for (size_t i = 0; i < c->nout; i++) {
        free(c->out[i].data);
    }
    free(c->out);
    for (size_t i = 0; i < c->ncount; i++) {
        free(c->names[(c->nhead + i) % c->ncap].synthetic);
    }
    free(c->names);
    free(c->cin.data);
    free(c->sin.data);
    free(c);
}

static int names_push(fp_conn *c, const char *name, char *synthetic)
{
    if (c->ncount == c->ncap) {
        size_t cap = c->ncap ? c->ncap * 2 : 64;
        fp_pending *n = malloc(cap * sizeof(*n));
        if (n == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < c->ncount; i++) {
            n[i] = c->names[(c->nhead + i) % c->ncap];
        }
        free(c->names);
        c->names = n;
        c->ncap = cap;
        c->nhead = 0;
    }
    {
        fp_pending *e = &c->names[(c->nhead + c->ncount) % c->ncap];
        snprintf(e->name, FP_NAME_LEN, "%s", name);
        e->synthetic = synthetic;
    }
    c->ncount++;
    return 0;
}

static fp_pending *names_head(fp_conn *c)
{
    return c->ncount == 0 ? NULL : &c->names[c->nhead];
}

static void names_pop(fp_conn *c)
{
    c->nhead = (c->nhead + 1) % c->ncap;
    c->ncount--;
}

static int out_push(fp_conn *c, uint64_t due, const char *data, size_t len)
{
    fp_segment *s;
    if (c->nout == c->capout) {
        size_t cap = c->capout ? c->capout * 2 : 16;
        fp_segment *o = realloc(c->out, cap * sizeof(*o));
        if (o == NULL) {
            return -ENOMEM;
        }
        c->out = o;
        c->capout = cap;
    }
    s = &c->out[c->nout];
    s->data = malloc(len ? len : 1);
    if (s->data == NULL) {
        return -ENOMEM;
    }
    memcpy(s->data, data, len);
    s->len = len;
    s->due_ms = due;
    c->nout++;
    return 0;
}

/* Writes every segment that is due, in order. */
static int out_flush(fp_conn *c, uint64_t now)
{
    size_t i = 0;
    int rc = 0;
    while (i < c->nout && c->out[i].due_ms <= now) {
        rc = send_all(c->cfd, c->out[i].data, c->out[i].len);
        free(c->out[i].data);
        i++;
        if (rc != 0) {
            break;
        }
    }
    if (i > 0) {
        memmove(c->out, c->out + i, (c->nout - i) * sizeof(*c->out));
        c->nout -= i;
    }
    return rc;
}

/* A stream socket of the given family connected to sa; the fd or -errno. */
static int connect_sockaddr(int family, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, sa, len) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int connect_upstream(const faultproxy *p)
{
    int fd;
    if (p->upstream_socket[0] != '\0') {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->upstream_socket);
        return connect_sockaddr(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa));
    } else {
        struct sockaddr_in sa;
        int one = 1;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)p->upstream_port);
        if (inet_pton(AF_INET, p->upstream_host, &sa.sin_addr) != 1) {
            return -EINVAL;
        }
        fd = connect_sockaddr(AF_INET, (struct sockaddr *)&sa, sizeof(sa));
        if (fd >= 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        return fd;
    }
}

static void accept_one(faultproxy *p)
{
    int one = 1;
    bool refuse;
    fp_conn *c;
    int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    refuse = p->refuse;
    pthread_mutex_unlock(&p->mu);
    if (refuse || p->nconns == FP_MAX_CONNS) {
        close(cfd);
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(cfd);
        return;
    }
    c->cfd = cfd;
    c->sfd = connect_upstream(p);
    if (c->sfd < 0) {
        c->sfd = -1;
        conn_free(c);
        return;
    }
    p->conns[p->nconns++] = c;
}

static void count_command(faultproxy *p, const char *name)
{
    for (size_t i = 0; i < p->ncounts; i++) {
        if (strcmp(p->counts[i].name, name) == 0) {
            p->counts[i].count++;
            return;
        }
    }
    if (p->ncounts < FP_MAX_NAMES) {
        snprintf(p->counts[p->ncounts].name, FP_NAME_LEN, "%s", name);
        p->counts[p->ncounts].count = 1;
        p->ncounts++;
    }
}

/* Decides the fate of one command: a malloc'd error reply ("-ERR...\r\n")
 * to answer instead of forwarding it, or NULL to forward it. */
static char *apply_rules(faultproxy *p, const char *name, bool asking)
{
    char *out = NULL;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nrules; i++) {
        fp_rule *r = &p->rules[i];
        if (asking && strncmp(r->error, "ASK ", 4) == 0)
            continue; /* an importing node takes the command after ASKING */
        if (strcasecmp(r->name, name) == 0 && r->remaining != 0) {
            size_t n = strlen(r->error) + 4;
            out = malloc(n);
            if (out != NULL) {
                snprintf(out, n, "-%s\r\n", r->error);
                if (r->remaining > 0) {
                    r->remaining--;
                }
                p->injected++;
            }
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return out;
}

static int current_delay(faultproxy *p)
{
    int d;
    pthread_mutex_lock(&p->mu);
    d = p->delay_ms;
    pthread_mutex_unlock(&p->mu);
    return d;
}

/* Cluster mode: the proxy's own reply to CLUSTER (the slot map) and
 * ASKING, malloc'd; NULL for every other command (or when off). */
static char *cluster_reply(faultproxy *p, fp_conn *c, const char *name)
{
    bool on;
    char *out = NULL;
    pthread_mutex_lock(&p->mu);
    on = p->cluster;
    pthread_mutex_unlock(&p->mu);
    if (!on) {
        return NULL;
    }
    if (strcasecmp(name, "ASKING") == 0) {
        out = strdup("+OK\r\n");
        c->asking = true;
    } else if (strcasecmp(name, "CLUSTER") == 0) {
        /* [[0, 16383, ["127.0.0.1", port, node id]]] */
        size_t len = 160;
        out = malloc(len);
        if (out != NULL) {
            snprintf(out, len, "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%040d\r\n",
                     p->port, p->port);
        }
    }
    return out;
}

/* Queues the injected errors at the head of the line: they answer, in
 * order, commands that were never forwarded. */
static int drain_synthetic(faultproxy *p, fp_conn *c)
{
    fp_pending *e;
    int delay = current_delay(p);
    while ((e = names_head(c)) != NULL && e->synthetic != NULL) {
        int rc = out_push(c, now_ms() + (uint64_t)delay, e->synthetic, strlen(e->synthetic));
        free(e->synthetic);
        e->synthetic = NULL;
        names_pop(c);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Client → server: forwards every whole command (or answers it with an
 * injected error), remembering each in order. */
static int on_client_data(faultproxy *p, fp_conn *c)
{
    char tmp[16384];
    size_t pos = 0;
    ssize_t n = recv(c->cfd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
        return -1;
    }
    if (buf_append(&c->cin, tmp, (size_t)n) != 0) {
        return -1;
    }
    while (pos < c->cin.len) {
        char name[FP_NAME_LEN];
        char *synthetic;
        long m = resp_scan_command(c->cin.data + pos, c->cin.len - pos, name, sizeof(name));
        if (m < 0) {
            return -1;
        }
        if (m == 0) {
            break;
        }
        pthread_mutex_lock(&p->mu);
        count_command(p, name);
        pthread_mutex_unlock(&p->mu);
        {
            bool asking = c->asking;
            c->asking = false;
            synthetic = cluster_reply(p, c, name);
            if (synthetic == NULL) {
                synthetic = apply_rules(p, name, asking);
            }
        }
        if (names_push(c, name, synthetic) != 0) {
            free(synthetic);
            return -1;
        }
        if (synthetic == NULL && send_all(c->sfd, c->cin.data + pos, (size_t)m) != 0) {
            return -1;
        }
        pos += (size_t)m;
    }
    buf_consume(&c->cin, pos);
    return drain_synthetic(p, c);
}

/* Server → client: each whole reply answers the oldest forwarded command
 * and goes out (after the delay, if one is set). */
static int on_server_data(faultproxy *p, fp_conn *c)
{
    char tmp[16384];
    size_t pos = 0;
    int delay = current_delay(p);
    ssize_t n = recv(c->sfd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
        return -1;
    }
    if (buf_append(&c->sin, tmp, (size_t)n) != 0) {
        return -1;
    }
    while (pos < c->sin.len) {
        long m = resp_scan_reply(c->sin.data + pos, c->sin.len - pos);
        if (m < 0) {
            return -1;
        }
        if (m == 0) {
            break;
        }
        if (names_head(c) != NULL) {
            names_pop(c);
        }
        if (out_push(c, now_ms() + (uint64_t)delay, c->sin.data + pos, (size_t)m) != 0 ||
            drain_synthetic(p, c) != 0) {
            return -1;
        }
        pos += (size_t)m;
    }
    buf_consume(&c->sin, pos);
    return 0;
}

static void close_all(faultproxy *p)
{
    for (size_t i = 0; i < p->nconns; i++) {
        conn_free(p->conns[i]);
        p->conns[i] = NULL;
    }
    p->nconns = 0;
}

static void *proxy_main(void *arg)
{
    faultproxy *p = arg;
    struct pollfd fds[2 + 2 * FP_MAX_CONNS];
    for (;;) {
        int timeout = -1;
        uint64_t now = now_ms();
        size_t nfds = 2;
        int stop;
        fds[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        for (size_t i = 0; i < p->nconns; i++) {
            fp_conn *c = p->conns[i];
            fds[nfds++] = (struct pollfd){.fd = c->cfd, .events = POLLIN};
            fds[nfds++] = (struct pollfd){.fd = c->sfd, .events = POLLIN};
            if (c->nout > 0) {
                int t = c->out[0].due_ms > now ? (int)(c->out[0].due_ms - now) : 0;
                if (timeout < 0 || t < timeout) {
                    timeout = t;
                }
            }
        }
        if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
            break;
        }
        pthread_mutex_lock(&p->mu);
        stop = p->stop;
        if (p->drop_req != p->drop_done) {
            close_all(p);
            p->drop_done = p->drop_req;
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->mu);
            continue; /* fds[] no longer match the connections */
        }
        pthread_mutex_unlock(&p->mu);
        if (stop) {
            break;
        }
        if (fds[0].revents & POLLIN) {
            char drain[64];
            ssize_t n = read(p->wake[0], drain, sizeof(drain));
            (void)n;
        }
        for (size_t i = 0; i < p->nconns; i++) {
            fp_conn *c = p->conns[i];
            short cre = fds[2 + 2 * i].revents;
            short sre = fds[3 + 2 * i].revents;
            if ((cre & (POLLIN | POLLHUP | POLLERR)) && on_client_data(p, c) != 0) {
                c->dead = 1;
            }
            if (!c->dead && (sre & (POLLIN | POLLHUP | POLLERR)) && on_server_data(p, c) != 0) {
                c->dead = 1;
            }
            if (!c->dead && out_flush(c, now_ms()) != 0) {
                c->dead = 1;
            }
        }
        if (fds[1].revents & POLLIN) {
            accept_one(p);
        }
        for (size_t i = 0; i < p->nconns;) {
            if (p->conns[i]->dead) {
                conn_free(p->conns[i]);
                p->conns[i] = p->conns[--p->nconns];
            } else {
                i++;
            }
        }
    }
    close_all(p);
    return NULL;
}

int faultproxy_new(faultproxy **out, const char *upstream_socket, const char *upstream_host,
                   int upstream_port)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    faultproxy *p = calloc(1, sizeof(*p));
    int rc;
    *out = NULL;
    if (p == NULL) {
        return -ENOMEM;
    }
    p->lfd = -1;
    p->wake[0] = p->wake[1] = -1;
    if (upstream_socket != NULL) {
        snprintf(p->upstream_socket, sizeof(p->upstream_socket), "%s", upstream_socket);
    } else {
        snprintf(p->upstream_host, sizeof(p->upstream_host), "%s",
                 upstream_host ? upstream_host : "127.0.0.1");
        p->upstream_port = upstream_port;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = -errno;
        goto fail;
    }
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0) {
        rc = -errno;
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(p->lfd, 64) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &salen) != 0) {
        rc = -errno;
        goto fail;
    }
    p->port = ntohs(sa.sin_port);
    snprintf(p->url, sizeof(p->url), "redis://127.0.0.1:%d", p->port);
    rc = pthread_create(&p->thread, NULL, proxy_main, p);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    *out = p;
    return 0;
fail:
    if (p->lfd >= 0) {
        close(p->lfd);
    }
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p);
    return rc;
}

int faultproxy_port(const faultproxy *p)
{
    return p->port;
}

const char *faultproxy_url(const faultproxy *p)
{
    return p->url;
}

int faultproxy_fail_next(faultproxy *p, const char *cmd, int n, const char *error)
{
    fp_rule *r = NULL;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nrules; i++) {
        if (strcasecmp(p->rules[i].name, cmd) == 0) {
            r = &p->rules[i];
        }
    }
    if (r == NULL) {
        if (p->nrules == FP_MAX_RULES) {
            pthread_mutex_unlock(&p->mu);
            return -ENOSPC;
        }
        r = &p->rules[p->nrules++];
    }
    snprintf(r->name, sizeof(r->name), "%s", cmd);
    snprintf(r->error, sizeof(r->error), "%s", error);
    r->remaining = n;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void faultproxy_set_cluster(faultproxy *p, bool on)
{
    pthread_mutex_lock(&p->mu);
    p->cluster = on;
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_set_delay(faultproxy *p, int ms)
{
    pthread_mutex_lock(&p->mu);
    p->delay_ms = ms < 0 ? 0 : ms;
    pthread_mutex_unlock(&p->mu);
    wake_thread(p);
}

void faultproxy_drop_all(faultproxy *p)
{
    unsigned gen;
    pthread_mutex_lock(&p->mu);
    gen = ++p->drop_req;
    pthread_mutex_unlock(&p->mu);
    wake_thread(p);
    pthread_mutex_lock(&p->mu);
    while (p->drop_done != gen && !p->stop) {
        pthread_cond_wait(&p->cond, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_set_refuse(faultproxy *p, bool refuse)
{
    pthread_mutex_lock(&p->mu);
    p->refuse = refuse;
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_clear(faultproxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->nrules = 0;
    p->delay_ms = 0;
    p->refuse = false;
    pthread_mutex_unlock(&p->mu);
    wake_thread(p);
}

long faultproxy_injected(faultproxy *p)
{
    long n;
    pthread_mutex_lock(&p->mu);
    n = p->injected;
    pthread_mutex_unlock(&p->mu);
    return n;
}

long faultproxy_count(faultproxy *p, const char *cmd)
{
    long n = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->ncounts; i++) {
        if (strcasecmp(p->counts[i].name, cmd) == 0) {
            n = p->counts[i].count;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

void faultproxy_free(faultproxy *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    wake_thread(p);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p);
}
