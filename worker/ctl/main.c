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
    static const char *const flags[] = {"--queue-url", "--namespace", "--queue", "--connect-timeout-ms",
                                        "--command-timeout-ms", NULL};
    for (size_t i = 0; flags[i]; i++)
        if (strcmp(a, flags[i]) == 0)
            return true;
    return false;
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
    rc = cmd->fn(n, sub, &common);
    free(sub);
    if (fflush(stdout) != 0 && rc == CTL_OK)
        rc = CTL_SOFTWARE;
    return rc;
}
