/* The reader without a server: what a stored value means (data, escaped
 * data, lease markers, negative entries, unknown markers), versioned data
 * keys and version parsing, TTL jitter bounds, option validation, the
 * per-get policy's precedence (call, family class, reader), the families
 * file's refusals, and argument errors that never reach Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <invq/invq.h>

#include "lease.h"
#include "reader_config.h"
#include "tcheck.h"

static lease_kind kind_of(const char *v, size_t n, const char **data, size_t *len)
{
    return lease_classify(v, n, data, len);
}

static void test_classify(void)
{
    const char *d;
    size_t n;
    CHECK(kind_of("hello", 5, &d, &n) == LEASE_DATA && n == 5 && memcmp(d, "hello", 5) == 0);
    CHECK(kind_of("", 0, &d, &n) == LEASE_DATA && n == 0);
    /* a prefix of the magic is plain data */
    CHECK(kind_of("\0invq", 5, &d, &n) == LEASE_DATA && n == 5);
    CHECK(kind_of("\0invQ:N1", 8, &d, &n) == LEASE_DATA);
    CHECK(kind_of("\0invq:N1", 8, &d, &n) == LEASE_NEG && d == NULL);
    CHECK(kind_of("\0invq:N1x", 9, &d, &n) == LEASE_UNKNOWN);
    CHECK(kind_of("\0invq:D1:", 9, &d, &n) == LEASE_DATA && n == 0);
    CHECK(kind_of("\0invq:D1:\0invq:N1", 17, &d, &n) == LEASE_DATA && n == 8 &&
          memcmp(d, lease_negative, 8) == 0);
    CHECK(kind_of("\0invq:", 6, &d, &n) == LEASE_UNKNOWN);
    CHECK(kind_of("\0invq:X9:anything", 17, &d, &n) == LEASE_UNKNOWN);

    uint8_t tok[LEASE_TOKEN_BYTES];
    char m[LEASE_MARKER_LEN];
    for (size_t i = 0; i < sizeof(tok); i++)
        tok[i] = (uint8_t)(i * 17);
    lease_marker_make(tok, m);
    CHECK(memcmp(m, "\0invq:L1:00112233445566778899aabbccddeeff", LEASE_MARKER_LEN) == 0);
    CHECK(kind_of(m, LEASE_MARKER_LEN, &d, &n) == LEASE_HELD);
    CHECK(kind_of(m, LEASE_MARKER_LEN - 1, &d, &n) == LEASE_UNKNOWN); /* short token */
    m[20] = 'A';                                                       /* not lowercase hex */
    CHECK(kind_of(m, LEASE_MARKER_LEN, &d, &n) == LEASE_UNKNOWN);

    CHECK(lease_needs_escape("\0invq:", 6));
    CHECK(lease_needs_escape("\0invq:hello", 11));
    CHECK(!lease_needs_escape("\0invq", 5));
    CHECK(!lease_needs_escape("plain", 5));
}

static void test_keys(void)
{
    char buf[64 + LEASE_VERSION_SUFFIX_MAX];
    size_t n = lease_data_key("user:42", 7, 17, buf);
    CHECK(n == 11 && memcmp(buf, "user:42:v17", 11) == 0);
    n = lease_data_key("k", 1, 0, buf);
    CHECK(n == 4 && memcmp(buf, "k:v0", 4) == 0);
    n = lease_data_key("k", 1, INT64_MIN, buf);
    CHECK(n == 1 + LEASE_VERSION_SUFFIX_MAX && memcmp(buf, "k:v-9223372036854775808", n) == 0);
    n = lease_data_key("a\0b", 3, 5, buf); /* binary safe */
    CHECK(n == 6 && memcmp(buf, "a\0b:v5", 6) == 0);

    int64_t v = -1;
    CHECK(lease_parse_version("0", 1, &v) == 0 && v == 0);
    CHECK(lease_parse_version("17", 2, &v) == 0 && v == 17);
    CHECK(lease_parse_version("-3", 2, &v) == 0 && v == -3);
    CHECK(lease_parse_version("9223372036854775807", 19, &v) == 0 && v == INT64_MAX);
    CHECK(lease_parse_version("-9223372036854775808", 20, &v) == 0 && v == INT64_MIN);
    CHECK(lease_parse_version("9223372036854775808", 19, &v) < 0);
    CHECK(lease_parse_version("-9223372036854775809", 20, &v) < 0);
    CHECK(lease_parse_version("", 0, &v) < 0);
    CHECK(lease_parse_version("-", 1, &v) < 0);
    CHECK(lease_parse_version("-0", 2, &v) < 0);
    CHECK(lease_parse_version("017", 3, &v) < 0);
    CHECK(lease_parse_version("1.5", 3, &v) < 0);
    CHECK(lease_parse_version(" 1", 2, &v) < 0);
}

