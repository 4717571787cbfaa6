/* Benchmark prefill: fills a Redis over loopback TCP with a numbered keyspace
 * (pipelined MSET) or with codec-encoded jobs (pipelined multi-value LPUSH). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_redis.h"

#define PAIRS_PER_MSET 1000u
#define JOBS_PER_LPUSH 1000u
#define CMDS_IN_FLIGHT 32u

typedef struct prefill_opts {
    const char *host;
    int port;
    const char *ns;
    const char *queue;
    const char *kind;      /* jobs: del | bump */
    const char *prefix;    /* key prefix */
    uint64_t start;        /* first key number */
    uint64_t count;        /* keys, or jobs */
    uint64_t keys_per_job; /* jobs only */
    uint64_t keyspace;     /* jobs: key numbers wrap at start+keyspace; 0 = no wrap */
    uint64_t db;           /* keys: SELECT this database first */
} prefill_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: prefill [--host H] [--port P] keys --prefix bk: --count N [--start S] [--db D]\n"
            "       prefill [--host H] [--port P] jobs --kind del|bump --prefix bk: --count N\n"
            "               [--keys-per-job K] [--keyspace M] [--start S] [--namespace invq] [--queue default]\n"
            "keys: SET <prefix><12-digit n> 1 for n in S..S+N-1 (pipelined MSET).\n"
            "jobs: LPUSH N encoded jobs onto <ns>:{<queue>}:pending; job j touches keys\n"
            "      S + (j*K + t) mod M for t < K (M = 0: no wrap), and HINCRBY stats enqueued N.\n");
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "prefill: %s: expected an unsigned integer, got \"%s\"\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads the replies of the appended commands once CMDS_IN_FLIGHT are
 * queued (or now, with force). */
static int flush_if_full(redisContext *c, size_t *pending, int force)
{
    if (*pending == 0 || (!force && *pending < CMDS_IN_FLIGHT))
        return 0;
    int rc = bench_read_replies(c, *pending);
    *pending = 0;
    return rc;
}

static int prefill_keys(redisContext *c, const prefill_opts *o)
{
    const char **argv = calloc(1 + 2 * PAIRS_PER_MSET, sizeof *argv);
    size_t *argvlen = calloc(1 + 2 * PAIRS_PER_MSET, sizeof *argvlen);
    char (*keys)[64] = calloc(PAIRS_PER_MSET, sizeof *keys);
    size_t pending = 0;
    int rc = argv && argvlen && keys ? 0 : -1;

    for (uint64_t done = 0; rc == 0 && done < o->count;) {
        size_t n = o->count - done < PAIRS_PER_MSET ? (size_t)(o->count - done) : PAIRS_PER_MSET;
        argv[0] = "MSET";
        argvlen[0] = 4;
        for (size_t i = 0; i < n; i++) {
            int klen = bench_key(keys[i], sizeof keys[i], o->prefix, o->start + done + i);
            if (klen < 0) {
                rc = -1;
                break;
            }
            argv[1 + 2 * i] = keys[i];
            argvlen[1 + 2 * i] = (size_t)klen;
            argv[2 + 2 * i] = "1";
            argvlen[2 + 2 * i] = 1;
        }
        if (rc != 0)
            break;
        /* hiredis copies argv into its output buffer, so keys[] can be reused. */
        if (redisAppendCommandArgv(c, (int)(1 + 2 * n), argv, argvlen) != REDIS_OK) {
            fprintf(stderr, "prefill: append MSET: %s\n", c->errstr);
            rc = -1;
            break;
        }
        pending++;
        done += n;
        rc = flush_if_full(c, &pending, 0);
    }
    if (rc == 0)
        rc = flush_if_full(c, &pending, 1);
    free(argv);
    free(argvlen);
    free(keys);
    return rc;
}

static int push_chunk(redisContext *c, const char *list, uint8_t **bufs, const size_t *lens, size_t n)
{
    const char **argv = malloc((n + 2) * sizeof *argv);
    size_t *argvlen = malloc((n + 2) * sizeof *argvlen);
    int rc = 0;
    if (argv == NULL || argvlen == NULL) {
        rc = -1;
    } else {
        argv[0] = "LPUSH";
        argvlen[0] = 5;
        argv[1] = list;
        argvlen[1] = strlen(list);
        for (size_t i = 0; i < n; i++) {
            argv[2 + i] = (const char *)bufs[i];
            argvlen[2 + i] = lens[i];
        }
        if (redisAppendCommandArgv(c, (int)(n + 2), argv, argvlen) != REDIS_OK) {
            fprintf(stderr, "prefill: append LPUSH: %s\n", c->errstr);
            rc = -1;
        }
    }
    free(argv);
    free(argvlen);
    return rc;
}

