/* Spool adoption and damage against a real redis-server (over loopback TCP,
 * so an unprivileged child can reach it too): entries of the spool directory
 * that cannot be used are left alone and reported while the rest is
 * replayed; a replayed file that cannot be deleted is never replayed again;
 * a changed committed offset in a header is caught by its checksum; a frame
 * hidden in a job's keys is never taken for a record; spool files of format
 * version 1 are still read; an adopted file that stops being readable does
 * not block later sends; and the last spool problem outlives later calls. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <invq/invq.h>
#include <uv.h>

#include "crc32c.h"
#include "job_limits.h"
#include "ptest.h"

#define PENDING "invq:{default}:pending"
#define REFUSED_URL "redis://127.0.0.1:1" /* nothing listens there: every send spools */
#define NOBODY 65534

static invq_producer *open_at(const char *url, const char *dir)
{
    invq_options o;
    invq_options_init(&o);
    o.url = url;
    o.spool_dir = dir;
    o.connect_timeout_ms = 500;
    return ptest_producer(&o);
}

/* Spools jobs[0..n) into dir through a producer that cannot reach Redis,
 * then frees it: its file is an orphan for the next producer. */
static void spool_orphan(const char *dir, invq_job **jobs, size_t n)
{
    invq_producer *p = open_at(REFUSED_URL, dir);
    for (size_t i = 0; i < n; i++)
        CHECK_RC(invq_send(p, jobs[i]), INVQ_SPOOLED);
    invq_producer_free(p);
}

static void make_jobs(invq_job **jobs, char ids[][27], int n, int base)
{
    for (int i = 0; i < n; i++) {
        jobs[i] = ptest_job_del(base + i);
        memcpy(ids[i], jobs[i]->id, 27);
    }
}

static void free_jobs(invq_job **jobs, int n)
{
    for (int i = 0; i < n; i++)
        invq_job_free(jobs[i]);
}

static uint8_t *encode(const invq_job *j, size_t *len)
{
    job_limits lim;
    uint8_t *buf;
    char err[256];
    job_limits_default(&lim);
    CHECK(job_encode_checked(j, &lim, "invq", &buf, len, err, sizeof(err)) == 0);
    return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static long file_size(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return (long)st.st_size;
}

static void write_at(const char *path, long off, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, b, n, off) == (ssize_t)n);
    close(fd);
}

static void read_at(const char *path, long off, void *b, size_t n)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && pread(fd, b, n, off) == (ssize_t)n);
    close(fd);
}

/* The format version of a spool file (its header's last magic byte). */
static int file_version(const char *path)
{
    char m[8];
    read_at(path, 0, m, sizeof(m));
    CHECK(memcmp(m, "INVQSPL", 7) == 0);
    return m[7] - '0';
}

/* A version-1 frame (the format spool files had before checksummed
 * headers) around payload, into out; returns its size. */
static size_t frame_v1(const uint8_t *payload, size_t len, uint8_t *out)
{
    put32(out, 0x31525149u);
    put32(out + 4, (uint32_t)len);
    put32(out + 8, crc32c(payload, len));
    memcpy(out + 12, payload, len);
    return 12 + len;
}

/* A version-2 frame as it would be written at file offset off of a file
 * with this salt; returns its size. */
static size_t frame_v2(const uint8_t salt[8], uint64_t off, const uint8_t *payload, size_t len, uint8_t *out)
{
    uint8_t k[28];
    put32(out, 0x32525149u);
    put32(out + 4, (uint32_t)len);
    put32(out + 8, crc32c(payload, len));
    memcpy(k, salt, 8);
    put64(k + 8, off);
    memcpy(k + 16, out, 12);
    put32(out + 12, crc32c(k, sizeof(k)));
    memcpy(out + 16, payload, len);
    return 16 + len;
}

/* Writes a version-1 spool file: n records, the first `committed` of them
 * already confirmed; record `damaged` (or -1) gets one payload byte
 * flipped. */
static void write_v1_file(const char *path, uint8_t **payloads, size_t *lens, int n, int committed, int damaged)
{
    uint8_t buf[8192];
    size_t off = 16;
    uint64_t commit_off = 16;
    memcpy(buf, "INVQSPL1", 8);
    for (int i = 0; i < n; i++) {
        if (i == committed)
            commit_off = off;
        size_t k = frame_v1(payloads[i], lens[i], buf + off);
        if (i == damaged)
            buf[off + 12 + 3] ^= 0x5a;
        off += k;
        CHECK(off < sizeof(buf) - 1200);
    }
    if (committed >= n)
        commit_off = off;
    put64(buf + 8, commit_off);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, buf, off) == (ssize_t)off);
    close(fd);
}

