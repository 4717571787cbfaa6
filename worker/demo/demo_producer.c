/* The demo's producer: fills a cache with sample keys, sends a burst of
 * invalidations through libinvq (plus one poison payload), waits until the
 * worker has handled them all, and reports what happened. With a families
 * file (--families, the same one the worker reads) libinvq refuses a key
 * outside the families before sending; the demo then pushes that job raw,
 * as a producer without the file would, and the worker refuses it too; the
 * report reads the worker's /metrics (--metrics HOST:PORT) to show what the
 * family in shadow mode would have invalidated.
 * Usage: demo_producer --url URL [--families FILE] [--metrics HOST:PORT]
 *        (--ping | --free-port | --fill | --send | --wait | --report) */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "dead.h"
#include "invq/invq.h"
#include "redis_sync.h"
#include "redis_url.h"

#define KEY_PENDING "invq:{default}:pending"
#define KEY_DELAYED "invq:{default}:delayed"
#define KEY_DEAD "invq:{default}:dead"
#define KEY_STATS "invq:{default}:stats"
#define KEY_PROCESSING "invq:{default}:processing:*"

enum {
    NUSERS = 100,   /* user:1..100 */
    NDELETED = 90,  /* the burst deletes user:1..90 */
    NVERSIONS = 10, /* ver:user:1..10 */
    NTTL = 20,      /* ttl:1..20 */
    TTL_BEFORE_S = 3600,
    TTL_AFTER_MS = 60000,
    AFTER_MS = 1500,
    REDO_MS = 1000,
    WAIT_MS = 60000,
    NSTOCK = 20,    /* the shadow family's burst: del stock:1..20 */
    NSTOCKED = 10,  /* stock:1..10 are cached */
};

