/* Unit test of Redis URL parsing: every accepted form, and bad URLs
 * rejected with a message that names the problem. */
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
    bad("http://h", "must start with redis:// or unix://");
    bad("rediss://h", "TLS");
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
    bad("unix:///s?db=x", "db");
    bad("unix:///s?color=red", "unknown Redis URL parameter 'color'");
    bad("unix:///s?db", "has no '='");
    bad("unix:///s?user=bob", "no password");

    char buf[128];
    redis_url u;
    CHECK(redis_url_parse("redis://alice:secret@h:7/2", &u, NULL, 0) == 0);
    redis_url_describe(&u, buf, sizeof(buf));
    CHECK(strcmp(buf, "h:7/2") == 0 && !strstr(buf, "secret"));
    redis_url_deinit(&u);
    printf("url ok\n");
    return 0;
}
