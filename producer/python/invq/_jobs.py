"""invq.Job, a description of one invalidation job, and how it becomes a
libinvq job (invq_job_new and the builders) when it is sent or checked."""
from typing import List, Optional, Tuple

from ._errors import OutOfMemory, error_for, strerror
from ._invq import ffi, lib
from ._util import Keys, cstr, integer, keys_list, u64

OP_NAMES = {lib.PYINVQ_OP_DEL: "del", lib.PYINVQ_OP_BUMP: "bump", lib.PYINVQ_OP_EXPIRE: "expire"}

# (op, keys, ttl_ms, jitter_pct): ttl_ms 0 and jitter_pct -1 outside expire.
Op = Tuple[int, Tuple[bytes, ...], int, int]


class Job:
    """One invalidation job: one or more ops (they commute) plus optional
    fields, sent with :meth:`Producer.send` or, several in one atomic round
    trip, :meth:`Producer.send_many`.

    >>> job = invq.Job(family="user").delete(["user:42", "user:42:profile"])
    >>> job.bump("ver:user:42")
    >>> producer.send(job)
    'sent'

    Keys are ``str`` (sent as UTF-8) or ``bytes`` (binary safe); a single
    str or bytes is one key. Every value (limits, TTL ranges, names) is
    checked by libinvq when the job is sent, never here. A ``Job`` may be
    sent more than once: each send builds a new libinvq job with a fresh id,
    and :attr:`id` is the id of the latest one."""

    __slots__ = ("_ops", "family", "source", "after_ms", "redo_ms", "id")

    def __init__(self, *, family: Optional[str] = None, source: Optional[str] = None,
                 after_ms: Optional[int] = None, redo_ms: Optional[int] = None):
        self._ops: List[Op] = []
        self.family = family
        self.source = source
        self.after_ms = after_ms
        self.redo_ms = redo_ms
        self.id: Optional[str] = None

    def delete(self, keys: Keys) -> "Job":
        """Adds a ``del`` op over keys; returns the job."""
        self._ops.append((lib.PYINVQ_OP_DEL, tuple(keys_list(keys)), 0, -1))
        return self

    def bump(self, keys: Keys) -> "Job":
        """Adds a ``bump`` op (INCR of version keys); returns the job."""
        self._ops.append((lib.PYINVQ_OP_BUMP, tuple(keys_list(keys)), 0, -1))
        return self

    def expire(self, keys: Keys, ttl_ms: int, *, jitter_pct: Optional[int] = None) -> "Job":
        """Adds an ``expire`` op: shorten the keys' TTLs to ttl_ms (never
        lengthen), plus up to jitter_pct percent of random extra on the
        worker side; returns the job."""
        self._ops.append((lib.PYINVQ_OP_EXPIRE, tuple(keys_list(keys)), u64("ttl_ms", ttl_ms),
                          -1 if jitter_pct is None else integer("jitter_pct", jitter_pct, -(1 << 31), (1 << 31) - 1)))
        return self

    @property
    def ops(self) -> List[Tuple[str, Tuple[bytes, ...], Optional[int], Optional[int]]]:
        """The ops as (name, keys, ttl_ms, jitter_pct) tuples (None where not set)."""
        return [(OP_NAMES[op], keys, ttl or None, None if jit < 0 else jit) for op, keys, ttl, jit in self._ops]

    def __repr__(self) -> str:
        parts = ["%s %d key%s" % (OP_NAMES[op], len(keys), "" if len(keys) == 1 else "s")
                 for op, keys, _, _ in self._ops]
        extra = "".join(", %s=%r" % (f, getattr(self, f)) for f in ("family", "source", "after_ms", "redo_ms")
                        if getattr(self, f) is not None)
        return "invq.Job(%s%s)" % (", ".join(parts) or "no ops", extra)


def new_cjob():
    cj = lib.invq_job_new()
    if cj == ffi.NULL:
        raise OutOfMemory(lib.INVQ_ENOMEM, "invq_job_new: out of memory, or no randomness for the job id")
    return cj


def add_op(cj, op: int, keys: Tuple[bytes, ...], ttl_ms: int, jitter_pct: int) -> None:
    """Adds one op to a C job: the keys packed end to end, one C call."""
    n = len(keys)
    if n == 1:
        rc = lib.pyinvq_job_add1(cj, op, keys[0], len(keys[0]), ttl_ms, jitter_pct)
    else:
        lens = ffi.new("size_t[]", [len(k) for k in keys]) if n else ffi.NULL
        rc = lib.pyinvq_job_add(cj, op, b"".join(keys), lens, n, ttl_ms, jitter_pct)
    if rc < 0:
        what = "%s over %d key%s" % (OP_NAMES[op], n, "" if n == 1 else "s")
        if op == lib.PYINVQ_OP_EXPIRE:
            what += " (ttl_ms=%d, jitter_pct=%s)" % (ttl_ms, "none" if jitter_pct < 0 else jitter_pct)
        raise error_for(rc, "%s: %s" % (what, strerror(rc)))


def set_fields(cj, family, source, after_ms, redo_ms) -> None:
    """The optional fields of a C job (None: not set)."""
    for name, value, setter in (("family", family, lib.invq_job_set_family),
                                ("source", source, lib.invq_job_set_source)):
        if value is not None:
            rc = setter(cj, cstr(name, value))
            if rc < 0:
                raise error_for(rc, "%s %r: %s" % (name, value, strerror(rc)))
    for name, value, setter in (("after_ms", after_ms, lib.invq_job_set_after_ms),
                                ("redo_ms", redo_ms, lib.invq_job_set_redo_ms)):
        if value is not None:
            rc = setter(cj, u64(name, value))
            if rc < 0:
                raise error_for(rc, "%s %r: %s" % (name, value, strerror(rc)))


def build(job: Job, default_source: Optional[bytes] = None):
    """A new C job for job (free with lib.invq_job_free)."""
    if type(job) is not Job and not isinstance(job, Job):
        raise TypeError("expected an invq.Job, not %s" % type(job).__name__)
    cj = lib.invq_job_new()
    if cj == ffi.NULL:
        raise OutOfMemory(lib.INVQ_ENOMEM, "invq_job_new: out of memory, or no randomness for the job id")
    try:
        for op, keys, ttl, jit in job._ops:
            add_op(cj, op, keys, ttl, jit)
        source = job.source if job.source is not None else default_source
        if job.family is not None or source is not None or job.after_ms is not None or job.redo_ms is not None:
            set_fields(cj, job.family, source, job.after_ms, job.redo_ms)
    except BaseException:
        lib.invq_job_free(cj)
        raise
    return cj


def job_id(cj) -> str:
    return ffi.string(lib.invq_job_id(cj)).decode("ascii")