static bool queue_has(const rfix *f, const char *id)
{
    job_list l = read_queue(f, PENDING);
    bool hit = false;
    for (size_t i = 0; i < l.n; i++)
        hit = hit || strcmp(l.jobs[i]->id, id) == 0;
    job_list_free(&l);
    return hit;
}

/* Entries named like spool files that are not usable ones: a directory, a
 * symbolic link, a file of another user (or, unprivileged, one we may not
 * open), a file of a newer format and one that is no spool file at all.
 * Each is left alone and reported; the real orphan beside them is
 * replayed, and the report outlives the next successful send. */
static void test_left_alone(rfix *f)
{
    char *dir = make_temp_dir();
    char path[4096], foreign[4096], other[4096];
    char ids[2][27], fids[1][27];
    invq_job *jobs[2], *fjobs[1];
    invq_spool_stats st;

    make_jobs(jobs, ids, 2, 500);
    make_jobs(fjobs, fids, 1, 510);
    spool_orphan(dir, jobs, 2);

    /* Another process's file (root: owned by nobody; else: mode 000). */
    char *odir = make_temp_dir();
    spool_orphan(odir, fjobs, 1);
    ptest_spool_path(odir, other, sizeof(other));
    snprintf(foreign, sizeof(foreign), "%s/invq-1-0000f00d.spool", dir);
    CHECK(rename(other, foreign) == 0);
    if (geteuid() == 0)
        CHECK(chown(foreign, NOBODY, NOBODY) == 0);
    else
        CHECK(chmod(foreign, 0) == 0);
    remove_dir(odir);
    free(odir);

    snprintf(path, sizeof(path), "%s/invq-2-0000d1e5.spool", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/invq-3-0000115c.spool", dir);
    CHECK(symlink(foreign, path) == 0);
    snprintf(path, sizeof(path), "%s/invq-4-00000003.spool", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && write(fd, "INVQSPL3-from-a-later-version...", 32) == 32);
    close(fd);
    snprintf(path, sizeof(path), "%s/invq-5-0000beef.spool", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && write(fd, "just some file named like a spool file\n", 39) == 39);
    close(fd);
    char empty[4096]; /* holds nothing: removed, not reported */
    snprintf(empty, sizeof(empty), "%s/invq-6-00000000.spool", dir);
    CHECK((fd = open(empty, O_WRONLY | O_CREAT, 0600)) >= 0);
    close(fd);

    invq_producer *p = open_at(rfix_url(f), dir); /* used to fail with INVQ_ESPOOL */
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "left alone: %s\n", invq_producer_spool_error(p));
    CHECK(st.adopted_files == 1 && st.replayed_jobs == 2 && st.pending_jobs == 0);
    CHECK(st.skipped_files == 5);
    ptest_check_queue(f, PENDING, ids, 2);
    CHECK(!queue_has(f, fids[0]));
    CHECK(strstr(invq_producer_spool_error(p), "left alone") != NULL);
    CHECK(access(empty, F_OK) != 0);

    /* The report survives later calls; errstr does not. */
    char before[512];
    snprintf(before, sizeof(before), "%s", invq_producer_spool_error(p));
    CHECK_RC(invq_send(p, fjobs[0]), INVQ_SENT);
    CHECK(invq_producer_errstr(p)[0] == '\0');
    CHECK(strcmp(invq_producer_spool_error(p), before) == 0);
    CHECK_RC(invq_flush_spool(p), 0); /* a rescan does not count them again */
    invq_producer_spool_stats(p, &st);
    CHECK(st.skipped_files == 5);
    invq_producer_free(p);

    /* The async producer reports them the same way. */
    uv_loop_t loop;
    invq_async *a = NULL;
    invq_options o;
    char err[256];
    CHECK(uv_loop_init(&loop) == 0);
    invq_options_init(&o);
    o.url = rfix_url(f);
    o.spool_dir = dir;
    CHECK(invq_async_new(&loop, &o, &a, err, sizeof(err)) == 0);
    invq_async_spool_stats(a, &st);
    CHECK(st.skipped_files == 5 && st.adopted_files == 0);
    CHECK(strstr(invq_async_spool_error(a), "left alone") != NULL);
    invq_async_close(a, NULL, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&loop) == 0);

    /* Nothing left alone was touched. */
    CHECK(access(foreign, F_OK) == 0 || errno == EACCES);
    snprintf(path, sizeof(path), "%s/invq-2-0000d1e5.spool", dir);
    CHECK(rmdir(path) == 0);
    if (geteuid() != 0)
        CHECK(chmod(foreign, 0600) == 0);
    remove_dir(dir);
    free(dir);
    free_jobs(jobs, 2);
    free_jobs(fjobs, 1);
    ptest_clear(f, PENDING);
}

