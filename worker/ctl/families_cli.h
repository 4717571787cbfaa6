/* What the `invqctl families` subcommands share: loading a file with its
 * problems reported, and the JSON of a class and of a family. */
#ifndef INVQ_CTL_FAMILIES_CLI_H
#define INVQ_CTL_FAMILIES_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "families.h"

/* Loads path for the namespace in common. On success returns CTL_OK and
 * *out (free with families_free()). Otherwise prints every problem as
 * "FILE:LINE: message" on `to` and returns CTL_DATAERR (the file has
 * problems), CTL_NOINPUT (cannot read it) or CTL_SOFTWARE. */
int families_cli_load(const char *path, const ctl_common *common, FILE *to, families **out);

/* New JSON objects (NULL on ENOMEM). */
json_t *families_cli_class_json(const fam_class *c);
json_t *families_cli_family_json(const fam_family *f);
/* ["del", "bump"] for an ops mask. */
json_t *families_cli_ops_json(unsigned ops);

/* True when glob a, a literal prefix and one final '*', covers every key
 * glob b covers (b starts with that prefix): "user:*" covers "user:*:profile". */
bool families_cli_glob_covers(const char *a, const char *b);

#endif
