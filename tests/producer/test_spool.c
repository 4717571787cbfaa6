/* The spool against a real redis-server that stops and starts: jobs sent
 * while it is down are spooled, then replayed in order with nothing lost or
 * duplicated; torn tails are cut and reported; a damaged record in the
 * middle of a file is skipped and the records after it still replayed;
 * orphans of dead processes are adopted; the byte bound fails loudly. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <invq/invq.h>

#include "ptest.h"

#define PENDING "invq:{default}:pending"

static invq_producer *open_spooled(const rfix *f, const char *dir, uint64_t max_bytes)
{
    invq_options o;
    invq_options_init(&o);
    o.url = rfix_url(f);
    o.spool_dir = dir;
    o.connect_timeout_ms = 500;
    if (max_bytes)
        o.spool_max_bytes = max_bytes;
    return ptest_producer(&o);
}

static void test_outage_and_replay(rfix *f, const char *dir)
{
    char ids[16][27];
    invq_job *jobs[16];
    invq_spool_stats st;
    invq_producer *p;

    for (int i = 0; i < 16; i++) {
        jobs[i] = ptest_job_del(i);
        memcpy(ids[i], jobs[i]->id, 27);
    }
    CHECK(rfix_stop(f) == 0);
    p = open_spooled(f, dir, 0);
    for (int i = 0; i < 10; i++)
        CHECK_RC(invq_send(p, jobs[i]), INVQ_SPOOLED);
    CHECK(strstr(invq_producer_errstr(p), "spooled") != NULL);
    CHECK_RC(invq_send_many(p, (const invq_job *const *)jobs + 10, 5), INVQ_SPOOLED);
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 15 && st.pending_bytes > 0);
    CHECK(ptest_count_files(dir, ".spool") == 1);
    /* Still down: an explicit flush reports the failure, keeps everything. */
    CHECK(invq_flush_spool(p) < 0);
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 15);

    CHECK(rfix_restart(f) == 0);
    /* The next send replays the spool first, then goes out itself. */
    CHECK_RC(invq_send(p, jobs[15]), INVQ_SENT);
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 0 && st.replayed_jobs == 15 && st.torn_records == 0);
    ptest_check_queue(f, PENDING, ids, 16);
    CHECK_RC(invq_flush_spool(p), 0);
    ptest_check_queue(f, PENDING, ids, 16); /* nothing replayed twice */
    invq_producer_free(p);
    CHECK(ptest_count_files(dir, ".spool") == 0); /* an empty spool file is removed */
    for (int i = 0; i < 16; i++)
        invq_job_free(jobs[i]);
    ptest_clear(f, PENDING);
}

static void test_torn_tail(rfix *f, const char *dir)
{
    char ids[3][27], path[4096] = "";
    invq_job *jobs[3];
    invq_spool_stats st;
    invq_producer *p;
    struct stat sb;

    CHECK(rfix_stop(f) == 0);
    p = open_spooled(f, dir, 0);
    for (int i = 0; i < 3; i++) {
        jobs[i] = ptest_job_del(100 + i);
        memcpy(ids[i], jobs[i]->id, 27);
        CHECK_RC(invq_send(p, jobs[i]), INVQ_SPOOLED);
    }
    invq_producer_free(p); /* the file stays: it holds jobs */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".spool"))
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    closedir(d);
    CHECK(path[0] && stat(path, &sb) == 0);
    /* A crash in the middle of writing the last record. */
    CHECK(truncate(path, sb.st_size - 5) == 0);

    CHECK(rfix_restart(f) == 0);
    p = open_spooled(f, dir, 0); /* adopts and replays at once */
    invq_producer_spool_stats(p, &st);
    CHECK(st.adopted_files == 1 && st.torn_records == 1);
    CHECK(st.replayed_jobs == 2 && st.pending_jobs == 0);
    fprintf(stderr, "torn: %s\n", invq_producer_errstr(p));
    CHECK(strstr(invq_producer_errstr(p), "torn record") != NULL);
    ptest_check_queue(f, PENDING, ids, 2);
    CHECK(access(path, F_OK) != 0); /* the replayed orphan is gone */
    invq_producer_free(p);
    for (int i = 0; i < 3; i++)
        invq_job_free(jobs[i]);
    ptest_clear(f, PENDING);
}

