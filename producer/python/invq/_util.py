"""Marshalling between Python values and libinvq's C arguments (keys, C
strings, integers), and the fork() bookkeeping the Producer and the Reader
share. No invq rule lives here: every value is checked by libinvq itself;
this module only refuses what cannot be expressed in C at all (a key that is
neither str nor bytes, a NUL inside a C string, an integer out of its C
type's range)."""
import os
import threading
import weakref
from typing import Iterable, List, Optional, TypeVar, Union

from ._errors import InvalidArgument
from ._invq import lib

Key = Union[str, bytes]
Keys = Union[str, bytes, Iterable[Union[str, bytes]]]

U64_MAX = (1 << 64) - 1
INT_MAX = (1 << 31) - 1


def key_bytes(key) -> bytes:
    """A key as the bytes libinvq gets: str as UTF-8, bytes-like as is."""
    if type(key) is bytes:
        return key
    if isinstance(key, str):
        try:
            return key.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgument(lib.INVQ_EINVAL, "key %r is not encodable as UTF-8 (%s); pass bytes" % (key, e)) \
                from None
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError("a key is str or bytes, not %s" % type(key).__name__)


def keys_list(keys) -> List[bytes]:
    """Keys as a list of bytes. A single str or bytes is one key (not an
    iterable of characters)."""
    if isinstance(keys, (str, bytes, bytearray, memoryview)):
        return [key_bytes(keys)]
    try:
        return [key_bytes(k) for k in keys]
    except TypeError as e:
        if "a key is" in str(e):
            raise
        raise TypeError("keys must be a str, bytes or an iterable of them, not %s" % type(keys).__name__) from None


def cstr(name: str, value, *, allow_none: bool = True) -> Optional[bytes]:
    """A str / bytes / os.PathLike option as a C string (None stays None)."""
    if value is None:
        if allow_none:
            return None
        raise InvalidArgument(lib.INVQ_EINVAL, "%s must not be None" % name)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        b = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, bytes):
        b = value
    else:
        raise TypeError("%s must be str or bytes, not %s" % (name, type(value).__name__))
    if b"\0" in b:
        raise InvalidArgument(lib.INVQ_EINVAL, "%s contains a NUL byte" % name)
    return b


def integer(name: str, value, lo: int, hi: int) -> int:
    """An int within a C type's range [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < lo or value > hi:
        raise InvalidArgument(lib.INVQ_EINVAL, "%s is %d, outside %d..%d" % (name, value, lo, hi))
    return value


def u64(name: str, value) -> int:
    return integer(name, value, 0, U64_MAX)


def c_int(name: str, value) -> int:
    return integer(name, value, -INT_MAX - 1, INT_MAX)


# ---------------------------------------------------------------- fork()
#
# A Producer or Reader made before fork() must not be used by the child: its
# connections and spool file are shared with the parent, and a lock may have
# been held by a parent thread that does not exist in the child. In the child
# each live object gets fresh locks and drops its C object *without freeing
# it* (freeing could close or truncate what the parent still uses); the next
# call opens a new one with the same options.

_live = weakref.WeakSet()
_T = TypeVar("_T", bound="NativeObject")


class NativeObject:
    """What a Producer and a Reader share: a C object opened again after
    fork(), a context manager, closed when collected. Subclasses set
    ``_closed`` and ``_pid`` first thing, and define ``close()`` and
    ``_after_fork()`` (fresh locks; the parent's C object left alone)."""

    _closed = True
    _pid = 0

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        raise NotImplementedError

    def _after_fork(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if not self._closed and self._pid == os.getpid():
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            pass


def require_spool(producer, who: str) -> None:
    """The after-commit hooks' default: a producer without a spool loses
    invalidations to a Redis outage at commit time."""
    if not producer.spool_dir:
        raise InvalidArgument(lib.INVQ_EINVAL,
                              "%s: the producer has no spool_dir, so a Redis outage at commit time would lose "
                              "invalidations; give it one, or pass require_spool=False" % who)
_live_lock = threading.Lock()


def track(obj) -> None:
    with _live_lock:
        _live.add(obj)


def _after_fork_in_child() -> None:
    global _live_lock
    _live_lock = threading.Lock()
    for obj in list(_live):
        obj._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
