/* invq-worker's settings: a table of flags, each with its INVQ_* environment
 * variable, its range and its place in worker_config. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_target.h"
#include "http.h"
#include "redis_url.h"
#include "tls.h"

typedef enum opt_kind {
    OPT_STR,
    OPT_UINT,  /* unsigned field */
    OPT_U64,   /* uint64_t field */
    OPT_SIZE,  /* size_t field */
    OPT_FLAG,  /* bool, no value */
    OPT_LEVEL,
    OPT_FORMAT,
    OPT_ACTION, /* --help, --version: no value, no env */
} opt_kind;

typedef struct opt {
    const char *name; /* without "--" */
    const char *env;  /* NULL: no mirror */
    opt_kind kind;
    size_t offset;
    uint64_t min, max;
    const char *help;
} opt;

#define OFF(f) offsetof(worker_config, f)

static const opt opts[] = {
    { "queue-url", "INVQ_QUEUE_URL", OPT_STR, OFF(queue_url), 0, 0,
      "queue Redis: redis://[[user]:password@]host[:port][/db], rediss://... (TLS), unix:///path[?db=N] or redis-sentinel://host:port[,host:port...][/db]#MASTER (required)" },
    { "cache-url", "INVQ_CACHE_URL", OPT_STR, OFF(cache_url), 0, 0,
      "cache Redis to invalidate (default: the queue's); also redis-cluster://host:port[,host:port...]" },
    { "namespace", "INVQ_NAMESPACE", OPT_STR, OFF(ns), 0, 0, "key namespace (default invq)" },
    { "queue", "INVQ_QUEUE", OPT_STR, OFF(queue), 0, 0, "queue name (default default)" },
    { "queue-shards", "INVQ_QUEUE_SHARDS", OPT_UINT, OFF(queue_shards), 1, 1024,
      "the queue's shards <queue>.0 ... <queue>.S-1, each its own hash tag; consumers are spread over them, at least one each (default 1: unsharded)" },
    { "consumers", "INVQ_CONSUMERS", OPT_UINT, OFF(consumers), 1, 256,
      "consumers on the loop, each with its own connections (default 4)" },
    { "batch", "INVQ_BATCH", OPT_UINT, OFF(batch), 1, 100000, "jobs taken per fetch (default 512)" },
    { "max-attempts", "INVQ_MAX_ATTEMPTS", OPT_UINT, OFF(max_attempts), 1, 1000,
      "attempts before a job is dead-lettered (default 5)" },
    { "backoff-base-ms", "INVQ_BACKOFF_BASE_MS", OPT_U64, OFF(backoff_base_ms), 1, 86400000,
      "retry backoff base (default 200)" },
    { "backoff-max-ms", "INVQ_BACKOFF_MAX_MS", OPT_U64, OFF(backoff_max_ms), 1, 604800000,
      "retry backoff cap (default 60000)" },
    { "heartbeat-ms", "INVQ_HEARTBEAT_MS", OPT_U64, OFF(heartbeat_ms), 10, 3600000,
      "consumer heartbeat period (default 1000)" },
    { "reap-after-ms", "INVQ_REAP_AFTER_MS", OPT_U64, OFF(reap_after_ms), 30, 86400000,
      "a consumer silent this long is dead; must exceed 2x --heartbeat-ms (default 15000)" },
    { "shutdown-grace-ms", "INVQ_SHUTDOWN_GRACE_MS", OPT_U64, OFF(shutdown_grace_ms), 0, 3600000,
      "time to finish batches in flight on SIGTERM (default 10000)" },
    { "command-timeout-ms", "INVQ_COMMAND_TIMEOUT_MS", OPT_U64, OFF(command_timeout_ms), 10, 600000,
      "a Redis reply later than this means a dead connection (default 5000)" },
    { "connect-timeout-ms", "INVQ_CONNECT_TIMEOUT_MS", OPT_U64, OFF(connect_timeout_ms), 10, 600000,
      "connect timeout (default 2000)" },
    { "families", "INVQ_FAMILIES", OPT_STR, OFF(families), 0, 0,
      "families file (schemas/families-v1.md): keys outside its families are refused; modes and rates apply; "
      "SIGHUP reloads it" },
    /* cache-wait-*: WAIT after a batch's commands (cache_cluster.c: on every master the batch wrote to) */
    { "cache-wait-replicas", "INVQ_CACHE_WAIT_REPLICAS", OPT_UINT, OFF(cache_wait_replicas), 0, 100,
      "acknowledge a batch only once WAIT confirms this many replicas have it (on a cluster: of every master it wrote to); else apply it again (default 0: off)" },
    { "cache-wait-timeout-ms", "INVQ_CACHE_WAIT_TIMEOUT_MS", OPT_U64, OFF(cache_wait_timeout_ms), 1, 600000,
      "the WAIT's timeout; must be under --command-timeout-ms (default 1000)" },
    { "dlq-max", "INVQ_DLQ_MAX", OPT_U64, OFF(dlq_max), 0, 1000000000000ULL,
      "most dead letters the queue holds; batches that would add more are held until it drains (default 1000000, 0: no cap)" },
    { "cache-window-keys", "INVQ_CACHE_WINDOW_KEYS", OPT_SIZE, OFF(cache_window_keys), 1, 1000000,
      "most cache keys in flight per cache connection; smaller is kinder to the cache's other clients, "
      "larger drains faster (default 256)" },
    { "take-linger-ms", "INVQ_TAKE_LINGER_MS", OPT_U64, OFF(take_linger_ms), 0, 1000,
      "after a batch that was not full, wait up to MS before settling it and taking the next, so that the jobs "
      "arriving meanwhile share one take: fewer queue commands per job, up to MS more lag (default 0: no wait)" },
    /* keybudget.c: a hard ceiling for this process, batches over it wait */
    { "cache-max-keys-per-s", "INVQ_CACHE_MAX_KEYS_PER_S", OPT_U64, OFF(cache_max_keys_per_s), 0, 1000000000,
      "send at most N cache keys a second from this process; a batch over budget waits (default 0: no ceiling)" },
    { "dlq-overflow", "INVQ_DLQ_OVERFLOW", OPT_STR, OFF(dlq_overflow), 0, 0,
      "at --dlq-max: hold (default: batches that would add dead letters wait) or spill:FILE (move the oldest "
      "records to FILE in `invqctl dlq export` format)" },
    { "unlink", "INVQ_UNLINK", OPT_FLAG, OFF(unlink), 0, 0, "delete with UNLINK instead of DEL" },
    { "log-level", "INVQ_LOG_LEVEL", OPT_LEVEL, OFF(log_level), 0, 0, "debug|info|warn|error (default info)" },
    { "log-format", "INVQ_LOG_FORMAT", OPT_FORMAT, OFF(log_format), 0, 0, "text|json (default text)" },
    { "http-addr", "INVQ_HTTP_ADDR", OPT_STR, OFF(http_addr), 0, 0,
      "metrics/health listener host:port, or off (default 127.0.0.1:9464)" },
    { "probe", NULL, OPT_STR, OFF(probe_url), 0, 0,
      "health-check mode: GET URL, exit 0 on 2xx, 1 otherwise" },
    { "max-payload", "INVQ_MAX_PAYLOAD", OPT_SIZE, OFF(limits.max_payload), 16, 64u * 1024 * 1024,
      "largest job in bytes (default 1048576)" },
    { "max-keys", "INVQ_MAX_KEYS", OPT_SIZE, OFF(limits.max_keys), 1, 1000000,
      "most keys in one job (default 10000)" },
    { "max-key-len", "INVQ_MAX_KEY_LEN", OPT_SIZE, OFF(limits.max_key_len), 1, 65536,
      "longest key in bytes (default 1024)" },
    { "help", NULL, OPT_ACTION, CONFIG_HELP, 0, 0, "print this help and exit" },
    { "version", NULL, OPT_ACTION, CONFIG_VERSION, 0, 0, "print the version and exit" },
};

