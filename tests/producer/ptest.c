/* Helpers for the producer tests (see ptest.h). */
#include "ptest.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

rfix *ptest_server(const rfix_opts *opts)
{
    rfix *f = NULL;
    int rc = rfix_start(&f, opts);
    if (rc == RFIX_SKIP) {
        printf("no redis-server: skipping\n");
        exit(RFIX_SKIP);
    }
    CHECK(rc == 0);
    return f;
}

job_list read_queue(const rfix *f, const char *key)
{
    job_list l = { 0 };
    job_limits lim;
    redisReply *r = rfix_command(f, "LRANGE %s 0 -1", key);
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    job_limits_default(&lim);
    l.n = r->elements;
    l.jobs = calloc(l.n ? l.n : 1, sizeof(*l.jobs));
    CHECK(l.jobs);
    for (size_t i = 0; i < l.n; i++) {
        const redisReply *e = r->element[l.n - 1 - i]; /* LPUSH: the tail is the oldest */
        job_error je;
        CHECK(e->type == REDIS_REPLY_STRING);
        int rc = job_decode((const uint8_t *)e->str, e->len, &lim, &l.jobs[i], &je);
        if (rc != 0) {
            char msg[300];
            job_error_format(&je, msg, sizeof(msg));
            fprintf(stderr, "decode failed: %s\n", msg);
        }
        CHECK(rc == 0);
    }
    freeReplyObject(r);
    return l;
}

void job_list_free(job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_free(l->jobs[i]);
    free(l->jobs);
    l->jobs = NULL;
    l->n = 0;
}

long long queue_len(const rfix *f, const char *key)
{
    redisReply *r = rfix_command(f, "LLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

long long stats_get(const rfix *f, const char *key, const char *field)
{
    redisReply *r = rfix_command(f, "HGET %s %s", key, field);
    long long n = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    if (r)
        freeReplyObject(r);
    return n;
}

char *make_temp_dir(void)
{
    char tmpl[] = "/tmp/invq-ptest-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char *s = strdup(tmpl);
    CHECK(s);
    return s;
}

void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

invq_producer *ptest_producer(const invq_options *o)
{
    invq_producer *p = NULL;
    char err[256];
    int rc = invq_producer_new(o, &p, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "invq_producer_new: %s: %s\n", invq_strerror(rc), err);
    CHECK(rc == 0 && p);
    return p;
}

invq_job *ptest_job_del(int i)
{
    char k[32];
    snprintf(k, sizeof(k), "item:%d", i);
    const void *keys[] = { k };
    invq_job *j = invq_job_new();
    CHECK(j && invq_job_del(j, keys, NULL, 1) == 0);
    return j;
}

int ptest_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    CHECK(d);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > strlen(suffix) && strcmp(e->d_name + l - strlen(suffix), suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

void ptest_spool_path(const char *dir, char *path, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    path[0] = '\0';
    CHECK(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".spool"))
            snprintf(path, n, "%s/%s", dir, e->d_name);
    closedir(d);
    CHECK(path[0]);
}

void ptest_check_queue(const rfix *f, const char *key, char ids[][27], size_t n)
{
    job_list l = read_queue(f, key);
    if (l.n != n)
        fprintf(stderr, "queue has %zu jobs, want %zu\n", l.n, n);
    CHECK(l.n == n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l.jobs[i]->id, ids[i]) != 0)
            fprintf(stderr, "queue[%zu] is %s, want %s\n", i, l.jobs[i]->id, ids[i]);
        CHECK(strcmp(l.jobs[i]->id, ids[i]) == 0);
    }
    job_list_free(&l);
}

void ptest_clear(const rfix *f, const char *key)
{
    redisReply *r = rfix_command(f, "DEL %s", key);
    CHECK(r);
    freeReplyObject(r);
}
