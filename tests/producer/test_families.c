/* libinvq with a families file, against a real redis-server: jobs whose keys
 * and ops the file allows are queued; a key outside its family, a key of no
 * family, an unknown family and an op the family does not allow are refused
 * with INVQ_EFAMILY before anything is sent or spooled (the whole batch);
 * async sends are refused the same way; a bad file fails the producer with
 * every problem; and the public families helpers (explain, key builders,
 * version and data keys, check_job) work on str and binary keys. */
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include <invq/invq.h>

#include "ptest.h"

#define PENDING "invq:{default}:pending"
#define STATS "invq:{default}:stats"

static const char policy[] =
    "[class standard]\n"
    "ttl = 10m\n"
    "jitter = 10%\n"
    "negative_ttl = 30s\n"
    "[family user]\n"
    "keys = user:{id}, user:{id}:profile\n"
    "version_key = ver:user:{id}\n"
    "class = standard\n"
    "owner = team-accounts\n"
    "ops = del, bump\n"
    "[family price]\n"
    "keys = {{price:{sku}}}:{cur}\n"
    "class = standard\n"
    "ops = del, expire\n"
    "mode = shadow\n";

static char *write_file(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    CHECK(path);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    CHECK(fp && fputs(text, fp) >= 0 && fclose(fp) == 0);
    return path;
}

static invq_job *job1(const char *op, const void *key, size_t len, const char *fam)
{
    invq_job *j = invq_job_new();
    const void *keys[] = {key};
    CHECK(j);
    if (strcmp(op, "del") == 0)
        CHECK_RC(invq_job_del(j, keys, &len, 1), 0);
    else if (strcmp(op, "bump") == 0)
        CHECK_RC(invq_job_bump(j, keys, &len, 1), 0);
    else
        CHECK_RC(invq_job_expire(j, keys, &len, 1, 1000, -1), 0);
    if (fam)
        CHECK_RC(invq_job_set_family(j, fam), 0);
    return j;
}

/* Sends one job; expects `want` and, for a refusal, `msg` in errstr and
 * nothing new on the queue. */
static void send_expect(rfix *f, invq_producer *p, invq_job *j, int want, const char *msg)
{
    long long before = queue_len(f, PENDING);
    long long enq = stats_get(f, STATS, "enqueued");
    int rc = invq_send(p, j);
    if (rc != want || (msg && !strstr(invq_producer_errstr(p), msg))) {
        fprintf(stderr, "send: %d (%s), want %d with \"%s\"\n", rc, invq_producer_errstr(p), want, msg ? msg : "");
        exit(1);
    }
    long long after = queue_len(f, PENDING);
    CHECK(after == before + (want == INVQ_SENT ? 1 : 0));
    CHECK(stats_get(f, STATS, "enqueued") == enq + (want == INVQ_SENT ? 1 : 0));
    invq_job_free(j);
}

static invq_producer *open_with(const char *url, const char *families, const char *spool)
{
    invq_options o;
    invq_producer *p = NULL;
    char err[1024];
    invq_options_init(&o);
    o.url = url;
    o.families = families;
    o.spool_dir = spool;
    int rc = invq_producer_new(&o, &p, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "invq_producer_new: %s\n", err);
    CHECK(rc == 0 && p);
    return p;
}

