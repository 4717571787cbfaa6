/* `invqctl families acl FILE`: the Redis ACL rules of the worker's cache
 * user, restricted to the families' keys (families-v1.md §10). One
 * selector per group of commands, holding the globs of every family whose
 * ops need those commands, so a multi-key DEL across families passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "families_cli.h"
#include "output.h"

enum { OPT_USER = 1, OPT_FORMAT, OPT_NOPASS, OPT_PASSWORD_SHA256 };

typedef struct acl_opts {
    const char *user;
    const char *format;
    bool nopass;
    const char *sha256;
} acl_opts;

static int acl_opt(int id, const char *arg, void *data)
{
    acl_opts *o = data;
    switch (id) {
    case OPT_USER:
        o->user = arg;
        return 0;
    case OPT_FORMAT:
        o->format = arg;
        return 0;
    case OPT_NOPASS:
        o->nopass = true;
        return 0;
    case OPT_PASSWORD_SHA256:
        o->sha256 = arg;
        return 0;
    default:
        return CTL_USAGE;
    }
}

/* The command groups, each one selector. */
enum { G_DEL, G_INCR, G_PEXPIRE, G_EXISTS, NGROUPS };
static const char *const group_cmds[NGROUPS] = {"+del +unlink", "+incr", "+pexpire", "+exists"};

typedef struct glob_list {
    char **v;
    size_t n;
    size_t cap;
} glob_list;

static int glob_add(glob_list *l, const fam_pattern *p, bool versioned)
{
    char buf[FAM_MAX_PATTERN_LEN * 2 + 8];
    if (families_pattern_glob(p, versioned, buf + 1, sizeof(buf) - 1) < 0)
        return -1;
    buf[0] = '~';
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], buf) == 0)
            return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(buf)))
        return -1;
    l->n++;
    return 0;
}

/* Data keys of a family: its patterns, and for a versioned family their data keys. */
static int add_data(glob_list *l, const fam_family *f)
{
    for (size_t k = 0; k < f->nkeys; k++)
        if (glob_add(l, &f->keys[k], false) < 0 || (f->version_key && glob_add(l, &f->keys[k], true) < 0))
            return -1;
    return 0;
}

static int collect(const families *fs, glob_list g[NGROUPS])
{
    for (size_t i = 0; i < families_count(fs); i++) {
        const fam_family *f = families_get(fs, i);
        if ((f->ops & FAM_OP_BIT(FAM_OP_DEL)) && add_data(&g[G_DEL], f) < 0)
            return -1;
        if ((f->ops & FAM_OP_BIT(FAM_OP_EXPIRE)) && add_data(&g[G_PEXPIRE], f) < 0)
            return -1;
        if (f->ops & FAM_OP_BIT(FAM_OP_BUMP)) {
            /* a versioned family bumps its version keys only */
            if (f->version_key ? glob_add(&g[G_INCR], f->version_key, false) < 0 : add_data(&g[G_INCR], f) < 0)
                return -1;
        }
        if (add_data(&g[G_EXISTS], f) < 0 || (f->version_key && glob_add(&g[G_EXISTS], f->version_key, false) < 0))
            return -1;
    }
    return 0;
}

/* Drops the globs another glob of the list covers by prefix ("~user:*"
 * covers "~user:*:profile"): fewer rules, the same keys. */
static int prune(glob_list *l)
{
    bool *covered = calloc(l->n ? l->n : 1, sizeof(*covered));
    if (!covered)
        return -1;
    for (size_t i = 0; i < l->n; i++)
        for (size_t k = 0; k < l->n && !covered[i]; k++)
            covered[i] = k != i && families_cli_glob_covers(l->v[k] + 1, l->v[i] + 1);
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (covered[i])
            free(l->v[i]);
        else
            l->v[o++] = l->v[i];
    }
    l->n = o;
    free(covered);
    return 0;
}

