/* Walks the entries of a msgpack map with str keys: finds the known fields,
 * skips the rest, and rejects non-str and duplicate keys. */
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
        if ((rc = mp_read(r, &key)) < 0)
            goto out;
        if (key.type != MP_STR) {
            rc = codec_err(err, JOB_EWRONGTYPE, path, "a map key is not a str");
            goto out;
        }
        for (i = 0; i < nnames; i++)
            if (mp_obj_is(&key, names[i], strlen(names[i])))
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
        if ((rc = mp_skip(r, JOB_MAX_DEPTH)) < 0)
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
