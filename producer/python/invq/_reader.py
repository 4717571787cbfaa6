"""invq.Reader: libinvq's cache-aside reader (invq_reader_*, the lease
protocol of schemas/lease-v1.md) for Python services. The C reader is
thread-safe; this wrapper only keeps it alive while gets run."""
import datetime
import os
import threading
from typing import Callable, Dict, Optional, Union

from ._errors import Closed, InvalidArgument, c_text, error_for
from ._invq import ffi, lib
from ._util import Key, NativeObject, c_int, cstr, key_bytes, track, u64

# What the loader trampoline returns when the Python loader raised: a code
# of the service's own (lease-v1.md: the loader's error), passed back by
# invq_reader_get unchanged; the exception itself is re-raised.
_LOADER_RAISED = -1000

_STAT_FIELDS = ("hits", "negative_hits", "misses", "loads", "lease_waits", "wait_timeouts", "fills",
                "fills_refused", "errors", "fallbacks", "load_errors")
_POLICIES = {"load": lib.INVQ_WAIT_LOAD, "fail": lib.INVQ_WAIT_FAIL}
_ERRLEN = 1 << 16

Loader = Callable[[], Optional[bytes]]


class _Load:
    __slots__ = ("loader", "exc")

    def __init__(self, loader):
        self.loader = loader
        self.exc = None


@ffi.def_extern()
def pyinvq_load(user, key, keylen, out):
    """libinvq's loader callback: runs the fetch's Python loader (with the
    GIL, in the fetching thread) and hands its bytes to libinvq."""
    ctx = ffi.from_handle(user)
    try:
        v = ctx.loader()
        if v is None:
            return lib.INVQ_NOTFOUND
        if isinstance(v, str) or not isinstance(v, (bytes, bytearray, memoryview)):
            raise TypeError("the loader returned %s; it must return bytes (or None for no such row)"
                            % type(v).__name__)
        buf = ffi.from_buffer(v)
        return lib.invq_loaded_set(out, buf, len(buf))
    except BaseException as e:  # noqa: BLE001 - re-raised by fetch() in the caller's thread
        ctx.exc = e
        return _LOADER_RAISED


def _ttl_ms(ttl) -> int:
    if isinstance(ttl, datetime.timedelta):
        ms = round(ttl.total_seconds() * 1000)
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        ms = round(ttl * 1000)
    else:
        raise TypeError("ttl is seconds (int or float) or a datetime.timedelta, not %s" % type(ttl).__name__)
    if ms < 1:
        raise InvalidArgument(lib.INVQ_EINVAL, "ttl %r is under 1 ms" % (ttl,))
    return u64("ttl", ms)


