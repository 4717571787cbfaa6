/* Helpers shared by the benchmark's C tools (see bench_redis.h). */
#include "bench_redis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

redisContext *bench_connect(const char *host, int port)
{
    struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL) {
        fprintf(stderr, "bench: connect %s:%d: out of memory\n", host, port);
        return NULL;
    }
    if (c->err) {
        fprintf(stderr, "bench: connect %s:%d: %s\n", host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

int bench_key(char *buf, size_t len, const char *prefix, uint64_t n)
{
    int w = snprintf(buf, len, "%s%0*" PRIu64, prefix, BENCH_KEY_DIGITS, n);
    if (w < 0 || (size_t)w >= len)
        return -1;
    return w;
}

int bench_job_encode(job_op_kind kind, const char *prefix, const uint64_t *idx, size_t nkeys,
                     const char *id, uint64_t ts, uint8_t **out, size_t *outlen)
{
    job_limits lim;
    job_error err = { 0 };
    char key[256];
    int rc;

    job_limits_default(&lim);
    invq_job *job = job_new();
    if (job == NULL)
        return JOB_ENOMEM;
    job->ts = ts;
    rc = job_set_id(job, id);
    int op = rc == 0 ? job_add_op(job, kind, 0, false, 0) : rc;
    rc = op < 0 ? op : 0;
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        int klen = bench_key(key, sizeof key, prefix, idx[i]);
        rc = klen < 0 ? JOB_EBADVALUE : job_op_add_key(job, (size_t)op, key, (size_t)klen, false);
    }
    if (rc == 0)
        rc = job_encode(job, &lim, out, outlen, &err);
    if (rc != 0) {
        char msg[320];
        job_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "bench: encode job %s: %s (%s)\n", id, job_err_code(rc), msg);
    }
    job_free(job);
    return rc;
}

int bench_read_replies(redisContext *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
            fprintf(stderr, "bench: reading reply: %s\n", c->err ? c->errstr : "no reply");
            return -1;
        }
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            fprintf(stderr, "bench: redis error: %s\n", r->str);
        freeReplyObject(r);
        if (bad)
            return -1;
    }
    return 0;
}

uint64_t bench_now_ms(void)
{
    return bench_now_us() / 1000u;
}

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
