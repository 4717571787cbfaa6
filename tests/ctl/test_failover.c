/* invqctl during a failover: a queue Redis that answers READONLY, LOADING,
 * MASTERDOWN or NOREPLICAS (the fault proxy replacing the reply, so the
 * command never reaches the server) makes every command exit 69 ("run it
 * again") with the reason, and changes nothing: `stats` (its LLEN), `dlq
 * requeue` and `dlq purge` (their scripts, EVALSHA and EVAL) leave the
 * dead letter where it was. An error about the command itself (WRONGTYPE)
 * is not a failover: exit 70. Without a rule the same requeue works. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctltest.h"
#include "dead.h"
#include "faultproxy.h"
#include "wtest.h"

/* One dead letter (a valid DEL job) on the queue's dead list. */
static void push_dead(redisContext *qc)
{
    size_t len;
    const char *k[] = { "fo:key" };
    uint8_t *job = wt_job1("fo-1", JOB_OP_DEL, k, 1, 0, &len);
    dead_record rec = { .job = job, .job_len = len, .reason = (char *)"wrong_type: test", .attempts = 1,
                        .first_failed_ms = wt_wall_ms(), .last_failed_ms = wt_wall_ms(),
                        .consumer = (char *)"test", .id = (char *)"fo-1" };
    uint8_t *buf;
    size_t blen;
    WT_CHECK(dead_encode(&rec, &buf, &blen) == 0, "dead_encode");
    char key[128];
    redisReply *r = redisCommand(qc, "LPUSH %s %b", wt_qkey(key, sizeof key, "dead"), buf, blen);
    WT_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "LPUSH dead");
    freeReplyObject(r);
    free(buf);
    free(job);
}

int main(void)
{
    ctl_path();
    rfix *q = wt_server(NULL);
    redisContext *qc = wt_connect(q);
    faultproxy *fp;
    WT_CHECK(faultproxy_new(&fp, rfix_socket(q), NULL, 0) == 0, "proxy");
    const char *url = faultproxy_url(fp);
    const char *dir = rfix_dir(q);
    char out[8192], dead[128], pending[128];
    wt_qkey(dead, sizeof dead, "dead");
    wt_qkey(pending, sizeof pending, "pending");
    push_dead(qc);
    const char *stats[] = { "stats", NULL };
    const char *requeue[] = { "dlq", "requeue", "--all", NULL };
    const char *purge[] = { "dlq", "purge", "--all", "--yes", NULL };
    const char *const *writes[] = { requeue, purge };
    long injected = 0;

    for (size_t i = 0; i < WT_NODE_ERRORS; i++) {
        int name = (int)strcspn(wt_node_errors[i], " ");
        WT_CHECK(faultproxy_fail_next(fp, "LLEN", -1, wt_node_errors[i]) == 0, "rule");
        int rc = ctl_run(dir, url, stats, out, sizeof out);
        WT_CHECK(rc == 69, "stats on %.*s: exit %d, want 69: %s", name, wt_node_errors[i], rc, out);
        WT_CHECK(strstr(out, "run it again") != NULL && strstr(out, wt_node_errors[i]) != NULL,
                 "stats on %.*s: the message does not say so: %s", name, wt_node_errors[i], out);
        faultproxy_clear(fp);
        for (size_t w = 0; w < 2; w++) {
            WT_CHECK(faultproxy_fail_next(fp, "EVALSHA", -1, wt_node_errors[i]) == 0, "rule");
            WT_CHECK(faultproxy_fail_next(fp, "EVAL", -1, wt_node_errors[i]) == 0, "rule");
            rc = ctl_run(dir, url, writes[w], out, sizeof out);
            WT_CHECK(rc == 69, "dlq %s on %.*s: exit %d, want 69: %s", writes[w][1], name, wt_node_errors[i], rc, out);
            WT_CHECK(strstr(out, "run it again") != NULL, "dlq %s on %.*s: the message does not say so: %s",
                     writes[w][1], name, wt_node_errors[i], out);
            WT_CHECK(wt_llen(qc, dead) == 1 && wt_llen(qc, pending) == 0,
                     "dlq %s on %.*s changed the lists: dead %lld, pending %lld", writes[w][1], name,
                     wt_node_errors[i], wt_llen(qc, dead), wt_llen(qc, pending));
            faultproxy_clear(fp);
        }
        WT_CHECK(faultproxy_injected(fp) > injected + 2, "%.*s: the proxy refused nothing", name, wt_node_errors[i]);
        injected = faultproxy_injected(fp);
        wt_note("%.*s: stats, dlq requeue and dlq purge exit 69 and change nothing", name, wt_node_errors[i]);
    }

    /* not a failover: an error about the command */
    WT_CHECK(faultproxy_fail_next(fp, "LLEN", -1, "WRONGTYPE Operation against a key holding the wrong kind of value") ==
                 0, "rule");
    int rc = ctl_run(dir, url, stats, out, sizeof out);
    WT_CHECK(rc == 70, "stats on WRONGTYPE: exit %d, want 70: %s", rc, out);
    WT_CHECK(strstr(out, "run it again") == NULL, "WRONGTYPE called a failover: %s", out);
    faultproxy_clear(fp);

    /* run it again: it works */
    rc = ctl_run(dir, url, requeue, out, sizeof out);
    WT_CHECK(rc == 0, "requeue after the failover: exit %d: %s", rc, out);
    WT_CHECK(wt_llen(qc, dead) == 0 && wt_llen(qc, pending) == 1, "requeue: dead %lld, pending %lld",
             wt_llen(qc, dead), wt_llen(qc, pending));
    wt_note("WRONGTYPE exits 70; the requeue run again moved the entry");

    faultproxy_free(fp);
    redisFree(qc);
    wt_server_free(q);
    printf("ctl failover ok\n");
    return 0;
}
