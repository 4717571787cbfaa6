/* producer_bench: enqueue rate of libinvq (sync single sends, pipelined
 * batches of 100 and 1,000, async with many sends in flight) beside
 * redis-benchmark's pipelined LPUSH of a payload of the same size, on one
 * loopback redis-server started here. Prints a Markdown table.
 *
 *   producer_bench [--jobs N]   (default 200000; single sends use N/10) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include <invq/invq.h>

#include "redis_fixture.h"

#define PENDING "invq:{default}:pending"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static invq_job *make_job(long i)
{
    char key[48];
    snprintf(key, sizeof(key), "user:%08ld:profile", i);
    const void *keys[] = { key };
    invq_job *j = invq_job_new();
    if (!j || invq_job_del(j, keys, NULL, 1) != 0 || invq_job_set_family(j, "user") != 0) {
        fprintf(stderr, "cannot build a job\n");
        exit(1);
    }
    return j;
}

static void reset_queue(const rfix *f, long expect)
{
    redisReply *r = rfix_command(f, "LLEN %s", PENDING);
    if (!r || r->type != REDIS_REPLY_INTEGER || (expect >= 0 && r->integer != expect)) {
        fprintf(stderr, "queue holds %lld jobs, expected %ld\n", r ? r->integer : -1LL, expect);
        exit(1);
    }
    freeReplyObject(r);
    r = rfix_command(f, "DEL %s", PENDING);
    if (r)
        freeReplyObject(r);
}

static invq_producer *open_sync(const rfix *f)
{
    invq_options o;
    invq_producer *p;
    char err[256];
    invq_options_init(&o);
    o.url = rfix_url(f);
    if (invq_producer_new(&o, &p, err, sizeof(err)) != 0) {
        fprintf(stderr, "invq_producer_new: %s\n", err);
        exit(1);
    }
    return p;
}

/* Jobs are built before the clock starts: the rate is the enqueue path. */
static double bench_sync(const rfix *f, long n, long batch)
{
    invq_job **jobs = malloc((size_t)n * sizeof(*jobs));
    invq_producer *p = open_sync(f);
    for (long i = 0; i < n; i++)
        jobs[i] = make_job(i);
    double t0 = now_s();
    for (long i = 0; i < n; i += batch) {
        long k = n - i < batch ? n - i : batch;
        int rc = batch == 1 ? invq_send(p, jobs[i])
                            : invq_send_many(p, (const invq_job *const *)jobs + i, (size_t)k);
        if (rc != INVQ_SENT) {
            fprintf(stderr, "send: %s: %s\n", invq_strerror(rc), invq_producer_errstr(p));
            exit(1);
        }
    }
    double dt = now_s() - t0;
    for (long i = 0; i < n; i++)
        invq_job_free(jobs[i]);
    free(jobs);
    invq_producer_free(p);
    reset_queue(f, n);
    return (double)n / dt;
}

typedef struct async_run {
    invq_async *a;
    invq_job **jobs;
    long n, next, done, window;
    uv_idle_t idle;
} async_run;

static void on_sent(invq_async *a, int status, void *data)
{
    async_run *r = data;
    if (status != INVQ_SENT) {
        fprintf(stderr, "async send: %s: %s\n", invq_strerror(status), invq_async_errstr(a));
        exit(1);
    }
    r->done++;
}

/* Keeps up to `window` sends in flight. */
static void on_idle(uv_idle_t *h)
{
    async_run *r = h->data;
    while (r->next < r->n && r->next - r->done < r->window) {
        if (invq_async_send(r->a, r->jobs[r->next], on_sent, r) != 0) {
            fprintf(stderr, "async send refused: %s\n", invq_async_errstr(r->a));
            exit(1);
        }
        r->next++;
    }
    if (r->done == r->n) {
        uv_idle_stop(h);
        uv_close((uv_handle_t *)h, NULL);
        invq_async_close(r->a, NULL, NULL);
    }
}

