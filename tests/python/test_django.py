"""invq.django against Debian's Django, on SQLite and on PostgreSQL (a real
server from with-postgres, through psycopg2), with a real redis-server
(with-redis --control): an invalidation recorded in transaction.atomic() is
on the queue once after the commit and not before; a rolled-back block sends
nothing; a rolled-back savepoint drops what it recorded while the outer
transaction's and a released savepoint's are sent; autocommit sends at once;
bad keys raise where they are recorded; a send that fails after the commit
raises (or goes to on_error) with the data committed; the settings demand a
spool (or an explicit None), and with one a commit while Redis is down is
spooled and replayed."""
import os
import tempfile

from pyt import PENDING, check, client, job_keys, note, queued, raises, redis_start, redis_stop, unix_url_nowhere, url

import django
from django.conf import settings

TMP = tempfile.mkdtemp(prefix="invq-py-django-")
SPOOL = os.path.join(TMP, "spool")
os.mkdir(SPOOL)
settings.configure(
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(TMP, "app.db")},
        "pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
               "HOST": os.environ["INVQ_TEST_PG_DIR"], "PORT": os.environ["INVQ_TEST_PG_PORT"]},
    },
    INSTALLED_APPS=[],
    USE_TZ=True,
    INVQ={"URL": url(), "SPOOL_DIR": SPOOL, "SOURCE": "django-test", "OPTIONS": {"connect_timeout_ms": 1000}},
)
django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.db import connections, transaction  # noqa: E402

import invq  # noqa: E402
import invq.django as ij  # noqa: E402


class Boom(Exception):
    pass


def keys_sent(r):
    return [k for j in queued(r) for _, ks in job_keys(j) for k in ks]


def name_of(alias, uid):
    with connections[alias].cursor() as c:
        c.execute("SELECT name FROM users WHERE id = %s", [uid])
        row = c.fetchone()
    return row[0] if row else None


def rename(alias, uid, name):
    with connections[alias].cursor() as c:
        c.execute("UPDATE users SET name = %s WHERE id = %s", [name, uid])


def test_alias(r, alias):
    with connections[alias].cursor() as c:
        c.execute("DROP TABLE IF EXISTS users")
        c.execute("CREATE TABLE users (id integer PRIMARY KEY, name text)")
        c.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'bob')")
    r.flushall()

    with transaction.atomic(using=alias):
        rename(alias, 1, "grace")
        ij.delete(["user:1", "user:1:profile"], using=alias)
        check(r.llen(PENDING) == 0, "nothing is sent before the commit")
    check(keys_sent(r) == [b"user:1", b"user:1:profile"] and len(queued(r)) == 1, "sent once after the commit")
    check(queued(r)[0]["src"] == "django-test", "the settings' SOURCE")

    r.flushall()
    try:
        with transaction.atomic(using=alias):
            rename(alias, 2, "eve")
            ij.delete("user:2", using=alias)
            raise Boom()
    except Boom:
        pass
    check(r.llen(PENDING) == 0 and name_of(alias, 2) == "bob", "rolled back: nothing sent, nothing changed")

    r.flushall()
    with transaction.atomic(using=alias):
        ij.delete("outer:1", using=alias)
        try:
            with transaction.atomic(using=alias):           # savepoint, rolled back
                rename(alias, 2, "mallory")
                ij.delete("inner:rolled-back", using=alias)
                with transaction.atomic(using=alias):       # released into the rolled-back one
                    ij.bump("inner:released-then-rolled-back", using=alias)
                raise Boom()
        except Boom:
            pass
        with transaction.atomic(using=alias):               # savepoint, released
            ij.expire("inner:released", 5000, using=alias)
        ij.delete("outer:2", using=alias)
    sent = keys_sent(r)
    check(sent == [b"outer:1", b"inner:released", b"outer:2"], "savepoints: %r" % sent)
    check(name_of(alias, 2) == "bob", "the savepoint's write was rolled back too")
    note("%s: savepoints: sent %r", alias, sent)

    r.flushall()
    ij.delete("auto:1", using=alias)                         # autocommit: at once
    check(keys_sent(r) == [b"auto:1"], "autocommit sends at once")

    r.flushall()
    with transaction.atomic(using=alias):
        raises(invq.LimitError, ij.delete, "k" * 2000, using=alias)   # raised where it is recorded
        raises(invq.InvalidArgument, ij.delete, [], using=alias)
    check(r.llen(PENDING) == 0, "nothing recorded")


def test_errors_after_commit(r):
    r.flushall()
    nowhere = invq.Producer(unix_url_nowhere(), connect_timeout_ms=1000)
    raises(invq.InvalidArgument, ij.Invalidator, nowhere)          # the spool is the default
    inv = ij.Invalidator(nowhere, require_spool=False)
    e = raises(invq.RedisUnavailable, _commit_with, inv, "lost:1")
    check(name_of("default", 1) == "committed:lost:1", "the data is committed although the send failed: %s" % e)
    failures = []
    inv = ij.Invalidator(nowhere, require_spool=False, on_error=lambda exc, job: failures.append((exc, job)))
    _commit_with(inv, "lost:2")
    check(len(failures) == 1 and isinstance(failures[0][0], invq.RedisUnavailable), repr(failures))
    check(failures[0][1].ops[0][1] == (b"lost:2",), "on_error gets the job")
    nowhere.close()

    fams = os.path.join(TMP, "families.ini")
    with open(fams, "w") as f:
        f.write("[class c]\nttl = 1m\n[family user]\nkeys = user:{id}\nclass = c\nops = del\n")
    with invq.Producer(url(), families=fams, spool_dir=SPOOL) as p:
        inv = ij.Invalidator(p)
        with transaction.atomic():
            raises(invq.FamilyError, inv.delete, "session:1")
            inv.delete("user:9", family="user")
    check(keys_sent(r) == [b"user:9"], "the family's key only")


def _commit_with(inv, key):
    with transaction.atomic():
        rename("default", 1, "committed:" + key)
        inv.delete(key)


def test_settings_and_spool(r):
    ij.reset()
    old = settings.INVQ
    settings.INVQ = {"URL": url()}
    raises(ImproperlyConfigured, ij.get_producer)
    settings.INVQ = {"URL": url(), "SPOOL_DIR": None}
    check(ij.get_producer().spool_dir is None, "explicitly without a spool")
    ij.reset()
    settings.INVQ = old
    check(ij.get_producer().spool_dir == SPOOL, "the settings' spool")

    r.flushall()
    redis_stop()
    with transaction.atomic():
        rename("default", 1, "during-outage")
        ij.delete("user:outage")
    check(ij.get_producer().spool_stats()["pending_jobs"] == 1, "committed while Redis was down: spooled")
    redis_start()
    check(ij.get_producer().flush_spool() == 1 and keys_sent(r) == [b"user:outage"], "replayed")
    note("a commit while Redis was down was spooled and replayed")
    ij.reset()


def main():
    r = client()
    for alias in ("default", "pg"):
        test_alias(r, alias)
    test_errors_after_commit(r)
    test_settings_and_spool(r)
    print("python_django: ok")


if __name__ == "__main__":
    main()
