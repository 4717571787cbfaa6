/* The simplest reliable consumer, the everyday-rate baseline of bench/run:
 * BLMOVE pending → processing (one job), DEL its keys on a separate cache
 * connection, LREM it from processing; one command and one round trip each,
 * nothing batched, nothing else (no stats, no retries, no DLQ).
 *
 * With --pipelined it is the leanest reliable consumer of one job per
 * wake-up, the everyday scenario's floor: the same BLMOVE and DEL, and the
 * job's removal (LTRIM processing 0 -2: processing holds only that job)
 * sent in one write with the next BLMOVE, so each job costs the queue
 * connection one round trip and three commands in all. --reply-skip and
 * --early-take are two variants of it (lean_opts), and --cache-port puts
 * the cache on a Redis of its own.
 *
 * Runs until SIGTERM/SIGINT; prints the jobs it applied. */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_redis.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* DELs every key of the job's del ops in one command; returns 0 or -1. */
static int apply(redisContext *cache, const invq_job *job)
{
    size_t n = 0;
    for (size_t i = 0; i < job->nops; i++)
        n += job->ops[i].nkeys;
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        return -1;
    }
    argv[0] = "DEL";
    lens[0] = 3;
    size_t k = 1;
    for (size_t i = 0; i < job->nops; i++)
        for (size_t j = 0; j < job->ops[i].nkeys; j++) {
            argv[k] = (const char *)job->ops[i].keys[j].data;
            lens[k++] = job->ops[i].keys[j].len;
        }
    redisReply *r = redisCommandArgv(cache, (int)k, argv, lens);
    free(argv);
    free(lens);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

/* Decodes and applies one BLMOVEd job; a job that does not decode is only
 * removed (the bench sends none). Returns 0 or -1 (printed). */
static int apply_reply(redisContext *cache, const job_limits *lim, const redisReply *r)
{
    invq_job *job = NULL;
    job_error err;
    if (job_decode((const uint8_t *)r->str, r->len, lim, &job, &err) != 0)
        return 0;
    int rc = apply(cache, job);
    job_free(job);
    if (rc != 0)
        fprintf(stderr, "baseline: DEL failed\n");
    return rc;
}

/* The lean consumer's variants (bench/README.md, "Everyday rates: the
 * floor"): with reply_skip, `CLIENT REPLY SKIP` goes ahead of each LTRIM,
 * so Redis writes no reply for it; with early, the removal of the job
 * applied last and the next BLMOVE go out as soon as a BLMOVE brings a job,
 * before that job is applied (so job n's removal rides with the BLMOVE sent
 * when job n+1 arrives). */
typedef struct {
    bool reply_skip;
    bool early;
} lean_opts;

/* Appends the removal of the job processing's tail holds (when held) and
 * the next BLMOVE; returns the replies that come ahead of the BLMOVE's. */
static int append_take(redisContext *q, const char *pending, const char *processing, bool held, const lean_opts *o)
{
    int ahead = 0;
    if (held) {
        if (o->reply_skip)
            redisAppendCommand(q, "CLIENT REPLY SKIP");
        redisAppendCommand(q, "LTRIM %s 0 -2", processing);
        ahead = o->reply_skip ? 0 : 1;
    }
    redisAppendCommand(q, "BLMOVE %s %s RIGHT LEFT 1", pending, processing);
    return ahead;
}

/* --pipelined: [LTRIM processing 0 -2 (the job applied last), BLMOVE] in
 * one write per wake-up; returns the exit status. */
