/* The families' fleet-wide rate limit (`rate`, kept in the queue Redis by
 * rate.lua) against a real worker: a batch over the rate waits on its
 * processing list — no attempt used, nothing in delayed — while the worker
 * stays ready and keeps heartbeating; rate.lua meeting a rate key of the
 * wrong type or holding a non-number changes nothing (a queue fault:
 * /readyz 503 with the reason, the batch held) and the worker resumes once
 * the key is fixed; a family at 20 keys/s is paced and every job done; and
 * the worker's user of deploy/redis-acl/users.acl may run all of it (the
 * rate script's GET, SET and TIME, the shadow probes' EXISTS).
 * How closely the rate is kept is measured by bench/run (ratelimit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famtest.h"
#include "obs_e2e.h"

static const char FAMILIES[] = "[class standard]\n"
                               "ttl = 10m\n"
                               "\n"
                               "[family glacial]\n"
                               "keys = g:{id}\n"
                               "class = standard\n"
                               "rate = 1/h\n"
                               "\n"
                               "[family slow]\n"
                               "keys = s:{id}\n"
                               "class = standard\n"
                               "rate = 20/s\n";

#define RATE_KEY "invq:{default}:rate:glacial"
#define LIMITED "invq_family_rate_limited_seconds_total{family=\"glacial\"}"

typedef struct probe {
    int port;
    redisContext *c;
    double score;
} probe;

static double heartbeat(redisContext *c)
{
    redisReply *r = redisCommand(c, "ZRANGE invq:{default}:consumers 0 0 WITHSCORES");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "no consumer registered");
    double s = strtod(r->element[1]->str, NULL);
    freeReplyObject(r);
    return s;
}

static bool heartbeat_moved(void *ctx)
{
    probe *p = ctx;
    return heartbeat(p->c) > p->score;
}

static bool rate_limited(void *ctx)
{
    probe *p = ctx;
    return e2e_metric(p->port, LIMITED) > 0;
}

static long long processing(redisContext *c)
{
    redisReply *r = redisCommand(c, "KEYS invq:{default}:processing:*");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "KEYS");
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++)
        n += wt_llen(c, r->element[i]->str);
    freeReplyObject(r);
    return n;
}

/* The waiting batch is held where it was taken, unapplied, no attempt used. */
static void check_held(redisContext *c, const char *when)
{
    WT_CHECK(processing(c) == 1, "%s: %lld jobs on processing lists, want the waiting one", when, processing(c));
    WT_CHECK(wt_exists(c, "g:3") == 1, "%s: g:3 deleted over the rate", when);
    WT_CHECK(wt_zcard(c, "invq:{default}:delayed") == 0 && wt_stat(c, "retried") == 0, "%s: an attempt was used",
             when);
    WT_CHECK(wt_llen(c, "invq:{default}:dead") == 0, "%s: dead-lettered", when);
}

typedef struct ready_wait {
    int port;
    const char *reason;
    char body[256];
} ready_wait;

static bool not_ready_for(void *ctx)
{
    ready_wait *r = ctx;
    return e2e_get(r->port, "/readyz", r->body, sizeof r->body, 2000) == 503 && strstr(r->body, r->reason) != NULL;
}

/* Waits for /readyz to answer 503 with this reason. */
static void wait_not_ready(int port, const char *reason)
{
    ready_wait r = { .port = port, .reason = reason };
    WT_CHECK(wt_wait_for(not_ready_for, &r, WT_DEADLINE_MS), "/readyz says \"%s\", want 503 \"%s\"", r.body,
             reason);
}

/* The rules of `user invq-worker` in users.acl as ACL SETUSER arguments
 * (a selector "(...)" is one argument), plus a password for the test. */