/* Offset of the index-th record of a spool file, its payload length and
 * the size of its frame header (both format versions). */
static long record_at(int fd, int index, uint32_t *len, uint32_t *rh)
{
    char magic[8];
    CHECK(pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic));
    CHECK(memcmp(magic, "INVQSPL", 7) == 0 && (magic[7] == '1' || magic[7] == '2'));
    long off = magic[7] == '1' ? 16 : 28;
    uint8_t h[8];
    *rh = magic[7] == '1' ? 12 : 16;
    for (int i = 0;; i++) {
        CHECK(pread(fd, h, sizeof(h), off) == (ssize_t)sizeof(h));
        *len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
        if (i == index)
            return off;
        off += (long)*rh + (long)*len;
    }
}

enum damage { DAMAGE_PAYLOAD, DAMAGE_LENGTH, DAMAGE_HUGE_LENGTH, DAMAGE_OWN_FILE };

/* Records A B C D; B is damaged (bit rot). A, C and D still arrive, in
 * order, exactly once; B is reported as skipped. */
static void test_damaged_middle(rfix *f, const char *dir, enum damage how)
{
    static const char *names[] = { "payload", "length", "huge length", "own file payload" };
    char ids[4][27], want[3][27], path[4096];
    invq_job *jobs[4];
    invq_spool_stats st;
    invq_producer *p;
    uint32_t len, rh, bad;
    uint8_t b[4];
    long off;
    int fd;

    fprintf(stderr, "damaged middle record: %s\n", names[how]);
    CHECK(rfix_stop(f) == 0);
    p = open_spooled(f, dir, 0);
    for (int i = 0; i < 4; i++) {
        jobs[i] = ptest_job_del(400 + i);
        memcpy(ids[i], jobs[i]->id, 27);
        CHECK_RC(invq_send(p, jobs[i]), INVQ_SPOOLED);
    }
    memcpy(want[0], ids[0], 27);
    memcpy(want[1], ids[2], 27);
    memcpy(want[2], ids[3], 27);
    if (how != DAMAGE_OWN_FILE)
        invq_producer_free(p); /* the file stays for the next producer */
    ptest_spool_path(dir, path, sizeof(path));
    CHECK((fd = open(path, O_RDWR)) >= 0);
    off = record_at(fd, 1, &len, &rh);
    if (how == DAMAGE_PAYLOAD || how == DAMAGE_OWN_FILE) {
        CHECK(pread(fd, b, 1, off + rh + len / 2) == 1);
        b[0] ^= 0x5a;
        CHECK(pwrite(fd, b, 1, off + rh + len / 2) == 1);
    } else {
        bad = how == DAMAGE_LENGTH ? len + 9 : 0xfffffff0u; /* within the file / impossible */
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)(bad >> (8 * i));
        CHECK(pwrite(fd, b, 4, off + 4) == 4);
    }
    close(fd);

    CHECK(rfix_restart(f) == 0);
    if (how == DAMAGE_OWN_FILE)
        CHECK_RC(invq_flush_spool(p), 0);
    else
        p = open_spooled(f, dir, 0); /* adopts and replays at once */
    ptest_check_queue(f, PENDING, want, 3);
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "  %s\n", invq_producer_errstr(p));
    CHECK(st.torn_records == 1 && st.skipped_bytes == rh + (uint64_t)len);
    CHECK(st.replayed_jobs == 3 && st.pending_jobs == 0 && st.pending_bytes == 0);
    CHECK(strstr(invq_producer_errstr(p), "damaged record") != NULL);
    CHECK_RC(invq_flush_spool(p), 0);
    ptest_check_queue(f, PENDING, want, 3); /* nothing replayed twice */
    CHECK_RC(invq_send(p, jobs[1]), INVQ_SENT); /* the spool is usable afterwards */
    invq_producer_free(p);
    CHECK(ptest_count_files(dir, ".spool") == 0);
    for (int i = 0; i < 4; i++)
        invq_job_free(jobs[i]);
    ptest_clear(f, PENDING);
}

