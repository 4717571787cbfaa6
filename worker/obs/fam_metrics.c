/* Per-family metrics (see fam_metrics.h): one slot per declared family,
 * each allocated on its own so that slot pointers survive new slots. */
#include "fam_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "histogram.h"

enum { MODE_OFF, MODE_SHADOW, MODE_ENFORCE, MODE_N };
enum { RES_DONE, RES_RETRIED, RES_DEAD, RES_N };
enum { OP_DEL, OP_BUMP, OP_EXPIRE, OP_N };
enum { REFUSED_KEY, REFUSED_OP, REFUSED_N };

static const char *const mode_names[MODE_N] = { "off", "shadow", "enforce" };
static const char *const result_names[RES_N] = { "done", "retried", "dead" };
static const char *const op_names[OP_N] = { "del", "bump", "expire" };
static const char *const refused_names[REFUSED_N] = { "key_not_allowed", "op_not_allowed" };

struct fam_slot {
    char name[48];
    bool declared; /* by the file loaded last */
    bool seen;     /* declared again during the current declaration */
    int mode;      /* the declared mode; -1 when not declared */
    bool has_rate;
    uint64_t jobs[MODE_N][RES_N];
    uint64_t keys[OP_N][MODE_N];
    uint64_t hits[OP_N];
    uint64_t probe_errors;
    bool probes_failing;
    uint64_t refused[REFUSED_N];
    double rate_limited;
    histogram lag;
};

struct fam_metrics {
    fam_slot **slots;
    size_t n, cap;
    fam_slot none, other;
    bool loaded;
    char *path;
    char sha256[65];
    uint64_t size;
    double mtime;
    double loaded_at;
    size_t nfamilies;
    uint64_t reloads[2]; /* failed, ok */
    bool reloaded, last_ok;
};

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; s != NULL && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static void slot_init(fam_slot *s, const char *name)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->mode = -1;
    histogram_init(&s->lag, histogram_lag_bounds, histogram_lag_nbounds);
}

fam_metrics *fam_metrics_new(void)
{
    fam_metrics *fm = calloc(1, sizeof *fm);
    if (fm == NULL)
        return NULL;
    slot_init(&fm->none, FAM_METRICS_NONE);
    slot_init(&fm->other, FAM_METRICS_OTHER);
    return fm;
}

void fam_metrics_free(fam_metrics *fm)
{
    if (fm == NULL)
        return;
    for (size_t i = 0; i < fm->n; i++)
        free(fm->slots[i]);
    free(fm->slots);
    free(fm->path);
    free(fm);
}

static fam_slot *find(const fam_metrics *fm, const char *name)
{
    for (size_t i = 0; i < fm->n; i++)
        if (strcmp(fm->slots[i]->name, name) == 0)
            return fm->slots[i];
    return NULL;
}