static double bench_async(const rfix *f, long n, long window)
{
    uv_loop_t loop;
    async_run r = { .n = n, .window = window };
    invq_options o;
    char err[256];
    uv_loop_init(&loop);
    invq_options_init(&o);
    o.url = rfix_url(f);
    r.jobs = malloc((size_t)n * sizeof(*r.jobs));
    for (long i = 0; i < n; i++)
        r.jobs[i] = make_job(i);
    if (invq_async_new(&loop, &o, &r.a, err, sizeof(err)) != 0) {
        fprintf(stderr, "invq_async_new: %s\n", err);
        exit(1);
    }
    uv_idle_init(&loop, &r.idle);
    r.idle.data = &r;
    double t0 = now_s();
    uv_idle_start(&r.idle, on_idle);
    uv_run(&loop, UV_RUN_DEFAULT);
    double dt = now_s() - t0;
    uv_loop_close(&loop);
    for (long i = 0; i < n; i++)
        invq_job_free(r.jobs[i]);
    free(r.jobs);
    reset_queue(f, n);
    return (double)n / dt;
}

/* redis-benchmark's pipelined LPUSH of a payload of `size` bytes. */
static double ceiling(const rfix *f, long n, size_t size)
{
    char *payload = malloc(size + 1), cmd[512 + 4096], line[1024], last[1024] = "";
    memset(payload, 'x', size);
    payload[size] = '\0';
    snprintf(cmd, sizeof(cmd),
             "redis-benchmark -h 127.0.0.1 -p %d -c 50 -P 64 -n %ld --csv LPUSH '%s' %s 2>&1",
             rfix_port(f), n, PENDING, payload);
    free(payload);
    FILE *fp = popen(cmd, "r");
    if (!fp) {
        fprintf(stderr, "cannot run redis-benchmark\n");
        exit(1);
    }
    while (fgets(line, sizeof(line), fp))
        if (line[0] == '"')
            snprintf(last, sizeof(last), "%s", line);
    if (pclose(fp) != 0) {
        fprintf(stderr, "redis-benchmark failed: %s\n", last);
        exit(1);
    }
    /* "LPUSH ...","123456.78",... : the second field is requests/s. */
    char *q = strstr(last, "\",\"");
    double rps = q ? atof(q + 3) : 0;
    if (rps <= 0) {
        fprintf(stderr, "cannot parse redis-benchmark output: %s\n", last);
        exit(1);
    }
    reset_queue(f, -1);
    return rps;
}

static double median3(double a, double b, double c)
{
    if (a > b) { double t = a; a = b; b = t; }
    if (b > c) { double t = b; b = c; c = t; }
    return a > b ? a : b;
}

#define RUNS 3

int main(int argc, char **argv)
{
    long n = 200000;
    rfix *f;
    rfix_opts fo = { .tcp = true };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            n = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--jobs N]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1000)
        n = 1000;
    int rc = rfix_start(&f, &fo);
    if (rc != 0)
        return rc == RFIX_SKIP ? RFIX_SKIP : 1;

    /* The encoded size of the jobs sent, measured through one enqueue. */
    invq_producer *p = open_sync(f);
    invq_job *one = make_job(0);
    if (invq_send(p, one) != INVQ_SENT) {
        fprintf(stderr, "send: %s\n", invq_producer_errstr(p));
        return 1;
    }
    invq_job_free(one);
    invq_producer_free(p);
    redisReply *r = rfix_command(f, "LINDEX %s 0", PENDING);
    size_t size = r && r->type == REDIS_REPLY_STRING ? r->len : 80;
    if (r)
        freeReplyObject(r);
    reset_queue(f, 1);

    const char *modes[] = { "sync, one job per send", "sync, batches of 100", "sync, batches of 1,000",
                            "async, 10,000 in flight" };
    double rate[4][RUNS], ceil_runs[RUNS];
    /* Interleaved runs, so a burst of load elsewhere hits every mode alike. */
    for (int k = 0; k < RUNS; k++) {
        ceil_runs[k] = ceiling(f, n, size);
        rate[0][k] = bench_sync(f, n / 20, 1);
        rate[1][k] = bench_sync(f, n, 100);
        rate[2][k] = bench_sync(f, n, 1000);
        rate[3][k] = bench_async(f, n, 10000);
    }
    double c = median3(ceil_runs[0], ceil_runs[1], ceil_runs[2]);

    printf("payload %zu bytes per job, %ld jobs per run, median of %d runs; ceiling: "
           "redis-benchmark -c 50 -P 64 LPUSH of a %zu-byte value\n\n", size, n, RUNS, size);
    printf("| mode | jobs/s | ceiling | ratio |\n|---|---:|---:|---:|\n");
    for (int i = 0; i < 4; i++) {
        double m = median3(rate[i][0], rate[i][1], rate[i][2]);
        printf("| %s | %.0f | %.0f | %.2f |\n", modes[i], m, c, m / c);
    }
    rfix_free(f);
    return 0;
}
