/* The fairness scenario's reader probe (bench/run --only fairness): another
 * application client of the cache Redis. It sends one plain GET at a fixed
 * rate (open loop: each GET at its scheduled time, or at once when late) on
 * its own connection for the given seconds (or until SIGTERM/SIGINT), times
 * every round trip and prints one JSON line: {"gets":N,"p50_us":..,"p99_us":..,"p999_us":..,
 * "max_us":..,"errors":N}. */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <hiredis/hiredis.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t quantile(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *key = "fairness:probe";
    int port = 0, db = 0;
    double rate = 2000, seconds = 5;
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' },
        { "db", required_argument, NULL, 'D' },   { "rate", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 's' }, { "key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'D': db = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'k': key = optarg; break;
        default:
            fprintf(stderr, "usage: getlat --port N [--host H] [--db N] [--rate GETS/S] [--seconds S] [--key K]\n");
            return 2;
        }
    }
    if (port <= 0 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "getlat: --port, a positive --rate and --seconds are required\n");
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) {
        fprintf(stderr, "getlat: cannot connect to %s:%d: %s\n", host, port, c ? c->errstr : "out of memory");
        return 1;
    }
    redisReply *r = redisCommand(c, "SELECT %d", db);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "getlat: SELECT %d failed\n", db);
        return 1;
    }
    freeReplyObject(r);
    size_t cap = (size_t)(rate * seconds) + 16, n = 0, errors = 0;
    uint32_t *lat = malloc(cap * sizeof *lat);
    if (lat == NULL)
        return 1;
    uint64_t period = (uint64_t)(1e9 / rate), t0 = now_ns(), next = t0, end = t0 + (uint64_t)(seconds * 1e9);
    while (n < cap && !stop) {
        uint64_t t = now_ns();
        if (t >= end)
            break;
        if (t < next) {
            struct timespec ts = { 0, (long)(next - t) };
            nanosleep(&ts, NULL);
            continue;
        }
        next += period;
        uint64_t s = now_ns();
        r = redisCommand(c, "GET %s", key);
        uint64_t e = now_ns();
        if (r == NULL && stop)
            break;
        if (r == NULL) {
            fprintf(stderr, "getlat: connection lost: %s\n", c->errstr);
            return 1;
        }
        if (r->type == REDIS_REPLY_ERROR)
            errors++;
        freeReplyObject(r);
        uint64_t us = (e - s) / 1000;
        lat[n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    qsort(lat, n, sizeof *lat, cmp_u32);
    printf("{\"gets\":%zu,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,\"errors\":%zu}\n", n,
           quantile(lat, n, 0.5), quantile(lat, n, 0.99), quantile(lat, n, 0.999), n ? lat[n - 1] : 0, errors);
    free(lat);
    redisFree(c);
    return 0;
}
