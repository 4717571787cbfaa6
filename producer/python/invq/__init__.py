"""invq for Python: hand cache-invalidation jobs to invq after a database
commit, read through the cache without stale sets or thundering herds, and
follow the team's families file — all through libinvq, the same C library
every invq program uses (validation, spool, job ids, families rules and the
lease protocol are libinvq's, not re-implemented here).

>>> import invq
>>> with invq.Producer("redis://127.0.0.1:6379", spool_dir="/var/spool/app/invq") as p:
...     p.delete(["user:42", "user:42:profile"])
'sent'

- :class:`Producer` sends jobs (``delete``, ``bump``, ``expire``,
  ``send_many``) and spools them while Redis is unreachable;
- :class:`Job` describes one job for ``send`` / ``send_many``;
- :class:`Reader` is the cache-aside reader (``fetch(key, loader)``);
- :class:`Families` reads the families file (``explain``, key builders);
- :mod:`invq.django` and :mod:`invq.sqlalchemy` send after the outermost
  commit.

Every failure raises an :class:`Error` subclass carrying libinvq's status
code (``.code``) and message. See producer/python/README.md."""
from ._errors import (AuthError, Closed, ConnectionLost, Error, FamilyError, InvalidArgument, InvalidURL, JobError,
                      LimitError, OutOfMemory, ProtocolError, RedisUnavailable, ReplyError, SpoolError, SpoolFull,
                      TLSError, Timeout, Unconfirmed, WaitTimeout, code_name, strerror)
from ._families import Families, FamilyInfo, KeyInfo
from ._jobs import Job
from ._producer import SENT, SPOOLED, Producer
from ._reader import Reader

__version__ = "0.1.0"

__all__ = [
    "Producer", "Job", "Reader", "Families", "FamilyInfo", "KeyInfo", "SENT", "SPOOLED",
    "Error", "InvalidArgument", "InvalidURL", "OutOfMemory", "RedisUnavailable", "AuthError", "ReplyError",
    "Unconfirmed", "Timeout", "ConnectionLost", "ProtocolError", "JobError", "LimitError", "SpoolError",
    "SpoolFull", "Closed", "FamilyError", "WaitTimeout", "TLSError", "code_name", "strerror",
]