static void test_jitter(void)
{
    uint64_t lo = UINT64_MAX, hi = 0, x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t t = lease_ttl_jitter(10000, 20, x);
        CHECK(t >= 8000 && t <= 10000);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    CHECK(lo == 8000 && hi == 10000); /* both ends are reachable */
    CHECK(lease_ttl_jitter(10000, 0, 12345) == 10000);
    CHECK(lease_ttl_jitter(10000, 100, 10000) == 1); /* never 0: PX 0 is an error */
    CHECK(lease_ttl_jitter(10000, 250, 0) == 10000); /* pct capped at 100 */
    CHECK(lease_ttl_jitter(1, 50, 7) == 1);
    CHECK(lease_ttl_jitter(UINT64_MAX, 100, UINT64_MAX) >= 1);
}

static int rejects(void (*tweak)(invq_reader_options *), int want, const char *needle)
{
    invq_reader_options o;
    invq_reader *r = (invq_reader *)1;
    char err[256] = "";
    invq_reader_options_init(&o);
    tweak(&o);
    int rc = invq_reader_new(&o, &r, err, sizeof(err));
    printf("# rejected (%d): %s\n", rc, err);
    return rc == want && r == NULL && strstr(err, needle) != NULL;
}

static void bad_jitter(invq_reader_options *o) { o->jitter_pct = 101; }
static void bad_neg_jitter(invq_reader_options *o) { o->jitter_pct = -1; }
static void bad_lease(invq_reader_options *o) { o->lease_ttl_ms = 0; }
static void bad_poll(invq_reader_options *o) { o->wait_poll_min_ms = 10; o->wait_poll_max_ms = 5; }
static void bad_wait(invq_reader_options *o) { o->wait_timeout_ms = -1; }
static void bad_policy(invq_reader_options *o) { o->on_wait_timeout = (invq_wait_policy)7; }
static void bad_timeout(invq_reader_options *o) { o->command_timeout_ms = -5; }
static void bad_url(invq_reader_options *o) { o->url = "redis://host:99999"; }
static void bad_scheme(invq_reader_options *o) { o->url = "http://host"; }
static void cluster_url(invq_reader_options *o) { o->url = "redis-cluster://127.0.0.1:7000/3"; }

static void test_options(void)
{
    invq_reader_options o;
    invq_reader_options_init(&o);
    CHECK(strcmp(o.url, "redis://127.0.0.1:6379") == 0);
    CHECK(o.connect_timeout_ms == 500 && o.command_timeout_ms == 250 && o.down_retry_ms == 1000);
    CHECK(o.max_idle_connections == 16 && o.ttl_ms == 0 && o.jitter_pct == 10 && o.negative_ttl_ms == 0);
    CHECK(o.lease_ttl_ms == 5000 && o.wait_timeout_ms == 1000 && o.wait_poll_min_ms == 1 &&
          o.wait_poll_max_ms == 16 && o.on_wait_timeout == INVQ_WAIT_LOAD);

    CHECK(rejects(bad_jitter, INVQ_EINVAL, "jitter_pct"));
    CHECK(rejects(bad_neg_jitter, INVQ_EINVAL, "jitter_pct"));
    CHECK(rejects(bad_lease, INVQ_EINVAL, "lease_ttl_ms"));
    CHECK(rejects(bad_poll, INVQ_EINVAL, "wait_poll_min_ms"));
    CHECK(rejects(bad_wait, INVQ_EINVAL, "wait_timeout_ms"));
    CHECK(rejects(bad_policy, INVQ_EINVAL, "on_wait_timeout"));
    CHECK(rejects(bad_timeout, INVQ_EINVAL, "timeouts"));
    CHECK(rejects(bad_url, INVQ_EURL, "99999"));
    CHECK(rejects(bad_scheme, INVQ_EURL, "http"));
    CHECK(rejects(cluster_url, INVQ_EURL, "")); /* a cluster has only database 0 */

    char err[64];
    CHECK(invq_reader_new(NULL, NULL, err, sizeof(err)) == INVQ_EINVAL);
    invq_reader *r = (invq_reader *)1;
    CHECK(invq_reader_new(NULL, &r, err, sizeof(err)) == INVQ_EINVAL && r == NULL);
    invq_reader_free(NULL);
    invq_value_free(NULL);
}