static int run_pipelined(redisContext *q, redisContext *c, const char *pending, const char *processing,
                         const job_limits *lim, const lean_opts *o, unsigned long long *applied)
{
    bool held = false; /* processing's tail holds a job applied, not yet removed */
    bool sent = false; /* the next BLMOVE is already on its way (early) */
    int ahead = 0;     /* replies due ahead of that BLMOVE's */
    while (!stop) {
        if (!sent) {
            ahead = append_take(q, pending, processing, held, o);
            held = false;
        }
        redisReply *r = NULL;
        for (; ahead > 0; ahead--) {
            if (redisGetReply(q, (void **)&r) != REDIS_OK || r->type != REDIS_REPLY_STATUS) {
                if (!stop)
                    fprintf(stderr, "baseline: LTRIM failed\n");
                freeReplyObject(r);
                return stop ? 0 : 1;
            }
            freeReplyObject(r);
        }
        if (redisGetReply(q, (void **)&r) != REDIS_OK) {
            if (stop)
                return 0;
            fprintf(stderr, "baseline: BLMOVE: %s\n", q->errstr);
            return 1;
        }
        sent = false;
        if (o->early) {
            int done = 0;
            ahead = append_take(q, pending, processing, held, o);
            held = false;
            while (!done) {
                if (redisBufferWrite(q, &done) != REDIS_OK) {
                    fprintf(stderr, "baseline: write: %s\n", q->errstr);
                    freeReplyObject(r);
                    return 1;
                }
            }
            sent = true;
        }
        int rc = 0;
        if (r->type == REDIS_REPLY_STRING) {
            rc = apply_reply(c, lim, r);
            held = true;
            (*applied)++;
        }
        freeReplyObject(r);
        if (rc != 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *ns = "invq", *queue = "default";
    int port = 0, cache_port = 0, cache_db = 1;
    bool pipelined = false;
    lean_opts lean = { false, false };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, 'h' },   { "port", required_argument, NULL, 'p' },
        { "cache-db", required_argument, NULL, 'D' }, { "namespace", required_argument, NULL, 'n' },
        { "queue", required_argument, NULL, 'q' },  { "pipelined", no_argument, NULL, 'P' },
        { "cache-port", required_argument, NULL, 'C' }, { "reply-skip", no_argument, NULL, 'S' },
        { "early-take", no_argument, NULL, 'E' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'D': cache_db = atoi(optarg); break;
        case 'n': ns = optarg; break;
        case 'q': queue = optarg; break;
        case 'P': pipelined = true; break;
        case 'C': cache_port = atoi(optarg); break;
        case 'S': lean.reply_skip = true; break;
        case 'E': lean.early = true; break;
        default:
            fprintf(stderr, "usage: baseline --port P [--host H] [--cache-port P] [--cache-db 1] [--namespace invq] "
                            "[--queue default] [--pipelined [--reply-skip] [--early-take]]\n");
            return 64;
        }
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "baseline: --port is required\n");
        return 64;
    }
    if (cache_port == 0)
        cache_port = port; /* the cache: another database of the queue's Redis */
    if (cache_port < 0 || cache_port > 65535) {
        fprintf(stderr, "baseline: --cache-port must be a TCP port, not %d\n", cache_port);
        return 64;
    }
    if ((lean.reply_skip || lean.early) && !pipelined) {
        fprintf(stderr, "baseline: --reply-skip and --early-take are variants of --pipelined\n");
        return 64;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char pending[256], processing[256];
    snprintf(pending, sizeof pending, "%s:{%s}:pending", ns, queue);
    snprintf(processing, sizeof processing, "%s:{%s}:processing:baseline", ns, queue);
    redisContext *q = bench_connect(host, port), *c = bench_connect(host, cache_port);
    if (q == NULL || c == NULL)
        return 1;
    /* BLMOVE blocks up to 1 s: no read timeout shorter than that */
    struct timeval tv = { 0, 0 };
    redisSetTimeout(q, tv);
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "SELECT %d", cache_db);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "baseline: SELECT failed\n");
        return 1;
    }
    freeReplyObject(r);
    job_limits lim;
    job_limits_default(&lim);
    unsigned long long applied = 0;
    int rc = 0;
    if (pipelined) {
        rc = run_pipelined(q, c, pending, processing, &lim, &lean, &applied);
        printf("{\"applied\":%llu}\n", applied);
        redisFree(q);
        redisFree(c);
        return rc;
    }
    while (!stop) {
        r = redisCommand(q, "BLMOVE %s %s RIGHT LEFT 1", pending, processing);
        if (r == NULL) {
            if (!stop) {
                fprintf(stderr, "baseline: BLMOVE: %s\n", q->errstr);
                rc = 1;
            }
            break;
        }
        if (r->type == REDIS_REPLY_STRING) {
            rc = apply_reply(c, &lim, r);
            redisReply *l = redisCommand(q, "LREM %s 1 %b", processing, r->str, r->len);
            if (l == NULL || l->type != REDIS_REPLY_INTEGER) {
                fprintf(stderr, "baseline: LREM failed\n");
                rc = 1;
            }
            freeReplyObject(l);
            applied++;
        }
        freeReplyObject(r);
        if (rc != 0)
            break;
    }
    printf("{\"applied\":%llu}\n", applied);
    redisFree(q);
    redisFree(c);
    return rc;
}
