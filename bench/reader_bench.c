/* reader_bench: the cache-aside reader's two numbers, each against its
 * baseline measured in the same run on one loopback redis-server started
 * here (TCP, as services reach Redis).
 *
 * 1. The herd. N reader threads read K hot keys in a loop while an
 *    invalidator, every I ms, writes one key's row in a fake database and
 *    deletes the key (the DEL invq-worker sends), twice in a burst D/2 µs
 *    apart, going round the keys R times. Each load takes D µs (the row is read first, then the
 *    "query" sleeps), so the second write of a burst lands during the
 *    reloads the first one caused. Database loads per invalidation per key,
 *    with the lease protocol (invq_reader_get) and with plain cache-aside
 *    (GET; on a miss load and SET PX); stale reads (a read that began after
 *    an invalidation had returned, yet got a row older than it: the cost of
 *    a stale set) and keys left stale once the invalidations stop.
 * 2. The hit path. One thread, 1,000 cached keys: ns per invq_reader_get
 *    hit against ns per plain hiredis GET round trip (and a versioned hit,
 *    two round trips, against two plain GETs), in alternating blocks.
 *
 *   reader_bench [--quick | --smoke] [--json] [--readers N] [--keys K]
 *                [--rounds R] [--interval-ms I] [--load-us D] [--hits M]
 *
 * --smoke runs tiny sizes and exits 1 if a protocol invariant fails (a
 * stale key left with leases, a wrong value read); it checks no timing. */
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <invq/invq.h>

#include "redis_fixture.h"

#define MAX_KEYS 256
#define VALUE_PAD 100 /* bytes of a cached value, about a small row as JSON */
#define TTL_MS 60000

typedef struct params {
    int readers, keys, rounds, interval_ms, load_us, hits;
    bool json, smoke;
} params;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void die(const char *what)
{
    fprintf(stderr, "reader_bench: %s\n", what);
    exit(1);
}

static redisContext *connect_tcp(const rfix *f)
{
    struct timeval tv = { 5, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rfix_port(f), tv);
    if (!c || c->err)
        die("cannot connect");
    return c;
}

static void command_ok(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die(cmd);
    freeReplyObject(r);
}

/* ------------------------------------------------------------ the herd */

/* The fake database: one row version per key, bumped by each write. */
typedef struct herd {
    const params *p;
    const rfix *f;
    bool leases;
    invq_reader *reader;
    atomic_long row[MAX_KEYS];
    atomic_long invalidated[MAX_KEYS]; /* the row's version when its last DEL returned */
    atomic_long loads[MAX_KEYS];
    atomic_bool stop;
    atomic_long bad_values;
    atomic_long stale_reads;
    atomic_long gets;
} herd;

typedef struct load_arg {
    herd *h;
    int k;
} load_arg;

static int key_index(const void *key, size_t len)
{
    /* "hot:<k>" */
    int k = 0;
    for (size_t i = 4; i < len; i++)
        k = k * 10 + (((const char *)key)[i] - '0');
    return k;
}

static size_t format_value(char *buf, int k, long version)
{
    int n = snprintf(buf, VALUE_PAD + 1, "key=%d version=%ld ", k, version);
    memset(buf + n, 'x', (size_t)(VALUE_PAD - n));
    buf[VALUE_PAD] = '\0';
    return VALUE_PAD;
}

static long value_version(const char *v, size_t len)
{
    const char *p = len > 0 ? strstr(v, "version=") : NULL;
    return p ? atol(p + 8) : -1;
}

/* The query: reads the row, then takes load_us (the rest of the query and
 * its network time), as a database read does. */
static size_t db_load(herd *h, int k, char *buf)
{
    long version = atomic_load(&h->row[k]);
    atomic_fetch_add(&h->loads[k], 1);
    sleep_us(h->p->load_us);
    return format_value(buf, k, version);
}

static int reader_loader(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    herd *h = user;
    char buf[VALUE_PAD + 1];
    size_t n = db_load(h, key_index(key, keylen), buf);
    return invq_loaded_set(out, buf, n);
}

typedef struct reader_thread {
    herd *h;
    pthread_t th;
    uint64_t seed;
} reader_thread;

/* A read that began after an invalidation returned and still got a row
 * older than that invalidation is a stale read: what a stale set costs. */
