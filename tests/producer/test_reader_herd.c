/* The thundering herd: 50 readers get one missing key at once and exactly
 * one of them loads it; the other 49 wait behind its lease and get the
 * value it filled. First 50 threads sharing one reader (one pool of
 * connections), then 50 processes with a reader each: the lease holds
 * fleet-wide, through Redis alone. The loader holds its result until every
 * other reader is waiting, so the readers really overlap. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtest.h"

enum { N = 50 };

/* ---------------------------------------------------------------- threads */

static invq_reader *shared_reader;
static pthread_barrier_t start_line;

static bool others_waiting(void *ctx)
{
    (void)ctx;
    return rtest_stats(shared_reader).lease_waits >= N - 1;
}

typedef struct slot {
    rsrc *src;
    int rc;
    char val[64];
} slot;

static void *reader_thread(void *arg)
{
    slot *s = arg;
    void *v = NULL;
    size_t n = 0;
    pthread_barrier_wait(&start_line);
    s->rc = invq_reader_get(shared_reader, "herd:threads", 12, NULL, rsrc_load, s->src, &v, &n);
    if (s->rc == 0)
        snprintf(s->val, sizeof(s->val), "%.*s", (int)n, (const char *)v);
    invq_value_free(v);
    return NULL;
}

static void test_threads(const rfix *f, redisContext *c)
{
    rsrc src;
    pthread_t th[N];
    slot slots[N];
    rsrc_init(&src, "row-v1");
    src.hold = others_waiting;
    shared_reader = rtest_reader(rfix_url(f), NULL);
    pthread_barrier_init(&start_line, NULL, N);
    for (int i = 0; i < N; i++) {
        slots[i] = (slot){ .src = &src };
        WT_CHECK(pthread_create(&th[i], NULL, reader_thread, &slots[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        WT_CHECK(slots[i].rc == 0 && strcmp(slots[i].val, "row-v1") == 0, "reader %d: rc %d value '%s'", i,
                 slots[i].rc, slots[i].val);
    invq_reader_stats st = rtest_stats(shared_reader);
    wt_note("threads: %d loads, %llu misses, %llu lease waits, %llu fills, %llu wait timeouts", rsrc_loads(&src),
            (unsigned long long)st.misses, (unsigned long long)st.lease_waits, (unsigned long long)st.fills,
            (unsigned long long)st.wait_timeouts);
    WT_CHECK(rsrc_loads(&src) == 1 && st.loads == 1, "%d loads for one missing key", rsrc_loads(&src));
    WT_CHECK(st.misses == N && st.lease_waits == N - 1 && st.fills == 1, "counters");
    WT_CHECK(st.wait_timeouts == 0 && st.errors == 0 && st.fallbacks == 0, "no timeouts, no errors");
    char *raw = rtest_raw_get(c, "herd:threads", NULL);
    WT_CHECK(raw && strcmp(raw, "row-v1") == 0, "the filled value is in the cache");
    free(raw);
    /* and now it is a plain hit */
    char *v = rtest_get(shared_reader, "herd:threads", NULL, &src, 0);
    WT_CHECK(strcmp(v, "row-v1") == 0 && rsrc_loads(&src) == 1 && rtest_stats(shared_reader).hits == 1, "hit");
    free(v);
    pthread_barrier_destroy(&start_line);
    invq_reader_free(shared_reader);
    rsrc_deinit(&src);
}

/* -------------------------------------------------------------- processes */

typedef struct fleet {
    atomic_int loads;
    atomic_ullong waits[N]; /* each process's lease_waits, published while its get runs */
    int rc[N];
    char val[N][64];
} fleet;

static fleet *shm;

static bool fleet_waiting(void *ctx)
{
    (void)ctx;
    unsigned long long sum = 0;
    for (int i = 0; i < N; i++)
        sum += atomic_load(&shm->waits[i]);
    return sum >= N - 1;
}

static int fleet_load(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    (void)user;
    (void)key;
    (void)keylen;
    atomic_fetch_add(&shm->loads, 1);
    uint64_t deadline = wt_mono_ms() + RTEST_HOLD_MS;
    while (!fleet_waiting(NULL) && wt_mono_ms() < deadline) {
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return invq_loaded_set(out, "row-fleet", 9);
}

typedef struct child_get {
    invq_reader *r;
    atomic_bool done;
    int rc;
    void *v;
    size_t n;
} child_get;

static void *child_get_main(void *arg)
{
    child_get *g = arg;
    g->rc = invq_reader_get(g->r, "herd:procs", 10, NULL, fleet_load, NULL, &g->v, &g->n);
    atomic_store(&g->done, true);
    return NULL;
}

/* One process of the fleet: waits for the start signal, gets the key on a
 * thread while publishing its reader's lease_waits, reports, exits. */
static void child(int i, const char *url, int go_fd)
{
    invq_reader_options o;
    child_get g = { 0 };
    pthread_t th;
    char b;
    invq_reader_options_init(&o);
    o.url = url;
    o.ttl_ms = 60000;
    o.wait_timeout_ms = WT_DEADLINE_MS;
    o.connect_timeout_ms = o.command_timeout_ms = 5000;
    shm->rc[i] = -1000;
    if (invq_reader_new(&o, &g.r, NULL, 0) != 0)
        _exit(2);
    if (read(go_fd, &b, 1) != 0) /* EOF: the parent closed the pipe, everyone starts */
        _exit(3);
    if (pthread_create(&th, NULL, child_get_main, &g) != 0)
        _exit(4);
    while (!atomic_load(&g.done)) {
        atomic_store(&shm->waits[i], rtest_stats(g.r).lease_waits);
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    shm->rc[i] = g.rc;
    if (g.rc == 0)
        snprintf(shm->val[i], sizeof(shm->val[i]), "%.*s", (int)g.n, (const char *)g.v);
    invq_value_free(g.v);
    invq_reader_free(g.r);
    _exit(0);
}

static void test_processes(const rfix *f, redisContext *c)
{
    int go[2];
    pid_t pids[N];
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    WT_CHECK(shm != MAP_FAILED, "mmap");
    memset(shm, 0, sizeof(*shm));
    WT_CHECK(pipe(go) == 0, "pipe");
    fflush(NULL);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        WT_CHECK(pids[i] >= 0, "fork");
        if (pids[i] == 0) {
            close(go[1]);
            child(i, rfix_url(f), go[0]);
        }
    }
    close(go[0]);
    close(go[1]); /* go */
    uint64_t deadline = wt_mono_ms() + 2 * WT_DEADLINE_MS;
    for (int i = 0; i < N; i++) {
        int st = -1;
        while (waitpid(pids[i], &st, WNOHANG) == 0) {
            if (wt_mono_ms() > deadline) {
                for (int k = i; k < N; k++)
                    kill(pids[k], SIGKILL);
                WT_CHECK(false, "process %d did not finish", i);
            }
            struct timespec ts = { 0, 5 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d exit status %d", i, st);
    }
    unsigned long long waits = 0;
    for (int i = 0; i < N; i++) {
        WT_CHECK(shm->rc[i] == 0 && strcmp(shm->val[i], "row-fleet") == 0, "process %d: rc %d value '%s'", i,
                 shm->rc[i], shm->val[i]);
        waits += atomic_load(&shm->waits[i]);
    }
    wt_note("processes: %d loads, %llu lease waits", atomic_load(&shm->loads), waits);
    WT_CHECK(atomic_load(&shm->loads) == 1, "%d loads for one missing key across %d processes",
             atomic_load(&shm->loads), N);
    WT_CHECK(waits == N - 1, "every other process waited");
    char *raw = rtest_raw_get(c, "herd:procs", NULL);
    WT_CHECK(raw && strcmp(raw, "row-fleet") == 0, "the filled value is in the cache");
    free(raw);
    munmap(shm, sizeof(*shm));
}

int main(void)
{
    rfix *f = wt_server(NULL);
    redisContext *c = wt_connect(f);
    test_threads(f, c);
    test_processes(f, c);
    redisFree(c);
    wt_server_free(f);
    printf("reader_herd: ok\n");
    return 0;
}
