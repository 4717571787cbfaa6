"""invq's exceptions: one class per libinvq status code (or family of codes),
all under :class:`Error`, each carrying the code and libinvq's message."""
from typing import Dict, Optional, Type

from ._invq import ffi, lib

__all__ = [
    "Error", "InvalidArgument", "InvalidURL", "OutOfMemory", "RedisUnavailable", "AuthError", "ReplyError",
    "Unconfirmed", "Timeout", "ConnectionLost", "ProtocolError", "JobError", "LimitError", "SpoolError",
    "SpoolFull", "Closed", "FamilyError", "WaitTimeout", "TLSError", "error_for", "code_name",
]

_NAMES = {
    lib.INVQ_EINVAL: "INVQ_EINVAL", lib.INVQ_ENOMEM: "INVQ_ENOMEM", lib.INVQ_EURL: "INVQ_EURL",
    lib.INVQ_ECONNECT: "INVQ_ECONNECT", lib.INVQ_ETIMEOUT: "INVQ_ETIMEOUT", lib.INVQ_EAUTH: "INVQ_EAUTH",
    lib.INVQ_EREPLY: "INVQ_EREPLY", lib.INVQ_EIO: "INVQ_EIO", lib.INVQ_ELIMIT: "INVQ_ELIMIT",
    lib.INVQ_EJOB: "INVQ_EJOB", lib.INVQ_ESPOOL: "INVQ_ESPOOL", lib.INVQ_ESPOOLFULL: "INVQ_ESPOOLFULL",
    lib.INVQ_ECLOSED: "INVQ_ECLOSED", lib.INVQ_EQUEUEFULL: "INVQ_EQUEUEFULL", lib.INVQ_EPROTO: "INVQ_EPROTO",
    lib.INVQ_EFAMILY: "INVQ_EFAMILY", lib.INVQ_EWAIT: "INVQ_EWAIT", lib.INVQ_ETLS: "INVQ_ETLS",
}


def code_name(code: int) -> str:
    """The C name of a status code ("INVQ_ETIMEOUT"), or the number as text."""
    return _NAMES.get(code, str(code))


def strerror(code: int) -> str:
    """libinvq's one line of English for a status code (invq_strerror)."""
    return ffi.string(lib.invq_strerror(code)).decode("utf-8", "replace")


class Error(Exception):
    """Any failure libinvq reports. ``code`` is the (negative) INVQ_* status
    code, ``name`` its C name, and ``str(err)`` libinvq's message: the detail
    (which limit, which server reply, which file and line) when there is
    one, else invq_strerror()'s line."""

    code: int

    def __init__(self, code: int, message: Optional[str] = None):
        self.code = code
        self.message = message or strerror(code)
        super().__init__(self.message)

    @property
    def name(self) -> str:
        return code_name(self.code)

    def __repr__(self) -> str:
        return "%s(%s, %r)" % (type(self).__name__, self.name, self.message)


class InvalidArgument(Error, ValueError):
    """INVQ_EINVAL: a bad argument or option; nothing was sent."""


class InvalidURL(InvalidArgument):
    """INVQ_EURL: the Redis URL cannot be parsed (the message names the part)."""


class OutOfMemory(Error, MemoryError):
    """INVQ_ENOMEM."""


class RedisUnavailable(Error):
    """INVQ_ECONNECT: Redis could not be reached; the job was not sent (with a
    spool configured the job is spooled instead and this is not raised)."""


class AuthError(Error):
    """INVQ_EAUTH: AUTH was refused, or Redis wants one; not sent, not spooled."""


class ReplyError(Error):
    """INVQ_EREPLY: Redis answered with an error (NOPERM, WRONGTYPE, OOM, ...); not queued."""


class Unconfirmed(Error):
    """The round trip was not confirmed: the job may or may not be on the
    queue (delivery is at least once; with a spool these cases spool)."""


class Timeout(Unconfirmed):
    """INVQ_ETIMEOUT: connect or command timed out."""


class ConnectionLost(Unconfirmed):
    """INVQ_EIO: the connection broke mid round trip."""


class ProtocolError(Unconfirmed):
    """INVQ_EPROTO: Redis sent a reply of an unexpected shape."""


class JobError(Error, ValueError):
    """INVQ_EJOB: the job is invalid (no ops, an empty key list, a bad field); not sent."""


class LimitError(JobError):
    """INVQ_ELIMIT: the job is over a limit (payload size, keys per job, key length); not sent."""


class SpoolError(Error):
    """INVQ_ESPOOL: spool file I/O failed; the job was not stored."""


class SpoolFull(SpoolError):
    """INVQ_ESPOOLFULL: the spool holds spool_max_bytes already; the job was not stored."""


class Closed(Error):
    """INVQ_ECLOSED: the Producer or Reader is closed."""


class FamilyError(Error, ValueError):
    """INVQ_EFAMILY: a key outside its family of the families file, or an op
    its family does not allow; not sent, not spooled (or, for a Reader, not
    read)."""


class WaitTimeout(Error):
    """INVQ_EWAIT: another reader's lease outlived the wait and the reader's
    ``on_wait_timeout`` is "fail"; the loader was not called."""


class TLSError(Error):
    """INVQ_ETLS: TLS failed: the server's certificate does not verify (the
    message says why: unknown CA, expired, another host name), the
    handshake failed, or a TLS file named by an ``ssl_*`` URL parameter
    cannot be used. Nothing was sent unverified."""


_CLASSES: Dict[int, Type[Error]] = {
    lib.INVQ_EINVAL: InvalidArgument, lib.INVQ_EURL: InvalidURL, lib.INVQ_ENOMEM: OutOfMemory,
    lib.INVQ_ECONNECT: RedisUnavailable, lib.INVQ_EAUTH: AuthError, lib.INVQ_EREPLY: ReplyError,
    lib.INVQ_ETIMEOUT: Timeout, lib.INVQ_EIO: ConnectionLost, lib.INVQ_EPROTO: ProtocolError,
    lib.INVQ_EJOB: JobError, lib.INVQ_ELIMIT: LimitError, lib.INVQ_ESPOOL: SpoolError,
    lib.INVQ_ESPOOLFULL: SpoolFull, lib.INVQ_ECLOSED: Closed, lib.INVQ_EFAMILY: FamilyError,
    lib.INVQ_EWAIT: WaitTimeout, lib.INVQ_ETLS: TLSError,
}


def error_for(code: int, message: Optional[str] = None) -> Error:
    """The exception for a negative status code (``Error`` itself for codes
    without a class of their own), with message (else invq_strerror)."""
    return _CLASSES.get(code, Error)(code, message)


def c_text(ptr) -> str:
    """A borrowed C string as text (bytes that are not UTF-8 as \\x escapes)."""
    if ptr == ffi.NULL:
        return ""
    return ffi.string(ptr).decode("utf-8", "backslashreplace")