static void check_value(herd *h, int k, long invalidated, const char *v, size_t n)
{
    long ver = value_version(v, n);
    if (ver < 0 || ver > atomic_load(&h->row[k]))
        atomic_fetch_add(&h->bad_values, 1);
    else if (ver < invalidated)
        atomic_fetch_add(&h->stale_reads, 1);
}

static void *reader_main(void *arg)
{
    reader_thread *t = arg;
    herd *h = t->h;
    redisContext *c = h->leases ? NULL : connect_tcp(h->f);
    uint64_t x = t->seed;
    char key[32];
    while (!atomic_load(&h->stop)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % (uint64_t)h->p->keys);
        int kl = snprintf(key, sizeof(key), "hot:%d", k);
        long inv = atomic_load(&h->invalidated[k]);
        if (h->leases) {
            void *v;
            size_t n;
            if (invq_reader_get(h->reader, key, (size_t)kl, NULL, reader_loader, h, &v, &n) != 0)
                die("invq_reader_get failed");
            check_value(h, k, inv, v, n);
            invq_value_free(v);
        } else {
            /* plain cache-aside: GET, on a miss load and SET */
            redisReply *r = redisCommand(c, "GET %s", key);
            if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
                die("GET failed");
            if (r->type == REDIS_REPLY_STRING) {
                check_value(h, k, inv, r->str, r->len);
            } else {
                char buf[VALUE_PAD + 1];
                size_t n = db_load(h, k, buf);
                redisReply *s = redisCommand(c, "SET %s %b PX %d", key, buf, n, TTL_MS);
                if (!s || s->type == REDIS_REPLY_ERROR)
                    die("SET failed");
                freeReplyObject(s);
            }
            freeReplyObject(r);
        }
        atomic_fetch_add(&h->gets, 1);
    }
    if (c)
        redisFree(c);
    return NULL;
}

static long total_loads(herd *h)
{
    long n = 0;
    for (int k = 0; k < h->p->keys; k++)
        n += atomic_load(&h->loads[k]);
    return n;
}

static bool all_loaded(herd *h)
{
    for (int k = 0; k < h->p->keys; k++)
        if (atomic_load(&h->loads[k]) == 0)
            return false;
    return true;
}

/* Keys whose cached value is older than their row (a stale set that
 * survived the invalidations), after the readers stopped. */
static int stale_keys(herd *h, redisContext *c)
{
    int stale = 0;
    for (int k = 0; k < h->p->keys; k++) {
        redisReply *r = redisCommand(c, "GET hot:%d", k);
        if (!r)
            die("GET failed");
        /* a lease marker or no key is not stale; an old version is */
        if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] != '\0') {
            long ver = value_version(r->str, r->len);
            if (ver >= 0 && ver < atomic_load(&h->row[k]))
                stale++;
        }
        freeReplyObject(r);
    }
    return stale;
}

typedef struct herd_result {
    double loads_per_inv;
    int stale;
    long invalidations;
    long gets;
    long bad_values;
    long stale_reads;
    invq_reader_stats st;
} herd_result;

