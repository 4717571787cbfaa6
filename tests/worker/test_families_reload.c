/* SIGHUP reloads the families file: a good file's policy applies to the
 * batches fetched after it (a shadow family turned enforce is deleted from
 * then on), a file with problems keeps the old policy, logs every problem
 * on a line of its own and leaves /readyz ready, and the loaded file's
 * identity (SHA-256) and the reload counters are in /metrics. Then SIGHUP
 * twenty times while batches are in flight (cache replies delayed by the
 * fault proxy): nothing is lost, no job is dead-lettered, and every key
 * was handled by exactly one policy's mode (a batch planned with the old
 * file settles with it; ASan and valgrind watch the old file being freed). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "famtest.h"
#include "faultproxy.h"
#include "obs_e2e.h"

#define HEAD                                                                                                       \
    "[class standard]\n"                                                                                           \
    "ttl = 10m\n"                                                                                                  \
    "\n"                                                                                                           \
    "[family user]\n"                                                                                              \
    "keys = user:{id}\n"                                                                                           \
    "class = standard\n"                                                                                           \
    "ops = del\n"                                                                                                  \
    "\n"                                                                                                           \
    "[family cart]\n"                                                                                              \
    "keys = cart:{id}\n"                                                                                           \
    "class = standard\n"

static const char SHADOW[] = HEAD "mode = shadow\n";
static const char ENFORCE[] = HEAD "mode = enforce\n";
/* Two problems, on lines 7 and 8. */
static const char BAD[] = "[class standard]\n"
                          "ttl = 10m\n"
                          "\n"
                          "[family user]\n"
                          "keys = user:{id}\n"
                          "class = standard\n"
                          "mode = enforced\n"
                          "colour = blue\n";

#define RELOADED "families file reloaded"
#define PROBLEM "families file problem: the loaded file stays"

