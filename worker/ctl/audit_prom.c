/* The audit's results as Prometheus text for node_exporter's textfile
 * collector: gauges without timestamps, one family label per series, and
 * the file replaced atomically (temporary file in the same directory,
 * fsync, rename) so the collector never reads half of it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_report.h"

static void head(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void num(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        fprintf(f, "%lld", (long long)v);
    else
        fprintf(f, "%.17g", v);
}

/* One gauge per family: value(r) for each result. */
static void per_family(FILE *f, const audit_result *r, size_t n, const char *name, const char *help,
                       double (*value)(const audit_result *))
{
    head(f, name, help);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{family=\"%s\"} ", name, r[i].family->name);
        num(f, value(&r[i]));
        fputc('\n', f);
    }
}

static double v_sampled(const audit_result *r) { return (double)r->sampled; }
static double v_scanned(const audit_result *r) { return (double)r->scanned; }
static double v_checked(const audit_result *r) { return (double)r->checked; }
static double v_rechecked(const audit_result *r) { return (double)r->rechecked; }
static double v_negative(const audit_result *r) { return (double)r->negative; }
static double v_duration(const audit_result *r) { return r->duration_s; }
static double v_success(const audit_result *r) { return r->error == 0; }
static double v_ratio(const audit_result *r)
{
    return r->checked ? (double)audit_result_stale_total(r) / (double)r->checked : NAN;
}

char *audit_report_prom_text(const audit_result *r, size_t n, double now_s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    head(f, "invq_audit_keys",
         "Sampled keys of a family by outcome of the last invqctl audit: ok, stale, orphan, or why it was skipped.");
    for (size_t i = 0; i < n; i++) {
        const char *name = r[i].family->name;
        fprintf(f, "invq_audit_keys{family=\"%s\",outcome=\"ok\"} %llu\n", name, (unsigned long long)r[i].ok);
        fprintf(f, "invq_audit_keys{family=\"%s\",outcome=\"stale\"} %llu\n", name, (unsigned long long)r[i].stale);
        fprintf(f, "invq_audit_keys{family=\"%s\",outcome=\"orphan\"} %llu\n", name, (unsigned long long)r[i].orphan);
        for (int k = 0; k < AUDIT_NSKIP; k++)
            fprintf(f, "invq_audit_keys{family=\"%s\",outcome=\"%s\"} %llu\n", name, audit_skip_names[k],
                    (unsigned long long)r[i].skipped[k]);
    }
    per_family(f, r, n, "invq_audit_stale_ratio",
               "Stale and orphaned keys over compared keys in the last audit (NaN when none was compared).", v_ratio);
    per_family(f, r, n, "invq_audit_checked_keys", "Keys compared with the source in the last audit.", v_checked);
    per_family(f, r, n, "invq_audit_sampled_keys", "Distinct keys drawn for the last audit.", v_sampled);
    per_family(f, r, n, "invq_audit_scanned_keys", "Keys of the family the last audit's SCAN returned.", v_scanned);
    per_family(f, r, n, "invq_audit_rechecked_keys",
               "Keys re-checked after the grace period in the last audit.", v_rechecked);
    per_family(f, r, n, "invq_audit_negative_keys", "Compared keys that held a negative entry.", v_negative);
    per_family(f, r, n, "invq_audit_duration_seconds", "How long the last audit of the family took.", v_duration);
    per_family(f, r, n, "invq_audit_success",
               "1 when the last audit of the family ran to the end, 0 when it failed.", v_success);
    head(f, "invq_audit_last_run_timestamp_seconds", "When the last audit ran (seconds since the epoch).");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "invq_audit_last_run_timestamp_seconds{family=\"%s\"} ", r[i].family->name);
        fprintf(f, "%.3f\n", now_s);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int audit_report_prom(const audit_result *r, size_t n, const char *path, double now_s, char *err, size_t errlen)
{
    char *text = audit_report_prom_text(r, n, now_s);
    char *dcopy = strdup(path), *bcopy = strdup(path);
    char *tmp = NULL;
    int fd = -1, code = CTL_CANTCREAT;
    const char *step = "out of memory";
    int e = ENOMEM;
    if (!text || !dcopy || !bcopy)
        goto out;
    /* ".NAME.XXXXXX" in the same directory: the collector reads only *.prom */
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    size_t tl = strlen(dir) + strlen(base) + 16;
    if (!(tmp = malloc(tl)))
        goto out;
    snprintf(tmp, tl, "%s/.%s.XXXXXX", dir, base);
    step = "cannot create a temporary file beside it";
    if ((fd = mkstemp(tmp)) < 0) {
        e = errno;
        free(tmp);
        tmp = NULL;
        goto out;
    }
    size_t len = strlen(text), off = 0;
    step = "cannot write it";
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = errno;
            goto out;
        }
        off += (size_t)w;
    }
    step = "cannot sync it";
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
        e = errno;
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        e = errno;
        goto out;
    }
    fd = -1;
    step = "cannot rename the temporary file over it";
    if (rename(tmp, path) < 0) {
        e = errno;
        goto out;
    }
    free(tmp);
    tmp = NULL;
    code = 0;
out:
    if (code)
        snprintf(err, errlen, "--prom %s: %s: %s", path, step, strerror(e));
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(text);
    free(dcopy);
    free(bcopy);
    return code;
}
