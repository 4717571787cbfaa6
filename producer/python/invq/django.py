"""Send invalidations after the database commit, with Django's
``transaction.on_commit`` (Django 3.2 or later).

Inside ``transaction.atomic()`` an invalidation is recorded and sent once,
right after the outermost block commits; a rolled-back block sends nothing,
and a rolled-back savepoint (a nested ``atomic()`` that raised) drops the
invalidations recorded inside it, while the enclosing transaction's stay.
Outside any atomic block (autocommit) it is sent at once::

    # settings.py
    INVQ = {
        "URL": "redis://invq-producer:secret@10.0.0.5:6379/0",
        "SPOOL_DIR": "/var/spool/myservice/invq",   # required key; None to go without
        "FAMILIES": "/etc/myservice/families.ini",  # optional
    }

    # views.py
    import invq.django

    with transaction.atomic():
        user.save()
        invq.django.delete(["user:%d" % user.pk, "user:%d:profile" % user.pk])

The invalidation is checked when it is recorded (limits, families file), so
a bad key raises inside the transaction, where it can still roll back.

The remaining gap, honestly: ``on_commit`` runs in the process, after the
COMMIT. If the process dies between the COMMIT and the send (kill -9, OOM,
power), the invalidation is lost and the key stays stale until its TTL
(the family class's ``ttl``) runs out. The spool closes the other gap — a
Redis that is down or slow at commit time — by writing the job to local disk
(fsync'd) and replaying it later, which is why ``SPOOL_DIR`` is required
(set it to None explicitly to go without). To close the first gap too, write
the keys to an outbox table in the same transaction and let a relay send
them (at least once) with :class:`invq.Producer`.

Errors: a send that fails after the commit (no spool and Redis down, a full
spool, AUTH refused) raises out of the ``atomic()`` block's exit or the
autocommit call, after the data was committed; Django then skips the
remaining on_commit callbacks of that transaction. Pass ``on_error`` to an
:class:`Invalidator` to handle it yourself instead."""
import threading
from typing import Callable, Optional

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from . import Job, Producer
from ._util import Keys, require_spool as require_spool_of

__all__ = ["Invalidator", "get_producer", "get_invalidator", "delete", "bump", "expire", "send"]

OnError = Callable[[BaseException, Job], None]


class Invalidator:
    """Records invalidations in the current transaction of database ``using``
    (None: Django's default) and sends each with ``producer`` after the
    outermost commit. ``require_spool`` (default True) refuses a producer
    without a spool_dir. ``on_error(exc, job)``, when given, is called
    instead of raising when a send after the commit fails."""

    def __init__(self, producer: Producer, *, using: Optional[str] = None, require_spool: bool = True,
                 on_error: Optional[OnError] = None):
        if require_spool:
            require_spool_of(producer, "invq.django")
        self.producer = producer
        self.using = using
        self.on_error = on_error

    def send(self, job: Job, *, using: Optional[str] = None) -> None:
        """Checks job now, sends it after the outermost commit (at once in
        autocommit mode)."""
        self.producer.check(job)

        def after_commit():
            try:
                self.producer.send(job)
            except Exception as e:  # noqa: BLE001 - handed to on_error or re-raised
                if self.on_error is None:
                    raise
                self.on_error(e, job)

        transaction.on_commit(after_commit, using=using if using is not None else self.using)

    def delete(self, keys: Keys, *, using: Optional[str] = None, **fields) -> None:
        """Deletes keys after the commit. fields: redo_ms, after_ms, family, source."""
        self.send(Job(**fields).delete(keys), using=using)

    def bump(self, keys: Keys, *, using: Optional[str] = None, **fields) -> None:
        """Bumps version keys after the commit."""
        self.send(Job(**fields).bump(keys), using=using)

    def expire(self, keys: Keys, ttl_ms: int, *, jitter_pct: Optional[int] = None, using: Optional[str] = None,
               **fields) -> None:
        """Shortens TTLs after the commit."""
        self.send(Job(**fields).expire(keys, ttl_ms, jitter_pct=jitter_pct), using=using)


_lock = threading.Lock()
_default: Optional[Invalidator] = None


def get_producer() -> Producer:
    """The process's Producer, made from ``settings.INVQ`` on first use:
    ``URL`` (required), ``SPOOL_DIR`` (required key, None for no spool),
    ``FAMILIES``, ``NS``, ``QUEUE``, ``SOURCE``, and ``OPTIONS`` (more
    :class:`invq.Producer` keyword arguments). Shared by every thread; a
    forked child opens its own connection on first use."""
    return get_invalidator().producer


def get_invalidator() -> Invalidator:
    """The Invalidator the module-level functions use."""
    global _default
    with _lock:
        if _default is None:
            from django.conf import settings
            conf = getattr(settings, "INVQ", None)
            if not isinstance(conf, dict) or "URL" not in conf:
                raise ImproperlyConfigured("invq.django: settings.INVQ must be a dict with at least URL and "
                                           "SPOOL_DIR")
            if "SPOOL_DIR" not in conf:
                raise ImproperlyConfigured(
                    "invq.django: settings.INVQ['SPOOL_DIR'] is not set: a spool keeps invalidations through a "
                    "Redis outage at commit time; set it to a local directory, or to None to go without")
            kw = dict(conf.get("OPTIONS", {}))
            for key, arg in (("FAMILIES", "families"), ("NS", "ns"), ("QUEUE", "queue"), ("SOURCE", "source")):
                if key in conf:
                    kw[arg] = conf[key]
            producer = Producer(conf["URL"], spool_dir=conf["SPOOL_DIR"], **kw)
            _default = Invalidator(producer, require_spool=conf["SPOOL_DIR"] is not None)
        return _default


def reset() -> None:
    """Closes and forgets the settings' producer (tests, settings changes)."""
    global _default
    with _lock:
        if _default is not None:
            _default.producer.close()
        _default = None


def send(job: Job, *, using: Optional[str] = None) -> None:
    """:meth:`Invalidator.send` with the settings' producer."""
    get_invalidator().send(job, using=using)


def delete(keys: Keys, *, using: Optional[str] = None, **fields) -> None:
    """Deletes keys after the outermost commit of database ``using``."""
    get_invalidator().delete(keys, using=using, **fields)


def bump(keys: Keys, *, using: Optional[str] = None, **fields) -> None:
    """Bumps version keys after the outermost commit."""
    get_invalidator().bump(keys, using=using, **fields)


def expire(keys: Keys, ttl_ms: int, *, jitter_pct: Optional[int] = None, using: Optional[str] = None,
           **fields) -> None:
    """Shortens TTLs after the outermost commit."""
    get_invalidator().expire(keys, ttl_ms, jitter_pct=jitter_pct, using=using, **fields)