static herd_result run_herd(const params *p, const rfix *f, bool leases)
{
    herd *h = calloc(1, sizeof(*h));
    reader_thread *th = calloc((size_t)p->readers, sizeof(*th));
    redisContext *c = connect_tcp(f);
    herd_result res = { 0 };
    char url[64];
    if (!h || !th)
        die("out of memory");
    h->p = p;
    h->f = f;
    h->leases = leases;
    command_ok(c, "FLUSHALL");
    if (leases) {
        invq_reader_options o;
        char err[256];
        invq_reader_options_init(&o);
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rfix_port(f));
        o.url = url;
        o.ttl_ms = TTL_MS;
        o.jitter_pct = 0;
        o.max_idle_connections = (size_t)p->readers;
        o.connect_timeout_ms = o.command_timeout_ms = 5000;
        if (invq_reader_new(&o, &h->reader, err, sizeof(err)) != 0)
            die(err);
    }
    for (int i = 0; i < p->readers; i++) {
        th[i].h = h;
        th[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        if (pthread_create(&th[i].th, NULL, reader_main, &th[i]) != 0)
            die("pthread_create");
    }
    /* warm up: every key loaded once before the first invalidation */
    for (int i = 0; i < 10000 && !all_loaded(h); i++)
        sleep_us(1000);
    sleep_us((long)p->load_us * 4 + 5000);
    long base = total_loads(h);
    if (leases)
        invq_reader_stats_get(h->reader, &res.st);
    invq_reader_stats st0 = res.st;
    for (int r = 0; r < p->rounds; r++) {
        for (int k = 0; k < p->keys; k++) {
            sleep_us((long)p->interval_ms * 1000);
            /* a burst of two writes of row k, each committed and then
             * invalidated (the DEL invq-worker sends); the second lands while
             * the reloads the first one caused are still reading the row */
            for (int b = 0; b < 2; b++) {
                if (b == 1)
                    sleep_us(p->load_us / 2);
                long version = atomic_fetch_add(&h->row[k], 1) + 1;
                redisReply *d = redisCommand(c, "DEL hot:%d", k);
                if (!d || d->type != REDIS_REPLY_INTEGER)
                    die("DEL failed");
                freeReplyObject(d);
                atomic_store(&h->invalidated[k], version);
            }
        }
    }
    sleep_us((long)p->interval_ms * 1000); /* the last invalidation's reloads */
    atomic_store(&h->stop, true);
    for (int i = 0; i < p->readers; i++)
        pthread_join(th[i].th, NULL);
    res.invalidations = 2L * p->rounds * p->keys;
    res.loads_per_inv = (double)(total_loads(h) - base) / (double)res.invalidations;
    res.stale = stale_keys(h, c);
    res.gets = atomic_load(&h->gets);
    res.bad_values = atomic_load(&h->bad_values);
    res.stale_reads = atomic_load(&h->stale_reads);
    if (leases) {
        invq_reader_stats_get(h->reader, &res.st);
        res.st.fills_refused -= st0.fills_refused;
        res.st.lease_waits -= st0.lease_waits;
        res.st.wait_timeouts -= st0.wait_timeouts;
        res.st.errors -= st0.errors;
        invq_reader_free(h->reader);
    }
    redisFree(c);
    free(th);
    free(h);
    return res;
}

/* --------------------------------------------------------- the hit path */

#define HIT_KEYS 1000

static int hit_loader(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    char buf[VALUE_PAD + 1];
    (void)user;
    (void)keylen;
    (void)key;
    size_t n = format_value(buf, 0, 1);
    return invq_loaded_set(out, buf, n);
}

typedef struct hit_result {
    double reader_ns, get_ns, vreader_ns, get2_ns; /* ns per read: medians of the blocks */
    double ratio, vratio;                          /* medians of the blocks' ratios */
} hit_result;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* `per` reads of the hit keys in one mode: 0 plain GET, 1 reader get, 2 two
 * plain GETs (version key, data key), 3 versioned reader get. */
static void hit_block(redisContext *c, invq_reader *r, int mode, int per)
{
    char key[32], vkey[32];
    invq_read_opts ro;
    invq_read_opts_init(&ro);
    for (int i = 0; i < per; i++) {
        int k = i % HIT_KEYS;
        snprintf(key, sizeof(key), mode == 2 ? "hk:%d:v7" : "hk:%d", k);
        snprintf(vkey, sizeof(vkey), "ver:hk:%d", k);
        if (mode == 0 || mode == 2) {
            /* the baseline: the cheapest hiredis call for a GET */
            const char *argv[2] = { "GET", vkey };
            size_t lens[2] = { 3, strlen(vkey) };
            redisReply *g;
            if (mode == 2) {
                g = redisCommandArgv(c, 2, argv, lens);
                if (!g || g->type != REDIS_REPLY_STRING)
                    die("GET of the version key failed");
                freeReplyObject(g);
            }
            argv[1] = key;
            lens[1] = strlen(key);
            g = redisCommandArgv(c, 2, argv, lens);
            if (!g || g->type != REDIS_REPLY_STRING)
                die("GET missed");
            freeReplyObject(g);
        } else {
            void *v;
            size_t n;
            ro.version_key = mode == 3 ? vkey : NULL;
            if (invq_reader_get(r, key, strlen(key), &ro, hit_loader, NULL, &v, &n) != 0)
                die("get failed");
            invq_value_free(v);
        }
    }
}

