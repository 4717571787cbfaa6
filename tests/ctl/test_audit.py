"""invqctl audit against a SQLite source of truth (and the cache Redis that
with-redis starts): every kind of cached value with exact counts, the
Prometheus file (promtool), a Redis user that may only SCAN and GET,
in-flight invalidations (a refill and a real invq-worker's delete during the
grace period, a change while the re-check's query waits on a lock), and the
errors: usage, bad files, bad queries, a write attempt, an unreadable or
locked database, the cache Redis down."""
import os
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_common import *  # noqa: E402,F403


class SqliteSource:
    p = '?'
    types = {'int': 'INTEGER', 'text': 'TEXT', 'blob': 'BLOB'}

    def __init__(self, tmp):
        self.path = os.path.join(tmp, 'truth.db')
        self.url = 'sqlite://' + self.path
        self.shown = self.url
        self.conn = sqlite3.connect(self.path, isolation_level=None)

    def sql(self, q, params=()):
        return self.conn.execute(q, params).fetchall()

    @staticmethod
    def text_id(b):
        return b.decode()  # a UTF-8 key value is bound as TEXT


def scenario_unsettled_sqlite(src, fam):
    """A key whose value changes while its re-check's query waits for a
    writer's lock is counted as unsettled, not stale."""
    r = Redis()
    src.sql('UPDATE flight SET v = ? WHERE id = 1', ('new',))
    r('SET', 'flight:1', 'old')
    r('CONFIG', 'RESETSTAT')
    proc = start_audit(fam, '--family', 'flight', '--grace-ms', '2000', '--statement-timeout-ms', '60000')
    wait_for(lambda: gets(r) >= 2, 'the first check (two GETs)', timeout=60)
    writer = sqlite3.connect(src.path, isolation_level=None)
    writer.execute('BEGIN EXCLUSIVE')  # the re-check's query now waits
    wait_for(lambda: gets(r) >= 3, "the re-check's first read", timeout=60)
    r('SET', 'flight:1', 'newer')
    writer.execute('COMMIT')
    writer.close()
    res = finish(proc, 0)[0]
    expect(res, sampled=1, checked=0, rechecked=1, skipped_unsettled=1)


def scenario_sqlite_errors(src, tmp, one):
    url = os.environ['INVQ_TEST_REDIS_URL']
    before = src.sql('SELECT id, name FROM users ORDER BY id')
    msg = one('write', "UPDATE users SET name = 'x' WHERE id = :id RETURNING name")
    check('would write' in msg, msg)
    msg = one('twostmts', 'SELECT name FROM users WHERE id = :id; DELETE FROM users')
    check('more than one statement' in msg, msg)
    msg = one('extraparam', 'SELECT name FROM users WHERE id = :id AND ?5 IS NULL')
    check('parameters besides' in msg, msg)
    check(src.sql('SELECT id, name FROM users ORDER BY id') == before, 'the audit changed the database')
    msg = one('nofile', 'SELECT name FROM users WHERE id = :id', source='sqlite:///nonexistent/dir/x.db', code=69)
    check('cannot open read-only' in msg and 'No such file' in msg, msg)
    garbage = os.path.join(tmp, 'garbage.db')
    with open(garbage, 'wb') as f:
        f.write(b'this is not a database' * 100)
    msg = one('garbage', 'SELECT name FROM users WHERE id = :id', source='sqlite://' + garbage, code=69)
    check('not a database' in msg, msg)
    # a writer holds the database longer than the statement timeout
    writer = sqlite3.connect(src.path, isolation_level=None)
    writer.execute('BEGIN EXCLUSIVE')
    msg = one('locked', 'SELECT name FROM users WHERE id = :id', code=69, args=('--statement-timeout-ms', '300'))
    writer.execute('ROLLBACK')
    writer.close()
    check('database is locked' in msg, msg)


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get('INVQ_TEST_REDIS_DIR'))
    src = SqliteSource(tmp)
    fam = scenario_planted(src, tmp)
    scenario_read_only_redis(src, fam)
    scenario_refilled_in_grace(src, fam)
    scenario_deleted_by_worker_in_grace(src, fam)
    scenario_unsettled_sqlite(src, fam)
    one = scenario_errors(src, tmp, fam)
    scenario_sqlite_errors(src, tmp, one)
    print('audit (sqlite): ok')


main()
