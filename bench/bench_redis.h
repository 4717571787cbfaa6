/* Helpers shared by the benchmark's C tools: a loopback TCP connection, job
 * encoding through the codec, and pipelined LPUSH/MSET with every reply read. */
#ifndef INVQ_BENCH_REDIS_H
#define INVQ_BENCH_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "job.h"

/* Width of the zero-padded key number, as redis-benchmark writes __rand_int__. */
#define BENCH_KEY_DIGITS 12

/* Connects to host:port (5 s timeout). Returns a context the caller frees
 * with redisFree(), or NULL after printing why on stderr. */
redisContext *bench_connect(const char *host, int port);

/* Formats "<prefix><12-digit n>" into buf; returns the length or -1. */
int bench_key(char *buf, size_t len, const char *prefix, uint64_t n);

/* Encodes a job of one op `kind` over the keys prefix+idx[i] with `id` and
 * `ts` (ms). *out is malloc'd (caller frees). Returns 0 or a negative code
 * after printing the codec's reason on stderr. */
int bench_job_encode(job_op_kind kind, const char *prefix, const uint64_t *idx, size_t nkeys,
                     const char *id, uint64_t ts, uint8_t **out, size_t *outlen);

/* Reads `n` pending replies; returns 0, or -1 (printed) on a connection
 * error or an error reply. */
int bench_read_replies(redisContext *c, size_t n);

/* Wall clock in ms and µs since the epoch. */
uint64_t bench_now_ms(void);
uint64_t bench_now_us(void);

#endif
