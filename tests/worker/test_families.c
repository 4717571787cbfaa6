/* invq-worker --families against real Redis servers (a queue server and a
 * separate cache server, so that the cache's command counts are the
 * worker's alone): enforce applies, shadow applies nothing and counts what
 * it would have done and how many of those keys were cached, off applies
 * nothing and counts, a key outside every family or an op its family does
 * not allow dead-letters the whole job with the exact reason, a job's `fam`
 * must hold all its keys, a job with keys of families of different modes
 * treats each key by its own family, and queue keys stay refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famtest.h"
#include "obs_e2e.h"

static const char FAMILIES[] =
    "[class standard]\n"
    "ttl = 10m\n"
    "\n"
    "[family user]\n"
    "keys = user:{id}, user:{id}:profile\n"
    "version_key = ver:user:{id}\n"
    "class = standard\n"
    "ops = del, bump\n"
    "mode = enforce\n"
    "\n"
    "[family cart]\n"
    "keys = cart:{id}\n"
    "class = standard\n"
    "ops = del, expire\n"
    "mode = shadow\n"
    "\n"
    "[family recs]\n"
    "keys = recs:{id}\n"
    "class = standard\n"
    "ops = del\n"
    "mode = off\n";

enum { NUSERS = 10, NCARTS = 20, CACHED_CARTS = 8, NRECS = 5 };

static void fill(redisContext *cc)
{
    for (int i = 1; i <= NUSERS; i++)
        wt_cmd(cc, "SET user:%d u", i);
    wt_cmd(cc, "SET ver:user:1 7");
    for (int i = 1; i <= CACHED_CARTS; i++)
        wt_cmd(cc, "SET cart:%d c", i);
    for (int i = 1; i <= NRECS; i++)
        wt_cmd(cc, "SET recs:%d r", i);
    wt_cmd(cc, "SET session:1 s");
    wt_cmd(cc, "SET session:2 s");
    wt_cmd(cc, "SET user:20 u");
    wt_cmd(cc, "SET user:30 u");
    wt_cmd(cc, "SET user:40 u");
    wt_cmd(cc, "SET user:41 u");
    wt_cmd(cc, "SET user:50 u");
    wt_cmd(cc, "SET cart:50 c");
    wt_cmd(cc, "SET recs:50 r");
    wt_cmd(cc, "CONFIG RESETSTAT");
}

/* Every kind of job; returns how many were pushed. */
static long long push_jobs(redisContext *qc)
{
    char id[32], key[32];
    long long n = 0;
    /* enforce: deleted and bumped */
    for (int i = 1; i <= NUSERS; i++, n++) {
        snprintf(id, sizeof id, "user-%d", i);
        snprintf(key, sizeof key, "user:%d", i);
        ft_push1(qc, id, "user", JOB_OP_DEL, key);
    }
    ft_push1(qc, "bump-1", NULL, JOB_OP_BUMP, "ver:user:1");
    n++;
    /* shadow: 20 would-be deletes, 8 of them cached; one would-be expire */
    for (int i = 1; i <= NCARTS; i++, n++) {
        snprintf(id, sizeof id, "cart-%d", i);
        snprintf(key, sizeof key, "cart:%d", i);
        ft_push1(qc, id, i % 2 ? "cart" : NULL, JOB_OP_DEL, key);
    }
    ft_push1(qc, "cart-expire", "cart", JOB_OP_EXPIRE, "cart:1");
    n++;
    /* off: counted only */
    for (int i = 1; i <= NRECS; i++, n++) {
        snprintf(id, sizeof id, "recs-%d", i);
        snprintf(key, sizeof key, "recs:%d", i);
        ft_push1(qc, id, NULL, JOB_OP_DEL, key);
    }
    /* refused: outside every family, alone and beside an allowed key */
    ft_push1(qc, "outside", NULL, JOB_OP_DEL, "session:1");
    {
        invq_job *j = ft_job("outside-mixed", NULL);
        const char *allowed[] = { "user:20", NULL }, *outside[] = { "session:2", NULL };
        ft_op(j, JOB_OP_DEL, 0, allowed);
        ft_op(j, JOB_OP_DEL, 0, outside);
        ft_push(qc, j);
    }
    /* refused: an op the family does not allow, and del of a version key */
    ft_push1(qc, "op-expire", NULL, JOB_OP_EXPIRE, "user:30");
    ft_push1(qc, "op-version", "user", JOB_OP_DEL, "ver:user:1");
    /* refused: `fam` names another family, or no family of the file */
    ft_push1(qc, "fam-other", "user", JOB_OP_DEL, "cart:1");
    ft_push1(qc, "fam-unknown", "nosuch", JOB_OP_DEL, "user:40");
    {
        invq_job *j = ft_job("fam-partial", "user");
        const char *keys[] = { "user:41", "recs:1", NULL };
        ft_op(j, JOB_OP_DEL, 0, keys);
        ft_push(qc, j);
    }
    /* a key reserved for the queue is refused as without a file */
    ft_push1(qc, "reserved", NULL, JOB_OP_DEL, "invq:{default}:pending");
    n += 8;
    /* one job, three modes: each key as its family says */
    {
        invq_job *j = ft_job("mixed", NULL);
        const char *keys[] = { "user:50", "cart:50", "recs:50", NULL };
        ft_op(j, JOB_OP_DEL, 0, keys);
        ft_push(qc, j);
        n++;
    }
    return n;
}