#define NOPTS (sizeof opts / sizeof opts[0])

void config_defaults(worker_config *c)
{
    memset(c, 0, sizeof *c);
    c->ns = "invq";
    c->queue = "default";
    c->http_addr = "127.0.0.1:9464";
    c->consumers = 4;
    c->queue_shards = 1;
    c->cache_window_keys = CACHE_WINDOW_KEYS;
    c->batch = 512;
    c->max_attempts = 5;
    c->backoff_base_ms = 200;
    c->backoff_max_ms = 60000;
    c->heartbeat_ms = 1000;
    c->reap_after_ms = 15000;
    c->shutdown_grace_ms = 10000;
    c->command_timeout_ms = 5000;
    c->connect_timeout_ms = 2000;
    c->cache_wait_timeout_ms = 1000;
    c->dlq_max = 1000000;
    c->log_level = LOG_INFO;
    c->log_format = LOG_TEXT;
    job_limits_default(&c->limits);
}

void config_usage(FILE *f)
{
    fputs("usage: invq-worker --queue-url URL [options]\n"
          "Applies invq cache-invalidation jobs from a Redis queue.\n\n",
          f);
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        char left[64];
        bool takes_value = o->kind != OPT_FLAG && o->kind != OPT_ACTION;
        snprintf(left, sizeof left, "--%s%s", o->name, takes_value ? " V" : "");
        fprintf(f, "  %-24s %s", left, o->help);
        if (o->env != NULL)
            fprintf(f, " [%s]", o->env);
        fputc('\n', f);
    }
    fputs("\nA flag beats its environment variable. Bad values exit with status 64.\n", f);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || *s == '\0') {
        *out = false;
        return 0;
    }
    return -1;
}