static hit_result run_hits(const params *p, const rfix *f)
{
    invq_reader_options o;
    invq_reader *r;
    invq_read_opts ro;
    char url[64], err[256], key[32], vkey[32];
    redisContext *c = connect_tcp(f);
    hit_result res = { 0 };

    command_ok(c, "FLUSHALL");
    invq_reader_options_init(&o);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rfix_port(f));
    o.url = url;
    o.ttl_ms = TTL_MS;
    if (invq_reader_new(&o, &r, err, sizeof(err)) != 0)
        die(err);
    invq_read_opts_init(&ro);
    for (int i = 0; i < HIT_KEYS; i++) { /* fill every key once, plain and versioned */
        void *v;
        size_t n;
        snprintf(key, sizeof(key), "hk:%d", i);
        snprintf(vkey, sizeof(vkey), "ver:hk:%d", i);
        redisReply *s = redisCommand(c, "SET %s 7", vkey);
        freeReplyObject(s);
        if (invq_reader_get(r, key, strlen(key), NULL, hit_loader, NULL, &v, &n) != 0)
            die("fill failed");
        invq_value_free(v);
        ro.version_key = vkey;
        if (invq_reader_get(r, key, strlen(key), &ro, hit_loader, NULL, &v, &n) != 0)
            die("fill failed");
        invq_value_free(v);
    }
    invq_reader_stats before;
    invq_reader_stats_get(r, &before);
    /* Short blocks of each mode, in rotating order, so a burst of load
     * elsewhere on the machine hits every mode alike; the ratio is the median
     * of the blocks' ratios. */
    enum { BLOCKS = 40 };
    int per = p->hits / BLOCKS > 0 ? p->hits / BLOCKS : 1;
    double ratio[BLOCKS], vratio[BLOCKS], ns[4][BLOCKS];
    for (int b = 0; b < BLOCKS; b++) {
        uint64_t t[4];
        for (int m = 0; m < 4; m++) {
            int mode = (m + b) % 4;
            uint64_t t0 = now_ns();
            hit_block(c, r, mode, per);
            t[mode] = now_ns() - t0;
            ns[mode][b] = (double)t[mode] / per;
        }
        ratio[b] = (double)t[1] / (double)t[0];
        vratio[b] = (double)t[3] / (double)t[2];
    }
    res.ratio = median(ratio, BLOCKS);
    res.vratio = median(vratio, BLOCKS);
    res.get_ns = median(ns[0], BLOCKS);
    res.reader_ns = median(ns[1], BLOCKS);
    res.get2_ns = median(ns[2], BLOCKS);
    res.vreader_ns = median(ns[3], BLOCKS);
    invq_reader_stats after;
    invq_reader_stats_get(r, &after);
    if (after.hits - before.hits != (uint64_t)(2 * BLOCKS * per) || after.loads != before.loads)
        die("the hit benchmark missed");
    invq_reader_free(r);
    redisFree(c);
    return res;
}

/* ------------------------------------------------------------------ main */

static int parse_args(int argc, char **argv, params *p)
{
    *p = (params){ .readers = 32, .keys = 8, .rounds = 20, .interval_ms = 10, .load_us = 2000, .hits = 20000 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL;
        if (strcmp(a, "--quick") == 0) {
            p->rounds = 6;
            p->hits = 5000;
        } else if (strcmp(a, "--smoke") == 0) {
            *p = (params){ .readers = 4, .keys = 2, .rounds = 3, .interval_ms = 10, .load_us = 500,
                           .hits = 200, .smoke = true, .json = p->json };
        } else if (strcmp(a, "--json") == 0) {
            p->json = true;
        } else if (strcmp(a, "--readers") == 0) {
            target = &p->readers;
        } else if (strcmp(a, "--keys") == 0) {
            target = &p->keys;
        } else if (strcmp(a, "--rounds") == 0) {
            target = &p->rounds;
        } else if (strcmp(a, "--interval-ms") == 0) {
            target = &p->interval_ms;
        } else if (strcmp(a, "--load-us") == 0) {
            target = &p->load_us;
        } else if (strcmp(a, "--hits") == 0) {
            target = &p->hits;
        } else {
            return -1;
        }
        if (target) {
            if (i + 1 >= argc || atoi(argv[i + 1]) <= 0)
                return -1;
            *target = atoi(argv[++i]);
        }
    }
    return p->keys > MAX_KEYS ? -1 : 0;
}