static void test_policy(void)
{
    invq_reader_options o;
    reader_config c;
    reader_policy p;
    invq_read_opts ro;
    char err[256];

    invq_reader_options_init(&o);
    o.ttl_ms = 60000;
    o.jitter_pct = 15;
    o.negative_ttl_ms = 2000;
    CHECK(reader_config_init(&c, &o, err, sizeof(err)) == 0);

    /* the reader's defaults */
    CHECK(reader_policy_resolve(&c, "k", 1, NULL, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 60000 && p.jitter_pct == 15 && p.negative_ttl_ms == 2000 && p.lease_ttl_ms == 5000);
    CHECK(p.wait_timeout_ms == 1000 && p.on_wait_timeout == INVQ_WAIT_LOAD && p.version_key == NULL);
    reader_policy_deinit(&p);

    /* "inherit" everywhere is the same */
    invq_read_opts_init(&ro);
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 60000 && p.jitter_pct == 15 && p.negative_ttl_ms == 2000);
    reader_policy_deinit(&p);

    /* each field overrides on its own; 0 turns negative caching off */
    ro.ttl_ms = 1000;
    ro.jitter_pct = 0;
    ro.negative_ttl_ms = 0;
    ro.lease_ttl_ms = 300;
    ro.wait_timeout_ms = 0;
    ro.on_wait_timeout = INVQ_WAIT_FAIL;
    ro.version_key = "ver:user:42";
    CHECK(reader_policy_resolve(&c, "user:42", 7, &ro, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 1000 && p.jitter_pct == 0 && p.negative_ttl_ms == 0 && p.lease_ttl_ms == 300);
    CHECK(p.wait_timeout_ms == 0 && p.on_wait_timeout == INVQ_WAIT_FAIL);
    CHECK(p.version_key_len == 11 && memcmp(p.version_key, "ver:user:42", 11) == 0);
    reader_policy_deinit(&p);

    ro.version_key = "ver\0bin";
    ro.version_key_len = 7;
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == 0 && p.version_key_len == 7);
    reader_policy_deinit(&p);

    invq_read_opts_init(&ro);
    ro.jitter_pct = 101;
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == INVQ_EINVAL && strstr(err, "jitter_pct"));
    invq_read_opts_init(&ro);
    ro.on_wait_timeout = 5;
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == INVQ_EINVAL &&
          strstr(err, "on_wait_timeout"));
    invq_read_opts_init(&ro);
    ro.version_key = "";
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == INVQ_EINVAL && strstr(err, "version_key"));
    reader_config_deinit(&c);

    /* no TTL from any source: refused, naming both places to set one */
    invq_reader_options_init(&o);
    CHECK(reader_config_init(&c, &o, err, sizeof(err)) == 0);
    CHECK(reader_policy_resolve(&c, "k", 1, NULL, &p, err, sizeof(err)) == INVQ_EINVAL);
    printf("# %s\n", err);
    CHECK(strstr(err, "invq_reader_options.ttl_ms") && strstr(err, "invq_read_opts.ttl_ms"));
    invq_read_opts_init(&ro);
    ro.ttl_ms = 5;
    CHECK(reader_policy_resolve(&c, "k", 1, &ro, &p, err, sizeof(err)) == 0 && p.ttl_ms == 5);
    reader_policy_deinit(&p);
    reader_config_deinit(&c);
}

static int never_called(void *user, const void *key, size_t keylen, invq_loaded *out)
{
    (void)key;
    (void)keylen;
    (void)out;
    (*(int *)user)++;
    return 0;
}

/* Argument errors are answered before any Redis traffic (the URL points
 * nowhere that could answer). */