/* Stores `val` for option o; on a bad value writes the one-line error. */
static int set_value(worker_config *c, const opt *o, const char *val, char *err, size_t errlen)
{
    char *field = (char *)c + o->offset;
    uint64_t v = 0;
    switch (o->kind) {
    case OPT_STR:
        if (*val == '\0') {
            snprintf(err, errlen, "invq-worker: --%s: expected a non-empty value", o->name);
            return -1;
        }
        *(const char **)(void *)field = val;
        return 0;
    case OPT_UINT:
    case OPT_U64:
    case OPT_SIZE:
        if (parse_u64(val, o->min, o->max, &v) < 0) {
            snprintf(err, errlen, "invq-worker: --%s: expected an integer %" PRIu64 "..%" PRIu64 ", got \"%s\"",
                     o->name, o->min, o->max, val);
            return -1;
        }
        if (o->kind == OPT_UINT)
            *(unsigned *)(void *)field = (unsigned)v;
        else if (o->kind == OPT_U64)
            *(uint64_t *)(void *)field = v;
        else
            *(size_t *)(void *)field = (size_t)v;
        return 0;
    case OPT_FLAG:
        if (parse_bool(val, (bool *)(void *)field) < 0) {
            snprintf(err, errlen, "invq-worker: --%s: expected true or false, got \"%s\"", o->name, val);
            return -1;
        }
        return 0;
    case OPT_LEVEL:
        if (log_level_parse(val, (log_level *)(void *)field) < 0) {
            snprintf(err, errlen, "invq-worker: --%s: expected debug, info, warn or error, got \"%s\"", o->name, val);
            return -1;
        }
        return 0;
    case OPT_FORMAT:
        if (log_format_parse(val, (log_format *)(void *)field) < 0) {
            snprintf(err, errlen, "invq-worker: --%s: expected text or json, got \"%s\"", o->name, val);
            return -1;
        }
        return 0;
    case OPT_ACTION:
        break;
    }
    return 0;
}

static const opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

/* One flag from argv, applied after the environment. */
typedef struct given_flag {
    const opt *o; /* NULL ends the list */
    const char *val;
} given_flag;

/* Reads argv into given (argc entries, zeroed) and marks has_flag per
 * option, applying nothing. Returns CONFIG_RUN or the action asked for
 * (--help, --version), or -1 with the message in err. */
static int parse_flags(int argc, char **argv, given_flag *given, bool *has_flag, char *err, size_t errlen)
{
    size_t ngiven = 0;
    int action = CONFIG_RUN;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            snprintf(err, errlen, "invq-worker: unexpected argument \"%s\" (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt *o = find_opt(name, nlen);
        if (o == NULL) {
            snprintf(err, errlen, "invq-worker: unknown flag \"--%.*s\" (see --help)", (int)nlen, name);
            return -1;
        }
        if (o->kind == OPT_ACTION) {
            if (action == CONFIG_RUN)
                action = (int)o->offset;
            continue;
        }
        const char *val;
        if (eq != NULL) {
            val = eq + 1;
        } else if (o->kind == OPT_FLAG) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "invq-worker: --%s: missing value", o->name);
            return -1;
        }
        given[ngiven++] = (given_flag){ o, val };
        has_flag[o - opts] = true;
    }
    return action;
}