static int prefill_jobs(redisContext *c, const prefill_opts *o)
{
    job_op_kind kind;
    if (strcmp(o->kind, "del") == 0) {
        kind = JOB_OP_DEL;
    } else if (strcmp(o->kind, "bump") == 0) {
        kind = JOB_OP_BUMP;
    } else {
        fprintf(stderr, "prefill: --kind: expected del or bump, got \"%s\"\n", o->kind);
        return -1;
    }
    char list[256], stats[256];
    snprintf(list, sizeof list, "%s:{%s}:pending", o->ns, o->queue);
    snprintf(stats, sizeof stats, "%s:{%s}:stats", o->ns, o->queue);

    uint8_t **bufs = calloc(JOBS_PER_LPUSH, sizeof *bufs);
    size_t *lens = calloc(JOBS_PER_LPUSH, sizeof *lens);
    uint64_t *idx = calloc(o->keys_per_job, sizeof *idx);
    size_t pending = 0;
    int rc = bufs && lens && idx ? 0 : -1;
    uint64_t ts = bench_now_ms();
    uint64_t run = bench_now_us();

    for (uint64_t done = 0; rc == 0 && done < o->count;) {
        size_t n = o->count - done < JOBS_PER_LPUSH ? (size_t)(o->count - done) : JOBS_PER_LPUSH;
        size_t made = 0;
        for (; made < n; made++) {
            uint64_t j = done + made;
            char id[64];
            snprintf(id, sizeof id, "b%" PRIx64 "-%" PRIu64, run, j);
            for (uint64_t t = 0; t < o->keys_per_job; t++) {
                uint64_t k = j * o->keys_per_job + t;
                idx[t] = o->start + (o->keyspace ? k % o->keyspace : k);
            }
            if (bench_job_encode(kind, o->prefix, idx, o->keys_per_job, id, ts, &bufs[made], &lens[made]) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc == 0)
            rc = push_chunk(c, list, bufs, lens, n);
        for (size_t i = 0; i < made; i++) {
            free(bufs[i]);
            bufs[i] = NULL;
        }
        if (rc != 0)
            break;
        pending++;
        done += n;
        rc = flush_if_full(c, &pending, 0);
    }
    if (rc == 0 && redisAppendCommand(c, "HINCRBY %s enqueued %" PRIu64, stats, o->count) != REDIS_OK)
        rc = -1;
    else if (rc == 0)
        pending++;
    if (rc == 0)
        rc = flush_if_full(c, &pending, 1);
    free(bufs);
    free(lens);
    free(idx);
    return rc;
}

int main(int argc, char **argv)
{
    prefill_opts o = {
        .host = "127.0.0.1", .port = 6379, .ns = "invq", .queue = "default",
        .kind = "del", .prefix = "bk:", .keys_per_job = 1,
    };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "namespace", required_argument, NULL, 'n' },
        { "queue", required_argument, NULL, 'q' },
        { "kind", required_argument, NULL, 'k' },
        { "prefix", required_argument, NULL, 'x' },
        { "start", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'c' },
        { "keys-per-job", required_argument, NULL, 'K' },
        { "keyspace", required_argument, NULL, 'M' },
        { "db", required_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    uint64_t port = 0;
    int have_count = 0;
    /* getopt_long permutes argv: options may come before or after the command. */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'h': o.host = optarg; break;
        case 'p': bad = parse_u64("--port", optarg, &port) || port == 0 || port > 65535; o.port = (int)port; break;
        case 'n': o.ns = optarg; break;
        case 'q': o.queue = optarg; break;
        case 'k': o.kind = optarg; break;
        case 'x': o.prefix = optarg; break;
        case 's': bad = parse_u64("--start", optarg, &o.start); break;
        case 'c': bad = parse_u64("--count", optarg, &o.count); have_count = 1; break;
        case 'K': bad = parse_u64("--keys-per-job", optarg, &o.keys_per_job) || o.keys_per_job == 0; break;
        case 'M': bad = parse_u64("--keyspace", optarg, &o.keyspace); break;
        case 'D': bad = parse_u64("--db", optarg, &o.db); break;
        case 'H': usage(stdout); return 0;
        default: bad = 1; break;
        }
        if (bad) {
            usage(stderr);
            return 64;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 64;
    }
    const char *cmd = argv[optind];
    if (!have_count) {
        fprintf(stderr, "prefill: --count is required\n");
        return 64;
    }
    redisContext *c = bench_connect(o.host, o.port);
    if (c == NULL)
        return 1;
    int rc;
    if (strcmp(cmd, "keys") == 0) {
        rc = 0;
        if (o.db != 0 && (redisAppendCommand(c, "SELECT %" PRIu64, o.db) != REDIS_OK || bench_read_replies(c, 1) != 0))
            rc = -1;
        if (rc == 0)
            rc = prefill_keys(c, &o);
    } else if (strcmp(cmd, "jobs") == 0) {
        rc = prefill_jobs(c, &o);
    } else {
        fprintf(stderr, "prefill: unknown command \"%s\"\n", cmd);
        rc = 64;
    }
    redisFree(c);
    return rc == 0 ? 0 : (rc == 64 ? 64 : 1);
}
