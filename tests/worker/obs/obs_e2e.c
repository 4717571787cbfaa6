/* Loopback HTTP helpers for the end-to-end observability tests (see obs_e2e.h). */
#include "obs_e2e.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wtest.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

int e2e_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = loopback(0);
    socklen_t len = sizeof sin;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sin.sin_port);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = loopback(port);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends data, reads the answer until EOF into buf; returns bytes or -1. */
static long exchange(int port, const char *data, size_t len, char *buf, size_t cap, int timeout_ms)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer before reading everything */
        data += n;
        len -= (size_t)n;
    }
    size_t got = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mono_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            close(fd);
            return -1;
        }
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == cap - 1)
            break;
    }
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

static int status_of(const char *answer)
{
    int status;
    return sscanf(answer, "HTTP/1.1 %d ", &status) == 1 ? status : -1;
}

int e2e_get(int port, const char *path, char *body, size_t cap, int timeout_ms)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    size_t bufcap = cap + 1024;
    char *buf = malloc(bufcap);
    if (!buf)
        return -1;
    int status = -1;
    if (exchange(port, req, (size_t)n, buf, bufcap, timeout_ms) > 0) {
        status = status_of(buf);
        const char *sep = strstr(buf, "\r\n\r\n");
        if (body && cap > 0)
            snprintf(body, cap, "%s", sep ? sep + 4 : "");
    }
    free(buf);
    return status;
}

int e2e_raw(int port, const char *data, size_t len, int timeout_ms)
{
    char buf[1024];
    long n = exchange(port, data, len, buf, sizeof buf, timeout_ms);
    return n > 0 ? status_of(buf) : -1;
}

int e2e_slow_client(int port)
{
    int fd = connect_to(port);
    static const char half[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    if (fd >= 0 && send(fd, half, sizeof half - 1, MSG_NOSIGNAL) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

double e2e_sample(const char *scrape, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = scrape; (p = strstr(p, series)); p += len) {
        if ((p == scrape || p[-1] == '\n') && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    }
    return -1;
}

double e2e_metric(int port, const char *series)
{
    static char scrape[1 << 16];
    if (e2e_get(port, "/metrics", scrape, sizeof scrape, 5000) != 200)
        return -1;
    return e2e_sample(scrape, series);
}

typedef struct status_wait {
    int port;
    const char *path;
    int want;
    char body[256];
} status_wait;

static bool status_is(void *ctx)
{
    status_wait *h = ctx;
    return e2e_get(h->port, h->path, h->body, sizeof h->body, 2000) == h->want;
}

void e2e_wait_status(int port, const char *path, int want, char *body, size_t cap)
{
    status_wait h = { .port = port, .path = path, .want = want };
    WT_CHECK(wt_wait_for(status_is, &h, WT_DEADLINE_MS), "%s never answered %d", path, want);
    if (body)
        snprintf(body, cap, "%s", h.body);
}

typedef struct metric_wait {
    int port;
    const char *series;
    double at_least;
} metric_wait;

static bool metric_reached(void *ctx)
{
    const metric_wait *m = ctx;
    return e2e_metric(m->port, m->series) >= m->at_least;
}

void e2e_wait_metric(int port, const char *series, double at_least)
{
    metric_wait m = { port, series, at_least };
    WT_CHECK(wt_wait_for(metric_reached, &m, WT_DEADLINE_MS), "%s stayed below %g", series, at_least);
}
