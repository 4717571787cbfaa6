/* Loading a families file for invqctl (problems printed as FILE:LINE:
 * message) and the JSON shapes of classes and families. */
#include "families_cli.h"

#include <stdlib.h>
#include <string.h>

#include "output.h"

int families_cli_load(const char *path, const ctl_common *common, FILE *to, families **out)
{
    fam_problems probs;
    fam_load_opts opts = {common->ns};
    char line[1024];
    fam_problems_init(&probs);
    int rc = families_load(path, &opts, out, &probs);
    for (size_t i = 0; i < probs.n; i++) {
        fam_problem_format(&probs, i, line, sizeof(line));
        fprintf(to, "%s\n", line);
    }
    bool oom = probs.oom;
    fam_problems_deinit(&probs);
    if (rc == FAM_ENOMEM || oom) {
        fprintf(stderr, "invqctl: out of memory\n");
        return CTL_SOFTWARE;
    }
    return rc == 0 ? CTL_OK : rc == FAM_EIO ? CTL_NOINPUT : CTL_DATAERR;
}

static json_t *opt_text(const char *s)
{
    return s ? output_json_text(s) : json_null();
}

static json_t *opt_ms(uint64_t ms)
{
    return ms ? json_integer((json_int_t)ms) : json_null();
}

json_t *families_cli_ops_json(unsigned ops)
{
    json_t *a = json_array();
    for (int op = FAM_OP_DEL; a && op <= FAM_OP_EXPIRE; op++)
        if (ops & FAM_OP_BIT(op))
            json_array_append_new(a, json_string(families_op_name(op)));
    return a;
}

json_t *families_cli_class_json(const fam_class *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "line", json_integer(c->line));
    json_object_set_new(o, "ttl_ms", json_integer((json_int_t)c->ttl_ms));
    json_object_set_new(o, "jitter_pct", json_integer(c->jitter_pct));
    json_object_set_new(o, "negative_ttl_ms", opt_ms(c->negative_ttl_ms));
    json_object_set_new(o, "lease_ttl_ms", json_integer((json_int_t)c->lease_ttl_ms));
    json_object_set_new(o, "description", opt_text(c->description));
    return o;
}

static json_t *pattern_json(const fam_pattern *p, bool versioned)
{
    char glob[FAM_MAX_PATTERN_LEN * 2];
    json_t *o = json_object(), *params = json_array();
    if (!o || !params) {
        json_decref(o);
        json_decref(params);
        return NULL;
    }
    for (size_t i = 0; i < p->nparams; i++)
        json_array_append_new(params, json_string(p->params[i]));
    json_object_set_new(o, "pattern", output_json_text(p->text));
    json_object_set_new(o, "line", json_integer(p->line));
    json_object_set_new(o, "placeholders", params);
    if (families_pattern_glob(p, false, glob, sizeof(glob)) >= 0)
        json_object_set_new(o, "glob", output_json_text(glob));
    if (versioned && families_pattern_glob(p, true, glob, sizeof(glob)) >= 0)
        json_object_set_new(o, "data_glob", output_json_text(glob));
    return o;
}

json_t *families_cli_family_json(const fam_family *f)
{
    json_t *o = json_object(), *keys = json_array();
    if (!o || !keys) {
        json_decref(o);
        json_decref(keys);
        return NULL;
    }
    for (size_t i = 0; i < f->nkeys; i++)
        json_array_append_new(keys, pattern_json(&f->keys[i], f->version_key != NULL));
    json_object_set_new(o, "name", json_string(f->name));
    json_object_set_new(o, "line", json_integer(f->line));
    json_object_set_new(o, "keys", keys);
    json_object_set_new(o, "version_key", f->version_key ? pattern_json(f->version_key, false) : json_null());
    json_object_set_new(o, "class", json_string(f->cls->name));
    json_object_set_new(o, "ttl_ms", json_integer((json_int_t)f->cls->ttl_ms));
    json_object_set_new(o, "jitter_pct", json_integer(f->cls->jitter_pct));
    json_object_set_new(o, "owner", opt_text(f->owner));
    json_object_set_new(o, "ops", families_cli_ops_json(f->ops));
    json_object_set_new(o, "mode", json_string(families_mode_name(f->mode)));
    json_object_set_new(o, "rate", f->rate_keys ? json_pack("{s:I, s:I}", "keys", (json_int_t)f->rate_keys,
                                                             "period_ms", (json_int_t)f->rate_period_ms)
                                                : json_null());
    json_object_set_new(o, "triggers", opt_text(f->triggers));
    json_object_set_new(o, "source", opt_text(f->source));
    json_object_set_new(o, "audit_query", opt_text(f->audit_query));
    json_t *params = json_array();
    for (size_t i = 0; params && i < f->naudit_params; i++)
        json_array_append_new(params, json_string(f->audit_params[i].name));
    json_object_set_new(o, "audit_params", params ? params : json_null());
    json_object_set_new(o, "description", opt_text(f->description));
    return o;
}

bool families_cli_glob_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n >= 1 && a[n - 1] == '*' && !memchr(a, '*', n - 1) && strncmp(b, a, n - 1) == 0;
}