static void test_get_args(void)
{
    invq_reader_options o;
    invq_reader *r;
    char err[256];
    int calls = 0;
    void *v = (void *)1;
    size_t n = 9;
    invq_reader_options_init(&o);
    o.url = "unix:///nonexistent/invq-reader-unit.sock";
    CHECK(invq_reader_new(&o, &r, err, sizeof(err)) == 0);

    CHECK(invq_reader_get(r, "k", 1, NULL, never_called, &calls, &v, &n) == INVQ_EINVAL); /* no TTL */
    CHECK(v == NULL && n == 0 && calls == 0);
    invq_reader_errstr(r, err, sizeof(err));
    CHECK(strstr(err, "ttl_ms") != NULL);
    CHECK(invq_reader_get(r, "k", 0, NULL, never_called, &calls, &v, &n) == INVQ_EINVAL);
    CHECK(invq_reader_get(r, NULL, 1, NULL, never_called, &calls, &v, &n) == INVQ_EINVAL);
    CHECK(invq_reader_get(r, "k", 1, NULL, NULL, &calls, &v, &n) == INVQ_EINVAL);
    CHECK(invq_reader_get(r, "k", 1, NULL, never_called, &calls, NULL, &n) == INVQ_EINVAL);
    CHECK(invq_reader_get(NULL, "k", 1, NULL, never_called, &calls, &v, &n) == INVQ_EINVAL);
    CHECK(calls == 0);
    invq_reader_stats st;
    invq_reader_stats_get(r, &st);
    CHECK(st.hits + st.misses + st.loads + st.errors + st.fallbacks == 0);
    invq_reader_free(r);

    CHECK(invq_loaded_set(NULL, "x", 1) == INVQ_EINVAL);
    CHECK(strstr(invq_strerror(INVQ_NOTFOUND), "no such row") != NULL);
    CHECK(strstr(invq_strerror(INVQ_EWAIT), "lease") != NULL);
}

/* A families file in a temp dir; returns its path (a static buffer). */
static const char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/invq-reader-unit-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
    return path;
}

/* resolve() with a families file: 0 or the code, err printed. */
static int resolve(const reader_config *c, const char *key, size_t len, const invq_read_opts *ro, reader_policy *p,
                   char *err, size_t errlen)
{
    int rc = reader_policy_resolve(c, key, len ? len : strlen(key), ro, p, err, errlen);
    if (rc < 0)
        printf("# %s: %d: %s\n", key, rc, err);
    return rc;
}

