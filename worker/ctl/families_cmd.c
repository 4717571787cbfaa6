/* `invqctl families lint FILE`, `show FILE` and `explain KEY --families FILE`:
 * the families file (schemas/families-v1.md) checked, listed and asked
 * about one key. No Redis connection is made. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "families_cli.h"
#include "output.h"

/* -------------------------------------------------------------------- lint */

int cmd_families_lint(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl families lint FILE [--namespace NS] [--json]\n"
        "Checks a families file (schemas/families-v1.md). Exit 0 when it is valid;\n"
        "otherwise exit 65 and one line per problem, every problem of the file at once:\n"
        "  FILE:LINE: message\n"
        "Exit 66 when FILE cannot be read. --namespace names the queue namespace\n"
        "whose keys no family may claim (default invq).\n";
    int pos;
    int rc = args_parse(argc, argv, "families lint", NULL, NULL, NULL, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (argc - pos != 1)
        return args_usage_error("families lint ", "expected one FILE");
    const char *path = argv[pos];
    fam_problems probs;
    fam_load_opts opts = {common->ns};
    families *f = NULL;
    char line[1024];
    fam_problems_init(&probs);
    rc = families_load(path, &opts, &f, &probs);
    if (rc == FAM_ENOMEM || probs.oom) {
        fam_problems_deinit(&probs);
        fprintf(stderr, "invqctl: out of memory\n");
        return CTL_SOFTWARE;
    }
    int code = rc == 0 ? CTL_OK : rc == FAM_EIO ? CTL_NOINPUT : CTL_DATAERR;
    if (common->json) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < probs.n; i++)
            json_array_append_new(list, json_pack("{s:i, s:o}", "line", probs.v[i].line, "message",
                                                  output_json_text(probs.v[i].msg)));
        output_json_line(json_pack("{s:o, s:b, s:I, s:I, s:o}", "file", output_json_text(path), "valid", rc == 0,
                                   "classes", (json_int_t)families_class_count(f), "families",
                                   (json_int_t)families_count(f), "problems", list ? list : json_null()));
    } else if (rc == 0) {
        printf("%s: ok, %zu classes, %zu families\n", path, families_class_count(f), families_count(f));
    } else {
        for (size_t i = 0; i < probs.n; i++) {
            fam_problem_format(&probs, i, line, sizeof(line));
            printf("%s\n", line);
        }
    }
    fam_problems_deinit(&probs);
    families_free(f);
    return code;
}

/* -------------------------------------------------------------------- show */

/* A text field, each of its lines escaped for the terminal and lined up. */
static void print_text(const char *label, const char *text)
{
    for (const char *p = text; p;) {
        const char *nl = strchr(p, '\n');
        char *line = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
        char *safe = line ? output_term_text(line) : NULL;
        printf("  %-13s%s\n", p == text ? label : "", safe ? safe : "?");
        free(safe);
        free(line);
        p = nl ? nl + 1 : NULL;
    }
}

static void show_class(const fam_class *c)
{
    char ttl[32], neg[32], lease[32];
    printf("class %s (line %d)\n", c->name, c->line);
    printf("  %-13sttl %s, jitter %u%%, negative ttl %s, lease %s\n", "freshness",
           families_duration_text(c->ttl_ms, ttl, sizeof(ttl)), c->jitter_pct,
           c->negative_ttl_ms ? families_duration_text(c->negative_ttl_ms, neg, sizeof(neg)) : "none",
           families_duration_text(c->lease_ttl_ms, lease, sizeof(lease)));
    print_text("description", c->description);
}

static void show_family(const fam_family *f)
{
    char ops[64], rate[48], ttl[32], glob[FAM_MAX_PATTERN_LEN * 2];
    printf("family %s (line %d)\n", f->name, f->line);
    for (size_t i = 0; i < f->nkeys; i++) {
        families_pattern_glob(&f->keys[i], false, glob, sizeof(glob));
        printf("  %-13s%s  (acl ~%s)\n", i == 0 ? "keys" : "", f->keys[i].text, glob);
    }
    if (f->version_key)
        printf("  %-13s%s  (data keys <key>:v<N>)\n", "version key", f->version_key->text);
    printf("  %-13s%s (ttl %s, jitter %u%%)\n", "class", f->cls->name,
           families_duration_text(f->cls->ttl_ms, ttl, sizeof(ttl)), f->cls->jitter_pct);
    printf("  %-13s%s\n", "mode", families_mode_name(f->mode));
    printf("  %-13s%s\n", "ops", families_ops_text(f->ops, ops, sizeof(ops)));
    printf("  %-13s%s\n", "rate", families_rate_text(f->rate_keys, f->rate_period_ms, rate, sizeof(rate)));
    print_text("owner", f->owner);
    print_text("triggers", f->triggers);
    print_text("source", f->source);
    print_text("audit query", f->audit_query);
    print_text("description", f->description);
}

