/* The sync producer against a real redis-server: single and pipelined sends
 * read back and decode to exactly the jobs sent, 100,000 jobs in batches,
 * stats, SELECT, ACL user + password, a wrong password, unreachable Redis. */
#include <string.h>

#include <invq/invq.h>

#include "ptest.h"

#define PENDING "invq:{default}:pending"
#define STATS "invq:{default}:stats"

static invq_producer *open_producer(const char *url, const char *queue)
{
    invq_options o;
    invq_options_init(&o);
    o.url = url;
    if (queue)
        o.queue = queue;
    return ptest_producer(&o);
}

static invq_job *make_job(int i)
{
    char k1[32], k2[32];
    snprintf(k1, sizeof(k1), "user:%d", i);
    snprintf(k2, sizeof(k2), "user:%d:v", i);
    const void *del[] = { k1 };
    const void *bump[] = { k2 };
    invq_job *j = invq_job_new();
    CHECK(j);
    CHECK_RC(invq_job_del(j, del, NULL, 1), 0);
    if (i % 3 == 0)
        CHECK_RC(invq_job_bump(j, bump, NULL, 1), 0);
    if (i % 5 == 0)
        CHECK_RC(invq_job_set_family(j, "user"), 0);
    return j;
}

/* Decoded job d is the job j we sent: same id, ts, ops and keys. */
static void check_same(const invq_job *d, const invq_job *j)
{
    CHECK(strcmp(d->id, j->id) == 0);
    CHECK(d->ts == j->ts);
    CHECK(d->nops == j->nops);
    for (size_t o = 0; o < d->nops; o++) {
        CHECK(d->ops[o].kind == j->ops[o].kind && d->ops[o].nkeys == j->ops[o].nkeys);
        for (size_t k = 0; k < d->ops[o].nkeys; k++)
            CHECK(d->ops[o].keys[k].len == j->ops[o].keys[k].len &&
                  memcmp(d->ops[o].keys[k].data, j->ops[o].keys[k].data, d->ops[o].keys[k].len) == 0);
    }
    CHECK((d->fam == NULL) == (j->fam == NULL));
}

static void test_single_and_pipelined(rfix *f)
{
    invq_producer *p = open_producer(rfix_url(f), NULL);
    invq_job *jobs[50];
    for (int i = 0; i < 50; i++)
        jobs[i] = make_job(i);

    CHECK_RC(invq_send(p, jobs[0]), INVQ_SENT);
    CHECK_RC(invq_send_many(p, (const invq_job *const *)jobs + 1, 49), INVQ_SENT);
    CHECK_RC(invq_send_many(p, NULL, 0), 0);

    job_list l = read_queue(f, PENDING);
    CHECK(l.n == 50);
    for (int i = 0; i < 50; i++)
        check_same(l.jobs[i], jobs[i]);
    job_list_free(&l);
    CHECK(stats_get(f, STATS, "enqueued") == 50);

    /* One invalid job fails the whole batch before anything is sent. */
    invq_job *bad = invq_job_new();
    const invq_job *mix[2] = { jobs[0], bad };
    CHECK_RC(invq_send_many(p, mix, 2), INVQ_EJOB);
    CHECK(strstr(invq_producer_errstr(p), bad->id) != NULL);
    CHECK(queue_len(f, PENDING) == 50);
    invq_job_free(bad);

    /* delete_keys convenience, binary keys. */
    const void *keys[] = { "a", "b\0c" };
    size_t lens[] = { 1, 3 };
    CHECK_RC(invq_delete_keys(p, keys, lens, 2), INVQ_SENT);
    l = read_queue(f, PENDING);
    CHECK(l.n == 51);
    const invq_job *last = l.jobs[50];
    CHECK(last->nops == 1 && last->ops[0].kind == JOB_OP_DEL && last->ops[0].nkeys == 2);
    CHECK(last->ops[0].keys[1].len == 3 && memcmp(last->ops[0].keys[1].data, "b\0c", 3) == 0);
    job_list_free(&l);

    for (int i = 0; i < 50; i++)
        invq_job_free(jobs[i]);
    invq_producer_free(p);
}

static void test_many(rfix *f)
{
    enum { TOTAL = 100000, BATCH = 1000 };
    invq_producer *p = open_producer(rfix_url(f), "bulk");
    invq_job *batch[BATCH];
    char first_id[27] = "", last_id[27] = "";
    for (int b = 0; b < TOTAL / BATCH; b++) {
        for (int i = 0; i < BATCH; i++)
            batch[i] = make_job(b * BATCH + i);
        if (b == 0)
            memcpy(first_id, batch[0]->id, 27);
        if (b == TOTAL / BATCH - 1)
            memcpy(last_id, batch[BATCH - 1]->id, 27);
        CHECK_RC(invq_send_many(p, (const invq_job *const *)batch, BATCH), INVQ_SENT);
        for (int i = 0; i < BATCH; i++)
            invq_job_free(batch[i]);
    }
    CHECK(queue_len(f, "invq:{bulk}:pending") == TOTAL);
    CHECK(stats_get(f, "invq:{bulk}:stats", "enqueued") == TOTAL);
    redisReply *r = rfix_command(f, "LINDEX invq:{bulk}:pending -1");
    CHECK(r && r->type == REDIS_REPLY_STRING && memmem(r->str, r->len, first_id, 26));
    freeReplyObject(r);
    r = rfix_command(f, "LINDEX invq:{bulk}:pending 0");
    CHECK(r && r->type == REDIS_REPLY_STRING && memmem(r->str, r->len, last_id, 26));
    freeReplyObject(r);
    invq_producer_free(p);
}