/* In a child that may not remove files from dir (root drops to nobody):
 * an orphan is replayed, cannot be deleted, and is emptied instead; a
 * third producer replays nothing. Exits 0 when all holds. */
static void unremovable_child(const rfix *f, const char *dir, invq_job **jobs, char ids[][27])
{
    invq_spool_stats st;
    char path[4096];
    if (geteuid() == 0)
        CHECK(setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
    spool_orphan(dir, jobs, 3);
    ptest_spool_path(dir, path, sizeof(path));
    CHECK(chmod(dir, 0500) == 0); /* files can be written, not removed */

    invq_producer *p = open_at(rfix_url(f), dir);
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "unremovable: %s\n", invq_producer_spool_error(p));
    CHECK(st.adopted_files == 1 && st.replayed_jobs == 3 && st.unremovable_files == 1);
    CHECK(strstr(invq_producer_spool_error(p), "cannot be removed") != NULL);
    invq_producer_free(p);
    ptest_check_queue(f, PENDING, ids, 3);
    CHECK(access(path, F_OK) == 0 && file_size(path) <= 28);

    for (int round = 0; round < 2; round++) { /* used to replay the three on every start */
        p = open_at(rfix_url(f), dir);
        invq_producer_spool_stats(p, &st);
        CHECK(st.replayed_jobs == 0 && st.adopted_files == 0 && st.unremovable_files == 1);
        invq_producer_free(p);
        ptest_check_queue(f, PENDING, ids, 3);
    }
    CHECK(chmod(dir, 0700) == 0);
}

static void test_unremovable(rfix *f)
{
    char *dir = make_temp_dir();
    char ids[3][27];
    invq_job *jobs[3];
    int status;

    make_jobs(jobs, ids, 3, 600);
    if (geteuid() == 0)
        CHECK(chown(dir, NOBODY, NOBODY) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        unremovable_child(f, dir, jobs, ids);
        free_jobs(jobs, 3);
        exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(chmod(dir, 0700) == 0);
    remove_dir(dir);
    free(dir);
    free_jobs(jobs, 3);
    ptest_clear(f, PENDING);
}

/* Four jobs spooled; the header's committed offset is then moved past the
 * first two (as a stray write would), or its salt is damaged. The header
 * checksum catches it: all four are replayed, in order, none lost. */
static void test_header_checksum(rfix *f, bool salt)
{
    char *dir = make_temp_dir();
    char ids[4][27], path[4096];
    invq_job *jobs[4];
    invq_spool_stats st;
    uint8_t b[8];

    make_jobs(jobs, ids, 4, salt ? 710 : 700);
    spool_orphan(dir, jobs, 4);
    ptest_spool_path(dir, path, sizeof(path));
    int v = file_version(path);
    long hdr = v == 1 ? 16 : 28, rh = v == 1 ? 12 : 16, committed_at = v == 1 ? 8 : 16;
    if (salt) {
        CHECK(v >= 2);
        read_at(path, 8, b, 1);
        b[0] ^= 0x01;
        write_at(path, 8, b, 1);
    } else {
        uint8_t h[8];
        read_at(path, hdr + 4, h, 4);
        uint32_t len0 = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        put64(b, (uint64_t)(hdr + 2 * (rh + len0))); /* all records have the same length */
        write_at(path, committed_at, b, 8);
    }

    invq_producer *p = open_at(rfix_url(f), dir);
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "header (%s): %s\n", salt ? "salt" : "offset", invq_producer_spool_error(p));
    ptest_check_queue(f, PENDING, ids, 4);
    CHECK(st.damaged_headers == 1 && st.replayed_jobs == 4 && st.torn_records == 0);
    CHECK(strstr(invq_producer_spool_error(p), "header checksum") != NULL);
    CHECK(ptest_count_files(dir, ".spool") == 0);
    invq_producer_free(p);
    remove_dir(dir);
    free(dir);
    free_jobs(jobs, 4);
    ptest_clear(f, PENDING);
}

/* Job B carries, inside one key, complete frames of a job X in both
 * formats: the version-2 one built with the file's own salt for the very
 * offset it lands at (an attacker who could read the file), or with a
 * guessed salt. B is then damaged (a payload byte, or its length field).
 * Replay gives A and C, never X. */