int main(int argc, char **argv)
{
    params p;
    rfix *f;
    rfix_opts fo = { .tcp = true };
    if (parse_args(argc, argv, &p) < 0) {
        fprintf(stderr, "usage: %s [--quick | --smoke] [--json] [--readers N] [--keys K] [--rounds R] "
                        "[--interval-ms I] [--load-us D] [--hits M]\n", argv[0]);
        return 2;
    }
    int rc = rfix_start(&f, &fo);
    if (rc != 0)
        return rc == RFIX_SKIP ? RFIX_SKIP : 1;

    herd_result with = run_herd(&p, f, true);
    herd_result without = run_herd(&p, f, false);
    hit_result hit = run_hits(&p, f);
    rfix_free(f);

    double hit_ratio = hit.ratio, vhit_ratio = hit.vratio;
    if (p.json) {
        printf("{\"readers\": %d, \"keys\": %d, \"rounds\": %d, \"interval_ms\": %d, \"load_us\": %d, "
               "\"invalidations\": %ld, \"loads_per_inv_leases\": %.4f, \"loads_per_inv_plain\": %.4f, "
               "\"stale_leases\": %d, \"stale_plain\": %d, \"stale_reads_leases\": %ld, \"stale_reads_plain\": %ld, "
               "\"fills_refused\": %llu, \"lease_waits\": %llu, "
               "\"wait_timeouts\": %llu, \"errors\": %llu, \"gets_leases\": %ld, \"gets_plain\": %ld, "
               "\"hit_ns\": %.0f, \"get_ns\": %.0f, \"hit_ratio\": %.4f, "
               "\"vhit_ns\": %.0f, \"get2_ns\": %.0f, \"vhit_ratio\": %.4f}\n",
               p.readers, p.keys, p.rounds, p.interval_ms, p.load_us, with.invalidations, with.loads_per_inv,
               without.loads_per_inv, with.stale, without.stale, with.stale_reads, without.stale_reads,
               (unsigned long long)with.st.fills_refused,
               (unsigned long long)with.st.lease_waits, (unsigned long long)with.st.wait_timeouts,
               (unsigned long long)with.st.errors, with.gets, without.gets, hit.reader_ns, hit.get_ns, hit_ratio,
               hit.vreader_ns, hit.get2_ns, vhit_ratio);
    } else {
        printf("%d reader threads x %d hot keys; every %d ms one key gets a burst of two writes + DELs %d us "
               "apart; loads take %d us; %ld invalidations; hits over %d keys\n\n",
               p.readers, p.keys, p.interval_ms, p.load_us / 2, p.load_us, with.invalidations, HIT_KEYS);
        printf("| figure | value | baseline (same run) | ratio | target |\n|---|---:|---:|---:|---|\n");
        printf("| DB loads per invalidation per key, leases (invq_reader_get) | %.2f | | | <= 1.05 |\n",
               with.loads_per_inv);
        printf("| DB loads per invalidation per key, plain GET / SET PX | %.2f | | | |\n", without.loads_per_inv);
        printf("| stale reads (a row older than an invalidation that had returned), leases / plain | %ld / %ld of "
               "%ld / %ld reads | | | 0 with leases |\n", with.stale_reads, without.stale_reads, with.gets, without.gets);
        printf("| keys left stale after the last invalidation, leases / plain | %d / %d of %d | | | 0 with leases |\n",
               with.stale, without.stale, p.keys);
        printf("| leases: waits, wait timeouts, fills refused | %llu, %llu, %llu | | | |\n",
               (unsigned long long)with.st.lease_waits, (unsigned long long)with.st.wait_timeouts,
               (unsigned long long)with.st.fills_refused);
        printf("| hit: ns per invq_reader_get (medians of 40 blocks) | %.0f | %.0f ns per plain GET | "
               "%.2f | <= 1.2 |\n", hit.reader_ns, hit.get_ns, hit_ratio);
        printf("| versioned hit: ns per invq_reader_get | %.0f | %.0f ns per two plain GETs | %.2f | |\n",
               hit.vreader_ns, hit.get2_ns, vhit_ratio);
    }
    if (with.bad_values || without.bad_values) {
        fprintf(stderr, "reader_bench: %ld / %ld values read were not values of their key\n", with.bad_values,
                without.bad_values);
        return 1;
    }
    if (with.stale != 0 || with.stale_reads != 0) {
        fprintf(stderr, "reader_bench: with leases, %d keys left stale and %ld stale reads\n", with.stale,
                with.stale_reads);
        return 1;
    }
    if (p.smoke && (with.loads_per_inv <= 0 || with.gets == 0 || without.gets == 0)) {
        fprintf(stderr, "reader_bench: the readers did not run\n");
        return 1;
    }
    return 0;
}
