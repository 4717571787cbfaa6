/* invqctl flag parsing: common connection flags with INVQ_* mirrors (flag
 * beats environment), --json, --help, and per-subcommand options. */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_QUEUE_URL = 0x1000,
    OPT_NAMESPACE,
    OPT_QUEUE,
    OPT_CONNECT_TIMEOUT,
    OPT_COMMAND_TIMEOUT,
    OPT_QUEUE_SHARDS,
    OPT_SHARD,
    OPT_JSON,
    OPT_HELP,
};

static const struct option common_opts[] = {
    {"queue-url", required_argument, NULL, OPT_QUEUE_URL},
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"command-timeout-ms", required_argument, NULL, OPT_COMMAND_TIMEOUT},
    {"queue-shards", required_argument, NULL, OPT_QUEUE_SHARDS},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
};
#define NCOMMON (sizeof common_opts / sizeof common_opts[0])

const char args_common_help[] =
    "Connection and output (flags beat the environment):\n"
    "  --queue-url URL           queue Redis: redis://[[user]:pass@]host[:port][/db]\n"
    "                            or unix:///path[?db=N]   (INVQ_QUEUE_URL, required)\n"
    "  --namespace NS            key namespace (INVQ_NAMESPACE, default invq)\n"
    "  --queue NAME              queue name (INVQ_QUEUE, default default)\n"
    "  --queue-shards S          the queue's shards <queue>.0 .. <queue>.S-1\n"
    "                            (INVQ_QUEUE_SHARDS, default 1: unsharded)\n"
    "  --shard N                 a sharded queue's shard N (stats: totals without it)\n"
    "  --connect-timeout-ms N    (INVQ_CONNECT_TIMEOUT_MS, default 2000)\n"
    "  --command-timeout-ms N    (INVQ_COMMAND_TIMEOUT_MS, default 30000)\n"
    "  --json                    one JSON object per line\n"
    "  --help                    this help\n";

int args_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("invqctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "try 'invqctl %s--help'\n", cmd ? cmd : "");
    return CTL_USAGE;
}

int args_uint(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = (s && *s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
    if (!s || !end || *end || errno || v < min || v > max) {
        fprintf(stderr, "invqctl: %s: expected an integer %" PRIu64 "..%" PRIu64 ", got \"%s\"\n",
                flag, min, max, s ? s : "");
        return CTL_USAGE;
    }
    *out = v;
    return 0;
}

int args_common_init(ctl_common *c)
{
    memset(c, 0, sizeof *c);
    c->ns = "invq";
    c->queue = "default";
    c->connect_timeout_ms = 2000;
    c->command_timeout_ms = 30000;
    c->queue_shards = 1;
    c->shard = -1;
    const char *e;
    if ((e = getenv("INVQ_QUEUE_SHARDS")) && *e && args_uint("INVQ_QUEUE_SHARDS", e, 1, 1024, &c->queue_shards))
        return CTL_USAGE;
    if ((e = getenv("INVQ_QUEUE_URL")) && *e)
        c->queue_url = e;
    if ((e = getenv("INVQ_NAMESPACE"))) {
        c->ns = e;
        c->ns_from_env = true;
    }
    if ((e = getenv("INVQ_QUEUE"))) {
        c->queue = e;
        c->queue_from_env = true;
    }
    if ((e = getenv("INVQ_CONNECT_TIMEOUT_MS")) && *e &&
        args_uint("INVQ_CONNECT_TIMEOUT_MS", e, 1, 3600000, &c->connect_timeout_ms))
        return CTL_USAGE;
    if ((e = getenv("INVQ_COMMAND_TIMEOUT_MS")) && *e &&
        args_uint("INVQ_COMMAND_TIMEOUT_MS", e, 1, 3600000, &c->command_timeout_ms))
        return CTL_USAGE;
    return 0;
}

static int common_opt(int id, const char *arg, ctl_common *c)
{
    switch (id) {
    case OPT_QUEUE_URL:
        c->queue_url = arg;
        return 0;
    case OPT_NAMESPACE:
        c->ns = arg;
        c->ns_from_env = false;
        return 0;
    case OPT_QUEUE:
        c->queue = arg;
        c->queue_from_env = false;
        return 0;
    case OPT_CONNECT_TIMEOUT:
        return args_uint("--connect-timeout-ms", arg, 1, 3600000, &c->connect_timeout_ms);
    case OPT_COMMAND_TIMEOUT:
        return args_uint("--command-timeout-ms", arg, 1, 3600000, &c->command_timeout_ms);
    case OPT_QUEUE_SHARDS:
        return args_uint("--queue-shards", arg, 1, 1024, &c->queue_shards);
    case OPT_SHARD: {
        uint64_t v = 0;
        int rc = args_uint("--shard", arg, 0, 1023, &v);
        c->shard = (long long)v;
        return rc;
    }
    case OPT_JSON:
        c->json = true;
        return 0;
    default:
        return CTL_USAGE;
    }
}

/* An empty namespace or queue name is refused with invq-worker's words:
 * "--namespace: expected a non-empty value" (an empty queue URL is a missing
 * one: conn_open() says so for the commands that connect). */
static int check_names(const ctl_common *c)
{
    const struct {
        const char *flag, *env, *val;
        bool from_env;
    } names[] = {
        {"namespace", "INVQ_NAMESPACE", c->ns, c->ns_from_env},
        {"queue", "INVQ_QUEUE", c->queue, c->queue_from_env},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].val == NULL || *names[i].val != '\0')
            continue;
        fprintf(stderr, "invqctl: --%s: expected a non-empty value%s%s%s\n", names[i].flag,
                names[i].from_env ? " (from " : "", names[i].from_env ? names[i].env : "",
                names[i].from_env ? ")" : "");
        return CTL_USAGE;
    }
    return 0;
}

