/* The entry point of every invqctl subcommand. Each takes argv starting at
 * the subcommand's name and the common flags parsed so far, and returns the
 * process exit code (enum ctl_exit). */
#ifndef INVQ_CTL_COMMANDS_H
#define INVQ_CTL_COMMANDS_H

#include "args.h"

int cmd_dlq_list(int argc, char **argv, ctl_common *common);
int cmd_dlq_show(int argc, char **argv, ctl_common *common);
int cmd_dlq_requeue(int argc, char **argv, ctl_common *common);
int cmd_dlq_purge(int argc, char **argv, ctl_common *common);
int cmd_dlq_export(int argc, char **argv, ctl_common *common);
int cmd_dlq_import(int argc, char **argv, ctl_common *common);
int cmd_dlq_job(int argc, char **argv, ctl_common *common);
int cmd_stats(int argc, char **argv, ctl_common *common);
int cmd_consumers(int argc, char **argv, ctl_common *common);
int cmd_enqueue(int argc, char **argv, ctl_common *common);
int cmd_families_lint(int argc, char **argv, ctl_common *common);
int cmd_families_show(int argc, char **argv, ctl_common *common);
int cmd_families_explain(int argc, char **argv, ctl_common *common);
int cmd_families_acl(int argc, char **argv, ctl_common *common);
int cmd_audit(int argc, char **argv, ctl_common *common);

#endif
