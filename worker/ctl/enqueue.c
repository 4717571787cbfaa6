/* `invqctl enqueue del|bump|expire KEY...`: a manual invalidation job sent
 * through libinvq (the same library writer services use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>
#include <jansson.h>

#include "commands.h"
#include "conn.h"
#include "output.h"

enum { OPT_TTL = 1, OPT_JITTER, OPT_FAMILY, OPT_SOURCE, OPT_AFTER, OPT_REDO };

typedef struct enqueue_opts {
    uint64_t ttl_ms;
    uint64_t jitter_pct;
    bool has_jitter;
    const char *family;
    const char *source;
    uint64_t after_ms;
    bool has_after;
    uint64_t redo_ms;
    bool has_redo;
} enqueue_opts;

static int enqueue_opt(int id, const char *arg, void *data)
{
    enqueue_opts *o = data;
    switch (id) {
    case OPT_TTL:
        return args_uint("--ttl-ms", arg, 1, UINT32_MAX * 1000ull, &o->ttl_ms);
    case OPT_JITTER:
        o->has_jitter = true;
        return args_uint("--jitter-pct", arg, 0, 100, &o->jitter_pct);
    case OPT_FAMILY:
        o->family = arg;
        return 0;
    case OPT_SOURCE:
        o->source = arg;
        return 0;
    case OPT_AFTER:
        o->has_after = true;
        return args_uint("--after-ms", arg, 0, UINT32_MAX * 1000ull, &o->after_ms);
    case OPT_REDO:
        o->has_redo = true;
        return args_uint("--redo-ms", arg, 1, UINT32_MAX * 1000ull, &o->redo_ms);
    default:
        return CTL_USAGE;
    }
}

/* Exit code for a libinvq status. */
static int exit_for(int code)
{
    switch (code) {
    case INVQ_ECONNECT:
    case INVQ_ETIMEOUT:
    case INVQ_EAUTH:
    case INVQ_EIO:
    case INVQ_ETLS:
        return CTL_UNAVAILABLE;
    case INVQ_EURL:
    case INVQ_EINVAL:
    case INVQ_ELIMIT:
    case INVQ_EJOB:
        return CTL_USAGE;
    default:
        return CTL_SOFTWARE;
    }
}

static int build(invq_job *job, const char *op, char **keys, size_t n, const enqueue_opts *o)
{
    int rc;
    if (strcmp(op, "del") == 0)
        rc = invq_job_del(job, (const void *const *)keys, NULL, n);
    else if (strcmp(op, "bump") == 0)
        rc = invq_job_bump(job, (const void *const *)keys, NULL, n);
    else
        rc = invq_job_expire(job, (const void *const *)keys, NULL, n, o->ttl_ms,
                             o->has_jitter ? (int)o->jitter_pct : -1);
    if (rc == 0 && o->family)
        rc = invq_job_set_family(job, o->family);
    if (rc == 0 && o->source)
        rc = invq_job_set_source(job, o->source);
    if (rc == 0 && o->has_after)
        rc = invq_job_set_after_ms(job, o->after_ms);
    if (rc == 0 && o->has_redo)
        rc = invq_job_set_redo_ms(job, o->redo_ms);
    return rc;
}

