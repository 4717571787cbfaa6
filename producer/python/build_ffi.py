"""The cffi definition of invq's native module, `invq._invq`: libinvq's public
API (producer/include/invq/invq.h) as cffi declares it, plus the few lines of
glue C the package needs (an op from keys packed end to end; the loader
trampoline). cffi's API mode compiles these declarations against the real
header, so a declaration that drifts from it fails the build.

Two builds use it:

- setup.py (pip): `pip_ffibuilder()` also compiles libinvq's own sources
  (core/, schemas/codec/, schemas/families/, producer/src/) into the module
  and links Debian's hiredis, libuv, msgpack-c, inih and OpenSSL, found by
  pkg-config;
- meson (the tests): `build_ffi.py --emit OUT.c` writes the module's C
  source only; meson compiles it and links the libinvq it built.

Either way the module exports nothing but PyInit__invq (invq/_invq.map)."""
import glob
import os
import subprocess
import sys

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# cffi's subset of invq.h: types with `...;` take their layout from the
# header; `#define X ...` takes the value of an enum constant from it.
CDEF = r"""
#define INVQ_SENT ...
#define INVQ_SPOOLED ...
#define INVQ_NOTFOUND ...
#define INVQ_EINVAL ...
#define INVQ_ENOMEM ...
#define INVQ_EURL ...
#define INVQ_ECONNECT ...
#define INVQ_ETIMEOUT ...
#define INVQ_EAUTH ...
#define INVQ_EREPLY ...
#define INVQ_EIO ...
#define INVQ_ELIMIT ...
#define INVQ_EJOB ...
#define INVQ_ESPOOL ...
#define INVQ_ESPOOLFULL ...
#define INVQ_ECLOSED ...
#define INVQ_EQUEUEFULL ...
#define INVQ_EPROTO ...
#define INVQ_EFAMILY ...
#define INVQ_EWAIT ...
#define INVQ_ETLS ...
#define INVQ_FAMILY_MAX_PARAMS ...
#define INVQ_FAMILY_DEL ...
#define INVQ_FAMILY_BUMP ...
#define INVQ_FAMILY_EXPIRE ...
#define INVQ_FAMILY_OFF ...
#define INVQ_FAMILY_SHADOW ...
#define INVQ_FAMILY_ENFORCE ...
#define INVQ_KEY_PLAIN ...
#define INVQ_KEY_VERSION ...
#define INVQ_KEY_VERSIONED ...
#define PYINVQ_OP_DEL ...
#define PYINVQ_OP_BUMP ...
#define PYINVQ_OP_EXPIRE ...

const char *invq_strerror(int code);

typedef struct invq_job invq_job;
invq_job *invq_job_new(void);
void invq_job_free(invq_job *job);
const char *invq_job_id(const invq_job *job);
int invq_job_set_family(invq_job *job, const char *family);
int invq_job_set_source(invq_job *job, const char *source);
int invq_job_set_after_ms(invq_job *job, uint64_t after_ms);
int invq_job_set_redo_ms(invq_job *job, uint64_t redo_ms);

typedef enum { INVQ_FSYNC_ALWAYS, INVQ_FSYNC_INTERVAL, INVQ_FSYNC_NEVER, ... } invq_fsync_policy;

typedef struct invq_options {
    const char *url;
    const char *ns;
    const char *queue;
    int connect_timeout_ms;
    int command_timeout_ms;
    const char *spool_dir;
    uint64_t spool_max_bytes;
    invq_fsync_policy spool_fsync;
    int spool_fsync_interval_ms;
    size_t max_payload;
    size_t max_keys;
    size_t max_key_len;
    const char *families;
    ...;
} invq_options;
void invq_options_init(invq_options *o);
int invq_job_validate(const invq_job *job, const invq_options *o, char *err, size_t errlen);

typedef struct invq_producer invq_producer;
typedef struct invq_spool_stats {
    uint64_t pending_jobs;
    uint64_t pending_bytes;
    uint64_t replayed_jobs;
    uint64_t torn_records;
    uint64_t adopted_files;
    uint64_t skipped_bytes;
    uint64_t skipped_files;
    uint64_t damaged_headers;
    uint64_t unremovable_files;
    ...;
} invq_spool_stats;
int invq_producer_new(const invq_options *o, invq_producer **out, char *err, size_t errlen);
void invq_producer_free(invq_producer *p);
int invq_send(invq_producer *p, const invq_job *job);
int invq_send_many(invq_producer *p, const invq_job *const *jobs, size_t n);
int invq_flush_spool(invq_producer *p);
const char *invq_producer_errstr(const invq_producer *p);
void invq_producer_spool_stats(const invq_producer *p, invq_spool_stats *st);
const char *invq_producer_spool_error(const invq_producer *p);

typedef struct invq_reader invq_reader;
typedef enum { INVQ_WAIT_LOAD, INVQ_WAIT_FAIL, ... } invq_wait_policy;
typedef struct invq_reader_options {
    const char *url;
    int connect_timeout_ms;
    int command_timeout_ms;
    int down_retry_ms;
    size_t max_idle_connections;
    uint64_t ttl_ms;
    int jitter_pct;
    uint64_t negative_ttl_ms;
    uint64_t lease_ttl_ms;
    int wait_timeout_ms;
    int wait_poll_min_ms;
    int wait_poll_max_ms;
    invq_wait_policy on_wait_timeout;
    const char *families;
    ...;
} invq_reader_options;
void invq_reader_options_init(invq_reader_options *o);
typedef struct invq_read_opts {
    uint64_t ttl_ms;
    int jitter_pct;
    int64_t negative_ttl_ms;
    uint64_t lease_ttl_ms;
    int wait_timeout_ms;
    int on_wait_timeout;
    const void *version_key;
    size_t version_key_len;
    const char *family;
    ...;
} invq_read_opts;
void invq_read_opts_init(invq_read_opts *o);
typedef struct invq_loaded invq_loaded;
int invq_loaded_set(invq_loaded *out, const void *data, size_t len);
typedef struct invq_reader_stats {
    uint64_t hits;
    uint64_t negative_hits;
    uint64_t misses;
    uint64_t loads;
    uint64_t lease_waits;
    uint64_t wait_timeouts;
    uint64_t fills;
    uint64_t fills_refused;
    uint64_t errors;
    uint64_t fallbacks;
    uint64_t load_errors;
    ...;
} invq_reader_stats;
int invq_reader_new(const invq_reader_options *o, invq_reader **out, char *err, size_t errlen);
void invq_reader_free(invq_reader *r);
int invq_reader_get(invq_reader *r, const void *key, size_t keylen, const invq_read_opts *opts,
                    int (*load)(void *, const void *, size_t, invq_loaded *), void *user,
                    void **val, size_t *vallen);
void invq_value_free(void *val);
void invq_reader_stats_get(const invq_reader *r, invq_reader_stats *st);
void invq_reader_errstr(const invq_reader *r, char *buf, size_t len);

typedef struct invq_families invq_families;
typedef struct invq_family_info {
    const char *name;
    const char *class_name;
    uint64_t ttl_ms;
    unsigned jitter_pct;
    uint64_t negative_ttl_ms;
    uint64_t lease_ttl_ms;
    const char *owner;
    unsigned ops;
    int mode;
    uint64_t rate_keys;
    uint64_t rate_period_ms;
    size_t npatterns;
    const char *version_key;
    const char *triggers;
    const char *source;
    const char *audit_query;
    const char *description;
    int line;
    ...;
} invq_family_info;
typedef struct invq_key_info {
    invq_family_info family;
    int kind;
    int pattern;
    const char *pattern_text;
    int64_t version;
    size_t nparams;
    const char *param_names[...];
    const void *param_values[...];
    size_t param_lens[...];
    ...;
} invq_key_info;
int invq_families_load(const char *path, const char *ns, invq_families **out, char *err, size_t errlen);
void invq_families_free(invq_families *f);
size_t invq_families_count(const invq_families *f);
int invq_families_find(const invq_families *f, const char *name);
int invq_families_family(const invq_families *f, size_t index, invq_family_info *info, size_t info_size);
const char *invq_families_pattern(const invq_families *f, size_t family, size_t pattern);
int invq_families_explain(const invq_families *f, const void *key, size_t len, invq_key_info *info,
                          size_t info_size);
int invq_families_build_key(const invq_families *f, const char *family, int pattern,
                            const char *const *names, const void *const *values, const size_t *lens,
                            size_t n, void *buf, size_t cap, size_t *outlen, char *err, size_t errlen);
int invq_families_version_key(const invq_families *f, const void *key, size_t len, void *buf, size_t cap,
                              size_t *outlen);
int invq_families_data_key(const void *key, size_t len, int64_t version, void *buf, size_t cap,
                           size_t *outlen);
int invq_families_check_job(const invq_families *f, const invq_job *job, char *err, size_t errlen);

int pyinvq_job_add(invq_job *job, int op, const char *packed, const size_t *lens, size_t n,
                   uint64_t ttl_ms, int jitter_pct);
int pyinvq_job_add1(invq_job *job, int op, const char *key, size_t len, uint64_t ttl_ms, int jitter_pct);

extern "Python" int pyinvq_load(void *user, const void *key, size_t keylen, invq_loaded *out);
"""