/* "(~a ~b +del +unlink)", malloc'd. */
static char *selector(const glob_list *l, int group)
{
    size_t len = strlen(group_cmds[group]) + 3;
    for (size_t i = 0; i < l->n; i++)
        len += strlen(l->v[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    size_t o = 0;
    s[o++] = '(';
    for (size_t i = 0; i < l->n; i++)
        o += (size_t)sprintf(s + o, "%s ", l->v[i]);
    o += (size_t)sprintf(s + o, "%s)", group_cmds[group]);
    return s;
}

static bool hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

static int print_rules(const acl_opts *o, const glob_list g[NGROUPS], bool json)
{
    static const char *const root[] = {"on", "resetkeys", "resetchannels", "clearselectors", "-@all", "+ping",
                                       "+select"};
    char pass[80] = "";
    if (o->nopass)
        snprintf(pass, sizeof(pass), "nopass");
    else if (o->sha256)
        snprintf(pass, sizeof(pass), "#%s", o->sha256);
    char *sel[NGROUPS] = {0};
    for (int i = 0; i < NGROUPS; i++)
        if (g[i].n && !(sel[i] = selector(&g[i], i))) {
            for (int k = 0; k < i; k++)
                free(sel[k]);
            return CTL_SOFTWARE;
        }
    bool setuser = strcmp(o->format, "setuser") == 0, only_sel = strcmp(o->format, "selectors") == 0;
    int rc = CTL_OK;
    if (json) {
        json_t *rules = json_array(), *sels = json_array();
        if (*pass)
            json_array_append_new(rules, json_string(pass));
        for (size_t i = 0; i < sizeof(root) / sizeof(root[0]); i++)
            json_array_append_new(rules, json_string(root[i]));
        for (int i = 0; i < NGROUPS; i++) {
            if (!sel[i])
                continue;
            json_array_append_new(rules, json_string(sel[i]));
            json_t *keys = json_array();
            for (size_t k = 0; k < g[i].n; k++)
                json_array_append_new(keys, json_string(g[i].v[k]));
            json_array_append_new(sels, json_pack("{s:s, s:o}", "commands", group_cmds[i], "keys", keys));
        }
        rc = output_json_line(json_pack("{s:s, s:o, s:o}", "user", o->user, "rules", rules, "selectors", sels)) < 0
                 ? CTL_SOFTWARE
                 : CTL_OK;
    } else {
        if (!only_sel) {
            printf(setuser ? "ACL SETUSER %s" : "user %s", o->user);
            if (*pass)
                printf(" %s", pass);
            for (size_t i = 0; i < sizeof(root) / sizeof(root[0]); i++)
                printf(" %s", root[i]);
        }
        bool first = only_sel;
        for (int i = 0; i < NGROUPS; i++)
            if (sel[i]) {
                printf(setuser ? " \"%s\"" : first ? "%s" : " %s", sel[i]);
                first = false;
            }
        printf("\n");
    }
    for (int i = 0; i < NGROUPS; i++)
        free(sel[i]);
    return rc;
}

int cmd_families_acl(int argc, char **argv, ctl_common *common)
{
    static const char help[] =
        "Usage: invqctl families acl FILE [--user NAME] [--format aclfile|setuser|selectors]\n"
        "                              [--nopass | --password-sha256 HEX] [--json]\n"
        "Prints the Redis ACL rules of the worker's cache user, restricted to the keys\n"
        "of FILE's families: one selector per command group (DEL/UNLINK for del,\n"
        "INCR for bump, PEXPIRE for expire, EXISTS for shadow counting), each holding\n"
        "the globs of the families whose ops need it; PING and SELECT on the root.\n"
        "  --user NAME             the user (default invq-worker)\n"
        "  --format aclfile        a `user NAME ...` line for an ACL file (default)\n"
        "  --format setuser        an `ACL SETUSER NAME ...` command for redis-cli\n"
        "  --format selectors      only the selectors, to append to an existing user\n"
        "  --nopass                add `nopass` (tests and demos only)\n"
        "  --password-sha256 HEX   add the password digest `#HEX`\n"
        "  --json                  {\"user\", \"rules\" (argv for ACL SETUSER), \"selectors\"}\n"
        "Without a password option the rules keep the user's passwords (SETUSER);\n"
        "an ACL file line then needs one added.\n";
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"nopass", no_argument, NULL, OPT_NOPASS},
        {"password-sha256", required_argument, NULL, OPT_PASSWORD_SHA256},
        {NULL, 0, NULL, 0},
    };
    acl_opts o = {"invq-worker", "aclfile", false, NULL};
    int pos;
    int rc = args_parse(argc, argv, "families acl", opts, acl_opt, &o, common, &pos);
    if (rc == ARGS_HELP)
        return args_help(help, NULL);
    if (rc)
        return rc;
    if (argc - pos != 1)
        return args_usage_error("families acl ", "expected one FILE");
    if (strcmp(o.format, "aclfile") != 0 && strcmp(o.format, "setuser") != 0 && strcmp(o.format, "selectors") != 0)
        return args_usage_error("families acl ", "--format: expected aclfile, setuser or selectors, got \"%s\"",
                                o.format);
    if (o.nopass && o.sha256)
        return args_usage_error("families acl ", "--nopass and --password-sha256 exclude each other");
    if (o.sha256 && !hex64(o.sha256))
        return args_usage_error("families acl ", "--password-sha256: expected 64 lowercase hex digits");
    if (!*o.user || strpbrk(o.user, " \t\n\"'"))
        return args_usage_error("families acl ", "--user: a name without blanks or quotes");
    families *f = NULL;
    if ((rc = families_cli_load(argv[pos], common, stderr, &f)) != CTL_OK)
        return rc;
    glob_list g[NGROUPS];
    memset(g, 0, sizeof(g));
    rc = collect(f, g) < 0 ? CTL_SOFTWARE : CTL_OK;
    for (int i = 0; i < NGROUPS && rc == CTL_OK; i++)
        if (prune(&g[i]) < 0)
            rc = CTL_SOFTWARE;
    if (rc == CTL_OK)
        rc = print_rules(&o, g, common->json);
    for (int i = 0; i < NGROUPS; i++) {
        for (size_t k = 0; k < g[i].n; k++)
            free(g[i].v[k]);
        free(g[i].v);
    }
    families_free(f);
    if (rc == CTL_SOFTWARE)
        fprintf(stderr, "invqctl: out of memory\n");
    return rc;
}
