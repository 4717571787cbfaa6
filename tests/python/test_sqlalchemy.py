"""invq.sqlalchemy against Debian's SQLAlchemy, on SQLite and on PostgreSQL
(a real server from with-postgres, through psycopg2), with a real
redis-server (with-redis --control): invalidations collected on a Session
are sent once, in one round trip, after the outermost commit and not
before; a rollback drops them; a rolled-back SAVEPOINT drops what it
recorded (with the SAVEPOINTs released into it), a released one hands its
jobs to the enclosing transaction; legacy and 2.0-style sessions; bad keys
raise where they are recorded; a send that fails after the commit raises out
of commit() (or goes to on_error), the data committed and the Session still
usable; with a spool a commit while Redis is down is spooled and replayed."""
import os
import tempfile

from pyt import PENDING, check, client, job_keys, note, queued, raises, redis_start, redis_stop, unix_url_nowhere, url

import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.orm import Session

import invq
import invq.sqlalchemy as isa

TMP = tempfile.mkdtemp(prefix="invq-py-sqlalchemy-")
SPOOL = os.path.join(TMP, "spool")
os.mkdir(SPOOL)


class Boom(Exception):
    pass


def sqlite_engine():
    engine = sqlalchemy.create_engine("sqlite:///" + os.path.join(TMP, "app.db"), future=True)

    # pysqlite's own transaction handling gets SAVEPOINTs wrong; SQLAlchemy's
    # documented recipe lets SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _rec):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine


def pg_engine():
    return sqlalchemy.create_engine("postgresql+psycopg2://postgres@/postgres?host=%s&port=%s"
                                    % (os.environ["INVQ_TEST_PG_DIR"], os.environ["INVQ_TEST_PG_PORT"]), future=True)


def keys_sent(r):
    return [k for j in queued(r) for _, ks in job_keys(j) for k in ks]


def name_of(engine, uid):
    with engine.connect() as c:
        return c.execute(text("SELECT name FROM sa_users WHERE id = :id"), {"id": uid}).scalar()


def rename(s, uid, name):
    s.execute(text("UPDATE sa_users SET name = :n WHERE id = :id"), {"n": name, "id": uid})


def test_engine(r, engine, inv, label):
    with engine.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS sa_users"))
        c.execute(text("CREATE TABLE sa_users (id integer PRIMARY KEY, name text)"))
        c.execute(text("INSERT INTO sa_users VALUES (1, 'ada'), (2, 'bob')"))
    r.flushall()

    with Session(engine, future=True) as s:
        with s.begin():
            rename(s, 1, "grace")
            inv.delete(s, ["user:1", "user:1:profile"])
            inv.bump(s, "ver:user:1")
            check(r.llen(PENDING) == 0 and len(inv.pending(s)) == 2, "collected, not sent")
        check(keys_sent(r) == [b"user:1", b"user:1:profile", b"ver:user:1"], "sent after the commit")
        check(r.hget("invq:{default}:stats", "enqueued") == b"2" and not inv.pending(s), "both jobs, one batch")

        r.flushall()
        try:
            with s.begin():
                rename(s, 2, "eve")
                inv.delete(s, "user:2")
                raise Boom()
        except Boom:
            pass
        check(r.llen(PENDING) == 0 and name_of(engine, 2) == "bob", "rolled back: nothing sent")

        r.flushall()
        with s.begin():
            inv.delete(s, "outer:1")
            sp = s.begin_nested()
            rename(s, 2, "mallory")
            inv.delete(s, "inner:rolled-back")
            with s.begin_nested():
                inv.bump(s, "inner:released-into-rolled-back")
            sp.rollback()
            with s.begin_nested():
                inv.expire(s, "inner:released", 5000)
            inv.delete(s, "outer:2")
        sent = keys_sent(r)
        check(sent == [b"outer:1", b"inner:released", b"outer:2"], "savepoints: %r" % sent)
        check(name_of(engine, 2) == "bob", "the SAVEPOINT's write was rolled back too")
        note("%s: savepoints: sent %r", label, sent)

        r.flushall()
        rename(s, 1, "autobegun")        # 2.0 style: autobegin, explicit commit
        inv.delete(s, "user:1")
        s.rollback()
        check(r.llen(PENDING) == 0, "rollback() drops")
        inv.delete(s, "early")           # recorded before any statement: it begins the transaction
        rename(s, 1, "late")
        s.commit()
        check(keys_sent(r) == [b"early"] and name_of(engine, 1) == "late", "commit() sends")

        r.flushall()
        with s.begin():
            raises(invq.LimitError, inv.delete, s, "k" * 2000)
            raises(TypeError, inv.delete, s, [3])
        check(r.llen(PENDING) == 0, "nothing recorded")

    r.flushall()
    legacy = Session(engine)             # 1.x style session
    legacy.execute(text("UPDATE sa_users SET name = 'legacy' WHERE id = 1"))
    inv.delete(legacy, "legacy:1")
    legacy.commit()
    legacy.close()
    check(keys_sent(r) == [b"legacy:1"], "legacy Session")


def test_errors(r, engine):
    nowhere = invq.Producer(unix_url_nowhere(), connect_timeout_ms=1000)
    raises(invq.InvalidArgument, isa.Invalidator, nowhere)       # the spool is the default
    inv = isa.Invalidator(nowhere, require_spool=False)
    with Session(engine, future=True) as s:
        s.begin()
        rename(s, 1, "committed-anyway")
        inv.delete(s, "lost:1")
        raises(invq.RedisUnavailable, s.commit)
        check(name_of(engine, 1) == "committed-anyway", "the data is committed")
        check(s.execute(text("SELECT count(*) FROM sa_users")).scalar() == 2, "the Session is still usable")
        s.rollback()
    failures = []
    inv = isa.Invalidator(nowhere, require_spool=False, on_error=lambda e, job: failures.append((e, job)))
    with Session(engine, future=True) as s, s.begin():
        inv.delete(s, "lost:2")
    check(len(failures) == 1 and isinstance(failures[0][0], invq.RedisUnavailable), repr(failures))
    nowhere.close()

    r.flushall()
    with invq.Producer(url(), spool_dir=SPOOL, connect_timeout_ms=1000) as p:
        inv = isa.Invalidator(p)
        redis_stop()
        with Session(engine, future=True) as s, s.begin():
            rename(s, 1, "during-outage")
            inv.delete(s, "user:outage")
        check(p.spool_stats()["pending_jobs"] == 1, "spooled while Redis was down")
        redis_start()
        check(p.flush_spool() == 1 and keys_sent(r) == [b"user:outage"], "replayed")


def main():
    r = client()
    with invq.Producer(url(), spool_dir=SPOOL) as p:
        inv = isa.Invalidator(p)
        for label, engine in (("sqlite", sqlite_engine()), ("postgresql", pg_engine())):
            test_engine(r, engine, inv, label)
            test_errors(r, engine)
            engine.dispose()
    print("python_sqlalchemy: ok")


if __name__ == "__main__":
    main()