static void test_sync_refusals(rfix *f, const char *path)
{
    invq_producer *p = open_with(rfix_url(f), path, NULL);
    CHECK(invq_producer_families(p) != NULL);
    CHECK(invq_families_count(invq_producer_families(p)) == 2);

    send_expect(f, p, job1("del", "user:1", 6, NULL), INVQ_SENT, NULL);
    send_expect(f, p, job1("del", "user:1:profile", 14, "user"), INVQ_SENT, NULL);
    send_expect(f, p, job1("bump", "ver:user:1", 10, "user"), INVQ_SENT, NULL);
    send_expect(f, p, job1("del", "user:1:v7", 9, "user"), INVQ_SENT, NULL); /* a data key */
    send_expect(f, p, job1("expire", "{price:A-1}:eur", 15, NULL), INVQ_SENT, NULL);
    static const uint8_t bin[] = {'u', 's', 'e', 'r', ':', 0x00, 0xff};
    send_expect(f, p, job1("del", bin, sizeof(bin), "user"), INVQ_SENT, NULL);

    send_expect(f, p, job1("del", "session:1", 9, NULL), INVQ_EFAMILY, "key 'session:1' belongs to no family of ");
    send_expect(f, p, job1("del", "session:1", 9, "user"), INVQ_EFAMILY,
                "key 'session:1' is outside its family 'user'");
    send_expect(f, p, job1("del", "{price:A-1}:eur", 15, "user"), INVQ_EFAMILY,
                "key '{price:A-1}:eur' belongs to family 'price', not to the job's family 'user'");
    send_expect(f, p, job1("del", "user:1", 6, "nope"), INVQ_EFAMILY, "family 'nope' is not in ");
    send_expect(f, p, job1("expire", "user:1", 6, NULL), INVQ_EFAMILY,
                "expire on 'user:1' is not allowed: family 'user' allows del, bump");
    send_expect(f, p, job1("del", "ver:user:1", 10, NULL), INVQ_EFAMILY,
                "del on 'ver:user:1' is not allowed: it is the version key of family 'user'");
    send_expect(f, p, job1("bump", "{price:A-1}:eur", 15, NULL), INVQ_EFAMILY, "family 'price' allows del, expire");
    static const uint8_t binout[] = {'s', ':', 0x00, 0xff};
    send_expect(f, p, job1("del", binout, sizeof(binout), NULL), INVQ_EFAMILY, "key 's:\\x00\\xff' belongs to no family");
    /* the job's id is named */
    invq_job *j = job1("del", "x", 1, NULL);
    char want[64];
    snprintf(want, sizeof(want), "job %s: ", invq_job_id(j));
    send_expect(f, p, j, INVQ_EFAMILY, want);

    /* one refused job refuses the whole batch: nothing is sent */
    invq_job *batch[3] = {job1("del", "user:2", 6, NULL), job1("del", "nobody:2", 8, NULL),
                          job1("del", "user:3", 6, NULL)};
    long long before = queue_len(f, PENDING);
    CHECK_RC(invq_send_many(p, (const invq_job *const *)batch, 3), INVQ_EFAMILY);
    CHECK(strstr(invq_producer_errstr(p), "nobody:2"));
    CHECK(queue_len(f, PENDING) == before);
    for (int i = 0; i < 3; i++)
        invq_job_free(batch[i]);
    /* a job with several ops and keys: every key is checked */
    j = invq_job_new();
    const void *dk[] = {"user:5", "user:5:profile"};
    const void *bk[] = {"ver:user:5", "ver:user:6"};
    CHECK_RC(invq_job_del(j, dk, NULL, 2), 0);
    CHECK_RC(invq_job_bump(j, bk, NULL, 2), 0);
    send_expect(f, p, j, INVQ_SENT, NULL);
    j = invq_job_new();
    const void *mixed[] = {"user:5", "ver:user:5"};
    CHECK_RC(invq_job_del(j, mixed, NULL, 2), 0);
    send_expect(f, p, j, INVQ_EFAMILY, "del on 'ver:user:5'");
    invq_producer_free(p);

    /* what went out decodes to exactly the 7 jobs accepted */
    job_list l = read_queue(f, PENDING);
    CHECK(l.n == 7);
    job_list_free(&l);
}

/* A refused job is not spooled either, even with Redis unreachable. */
static void test_refused_not_spooled(const char *path)
{
    char *dir = make_temp_dir();
    invq_producer *p = open_with("unix:///nonexistent/redis.sock", path, dir);
    invq_job *j = job1("del", "session:1", 9, NULL);
    CHECK_RC(invq_send(p, j), INVQ_EFAMILY);
    invq_job_free(j);
    invq_spool_stats st;
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 0);
    j = job1("del", "user:1", 6, NULL);
    CHECK_RC(invq_send(p, j), INVQ_SPOOLED);
    invq_job_free(j);
    invq_producer_spool_stats(p, &st);
    CHECK(st.pending_jobs == 1);
    invq_producer_free(p);
    remove_dir(dir);
    free(dir);
}

typedef struct async_run {
    int status;
    bool closed;
} async_run;

static void on_sent(invq_async *a, int status, void *data)
{
    ((async_run *)data)->status = status;
}

static void on_closed(invq_async *a, void *data)
{
    ((async_run *)data)->closed = true;
}

static void test_async(rfix *f, const char *path)
{
    uv_loop_t loop;
    invq_async *a = NULL;
    invq_options o;
    char err[512];
    async_run r = {99, false};
    CHECK(uv_loop_init(&loop) == 0);
    invq_options_init(&o);
    o.url = rfix_url(f);
    o.families = path;
    CHECK_RC(invq_async_new(&loop, &o, &a, err, sizeof(err)), 0);
    CHECK(invq_async_families(a) != NULL);
    long long before = queue_len(f, PENDING);
    invq_job *bad = job1("del", "session:1", 9, NULL);
    CHECK_RC(invq_async_send(a, bad, on_sent, &r), INVQ_EFAMILY); /* the callback never runs */
    CHECK(strstr(invq_async_errstr(a), "session:1"));
    invq_job_free(bad);
    invq_job *good = job1("del", "user:9", 6, NULL);
    CHECK_RC(invq_async_send(a, good, on_sent, &r), 0);
    invq_job_free(good);
    for (int i = 0; i < 100000 && r.status == 99; i++)
        uv_run(&loop, UV_RUN_ONCE);
    if (r.status != INVQ_SENT)
        fprintf(stderr, "async send: %d %s\n", r.status, invq_async_errstr(a));
    CHECK(r.status == INVQ_SENT);
    invq_async_close(a, on_closed, &r);
    while (!r.closed)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(uv_loop_close(&loop) == 0);
    CHECK(queue_len(f, PENDING) == before + 1);
}