/* The key outside every family that the demo tries to invalidate. */
#define REFUSED_KEY "session:42"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static redisContext *connect_url(const char *url)
{
    redis_url u;
    char err[256];
    redisContext *c = NULL;
    if (redis_url_parse(url, &u, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo_producer: %s\n", err);
        return NULL;
    }
    if (redis_sync_connect(&u, 2000, 5000, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo_producer: %s\n", err);
    }
    redis_url_deinit(&u);
    return c;
}

/* Runs a command and frees its reply; returns false (with a message) on failure. */
static bool run(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    bool ok;
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (!ok) {
        fprintf(stderr, "demo_producer: \"%s\" failed: %s\n", fmt, r ? r->str : c->errstr);
    }
    freeReplyObject(r);
    return ok;
}

/* An integer answer (HGET of a missing field: 0); -1 on failure. */
static long long int_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else if (r != NULL && r->type == REDIS_REPLY_NIL) {
        v = 0;
    } else if (r != NULL && r->type == REDIS_REPLY_STRING) {
        v = strtoll(r->str, NULL, 10);
    }
    freeReplyObject(r);
    return v;
}

static int do_fill(redisContext *c, const char *families)
{
    bool ok = true;
    for (int i = 1; ok && i <= NUSERS; i++) {
        ok = run(c, "SET user:%d profile-of-user-%d", i, i);
    }
    for (int i = 1; ok && i <= NVERSIONS; i++) {
        ok = run(c, "SET ver:user:%d 1", i);
    }
    for (int i = 1; ok && i <= NTTL; i++) {
        ok = run(c, "SET ttl:%d cached EX %d", i, TTL_BEFORE_S);
    }
    ok = ok && run(c, "SET demo:deferred cached") && run(c, "SET demo:double cached") &&
         run(c, "SET demo:not-a-number hello");
    for (int i = 1; ok && families != NULL && i <= NSTOCKED; i++) {
        ok = run(c, "SET stock:%d 5", i);
    }
    ok = ok && (families == NULL || run(c, "SET " REFUSED_KEY " a-session"));
    if (!ok) {
        return 1;
    }
    printf("cache filled: user:1..%d, ver:user:1..%d = 1, ttl:1..%d with a %d s TTL, "
           "demo:deferred, demo:double, demo:not-a-number = \"hello\"%s\n",
           NUSERS, NVERSIONS, NTTL, TTL_BEFORE_S, families != NULL ? ", stock:1..10, " REFUSED_KEY : "");
    return 0;
}

/* Appends a job over `n` generated keys "<prefix><first..first+n-1>". */
static int add_keys(invq_job *job, char op, const char *prefix, int first, int n)
{
    char names[32][32];
    const void *keys[32];
    int rc;
    if (n > 32) {
        return INVQ_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%d", prefix, first + i);
        keys[i] = names[i];
    }
    if (op == 'd') {
        rc = invq_job_del(job, keys, NULL, (size_t)n);
    } else if (op == 'b') {
        rc = invq_job_bump(job, keys, NULL, (size_t)n);
    } else {
        rc = invq_job_expire(job, keys, NULL, (size_t)n, TTL_AFTER_MS, 10);
    }
    return rc;
}

/* The burst of the family in shadow mode: del stock:1..NSTOCK, two jobs. */
static int add_stock(invq_job **jobs, size_t *n)
{
    for (int half = 0; half < 2; half++) {
        invq_job *j = invq_job_new();
        jobs[(*n)++] = j;
        if (j == NULL || add_keys(j, 'd', "stock:", 1 + half * NSTOCK / 2, NSTOCK / 2) != 0 ||
            invq_job_set_family(j, "stock") != 0) {
            return INVQ_ENOMEM;
        }
    }
    return 0;
}

/* A key outside every family: libinvq with the file refuses it before
 * sending; pushed raw, as by a producer without the file, the worker
 * refuses it. */
static int send_refused(invq_producer *p, redisContext *c, const char *families)
{
    const void *key[] = {REFUSED_KEY};
    invq_job *j = invq_job_new();
    if (j == NULL || invq_job_del(j, key, NULL, 1) != 0) {
        invq_job_free(j);
        return 1;
    }
    int rc = invq_send(p, j);
    invq_job_free(j);
    if (rc != INVQ_EFAMILY) {
        fprintf(stderr, "demo_producer: libinvq %s the job on " REFUSED_KEY " (%s), expected INVQ_EFAMILY\n",
                rc >= 0 ? "sent" : "failed", invq_strerror(rc));
        return 1;
    }
    printf("libinvq with %s refused a job: %s\n", families, invq_producer_errstr(p));
    invq_job *raw = job_new();
    uint8_t *bytes = NULL;
    size_t len = 0;
    job_limits lim;
    job_error err;
    job_limits_default(&lim);
    rc = raw == NULL || job_set_id(raw, "demo-refused-key") != 0 || job_add_op(raw, JOB_OP_DEL, 0, false, 0) != 0 ||
         job_op_add_key(raw, 0, REFUSED_KEY, strlen(REFUSED_KEY), false) != 0;
    if (rc == 0) {
        raw->ts = (uint64_t)time(NULL) * 1000;
        rc = job_encode(raw, &lim, &bytes, &len, &err);
    }
    job_free(raw);
    if (rc != 0 || !run(c, "LPUSH %s %b", KEY_PENDING, bytes, len) || !run(c, "HINCRBY %s enqueued 1", KEY_STATS)) {
        free(bytes);
        return 1;
    }
    free(bytes);
    printf("pushed the same job raw, as a producer without the families file would\n");
    return 0;
}

static int do_send(const char *url, redisContext *c, const char *families)
{
    invq_options o;
    invq_producer *p = NULL;
    invq_job *jobs[64];
    size_t n = 0;
    char err[256];
    int rc;
    const void *text_key[] = {"demo:not-a-number"};
    const void *deferred_key[] = {"demo:deferred"};
    const void *double_key[] = {"demo:double"};
    uint8_t poison[48];

    invq_options_init(&o);
    o.url = url;
    o.families = families;
    rc = invq_producer_new(&o, &p, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "demo_producer: %s\n", err);
        return 1;
    }
    /* 30 jobs deleting 3 users each (user:1..90), 10 of them sent twice:
     * the worker coalesces duplicates inside a batch. */
    for (int i = 0; i < NDELETED / 3 + 10; i++) {
        jobs[n] = invq_job_new();
        if (jobs[n] == NULL || add_keys(jobs[n], 'd', "user:", 1 + (i % (NDELETED / 3)) * 3, 3) != 0 ||
            invq_job_set_source(jobs[n], "demo") != 0 || invq_job_set_family(jobs[n], "user") != 0) {
            fprintf(stderr, "demo_producer: cannot build a job\n");
            return 1;
        }
        n++;
    }
    for (size_t i = n; i < n + 5; i++) {
        jobs[i] = invq_job_new();
        if (jobs[i] == NULL) {
            fprintf(stderr, "demo_producer: out of memory\n");
            return 1;
        }
    }
    rc = add_keys(jobs[n++], 'b', "ver:user:", 1, NVERSIONS);
    rc |= add_keys(jobs[n++], 'e', "ttl:", 1, NTTL);
    rc |= invq_job_del(jobs[n], deferred_key, NULL, 1) | invq_job_set_after_ms(jobs[n], AFTER_MS);
    n++;
    rc |= invq_job_del(jobs[n], double_key, NULL, 1) | invq_job_set_redo_ms(jobs[n], REDO_MS);
    n++;
    rc |= invq_job_bump(jobs[n], text_key, NULL, 1);
    n++;
    if (families != NULL) {
        rc |= add_stock(jobs, &n);
    }
    if (rc != 0) {
        fprintf(stderr, "demo_producer: cannot build a job\n");
        return 1;
    }
    rc = invq_send_many(p, (const invq_job *const *)jobs, n);
    if (rc < 0) {
        fprintf(stderr, "demo_producer: send failed: %s (%s)\n", invq_strerror(rc), invq_producer_errstr(p));
    }
    for (size_t i = 0; i < n; i++) {
        invq_job_free(jobs[i]);
    }
    if (rc >= 0 && families != NULL && send_refused(p, c, families) != 0) {
        rc = -1;
    }
    invq_producer_free(p);
    if (rc < 0) {
        return 1;
    }
    /* A poison payload: bytes no producer would send. */
    for (size_t i = 0; i < sizeof(poison); i++) {
        poison[i] = (uint8_t)(i * 37u + 11u);
    }
    poison[0] = 0xc1;
    if (!run(c, "LPUSH %s %b", KEY_PENDING, poison, sizeof(poison))) {
        return 1;
    }
    printf("sent %zu jobs in one round trip: %d deletes (10 of them duplicates), 1 bump of %d version keys, "
           "1 expire of %d keys (60 s, 10%% jitter), 1 delete deferred by %d ms, 1 double delete (redo after "
           "%d ms), 1 INCR of a text value%s; plus 1 poison payload\n",
           n, NDELETED / 3 + 10, NVERSIONS, NTTL, AFTER_MS, REDO_MS,
           families != NULL ? ", 2 deletes of stock:1..20 (family stock, in shadow mode)" : "");
    return 0;
}

