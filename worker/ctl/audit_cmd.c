/* `invqctl audit`: compares a sample of each family's cached values with
 * its source of truth (families-v1.md §9). This file parses the command
 * line, picks the families, runs them one after another and reports;
 * audit_run.c does the checking. Exit codes: worker/ctl/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "audit_cache.h"
#include "audit_report.h"
#include "audit_run.h"
#include "audit_source.h"
#include "commands.h"
#include "families_cli.h"
#include "interrupt.h"
#include "random.h"

enum {
    OPT_CACHE_URL = 1,
    OPT_FAMILIES,
    OPT_FAMILY,
    OPT_SAMPLE,
    OPT_GRACE,
    OPT_RATE,
    OPT_STMT_TIMEOUT,
    OPT_SCAN_COUNT,
    OPT_EXAMPLES,
    OPT_PROM,
};

static const struct option audit_options[] = {
    {"cache-url", required_argument, NULL, OPT_CACHE_URL},
    {"families", required_argument, NULL, OPT_FAMILIES},
    {"family", required_argument, NULL, OPT_FAMILY},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"grace-ms", required_argument, NULL, OPT_GRACE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"statement-timeout-ms", required_argument, NULL, OPT_STMT_TIMEOUT},
    {"scan-count", required_argument, NULL, OPT_SCAN_COUNT},
    {"examples", required_argument, NULL, OPT_EXAMPLES},
    {"prom", required_argument, NULL, OPT_PROM},
    {NULL, 0, NULL, 0},
};

static const char audit_help[] =
    "Usage: invqctl audit --cache-url URL --families FILE [--family NAME]... [options]\n"
    "Compares a sample of each family's cached values with its source of truth: the\n"
    "family's audit_query, run with the key's placeholder values against its source\n"
    "(SQLite or PostgreSQL, read-only). Sends only SCAN and GET to the cache.\n"
    "\n"
    "  --cache-url URL          the cache Redis (INVQ_CACHE_URL, required)\n"
    "  --families FILE          the families file (INVQ_FAMILIES, required)\n"
    "  --family NAME            audit this family (repeatable; default: every family\n"
    "                           that declares a source)\n"
    "  --sample N               keys per family, at most (default 1000)\n"
    "  --grace-ms N             re-check a key that differed or changed this long after\n"
    "                           its first check (default 2000)\n"
    "  --rate N                 key checks per second, at most (default 100; 0: no limit)\n"
    "  --statement-timeout-ms N per query (default 5000)\n"
    "  --scan-count N           COUNT of each SCAN call (default 1000)\n"
    "  --examples N             stale keys shown per family (default 5)\n"
    "  --prom FILE              also write the results as Prometheus text, atomically\n"
    "                           (node_exporter textfile collector)\n"
    "\n"
    "Exit: 0 nothing stale, 3 stale or orphaned keys found, 1 no family to audit,\n"
    "64 usage, 65 bad families file or audit_query, 66 families file unreadable,\n"
    "69 cache Redis or database unreachable, 73 --prom file not written, 130 interrupted.\n";

typedef struct cmd_state {
    audit_opts o;
    const char **names; /* --family, in order */
    size_t nnames;
} cmd_state;

static int audit_opt(int id, const char *arg, void *data)
{
    cmd_state *s = data;
    switch (id) {
    case OPT_CACHE_URL:
        s->o.cache_url = arg;
        return 0;
    case OPT_FAMILIES:
        s->o.families_path = arg;
        return 0;
    case OPT_FAMILY: {
        const char **v = realloc(s->names, (s->nnames + 1) * sizeof(*v));
        if (!v)
            return CTL_SOFTWARE;
        s->names = v;
        s->names[s->nnames++] = arg;
        return 0;
    }
    case OPT_SAMPLE:
        return args_uint("--sample", arg, 1, AUDIT_MAX_SAMPLE, &s->o.sample);
    case OPT_GRACE:
        return args_uint("--grace-ms", arg, 0, 3600000, &s->o.grace_ms);
    case OPT_RATE:
        return args_uint("--rate", arg, 0, 1000000, &s->o.rate);
    case OPT_STMT_TIMEOUT:
        return args_uint("--statement-timeout-ms", arg, 1, 3600000, &s->o.stmt_timeout_ms);
    case OPT_SCAN_COUNT:
        return args_uint("--scan-count", arg, 1, 1000000, &s->o.scan_count);
    case OPT_EXAMPLES:
        return args_uint("--examples", arg, 0, 1000, &s->o.examples);
    case OPT_PROM:
        s->o.prom = arg;
        return 0;
    default:
        return CTL_USAGE;
    }
}

