/* The soak and fault suite: invq end to end under steady load while faults
 * are applied one after the other, numbers printed at the end.
 *
 * Load: three libinvq sync producers with a shared spool directory (each a
 * process of this executable, `soak producer ...`, see soak_producer.c),
 * one-key deletes of keys that exist in the cache, a few thousand jobs/s in
 * all; slot 2 runs with a tiny RLIMIT_FSIZE. Several invq-worker processes
 * (--cache-wait-replicas 1) apply them. The queue is a single Redis with
 * `appendonly yes`, `appendfsync always`, reached through two fault
 * proxies (one for the workers, one for the producers); the cache is a
 * Sentinel set (master, replica, three sentinels) with the same AOF.
 *
 * Faults, per round: kill -9 of a worker (a new one started each time),
 * the cache replica killed -9 and restarted, the queue Redis killed -9 and
 * restarted from its AOF, a Sentinel failover of the cache, a network
 * partition (both proxies refuse and drop every connection), a latency
 * spike (every reply held 300 ms), a producer killed -9 while it holds
 * spooled jobs (a new producer adopts its spool), and the spool of slot 2
 * running out of space during a partition. Each fault lasts until the
 * state it is about is observed (jobs spooled, an error reported, jobs
 * applied), with a bounded deadline; the load never stops meanwhile.
 *
 * Asserts: every key whose delete a producer reported sent or spooled is
 * gone from the cache at the end (jobs lost 0); no dead letters; no errors
 * but on the slot whose spool is full; the producers' spools empty; the
 * worker that is never killed keeps a flat resident set (see RSS_SLACK_KB).
 *
 * Short run (CI, suite `soak`): one round, 5 worker kills, about 40 s.
 * Long run: `INVQ_SOAK_LONG=1` or `--long`: 10 rounds, 100 worker kills.
 * Usage: test_soak [--long]; `test_soak producer ...` is the producer. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultproxy.h"
#include "sentinel_fixture.h"
#include "soak.h"
#include "wtest.h"

#define NWORKERS 3
/* The steady worker's resident set may grow this much from the first
 * sample (taken once the load runs) to the last (after the drain): the
 * backlogs that build up during outages are held in batches of --batch
 * jobs per consumer, hiredis reader buffers and libuv write queues grow to
 * the largest reply seen and glibc keeps freed arenas; none of that grows
 * with the number of jobs. A leak of 100 bytes per job would add more
 * than this over the long run's jobs. */
#define RSS_SLACK_KB (12 * 1024)
/* Under AddressSanitizer (this test and the worker are built alike) the
 * resident set says nothing about leaks: freed memory waits in ASan's
 * quarantine (up to 256 MiB) and shadow pages come on top. There the number
 * is printed, not checked; LeakSanitizer checks the steady worker when it
 * exits at the end (wt_worker_stop() requires exit status 0). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED 0
#else
#define RSS_CHECKED 1
#endif

static const char *const aof_conf[] = { "appendonly yes", "appendfsync always", NULL };

typedef struct soak {
    bool long_run;
    int rounds, kills_per_round;
    double rate[SOAK_SLOTS];
    long long fsize;           /* RLIMIT_FSIZE of slot 2 */
    rfix *queue;
    sfix *cache;
    faultproxy *wproxy, *pproxy;   /* workers' and producers' way to the queue */
    redisContext *qc;              /* direct, reconnected when it breaks */
    soak_map *map;
    char dir[400], map_path[512], spool[512];
    wt_proc *worker[NWORKERS];
    int worker_seq;
    wt_proc *producer[SOAK_SLOTS];
    int producer_seq;
    /* counts */
    int kills, cache_restarts, queue_restarts, failovers, partitions, spikes, producer_kills, spool_fulls;
    long rss_start, rss_end;
} soak;

static uint64_t deadline_ms(void) { return wt_mono_ms() + 2 * WT_DEADLINE_MS; }

/* ------------------------------------------------------------ queue link */

