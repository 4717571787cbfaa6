/* Unit test of Redis URL parsing: every accepted form (plain, TLS with
 * redis-py's ssl_* parameters, Sentinel), and bad URLs rejected with a
 * message that names the problem, including parts given twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "redis_url.h"
#include "tcheck.h"


static int streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void ok(const char *url, const char *host, int port, const char *path, const char *user,
               const char *pass, int db)
{
    redis_url u;
    char err[256] = "";
    int rc = redis_url_parse(url, &u, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", url, err);
    CHECK(rc == 0);
    CHECK(streq(u.host, host));
    CHECK(u.port == port);
    CHECK(streq(u.path, path));
    CHECK(streq(u.user, user));
    CHECK(streq(u.password, pass));
    CHECK(u.db == db);
    redis_url_deinit(&u);
}

static void bad(const char *url, const char *fragment)
{
    redis_url u;
    char err[256] = "";
    int rc = redis_url_parse(url, &u, err, sizeof(err));
    if (rc != INVQ_EURL || !strstr(err, fragment))
        fprintf(stderr, "%s: rc %d, message '%s', wanted '%s'\n", url ? url : "(null)", rc, err, fragment);
    CHECK(rc == INVQ_EURL);
    CHECK(strstr(err, fragment) != NULL);
    CHECK(u.host == NULL && u.path == NULL && u.password == NULL);
}

int main(void)
{
    ok("redis://localhost", "localhost", 6379, NULL, NULL, NULL, 0);
    ok("redis://127.0.0.1:7000", "127.0.0.1", 7000, NULL, NULL, NULL, 0);
    ok("redis://127.0.0.1:7000/3", "127.0.0.1", 7000, NULL, NULL, NULL, 3);
    ok("redis://h/", "h", 6379, NULL, NULL, NULL, 0);
    ok("redis://:s3cret@h:1/2", "h", 1, NULL, NULL, "s3cret", 2);
    ok("redis://alice:s3cret@h", "h", 6379, NULL, "alice", "s3cret", 0);
    ok("redis://alice:p%40ss%3Aw@h", "h", 6379, NULL, "alice", "p@ss:w", 0);
    ok("redis://alice:a@b@h:5", "h", 5, NULL, "alice", "a@b", 0);
    ok("redis://[::1]:6380/1", "::1", 6380, NULL, NULL, NULL, 1);
    ok("redis://h?db=4&password=x", "h", 6379, NULL, NULL, "x", 4);
    ok("unix:///tmp/r.sock", NULL, 0, "/tmp/r.sock", NULL, NULL, 0);
    ok("unix:///tmp/r.sock?db=9", NULL, 0, "/tmp/r.sock", NULL, NULL, 9);
    ok("unix:///tmp/r.sock?db=1&user=bob&password=pw", NULL, 0, "/tmp/r.sock", "bob", "pw", 1);

    bad(NULL, "empty");
    bad("", "empty");
    bad("http://h", "must start with redis://, rediss://, unix://");
    bad("redis://h?ssl_ca_certs=/ca.pem", "needs TLS: use rediss://");
    bad("unix:///s?ssl_cert_reqs=none", "ssl_cert_reqs needs TLS");
    bad("rediss://h?ssl_cert_reqs=optional", "ssl_cert_reqs 'optional' must be required or none");
    bad("rediss://h?ssl_check_hostname=maybe", "ssl_check_hostname 'maybe' must be true or false");
    bad("rediss://h?ssl_cert_reqs=none&ssl_check_hostname=true", "ssl_check_hostname=true needs ssl_cert_reqs=required");
    bad("rediss://h?ssl_keyfile=/k.pem", "ssl_keyfile needs ssl_certfile");
    bad("rediss://h?ssl_ca_certs=/a&ssl_ca_certs=/b", "'ssl_ca_certs' is given twice");
    /* conflicting parts are refused, not resolved silently */
    bad("redis://h/2?db=3", "database twice (in the path /db and the ?db=)");
    bad("redis://h?db=1&db=1", "parameter 'db' is given twice");
    bad("redis://:a@h?password=b", "password twice (before '@' and as ?password=)");
    bad("redis://h?password=a&password=b", "parameter 'password' is given twice");
    bad("redis://u:a@h?user=v", "user twice");
    /* an out-of-range db is named as such, not as "not a number" */
    bad("redis://h/99999999999", "database '99999999999' is out of range 0..2147483647");
    bad("redis://h?db=2147483648", "out of range");
    bad("redis://h/1x", "database '1x' is not a number");
    /* Sentinel */
    bad("redis-sentinel://h:26379", "needs the master's name after '#'");
    bad("redis-sentinel://h:26379#", "needs the master's name after '#'");
    bad("redis://h#mymaster", "only Sentinel URLs take one");
    bad("redis://a:1,b:2", "only redis-sentinel:// and redis-cluster:// URLs take a list");
    /* Redis Cluster */
    bad("redis-cluster://a:1,b:2/3", "a Redis Cluster has only database 0");
    bad("redis-cluster://a:1?db=2", "a Redis Cluster has only database 0");
    bad("redis-cluster://a:1,,b:2", "no host");
    bad("redis-cluster://a:1#m", "only Sentinel URLs take one");
    bad("redis-cluster://a:1?ssl_ca_certs=/ca", "needs TLS");
    bad("redis-cluster://a:1?sentinel_password=x", "need a redis-sentinel:// URL");
    bad("redis-clusterx://a:1", "must start with");
    bad("redis-sentinel://a:1,,b:2#m", "no host");
    bad("redis-sentinel://a:0#m", "port");
    bad("redis://h?sentinel_password=x", "need a redis-sentinel:// URL");
    bad("redis://", "no host");
    bad("redis://:pw@", "no host");
    bad("redis://h:0", "port");
    bad("redis://h:65536", "port");
    bad("redis://h:12ab", "port");
    bad("redis://h/x", "database");
    bad("redis://h/-1", "database");
    bad("redis://user@h", "credentials");
    bad("redis://bob:%zz@h", "%-escape");
    bad("redis://[::1", "IPv6");
    bad("unix://", "absolute socket path");
    bad("unix://relative.sock", "absolute socket path");
    bad("unix:///s?db=x", "database 'x' is not a number");
    bad("unix:///s?color=red", "unknown Redis URL parameter 'color'");
    bad("unix:///s?db", "has no '='");
    bad("unix:///s?user=bob", "no password");

    redis_url u;
    char err[256];

    /* TLS: redis-py's parameter names, verification on by default */
    CHECK(redis_url_parse("rediss://h:6380/1", &u, err, sizeof err) == 0);
    CHECK(u.tls && u.tls_verify && u.tls_check_hostname && u.port == 6380 && u.db == 1 && !u.tls_ca_certs);
    redis_url_deinit(&u);
    CHECK(redis_url_parse("rediss://alice:pw@h?ssl_ca_certs=%2Fetc%2Fca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem"
                          "&ssl_cert_reqs=REQUIRED&ssl_check_hostname=false", &u, err, sizeof err) == 0);
    CHECK(u.tls && u.tls_verify && !u.tls_check_hostname && streq(u.tls_ca_certs, "/etc/ca.pem") &&
          streq(u.tls_certfile, "/c.pem") && streq(u.tls_keyfile, "/k.pem") && streq(u.user, "alice"));
    redis_url_deinit(&u);
    CHECK(redis_url_parse("rediss://h?ssl_cert_reqs=none", &u, err, sizeof err) == 0);
    CHECK(u.tls && !u.tls_verify && !u.tls_check_hostname);
    redis_url_deinit(&u);
    CHECK(redis_url_parse("redis://h", &u, err, sizeof err) == 0 && !u.tls);
    redis_url_deinit(&u);

    /* Sentinel: several sentinels, default port, db, credentials for the master */
    CHECK(redis_url_parse("redis-sentinel://bob:pw@s1,s2:26380,[::1]:7/3?sentinel_password=sp#my%20master", &u, err,
                          sizeof err) == 0);
    CHECK(redis_url_is_sentinel(&u) && !u.tls && streq(u.master_name, "my master") && u.nsentinels == 3);
    CHECK(streq(u.sentinels[0].host, "s1") && u.sentinels[0].port == 26379);
    CHECK(streq(u.sentinels[1].host, "s2") && u.sentinels[1].port == 26380);
    CHECK(streq(u.sentinels[2].host, "::1") && u.sentinels[2].port == 7);
    CHECK(streq(u.user, "bob") && streq(u.password, "pw") && u.db == 3 && streq(u.sentinel_password, "sp"));
    CHECK(u.host == NULL);
    {
        redis_url n;
        char d[200];
        CHECK(redis_url_node(&u, 1, NULL, 0, &n) == 0); /* a sentinel: its own credentials, db 0 */
        CHECK(streq(n.host, "s2") && n.port == 26380 && !n.user && streq(n.password, "sp") && n.db == 0 &&
              !n.require_master);
        redis_url_deinit(&n);
        CHECK(redis_url_node(&u, 0, "127.0.0.9", 6390, &n) == 0); /* the master: the URL's credentials */
        CHECK(streq(n.host, "127.0.0.9") && n.port == 6390 && streq(n.user, "bob") && n.db == 3 && n.require_master);
        redis_url_deinit(&n);
        redis_url_describe(&u, d, sizeof d);
        CHECK(strcmp(d, "redis-sentinel://s1:26379,s2:26380,[::1]:7/3#my master") == 0);
    }
    redis_url_deinit(&u);
    CHECK(redis_url_parse("rediss-sentinel://s1:5000#m?x=1", &u, err, sizeof err) == 0); /* '#' ends the URL */
    CHECK(u.tls && streq(u.master_name, "m?x=1") && u.nsentinels == 1);
    redis_url_deinit(&u);

    /* Redis Cluster: startup nodes, default port, credentials for every node */
    CHECK(redis_url_parse("redis-cluster://bob:p%40w@n1,n2:7001,[::1]:7002/0", &u, err, sizeof err) == 0);
    CHECK(redis_url_is_cluster(&u) && !redis_url_is_sentinel(&u) && !u.tls && u.nnodes == 3);
    CHECK(streq(u.nodes[0].host, "n1") && u.nodes[0].port == 6379);
    CHECK(streq(u.nodes[1].host, "n2") && u.nodes[1].port == 7001);
    CHECK(streq(u.nodes[2].host, "::1") && u.nodes[2].port == 7002);
    CHECK(streq(u.host, "n1") && u.port == 6379 && streq(u.user, "bob") && streq(u.password, "p@w") && u.db == 0);
    {
        redis_url n;
        char d[200];
        CHECK(redis_url_cluster_node(&u, "127.0.0.9", 7005, &n) == 0);
        CHECK(streq(n.host, "127.0.0.9") && n.port == 7005 && streq(n.user, "bob") && streq(n.password, "p@w") &&
              n.db == 0 && !n.require_master && !n.cluster && n.nnodes == 0);
        redis_url_deinit(&n);
        redis_url_describe(&u, d, sizeof d);
        CHECK(strcmp(d, "redis-cluster://n1:6379,n2:7001,[::1]:7002") == 0);
    }
    redis_url_deinit(&u);
    CHECK(redis_url_parse("rediss-cluster://n1:7000?ssl_cert_reqs=none", &u, err, sizeof err) == 0);
    CHECK(u.cluster && u.tls && !u.tls_verify && u.nnodes == 1);
    {
        redis_url n;
        CHECK(redis_url_cluster_node(&u, "n9", 7009, &n) == 0 && n.tls && !n.tls_verify);
        redis_url_deinit(&n);
    }
    redis_url_deinit(&u);

    char buf[128];
    CHECK(redis_url_parse("redis://alice:secret@h:7/2", &u, NULL, 0) == 0);
    redis_url_describe(&u, buf, sizeof(buf));
    CHECK(strcmp(buf, "h:7/2") == 0 && !strstr(buf, "secret"));
    redis_url_deinit(&u);
    CHECK(redis_url_parse("rediss://alice:secret@h:7/2?ssl_ca_certs=/ca", &u, NULL, 0) == 0);
    redis_url_describe(&u, buf, sizeof(buf));
    CHECK(strcmp(buf, "rediss://h:7/2") == 0);
    redis_url_deinit(&u);
    printf("url ok\n");
    return 0;
}
