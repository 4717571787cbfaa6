/* Walks the entries of a msgpack map with str keys: finds the known fields,
 * skips the rest, and rejects non-str and duplicate keys; for a job's top
 * level, in the same pass as the pre-scan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

void codec_join(char *out, size_t len, const char *path, const char *name)
{
    if (path == NULL || path[0] == '\0')
        snprintf(out, len, "%s", name);
    else if (name[0] == '\0')
        snprintf(out, len, "%s", path);
    else
        snprintf(out, len, "%s.%s", path, name);
}

/* True when the key's bytes spell the NUL-terminated name exactly (a key
 * with a NUL byte inside matches no name). Reads no byte of name past its NUL. */
static bool key_is(const mp_obj *key, const char *name)
{
    uint32_t i;

    for (i = 0; i < key->len; i++)
        if (name[i] == '\0' || (uint8_t)name[i] != key->ptr[i])
            return false;
    return name[key->len] == '\0';
}

/* mp_read() for a key, with the common fixstr decoded inline. */
static int read_key(mp_reader *r, mp_obj *key)
{
    if (r->p < r->end && *r->p >= 0xa0 && *r->p <= 0xbf) {
        uint32_t n = *r->p & 0x1f;
        if (n > (size_t)(r->end - r->p - 1))
            return JOB_EBADLENGTH;
        key->type = MP_STR;
        key->ptr = r->p + 1;
        key->len = n;
        r->p += 1 + n;
        return 0;
    }
    return mp_read(r, key);
}

/* mp_skip() for a value, with one-byte scalars and fixstr skipped inline. */
static int skip_value(mp_reader *r, unsigned max_depth)
{
    if (r->p < r->end) {
        uint8_t b = *r->p;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            r->p++;
            return 0;
        }
        if (b >= 0xa0 && b <= 0xbf) {
            if ((size_t)(b & 0x1f) > (size_t)(r->end - r->p - 1))
                return JOB_EBADLENGTH;
            r->p += 1 + (b & 0x1f);
            return 0;
        }
    }
    return mp_skip(r, max_depth);
}

static int duplicate(const uint8_t *p, size_t n, const char *path, job_error *err)
{
    char name[64], field[96];

    codec_printable(name, sizeof(name), p, n);
    codec_join(field, sizeof(field), path, name);
    return codec_err(err, JOB_EDUPLICATE, field, "field \"%s\" appears more than once", name);
}

int codec_scan_map(mp_reader *r, uint64_t n, const char *const *names, size_t nnames, const uint8_t **pos,
                   const char *path, job_error *err)
{
    codec_slice local[16];
    codec_slice *unknown = local;
    size_t nunknown = 0, i;
    uint64_t e;
    long dup;
    int rc = 0;

    for (e = 0; e < n; e++) {
        mp_obj key;
        if ((rc = read_key(r, &key)) < 0)
            goto out;
        if (key.type != MP_STR) {
            rc = codec_err(err, JOB_EWRONGTYPE, path, "a map key is not a str");
            goto out;
        }
        for (i = 0; i < nnames; i++)
            if (key_is(&key, names[i]))
                break;
        if (i < nnames) {
            if (pos[i] != NULL) {
                rc = duplicate(key.ptr, key.len, path, err);
                goto out;
            }
            pos[i] = r->p;
        } else {
            if (nunknown == sizeof(local) / sizeof(local[0])) {
                /* n <= bytes left / 2, so this stays a small multiple of the input. */
                unknown = malloc(n * sizeof(*unknown));
                if (unknown == NULL) {
                    unknown = local;
                    rc = codec_err(err, JOB_ENOMEM, path, "out of memory");
                    goto out;
                }
                memcpy(unknown, local, sizeof(local));
            }
            unknown[nunknown].p = key.ptr;
            unknown[nunknown].n = key.len;
            nunknown++;
        }
        if ((rc = skip_value(r, JOB_MAX_DEPTH)) < 0)
            goto out;
    }
    dup = codec_find_duplicate(unknown, nunknown);
    if (dup >= 0)
        rc = duplicate(unknown[dup].p, unknown[dup].n, path, err);
out:
    if (unknown != local)
        free(unknown);
    if (rc < 0 && err != NULL && err->code != rc)
        codec_err(err, rc, path, "malformed map");
    return rc;
}

