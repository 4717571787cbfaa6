/* `invq-worker --probe URL`: a blocking HTTP GET with one overall deadline,
 * for container health checks where no curl is installed. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct probe_url {
    char host[256];
    char port[8];
    char path[1024];
} probe_url;

static int probe_parse_url(const char *url, probe_url *u)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -EINVAL;
    p += 7;
    const char *host_end;
    const char *host = p;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(p, ']');
        if (!host_end)
            return -EINVAL;
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof u->host)
        return -EINVAL;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    snprintf(u->port, sizeof u->port, "80");
    if (*p == ':') {
        p++;
        size_t plen = strspn(p, "0123456789");
        if (plen == 0 || plen >= sizeof u->port || (p[plen] != '/' && p[plen] != '\0'))
            return -EINVAL;
        memcpy(u->port, p, plen);
        u->port[plen] = '\0';
        p += plen;
    }
    if (*p != '\0' && *p != '/')
        return -EINVAL;
    if (strlen(*p ? p : "/") >= sizeof u->path || strpbrk(p, " \r\n"))
        return -EINVAL;
    snprintf(u->path, sizeof u->path, "%s", *p ? p : "/");
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes: 0, -ETIMEDOUT
 * or -errno. */
static int probe_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int probe_connect(const probe_url *u, int64_t deadline, int *out)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    if (getaddrinfo(u->host, u->port, &hints, &res) != 0 || !res)
        return -EHOSTUNREACH;
    int rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            rc = -errno;
            close(fd);
            continue;
        }
        rc = probe_wait(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t slen = sizeof soerr;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0 && soerr != 0)
            rc = -soerr;
        if (rc == 0) {
            *out = fd;
            break;
        }
        close(fd);
        if (rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

/* Sends the request and reads until the status line is complete; returns
 * the status code or a negative error. */
static int probe_exchange(int fd, const probe_url *u, int64_t deadline)
{
    char req[1400];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: invq-probe\r\nConnection: close\r\n\r\n",
                     u->path, u->host, u->port);
    if (n < 0 || (size_t)n >= sizeof req)
        return -EINVAL;
    for (size_t sent = 0; sent < (size_t)n;) {
        ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if (w < 0) {
            int rc = probe_wait(fd, POLLOUT, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        sent += (size_t)w;
    }
    char resp[256];
    size_t got = 0;
    while (got < sizeof resp - 1 && !memchr(resp, '\n', got)) {
        int rc = probe_wait(fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if (r > 0)
            got += (size_t)r;
    }
    resp[got] = '\0';
    int major, minor, status;
    if (sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 || status > 999)
        return -EPROTO;
    return status;
}

int http_probe(const char *url, int timeout_ms)
{
    probe_url u;
    if (probe_parse_url(url, &u) < 0) {
        fprintf(stderr, "probe %s: bad URL (expected http://host:port/path)\n", url);
        return 1;
    }
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    int fd = -1;
    int rc = probe_connect(&u, deadline, &fd);
    if (rc == 0) {
        rc = probe_exchange(fd, &u, deadline);
        close(fd);
    }
    if (rc < 0) {
        fprintf(stderr, "probe %s: %s\n", url, rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
        return 1;
    }
    fprintf(stderr, "probe %s: HTTP %d\n", url, rc);
    return rc >= 200 && rc < 300 ? 0 : 1;
}
