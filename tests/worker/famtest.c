/* Helpers of the families tests (see famtest.h). */
#include "famtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_e2e.h"

const char *ft_write(const char *dir, const char *name, const char *text, char *path, size_t len)
{
    char tmp[600];
    snprintf(path, len, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    WT_CHECK(f != NULL, "cannot write %s", tmp);
    WT_CHECK(fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", tmp);
    WT_CHECK(rename(tmp, path) == 0, "cannot rename %s", tmp);
    return path;
}

wt_proc *ft_worker(const char *queue_url, const char *cache_url, const char *families, int port,
                   const char *log, const char *const *extra)
{
    char addr[64];
    const char *argv[48];
    size_t n = 0;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    argv[n++] = "--families";
    argv[n++] = families;
    argv[n++] = "--http-addr";
    argv[n++] = addr;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    wt_proc *w = wt_worker_start(queue_url, cache_url, log, argv);
    WT_CHECK(w != NULL, "the worker did not start");
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    return w;
}

invq_job *ft_job(const char *id, const char *fam)
{
    invq_job *j = job_new();
    WT_CHECK(j != NULL && job_set_id(j, id) == 0, "job_new");
    j->ts = wt_wall_ms();
    if (fam != NULL)
        WT_CHECK(job_set_fam(j, fam) == 0, "job_set_fam");
    return j;
}

void ft_op(invq_job *j, job_op_kind kind, uint64_t ttl_ms, const char *const *keys)
{
    int o = job_add_op(j, kind, kind == JOB_OP_EXPIRE ? ttl_ms : 0, false, 0);
    WT_CHECK(o >= 0, "job_add_op");
    for (size_t i = 0; keys[i] != NULL; i++)
        WT_CHECK(job_op_add_key(j, (size_t)o, keys[i], strlen(keys[i]), false) == 0, "job_op_add_key");
}

void ft_push(redisContext *qc, invq_job *j)
{
    size_t len;
    uint8_t *b = wt_encode(j, &len);
    wt_push(qc, b, len);
    free(b);
    job_free(j);
}

void ft_push1(redisContext *qc, const char *id, const char *fam, job_op_kind kind, const char *key)
{
    const char *keys[] = { key, NULL };
    invq_job *j = ft_job(id, fam);
    ft_op(j, kind, 60000, keys);
    ft_push(qc, j);
}

char *ft_dead_reason(redisContext *qc, const char *id)
{
    dead_record **recs;
    size_t n = wt_dead_records(qc, &recs);
    char *reason = NULL;
    for (size_t i = 0; i < n && reason == NULL; i++)
        if (recs[i]->id != NULL && strcmp(recs[i]->id, id) == 0)
            reason = strdup(recs[i]->reason);
    wt_dead_records_free(recs, n);
    return reason;
}

void ft_check_dead(redisContext *qc, const char *id, const char *want)
{
    char *got = ft_dead_reason(qc, id);
    WT_CHECK(got != NULL, "job %s has no dead letter (want \"%s\")", id, want);
    WT_CHECK(strcmp(got, want) == 0, "job %s: reason \"%s\", want \"%s\"", id, got, want);
    free(got);
}

typedef struct settle_wait {
    redisContext *qc;
    long long jobs;
} settle_wait;

static bool settled(void *ctx)
{
    settle_wait *s = ctx;
    char key[128];
    return wt_stat(s->qc, "done") + wt_stat(s->qc, "dead") >= s->jobs &&
           wt_llen(s->qc, wt_qkey(key, sizeof key, "pending")) == 0 &&
           wt_zcard(s->qc, wt_qkey(key, sizeof key, "delayed")) == 0 &&
           wt_count_keys(s->qc, "invq:{default}:processing:*") == 0;
}

void ft_wait_settled(redisContext *qc, long long jobs)
{
    settle_wait s = { qc, jobs };
    WT_CHECK(wt_wait_for(settled, &s, WT_DEADLINE_MS), "jobs not settled: done=%lld dead=%lld, want %lld in all",
             wt_stat(qc, "done"), wt_stat(qc, "dead"), jobs);
}

size_t ft_count_lines(const char *path, const char *needle)
{
    const char *needles[] = { needle, NULL };
    return (size_t)wt_file_count(path, needles);
}

double ft_metric(int port, const char *series)
{
    double v = e2e_metric(port, series);
    WT_CHECK(v >= 0, "no sample %s in /metrics", series);
    return v;
}

void ft_check_metric(int port, const char *series, double want)
{
    double got = ft_metric(port, series);
    WT_CHECK(got == want, "%s = %g, want %g", series, got, want);
}