static size_t acl_rules(const char *path, char *line, size_t len, const char **argv, size_t max)
{
    FILE *f = fopen(path, "r");
    WT_CHECK(f != NULL, "cannot read %s", path);
    bool found = false;
    while (!found && fgets(line, (int)len, f) != NULL)
        found = strncmp(line, "user invq-worker ", 17) == 0;
    fclose(f);
    WT_CHECK(found, "%s has no user invq-worker", path);
    line[strcspn(line, "\n")] = '\0';
    size_t n = 0;
    argv[n++] = "ACL";
    argv[n++] = "SETUSER";
    char *p = line + 5;
    while (*p != '\0' && n + 2 < max) {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        argv[n++] = p;
        char *end = *p == '(' ? strchr(p, ')') : strchr(p, ' ');
        if (end == NULL)
            break;
        p = *p == '(' ? end + 1 : end;
    }
    argv[n++] = ">test-only-password";
    return n;
}

/* As the worker's ACL user: rate.lua, shadow probes, no denial. */
static void test_acl(const char *users_acl)
{
    rfix_opts o = { .tcp = true };
    rfix *srv = wt_server(&o);
    redisContext *c = wt_connect(srv);
    char log[512], path[600], line[2048], url[128], key[32];
    const char *argv[64];
    size_t argc = acl_rules(users_acl, line, sizeof line, argv, 64);
    redisReply *r = redisCommandArgv(c, (int)argc, argv, NULL);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r != NULL ? r->str : c->errstr);
    freeReplyObject(r);
    snprintf(log, sizeof log, "%s/acl.log", rfix_dir(srv));
    wt_set_log(log);
    snprintf(url, sizeof url, "redis://invq-worker:test-only-password@127.0.0.1:%d", rfix_port(srv));
    static const char shadow[] = "[class standard]\nttl = 10m\n\n"
                                 "[family slow]\nkeys = s:{id}\nclass = standard\nrate = 20/s\n\n"
                                 "[family peek]\nkeys = p:{id}\nclass = standard\nmode = shadow\n";
    ft_write(rfix_dir(srv), "families.ini", shadow, path, sizeof path);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    const char *extra[] = { "--batch", "2", NULL };
    wt_proc *w = ft_worker(url, NULL, path, port, log, extra);
    wt_cmd(c, "SET p:1 x");
    ft_push1(c, "p1", NULL, JOB_OP_DEL, "p:1");
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "s:%d", i);
        wt_cmd(c, "SET %s x", key);
        ft_push1(c, key, NULL, JOB_OP_DEL, key);
    }
    ft_wait_settled(c, 11);
    WT_CHECK(wt_count_keys(c, "s:*") == 0 && wt_exists(c, "p:1") == 1, "not applied as the modes say");
    ft_check_metric(port, "invq_family_shadow_hits_total{family=\"peek\",op=\"del\"}", 1);
    ft_check_metric(port, "invq_family_shadow_errors_total{family=\"peek\"}", 0);
    WT_CHECK(ft_metric(port, "invq_family_rate_limited_seconds_total{family=\"slow\"}") > 0, "never rate-limited");
    r = redisCommand(c, "ACL LOG");
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY, "ACL LOG");
    WT_CHECK(r->elements == 0, "%zu ACL denials for the worker's user", r->elements);
    freeReplyObject(r);
    WT_CHECK(wt_stat(c, "dead") == 0 && wt_stat(c, "retried") == 0, "dead %lld, retried %lld", wt_stat(c, "dead"),
             wt_stat(c, "retried"));
    wt_worker_stop(w);
    wt_note("ok as users.acl's invq-worker: rate.lua and shadow probes ran without an ACL denial");
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

