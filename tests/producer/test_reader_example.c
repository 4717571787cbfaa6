/* producer/examples/cache_aside (the README's end-to-end example) against a
 * real redis-server and invq-worker, SQLite as the source of truth: a miss
 * loads and fills, a hit does not touch the database, a rename commits and
 * invalidates and the next get reads the new name, a missing row is cached
 * as a negative entry, and with the cache unreachable the database answers. */
#include <string.h>
#include <unistd.h>

#include "rtest.h"

static const char *example;
static char db[512], url[512];

/* Runs the example with args, output into log; requires exit 0. */
static void run(const char *log, const char *a, const char *b, const char *c)
{
    const char *argv[] = { example, db, url, a, b, c, NULL };
    unlink(log);
    int st = wt_run(example, argv, NULL, log, WT_DEADLINE_MS);
    if (st != 0)
        wt_file_dump(log);
    WT_CHECK(st == 0, "cache_aside %s %s: wait status %d", a, b ? b : "", st);
}

int main(void)
{
    wt_pair pr;
    char log[600];
    example = getenv("INVQ_TEST_CACHE_ASIDE");
    if (!example || !*example) {
        printf("# INVQ_TEST_CACHE_ASIDE is not set (built without SQLite): skipping\n");
        return 77;
    }
    wt_pair_start(&pr, NULL, NULL);
    wt_proc *w = wt_worker_start(rfix_url(pr.queue), rfix_url(pr.cache), pr.log, NULL);
    WT_CHECK(w != NULL, "worker did not start");
    snprintf(db, sizeof(db), "%s/users.sqlite", rfix_dir(pr.cache));
    snprintf(log, sizeof(log), "%s/example.log", rfix_dir(pr.cache));
    snprintf(url, sizeof(url), "%s", rfix_url(pr.cache));

    run(log, "init", NULL, NULL);
    run(log, "get", "42", NULL);
    WT_CHECK(wt_file_contains(log, "ada\n") && wt_file_contains(log, "misses=1 loads=1 fills=1"), "miss, load, fill");
    char *raw = rtest_raw_get(pr.cc, "user:42", NULL);
    WT_CHECK(raw && strcmp(raw, "ada") == 0, "user:42 cached");
    free(raw);
    run(log, "get", "42", NULL);
    WT_CHECK(wt_file_contains(log, "ada\n") && wt_file_contains(log, "hits=1 misses=0 loads=0"), "a hit");

    /* the writer renames: the queue carries the delete, the worker applies it */
    snprintf(url, sizeof(url), "%s", rfix_url(pr.queue));
    run(log, "rename", "42", "grace");
    WT_CHECK(wt_wait_gone(pr.cc, "user:42", WT_DEADLINE_MS), "user:42 never invalidated");
    snprintf(url, sizeof(url), "%s", rfix_url(pr.cache));
    run(log, "get", "42", NULL);
    WT_CHECK(wt_file_contains(log, "grace\n") && wt_file_contains(log, "loads=1"), "the new name");

    run(log, "get", "7", NULL);
    WT_CHECK(wt_file_contains(log, "no such user"), "missing row");
    size_t n;
    raw = rtest_raw_get(pr.cc, "user:7", &n);
    WT_CHECK(raw && n == 8 && memcmp(raw, "\0invq:N1", 8) == 0, "negative entry cached");
    free(raw);

    snprintf(url, sizeof(url), "unix://%s/absent.sock", rfix_dir(pr.cache));
    run(log, "get", "42", NULL);
    WT_CHECK(wt_file_contains(log, "grace\n") && wt_file_contains(log, "cache unavailable"), "fallback");

    wt_worker_stop(w);
    wt_pair_stop(&pr);
    printf("reader_example: ok\n");
    return 0;
}