int args_parse(int argc, char **argv, const char *cmd, const struct option *extra, args_opt_cb cb,
               void *data, ctl_common *common, int *first_pos)
{
    size_t nextra = 0;
    while (extra && extra[nextra].name)
        nextra++;
    struct option *all = calloc(NCOMMON + nextra + 1, sizeof *all);
    if (!all)
        return CTL_SOFTWARE;
    memcpy(all, common_opts, sizeof common_opts);
    if (nextra)
        memcpy(all + NCOMMON, extra, nextra * sizeof *extra);

    char hint[64];
    snprintf(hint, sizeof hint, "%s%s", cmd ? cmd : "", cmd ? " " : "");
    int rc = ARGS_OK;
    optind = 0; /* GNU: full re-initialisation for each subcommand */
    opterr = 0;
    for (;;) {
        int longidx = -1;
        int id = getopt_long(argc, argv, ":", all, &longidx);
        if (id == -1)
            break;
        if (id == '?') {
            rc = args_usage_error(hint, "unknown option '%s'", argv[optind - 1]);
            break;
        }
        if (id == ':') {
            rc = args_usage_error(hint, "option '%s' needs a value", argv[optind - 1]);
            break;
        }
        if (id == OPT_HELP) {
            rc = ARGS_HELP;
            break;
        }
        if (id >= OPT_QUEUE_URL && id <= OPT_JSON)
            rc = common_opt(id, optarg, common);
        else
            rc = cb ? cb(id, optarg, data) : CTL_USAGE;
        if (rc)
            break;
    }
    free(all);
    *first_pos = optind;
    if (rc == ARGS_OK)
        rc = check_names(common);
    if (rc == ARGS_OK && common->shard >= (long long)common->queue_shards)
        rc = args_usage_error(hint, "--shard %lld: the queue has %" PRIu64 " shard%s (--queue-shards)%s",
                              common->shard, common->queue_shards, common->queue_shards == 1 ? "" : "s",
                              common->queue_shards == 1 ? ": --shard needs --queue-shards S > 1" : "");
    return rc;
}

int args_help(const char *help, const char *more)
{
    fputs(help, stdout);
    if (more != NULL)
        printf("\n%s", more);
    printf("\n%s", args_common_help);
    return CTL_OK;
}
