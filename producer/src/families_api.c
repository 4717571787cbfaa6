/* libinvq's families API (invq_families_*): the families parser of
 * schemas/families/ behind plain C types for services and the Python
 * package, and the check every send makes when a producer has a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <invq/invq.h>

#include "error.h"
#include "families.h"
#include "job.h"

struct invq_families {
    families *f;
    char *path;
};

_Static_assert((int)FAM_OP_DEL == (int)JOB_OP_DEL && (int)FAM_OP_BUMP == (int)JOB_OP_BUMP &&
                   (int)FAM_OP_EXPIRE == (int)JOB_OP_EXPIRE,
               "families op numbers are the codec's");
_Static_assert(INVQ_FAMILY_MAX_PARAMS == FAM_MAX_PARAMS, "placeholder limits agree");

INVQ_API int invq_families_load(const char *path, const char *ns, invq_families **out, char *err, size_t errlen)
{
    fam_problems probs;
    fam_load_opts opts = {ns};
    invq_families *r;
    families *f = NULL;

    if (!out)
        return err_set(err, errlen, INVQ_EINVAL, "out is NULL");
    *out = NULL;
    if (!path)
        return err_set(err, errlen, INVQ_EINVAL, "families: no path");
    fam_problems_init(&probs);
    int rc = families_load(path, &opts, &f, &probs);
    if (rc == FAM_ENOMEM || probs.oom) {
        families_free(f);
        fam_problems_deinit(&probs);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        size_t o = 0;
        if (err && errlen)
            err[0] = '\0';
        for (size_t i = 0; i < probs.n && err && o + 1 < errlen; i++) {
            int n = fam_problem_format(&probs, i, err + o + (i ? 1 : 0), errlen - o - (i ? 1 : 0));
            if (i)
                err[o] = '\n';
            o += (size_t)n + (i ? 1 : 0);
        }
        fam_problems_deinit(&probs);
        return INVQ_EINVAL;
    }
    fam_problems_deinit(&probs);
    if (!(r = calloc(1, sizeof(*r))) || !(r->path = strdup(path))) {
        free(r);
        families_free(f);
        return err_set(err, errlen, INVQ_ENOMEM, "out of memory");
    }
    r->f = f;
    *out = r;
    return 0;
}

INVQ_API void invq_families_free(invq_families *f)
{
    if (!f)
        return;
    families_free(f->f);
    free(f->path);
    free(f);
}

INVQ_API size_t invq_families_count(const invq_families *f)
{
    return f ? families_count(f->f) : 0;
}

INVQ_API int invq_families_find(const invq_families *f, const char *name)
{
    const fam_family *fm = f ? families_find(f->f, name) : NULL;
    return fm ? (int)fm->index : INVQ_EFAMILY;
}

static unsigned public_ops(unsigned ops)
{
    return ((ops & FAM_OP_BIT(FAM_OP_DEL)) ? INVQ_FAMILY_DEL : 0u) |
           ((ops & FAM_OP_BIT(FAM_OP_BUMP)) ? INVQ_FAMILY_BUMP : 0u) |
           ((ops & FAM_OP_BIT(FAM_OP_EXPIRE)) ? INVQ_FAMILY_EXPIRE : 0u);
}

static void fill_family(const fam_family *fm, invq_family_info *i)
{
    memset(i, 0, sizeof(*i));
    i->name = fm->name;
    i->class_name = fm->cls->name;
    i->ttl_ms = fm->cls->ttl_ms;
    i->jitter_pct = fm->cls->jitter_pct;
    i->negative_ttl_ms = fm->cls->negative_ttl_ms;
    i->lease_ttl_ms = fm->cls->lease_ttl_ms;
    i->owner = fm->owner;
    i->ops = public_ops(fm->ops);
    i->mode = (int)fm->mode;
    i->rate_keys = fm->rate_keys;
    i->rate_period_ms = fm->rate_period_ms;
    i->npatterns = fm->nkeys;
    i->version_key = fm->version_key ? fm->version_key->text : NULL;
    i->triggers = fm->triggers;
    i->source = fm->source;
    i->audit_query = fm->audit_query;
    i->description = fm->description;
    i->line = fm->line;
}

INVQ_API int invq_families_family(const invq_families *f, size_t index, invq_family_info *info, size_t info_size)
{
    const fam_family *fm = f ? families_get(f->f, index) : NULL;
    invq_family_info i;
    if (!fm || !info)
        return INVQ_EINVAL;
    fill_family(fm, &i);
    memcpy(info, &i, info_size < sizeof(i) ? info_size : sizeof(i));
    return 0;
}

INVQ_API const char *invq_families_pattern(const invq_families *f, size_t family, size_t pattern)
{
    const fam_family *fm = f ? families_get(f->f, family) : NULL;
    return fm && pattern < fm->nkeys ? fm->keys[pattern].text : NULL;
}

INVQ_API int invq_families_explain(const invq_families *f, const void *key, size_t len, invq_key_info *info,
                                   size_t info_size)
{
    fam_match m;
    invq_key_info i;
    if (!f || (!key && len) || !info)
        return INVQ_EINVAL;
    if (!families_lookup(f->f, key, len, &m))
        return 0;
    memset(&i, 0, sizeof(i));
    fill_family(m.family, &i.family);
    i.kind = (int)m.kind;
    i.pattern = m.kind == FAM_KEY_VERSION ? -1 : (int)m.pattern_index;
    i.pattern_text = m.pattern->text;
    i.version = m.version;
    i.nparams = m.nparams;
    for (size_t k = 0; k < m.nparams; k++) {
        i.param_names[k] = m.pattern->params[k];
        i.param_values[k] = m.params[k].data;
        i.param_lens[k] = m.params[k].len;
    }
    memcpy(info, &i, info_size < sizeof(i) ? info_size : sizeof(i));
    return 1;
}

INVQ_API int invq_families_build_key(const invq_families *f, const char *family, int pattern,
                                     const char *const *names, const void *const *values, const size_t *lens,
                                     size_t n, void *buf, size_t cap, size_t *outlen, char *err, size_t errlen)
{
    fam_param params[FAM_MAX_PARAMS];
    size_t dummy;
    if (!outlen)
        outlen = &dummy;
    *outlen = 0;
    const fam_family *fm = f ? families_find(f->f, family) : NULL;
    if (!fm)
        return err_set(err, errlen, INVQ_EFAMILY, "no family '%.64s'", family ? family : "");
    const fam_pattern *p = pattern == -1 ? fm->version_key
                           : pattern >= 0 && (size_t)pattern < fm->nkeys ? &fm->keys[pattern] : NULL;
    if (!p)
        return err_set(err, errlen, INVQ_EFAMILY, "family '%s' has no %s %d", fm->name,
                       pattern == -1 ? "version key" : "pattern", pattern);
    if (n > FAM_MAX_PARAMS || (n && (!names || !values)))
        return err_set(err, errlen, INVQ_EINVAL, "pattern '%s': %zu values for %zu placeholders", p->text, n,
                       p->nparams);
    for (size_t i = 0; i < n; i++) {
        params[i].name = names[i];
        params[i].value = values[i];
        params[i].len = lens ? lens[i] : values[i] ? strlen(values[i]) : 0;
    }
    int rc = families_build(p, params, n, buf, buf ? cap : 0, outlen, err, errlen);
    return rc == 0 ? 0 : INVQ_EINVAL;
}

INVQ_API int invq_families_version_key(const invq_families *f, const void *key, size_t len, void *buf, size_t cap,
                                       size_t *outlen)
{
    fam_match m;
    size_t dummy;
    if (!outlen)
        outlen = &dummy;
    *outlen = 0;
    if (!f || (!key && len))
        return INVQ_EINVAL;
    if (!families_lookup(f->f, key, len, &m))
        return INVQ_EFAMILY;
    int rc = families_version_key(&m, buf, buf ? cap : 0, outlen);
    return rc == 0 ? 0 : rc == FAM_ESPACE ? INVQ_EINVAL : INVQ_EFAMILY;
}

INVQ_API int invq_families_data_key(const void *key, size_t len, int64_t version, void *buf, size_t cap,
                                    size_t *outlen)
{
    size_t dummy;
    if (!outlen)
        outlen = &dummy;
    if (!key && len)
        return INVQ_EINVAL;
    return families_data_key(key, len, version, buf, buf ? cap : 0, outlen) == 0 ? 0 : INVQ_EINVAL;
}

INVQ_API int invq_families_check_job(const invq_families *f, const invq_job *job, char *err, size_t errlen)
{
    char shown[160], ops[64];
    if (!f || !job)
        return err_set(err, errlen, INVQ_EINVAL, "families or job is NULL");
    const fam_family *want = NULL;
    if (job->fam && !(want = families_find(f->f, job->fam)))
        return err_set(err, errlen, INVQ_EFAMILY, "job %s: family '%.64s' is not in %s", job->id, job->fam, f->path);
    for (size_t i = 0; i < job->nops; i++) {
        const job_op *op = &job->ops[i];
        for (size_t k = 0; k < op->nkeys; k++) {
            fam_match m;
            const job_key *key = &op->keys[k];
            const fam_family *got = families_lookup(f->f, key->data, key->len, &m);
            if (!got || (want && got != want)) {
                families_render_key(key->data, key->len, shown, sizeof(shown));
                if (!want)
                    return err_set(err, errlen, INVQ_EFAMILY, "job %s: key '%s' belongs to no family of %s", job->id,
                                   shown, f->path);
                if (!got)
                    return err_set(err, errlen, INVQ_EFAMILY, "job %s: key '%s' is outside its family '%s'", job->id,
                                   shown, want->name);
                return err_set(err, errlen, INVQ_EFAMILY,
                               "job %s: key '%s' belongs to family '%s', not to the job's family '%s'", job->id, shown,
                               got->name, want->name);
            }
            if (!families_op_allowed(&m, (int)op->kind)) {
                families_render_key(key->data, key->len, shown, sizeof(shown));
                if (m.kind == FAM_KEY_VERSION && (got->ops & FAM_OP_BIT(op->kind)))
                    return err_set(err, errlen, INVQ_EFAMILY,
                                   "job %s: %s on '%s' is not allowed: it is the version key of family '%s', "
                                   "which only bump may touch",
                                   job->id, job_op_name(op->kind), shown, got->name);
                return err_set(err, errlen, INVQ_EFAMILY, "job %s: %s on '%s' is not allowed: family '%s' allows %s",
                               job->id, job_op_name(op->kind), shown, got->name,
                               families_ops_text(got->ops, ops, sizeof(ops)));
            }
        }
    }
    return 0;
}