int main(void)
{
    wt_worker_path();
    const char *users_acl = getenv("INVQ_TEST_USERS_ACL");
    WT_CHECK(users_acl != NULL, "INVQ_TEST_USERS_ACL is not set");
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512], path[600], key[32];
    snprintf(log, sizeof log, "%s/rate.log", rfix_dir(srv));
    wt_set_log(log);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    ft_write(rfix_dir(srv), "families.ini", FAMILIES, path, sizeof path);
    const char *extra[] = { "--consumers", "1", "--batch", "4", NULL };
    wt_proc *w = ft_worker(rfix_url(srv), NULL, path, port, log, extra);

    /* 1/h: the first batch goes (the family had no debt) and runs 2 h ahead */
    wt_cmd(c, "MSET g:1 x g:2 x g:3 x");
    {
        invq_job *j = ft_job("g12", "glacial");
        const char *keys[] = { "g:1", "g:2", NULL };
        ft_op(j, JOB_OP_DEL, 0, keys);
        ft_push(c, j);
    }
    ft_wait_settled(c, 1);
    WT_CHECK(wt_exists(c, "g:1") == 0 && wt_exists(c, "g:2") == 0, "the first batch was not applied");
    WT_CHECK(wt_pttl(c, RATE_KEY) > 3600 * 1000, "rate key PTTL %lld, want over an hour", wt_pttl(c, RATE_KEY));

    /* the next one waits, held, while the worker stays ready and heartbeats */
    ft_push1(c, "g3", "glacial", JOB_OP_DEL, "g:3");
    probe pr = { port, c, 0 };
    WT_CHECK(wt_wait_for(rate_limited, &pr, WT_DEADLINE_MS), "the batch over the rate never waited");
    check_held(c, "waiting");
    char body[256];
    WT_CHECK(e2e_get(port, "/readyz", body, sizeof body, 5000) == 200, "/readyz while waiting: %s", body);
    pr.score = heartbeat(c);
    WT_CHECK(wt_wait_for(heartbeat_moved, &pr, WT_DEADLINE_MS), "no heartbeat while the batch waited");
    check_held(c, "after a heartbeat");

    /* rate.lua meets a broken rate key: nothing changes, the batch is held */
    wt_cmd(c, "DEL " RATE_KEY);
    wt_cmd(c, "LPUSH " RATE_KEY " junk");
    wait_not_ready(port, "queue key " RATE_KEY " has type list, expected string");
    WT_CHECK(wt_llen(c, RATE_KEY) == 1, "the rate key was changed: LLEN %lld", wt_llen(c, RATE_KEY));
    check_held(c, "rate key of the wrong type");
    WT_CHECK(e2e_metric(port, "invq_queue_script_errors_total{script=\"rate\"}") >= 1, "rate errors not counted");
    ft_check_metric(port, "invq_queue_blocked", 1);
    wt_cmd(c, "DEL " RATE_KEY);
    wt_cmd(c, "SET " RATE_KEY " soon");
    wait_not_ready(port, "queue key " RATE_KEY " does not hold a number");
    redisReply *r = redisCommand(c, "GET " RATE_KEY);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "soon") == 0, "the rate key was changed");
    freeReplyObject(r);
    check_held(c, "rate key not a number");

    /* fixed by the operator: the batch goes, without an attempt used */
    wt_cmd(c, "DEL " RATE_KEY);
    e2e_wait_status(port, "/readyz", 200, NULL, 0);
    ft_wait_settled(c, 2);
    WT_CHECK(wt_exists(c, "g:3") == 0, "g:3 not deleted once the key was fixed");
    WT_CHECK(wt_stat(c, "retried") == 0 && wt_stat(c, "dead") == 0, "retried %lld, dead %lld", wt_stat(c, "retried"),
             wt_stat(c, "dead"));
    double waited = ft_metric(port, LIMITED);
    wt_note("ok 1/h: the second batch waited %.2f s on its processing list, ready and heartbeating, no attempt used",
            waited);

    /* 20/s: paced, every job done, none retried */
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "s:%d", i);
        wt_cmd(c, "SET %s x", key);
        ft_push1(c, key, NULL, JOB_OP_DEL, key);
    }
    ft_wait_settled(c, 22);
    WT_CHECK(wt_count_keys(c, "s:*") == 0, "s:* keys left");
    WT_CHECK(wt_stat(c, "retried") == 0 && wt_stat(c, "dead") == 0, "retried %lld, dead %lld", wt_stat(c, "retried"),
             wt_stat(c, "dead"));
    double slow = ft_metric(port, "invq_family_rate_limited_seconds_total{family=\"slow\"}");
    WT_CHECK(slow > 0, "20 keys at 20/s in batches of 4 never waited");
    wt_note("ok 20/s: 20 jobs in batches of 4 done, %.2f s waited, none retried", slow);
    wt_worker_stop(w);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
    test_acl(users_acl);
    return 0;
}
