"""Send invalidations after the outermost commit of a SQLAlchemy Session
(SQLAlchemy 1.4 or later, ORM sessions, legacy or 2.0-style).

Invalidations are collected on the Session during its transaction and sent
once, after the outermost COMMIT; a rollback drops them; a SAVEPOINT
(``session.begin_nested()``) that is rolled back drops the ones recorded
inside it, one that is released hands them to the enclosing transaction::

    producer = invq.Producer("redis://10.0.0.5:6379/0", spool_dir="/var/spool/app/invq")
    inv = invq.sqlalchemy.Invalidator(producer)

    with Session(engine) as session, session.begin():
        session.get(User, 42).name = "grace"
        inv.delete(session, ["user:42", "user:42:profile"])
    # committed: the job is on the queue now

The invalidation is checked when it is recorded (limits, families file), so
a bad key raises inside the transaction, where it can still roll back. The
Invalidator attaches its event listeners to each Session the first time it
sees it; nothing else needs installing.

The remaining gap, honestly: the send runs in the process, after the
COMMIT. If the process dies between the COMMIT and the send, the
invalidation is lost and the key stays stale until its TTL (the family
class's ``ttl``) runs out. The spool closes the other gap — a Redis that is
down or slow at commit time — by writing the job to local disk and replaying
it later; that is why an Invalidator requires a producer with a spool_dir
unless told ``require_spool=False``. To close the first gap too, write the
keys to an outbox table in the same transaction and let a relay send them
with :class:`invq.Producer`.

Errors: a send that fails after the commit raises out of
``session.commit()`` (the data is committed; the Session stays usable).
Pass ``on_error`` to handle it yourself instead."""
import weakref
from typing import Callable, List, Optional

from sqlalchemy import event

from . import Job, Producer
from ._util import Keys, require_spool as require_spool_of

__all__ = ["Invalidator"]

OnError = Callable[[BaseException, Job], None]


class _State:
    """One Session's invalidations: (boundary, job) pairs, where the boundary
    is the SAVEPOINT transaction they were recorded in, or the root one."""

    def __init__(self):
        self.pending: List[list] = []
        self.released = weakref.WeakSet()  # SAVEPOINTs that were released (committed)
        self.to_send: List[Job] = []


class Invalidator:
    """Collects invalidations on Sessions and sends them with ``producer``
    after each Session's outermost commit. ``require_spool`` (default True)
    refuses a producer without a spool_dir. ``on_error(exc, job)``, when
    given, is called instead of raising when a send after the commit
    fails."""

    def __init__(self, producer: Producer, *, require_spool: bool = True, on_error: Optional[OnError] = None):
        if require_spool:
            require_spool_of(producer, "invq.sqlalchemy")
        self.producer = producer
        self.on_error = on_error
        self._key = "invq.sqlalchemy.%x" % id(self)

    # --------------------------------------------------------------- record

    def send(self, session, job: Job) -> None:
        """Checks job now and sends it after the session's outermost commit."""
        self.producer.check(job)
        st = self._state(session)
        boundary = session.get_nested_transaction() or session.get_transaction()
        if boundary is None:
            boundary = session.begin()  # the invalidation belongs to the transaction it starts
        st.pending.append([boundary, job])

    def delete(self, session, keys: Keys, **fields) -> None:
        """Deletes keys after the commit. fields: redo_ms, after_ms, family, source."""
        self.send(session, Job(**fields).delete(keys))

    def bump(self, session, keys: Keys, **fields) -> None:
        """Bumps version keys after the commit."""
        self.send(session, Job(**fields).bump(keys))

    def expire(self, session, keys: Keys, ttl_ms: int, *, jitter_pct: Optional[int] = None, **fields) -> None:
        """Shortens TTLs after the commit."""
        self.send(session, Job(**fields).expire(keys, ttl_ms, jitter_pct=jitter_pct))

    def pending(self, session) -> List[Job]:
        """The jobs recorded in the session's transaction, not sent yet."""
        st = session.info.get(self._key)
        return [job for _, job in st.pending] if st else []

    # --------------------------------------------------------------- events

    def _state(self, session) -> _State:
        st = session.info.get(self._key)
        if st is None:
            st = session.info[self._key] = _State()
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_transaction_end", self._after_transaction_end)
        return st

    def _after_commit(self, session) -> None:
        st = session.info.get(self._key)
        if st is None:
            return
        nested = session.get_nested_transaction()
        if nested is not None:  # a SAVEPOINT released: its jobs now belong to its parent
            st.released.add(nested)
            return
        # The outermost COMMIT went through. Send once the transaction is
        # closed (after_transaction_end), so that a failing send leaves a
        # usable Session behind.
        st.to_send.extend(job for _, job in st.pending)
        st.pending.clear()

    def _after_transaction_end(self, session, trans) -> None:
        st = session.info.get(self._key)
        if st is None:
            return
        if trans.parent is None:  # the root: committed (to_send) or rolled back
            st.pending.clear()
            jobs, st.to_send = st.to_send, []
            self._send(jobs)
            return
        if trans.nested and trans not in st.released:  # SAVEPOINT rolled back
            st.pending = [p for p in st.pending if p[0] is not trans]
        else:  # released SAVEPOINT, or a subtransaction: hand the jobs up
            for p in st.pending:
                if p[0] is trans:
                    p[0] = trans.parent

    def _send(self, jobs: List[Job]) -> None:
        if not jobs:
            return
        try:
            self.producer.send_many(jobs)  # one atomic round trip for the whole transaction
        except Exception as e:  # noqa: BLE001 - handed to on_error or re-raised
            if self.on_error is None:
                raise
            for job in jobs:
                self.on_error(e, job)
