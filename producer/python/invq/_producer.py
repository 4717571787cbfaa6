"""invq.Producer: libinvq's synchronous producer (invq_producer_*) for Python
services, one C producer behind a lock, shared by any number of threads."""
import os
import threading
from typing import Dict, Iterable, Optional

from ._errors import Closed, error_for, c_text
from ._invq import ffi, lib
from ._jobs import Job, add_op, build, job_id, new_cjob, set_fields
from ._util import Keys, NativeObject, c_int, cstr, keys_list, track, u64

SENT = "sent"
SPOOLED = "spooled"

_FSYNC = {"always": lib.INVQ_FSYNC_ALWAYS, "interval": lib.INVQ_FSYNC_INTERVAL, "never": lib.INVQ_FSYNC_NEVER}
_SPOOL_FIELDS = ("pending_jobs", "pending_bytes", "replayed_jobs", "torn_records", "adopted_files",
                 "skipped_bytes", "skipped_files", "damaged_headers", "unremovable_files")
_ERRLEN = 1 << 16


class Producer(NativeObject):
    """Hands invalidation jobs to invq: each send puts the job on the queue's
    Redis list in one round trip (``"sent"``) or, when Redis cannot be
    reached and a spool directory is set, into the local spool, replayed in
    order when Redis is back (``"spooled"``). Anything else raises an
    :class:`invq.Error` subclass; nothing is dropped silently.

    ``url``: ``redis://[[user]:password@]host[:port][/db]`` or
    ``unix:///path/to/redis.sock[?db=N&user=U&password=P]``.

    Keyword options (``None``: libinvq's default):

    - ``spool_dir``: directory of the spool (default none: an unreachable
      Redis raises :class:`RedisUnavailable`). Recommended for every service.
    - ``families``: path of a families file (or an :class:`invq.Families`):
      every send checks its jobs against it first and refuses a key outside
      its family, or an op its family does not allow, with
      :class:`FamilyError` (nothing sent or spooled).
    - ``ns`` ("invq"), ``queue`` ("default"): the queue's keys are
      ``<ns>:{<queue>}:pending`` and ``...:stats``.
    - ``connect_timeout_ms`` (2000), ``command_timeout_ms`` (5000).
    - ``spool_max_bytes`` (64 MiB), ``spool_fsync`` ("always", "interval"
      or "never"), ``spool_fsync_interval_ms`` (1000).
    - ``max_payload`` (1 MiB), ``max_keys`` (10,000), ``max_key_len``
      (1 KiB): the wire format's limits.
    - ``source``: the ``src`` of every job that does not name its own.

    A bad option raises :class:`InvalidArgument` (:class:`InvalidURL` for
    the URL; a bad families file lists every problem as FILE:LINE: message).
    An unreachable Redis is not an error here.

    Threads: one Producer may be shared by any number of threads; sends are
    serialised on one connection by a lock, and the GIL is released while
    libinvq talks to Redis and writes (and fsyncs) the spool.

    fork(): a Producer used before fork() is not used by the child: there,
    the first call opens a new connection and spool file with the same
    options (the parent's stay the parent's, untouched). Use it as a context
    manager, or call :meth:`close`."""

    def __init__(self, url: str, *, spool_dir=None, families=None, ns: str = "invq", queue: str = "default",
                 connect_timeout_ms: Optional[int] = None, command_timeout_ms: Optional[int] = None,
                 spool_max_bytes: Optional[int] = None, spool_fsync: Optional[str] = None,
                 spool_fsync_interval_ms: Optional[int] = None, max_payload: Optional[int] = None,
                 max_keys: Optional[int] = None, max_key_len: Optional[int] = None,
                 source: Optional[str] = None):
        from ._families import Families  # the families module imports this one's types

        self._c = ffi.NULL
        self._closed = True
        self._pid = os.getpid()
        self._abandoned = []
        self._lock = threading.Lock()
        if isinstance(families, Families):
            families = families.path
        self._strings = {"url": cstr("url", url, allow_none=False), "ns": cstr("ns", ns, allow_none=False),
                         "queue": cstr("queue", queue, allow_none=False), "spool_dir": cstr("spool_dir", spool_dir),
                         "families": cstr("families", families)}
        self._source = cstr("source", source)
        o = ffi.new("invq_options *")
        lib.invq_options_init(o)
        self._keep = []  # the C strings o points to, alive as long as o (reopened after fork())
        for name, b in self._strings.items():
            if b is not None:
                self._keep.append(ffi.new("char[]", b))
                setattr(o, name, self._keep[-1])
        for name, value, conv in (("connect_timeout_ms", connect_timeout_ms, c_int),
                                  ("command_timeout_ms", command_timeout_ms, c_int),
                                  ("spool_max_bytes", spool_max_bytes, u64),
                                  ("spool_fsync_interval_ms", spool_fsync_interval_ms, c_int),
                                  ("max_payload", max_payload, u64), ("max_keys", max_keys, u64),
                                  ("max_key_len", max_key_len, u64)):
            if value is not None:
                setattr(o, name, conv(name, value))
        if spool_fsync is not None:
            if spool_fsync not in _FSYNC:
                raise error_for(lib.INVQ_EINVAL, "spool_fsync must be one of %s, not %r"
                                % (", ".join(sorted(_FSYNC)), spool_fsync))
            o.spool_fsync = _FSYNC[spool_fsync]
        self._opts = o
        self._families_path = self._strings["families"]
        self._families = None
        self._open()
        self._closed = False
        track(self)

    # ------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        out = ffi.new("invq_producer **")
        err = ffi.new("char[]", _ERRLEN)
        rc = lib.invq_producer_new(self._opts, out, err, _ERRLEN)
        if rc < 0:
            raise error_for(rc, c_text(err) or None)
        self._c = out[0]
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        """In a forked child: new locks; the parent's C producer is left alone."""
        self._lock = threading.Lock()
        if self._c != ffi.NULL:
            self._abandoned.append(self._c)
        self._c = ffi.NULL
        self._pid = os.getpid()

    def _handle(self):
        """The C producer (call with the lock held)."""
        if self._closed:
            raise Closed(lib.INVQ_ECLOSED, "the producer is closed")
        if self._c == ffi.NULL:
            self._open()
        return self._c

    def close(self) -> None:
        """Closes the connection and the spool file (jobs still spooled stay on
        disk; the next producer on the same spool_dir adopts them). Waits for
        a send in progress on another thread. Idempotent."""
        self._check_fork()
        with self._lock:
            self._closed = True
            c, self._c = self._c, ffi.NULL
            if c != ffi.NULL:
                lib.invq_producer_free(c)

    def __repr__(self) -> str:
        return "<invq.Producer %s%s%s>" % (self._strings["url"].decode("utf-8", "replace").split("@")[-1],
                                           " spool=%s" % self.spool_dir if self.spool_dir else "",
                                           " closed" if self._closed else "")

    # ---------------------------------------------------------------- sends

    def _send(self, cjobs) -> str:
        self._check_fork()
        with self._lock:
            p = self._handle()
            if len(cjobs) == 1:
                rc = lib.invq_send(p, cjobs[0])
            else:
                rc = lib.invq_send_many(p, ffi.new("invq_job *[]", cjobs), len(cjobs))
            if rc < 0:
                raise error_for(rc, c_text(lib.invq_producer_errstr(p)) or None)
        return SENT if rc == lib.INVQ_SENT else SPOOLED

    def _one(self, op: int, keys: Keys, ttl_ms: int, jitter_pct: int, family, source, after_ms, redo_ms) -> str:
        cj = new_cjob()
        try:
            add_op(cj, op, tuple(keys_list(keys)), ttl_ms, jitter_pct)
            set_fields(cj, family, source if source is not None else self._source, after_ms, redo_ms)
            return self._send([cj])
        finally:
            lib.invq_job_free(cj)

    def delete(self, keys: Keys, *, redo_ms: Optional[int] = None, after_ms: Optional[int] = None,
               family: Optional[str] = None, source: Optional[str] = None) -> str:
        """Deletes keys from the cache (one job, one round trip). ``redo_ms``:
        delete once more that much later (the delayed double delete against
        the delete/fill race); ``after_ms``: not before. Returns ``"sent"``
        or ``"spooled"``."""
        return self._one(lib.PYINVQ_OP_DEL, keys, 0, -1, family, source, after_ms, redo_ms)

    def bump(self, keys: Keys, *, redo_ms: Optional[int] = None, after_ms: Optional[int] = None,
             family: Optional[str] = None, source: Optional[str] = None) -> str:
        """Bumps (INCRs) version keys of versioned families. Returns
        ``"sent"`` or ``"spooled"``."""
        return self._one(lib.PYINVQ_OP_BUMP, keys, 0, -1, family, source, after_ms, redo_ms)

    def expire(self, keys: Keys, ttl_ms: int, *, jitter_pct: Optional[int] = None, redo_ms: Optional[int] = None,
               after_ms: Optional[int] = None, family: Optional[str] = None, source: Optional[str] = None) -> str:
        """Shortens the keys' TTLs to ttl_ms (never lengthens them), plus up
        to jitter_pct percent of random extra. Returns ``"sent"`` or
        ``"spooled"``."""
        return self._one(lib.PYINVQ_OP_EXPIRE, keys, u64("ttl_ms", ttl_ms),
                         -1 if jitter_pct is None else c_int("jitter_pct", jitter_pct), family, source, after_ms,
                         redo_ms)

    def send(self, job: Job) -> str:
        """Sends one :class:`Job`; sets ``job.id``. Returns ``"sent"`` or ``"spooled"``."""
        return self.send_many([job])

    def send_many(self, jobs: Iterable[Job]) -> str:
        """Sends jobs in one pipelined round trip, atomically (MULTI, LPUSH,
        HINCRBY, EXEC): all are queued, or all spooled, or none (an invalid
        job, or one the families file refuses, fails the whole batch before
        anything is sent). Sets each job's ``id``. Returns ``"sent"`` or
        ``"spooled"``."""
        jobs = list(jobs)
        cjobs = []
        try:
            for j in jobs:
                cjobs.append(build(j, self._source))
            status = self._send(cjobs) if cjobs else self._send_none()
            for j, cj in zip(jobs, cjobs):
                j.id = job_id(cj)
            return status
        finally:
            for cj in cjobs:
                lib.invq_job_free(cj)

    def _send_none(self) -> str:
        with self._lock:
            p = self._handle()
            rc = lib.invq_send_many(p, ffi.NULL, 0)
            if rc < 0:
                raise error_for(rc, c_text(lib.invq_producer_errstr(p)) or None)
        return SENT if rc == lib.INVQ_SENT else SPOOLED

    def check(self, job: Job) -> None:
        """Checks a job without sending it: the limits, the job's own fields,
        and (with a families file) its keys and ops. Raises the error the
        send would raise (:class:`LimitError`, :class:`JobError`,
        :class:`FamilyError`, ...). The after-commit hooks call this when an
        invalidation is recorded, inside the transaction."""
        cj = build(job, self._source)
        try:
            err = ffi.new("char[]", 1024)
            rc = lib.invq_job_validate(cj, self._opts, err, 1024)
            if rc < 0:
                raise error_for(rc, c_text(err) or None)
            fams = self._checker()
            if fams is not None:
                fams.check_cjob(cj)
        finally:
            lib.invq_job_free(cj)

    # ---------------------------------------------------------------- spool

    def flush_spool(self) -> int:
        """Replays the spool now (this process's file and orphaned files of
        dead producers it adopts). Returns the number of jobs replayed; raises
        the error that stopped the replay (say :class:`RedisUnavailable`),
        with the rest still spooled."""
        self._check_fork()
        with self._lock:
            p = self._handle()
            st = ffi.new("invq_spool_stats *")
            lib.invq_producer_spool_stats(p, st)
            before = st.replayed_jobs
            rc = lib.invq_flush_spool(p)
            if rc < 0:
                raise error_for(rc, c_text(lib.invq_producer_errstr(p)) or None)
            lib.invq_producer_spool_stats(p, st)
            return int(st.replayed_jobs - before)

    def spool_stats(self) -> Dict[str, int]:
        """The spool's counters: pending_jobs, pending_bytes, replayed_jobs,
        torn_records, adopted_files, skipped_bytes, skipped_files,
        damaged_headers, unremovable_files (all 0 without a spool)."""
        self._check_fork()
        with self._lock:
            st = ffi.new("invq_spool_stats *")
            lib.invq_producer_spool_stats(self._handle(), st)
            return {f: int(getattr(st, f)) for f in _SPOOL_FIELDS}

    def spool_error(self) -> str:
        """The spool's last problem ("" when none): a damaged record skipped,
        a spool entry left alone, a file that could not be removed. It stays
        until a newer problem replaces it."""
        self._check_fork()
        with self._lock:
            return c_text(lib.invq_producer_spool_error(self._handle()))

    @property
    def spool_dir(self) -> Optional[str]:
        b = self._strings["spool_dir"]
        return None if b is None else b.decode("utf-8", "surrogateescape")

    @property
    def families(self):
        """The families file this producer checks jobs against, as an
        :class:`invq.Families` (None without one)."""
        return self._checker()

    def _checker(self):
        from ._families import Families
        if self._families_path is None:
            return None
        if self._families is None:
            self._families = Families(self._families_path.decode("utf-8", "surrogateescape"),
                                      ns=self._strings["ns"].decode("utf-8"))
        return self._families

