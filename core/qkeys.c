/* Key names of one queue, and consumer ids. */
#include "qkeys.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static char *join(const char *prefix, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

int qkeys_init(qkeys *k, const char *ns, const char *queue)
{
    memset(k, 0, sizeof *k);
    size_t n = strlen(ns) + strlen(queue) + 6;
    k->prefix = malloc(n);
    if (k->prefix == NULL)
        return -ENOMEM;
    snprintf(k->prefix, n, "%s:{%s}:", ns, queue);
    k->pending = join(k->prefix, "pending");
    k->delayed = join(k->prefix, "delayed");
    k->dead = join(k->prefix, "dead");
    k->consumers = join(k->prefix, "consumers");
    k->reaped = join(k->prefix, "reaped");
    k->stats = join(k->prefix, "stats");
    k->oversized = join(k->prefix, "oversized:");
    k->rate = join(k->prefix, "rate:");
    if (!k->pending || !k->delayed || !k->dead || !k->consumers || !k->reaped || !k->stats || !k->oversized ||
        !k->rate) {
        qkeys_deinit(k);
        return -ENOMEM;
    }
    return 0;
}

void qkeys_deinit(qkeys *k)
{
    free(k->prefix);
    free(k->pending);
    free(k->delayed);
    free(k->dead);
    free(k->consumers);
    free(k->reaped);
    free(k->stats);
    free(k->oversized);
    free(k->rate);
    memset(k, 0, sizeof *k);
}

int qkeys_shard_name(char *buf, size_t len, const char *queue, unsigned shards, unsigned i)
{
    if (shards > 1 && i >= shards)
        return -EINVAL;
    int n = shards <= 1 ? snprintf(buf, len, "%s", queue) : snprintf(buf, len, "%s.%u", queue, i);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int qkeys_processing(const qkeys *k, const char *consumer, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%sprocessing:%s", k->prefix, consumer);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int qkeys_start_tag(char *buf, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    }
    int n = snprintf(buf, len, "%s-%ld-%08x", host, (long)getpid(), (unsigned)r);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int qkeys_consumer_id(char *buf, size_t len, const char *start_tag, unsigned index)
{
    int n = snprintf(buf, len, "%s-%u", start_tag, index);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