# Glue compiled into the module beside cffi's own code.
SOURCE = r"""
#include <stdlib.h>
#include <invq/invq.h>

enum { PYINVQ_OP_DEL = 1, PYINVQ_OP_BUMP = 2, PYINVQ_OP_EXPIRE = 3 };

/* Adds one op over n keys packed end to end in `packed` (key i is lens[i]
 * bytes): one crossing from Python per op, whatever the number of keys.
 * Returns invq_job_del/bump/expire's status, or INVQ_ENOMEM. */
static int pyinvq_job_add(invq_job *job, int op, const char *packed, const size_t *lens, size_t n,
                          uint64_t ttl_ms, int jitter_pct)
{
    const void *stack[16];
    const void **keys = n <= 16 ? stack : malloc(n * sizeof(*keys));
    size_t off = 0;
    int rc;
    if (!keys)
        return INVQ_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        keys[i] = packed + off;
        off += lens[i];
    }
    if (op == PYINVQ_OP_DEL)
        rc = invq_job_del(job, keys, lens, n);
    else if (op == PYINVQ_OP_BUMP)
        rc = invq_job_bump(job, keys, lens, n);
    else
        rc = invq_job_expire(job, keys, lens, n, ttl_ms, jitter_pct);
    if (keys != stack)
        free(keys);
    return rc;
}

/* The same for one key (the common case): no length array to build. */
static int pyinvq_job_add1(invq_job *job, int op, const char *key, size_t len, uint64_t ttl_ms, int jitter_pct)
{
    return pyinvq_job_add(job, op, key, &len, 1, ttl_ms, jitter_pct);
}
"""