static long long count_keys(redisContext *c, const char *pattern)
{
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* One atomic snapshot of the queue: a batch's finish script moves jobs
 * between processing, delayed and dead in one step, so separate reads could
 * see a job in none of them. 1 when everything is settled, 0 when not, -1 on
 * a Redis error. */
static int settled(redisContext *c, long long want_dead)
{
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "LLEN %s", KEY_PENDING);
    redisAppendCommand(c, "ZCARD %s", KEY_DELAYED);
    redisAppendCommand(c, "LLEN %s", KEY_DEAD);
    redisAppendCommand(c, "KEYS %s", KEY_PROCESSING);
    redisAppendCommand(c, "EXEC");
    int rc = -1;
    for (int i = 0; i < 6; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
            return -1;
        if (i == 5 && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
            r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
            r->element[2]->type == REDIS_REPLY_INTEGER && r->element[3]->type == REDIS_REPLY_ARRAY) {
            rc = r->element[0]->integer == 0 && r->element[1]->integer == 0 && r->element[2]->integer >= want_dead &&
                 r->element[3]->elements == 0;
        }
        freeReplyObject(r);
    }
    return rc;
}

static int do_wait(redisContext *c, long long want_dead)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        int rc = settled(c, want_dead);
        if (rc < 0) {
            fprintf(stderr, "demo_producer: cannot read the queue state\n");
            return 1;
        }
        if (rc == 1) {
            return 0;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "demo_producer: the worker did not finish within %d s\n", WAIT_MS / 1000);
    return 1;
}