static void sha256_hex(const char *text, char out[65])
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(text), (const uint8_t *)text);
    sha256_digest(&ctx, sizeof d, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

typedef struct log_wait {
    const char *path;
    const char *needle;
    size_t want;
} log_wait;

static bool logged(void *ctx)
{
    const log_wait *l = ctx;
    return ft_count_lines(l->path, l->needle) >= l->want;
}

static void wait_logged(const char *path, const char *needle, size_t want)
{
    log_wait l = { path, needle, want };
    WT_CHECK(wt_wait_for(logged, &l, WT_DEADLINE_MS), "the log has %zu lines with \"%s\", want %zu",
             ft_count_lines(path, needle), needle, want);
}

static void check_loaded(int port, const char *path, const char *text)
{
    char sha[65], series[900];
    sha256_hex(text, sha);
    snprintf(series, sizeof series, "invq_families_info{path=\"%s\",sha256=\"%s\"}", path, sha);
    ft_check_metric(port, series, 1);
}

/* One del job on a cached key, settled; returns whether the key is gone. */
static bool deleted(redisContext *c, const char *key, long long *jobs)
{
    wt_cmd(c, "SET %s cached", key);
    ft_push1(c, key, NULL, JOB_OP_DEL, key);
    ft_wait_settled(c, ++*jobs);
    return wt_exists(c, key) == 0;
}

static void test_reload(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512], path[600];
    long long jobs = 0;
    snprintf(log, sizeof log, "%s/reload.log", rfix_dir(srv));
    wt_set_log(log);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    ft_write(rfix_dir(srv), "families.ini", SHADOW, path, sizeof path);
    wt_proc *w = ft_worker(rfix_url(srv), NULL, path, port, log, NULL);
    check_loaded(port, path, SHADOW);
    WT_CHECK(!deleted(c, "cart:1", &jobs), "shadow: cart:1 deleted");

    /* a good file: the batches after it follow it */
    ft_write(rfix_dir(srv), "families.ini", ENFORCE, path, sizeof path);
    WT_CHECK(wt_proc_signal(w, SIGHUP) == 0, "SIGHUP");
    wait_logged(log, RELOADED, 1);
    WT_CHECK(ft_count_lines(log, "families: mode changed\",\"family\":\"cart\",\"from\":\"shadow\",\"to\":\"enforce\"") == 1,
             "the mode change is not logged");
    WT_CHECK(deleted(c, "cart:2", &jobs), "after the reload to enforce: cart:2 kept");
    check_loaded(port, path, ENFORCE);
    ft_check_metric(port, "invq_families_reloads_total{result=\"ok\"}", 1);
    ft_check_metric(port, "invq_families_last_reload_success", 1);

    /* a bad file: every problem logged, the old policy stays, still ready */
    ft_write(rfix_dir(srv), "families.ini", BAD, path, sizeof path);
    WT_CHECK(wt_proc_signal(w, SIGHUP) == 0, "SIGHUP");
    wait_logged(log, "reload failed: the running configuration stays", 1);
    WT_CHECK(ft_count_lines(log, PROBLEM) == 2, "problem lines: %zu, want 2", ft_count_lines(log, PROBLEM));
    WT_CHECK(ft_count_lines(log, "families.ini:7: mode: \\\"enforced\\\" is not a mode (off, shadow or enforce)") == 1,
             "the problem of line 7 is not logged");
    WT_CHECK(ft_count_lines(log, "families.ini:8: unknown field 'colour' in [family user]") == 1,
             "the problem of line 8 is not logged");
    WT_CHECK(ft_count_lines(log, "2 problems; the loaded file stays") == 1, "the summary is not logged");
    char body[256];
    WT_CHECK(e2e_get(port, "/readyz", body, sizeof body, 5000) == 200, "/readyz after a bad reload: %s", body);
    ft_check_metric(port, "invq_families_reloads_total{result=\"failed\"}", 1);
    ft_check_metric(port, "invq_families_last_reload_success", 0);
    check_loaded(port, path, ENFORCE);
    WT_CHECK(deleted(c, "cart:3", &jobs), "after a bad reload: the old policy (enforce) is gone");

    /* good again */
    ft_write(rfix_dir(srv), "families.ini", SHADOW, path, sizeof path);
    WT_CHECK(wt_proc_signal(w, SIGHUP) == 0, "SIGHUP");
    wait_logged(log, RELOADED, 2);
    WT_CHECK(!deleted(c, "cart:4", &jobs), "back to shadow: cart:4 deleted");
    ft_check_metric(port, "invq_families_reloads_total{result=\"ok\"}", 2);
    ft_check_metric(port, "invq_families_last_reload_success", 1);
    ft_check_metric(port, "invq_family_keys_total{family=\"cart\",op=\"del\",mode=\"shadow\"}", 2);
    ft_check_metric(port, "invq_family_keys_total{family=\"cart\",op=\"del\",mode=\"enforce\"}", 2);
    WT_CHECK(wt_stat(c, "dead") == 0, "dead letters: %lld", wt_stat(c, "dead"));
    wt_worker_stop(w);
    wt_note("ok reload: good file applied to the next batch, bad file kept the old one (2 problems logged), ready");
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

enum { NFLIGHT = 3000, NHUPS = 20 };

static void test_inflight(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *c = wt_connect(srv);
    char log[512], path[600], key[32];
    faultproxy *proxy = NULL;
    snprintf(log, sizeof log, "%s/inflight.log", rfix_dir(srv));
    wt_set_log(log);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    ft_write(rfix_dir(srv), "families.ini", SHADOW, path, sizeof path);
    for (int i = 0; i < NFLIGHT; i++) {
        snprintf(key, sizeof key, "%s:%d", i % 2 ? "cart" : "user", i);
        wt_cmd(c, "SET %s x", key);
        ft_push1(c, key, NULL, JOB_OP_DEL, key);
    }
    WT_CHECK(faultproxy_new(&proxy, rfix_socket(srv), NULL, 0) == 0, "proxy");
    faultproxy_set_delay(proxy, 30);
    const char *extra[] = { "--batch", "50", "--consumers", "2", NULL };
    wt_proc *w = ft_worker(rfix_url(srv), faultproxy_url(proxy), path, port, log, extra);
    for (int i = 1; i <= NHUPS; i++) {
        ft_write(rfix_dir(srv), "families.ini", i % 2 ? ENFORCE : SHADOW, path, sizeof path);
        WT_CHECK(wt_proc_signal(w, SIGHUP) == 0, "SIGHUP %d", i);
        wait_logged(log, RELOADED, (size_t)i);
    }
    long long done_at_last_hup = wt_stat(c, "done");
    ft_wait_settled(c, NFLIGHT);
    WT_CHECK(wt_proc_running(w), "the worker died");
    long long users = wt_count_keys(c, "user:*"), carts = wt_count_keys(c, "cart:*");
    double shadow = ft_metric(port, "invq_family_keys_total{family=\"cart\",op=\"del\",mode=\"shadow\"}");
    double enforce = ft_metric(port, "invq_family_keys_total{family=\"cart\",op=\"del\",mode=\"enforce\"}");
    double jshadow = ft_metric(port, "invq_family_jobs_total{family=\"cart\",mode=\"shadow\",result=\"done\"}");
    double jenforce = ft_metric(port, "invq_family_jobs_total{family=\"cart\",mode=\"enforce\",result=\"done\"}");
    wt_note("%d SIGHUPs with batches in flight (%lld of %d jobs done at the last one): cart keys shadowed %.0f, "
            "deleted %.0f",
            NHUPS, done_at_last_hup, NFLIGHT, shadow, enforce);
    WT_CHECK(users == 0, "%lld user keys left (enforced in every file)", users);
    WT_CHECK(shadow + enforce == NFLIGHT / 2 && jshadow + jenforce == NFLIGHT / 2,
             "cart keys counted %.0f + %.0f, jobs %.0f + %.0f: want %d, each under one mode", shadow, enforce,
             jshadow, jenforce, NFLIGHT / 2);
    WT_CHECK(carts == (long long)shadow, "%lld cart keys left, %.0f shadowed: a key was applied by another mode",
             carts, shadow);
    WT_CHECK(wt_stat(c, "dead") == 0 && wt_stat(c, "retried") == 0, "dead %lld, retried %lld", wt_stat(c, "dead"),
             wt_stat(c, "retried"));
    WT_CHECK(done_at_last_hup < NFLIGHT, "everything was done before the reloads: nothing tested");
    ft_check_metric(port, "invq_families_reloads_total{result=\"ok\"}", NHUPS);
    wt_worker_stop(w);
    faultproxy_free(proxy);
    redisFree(c);
    wt_set_log(NULL);
    wt_server_free(srv);
}

int main(void)
{
    wt_worker_path();
    test_reload();
    test_inflight();
    return 0;
}
