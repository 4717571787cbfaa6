/* --dlq-overflow spill:FILE against a real worker: at the --dlq-max cap the
 * oldest dead letters move to FILE (export lines) instead of the batch
 * being held, so the list stays at its cap, nothing is held, /readyz stays
 * 200 and invq_dlq_spilled_total counts them; `invqctl dlq import < FILE`
 * brings every one back (the ids of the list and the file together are
 * exactly the jobs dead-lettered). A spill file that cannot be written
 * (its directory is missing) falls back to holding: /readyz 503 naming the
 * file, the list does not grow, the job waits on its processing list; once
 * the directory exists the next check spills and the worker is ready. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "obs_e2e.h"
#include "wtest.h"

#define NBAD 10

static int file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (f == NULL)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* seen[i] counts "bad-i" among the list's records. */
static void count_list_ids(redisContext *qc, int seen[NBAD])
{
    dead_record **recs;
    size_t n = wt_dead_records(qc, &recs);
    for (size_t i = 0; i < n; i++) {
        int k;
        if (recs[i]->id != NULL && sscanf(recs[i]->id, "bad-%d", &k) == 1 && k >= 0 && k < NBAD)
            seen[k]++;
    }
    wt_dead_records_free(recs, n);
}

/* seen[i] counts lines of the file with "id":"bad-i". */
static void count_file_ids(const char *path, int seen[NBAD])
{
    FILE *f = fopen(path, "r");
    char line[8192];
    WT_CHECK(f != NULL, "%s missing", path);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "\"id\":\"bad-");
        WT_CHECK(p != NULL && strstr(line, "\"record_b64\":\"") == line + 1, "not an export line: %s", line);
        int k = atoi(p + 10);
        if (k >= 0 && k < NBAD)
            seen[k]++;
    }
    fclose(f);
}

static void wait_stat_dead(wt_pair *p, long long n)
{
    WT_CHECK(wt_wait_stat(p->qc, "dead", n, WT_DEADLINE_MS), "stats.dead %lld, want %lld", wt_stat(p->qc, "dead"), n);
}

static void import_file(const rfix *queue, const char *path, const char *log)
{
    const char *ctl = getenv("INVQCTL");
    if (ctl == NULL || *ctl == '\0') {
        printf("# INVQCTL is not set: skipping\n");
        exit(77);
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec '%s' --queue-url '%s' dlq import < '%s'", ctl, rfix_url(queue), path);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    int st = wt_run("/bin/sh", argv, NULL, log, WT_DEADLINE_MS);
    if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        wt_file_dump(log);
    WT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "invqctl dlq import: status %d", st);
}