static int report_dead(redisContext *c)
{
    job_limits lim;
    redisReply *r = redisCommand(c, "LRANGE %s 0 -1", KEY_DEAD);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return 1;
    }
    job_limits_default(&lim);
    printf("  dead letters (%zu), each with the original bytes, ready for `invqctl dlq requeue`:\n", r->elements);
    for (size_t i = r->elements; i-- > 0;) {
        dead_record *rec = NULL;
        job_error err;
        if (dead_decode((const uint8_t *)r->element[i]->str, r->element[i]->len, &lim, &rec, &err) != 0) {
            printf("    - (record does not decode: %s)\n", err.reason);
            continue;
        }
        printf("    - job %s, %" PRIu64 " attempt(s), %zu bytes\n      reason: %s\n",
               rec->id ? rec->id : "(undecodable: no id)", rec->attempts, rec->job_len, rec->reason);
        dead_free(rec);
    }
    freeReplyObject(r);
    return 0;
}

/* A sample of the worker's /metrics at host:port ("127.0.0.1:9464"), -1
 * when it cannot be read. */
static double scrape(const char *addr, const char *series)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    static char buf[1 << 17];
    size_t got = 0;
    ssize_t n = write(fd, req, sizeof(req) - 1);
    while (n > 0 && got + 1 < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    size_t len = strlen(series);
    for (const char *p = buf; (p = strstr(p, series)) != NULL; p += len) {
        if (p > buf && p[-1] == '\n' && p[len] == ' ') {
            return strtod(p + len + 1, NULL);
        }
    }
    return -1;
}

/* The families part of the report; returns whether it is what the burst asked for. */
static bool report_families(redisContext *c, const char *metrics)
{
    long long stocked = count_keys(c, "stock:*");
    double would = -1, hits = -1;
    if (metrics != NULL) {
        would = scrape(metrics, "invq_family_keys_total{family=\"stock\",op=\"del\",mode=\"shadow\"}");
        hits = scrape(metrics, "invq_family_shadow_hits_total{family=\"stock\",op=\"del\"}");
    }
    printf("  family stock (shadow): %lld of stock:1..%d still cached: nothing applied; the worker counted %.0f "
           "would-be deletes, %.0f of them of cached keys (%.0f%%: the number a rollout is judged by)\n",
           stocked, NSTOCKED, would, hits, would > 0 ? 100.0 * hits / would : 0.0);
    printf("  refused key          : " REFUSED_KEY " %s\n",
           int_cmd(c, "EXISTS " REFUSED_KEY) == 1 ? "untouched (outside every family)" : "DELETED");
    return stocked == NSTOCKED && would == NSTOCK && hits == NSTOCKED && int_cmd(c, "EXISTS " REFUSED_KEY) == 1;
}