/* With tests/producer/reader_families.ini (path). */
static void test_policy_families(const char *path)
{
    invq_reader_options o;
    reader_config c;
    reader_policy p;
    invq_read_opts ro;
    char err[512];

    invq_reader_options_init(&o);
    o.ttl_ms = 60000;
    o.jitter_pct = 15;
    o.negative_ttl_ms = 2000;
    o.lease_ttl_ms = 4000;
    o.families = path;
    CHECK(reader_config_init(&c, &o, err, sizeof(err)) == 0);

    /* the class's fields replace the reader's, each one */
    CHECK(resolve(&c, "price:A-1", 0, NULL, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 30000 && p.jitter_pct == 20 && p.negative_ttl_ms == 5000 && p.lease_ttl_ms == 20000);
    CHECK(p.wait_timeout_ms == 1000 && p.version_key == NULL); /* not a class field: the reader's */
    reader_policy_deinit(&p);

    /* absent jitter is 0 %, absent negative_ttl is no negative caching (not the reader's 2 s), absent
     * lease_ttl is the file's 5 s; a versioned family gives the key's version key */
    CHECK(resolve(&c, "user:42", 0, NULL, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 90000 && p.jitter_pct == 0 && p.negative_ttl_ms == 0 && p.lease_ttl_ms == 5000);
    CHECK(p.version_key_len == 11 && memcmp(p.version_key, "ver:user:42", 11) == 0);
    reader_policy_deinit(&p);
    CHECK(resolve(&c, "user:7:profile", 0, NULL, &p, err, sizeof(err)) == 0);
    CHECK(p.version_key_len == 10 && memcmp(p.version_key, "ver:user:7", 10) == 0);
    reader_policy_deinit(&p);

    /* binary placeholder values: matched and copied byte for byte */
    CHECK(resolve(&c, "user:\x00\xff", 7, NULL, &p, err, sizeof(err)) == 0);
    CHECK(p.version_key_len == 11 && memcmp(p.version_key, "ver:user:\x00\xff", 11) == 0);
    reader_policy_deinit(&p);

    /* the call's fields win over the class's */
    invq_read_opts_init(&ro);
    ro.ttl_ms = 5;
    ro.jitter_pct = 1;
    ro.negative_ttl_ms = 7;
    ro.lease_ttl_ms = 9;
    ro.version_key = "ver:mine";
    ro.family = "user";
    CHECK(resolve(&c, "user:42", 0, &ro, &p, err, sizeof(err)) == 0);
    CHECK(p.ttl_ms == 5 && p.jitter_pct == 1 && p.negative_ttl_ms == 7 && p.lease_ttl_ms == 9);
    CHECK(p.version_key_len == 8 && memcmp(p.version_key, "ver:mine", 8) == 0);
    reader_policy_deinit(&p);

    /* refusals, each naming the key and what to do */
    invq_read_opts_init(&ro);
    ro.ttl_ms = 1000; /* a TTL for the call does not make a key of no family cacheable */
    CHECK(resolve(&c, "session:1", 0, &ro, &p, err, sizeof(err)) == INVQ_EFAMILY);
    CHECK(strstr(err, "'session:1' belongs to no family of ") && strstr(err, path));
    CHECK(resolve(&c, "session:\x01", 9, NULL, &p, err, sizeof(err)) == INVQ_EFAMILY && strstr(err, "session:\\x01"));
    CHECK(resolve(&c, "ver:user:42", 0, NULL, &p, err, sizeof(err)) == INVQ_EFAMILY);
    CHECK(strstr(err, "version key of family 'user'"));
    CHECK(resolve(&c, "user:42:v3", 0, NULL, &p, err, sizeof(err)) == INVQ_EFAMILY);
    CHECK(strstr(err, "data key of versioned family 'user'") && strstr(err, ":v3"));
    ro.family = "price";
    CHECK(resolve(&c, "user:42", 0, &ro, &p, err, sizeof(err)) == INVQ_EFAMILY);
    CHECK(strstr(err, "belongs to family 'user', not to family 'price'"));
    ro.family = "nope";
    CHECK(resolve(&c, "user:42", 0, &ro, &p, err, sizeof(err)) == INVQ_EFAMILY && strstr(err, "'nope' is not in"));
    ro.family = "price";
    CHECK(resolve(&c, "price:1", 0, &ro, &p, err, sizeof(err)) == 0 && p.ttl_ms == 1000);
    reader_policy_deinit(&p);
    reader_config_deinit(&c);

    /* a family asked for without a families file */
    invq_reader_options_init(&o);
    o.ttl_ms = 1000;
    CHECK(reader_config_init(&c, &o, err, sizeof(err)) == 0);
    ro.family = "user";
    CHECK(resolve(&c, "user:1", 0, &ro, &p, err, sizeof(err)) == INVQ_EINVAL && strstr(err, "needs a families file"));
    reader_config_deinit(&c);

    /* a bad file fails the reader with every problem, FILE:LINE: message */
    const char *bad = write_file("[class c]\nttl = 10x\n[family f]\nkeys = a:{id}\nclass = nope\n");
    invq_reader_options_init(&o);
    o.families = bad;
    invq_reader *r = (invq_reader *)1;
    CHECK(invq_reader_new(&o, &r, err, sizeof(err)) == INVQ_EINVAL && r == NULL);
    printf("# bad file:\n%s\n", err);
    char want[128];
    snprintf(want, sizeof(want), "%s:2: ", bad);
    CHECK(strstr(err, want) && strstr(err, "\n") && strstr(err, ":5: "));
    o.families = "/nonexistent/families.ini";
    CHECK(invq_reader_new(&o, &r, err, sizeof(err)) == INVQ_EINVAL && strstr(err, "/nonexistent/families.ini"));
    unlink(bad);

    /* a refused get sends nothing and never calls the loader (the URL points nowhere) */
    invq_reader_options_init(&o);
    o.url = "unix:///nonexistent/invq-reader-unit.sock";
    o.families = path;
    CHECK(invq_reader_new(&o, &r, err, sizeof(err)) == 0);
    int calls = 0;
    void *v = (void *)1;
    size_t n = 9;
    CHECK(invq_reader_get(r, "session:1", 9, NULL, never_called, &calls, &v, &n) == INVQ_EFAMILY);
    CHECK(v == NULL && n == 0 && calls == 0);
    invq_reader_errstr(r, err, sizeof(err));
    CHECK(strstr(err, "belongs to no family"));
    invq_reader_stats st;
    invq_reader_stats_get(r, &st);
    CHECK(st.hits + st.misses + st.loads + st.errors + st.fallbacks == 0);
    invq_reader_free(r);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2); /* tests/producer/reader_families.ini */
    test_classify();
    test_keys();
    test_jitter();
    test_options();
    test_policy();
    test_get_args();
    test_policy_families(argv[1]);
    printf("reader_unit: ok\n");
    return 0;
}