static void test_hidden_frame(rfix *f, bool damage_length)
{
    char *dir = make_temp_dir();
    char ids[3][27], want[2][27], path[4096];
    invq_job *a = ptest_job_del(800), *c = ptest_job_del(802);
    invq_job *x = ptest_job_del(899), *b0, *b;
    uint8_t key[600], salt[8] = { 0 }, hb[8];
    size_t xlen, b0len;

    uint8_t *xbytes = encode(x, &xlen);
    size_t keylen = 12 + xlen + 16 + xlen + 1;
    CHECK(keylen <= sizeof(key));
    /* Where the key's bytes sit in B's payload: B0 has a same-sized key. */
    memset(key, 0xff, keylen);
    const void *kp[] = { key };
    b0 = invq_job_new();
    CHECK(b0 && invq_job_del(b0, kp, &keylen, 1) == 0);
    uint8_t *b0bytes = encode(b0, &b0len);
    uint8_t *at = memmem(b0bytes, b0len, key, keylen);
    CHECK(at != NULL);
    size_t key_pos = (size_t)(at - b0bytes);

    invq_producer *p = open_at(REFUSED_URL, dir);
    CHECK_RC(invq_send(p, a), INVQ_SPOOLED);
    ptest_spool_path(dir, path, sizeof(path));
    int v = file_version(path);
    long rh = v == 1 ? 12 : 16;
    long b_off = file_size(path);
    if (v >= 2 && !damage_length)
        read_at(path, 8, salt, 8);
    size_t n1 = frame_v1(xbytes, xlen, key);
    frame_v2(salt, (uint64_t)(b_off + rh + (long)key_pos + (long)n1), xbytes, xlen, key + n1);
    key[keylen - 1] = 0xff; /* never valid UTF-8: travels as bin, like B0's */
    b = invq_job_new();
    CHECK(b && invq_job_del(b, kp, &keylen, 1) == 0);
    CHECK_RC(invq_send(p, b), INVQ_SPOOLED);
    CHECK_RC(invq_send(p, c), INVQ_SPOOLED);
    invq_producer_free(p);
    memcpy(ids[0], a->id, 27);
    memcpy(ids[1], b->id, 27);
    memcpy(ids[2], c->id, 27);
    memcpy(want[0], ids[0], 27);
    memcpy(want[1], ids[2], 27);

    /* The frames sit in the file exactly where they were built for. */
    uint8_t check[600];
    read_at(path, b_off + rh + (long)key_pos, check, keylen);
    CHECK(memcmp(check, key, keylen) == 0);
    if (damage_length) {
        read_at(path, b_off + 4, hb, 4);
        hb[0] = (uint8_t)(hb[0] + 9);
        write_at(path, b_off + 4, hb, 4);
    } else {
        read_at(path, b_off + rh + 3, hb, 1);
        hb[0] ^= 0x5a;
        write_at(path, b_off + rh + 3, hb, 1);
    }

    invq_spool_stats st;
    p = open_at(rfix_url(f), dir);
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "hidden frame (%s): %s\n", damage_length ? "length" : "payload", invq_producer_spool_error(p));
    CHECK(!queue_has(f, x->id));
    ptest_check_queue(f, PENDING, want, 2);
    CHECK(st.torn_records == 1 && st.replayed_jobs == 2);
    invq_producer_free(p);
    free(xbytes);
    free(b0bytes);
    invq_job_free(a);
    invq_job_free(b0);
    invq_job_free(b);
    invq_job_free(c);
    invq_job_free(x);
    remove_dir(dir);
    free(dir);
    ptest_clear(f, PENDING);
}

/* Spool files of format version 1 (written before checksummed headers)
 * are read as before: the committed offset is honoured, the rest replayed
 * in order; a damaged record whose length still checks out is skipped
 * whole, even when its keys hold a frame of another job. */