static void test_spill(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    char addr[64], dead[128], spill[600], flag[640], body[512], ilog[600];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    wt_qkey(dead, sizeof dead, "dead");
    snprintf(spill, sizeof spill, "%s/spill.jsonl", rfix_dir(p.queue));
    snprintf(flag, sizeof flag, "spill:%s", spill);
    snprintf(ilog, sizeof ilog, "%s/import.log", rfix_dir(p.queue));
    const char *extra[] = { "--http-addr", addr, "--dlq-max", "3", "--dlq-overflow", flag, "--consumers", "2", NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker");
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    for (int i = 0; i < NBAD; i++) {
        wt_push_bad(&p, i);
        wait_stat_dead(&p, i + 1);
        /* never held: the one batch at a time is dead-lettered */
        WT_CHECK(wt_llen(p.qc, dead) <= 3, "the list grew past its cap: %lld", wt_llen(p.qc, dead));
    }
    int lines = file_lines(spill);
    long long left = wt_llen(p.qc, dead);
    wt_note("%d dead letters at --dlq-max 3: %lld on the list, %d spilled to the file", NBAD, left, lines);
    WT_CHECK(left == 3 && lines == NBAD - 3, "list %lld, file %d lines", left, lines);
    WT_CHECK(e2e_metric(port, "invq_dlq_spilled_total") == NBAD - 3, "invq_dlq_spilled_total %g",
             e2e_metric(port, "invq_dlq_spilled_total"));
    WT_CHECK(e2e_metric(port, "invq_dlq_full") == 0, "invq_dlq_full while spilling");
    WT_CHECK(e2e_get(port, "/readyz", body, sizeof body, 5000) == 200, "readyz: %s", body);
    const char *spilled[] = { "oldest records spilled to the file", NULL };
    WT_CHECK(wt_file_count(p.log, spilled) == NBAD - 3, "%d spill log lines", wt_file_count(p.log, spilled));
    int seen[NBAD] = { 0 };
    count_list_ids(p.qc, seen);
    count_file_ids(spill, seen);
    for (int i = 0; i < NBAD; i++)
        WT_CHECK(seen[i] == 1, "bad-%d is %d times in the list and the file", i, seen[i]);
    /* the oldest went first: bad-0 is in the file, the newest on the list */
    memset(seen, 0, sizeof seen);
    count_list_ids(p.qc, seen);
    WT_CHECK(seen[NBAD - 1] == 1 && seen[0] == 0, "the newest was spilled, or the oldest kept");
    /* back with invqctl */
    import_file(p.queue, spill, ilog);
    WT_CHECK(wt_llen(p.qc, dead) == NBAD, "after the import the list holds %lld", wt_llen(p.qc, dead));
    memset(seen, 0, sizeof seen);
    count_list_ids(p.qc, seen);
    for (int i = 0; i < NBAD; i++)
        WT_CHECK(seen[i] == 1, "after the import bad-%d is %d times on the list", i, seen[i]);
    wt_note("invqctl dlq import brought the %d spilled records back: all %d on the list once", lines, NBAD);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

static void test_unwritable(void)
{
    wt_pair p;
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    char addr[64], dead[128], dir[600], spill[640], flag[700], body[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    wt_qkey(dead, sizeof dead, "dead");
    snprintf(dir, sizeof dir, "%s/later", rfix_dir(p.queue));
    snprintf(spill, sizeof spill, "%s/spill.jsonl", dir);
    snprintf(flag, sizeof flag, "spill:%s", spill);
    const char *extra[] = { "--http-addr", addr, "--dlq-max", "2", "--dlq-overflow", flag, NULL };
    wt_proc *w = wt_worker_start(rfix_url(p.queue), rfix_url(p.cache), p.log, extra);
    WT_CHECK(w != NULL, "worker");
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    for (int i = 0; i < 2; i++) {
        wt_push_bad(&p, i);
        wait_stat_dead(&p, i + 1);
    }
    wt_push_bad(&p, 2);
    e2e_wait_status(port, "/readyz", 503, body, sizeof body);
    wt_note("readyz with an unwritable spill file: %s", body);
    WT_CHECK(strstr(body, "dead-letter list full") != NULL && strstr(body, spill) != NULL,
             "readyz does not name the file: %s", body);
    WT_CHECK(e2e_metric(port, "invq_dlq_full") == 1, "invq_dlq_full");
    WT_CHECK(wt_llen(p.qc, dead) == 2, "the list grew past its cap: %lld", wt_llen(p.qc, dead));
    WT_CHECK(wt_count_keys(p.qc, "invq:{default}:processing:*") == 1, "the held job is not on a processing list");
    const char *full[] = { "dead-letter list full", spill, NULL };
    WT_CHECK(wt_file_count(p.log, full) == 1, "the incident (naming the file) logged %d times",
             wt_file_count(p.log, full));
    /* the directory appears: the next check spills and the job goes on */
    WT_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    wait_stat_dead(&p, 3);
    WT_CHECK(file_lines(spill) == 1 && wt_llen(p.qc, dead) == 2, "file %d lines, list %lld", file_lines(spill),
             wt_llen(p.qc, dead));
    wt_note("once %s could be written: 1 record spilled, the held job dead-lettered, ready again", spill);
    wt_worker_stop(w);
    wt_pair_stop(&p);
}

int main(void)
{
    wt_worker_path();
    test_spill();
    test_unwritable();
    printf("worker dlqspill ok\n");
    return 0;
}