static fam_slot *add(fam_metrics *fm, const char *name)
{
    if (fm->n == FAM_METRICS_MAX || strlen(name) >= sizeof fm->other.name)
        return NULL;
    if (fm->n == fm->cap) {
        size_t cap = fm->cap ? fm->cap * 2 : 16;
        fam_slot **v = realloc(fm->slots, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        fm->slots = v;
        fm->cap = cap;
    }
    fam_slot *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    slot_init(s, name);
    fm->slots[fm->n++] = s;
    return s;
}

fam_slot *fam_metrics_slot(fam_metrics *fm, const char *name)
{
    if (strcmp(name, FAM_METRICS_NONE) == 0)
        return &fm->none;
    fam_slot *s = find(fm, name);
    if (s == NULL)
        s = add(fm, name);
    return s != NULL ? s : &fm->other;
}

void fam_metrics_declare_begin(fam_metrics *fm)
{
    for (size_t i = 0; i < fm->n; i++)
        fm->slots[i]->seen = false;
}

void fam_metrics_declare(fam_metrics *fm, const char *name, const char *mode, bool has_rate)
{
    fam_slot *s = fam_metrics_slot(fm, name);
    if (s == &fm->other || s == &fm->none)
        return;
    s->seen = true;
    s->declared = true;
    s->mode = index_of(mode_names, MODE_N, mode);
    s->has_rate = has_rate;
}

void fam_metrics_declare_end(fam_metrics *fm)
{
    size_t k = 0;
    for (size_t i = 0; i < fm->n; i++) {
        if (fm->slots[i]->seen)
            fm->slots[k++] = fm->slots[i];
        else
            free(fm->slots[i]);
    }
    fm->n = k;
}

void fam_metrics_file(fam_metrics *fm, const char *path, const char *sha256, uint64_t size, double mtime,
                      size_t nfamilies)
{
    char *p = strdup(path);
    if (p != NULL) {
        free(fm->path);
        fm->path = p;
    }
    snprintf(fm->sha256, sizeof fm->sha256, "%s", sha256);
    fm->size = size;
    fm->mtime = mtime;
    fm->nfamilies = nfamilies;
    fm->loaded_at = wall_seconds();
    fm->loaded = true;
}

void fam_metrics_reload(fam_metrics *fm, bool ok)
{
    fm->reloads[ok ? 1 : 0]++;
    fm->reloaded = true;
    fm->last_ok = ok;
}

void fam_metrics_jobs(fam_slot *s, const char *mode, const char *result, uint64_t n)
{
    int m = index_of(mode_names, MODE_N, mode), r = index_of(result_names, RES_N, result);
    if (m >= 0 && r >= 0)
        s->jobs[m][r] += n;
}

void fam_metrics_keys(fam_slot *s, const char *op, const char *mode, uint64_t n)
{
    int o = index_of(op_names, OP_N, op), m = index_of(mode_names, MODE_N, mode);
    if (o >= 0 && m >= 0)
        s->keys[o][m] += n;
}

void fam_metrics_shadow_hits(fam_slot *s, const char *op, uint64_t n)
{
    int o = index_of(op_names, OP_N, op);
    if (o >= 0)
        s->hits[o] += n;
}

int fam_metrics_shadow_probes(fam_slot *s, uint64_t errors)
{
    s->probe_errors += errors;
    bool failing = errors > 0;
    int turn = failing == s->probes_failing ? 0 : failing ? 1 : -1;
    s->probes_failing = failing;
    return turn;
}

void fam_metrics_refused(fam_slot *s, const char *reason)
{
    int r = index_of(refused_names, REFUSED_N, reason);
    if (r >= 0)
        s->refused[r]++;
}

void fam_metrics_lag(fam_slot *s, double seconds)
{
    histogram_observe(&s->lag, seconds);
}

void fam_metrics_rate_limited(fam_slot *s, double seconds)
{
    if (seconds > 0)
        s->rate_limited += seconds;
}

/* ---- rendering ---- */

typedef int (*slot_render_fn)(const fam_slot *s, expo_buf *b);

/* Every slot in order, then (other), then (none). */
static int each_slot(const fam_metrics *fm, slot_render_fn fn, expo_buf *b)
{
    int rc = 0;
    for (size_t i = 0; i < fm->n && rc == 0; i++)
        rc = fn(fm->slots[i], b);
    if (rc == 0)
        rc = fn(&fm->other, b);
    if (rc == 0)
        rc = fn(&fm->none, b);
    return rc;
}

/* A series is shown once it counted something, and from the start for the
 * family's declared mode (so rate() sees it begin at 0). */
static int render_jobs(const fam_slot *s, expo_buf *b)
{
    int rc = 0;
    for (int m = 0; m < MODE_N; m++)
        for (int r = 0; r < RES_N && rc == 0; r++)
            if (s->jobs[m][r] > 0 || m == s->mode)
                rc = expo_printf(b, "invq_family_jobs_total{family=\"%s\",mode=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                 s->name, mode_names[m], result_names[r], s->jobs[m][r]);
    return rc;
}

static int render_keys(const fam_slot *s, expo_buf *b)
{
    int rc = 0;
    for (int o = 0; o < OP_N; o++)
        for (int m = 0; m < MODE_N && rc == 0; m++)
            if (s->keys[o][m] > 0 || m == s->mode)
                rc = expo_printf(b, "invq_family_keys_total{family=\"%s\",op=\"%s\",mode=\"%s\"} %" PRIu64 "\n",
                                 s->name, op_names[o], mode_names[m], s->keys[o][m]);
    return rc;
}

static int render_hits(const fam_slot *s, expo_buf *b)
{
    int rc = 0;
    for (int o = 0; o < OP_N && rc == 0; o++)
        if (s->hits[o] > 0 || s->mode == MODE_SHADOW)
            rc = expo_printf(b, "invq_family_shadow_hits_total{family=\"%s\",op=\"%s\"} %" PRIu64 "\n", s->name,
                             op_names[o], s->hits[o]);
    return rc;
}

static int render_probe_errors(const fam_slot *s, expo_buf *b)
{
    if (s->probe_errors == 0 && s->mode != MODE_SHADOW)
        return 0;
    return expo_printf(b, "invq_family_shadow_errors_total{family=\"%s\"} %" PRIu64 "\n", s->name, s->probe_errors);
}

static int render_refused(const fam_slot *s, expo_buf *b)
{
    int rc = 0;
    for (int r = 0; r < REFUSED_N && rc == 0; r++)
        if (s->refused[r] > 0)
            rc = expo_printf(b, "invq_family_refused_total{family=\"%s\",reason=\"%s\"} %" PRIu64 "\n", s->name,
                             refused_names[r], s->refused[r]);
    return rc;
}

static int render_rate(const fam_slot *s, expo_buf *b)
{
    if (!s->has_rate && s->rate_limited <= 0)
        return 0;
    return expo_printf(b, "invq_family_rate_limited_seconds_total{family=\"%s\"} %.6f\n", s->name, s->rate_limited);
}

static int render_lag(const fam_slot *s, expo_buf *b)
{
    if (s->lag.count == 0)
        return 0;
    char labels[64];
    snprintf(labels, sizeof labels, "family=\"%s\"", s->name);
    return histogram_render_labelled(&s->lag, "invq_family_lag_seconds", labels, b);
}

static int render_file(const fam_metrics *fm, expo_buf *b)
{
    int rc = expo_header(b, "invq_families_info", "gauge",
                         "Always 1 while a families file is loaded; labels: its path and the SHA-256 of its bytes.");
    if (rc == 0 && fm->loaded) {
        rc = expo_printf(b, "invq_families_info{path=\"");
        if (rc == 0)
            rc = expo_label_value(b, fm->path != NULL ? fm->path : "");
        if (rc == 0)
            rc = expo_printf(b, "\",sha256=\"%s\"} 1\n", fm->sha256);
    }
    if (rc == 0)
        rc = expo_header(b, "invq_families_declared", "gauge", "Families declared by the loaded families file.");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_declared %zu\n", fm->nfamilies);
    if (rc == 0)
        rc = expo_header(b, "invq_families_file_size_bytes", "gauge", "Size of the loaded families file.");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_file_size_bytes %" PRIu64 "\n", fm->size);
    if (rc == 0)
        rc = expo_header(b, "invq_families_file_mtime_seconds", "gauge",
                         "Modification time of the loaded families file, seconds since the Unix epoch.");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_file_mtime_seconds %.3f\n", fm->mtime);
    if (rc == 0)
        rc = expo_header(b, "invq_families_loaded_timestamp_seconds", "gauge",
                         "When the loaded families file was loaded, seconds since the Unix epoch.");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_loaded_timestamp_seconds %.3f\n", fm->loaded_at);
    if (rc == 0)
        rc = expo_header(b, "invq_families_reloads_total", "counter",
                         "Reloads of the families file on SIGHUP, by result (ok, failed: the old file stays).");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_reloads_total{result=\"ok\"} %" PRIu64 "\n"
                            "invq_families_reloads_total{result=\"failed\"} %" PRIu64 "\n",
                         fm->reloads[1], fm->reloads[0]);
    if (rc == 0)
        rc = expo_header(b, "invq_families_last_reload_success", "gauge",
                         "1 when the last reload of the families file succeeded (or none was tried yet), 0 when it failed.");
    if (rc == 0)
        rc = expo_printf(b, "invq_families_last_reload_success %d\n", !fm->reloaded || fm->last_ok);
    return rc;
}

int fam_metrics_render(const fam_metrics *fm, expo_buf *b)
{
    static const struct {
        const char *name, *type, *help;
        slot_render_fn fn;
    } series[] = {
        { "invq_family_jobs_total", "counter",
          "Jobs settled with keys of the family, by the family's mode and the job's result; a job with keys of "
          "several families counts in each.",
          render_jobs },
        { "invq_family_keys_total", "counter",
          "Keys of the family after coalescing, by op and mode: applied (enforce), probed (shadow) or counted (off).",
          render_keys },
        { "invq_family_shadow_hits_total", "counter",
          "Keys of a shadow-mode family that existed in the cache: what enforce would have invalidated.",
          render_hits },
        { "invq_family_shadow_errors_total", "counter",
          "EXISTS probes of shadow-mode keys that the cache answered with an error (they change no job's outcome).",
          render_probe_errors },
        { "invq_family_refused_total", "counter",
          "Jobs dead-lettered by the families file, by the refused key's family ((none): of no family) and reason.",
          render_refused },
        { "invq_family_rate_limited_seconds_total", "counter",
          "Seconds batches waited for the family's fleet-wide rate limit.", render_rate },
        { "invq_family_lag_seconds", "histogram",
          "Seconds from a job's enqueue time (ts) to its settlement, by family (applied, probed or counted).",
          render_lag },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof series / sizeof series[0] && rc == 0; i++) {
        rc = expo_header(b, series[i].name, series[i].type, series[i].help);
        if (rc == 0)
            rc = each_slot(fm, series[i].fn, b);
    }
    return rc == 0 ? render_file(fm, b) : rc;
}