static void check_cache(redisContext *cc)
{
    char key[32];
    /* the worker's commands first (the checks below send EXISTS too):
     * shadow keys were probed, never deleted; off keys not even probed */
    long long exists = wt_cmdstat_calls(cc, "exists");
    WT_CHECK(exists == NCARTS + 2, "EXISTS calls: %lld, want %d (20 + expire + mixed)", exists, NCARTS + 2);
    WT_CHECK(wt_cmdstat_calls(cc, "pexpire") == 0, "PEXPIRE sent: %lld", wt_cmdstat_calls(cc, "pexpire"));
    WT_CHECK(wt_cmdstat_calls(cc, "incr") == 1, "INCR calls: %lld, want 1", wt_cmdstat_calls(cc, "incr"));
    for (int i = 1; i <= NUSERS; i++) {
        snprintf(key, sizeof key, "user:%d", i);
        WT_CHECK(wt_exists(cc, key) == 0, "enforce: %s not deleted", key);
    }
    WT_CHECK(wt_get_int(cc, "ver:user:1") == 8, "enforce: ver:user:1 = %lld, want 8", wt_get_int(cc, "ver:user:1"));
    for (int i = 1; i <= CACHED_CARTS; i++) {
        snprintf(key, sizeof key, "cart:%d", i);
        WT_CHECK(wt_exists(cc, key) == 1, "shadow: %s was deleted", key);
    }
    WT_CHECK(wt_pttl(cc, "cart:1") == -1, "shadow: cart:1 got a TTL (%lld)", wt_pttl(cc, "cart:1"));
    for (int i = 1; i <= NRECS; i++) {
        snprintf(key, sizeof key, "recs:%d", i);
        WT_CHECK(wt_exists(cc, key) == 1, "off: %s was deleted", key);
    }
    const char *kept[] = { "session:1", "session:2", "user:20", "user:30", "user:40", "user:41", "cart:50", "recs:50" };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        WT_CHECK(wt_exists(cc, kept[i]) == 1, "%s was touched", kept[i]);
    WT_CHECK(wt_exists(cc, "user:50") == 0, "mixed: user:50 (enforce) not deleted");
    WT_CHECK(wt_pttl(cc, "user:30") == -1, "op_not_allowed: user:30 got a TTL");
}

static void check_dead(redisContext *qc)
{
    ft_check_dead(qc, "outside", "key_not_allowed: del session:1");
    ft_check_dead(qc, "outside-mixed", "key_not_allowed: del session:2");
    ft_check_dead(qc, "op-expire", "op_not_allowed: expire user:30: family user allows del, bump");
    ft_check_dead(qc, "op-version", "op_not_allowed: del ver:user:1: family user allows bump");
    ft_check_dead(qc, "fam-other", "key_not_allowed: del cart:1: family cart, not the job's family user");
    ft_check_dead(qc, "fam-unknown", "key_not_allowed: del user:40: family nosuch is not in the families file");
    ft_check_dead(qc, "fam-partial", "key_not_allowed: del recs:1: family recs, not the job's family user");
    ft_check_dead(qc, "reserved", "key_not_allowed: del invq:{default}:pending: reserved for the queue");
    char dead[64];
    WT_CHECK(wt_llen(qc, wt_qkey(dead, sizeof dead, "dead")) == 8, "dead letters: %lld, want 8",
             wt_llen(qc, dead));
    WT_CHECK(wt_stat(qc, "retried") == 0, "retries: %lld", wt_stat(qc, "retried"));
}

