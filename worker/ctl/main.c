/* invqctl: the operator's command-line tool for an invq queue. main() only
 * finds the subcommand and hands it the arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"

#ifndef INVQ_VERSION
#define INVQ_VERSION "unknown"
#endif

typedef int (*cmd_fn)(int argc, char **argv, ctl_common *common);

typedef struct command {
    const char *group; /* "dlq", "families" or NULL */
    const char *name;
    cmd_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {NULL, "stats", cmd_stats, "queue depths, consumers, counters (--watch for rates)"},
    {NULL, "consumers", cmd_consumers, "live and stale consumers and what each holds"},
#ifdef INVQ_CTL_HAVE_ENQUEUE
    {NULL, "enqueue", cmd_enqueue, "send a del|bump|expire job by hand"},
#endif
    {"dlq", "list", cmd_dlq_list, "dead-letter entries, newest first"},
    {"dlq", "show", cmd_dlq_show, "one entry in full"},
    {"dlq", "job", cmd_dlq_job, "the exact bytes of one entry's job, on stdout"},
    {"dlq", "requeue", cmd_dlq_requeue, "back to pending, attempts reset"},
    {"dlq", "purge", cmd_dlq_purge, "delete entries"},
    {"dlq", "export", cmd_dlq_export, "entries as JSON lines with the exact bytes"},
    {"dlq", "import", cmd_dlq_import, "load exported entries back"},
    {"families", "lint", cmd_families_lint, "check a families file, every problem with its line"},
    {"families", "show", cmd_families_show, "classes and families of a families file"},
    {"families", "explain", cmd_families_explain, "which family a key belongs to, and its policy"},
    {"families", "acl", cmd_families_acl, "Redis ACL rules of the worker's cache user"},
    {NULL, "audit", cmd_audit, "compare cached values with the source of truth"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "Usage: invqctl [--queue-url URL] COMMAND [options]\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s%s%s", commands[i].group ? commands[i].group : "",
                 commands[i].group ? " " : "", commands[i].name);
        fprintf(f, "  %-17s %s\n", name, commands[i].summary);
    }
    fprintf(f,
            "\n'invqctl COMMAND --help' describes each command.\n\n%s\n"
            "Exit codes: 0 ok, 1 nothing matched, 2 partial failure or corrupt entries,\n"
            "3 stale cache keys found (audit), 64 usage, 65 bad input data, 66 input file\n"
            "unreadable, 69 server unreachable, 70 internal error, 73 output file not\n"
            "written, 130 interrupted.\n",
            args_common_help);
}

/* True for the common flags that take a separate value. */
static bool takes_value(const char *a)
{
    static const char *const flags[] = {"--queue-url",          "--namespace", "--queue", "--connect-timeout-ms",
                                        "--command-timeout-ms", "--queue-shards", "--shard", NULL};
    for (size_t i = 0; flags[i]; i++)
        if (strcmp(a, flags[i]) == 0)
            return true;
    return false;
}

/* The value of --NAME V / --NAME=V in argv[1..argc-1] (the last one), or NULL. */
static const char *flag_value(int argc, char **argv, const char *name)
{
    const char *v = NULL;
    size_t n = strlen(name);
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--") == 0)
            break;
        if (strcmp(argv[k], name) == 0 && k + 1 < argc)
            v = argv[++k];
        else if (strncmp(argv[k], name, n) == 0 && argv[k][n] == '=')
            v = argv[k] + n + 1;
    }
    return v;
}

/* A dlq command on a sharded queue without --shard: the command on every
 * shard in turn (`dlq import` must name its shard). Exit code: the worst
 * failure of any shard; else 0 when any shard matched, else 1. */
static int dlq_every_shard(const command *cmd, int n, char **sub, unsigned long shards)
{
    char **argv2 = calloc((size_t)n + 3, sizeof *argv2);
    if (!argv2)
        return CTL_SOFTWARE;
    int worst = CTL_OK, matched = 0;
    char shard_flag[] = "--shard";
    for (unsigned long s = 0; s < shards; s++) {
        char num[24];
        snprintf(num, sizeof num, "%lu", s);
        memcpy(argv2, sub, (size_t)n * sizeof *argv2);
        argv2[n] = shard_flag;
        argv2[n + 1] = num;
        argv2[n + 2] = NULL;
        ctl_common common;
        int rc = args_common_init(&common);
        if (rc == 0) {
            fprintf(stderr, "invqctl: shard %lu of %lu\n", s, shards);
            fflush(stderr);
            rc = cmd->fn(n + 2, argv2, &common);
            fflush(stdout);
        }
        if (rc == CTL_OK)
            matched++;
        else if (rc != CTL_NOMATCH && rc > worst)
            worst = rc;
        if (rc == CTL_USAGE || rc == CTL_INTERRUPTED)
            break; /* the same for every shard, or the operator stopped it */
    }
    free(argv2);
    return worst != CTL_OK ? worst : matched ? CTL_OK : CTL_NOMATCH;
}

int main(int argc, char **argv)
{
    ctl_common common;
    int rc = args_common_init(&common);
    if (rc)
        return rc;

    /* Common flags may come before the command; they are handed on. */
    int i = 1;
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("invqctl %s\n", INVQ_VERSION);
            return CTL_OK;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CTL_OK;
        }
        i += (takes_value(argv[i]) && i + 1 < argc) ? 2 : 1;
    }
    int lead_end = i;
    if (i >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    const char *group = NULL, *name = argv[i];
    if (strcmp(name, "dlq") == 0 || strcmp(name, "families") == 0) {
        group = name;
        if (i + 1 >= argc || strcmp(argv[i + 1], "--help") == 0) {
            usage(i + 1 >= argc ? stderr : stdout);
            return i + 1 >= argc ? CTL_USAGE : CTL_OK;
        }
        name = argv[++i];
    }
    const command *cmd = NULL;
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(commands[k].name, name) == 0 &&
            ((group && commands[k].group && strcmp(group, commands[k].group) == 0) ||
             (!group && !commands[k].group)))
            cmd = &commands[k];
    if (!cmd) {
        fprintf(stderr, "invqctl: unknown command '%s%s%s'\n", group ? group : "", group ? " " : "", name);
        usage(stderr);
        return CTL_USAGE;
    }
    /* argv for the command: its name, the leading flags, then the rest. */
    char **sub = calloc((size_t)argc + 1, sizeof *sub);
    if (!sub)
        return CTL_SOFTWARE;
    int n = 0;
    sub[n++] = argv[0];
    for (int k = 1; k < lead_end; k++)
        sub[n++] = argv[k];
    for (int k = i + 1; k < argc; k++)
        sub[n++] = argv[k];
    const char *qs = flag_value(n, sub, "--queue-shards");
    unsigned long shards = qs ? strtoul(qs, NULL, 10) : (unsigned long)common.queue_shards;
    if (cmd->group && strcmp(cmd->group, "dlq") == 0 && strcmp(cmd->name, "import") != 0 && shards > 1 &&
        shards <= 1024 && flag_value(n, sub, "--shard") == NULL)
        rc = dlq_every_shard(cmd, n, sub, shards);
    else
        rc = cmd->fn(n, sub, &common);
    free(sub);
    if (fflush(stdout) != 0 && rc == CTL_OK)
        rc = CTL_SOFTWARE;
    return rc;
}