MODULE = "invq._invq"


def _ffi():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi


def emit(path):
    """Writes the module's C source (no libinvq sources: meson links them)."""
    ffi = _ffi()
    ffi.set_source(MODULE, SOURCE)
    ffi.emit_c_code(path)


def _pkg_config(*args):
    return subprocess.run(["pkg-config"] + list(args), check=True, capture_output=True,
                          text=True).stdout.split()


def _msgpack_pc():
    for name in ("msgpack-c", "msgpack"):
        if subprocess.run(["pkg-config", "--exists", name]).returncode == 0:
            return name
    raise SystemExit("invq: pkg-config finds neither msgpack-c nor msgpack (Debian: libmsgpack-dev)")


def libinvq_sources(build_dir):
    """libinvq's own C sources, copied under build_dir (setuptools wants
    source paths relative to setup.py, and puts each object file at its
    source's path under its build_temp), and the generated lease scripts.
    Returns their paths relative to this directory."""
    srcs = []
    for d in ("core", "schemas/codec", "schemas/families", "producer/src"):
        for path in sorted(glob.glob(os.path.join(ROOT, d, "*.c"))):
            dest = os.path.join(build_dir, d, os.path.basename(path))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(path, "rb") as f:
                data = f.read()
            if not os.path.exists(dest) or open(dest, "rb").read() != data:
                with open(dest, "wb") as f:
                    f.write(data)
            srcs.append(dest)
    if not srcs or not os.path.exists(os.path.join(ROOT, "producer", "include", "invq", "invq.h")):
        raise SystemExit("invq: libinvq's sources are not beside this package (%s); build it from an invq "
                         "checkout" % ROOT)
    lease = os.path.join(build_dir, "producer", "src", "lease_scripts.c")
    subprocess.run([sys.executable, os.path.join(ROOT, "worker", "lua", "embed.py"), lease, "lease_scripts.h"]
                   + ["lua_lease_%s=%s" % (n, os.path.join(ROOT, "schemas", "lease", n + ".lua"))
                      for n in ("acquire", "fill", "release")], check=True)
    return [os.path.relpath(p, HERE) for p in srcs + [lease]]


def pip_ffibuilder():
    """The FFI for setup.py: the module with libinvq compiled in."""
    ffi = _ffi()
    deps = ["hiredis", "libuv", _msgpack_pc(), "inih", "openssl"]
    cflags = _pkg_config("--cflags", *deps)
    libs = _pkg_config("--libs", *deps)
    ffi.set_source(
        MODULE, SOURCE,
        sources=libinvq_sources(os.path.join(HERE, "build", "libinvq")),
        include_dirs=[os.path.join(ROOT, d) for d in
                      ("producer/include", "producer/src", "core", "schemas/codec", "schemas/families")],
        define_macros=[("_GNU_SOURCE", None)],
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden"] + cflags,
        extra_link_args=["-Wl,--version-script=" + os.path.join(HERE, "invq", "_invq.map")] + libs + ["-lm"],
    )
    return ffi


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--emit":
        emit(sys.argv[2])
    else:
        sys.exit("usage: build_ffi.py --emit OUT.c   (pip builds through setup.py)")