class Reader(NativeObject):
    """Cache-aside reads with leases: :meth:`fetch` returns a key's cached
    bytes, or, on a miss, lets exactly one caller fleet-wide (any thread,
    process or host) run its loader and fill the key, while the others wait
    for that fill. A fill that an invalidation (invq-worker's ``DEL``)
    overtook is refused, so a value read before an invalidation is never
    cached after it. If the cache cannot be reached the loader answers and
    nothing is stored; the cache never raises.

    ``url``: the cache Redis (same forms as :class:`Producer`).

    Keyword options (``None``: libinvq's default):

    - ``families``: path of a families file (or an :class:`invq.Families`):
      each key's family class gives its TTL, jitter, negative TTL and lease
      TTL, a versioned family its version key; keys no family claims are
      refused with :class:`FamilyError`.
    - ``ttl_ms`` (none: each fetch needs one, from ``ttl=`` or the family),
      ``jitter_pct`` (10), ``negative_ttl_ms`` (0: no negative caching),
      ``lease_ttl_ms`` (5000): the defaults of the cache policy.
    - ``wait_timeout_ms`` (1000), ``wait_poll_min_ms`` (1),
      ``wait_poll_max_ms`` (16), ``on_wait_timeout`` ("load": load without
      storing, or "fail": raise :class:`WaitTimeout`).
    - ``connect_timeout_ms`` (500), ``command_timeout_ms`` (250),
      ``down_retry_ms`` (1000), ``max_idle_connections`` (16).

    Threads: one Reader may be shared by any number of threads (the GIL is
    released while libinvq talks to Redis and while a waiter sleeps).
    fork(): a Reader used before fork() is not used by the child, which gets
    a fresh one with the same options on its first fetch."""

    def __init__(self, url: str, *, families=None, ttl_ms: Optional[int] = None, jitter_pct: Optional[int] = None,
                 negative_ttl_ms: Optional[int] = None, lease_ttl_ms: Optional[int] = None,
                 wait_timeout_ms: Optional[int] = None, wait_poll_min_ms: Optional[int] = None,
                 wait_poll_max_ms: Optional[int] = None, on_wait_timeout: Optional[str] = None,
                 connect_timeout_ms: Optional[int] = None, command_timeout_ms: Optional[int] = None,
                 down_retry_ms: Optional[int] = None, max_idle_connections: Optional[int] = None):
        from ._families import Families

        self._c = ffi.NULL
        self._closed = True
        self._pid = os.getpid()
        self._abandoned = []
        self._mu = threading.Lock()
        self._idle = threading.Condition(self._mu)
        self._inflight = 0
        if isinstance(families, Families):
            families = families.path
        o = ffi.new("invq_reader_options *")
        lib.invq_reader_options_init(o)
        self._keep = []
        for name, value in (("url", cstr("url", url, allow_none=False)), ("families", cstr("families", families))):
            if value is not None:
                self._keep.append(ffi.new("char[]", value))
                setattr(o, name, self._keep[-1])
        for name, value, conv in (("ttl_ms", ttl_ms, u64), ("jitter_pct", jitter_pct, c_int),
                                  ("negative_ttl_ms", negative_ttl_ms, u64), ("lease_ttl_ms", lease_ttl_ms, u64),
                                  ("wait_timeout_ms", wait_timeout_ms, c_int),
                                  ("wait_poll_min_ms", wait_poll_min_ms, c_int),
                                  ("wait_poll_max_ms", wait_poll_max_ms, c_int),
                                  ("connect_timeout_ms", connect_timeout_ms, c_int),
                                  ("command_timeout_ms", command_timeout_ms, c_int),
                                  ("down_retry_ms", down_retry_ms, c_int),
                                  ("max_idle_connections", max_idle_connections, u64)):
            if value is not None:
                setattr(o, name, conv(name, value))
        if on_wait_timeout is not None:
            if on_wait_timeout not in _POLICIES:
                raise InvalidArgument(lib.INVQ_EINVAL, "on_wait_timeout must be \"load\" or \"fail\", not %r"
                                      % (on_wait_timeout,))
            o.on_wait_timeout = _POLICIES[on_wait_timeout]
        self._opts = o
        self._url = url
        self._open()
        self._closed = False
        track(self)

    def _open(self) -> None:
        out = ffi.new("invq_reader **")
        err = ffi.new("char[]", _ERRLEN)
        rc = lib.invq_reader_new(self._opts, out, err, _ERRLEN)
        if rc < 0:
            raise error_for(rc, c_text(err) or None)
        self._c = out[0]
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        """In a forked child: new locks; the parent's C reader is left alone
        (its pool lock may be held by a thread that does not exist here)."""
        self._mu = threading.Lock()
        self._idle = threading.Condition(self._mu)
        self._inflight = 0
        if self._c != ffi.NULL:
            self._abandoned.append(self._c)
        self._c = ffi.NULL
        self._pid = os.getpid()

    def _enter(self):
        self._check_fork()
        with self._mu:
            if self._closed:
                raise Closed(lib.INVQ_ECLOSED, "the reader is closed")
            if self._c == ffi.NULL:
                self._open()
            self._inflight += 1
            return self._c

    def _leave(self) -> None:
        with self._mu:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.notify_all()

    def fetch(self, key: Key, loader: Loader, *, family: Optional[str] = None,
              ttl: Union[int, float, datetime.timedelta, None] = None,
              version_key: Optional[Key] = None) -> Optional[bytes]:
        """The value of key: from the cache, or from ``loader()`` under the
        lease protocol. loader takes no argument and returns ``bytes`` (any
        bytes-like), or ``None`` for "no such row"; fetch returns the same
        (None for no such row, cached or loaded). An exception the loader
        raises gives up the lease and propagates unchanged.

        ``family``: the family the key must belong to (the families file
        checks; :class:`FamilyError` otherwise). ``ttl``: this fetch's TTL,
        in seconds (int or float) or a timedelta, over the family's and the
        reader's. ``version_key``: for a versioned family without a families
        file, its version key (``"ver:user:42"``).

        Raises :class:`FamilyError` (a key outside the families file),
        :class:`InvalidArgument` (no TTL from any source, bad arguments),
        :class:`WaitTimeout` (``on_wait_timeout="fail"``); never for a cache
        failure, which the loader answers (counted in :meth:`stats`)."""
        kb = key_bytes(key)
        if not callable(loader):
            raise TypeError("loader must be callable, not %s" % type(loader).__name__)
        ro = ffi.NULL
        keep = None
        if family is not None or ttl is not None or version_key is not None:
            ro = ffi.new("invq_read_opts *")
            lib.invq_read_opts_init(ro)
            keep = []
            if family is not None:
                keep.append(ffi.new("char[]", cstr("family", family)))
                ro.family = keep[-1]
            if ttl is not None:
                ro.ttl_ms = _ttl_ms(ttl)
            if version_key is not None:
                vk = key_bytes(version_key)
                if not vk:
                    raise InvalidArgument(lib.INVQ_EINVAL, "version_key is empty")
                keep.append(ffi.new("char[]", vk))
                ro.version_key = keep[-1]
                ro.version_key_len = len(vk)
        ctx = _Load(loader)
        handle = ffi.new_handle(ctx)
        val = ffi.new("void **")
        n = ffi.new("size_t *")
        r = self._enter()
        try:
            rc = lib.invq_reader_get(r, kb, len(kb), ro, lib.pyinvq_load, handle, val, n)
            if rc == 0:
                try:
                    return ffi.unpack(ffi.cast("char *", val[0]), n[0])
                finally:
                    lib.invq_value_free(val[0])
            if ctx.exc is not None:
                raise ctx.exc
            if rc == lib.INVQ_NOTFOUND:
                return None
            raise error_for(rc, self._errstr(r) or None)
        finally:
            self._leave()
            ctx.exc = None  # no cycle through the traceback

    @staticmethod
    def _errstr(r) -> str:
        buf = ffi.new("char[]", 1024)
        lib.invq_reader_errstr(r, buf, 1024)
        return c_text(buf)

    def stats(self) -> Dict[str, int]:
        """The counters since the reader was made (lease-v1.md §10): hits,
        negative_hits, misses, loads, lease_waits, wait_timeouts, fills,
        fills_refused, errors, fallbacks, load_errors. In a forked child they
        start again from 0."""
        r = self._enter()
        try:
            st = ffi.new("invq_reader_stats *")
            lib.invq_reader_stats_get(r, st)
            return {f: int(getattr(st, f)) for f in _STAT_FIELDS}
        finally:
            self._leave()

    def last_error(self) -> str:
        """The latest cache failure, lease wait that ran out or refused
        fetch, "" when none (shared by every thread using the reader)."""
        r = self._enter()
        try:
            return self._errstr(r)
        finally:
            self._leave()

    def close(self) -> None:
        """Waits for fetches in progress on other threads, then closes every
        connection. Idempotent. (Do not call it from inside a loader.)"""
        self._check_fork()
        with self._mu:
            self._closed = True
            while self._inflight:
                self._idle.wait()
            c, self._c = self._c, ffi.NULL
            if c != ffi.NULL:
                lib.invq_reader_free(c)

    def __repr__(self) -> str:
        return "<invq.Reader %s%s>" % (str(self._url).split("@")[-1], " closed" if self._closed else "")