int cmd_enqueue(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl enqueue del|bump|expire KEY... [options]\n"
        "Sends one invalidation job through libinvq and prints its id.\n"
        "  del               delete the keys\n"
        "  bump              INCR the keys (version keys)\n"
        "  expire            shorten the keys' TTL to --ttl-ms (required)\n"
        "  --ttl-ms N        expire: new TTL in ms\n"
        "  --jitter-pct P    expire: random jitter 0..100 % of the TTL\n"
        "  --family F        key family\n"
        "  --source S        producing service (default: invqctl)\n"
        "  --after-ms N      apply no sooner than N ms from now\n"
        "  --redo-ms N       apply now and once more N ms later (double delete)\n"
        "Use -- before keys that start with '-'.\n";
    static const struct option opts[] = {
        {"ttl-ms", required_argument, NULL, OPT_TTL},
        {"jitter-pct", required_argument, NULL, OPT_JITTER},
        {"family", required_argument, NULL, OPT_FAMILY},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"after-ms", required_argument, NULL, OPT_AFTER},
        {"redo-ms", required_argument, NULL, OPT_REDO},
        {NULL, 0, NULL, 0},
    };
    enqueue_opts o = {.source = "invqctl"};
    int pos;
    int rc = args_parse(argc, argv, "enqueue", opts, enqueue_opt, &o, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (pos >= argc)
        return args_usage_error("enqueue ", "expected an op: del, bump or expire");
    const char *op = argv[pos++];
    if (strcmp(op, "del") != 0 && strcmp(op, "bump") != 0 && strcmp(op, "expire") != 0)
        return args_usage_error("enqueue ", "unknown op '%s' (del, bump or expire)", op);
    if (pos >= argc)
        return args_usage_error("enqueue ", "expected at least one KEY");
    bool expire = strcmp(op, "expire") == 0;
    if (expire && !o.ttl_ms)
        return args_usage_error("enqueue ", "expire needs --ttl-ms");
    if (!expire && (o.ttl_ms || o.has_jitter))
        return args_usage_error("enqueue ", "--ttl-ms and --jitter-pct only go with expire");
    if (!common->queue_url || !*common->queue_url) {
        fprintf(stderr, "invqctl: --queue-url (or INVQ_QUEUE_URL) is required\n");
        return CTL_USAGE;
    }

    invq_job *job = invq_job_new();
    if (!job) {
        fprintf(stderr, "invqctl: cannot create a job (out of memory or no randomness)\n");
        return CTL_SOFTWARE;
    }
    size_t nkeys = (size_t)(argc - pos);
    rc = build(job, op, argv + pos, nkeys, &o);
    if (rc < 0) {
        fprintf(stderr, "invqctl: enqueue: %s\n", invq_strerror(rc));
        invq_job_free(job);
        return exit_for(rc);
    }
    invq_options opt;
    invq_options_init(&opt);
    opt.url = common->queue_url;
    opt.ns = common->ns;
    opt.queue = common->queue;
    opt.connect_timeout_ms = (int)common->connect_timeout_ms;
    opt.command_timeout_ms = (int)common->command_timeout_ms;
    char err[512] = "";
    if ((rc = invq_job_validate(job, &opt, err, sizeof err)) < 0) {
        fprintf(stderr, "invqctl: enqueue: %s\n", err);
        invq_job_free(job);
        return exit_for(rc);
    }
    /* The push (LPUSH pending, HINCRBY stats in one MULTI) would fail half
     * way on a wrong-typed key: check both first, write nothing if not. */
    conn c;
    if ((rc = conn_open(&c, common))) {
        invq_job_free(job);
        return rc;
    }
    const char *keys[] = {c.keys.pending, c.keys.stats}, *types[] = {"list", "hash"};
    rc = conn_check_types_if_allowed(&c, keys, types, 2);
    conn_close(&c);
    if (rc) {
        invq_job_free(job);
        return rc;
    }
    invq_producer *p = NULL;
    rc = invq_producer_new(&opt, &p, err, sizeof err);
    if (rc == 0) {
        rc = invq_send(p, job);
        if (rc < 0)
            snprintf(err, sizeof err, "%s", invq_producer_errstr(p));
    }
    int code = CTL_OK;
    if (rc < 0) {
        fprintf(stderr, "invqctl: enqueue: %s%s%s\n", invq_strerror(rc), *err ? ": " : "", err);
        code = exit_for(rc);
    } else if (common->json) {
        output_json_line(json_pack("{s:s, s:s, s:I}", "id", invq_job_id(job), "op", op, "keys", (json_int_t)nkeys));
    } else {
        printf("%s\n", invq_job_id(job));
    }
    invq_producer_free(p);
    invq_job_free(job);
    return code;
}