/* codec_scan_map() of the top-level map, done during the pre-scan: a failure
 * is kept in rc and `found` until the pre-scan has finished. */
typedef struct top_scan {
    const char *const *names;
    size_t nnames;
    const uint8_t **pos;
    codec_slice unknown[16];
    size_t nunknown;
    int rc;
    job_error found;
} top_scan;

/* Handles the key object [at, end) whose value starts at `value`. Returns
 * false when the unknown keys outgrow `unknown` (the caller scans again). */
static bool top_key(top_scan *t, const uint8_t *at, const uint8_t *end, const uint8_t *value)
{
    mp_reader kr = {at, end};
    mp_obj key;
    size_t i;

    if (read_key(&kr, &key) < 0 || key.type != MP_STR) {
        t->rc = codec_err(&t->found, JOB_EWRONGTYPE, "", "a map key is not a str");
        return true;
    }
    for (i = 0; i < t->nnames; i++)
        if (key_is(&key, t->names[i]))
            break;
    if (i < t->nnames) {
        if (t->pos[i] != NULL)
            t->rc = duplicate(key.ptr, key.len, "", &t->found);
        else
            t->pos[i] = value;
        return true;
    }
    if (t->nunknown == sizeof(t->unknown) / sizeof(t->unknown[0]))
        return false;
    t->unknown[t->nunknown].p = key.ptr;
    t->unknown[t->nunknown].n = key.len;
    t->nunknown++;
    return true;
}

int codec_prescan_top(const uint8_t *buf, size_t len, const char *const *names, size_t nnames,
                      const uint8_t **pos, job_error *err, int *scan)
{
    top_scan t;
    mp_reader r;
    mp_obj o;
    uint64_t e;
    bool fits = true;
    long dup;
    int rc;

    mp_reader_init(&r, buf, len);
    if (len == 0 || buf[0] < 0x80 || (buf[0] > 0x8f && buf[0] != 0xde && buf[0] != 0xdf)) {
        /* Not a map: the plain pre-scan. */
        *scan = 1;
        return mp_prescan(buf, len);
    }
    if ((rc = mp_read(&r, &o)) < 0)
        return rc;
    t.names = names;
    t.nnames = nnames;
    t.pos = pos;
    t.nunknown = 0;
    t.rc = 0;
    /* The same objects in the same order as mp_prescan(): each key and value
     * is skipped one level below the map. */
    for (e = 0; e < o.u; e++) {
        const uint8_t *key_at = r.p;
        if ((rc = skip_value(&r, JOB_MAX_DEPTH - 1)) < 0)
            return rc;
        if (t.rc == 0 && fits)
            fits = top_key(&t, key_at, r.p, r.p);
        if ((rc = skip_value(&r, JOB_MAX_DEPTH - 1)) < 0)
            return rc;
    }
    if (r.p != r.end)
        return JOB_ETRAILING;

    *scan = 0;
    if (!fits) {
        /* Many unknown keys: scan the (now checked) map again, which may allocate. */
        memset(pos, 0, nnames * sizeof(*pos));
        mp_reader_init(&r, buf, len);
        if ((rc = mp_read(&r, &o)) < 0)
            return rc;
        *scan = codec_scan_map(&r, o.u, names, nnames, pos, "", err);
        return 0;
    }
    if (t.rc == 0 && (dup = codec_find_duplicate(t.unknown, t.nunknown)) >= 0)
        t.rc = duplicate(t.unknown[dup].p, t.unknown[dup].n, "", &t.found);
    if (t.rc < 0)
        codec_err(err, t.rc, t.found.field, "%s", t.found.reason);
    *scan = t.rc;
    return 0;
}
