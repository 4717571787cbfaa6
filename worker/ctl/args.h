/* invqctl command-line handling: exit codes, the connection flags shared
 * with invq-worker (and their INVQ_* environment mirrors), and a small
 * getopt_long wrapper every subcommand uses. */
#ifndef INVQ_CTL_ARGS_H
#define INVQ_CTL_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit codes (documented in worker/ctl/README.md). */
enum ctl_exit {
    CTL_OK = 0,
    CTL_NOMATCH = 1,      /* nothing matched */
    CTL_PARTIAL = 2,      /* partial failure, or corrupt entries where it matters */
    CTL_STALE = 3,        /* audit: stale or orphaned cache keys found */
    CTL_USAGE = 64,       /* bad command line */
    CTL_DATAERR = 65,     /* bad input data (import, a families file with problems) */
    CTL_NOINPUT = 66,     /* an input file cannot be read (families) */
    CTL_UNAVAILABLE = 69, /* a Redis or a database unreachable */
    CTL_SOFTWARE = 70,    /* internal error (including unexpected Redis replies) */
    CTL_CANTCREAT = 73,   /* an output file cannot be written (audit --prom) */
    CTL_INTERRUPTED = 130,
};

typedef struct ctl_common {
    const char *queue_url; /* --queue-url / INVQ_QUEUE_URL, required */
    const char *ns;        /* --namespace / INVQ_NAMESPACE, "invq" */
    const char *queue;     /* --queue / INVQ_QUEUE, "default" */
    uint64_t connect_timeout_ms; /* --connect-timeout-ms / INVQ_CONNECT_TIMEOUT_MS, 2000 */
    uint64_t command_timeout_ms; /* --command-timeout-ms / INVQ_COMMAND_TIMEOUT_MS, 30000 */
    bool json;             /* --json */
    uint64_t queue_shards; /* --queue-shards / INVQ_QUEUE_SHARDS, 1: unsharded */
    long long shard;       /* --shard N: that shard of a sharded queue; -1: none named */
    /* Whether ns and queue came from the environment (for messages). */
    bool ns_from_env, queue_from_env;
} ctl_common;

/* Fills defaults, then the INVQ_* environment. Returns 0 or CTL_USAGE
 * (message printed) for a bad environment value. Empty names are checked
 * once the flags are parsed (args_parse), as invq-worker does: a flag given
 * replaces its variable unchecked. */
int args_common_init(ctl_common *c);

/* Called for every subcommand-specific option: `id` is the option's `val`.
 * Returns 0 or CTL_USAGE (having printed a message). */
typedef int (*args_opt_cb)(int id, const char *arg, void *data);

/* What args_parse found. */
enum { ARGS_OK = 0, ARGS_HELP = 1 };

/* Parses argv[1..] of subcommand `cmd` (for messages): the common flags,
 * --help, and `extra` (NULL-terminated getopt_long table; may be NULL).
 * On ARGS_OK *first_pos is the index of the first positional argument
 * (getopt_long permutes them to the end; "--" ends options). On ARGS_HELP
 * the caller prints its help with args_help(). Returns ARGS_OK, ARGS_HELP
 * or CTL_USAGE. */
int args_parse(int argc, char **argv, const char *cmd, const struct option *extra, args_opt_cb cb,
               void *data, ctl_common *common, int *first_pos);

/* Prints a subcommand's --help on stdout: `help`, then `more` (NULL: none,
 * e.g. the DLQ filter flags), then the common flags. Returns CTL_OK. */
int args_help(const char *help, const char *more);

/* Parses an unsigned integer in [min, max] for `flag`; prints
 * `invqctl: FLAG: expected an integer MIN..MAX, got "S"` and returns
 * CTL_USAGE on error, else 0. */
int args_uint(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Prints "invqctl: <msg>" and a hint to stderr; returns CTL_USAGE. */
int args_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The text describing the common flags, for every --help. */
extern const char args_common_help[];

#endif
