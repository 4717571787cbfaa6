/* `invqctl consumers` and the consumer data `invqctl stats` shares. */
#include "consumers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "job.h"
#include "output.h"
#include "timefmt.h"

void consumers_free(consumer_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].id);
    free(v);
}

static int load_held(conn *c, consumer_info *v, size_t n, bool with_oldest)
{
    for (size_t i = 0; i < n; i++) {
        char *key = conn_processing_key(c, v[i].id);
        if (!key)
            return CTL_SOFTWARE;
        const char *llen[] = {"LLEN", key};
        const char *lindex[] = {"LINDEX", key, "-1"};
        int rc = conn_append(c, 2, llen, NULL);
        if (rc == 0 && with_oldest)
            rc = conn_append(c, 3, lindex, NULL);
        free(key);
        if (rc < 0)
            return CTL_SOFTWARE;
    }
    job_limits lim;
    job_limits_default(&lim);
    lim.max_payload *= 64;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = conn_reply(c, "LLEN", REDIS_REPLY_INTEGER);
        if (!r) {
            if (c->failure == CTL_UNAVAILABLE)
                return CTL_UNAVAILABLE;
            failed = c->failure;
        } else {
            v[i].held = r->integer;
            freeReplyObject(r);
        }
        if (!with_oldest)
            continue;
        r = conn_reply(c, "LINDEX", -1);
        if (!r) {
            if (c->failure == CTL_UNAVAILABLE)
                return CTL_UNAVAILABLE;
            failed = c->failure;
            continue;
        }
        invq_job *job = NULL;
        job_error err;
        if (r->type == REDIS_REPLY_STRING &&
            job_decode((const uint8_t *)r->str, r->len, &lim, &job, &err) == 0) {
            v[i].has_oldest = true;
            v[i].oldest_ts = job->ts;
            job_free(job);
        }
        freeReplyObject(r);
    }
    return failed;
}

int consumers_load(conn *c, uint64_t now, uint64_t stale_ms, bool with_oldest, consumer_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *argv[] = {"ZRANGE", c->keys.consumers, "0", "-1", "WITHSCORES"};
    redisReply *r = conn_run(c, 5, argv, NULL, REDIS_REPLY_ARRAY);
    if (!r)
        return c->failure;
    size_t cnt = r->elements / 2;
    consumer_info *v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) {
        freeReplyObject(r);
        return CTL_SOFTWARE;
    }
    for (size_t i = 0; i < cnt; i++) {
        redisReply *id = r->element[2 * i], *score = r->element[2 * i + 1];
        if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) {
            fprintf(stderr, "invqctl: redis: ZRANGE %s: unexpected element\n", c->keys.consumers);
            freeReplyObject(r);
            consumers_free(v, cnt);
            return CTL_SOFTWARE;
        }
        v[i].id = strndup(id->str, id->len);
        v[i].heartbeat_ms = (uint64_t)strtod(score->str, NULL);
        v[i].stale = now > v[i].heartbeat_ms && now - v[i].heartbeat_ms > stale_ms;
        if (!v[i].id) {
            freeReplyObject(r);
            consumers_free(v, cnt);
            return CTL_SOFTWARE;
        }
    }
    freeReplyObject(r);
    int rc = load_held(c, v, cnt, with_oldest);
    if (rc) {
        consumers_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

enum { OPT_STALE_MS = 1 };

static int consumers_opt(int id, const char *arg, void *data)
{
    if (id == OPT_STALE_MS)
        return args_uint("--stale-ms", arg, 1, UINT32_MAX, data);
    return CTL_USAGE;
}

static void print_human(const consumer_info *v, size_t n, uint64_t now)
{
    static const char *const headers[] = {"CONSUMER", "STATE", "HEARTBEAT", "HELD", "OLDEST HELD"};
    out_table *t = out_table_new(5, headers);
    if (!t)
        return;
    for (size_t i = 0; i < n; i++) {
        char hb[32], held[24], oldest[32] = "-";
        timefmt_age((int64_t)now - (int64_t)v[i].heartbeat_ms, hb, sizeof hb);
        strcat(hb, " ago");
        snprintf(held, sizeof held, "%lld", v[i].held);
        if (v[i].has_oldest)
            timefmt_age((int64_t)now - (int64_t)v[i].oldest_ts, oldest, sizeof oldest);
        char *id = output_safe_bytes(v[i].id, strlen(v[i].id), 100);
        const char *cells[] = {id, v[i].stale ? "stale" : "live", hb, held, oldest};
        out_table_add(t, cells);
        free(id);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

int cmd_consumers(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl consumers [--stale-ms N] [--json]\n"
        "Lists the registered consumers: live or stale (heartbeat older than\n"
        "--stale-ms, default 15000 like the worker's --reap-after-ms), heartbeat\n"
        "age, jobs held in its processing list and the age of the oldest one.\n";
    static const struct option opts[] = {{"stale-ms", required_argument, NULL, OPT_STALE_MS},
                                         {NULL, 0, NULL, 0}};
    uint64_t stale_ms = CONSUMERS_STALE_MS_DEFAULT;
    int pos;
    int rc = args_parse(argc, argv, "consumers", opts, consumers_opt, &stale_ms, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (pos < argc)
        return args_usage_error("consumers ", "unexpected argument '%s'", argv[pos]);
    conn c;
    if ((rc = conn_open(&c, common)))
        return rc;
    uint64_t now = timefmt_now_ms();
    consumer_info *v;
    size_t n;
    rc = consumers_load(&c, now, stale_ms, true, &v, &n);
    conn_close(&c);
    if (rc)
        return rc;
    if (common->json) {
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "consumer", output_json_bytes(v[i].id, strlen(v[i].id), 0));
            json_object_set_new(o, "state", json_string(v[i].stale ? "stale" : "live"));
            json_object_set_new(o, "heartbeat_ms", json_integer((json_int_t)v[i].heartbeat_ms));
            json_object_set_new(o, "heartbeat_age_ms", json_integer((json_int_t)now - (json_int_t)v[i].heartbeat_ms));
            json_object_set_new(o, "held", json_integer(v[i].held));
            json_object_set_new(o, "oldest_held_age_ms",
                                v[i].has_oldest ? json_integer((json_int_t)now - (json_int_t)v[i].oldest_ts)
                                                : json_null());
            output_json_line(o);
        }
    } else if (n) {
        print_human(v, n, now);
    } else {
        printf("no consumers registered\n");
    }
    consumers_free(v, n);
    return CTL_OK;
}