static redisContext *qconn(soak *s)
{
    if (s->qc != NULL && s->qc->err == 0)
        return s->qc;
    if (s->qc != NULL)
        redisFree(s->qc);
    s->qc = rfix_connect(s->queue);
    return s->qc;
}

/* HGET stats field on the queue, -1 while it cannot be read. */
static long long qstat(soak *s, const char *field)
{
    redisContext *c = qconn(s);
    if (c == NULL)
        return -1;
    char key[128];
    redisReply *r = redisCommand(c, "HGET %s %s", wt_qkey(key, sizeof key, "stats"), field);
    long long v = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    else if (r != NULL && r->type == REDIS_REPLY_NIL)
        v = 0;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

static long long qint(soak *s, const char *fmt, const char *suffix)
{
    redisContext *c = qconn(s);
    if (c == NULL)
        return -1;
    char key[128];
    redisReply *r = redisCommand(c, fmt, wt_qkey(key, sizeof key, suffix));
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

/* Waits until stats.done has grown by n from now: the system is applying. */
static void wait_applied(soak *s, long long n, const char *after)
{
    long long from = -1;
    uint64_t end = deadline_ms();
    while ((from = qstat(s, "done")) < 0 && wt_mono_ms() < end)
        rfix_sleep_ms(20);
    long long now = from;
    while (now < from + n && wt_mono_ms() < end) {
        rfix_sleep_ms(20);
        long long v = qstat(s, "done");
        if (v >= 0)
            now = v;
    }
    WT_CHECK(now >= from + n, "after %s: stats.done went from %lld to %lld, not %lld more", after, from, now, n);
}

/* ----------------------------------------------------------- processes */

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

static wt_proc *start_worker(soak *s)
{
    char log[600];
    snprintf(log, sizeof log, "%s/worker-%d.log", s->dir, s->worker_seq++);
    const char *extra[] = { "--cache-wait-replicas", "1", "--consumers", "2", "--batch", "50", NULL };
    wt_proc *w = wt_worker_start(faultproxy_url(s->wproxy), sfix_url(s->cache), log, extra);
    WT_CHECK(w != NULL, "worker %d", s->worker_seq);
    return w;
}

/* Index after the last job of the slot that has a status: where a new
 * producer of the slot starts. */
static long long slot_next(soak *s, int slot)
{
    for (long long i = s->map->per_slot; i > 0; i--)
        if (atomic_load(soak_status_of(s->map, slot, i - 1)) != SOAK_NONE)
            return i;
    return 0;
}

static void start_producer(soak *s, int slot)
{
    char log[600], slotarg[16], rate[32], from[32], fsize[32];
    snprintf(log, sizeof log, "%s/producer-%d.log", s->dir, s->producer_seq++);
    snprintf(slotarg, sizeof slotarg, "%d", slot);
    snprintf(rate, sizeof rate, "%g", s->rate[slot]);
    snprintf(from, sizeof from, "%lld", slot_next(s, slot));
    snprintf(fsize, sizeof fsize, "%lld", slot == 2 ? s->fsize : 0);
    atomic_store(&s->map->slot[slot].running, 0);
    const char *argv[] = { "/proc/self/exe", "producer", s->map_path, slotarg, faultproxy_url(s->pproxy),
                           s->spool, rate, from, fsize, NULL };
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    WT_CHECK(n > 0, "readlink /proc/self/exe");
    self[n] = '\0';
    argv[0] = self;
    s->producer[slot] = wt_proc_start(self, argv, NULL, log);
    WT_CHECK(s->producer[slot] != NULL, "producer %d", slot);
    uint64_t end = deadline_ms();
    while (!atomic_load(&s->map->slot[slot].running) && wt_proc_running(s->producer[slot]) && wt_mono_ms() < end)
        rfix_sleep_ms(10);
    WT_CHECK(atomic_load(&s->map->slot[slot].running), "producer %d did not start (see %s)", slot, log);
}

static void map_create(soak *s, long long per_slot)
{
    snprintf(s->map_path, sizeof s->map_path, "%s/soak.map", s->dir);
    int fd = open(s->map_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    WT_CHECK(fd >= 0, "%s: %s", s->map_path, strerror(errno));
    size_t size = soak_map_size(per_slot);
    WT_CHECK(ftruncate(fd, (off_t)size) == 0, "ftruncate");
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    WT_CHECK(m != MAP_FAILED, "mmap");
    s->map = m;
    s->map->per_slot = per_slot;
}

/* Sends `cmd sk:<slot>:<i>` for every key of every slot to c, 1000 per
 * round trip, and passes each reply (which must have type `want`) to
 * on_reply (may be NULL). */
static void each_key(soak *s, redisContext *c, const char *cmd, int want,
                     void (*on_reply)(soak *s, int slot, long long i, const redisReply *r, void *ctx), void *ctx)
{
    for (int slot = 0; slot < SOAK_SLOTS; slot++) {
        for (long long i = 0; i < s->map->per_slot; i += 1000) {
            long long n = s->map->per_slot - i < 1000 ? s->map->per_slot - i : 1000;
            for (long long j = 0; j < n; j++) {
                if (strcmp(cmd, "SET") == 0)
                    redisAppendCommand(c, "SET sk:%d:%lld 1", slot, i + j);
                else
                    redisAppendCommand(c, "%s sk:%d:%lld", cmd, slot, i + j);
            }
            for (long long j = 0; j < n; j++) {
                redisReply *r = NULL;
                WT_CHECK(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL && r->type == want, "%s sk:%d:%lld",
                         cmd, slot, i + j);
                if (on_reply != NULL)
                    on_reply(s, slot, i + j, r, ctx);
                freeReplyObject(r);
            }
        }
    }
}

/* Every key of every slot, set on the cache master and replicated. */
static void prefill(soak *s)
{
    redisContext *c = rfix_connect(sfix_master(s->cache));
    WT_CHECK(c != NULL, "cache master");
    each_key(s, c, "SET", REDIS_REPLY_STATUS, NULL, NULL);
    redisFree(c);
    WT_CHECK(sfix_wait_replicated(s->cache) == 0, "the prefill did not replicate");
}

/* --------------------------------------------------------------- faults */

static void fault_kill_worker(soak *s)
{
    /* worker 0 is the one whose memory is watched: never killed */
    int i = 1 + s->kills % (NWORKERS - 1);
    WT_CHECK(wt_proc_signal(s->worker[i], SIGKILL) == 0, "kill -9 worker");
    int st;
    WT_CHECK(wt_proc_wait(s->worker[i], WT_DEADLINE_MS, &st) == 0, "worker not reaped");
    wt_proc_free(s->worker[i]);
    s->worker[i] = start_worker(s);
    s->kills++;
    wait_applied(s, 200, "a worker kill");
}

static bool replica_up(rfix *f)
{
    redisReply *r = rfix_command(f, "INFO replication");
    bool ok = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "role:slave") != NULL &&
              strstr(r->str, "master_link_status:up") != NULL;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* The cache's replica (the node --cache-wait-replicas waits for) killed -9
 * and restarted from its AOF, then pointed at the master again. */
static void fault_cache_restart(soak *s)
{
    rfix *m = sfix_master(s->cache);
    WT_CHECK(m != NULL, "no cache master");
    rfix *r = m == sfix_node(s->cache, 0) ? sfix_node(s->cache, 1) : sfix_node(s->cache, 0);
    WT_CHECK(rfix_kill(r) == 0, "kill -9 cache replica");
    WT_CHECK(rfix_restart(r) == 0, "restart cache replica");
    redisReply *rep = rfix_command(r, "REPLICAOF 127.0.0.1 %d", rfix_port(m));
    WT_CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS, "REPLICAOF");
    freeReplyObject(rep);
    uint64_t end = deadline_ms();
    while (!replica_up(r) && wt_mono_ms() < end)
        rfix_sleep_ms(20);
    WT_CHECK(replica_up(r), "the restarted replica did not sync");
    s->cache_restarts++;
    wait_applied(s, 200, "a cache restart");
}

static void fault_queue_restart(soak *s)
{
    WT_CHECK(rfix_kill(s->queue) == 0, "kill -9 queue");
    WT_CHECK(rfix_restart(s->queue) == 0, "restart queue from its AOF");
    s->queue_restarts++;
    wait_applied(s, 200, "a queue restart");
}

static void fault_failover(soak *s)
{
    /* SENTINEL FAILOVER is refused while the sentinels have not yet seen a
     * restarted replica as good; ask again until they have */
    uint64_t end = deadline_ms();
    int rc;
    while ((rc = sfix_failover(s->cache)) != 0 && wt_mono_ms() < end)
        rfix_sleep_ms(200);
    WT_CHECK(rc == 0, "sentinel failover");
    s->failovers++;
    wait_applied(s, 200, "a sentinel failover");
}

static long long spooled_total(soak *s)
{
    long long n = 0;
    for (int i = 0; i < SOAK_SLOTS; i++)
        n += atomic_load(&s->map->slot[i].spooled);
    return n;
}

static void partition(soak *s, bool on)
{
    faultproxy_set_refuse(s->wproxy, on);
    faultproxy_set_refuse(s->pproxy, on);
    if (on) {
        faultproxy_drop_all(s->wproxy);
        faultproxy_drop_all(s->pproxy);
    }
}

/* Workers and producers cut off from the queue until 500 jobs were spooled. */
static void fault_partition(soak *s)
{
    long long from = spooled_total(s);
    partition(s, true);
    uint64_t end = deadline_ms();
    while (spooled_total(s) < from + 500 && wt_mono_ms() < end)
        rfix_sleep_ms(20);
    partition(s, false);
    WT_CHECK(spooled_total(s) >= from + 500, "the partition spooled only %lld jobs", spooled_total(s) - from);
    s->partitions++;
    wait_applied(s, 200, "a partition");
}

/* Every reply on both proxies held 300 ms while 500 jobs are applied. */
static void fault_latency(soak *s)
{
    faultproxy_set_delay(s->wproxy, 300);
    faultproxy_set_delay(s->pproxy, 300);
    wait_applied(s, 500, "a latency spike (during)");
    faultproxy_set_delay(s->wproxy, 0);
    faultproxy_set_delay(s->pproxy, 0);
    s->spikes++;
}

/* Producer 0 killed -9 while its spool holds jobs (the producers' way to
 * the queue is cut); a new producer of the slot adopts the file. */
static void fault_producer_kill(soak *s)
{
    soak_slot *sl = &s->map->slot[0];
    faultproxy_set_refuse(s->pproxy, true);
    faultproxy_drop_all(s->pproxy);
    uint64_t end = deadline_ms();
    while (atomic_load(&sl->pending) < 200 && wt_mono_ms() < end)
        rfix_sleep_ms(10);
    long long held = atomic_load(&sl->pending);
    WT_CHECK(held >= 200, "producer 0 spooled only %lld jobs", held);
    WT_CHECK(wt_proc_signal(s->producer[0], SIGKILL) == 0, "kill -9 producer");
    int st;
    WT_CHECK(wt_proc_wait(s->producer[0], WT_DEADLINE_MS, &st) == 0, "producer not reaped");
    wt_proc_free(s->producer[0]);
    faultproxy_set_refuse(s->pproxy, false);
    long long replayed = atomic_load(&sl->replayed);
    start_producer(s, 0);
    end = deadline_ms();
    while (!(atomic_load(&sl->adopted) >= 1 && atomic_load(&sl->replayed) >= replayed + held) && wt_mono_ms() < end)
        rfix_sleep_ms(20);
    WT_CHECK(atomic_load(&sl->adopted) >= 1, "the new producer adopted no spool file");
    WT_CHECK(atomic_load(&sl->replayed) >= replayed + held, "replayed %lld of the %lld spooled jobs",
             atomic_load(&sl->replayed) - replayed, held);
    wt_note("producer killed -9 holding %lld spooled jobs: a new one adopted %lld file(s) and replayed them", held,
            atomic_load(&sl->adopted));
    s->producer_kills++;
}

/* Slot 2's spool (RLIMIT_FSIZE) fills during a producers' partition: sends
 * fail with an error, nothing it reported spooled is lost. */
static void fault_spool_full(soak *s)
{
    soak_slot *sl = &s->map->slot[2];
    long long from = atomic_load(&sl->errors);
    faultproxy_set_refuse(s->pproxy, true);
    faultproxy_drop_all(s->pproxy);
    uint64_t end = deadline_ms();
    while (atomic_load(&sl->errors) == from && wt_mono_ms() < end)
        rfix_sleep_ms(10);
    faultproxy_set_refuse(s->pproxy, false);
    WT_CHECK(atomic_load(&sl->errors) > from, "the full spool reported no error");
    wt_note("spool full (RLIMIT_FSIZE %lld): %lld jobs refused with \"%s\", %lld pending in the spool", s->fsize,
            atomic_load(&sl->errors) - from, sl->last_error, atomic_load(&sl->pending));
    s->spool_fulls++;
    wait_applied(s, 200, "a full spool");
}

/* ---------------------------------------------------------------- checks */

static bool queue_drained(soak *s)
{
    return qint(s, "LLEN %s", "pending") == 0 && qint(s, "ZCARD %s", "delayed") == 0 &&
           qconn(s) != NULL && wt_count_keys(qconn(s), "invq:{default}:processing:*") == 0;
}

typedef struct key_count {
    long long left[4], total[4];
    long long first_lost;
    int lost_slot;
} key_count;

static void count_key(soak *s, int slot, long long i, const redisReply *r, void *ctx)
{
    key_count *k = ctx;
    int st = atomic_load(soak_status_of(s->map, slot, i));
    k->total[st]++;
    if (r->integer == 1) {
        k->left[st]++;
        if ((st == SOAK_SENT || st == SOAK_SPOOLED) && k->first_lost < 0) {
            k->first_lost = i;
            k->lost_slot = slot;
        }
    }
}

/* Counts, per status, the keys still in the cache. */
static void check_keys(soak *s, key_count *k)
{
    redisContext *c = rfix_connect(sfix_master(s->cache));
    WT_CHECK(c != NULL, "cache master");
    memset(k, 0, sizeof *k);
    k->first_lost = -1;
    each_key(s, c, "EXISTS", REDIS_REPLY_INTEGER, count_key, k);
    redisFree(c);
    if (k->first_lost >= 0)
        wt_note("first lost key: sk:%d:%lld", k->lost_slot, k->first_lost);
}

/* ------------------------------------------------------------------ main */

static void setup(soak *s)
{
    rfix_opts qo = { .tcp = true, .conf_lines = aof_conf };
    s->queue = wt_server(&qo);
    snprintf(s->dir, sizeof s->dir, "%s", rfix_dir(s->queue));
    snprintf(s->spool, sizeof s->spool, "%s/spool", s->dir);
    WT_CHECK(mkdir(s->spool, 0700) == 0, "mkdir %s", s->spool);
    sfix_opts so = { .node_conf = aof_conf };
    int rc = sfix_start(&s->cache, &so);
    if (rc == RFIX_SKIP)
        exit(RFIX_SKIP);
    WT_CHECK(rc == 0, "sentinel set");
    WT_CHECK(faultproxy_new(&s->wproxy, NULL, "127.0.0.1", rfix_port(s->queue)) == 0, "workers' proxy");
    WT_CHECK(faultproxy_new(&s->pproxy, NULL, "127.0.0.1", rfix_port(s->queue)) == 0, "producers' proxy");
}

static void teardown(soak *s)
{
    for (int i = 0; i < NWORKERS; i++)
        if (s->worker[i] != NULL)
            wt_worker_stop(s->worker[i]);
    for (int i = 0; i < SOAK_SLOTS; i++)
        wt_proc_free(s->producer[i]);
    faultproxy_free(s->wproxy);
    faultproxy_free(s->pproxy);
    if (s->qc != NULL)
        redisFree(s->qc);
    wt_set_log(NULL);
    sfix_free(s->cache);
    wt_server_free(s->queue);
}

static void run_round(soak *s, int round)
{
    void (*faults[])(soak *) = { fault_cache_restart, fault_queue_restart, fault_failover,  fault_partition,
                                 fault_latency,       fault_producer_kill, fault_spool_full };
    const int nfaults = (int)(sizeof faults / sizeof faults[0]);
    int kills = 0;
    for (int f = 0; f < nfaults; f++) {
        faults[f](s);
        /* spread the round's worker kills between the other faults */
        int due = (f + 1) * s->kills_per_round / nfaults;
        for (; kills < due; kills++)
            fault_kill_worker(s);
    }
    wt_note("round %d: done %lld, workers killed so far %d", round + 1, qstat(s, "done"), s->kills);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "producer") == 0)
        return soak_producer_main(argc - 2, argv + 2);
    wt_worker_path();
    soak s = { 0 };
    const char *env = getenv("INVQ_SOAK_LONG");
    s.long_run = (argc > 1 && strcmp(argv[1], "--long") == 0) || (env != NULL && strcmp(env, "1") == 0);
    s.rounds = s.long_run ? 10 : 1;
    s.kills_per_round = s.long_run ? 10 : 5;
    s.rate[0] = s.rate[1] = 1000;
    s.rate[2] = 300;
    s.fsize = 64 * 1024;
    uint64_t t0 = wt_mono_ms();
    setup(&s);
    /* generous: the load runs at most this long (a slot that reaches its
     * last key stops sending) */
    map_create(&s, s.long_run ? 800000 : 80000);
    prefill(&s);
    uint64_t t_prefill = wt_mono_ms();
    for (int i = 0; i < NWORKERS; i++)
        s.worker[i] = start_worker(&s);
    char log0[600];
    snprintf(log0, sizeof log0, "%s/worker-0.log", s.dir);
    wt_set_log(log0);
    for (int i = 0; i < SOAK_SLOTS; i++)
        start_producer(&s, i);
    wait_applied(&s, 3000, "the start");
    s.rss_start = rss_kb(wt_proc_pid(s.worker[0]));

    for (int r = 0; r < s.rounds; r++)
        run_round(&s, r);
    uint64_t t_faults = wt_mono_ms();

    /* stop the load; every producer empties its spool and exits 0 */
    atomic_store(&s.map->stop, 1);
    for (int i = 0; i < SOAK_SLOTS; i++) {
        int st = 0;
        WT_CHECK(wt_proc_wait(s.producer[i], 3 * WT_DEADLINE_MS, &st) == 0, "producer %d did not exit", i);
        WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %d: exit status %d (spool not emptied?)", i, st);
        WT_CHECK(atomic_load(&s.map->slot[i].pending) == 0, "producer %d left %lld jobs in its spool", i,
                 atomic_load(&s.map->slot[i].pending));
    }
    uint64_t end = deadline_ms();
    while (!queue_drained(&s) && wt_mono_ms() < end)
        rfix_sleep_ms(50);
    WT_CHECK(queue_drained(&s), "the queue did not drain");
    s.rss_end = rss_kb(wt_proc_pid(s.worker[0]));
    uint64_t t_drained = wt_mono_ms();

    key_count k;
    check_keys(&s, &k);
    const long long *left = k.left, *total = k.total;
    long long sent = 0, spooled = 0, errors = 0, replayed = 0;
    for (int i = 0; i < SOAK_SLOTS; i++) {
        sent += atomic_load(&s.map->slot[i].sent);
        spooled += atomic_load(&s.map->slot[i].spooled);
        errors += atomic_load(&s.map->slot[i].errors);
        replayed += atomic_load(&s.map->slot[i].replayed);
    }
    long long dead = qint(&s, "LLEN %s", "dead");
    long long sdead = qstat(&s, "dead"), retried = qstat(&s, "retried"), done = qstat(&s, "done");
    long long enq = qstat(&s, "enqueued");
    double secs = (double)(t_faults - t_prefill) / 1000.0;

    printf("# soak (%s): %d round(s) in %.1f s under load (prefill %.1f s, drain %.1f s)\n",
           s.long_run ? "long" : "short", s.rounds, secs, (double)(t_prefill - t0) / 1000.0,
           (double)(t_drained - t_faults) / 1000.0);
    printf("# faults: worker kill -9 %d, cache restarts %d, queue restarts (AOF) %d, sentinel failovers %d, "
           "partitions %d, latency spikes %d, producer kill -9 mid-spool %d, spool full %d\n",
           s.kills, s.cache_restarts, s.queue_restarts, s.failovers, s.partitions, s.spikes, s.producer_kills,
           s.spool_fulls);
    printf("# jobs: sent %lld, spooled %lld, replayed from spools %lld, refused (errors) %lld; "
           "%.0f jobs/s offered\n", sent, spooled, replayed, errors, (double)(sent + spooled + errors) / secs);
    printf("# queue: enqueued %lld, done %lld, retried %lld, dead-lettered %lld (list %lld)\n", enq, done, retried,
           sdead, dead);
    printf("# keys: reported sent %lld (%lld left), spooled %lld (%lld left), refused %lld (%lld left), "
           "never sent %lld (%lld left)\n", total[SOAK_SENT], left[SOAK_SENT], total[SOAK_SPOOLED],
           left[SOAK_SPOOLED], total[SOAK_ERROR], left[SOAK_ERROR], total[SOAK_NONE], left[SOAK_NONE]);
    printf("# steady worker RSS: %ld KiB at start, %ld KiB at the end (%+ld KiB; slack %d KiB%s)\n", s.rss_start,
           s.rss_end, s.rss_end - s.rss_start, RSS_SLACK_KB, RSS_CHECKED ? "" : ", not checked under ASan");
    if (errors > 0)
        printf("# last refusal of slot 2: %s\n", s.map->slot[2].last_error);

    WT_CHECK(left[SOAK_SENT] + left[SOAK_SPOOLED] == 0, "jobs lost: %lld keys reported sent or spooled are still "
             "in the cache", left[SOAK_SENT] + left[SOAK_SPOOLED]);
    WT_CHECK(dead == 0 && sdead == 0, "dead-lettered by faults: list %lld, stats %lld", dead, sdead);
    WT_CHECK(atomic_load(&s.map->slot[0].errors) == 0 && atomic_load(&s.map->slot[1].errors) == 0,
             "refusals on a producer whose spool had room: %lld, %lld (%s)", atomic_load(&s.map->slot[0].errors),
             atomic_load(&s.map->slot[1].errors),
             s.map->slot[0].last_error[0] ? s.map->slot[0].last_error : s.map->slot[1].last_error);
    WT_CHECK(total[SOAK_SENT] > 0 && total[SOAK_SPOOLED] > 0, "no load: %lld sent, %lld spooled", total[SOAK_SENT],
             total[SOAK_SPOOLED]);
    WT_CHECK(s.rss_start > 0 && s.rss_end > 0 && (!RSS_CHECKED || s.rss_end - s.rss_start <= RSS_SLACK_KB),
             "steady worker RSS grew from %ld to %ld KiB", s.rss_start, s.rss_end);
    teardown(&s);
    printf("soak ok\n");
    return 0;
}