/* A job naming one of the queue's own keys is refused (INVQ_EJOB) and
 * nothing of the batch it is in reaches Redis. */
static void test_reserved_key(rfix *f)
{
    invq_producer *p = open_producer(rfix_url(f), "guard");
    invq_job *good = make_job(1);
    invq_job *bad = make_job(2);
    const char *keys[] = { "invq:{guard}:pending" };
    CHECK_RC(invq_job_del(bad, (const void *const *)keys, NULL, 1), 0);
    const invq_job *both[] = { good, bad };
    CHECK_RC(invq_send_many(p, both, 2), INVQ_EJOB);
    CHECK(strstr(invq_producer_errstr(p), "key_not_allowed: del invq:{guard}:pending: reserved for the queue"));
    CHECK_RC(invq_send(p, bad), INVQ_EJOB);
    CHECK(queue_len(f, "invq:{guard}:pending") == 0);
    CHECK(stats_get(f, "invq:{guard}:stats", "enqueued") == 0);
    CHECK_RC(invq_send(p, good), INVQ_SENT);
    CHECK(queue_len(f, "invq:{guard}:pending") == 1);
    invq_job_free(good);
    invq_job_free(bad);
    invq_producer_free(p);
}

static void test_reconnect(rfix *f)
{
    invq_producer *p = open_producer(rfix_url(f), "rc");
    invq_job *j = make_job(1);
    CHECK_RC(invq_send(p, j), INVQ_SENT);
    /* The server drops every client; the next send reconnects by itself. */
    redisReply *r = rfix_command(f, "CLIENT KILL TYPE normal");
    CHECK(r);
    freeReplyObject(r);
    CHECK_RC(invq_send(p, j), INVQ_SENT);
    CHECK(queue_len(f, "invq:{rc}:pending") == 2);
    invq_job_free(j);
    invq_producer_free(p);
}

static void test_select(rfix *f)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", rfix_url(f), rfix_socket(f) ? "?db=5" : "/5");
    invq_producer *p = open_producer(url, "sel");
    CHECK_RC(invq_delete_keys(p, (const void *const[]){ "k" }, NULL, 1), INVQ_SENT);
    CHECK(queue_len(f, "invq:{sel}:pending") == 0); /* not in db 0 */
    redisContext *c = rfix_connect(f);
    redisReply *r = redisCommand(c, "SELECT 5");
    freeReplyObject(r);
    r = redisCommand(c, "LLEN invq:{sel}:pending");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    redisFree(c);
    invq_producer_free(p);
}

static void test_acl(void)
{
    const char *conf[] = { "user alice on >secret ~* &* +@all", NULL };
    rfix_opts opts = { .tcp = true, .conf_lines = conf, .requirepass = "rootpw" };
    rfix *f;
    char url[256], err[256];
    invq_producer *p;
    invq_options o;
    f = ptest_server(&opts);

    snprintf(url, sizeof(url), "redis://alice:secret@127.0.0.1:%d", rfix_port(f));
    p = open_producer(url, NULL);
    CHECK_RC(invq_delete_keys(p, (const void *const[]){ "k" }, NULL, 1), INVQ_SENT);
    invq_producer_free(p);

    snprintf(url, sizeof(url), "redis://:rootpw@127.0.0.1:%d", rfix_port(f));
    p = open_producer(url, NULL);
    CHECK_RC(invq_delete_keys(p, (const void *const[]){ "k" }, NULL, 1), INVQ_SENT);
    invq_producer_free(p);

    /* Wrong password: a clear auth error, nothing queued. */
    snprintf(url, sizeof(url), "redis://alice:wrong@127.0.0.1:%d", rfix_port(f));
    p = open_producer(url, NULL);
    CHECK_RC(invq_delete_keys(p, (const void *const[]){ "k" }, NULL, 1), INVQ_EAUTH);
    fprintf(stderr, "wrong password: %s\n", invq_producer_errstr(p));
    CHECK(strstr(invq_producer_errstr(p), "WRONGPASS") != NULL);
    invq_producer_free(p);

    /* No password at all against requirepass. */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rfix_port(f));
    p = open_producer(url, NULL);
    CHECK_RC(invq_delete_keys(p, (const void *const[]){ "k" }, NULL, 1), INVQ_EAUTH);
    CHECK(strstr(invq_producer_errstr(p), "NOAUTH") != NULL);
    invq_producer_free(p);

    CHECK(queue_len(f, PENDING) == 2);

    /* Bad URL: invq_producer_new names the problem. */
    invq_options_init(&o);
    o.url = "redis://h:99999";
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof(err)), INVQ_EURL);
    CHECK(p == NULL && strstr(err, "port"));
    o.url = "redis://127.0.0.1:1";
    o.queue = "bad{queue}";
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof(err)), INVQ_EINVAL);
    CHECK(strstr(err, "queue"));
    rfix_free(f);
}

static void test_unreachable(rfix *f)
{
    char url[512];
    snprintf(url, sizeof(url), "unix://%s/nothing-here.sock", rfix_dir(f));
    invq_producer *p = open_producer(url, NULL);
    invq_job *j = make_job(7);
    CHECK_RC(invq_send(p, j), INVQ_ECONNECT);
    CHECK(strstr(invq_producer_errstr(p), "nothing-here.sock") != NULL);
    invq_job_free(j);
    invq_producer_free(p);
}

int main(void)
{
    rfix *f = ptest_server(NULL);
    test_single_and_pipelined(f);
    test_many(f);
    test_reserved_key(f);
    test_reconnect(f);
    test_select(f);
    test_unreachable(f);
    rfix_free(f);
    test_acl();
    printf("sync ok\n");
    return 0;
}