int cmd_families_show(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl families show FILE [--namespace NS] [--json]\n"
        "Lists the classes and families of a valid families file: patterns and their\n"
        "ACL globs, version keys, class (TTL, jitter), mode, ops, rate, owner,\n"
        "triggers and audit fields. A file with problems prints them (exit 65).\n";
    int pos;
    int rc = args_parse(argc, argv, "families show", NULL, NULL, NULL, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (argc - pos != 1)
        return args_usage_error("families show ", "expected one FILE");
    families *f = NULL;
    if ((rc = families_cli_load(argv[pos], common, stderr, &f)) != CTL_OK)
        return rc;
    if (common->json) {
        json_t *classes = json_array(), *fams = json_array();
        for (size_t i = 0; classes && i < families_class_count(f); i++)
            json_array_append_new(classes, families_cli_class_json(families_class_get(f, i)));
        for (size_t i = 0; fams && i < families_count(f); i++)
            json_array_append_new(fams, families_cli_family_json(families_get(f, i)));
        rc = output_json_line(json_pack("{s:o, s:s, s:o, s:o}", "file", output_json_text(argv[pos]), "namespace",
                                        families_ns(f), "classes", classes ? classes : json_null(), "families",
                                        fams ? fams : json_null())) < 0
                 ? CTL_SOFTWARE
                 : CTL_OK;
    } else {
        printf("%s: %zu classes, %zu families (reserved namespace %s:)\n", argv[pos], families_class_count(f),
               families_count(f), families_ns(f));
        for (size_t i = 0; i < families_class_count(f); i++) {
            printf("\n");
            show_class(families_class_get(f, i));
        }
        for (size_t i = 0; i < families_count(f); i++) {
            printf("\n");
            show_family(families_get(f, i));
        }
    }
    families_free(f);
    return rc;
}

/* ----------------------------------------------------------------- explain */

typedef struct explain_opts {
    const char *file;
} explain_opts;

enum { OPT_FAMILIES = 1 };

static int explain_opt(int id, const char *arg, void *data)
{
    explain_opts *o = data;
    if (id != OPT_FAMILIES)
        return CTL_USAGE;
    o->file = arg;
    return 0;
}

static const char *kind_name(fam_key_kind k)
{
    return k == FAM_KEY_VERSION ? "version_key" : k == FAM_KEY_VERSIONED ? "data_key" : "key";
}

static int explain_json(const char *key, const fam_match *m, const char *vkey, size_t vlen)
{
    if (!m)
        return output_json_line(json_pack("{s:o, s:n}", "key", output_json_bytes(key, strlen(key), 0), "family"));
    const fam_family *f = m->family;
    json_t *params = json_object();
    for (size_t i = 0; params && i < m->nparams; i++)
        json_object_set_new(params, m->pattern->params[i],
                            output_json_bytes(m->params[i].data, m->params[i].len, 0));
    json_t *o = json_object();
    if (!o)
        return -1;
    json_object_set_new(o, "key", output_json_bytes(key, strlen(key), 0));
    json_object_set_new(o, "family", json_string(f->name));
    json_object_set_new(o, "line", json_integer(f->line));
    json_object_set_new(o, "kind", json_string(kind_name(m->kind)));
    json_object_set_new(o, "pattern", output_json_text(m->pattern->text));
    json_object_set_new(o, "params", params ? params : json_null());
    json_object_set_new(o, "version", m->kind == FAM_KEY_VERSIONED ? json_integer((json_int_t)m->version) : json_null());
    json_object_set_new(o, "version_key", vkey ? output_json_bytes(vkey, vlen, 0) : json_null());
    json_object_set_new(o, "class", json_string(f->cls->name));
    json_object_set_new(o, "ttl_ms", json_integer((json_int_t)f->cls->ttl_ms));
    json_object_set_new(o, "jitter_pct", json_integer(f->cls->jitter_pct));
    json_object_set_new(o, "negative_ttl_ms",
                        f->cls->negative_ttl_ms ? json_integer((json_int_t)f->cls->negative_ttl_ms) : json_null());
    json_object_set_new(o, "lease_ttl_ms", json_integer((json_int_t)f->cls->lease_ttl_ms));
    json_object_set_new(o, "owner", f->owner ? output_json_text(f->owner) : json_null());
    json_object_set_new(o, "mode", json_string(families_mode_name(f->mode)));
    json_object_set_new(o, "ops", families_cli_ops_json(f->ops));
    json_object_set_new(o, "allowed_ops", families_cli_ops_json(families_key_ops(m)));
    json_object_set_new(o, "rate", f->rate_keys ? json_pack("{s:I, s:I}", "keys", (json_int_t)f->rate_keys,
                                                             "period_ms", (json_int_t)f->rate_period_ms)
                                                : json_null());
    json_object_set_new(o, "triggers", f->triggers ? output_json_text(f->triggers) : json_null());
    return output_json_line(o);
}

static void explain_text(const char *key, const fam_match *m, const char *vkey, size_t vlen)
{
    char *shown = output_safe_bytes(key, strlen(key), 0);
    if (!m) {
        printf("%s: no family\n", shown ? shown : "?");
        free(shown);
        return;
    }
    const fam_family *f = m->family;
    char ttl[32], neg[32], lease[32], ops[64], rate[48];
    printf("%-12s %s\n", "key", shown ? shown : "?");
    printf("%-12s %s (line %d)\n", "family", f->name, f->line);
    printf("%-12s %s", "pattern", m->pattern->text);
    for (size_t i = 0; i < m->nparams; i++) {
        char *v = output_safe_bytes(m->params[i].data, m->params[i].len, 0);
        printf("%s%s=%s", i ? ", " : "  (", m->pattern->params[i], v ? v : "?");
        free(v);
    }
    printf("%s\n", m->nparams ? ")" : "");
    if (m->kind == FAM_KEY_VERSION)
        printf("%-12s the family's version key: only bump may touch it\n", "kind");
    else if (m->kind == FAM_KEY_VERSIONED)
        printf("%-12s data key at version %lld\n", "kind", (long long)m->version);
    else
        printf("%-12s key\n", "kind");
    if (vkey) {
        char *v = output_safe_bytes(vkey, vlen, 0);
        printf("%-12s %s\n", "version key", v ? v : "?");
        free(v);
    }
    printf("%-12s %s: ttl %s, jitter %u%%, negative ttl %s, lease %s\n", "class", f->cls->name,
           families_duration_text(f->cls->ttl_ms, ttl, sizeof(ttl)), f->cls->jitter_pct,
           f->cls->negative_ttl_ms ? families_duration_text(f->cls->negative_ttl_ms, neg, sizeof(neg)) : "none",
           families_duration_text(f->cls->lease_ttl_ms, lease, sizeof(lease)));
    printf("%-12s %s\n", "owner", f->owner ? f->owner : "-");
    printf("%-12s %s\n", "mode", families_mode_name(f->mode));
    printf("%-12s %s", "ops", families_ops_text(f->ops, ops, sizeof(ops)));
    if (families_key_ops(m) != f->ops)
        printf(" (on this key: %s)", families_ops_text(families_key_ops(m), ops, sizeof(ops)));
    printf("\n%-12s %s\n", "rate", families_rate_text(f->rate_keys, f->rate_period_ms, rate, sizeof(rate)));
    free(shown);
}

int cmd_families_explain(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl families explain KEY --families FILE [--namespace NS] [--json]\n"
        "Says which family claims KEY and what that means: the pattern and its values,\n"
        "the class (TTL, jitter), owner, mode and the ops allowed on it. Exit 0 when a\n"
        "family claims KEY, 1 when none does (\"no family\"), 65 for a bad FILE.\n"
        "  --families FILE   the families file (INVQ_FAMILIES)\n";
    static const struct option opts[] = {
        {"families", required_argument, NULL, OPT_FAMILIES},
        {NULL, 0, NULL, 0},
    };
    explain_opts o = {getenv("INVQ_FAMILIES")};
    int pos;
    int rc = args_parse(argc, argv, "families explain", opts, explain_opt, &o, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (argc - pos != 1)
        return args_usage_error("families explain ", "expected one KEY");
    if (!o.file || !*o.file)
        return args_usage_error("families explain ", "--families FILE (or INVQ_FAMILIES) is required");
    families *f = NULL;
    if ((rc = families_cli_load(o.file, common, stderr, &f)) != CTL_OK)
        return rc;
    const char *key = argv[pos];
    fam_match m;
    bool found = families_lookup(f, key, strlen(key), &m) != NULL;
    uint8_t vkey[FAM_MAX_PATTERN_LEN * 4];
    size_t vlen = 0;
    bool has_vkey = found && families_version_key(&m, vkey, sizeof(vkey), &vlen) == 0;
    if (common->json)
        rc = explain_json(key, found ? &m : NULL, has_vkey ? (char *)vkey : NULL, vlen) < 0 ? CTL_SOFTWARE : CTL_OK;
    else
        explain_text(key, found ? &m : NULL, has_vkey ? (char *)vkey : NULL, vlen);
    families_free(f);
    if (rc == CTL_OK && !found)
        rc = CTL_NOMATCH;
    return rc;
}