static void check_metrics(int port)
{
    /* enforce */
    ft_check_metric(port, "invq_family_keys_total{family=\"user\",op=\"del\",mode=\"enforce\"}", NUSERS + 1);
    ft_check_metric(port, "invq_family_keys_total{family=\"user\",op=\"bump\",mode=\"enforce\"}", 1);
    ft_check_metric(port, "invq_family_jobs_total{family=\"user\",mode=\"enforce\",result=\"done\"}", NUSERS + 2);
    /* shadow: what it would have done, and how much of it was cached */
    ft_check_metric(port, "invq_family_keys_total{family=\"cart\",op=\"del\",mode=\"shadow\"}", NCARTS + 1);
    ft_check_metric(port, "invq_family_shadow_hits_total{family=\"cart\",op=\"del\"}", CACHED_CARTS + 1);
    ft_check_metric(port, "invq_family_keys_total{family=\"cart\",op=\"expire\",mode=\"shadow\"}", 1);
    ft_check_metric(port, "invq_family_shadow_hits_total{family=\"cart\",op=\"expire\"}", 1);
    ft_check_metric(port, "invq_family_jobs_total{family=\"cart\",mode=\"shadow\",result=\"done\"}", NCARTS + 2);
    ft_check_metric(port, "invq_family_shadow_errors_total{family=\"cart\"}", 0);
    /* off */
    ft_check_metric(port, "invq_family_keys_total{family=\"recs\",op=\"del\",mode=\"off\"}", NRECS + 1);
    ft_check_metric(port, "invq_family_jobs_total{family=\"recs\",mode=\"off\",result=\"done\"}", NRECS + 1);
    /* refusals by the refused key's family */
    ft_check_metric(port, "invq_family_refused_total{family=\"(none)\",reason=\"key_not_allowed\"}", 3);
    ft_check_metric(port, "invq_family_refused_total{family=\"user\",reason=\"op_not_allowed\"}", 2);
    ft_check_metric(port, "invq_family_refused_total{family=\"cart\",reason=\"key_not_allowed\"}", 1);
    ft_check_metric(port, "invq_family_refused_total{family=\"recs\",reason=\"key_not_allowed\"}", 1);
    ft_check_metric(port, "invq_family_lag_seconds_count{family=\"cart\"}", NCARTS + 2);
    ft_check_metric(port, "invq_dead_letters_total{reason=\"key_not_allowed\"}", 6);
    ft_check_metric(port, "invq_dead_letters_total{reason=\"op_not_allowed\"}", 2);
    /* only applied keys count as invalidated */
    ft_check_metric(port, "invq_keys_invalidated_total{op=\"del\"}", NUSERS + 1);
    ft_check_metric(port, "invq_families_declared", 3);
    ft_check_metric(port, "invq_families_reloads_total{result=\"ok\"}", 0);
}

int main(void)
{
    wt_pair p;
    char path[600];
    wt_worker_path();
    wt_pair_start(&p, NULL, NULL);
    int port = e2e_free_port();
    WT_CHECK(port > 0, "no free port");
    ft_write(rfix_dir(p.queue), "families.ini", FAMILIES, path, sizeof path);
    fill(p.cc);
    long long n = push_jobs(p.qc);
    const char *extra[] = { "--consumers", "2", "--batch", "16", NULL };
    wt_proc *w = ft_worker(rfix_url(p.queue), rfix_url(p.cache), path, port, p.log, extra);
    ft_wait_settled(p.qc, n);
    check_cache(p.cc);
    check_dead(p.qc);
    check_metrics(port);
    wt_note("ok %lld jobs: enforce applied, shadow probed %d keys (%d cached), off counted, 8 refused exactly", n,
            NCARTS + 2, CACHED_CARTS + 2);
    wt_worker_stop(w);
    wt_pair_stop(&p);
    return 0;
}