/* The families to audit, in file order; *n of them. Returns 0 or an exit code. */
static int pick(const cmd_state *s, const families *fs, const fam_family ***out, size_t *n)
{
    size_t total = families_count(fs);
    const fam_family **v = calloc(total ? total : 1, sizeof(*v));
    if (!v)
        return CTL_SOFTWARE;
    *n = 0;
    for (size_t k = 0; k < s->nnames; k++) {
        const fam_family *f = families_find(fs, s->names[k]);
        if (!f) {
            free(v);
            return args_usage_error("audit ", "no family '%s' in %s", s->names[k], s->o.families_path);
        }
        if (f->source_kind == FAM_SOURCE_NONE) {
            free(v);
            return args_usage_error("audit ", "family '%s' (%s line %d) declares no source and audit_query",
                                    f->name, s->o.families_path, f->line);
        }
    }
    for (size_t i = 0; i < total; i++) {
        const fam_family *f = families_get(fs, i);
        bool want = s->nnames == 0 ? f->source_kind != FAM_SOURCE_NONE : false;
        for (size_t k = 0; k < s->nnames && !want; k++)
            want = strcmp(s->names[k], f->name) == 0;
        if (want)
            v[(*n)++] = f;
    }
    if (*n == 0) {
        free(v);
        fprintf(stderr, "invqctl: audit: no family of %s declares a source and audit_query\n", s->o.families_path);
        return CTL_NOMATCH;
    }
    *out = v;
    return 0;
}

static int exit_code(const audit_result *r, size_t n, int prom_rc)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].error)
            return r[i].error;
    if (prom_rc)
        return prom_rc;
    for (size_t i = 0; i < n; i++)
        if (audit_result_stale_total(&r[i]))
            return CTL_STALE;
    return CTL_OK;
}

static int run(cmd_state *s, const families *fs, const fam_family **fams, size_t n)
{
    audit_result *res = calloc(n, sizeof(*res));
    if (!res)
        return CTL_SOFTWARE;
    uint8_t seed[AUDIT_SEED_BYTES];
    char err[1024];
    if (random_fill(seed, sizeof(seed)) < 0) {
        free(res);
        fprintf(stderr, "invqctl: audit: getrandom failed\n");
        return CTL_SOFTWARE;
    }
    audit_cache cache;
    int crc = audit_cache_open(&cache, s->o.cache_url, s->o.common, err, sizeof(err));
    if (crc == CTL_USAGE) {
        free(res);
        return args_usage_error("audit ", "%s", err);
    }
    interrupt_install();
    audit_pacer pace;
    audit_pacer_init(&pace, s->o.rate);
    for (size_t i = 0; i < n; i++) {
        audit_result_init(&res[i], fams[i]);
        res[i].source = audit_source_describe(fams[i]);
        if (crc)
            audit_result_fail(&res[i], crc, "%s", err);
        else if (interrupt_requested())
            audit_result_fail(&res[i], CTL_INTERRUPTED, "interrupted");
        else
            audit_run_family(&cache, fs, fams[i], &s->o, seed, &pace, &res[i]);
    }
    audit_cache_close(&cache);
    if (s->o.common->json)
        audit_report_json(res, n);
    else
        audit_report_table(res, n, stdout);
    int prc = 0;
    if (s->o.prom) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        prc = audit_report_prom(res, n, s->o.prom, (double)now.tv_sec + (double)now.tv_nsec / 1e9, err, sizeof(err));
        if (prc)
            fprintf(stderr, "invqctl: audit: %s\n", err);
    }
    int code = exit_code(res, n, prc);
    for (size_t i = 0; i < n; i++)
        audit_result_deinit(&res[i]);
    free(res);
    return code;
}

int cmd_audit(int argc, char **argv, ctl_common *common)
{
    cmd_state s;
    memset(&s, 0, sizeof(s));
    s.o.sample = AUDIT_DEFAULT_SAMPLE;
    s.o.grace_ms = AUDIT_DEFAULT_GRACE_MS;
    s.o.rate = AUDIT_DEFAULT_RATE;
    s.o.stmt_timeout_ms = AUDIT_DEFAULT_STMT_TIMEOUT_MS;
    s.o.scan_count = AUDIT_DEFAULT_SCAN_COUNT;
    s.o.examples = AUDIT_DEFAULT_EXAMPLES;
    s.o.common = common;
    const char *e;
    if ((e = getenv("INVQ_CACHE_URL")) && *e)
        s.o.cache_url = e;
    if ((e = getenv("INVQ_FAMILIES")) && *e)
        s.o.families_path = e;
    int pos;
    int rc = args_parse(argc, argv, "audit", audit_options, audit_opt, &s, common, &pos);
    if (rc == ARGS_HELP) {
        free(s.names);
        return args_help(audit_help, NULL);
    }
    if (!rc && pos < argc)
        rc = args_usage_error("audit ", "unexpected argument '%s'", argv[pos]);
    if (!rc && !s.o.cache_url)
        rc = args_usage_error("audit ", "--cache-url (or INVQ_CACHE_URL) is required");
    if (!rc && !s.o.families_path)
        rc = args_usage_error("audit ", "--families (or INVQ_FAMILIES) is required");
    families *fs = NULL;
    const fam_family **fams = NULL;
    size_t n = 0;
    if (!rc)
        rc = families_cli_load(s.o.families_path, common, stderr, &fs);
    if (!rc)
        rc = pick(&s, fs, &fams, &n);
    if (!rc)
        rc = run(&s, fs, fams, n);
    free(fams);
    families_free(fs);
    free(s.names);
    return rc;
}