int config_parse(worker_config *c, int argc, char **argv, char *err, size_t errlen)
{
    /* The flags first, without applying them: an environment variable is
     * read (and checked) only when its flag is not given. */
    given_flag *given = calloc(argc > 0 ? (size_t)argc : 1, sizeof *given);
    bool has_flag[NOPTS];
    memset(has_flag, 0, sizeof has_flag);
    if (given == NULL) {
        snprintf(err, errlen, "invq-worker: out of memory");
        return -1;
    }
    int rc = parse_flags(argc, argv, given, has_flag, err, errlen);
    if (rc < 0) {
        free(given);
        return -1;
    }
    int action = rc;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = opts[i].env != NULL && !has_flag[i] ? getenv(opts[i].env) : NULL;
        if (env != NULL && set_value(c, &opts[i], env, err, errlen) < 0) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (from %s)", opts[i].env);
            free(given);
            return -1;
        }
    }
    for (size_t i = 0; given[i].o != NULL; i++) {
        if (set_value(c, given[i].o, given[i].val, err, errlen) < 0) {
            free(given);
            return -1;
        }
    }
    free(given);
    if (action != CONFIG_RUN)
        return action;
    if (c->probe_url != NULL)
        return CONFIG_PROBE;
    if (c->queue_url == NULL) {
        snprintf(err, errlen, "invq-worker: --queue-url: required (or set INVQ_QUEUE_URL)");
        return -1;
    }
    if (c->cache_url == NULL)
        c->cache_url = c->queue_url;
    const char *urls[2][2] = { { "queue-url", c->queue_url }, { "cache-url", c->cache_url } };
    for (int i = 0; i < 2; i++) {
        redis_url u;
        char msg[512];
        int bad = redis_url_parse(urls[i][1], &u, msg, sizeof msg) != 0;
        if (!bad) {
            bad = tls_check_files(&u, msg, sizeof msg) != 0; /* an unreadable CA fails now, not at each connect */
            redis_url_deinit(&u);
        }
        if (bad) {
            snprintf(err, errlen, "invq-worker: --%s: %s", urls[i][0], msg);
            return -1;
        }
    }
    struct sockaddr_storage addr;
    char msg[256] = "";
    if (http_addr_parse(c->http_addr, &addr, msg, sizeof msg) < 0) {
        snprintf(err, errlen, "invq-worker: --http-addr: %s", msg);
        return -1;
    }
    if (c->reap_after_ms <= 2 * c->heartbeat_ms) {
        snprintf(err, errlen,
                 "invq-worker: --reap-after-ms: expected more than 2 x --heartbeat-ms (%" PRIu64 "), got \"%" PRIu64 "\"",
                 c->heartbeat_ms, c->reap_after_ms);
        return -1;
    }
    if (c->cache_wait_replicas > 0 && c->cache_wait_timeout_ms >= c->command_timeout_ms) {
        snprintf(err, errlen,
                 "invq-worker: --cache-wait-timeout-ms: expected less than --command-timeout-ms (%" PRIu64
                 "), got \"%" PRIu64 "\"",
                 c->command_timeout_ms, c->cache_wait_timeout_ms);
        return -1;
    }
    c->dlq_spill = NULL;
    if (c->dlq_overflow != NULL && strcmp(c->dlq_overflow, "hold") != 0) {
        if (strncmp(c->dlq_overflow, "spill:", 6) != 0 || c->dlq_overflow[6] == '\0') {
            snprintf(err, errlen, "invq-worker: --dlq-overflow: expected hold or spill:FILE, got \"%s\"",
                     c->dlq_overflow);
            return -1;
        }
        c->dlq_spill = c->dlq_overflow + 6;
    }
    if (c->backoff_max_ms < c->backoff_base_ms) {
        snprintf(err, errlen,
                 "invq-worker: --backoff-max-ms: expected at least --backoff-base-ms (%" PRIu64 "), got \"%" PRIu64 "\"",
                 c->backoff_base_ms, c->backoff_max_ms);
        return -1;
    }
    return CONFIG_RUN;
}

bool config_env_known(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].env != NULL && strcmp(opts[i].env, name) == 0)
            return true;
    }
    return false;
}

/* Levenshtein distance of a and b, stopping early above `limit`. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return limit + 1;
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best = i;
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t v = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            if (up + 1 < v)
                v = up + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > limit)
            return limit + 1;
    }
    return row[lb];
}

const char *config_env_nearest(const char *name)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].env == NULL)
            continue;
        size_t d = edit_distance(name, opts[i].env, 2);
        if (d < best_d) {
            best_d = d;
            best = opts[i].env;
        }
    }
    return best;
}

extern char **environ;

void config_warn_unknown_env(void)
{
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "INVQ_", 5) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        char name[128];
        size_t n = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        if (config_env_known(name))
            continue;
        const char *near = config_env_nearest(name);
        log_event(LOG_WARN, "unknown environment variable ignored", LOG_S("variable", name),
                  LOG_S("did_you_mean", near));
    }
}