static int do_report(redisContext *c, const char *families, const char *metrics)
{
    long long users = count_keys(c, "user:*");
    long long bumped = 0, shortened = 0, max_ttl = 0;
    for (int i = 1; i <= NVERSIONS; i++) {
        bumped += int_cmd(c, "GET ver:user:%d", i) == 2;
    }
    for (int i = 1; i <= NTTL; i++) {
        long long pttl = int_cmd(c, "PTTL ttl:%d", i);
        if (pttl > 0 && pttl <= TTL_AFTER_MS) {
            shortened++;
        }
        max_ttl = pttl > max_ttl ? pttl : max_ttl;
    }
    printf("\nWhat happened\n");
    printf("  jobs enqueued        : %lld (+1 poison payload pushed raw)\n", int_cmd(c, "HGET %s enqueued", KEY_STATS));
    printf("  jobs done            : %lld (the double delete counts twice)\n", int_cmd(c, "HGET %s done", KEY_STATS));
    printf("  retries              : %lld\n", int_cmd(c, "HGET %s retried", KEY_STATS));
    printf("  dead-lettered        : %lld\n", int_cmd(c, "HGET %s dead", KEY_STATS));
    printf("  keys deleted         : %lld of user:1..%d (user:%d..%d were not asked for and remain)\n",
           NUSERS - users, NUSERS, NDELETED + 1, NUSERS);
    printf("  versions bumped      : %lld of ver:user:1..%d now at 2\n", bumped, NVERSIONS);
    printf("  TTLs shortened       : %lld of ttl:1..%d from %d s to <= %d s (longest now %lld ms)\n", shortened, NTTL,
           TTL_BEFORE_S, TTL_AFTER_MS / 1000, max_ttl);
    printf("  deferred delete      : demo:deferred %s\n",
           int_cmd(c, "EXISTS demo:deferred") == 0 ? "deleted after its delay" : "STILL PRESENT");
    printf("  double delete        : demo:double %s\n",
           int_cmd(c, "EXISTS demo:double") == 0 ? "deleted, then deleted again" : "STILL PRESENT");
    printf("  queue now            : pending=%lld delayed=%lld dead=%lld\n", int_cmd(c, "LLEN %s", KEY_PENDING),
           int_cmd(c, "ZCARD %s", KEY_DELAYED), int_cmd(c, "LLEN %s", KEY_DEAD));
    bool fam_ok = families == NULL || report_families(c, metrics);
    if (report_dead(c) != 0) {
        return 1;
    }
    /* The demo checks its own outcome, so a broken worker fails it. */
    if (users != NUSERS - NDELETED || bumped != NVERSIONS || shortened != NTTL ||
        int_cmd(c, "EXISTS demo:deferred") != 0 || int_cmd(c, "EXISTS demo:double") != 0 ||
        int_cmd(c, "LLEN %s", KEY_DEAD) != (families != NULL ? 3 : 2) || !fam_ok) {
        fprintf(stderr, "demo_producer: the outcome is not what the burst asked for\n");
        return 1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: demo_producer --url URL [--families FILE] [--metrics HOST:PORT]\n"
                    "       (--ping | --free-port | --fill | --send | --wait | --report)\n");
}

/* Prints a loopback TCP port free a moment ago (for the worker's listener). */
static int do_free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("demo_producer: free port");
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    close(fd);
    printf("%d\n", ntohs(sin.sin_port));
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *action = NULL, *families = NULL, *metrics = NULL;
    redisContext *c;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--families") == 0 && i + 1 < argc) {
            families = argv[++i];
        } else if (strcmp(argv[i], "--metrics") == 0 && i + 1 < argc) {
            metrics = argv[++i];
        } else if (strcmp(argv[i], "--ping") == 0 || strcmp(argv[i], "--fill") == 0 || strcmp(argv[i], "--send") == 0 ||
                   strcmp(argv[i], "--wait") == 0 || strcmp(argv[i], "--report") == 0 ||
                   strcmp(argv[i], "--free-port") == 0) {
            action = argv[i];
        } else {
            usage();
            return 64;
        }
    }
    if (action != NULL && strcmp(action, "--free-port") == 0) {
        return do_free_port();
    }
    if (url == NULL || action == NULL) {
        usage();
        return 64;
    }
    c = connect_url(url);
    if (c == NULL) {
        return 1;
    }
    if (strcmp(action, "--ping") == 0) {
        rc = run(c, "PING") ? 0 : 1;
    } else if (strcmp(action, "--fill") == 0) {
        rc = do_fill(c, families);
    } else if (strcmp(action, "--send") == 0) {
        rc = do_send(url, c, families);
    } else if (strcmp(action, "--wait") == 0) {
        rc = do_wait(c, families != NULL ? 3 : 2);
    } else {
        rc = do_report(c, families, metrics);
    }
    redisFree(c);
    return rc;
}