static void test_v1_files(rfix *f)
{
    char *dir = make_temp_dir();
    char ids[4][27], want[3][27], path[4096];
    invq_job *jobs[4];
    uint8_t *payloads[4];
    size_t lens[4];
    invq_spool_stats st;

    make_jobs(jobs, ids, 4, 900);
    for (int i = 0; i < 4; i++)
        payloads[i] = encode(jobs[i], &lens[i]);
    snprintf(path, sizeof(path), "%s/invq-77-000000a1.spool", dir);
    write_v1_file(path, payloads, lens, 4, 1, -1);
    invq_producer *p = open_at(rfix_url(f), dir);
    invq_producer_spool_stats(p, &st);
    ptest_check_queue(f, PENDING, ids + 1, 3);
    CHECK(st.adopted_files == 1 && st.replayed_jobs == 3 && st.torn_records == 0 && st.damaged_headers == 0);
    CHECK(access(path, F_OK) != 0);
    invq_producer_free(p);
    ptest_clear(f, PENDING);

    /* B holds a v1 frame of X inside its key; B's payload is damaged. */
    invq_job *x = ptest_job_del(999);
    size_t xlen, klen;
    uint8_t *xbytes = encode(x, &xlen), key[400];
    klen = frame_v1(xbytes, xlen, key);
    key[klen++] = 0xff;
    const void *kp[] = { key };
    invq_job *b = invq_job_new();
    CHECK(b && invq_job_del(b, kp, &klen, 1) == 0);
    free(payloads[1]);
    payloads[1] = encode(b, &lens[1]);
    memcpy(want[0], ids[0], 27);
    memcpy(want[1], ids[2], 27);
    memcpy(want[2], ids[3], 27);
    write_v1_file(path, payloads, lens, 4, 0, 1);
    p = open_at(rfix_url(f), dir);
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "v1 damaged: %s\n", invq_producer_spool_error(p));
    CHECK(!queue_has(f, x->id));
    ptest_check_queue(f, PENDING, want, 3);
    CHECK(st.torn_records == 1 && st.skipped_bytes == 12 + lens[1] && st.replayed_jobs == 3);
    invq_producer_free(p);
    for (int i = 0; i < 4; i++)
        free(payloads[i]);
    free(xbytes);
    invq_job_free(x);
    invq_job_free(b);
    free_jobs(jobs, 4);
    remove_dir(dir);
    free(dir);
    ptest_clear(f, PENDING);
}

/* An adopted file that becomes unreadable before it is replayed (here: cut
 * to its header by someone else) is given up and reported; sends go on. */
static void test_unreadable_later(rfix *f)
{
    char *dir = make_temp_dir();
    char ids[2][27], path[4096], one[1][27];
    invq_job *jobs[2];
    invq_spool_stats st;

    make_jobs(jobs, ids, 2, 1000);
    spool_orphan(dir, jobs, 2);
    ptest_spool_path(dir, path, sizeof(path));
    CHECK(rfix_stop(f) == 0);
    invq_producer *p = open_at(rfix_url(f), dir); /* adopts; cannot replay yet */
    invq_producer_spool_stats(p, &st);
    CHECK(st.adopted_files == 1 && st.pending_jobs == 2);
    CHECK(truncate(path, file_version(path) == 1 ? 16 : 28) == 0);
    CHECK(rfix_restart(f) == 0);

    invq_job *j = ptest_job_del(1010);
    memcpy(one[0], j->id, 27);
    CHECK_RC(invq_send(p, j), INVQ_SENT); /* used to fail with INVQ_ESPOOL, on every send */
    invq_producer_spool_stats(p, &st);
    fprintf(stderr, "unreadable later: %s\n", invq_producer_spool_error(p));
    CHECK(st.skipped_files == 1 && st.pending_jobs == 0 && st.replayed_jobs == 0);
    CHECK(strstr(invq_producer_spool_error(p), "read failed") != NULL);
    ptest_check_queue(f, PENDING, one, 1);
    CHECK_RC(invq_flush_spool(p), 0);
    invq_producer_free(p);
    CHECK(access(path, F_OK) == 0); /* left on disk */
    invq_job_free(j);
    free_jobs(jobs, 2);
    remove_dir(dir);
    free(dir);
    ptest_clear(f, PENDING);
}

static void run_header_offset(rfix *f) { test_header_checksum(f, false); }
static void run_header_salt(rfix *f) { test_header_checksum(f, true); }
static void run_hidden_payload(rfix *f) { test_hidden_frame(f, false); }
static void run_hidden_length(rfix *f) { test_hidden_frame(f, true); }

/* Every case in order, or only the one named on the command line. */
int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(rfix *f);
    } cases[] = {
        { "left_alone", test_left_alone },
        { "unremovable", test_unremovable },
        { "header_offset", run_header_offset },
        { "header_salt", run_header_salt },
        { "hidden_payload", run_hidden_payload },
        { "hidden_length", run_hidden_length },
        { "v1_files", test_v1_files },
        { "unreadable_later", test_unreadable_later },
    };
    rfix_opts o = { .tcp = true };
    rfix *f = ptest_server(&o);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (argc < 2 || strcmp(argv[1], cases[i].name) == 0)
            cases[i].run(f);
    rfix_free(f);
    printf("spool adoption ok\n");
    return 0;
}