static void test_orphans(rfix *f, const char *dir)
{
    char ids[4][27];
    invq_spool_stats st;
    invq_job *jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = ptest_job_del(200 + i);
        memcpy(ids[i], jobs[i]->id, 27);
    }
    CHECK(rfix_stop(f) == 0);

    /* A live producer's file is never taken over. */
    invq_producer *a = open_spooled(f, dir, 0);
    CHECK_RC(invq_send(a, jobs[2]), INVQ_SPOOLED);

    /* A process that spools two jobs and dies without cleaning up. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        invq_producer *c = open_spooled(f, dir, 0);
        int ok = invq_send(c, jobs[0]) == INVQ_SPOOLED && invq_send(c, jobs[1]) == INVQ_SPOOLED;
        if (ok)
            kill(getpid(), SIGKILL); /* crash: no cleanup at all */
        _exit(1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    invq_producer *b = open_spooled(f, dir, 0);
    invq_producer_spool_stats(b, &st);
    CHECK(st.adopted_files == 1 && st.pending_jobs == 2); /* the dead child's only */
    CHECK(ptest_count_files(dir, ".spool") == 2);

    CHECK(rfix_restart(f) == 0);
    CHECK_RC(invq_flush_spool(b), 0);
    invq_producer_free(a); /* leaves its file: one job inside */
    CHECK_RC(invq_send(b, jobs[3]), INVQ_SENT);
    CHECK_RC(invq_flush_spool(b), 0); /* adopts a's file now */
    invq_producer_spool_stats(b, &st);
    CHECK(st.adopted_files == 2 && st.replayed_jobs == 3 && st.pending_jobs == 0);
    job_list l = read_queue(f, PENDING);
    CHECK(l.n == 4);
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        for (int k = 0; k < 4; k++)
            if (strcmp(l.jobs[i]->id, ids[k]) == 0)
                seen |= 1 << k;
    CHECK(seen == 15);
    job_list_free(&l);
    invq_producer_free(b);
    CHECK(ptest_count_files(dir, ".spool") == 0);
    for (int i = 0; i < 4; i++)
        invq_job_free(jobs[i]);
    ptest_clear(f, PENDING);
}

static void test_full(rfix *f, const char *dir)
{
    invq_job *j = ptest_job_del(300);
    invq_spool_stats st;
    CHECK(rfix_stop(f) == 0);
    invq_producer *p = open_spooled(f, dir, 400);
    int spooled = 0, rc;
    while ((rc = invq_send(p, j)) == INVQ_SPOOLED)
        spooled++;
    CHECK_RC(rc, INVQ_ESPOOLFULL);
    CHECK(strstr(invq_producer_errstr(p), "spool_max_bytes") != NULL);
    invq_producer_spool_stats(p, &st);
    CHECK(spooled > 0 && st.pending_jobs == (uint64_t)spooled && st.pending_bytes <= 400);
    CHECK(rfix_restart(f) == 0);
    CHECK_RC(invq_flush_spool(p), 0);
    CHECK(queue_len(f, PENDING) == spooled);
    CHECK_RC(invq_send(p, j), INVQ_SENT);
    invq_producer_free(p);
    invq_job_free(j);
    ptest_clear(f, PENDING);
}

int main(void)
{
    rfix *f = ptest_server(NULL);
    char *dir = make_temp_dir();
    test_outage_and_replay(f, dir);
    test_torn_tail(f, dir);
    test_damaged_middle(f, dir, DAMAGE_PAYLOAD);
    test_damaged_middle(f, dir, DAMAGE_LENGTH);
    test_damaged_middle(f, dir, DAMAGE_HUGE_LENGTH);
    test_damaged_middle(f, dir, DAMAGE_OWN_FILE);
    test_orphans(f, dir);
    test_full(f, dir);
    remove_dir(dir);
    free(dir);
    rfix_free(f);
    printf("spool ok\n");
    return 0;
}
