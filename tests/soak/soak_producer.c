/* A soak producer process: libinvq's sync producer with a spool, sending
 * one-key deletes of "sk:<slot>:<i>" in batches of SOAK_BATCH at a steady
 * rate, recording what each send returned in the shared map (soak.h),
 * until the orchestrator sets `stop`; then it replays its spool and exits
 * 0 once the spool is empty (2 when it could not empty it in time). With
 * FSIZE it first limits its own file size (RLIMIT_FSIZE, SIGXFSZ ignored),
 * so its spool runs out of space during a partition. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <invq/invq.h>

#include "soak.h"

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Paces the sends: sleeps until the absolute monotonic time t (ns). */
static void pace_until(long long t)
{
    struct timespec ts = { .tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static soak_map *map_open(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    soak_map head;
    if (pread(fd, &head, sizeof head, 0) != (ssize_t)sizeof head) {
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, soak_map_size(head.per_slot), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

static void note_spool(soak_slot *s, invq_producer *p, invq_spool_stats *base)
{
    invq_spool_stats st;
    invq_producer_spool_stats(p, &st);
    atomic_store(&s->pending, (long long)st.pending_jobs);
    atomic_store(&s->adopted, (long long)st.adopted_files);
    atomic_fetch_add(&s->replayed, (long long)(st.replayed_jobs - base->replayed_jobs));
    *base = st;
}

/* Sends jobs [i, i+n) of the slot in one call and records the outcome. */
static void send_batch(soak_map *m, int slot, invq_producer *p, long long i, int n)
{
    invq_job *jobs[SOAK_BATCH];
    int made = 0;
    for (; made < n; made++) {
        char key[48];
        int len = snprintf(key, sizeof key, "sk:%d:%lld", slot, i + made);
        const void *k[] = { key };
        size_t l[] = { (size_t)len };
        jobs[made] = invq_job_new();
        if (jobs[made] == NULL || invq_job_del(jobs[made], k, l, 1) != 0) {
            fprintf(stderr, "soak producer: cannot build a job\n");
            exit(3);
        }
    }
    int rc = invq_send_many(p, (const invq_job *const *)jobs, (size_t)n);
    for (int j = 0; j < n; j++)
        invq_job_free(jobs[j]);
    soak_slot *s = &m->slot[slot];
    unsigned char st = rc == INVQ_SENT ? SOAK_SENT : rc == INVQ_SPOOLED ? SOAK_SPOOLED : SOAK_ERROR;
    for (int j = 0; j < n; j++)
        atomic_store(soak_status_of(m, slot, i + j), st);
    if (rc == INVQ_SENT)
        atomic_fetch_add(&s->sent, n);
    else if (rc == INVQ_SPOOLED)
        atomic_fetch_add(&s->spooled, n);
    else {
        atomic_fetch_add(&s->errors, n);
        snprintf(s->last_error, sizeof s->last_error, "%s: %s", invq_strerror(rc), invq_producer_errstr(p));
    }
}

int soak_producer_main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: soak producer MAP SLOT URL SPOOLDIR RATE FROM FSIZE\n");
        return 64;
    }
    soak_map *m = map_open(argv[0]);
    int slot = atoi(argv[1]);
    double rate = atof(argv[4]);
    long long from = atoll(argv[5]);
    long long fsize = atoll(argv[6]);
    if (m == NULL || slot < 0 || slot >= SOAK_SLOTS || rate <= 0) {
        fprintf(stderr, "soak producer: bad arguments or map %s\n", argv[0]);
        return 64;
    }
    if (fsize > 0) {
        signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
        struct rlimit rl = { .rlim_cur = (rlim_t)fsize, .rlim_max = (rlim_t)fsize };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            perror("soak producer: setrlimit");
            return 3;
        }
    }
    invq_options o;
    invq_options_init(&o);
    o.url = argv[2];
    o.spool_dir = argv[3];
    invq_producer *p;
    char err[256];
    int rc = invq_producer_new(&o, &p, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "soak producer: %s\n", err);
        return 3;
    }
    soak_slot *s = &m->slot[slot];
    invq_spool_stats base = { 0 };
    note_spool(s, p, &base);
    atomic_store(&s->running, 1);
    long long t0 = mono_ns();
    long long i = from;
    while (!atomic_load(&m->stop) && i < m->per_slot) {
        pace_until(t0 + (long long)((double)(i - from) * 1e9 / rate));
        int n = m->per_slot - i < SOAK_BATCH ? (int)(m->per_slot - i) : SOAK_BATCH;
        send_batch(m, slot, p, i, n);
        i += n;
        note_spool(s, p, &base);
    }
    /* stop: replay what is left (the queue may still be coming back) */
    long long deadline = mono_ns() + 120LL * 1000000000LL;
    for (;;) {
        rc = invq_flush_spool(p);
        note_spool(s, p, &base);
        if (rc == 0 || mono_ns() > deadline)
            break;
        pace_until(mono_ns() + 50000000LL);
    }
    fprintf(stderr, "soak producer slot %d: stopped at %lld, spool %s (%s)\n", slot, i,
            rc == 0 ? "empty" : "NOT empty", rc == 0 ? "" : invq_producer_errstr(p));
    invq_producer_free(p);
    atomic_store(&s->running, 0);
    return rc == 0 ? 0 : 2;
}