static void test_bad_file(const char *dir)
{
    char *bad = write_file(dir, "bad.ini", "[class c]\nttl = soon\n[family a]\nkeys = a:{id}\nclass = c\n"
                                           "[family b]\nkeys = a:{x}\nclass = c\n");
    invq_options o;
    invq_producer *p = (invq_producer *)1;
    char err[1024];
    invq_options_init(&o);
    o.url = "unix:///nonexistent/redis.sock";
    o.families = bad;
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof(err)), INVQ_EINVAL);
    CHECK(p == NULL);
    char want[512];
    snprintf(want, sizeof(want), "%s:2: ttl: \"soon\" is not a duration", bad);
    CHECK(strstr(err, want) == err);
    snprintf(want, sizeof(want), "\n%s:7: family 'b' pattern 'a:{x}' overlaps family 'a'", bad);
    CHECK(strstr(err, want));
    o.families = "/nonexistent/families.ini";
    CHECK_RC(invq_producer_new(&o, &p, err, sizeof(err)), INVQ_EINVAL);
    CHECK(strstr(err, "/nonexistent/families.ini: cannot open"));
    free(bad);
}

static void test_helpers(const char *path)
{
    invq_families *fs = NULL;
    char err[512], buf[64];
    size_t len = 0;
    CHECK_RC(invq_families_load(path, NULL, &fs, err, sizeof(err)), 0);
    CHECK(invq_families_count(fs) == 2);
    CHECK(invq_families_find(fs, "price") == 1);
    CHECK(invq_families_find(fs, "nope") == INVQ_EFAMILY);
    CHECK(strcmp(invq_families_pattern(fs, 0, 1), "user:{id}:profile") == 0);
    CHECK(invq_families_pattern(fs, 0, 2) == NULL);

    invq_family_info fi;
    CHECK_RC(invq_families_family(fs, 0, &fi, sizeof(fi)), 0);
    CHECK(strcmp(fi.name, "user") == 0 && strcmp(fi.class_name, "standard") == 0);
    CHECK(fi.ttl_ms == 600000 && fi.jitter_pct == 10 && fi.negative_ttl_ms == 30000 && fi.lease_ttl_ms == 5000);
    CHECK(fi.ops == (INVQ_FAMILY_DEL | INVQ_FAMILY_BUMP) && fi.mode == INVQ_FAMILY_ENFORCE);
    CHECK(strcmp(fi.version_key, "ver:user:{id}") == 0 && fi.npatterns == 2 && fi.line == 5);
    CHECK(strcmp(fi.owner, "team-accounts") == 0 && fi.triggers == NULL);
    /* an older, smaller struct gets only its part */
    struct { const char *name; } small = {NULL};
    CHECK_RC(invq_families_family(fs, 1, (invq_family_info *)(void *)&small, sizeof(small)), 0);
    CHECK(strcmp(small.name, "price") == 0);
    CHECK_RC(invq_families_family(fs, 2, &fi, sizeof(fi)), INVQ_EINVAL);

    invq_key_info ki;
    static const uint8_t bin[] = {'u', 's', 'e', 'r', ':', 0x00, 0xff, ':', 'v', '3'};
    CHECK_RC(invq_families_explain(fs, bin, sizeof(bin), &ki, sizeof(ki)), 1);
    CHECK(strcmp(ki.family.name, "user") == 0 && ki.kind == INVQ_KEY_VERSIONED && ki.version == 3);
    CHECK(ki.pattern == 0 && strcmp(ki.pattern_text, "user:{id}") == 0 && ki.nparams == 1);
    CHECK(strcmp(ki.param_names[0], "id") == 0 && ki.param_lens[0] == 2 &&
          memcmp(ki.param_values[0], bin + 5, 2) == 0);
    CHECK_RC(invq_families_explain(fs, "ver:user:7", 10, &ki, sizeof(ki)), 1);
    CHECK(ki.kind == INVQ_KEY_VERSION && ki.pattern == -1);
    CHECK_RC(invq_families_explain(fs, "{price:X}:usd", 13, &ki, sizeof(ki)), 1);
    CHECK(ki.family.mode == INVQ_FAMILY_SHADOW && ki.nparams == 2 && ki.param_lens[1] == 3);
    CHECK_RC(invq_families_explain(fs, "user:1:2", 8, &ki, sizeof(ki)), 0);

    const char *names[] = {"cur", "sku"};
    const char *vals[] = {"eur", "A-1"};
    CHECK_RC(invq_families_build_key(fs, "price", 0, names, (const void *const *)vals, NULL, 2, buf, sizeof(buf), &len,
                                     err, sizeof(err)),
             0);
    CHECK(len == 15 && memcmp(buf, "{price:A-1}:eur", 15) == 0);
    CHECK_RC(invq_families_build_key(fs, "price", 0, names, (const void *const *)vals, NULL, 2, buf, 4, &len, err,
                                     sizeof(err)),
             INVQ_EINVAL);
    CHECK(len == 15); /* the size needed */
    const char *idn[] = {"id"};
    const void *idv[] = {bin + 5};
    size_t idl[] = {2};
    CHECK_RC(invq_families_build_key(fs, "user", -1, idn, idv, idl, 1, buf, sizeof(buf), &len, err, sizeof(err)), 0);
    CHECK(len == 11 && memcmp(buf, "ver:user:\x00\xff", 11) == 0);
    const char *colon[] = {"a:b"};
    CHECK_RC(invq_families_build_key(fs, "user", 1, idn, (const void *const *)colon, NULL, 1, buf, sizeof(buf), &len,
                                     err, sizeof(err)),
             INVQ_EINVAL);
    CHECK(strstr(err, "contains ':'"));
    CHECK_RC(invq_families_build_key(fs, "user", 2, idn, idv, idl, 1, buf, sizeof(buf), &len, err, sizeof(err)),
             INVQ_EFAMILY);
    CHECK_RC(invq_families_build_key(fs, "price", -1, NULL, NULL, NULL, 0, buf, sizeof(buf), &len, err, sizeof(err)),
             INVQ_EFAMILY);
    CHECK(strstr(err, "has no version key"));
    CHECK_RC(invq_families_build_key(fs, "nope", 0, NULL, NULL, NULL, 0, buf, sizeof(buf), &len, err, sizeof(err)),
             INVQ_EFAMILY);

    CHECK_RC(invq_families_version_key(fs, "user:42:profile", 15, buf, sizeof(buf), &len), 0);
    CHECK(len == 11 && memcmp(buf, "ver:user:42", 11) == 0);
    CHECK_RC(invq_families_version_key(fs, "{price:X}:usd", 13, buf, sizeof(buf), &len), INVQ_EFAMILY);
    CHECK_RC(invq_families_version_key(fs, "ver:user:42", 11, buf, sizeof(buf), &len), INVQ_EFAMILY);
    CHECK_RC(invq_families_version_key(fs, "nothing", 7, buf, sizeof(buf), &len), INVQ_EFAMILY);
    CHECK_RC(invq_families_version_key(fs, "user:42", 7, buf, 5, &len), INVQ_EINVAL);
    CHECK(len == 11);
    CHECK_RC(invq_families_data_key("user:42", 7, 17, buf, sizeof(buf), &len), 0);
    CHECK(len == 11 && memcmp(buf, "user:42:v17", 11) == 0);

    invq_job *j = job1("bump", "user:1", 6, NULL);
    CHECK_RC(invq_families_check_job(fs, j, err, sizeof(err)), 0);
    invq_job_free(j);
    j = job1("expire", "user:1", 6, NULL);
    CHECK_RC(invq_families_check_job(fs, j, err, sizeof(err)), INVQ_EFAMILY);
    CHECK(strstr(err, "allows del, bump"));
    invq_job_free(j);
    CHECK(strcmp(invq_strerror(INVQ_EFAMILY), "key outside its family") == 0);
    invq_families_free(fs);
    invq_families_free(NULL);

    /* another namespace reserves other keys */
    CHECK_RC(invq_families_load(path, "user", &fs, err, sizeof(err)), INVQ_EINVAL);
    CHECK(strstr(err, "keys under 'user:' are reserved for the queue"));
    CHECK(fs == NULL);
}

int main(void)
{
    rfix *f = ptest_server(NULL);
    char *path = write_file(rfix_dir(f), "families.ini", policy);
    test_sync_refusals(f, path);
    test_refused_not_spooled(path);
    test_async(f, path);
    test_bad_file(rfix_dir(f));
    test_helpers(path);
    free(path);
    rfix_free(f);
    printf("families ok\n");
    return 0;
}
