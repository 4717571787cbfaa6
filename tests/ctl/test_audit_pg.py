"""invqctl audit against a real PostgreSQL server (with-postgres: initdb and
the server in a temp dir, on a unix socket) and the cache Redis (with-redis):
the same planted values and exact counts as the SQLite test, through a
postgresql:// URL and a libpq keyword string; values the query's types
refuse reported and not queried; bytea keys and values; in-flight
invalidations (a change while the query waits on an advisory lock, on the
first check and on the re-check, a refill and a real invq-worker's delete
during the grace period); and the errors: a write attempt refused by the
read-only transaction, a statement timeout, a bad conninfo, an
unreachable server, the cache Redis down."""
import os
import sys
import tempfile

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_common import *  # noqa: E402,F403

LOCK = 4242  # the advisory lock the flight family's query waits on


class PgSource:
    p = '%s'
    types = {'int': 'integer', 'text': 'text', 'blob': 'bytea'}

    def __init__(self):
        self.url = os.environ['INVQ_TEST_PG_URL']
        self.dsn = os.environ['INVQ_TEST_PG_DSN']
        self.shown = 'host=%s port=%s dbname=postgres user=postgres' % (os.environ['INVQ_TEST_PG_DIR'],
                                                                      os.environ['INVQ_TEST_PG_PORT'])
        self.conn = self.connect()

    def connect(self):
        c = psycopg2.connect(self.dsn)
        c.autocommit = True
        return c

    def sql(self, q, params=()):
        with self.conn.cursor() as cur:
            cur.execute(q, params)
            return cur.fetchall() if cur.description else None

    @staticmethod
    def text_id(b):
        return b


FLIGHT_QUERY = ('SELECT f.v FROM flight f, (SELECT pg_advisory_xact_lock_shared(%d)) l WHERE f.id = :id' % LOCK)


def waiting_on_lock(src):
    return src.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")[0][0] >= 1


def scenario_changed_between_read_and_check(src, fam):
    """The key changes while the first check's query waits: re-checked,
    then found fresh; a key that changes again while its re-check waits is
    unsettled. Neither is counted as stale."""
    r = Redis()
    src.sql('UPDATE flight SET v = %s WHERE id = 1', ('v1',))
    r('SET', 'flight:1', 'v1')
    holder = src.connect()
    hold = holder.cursor()
    hold.execute('SELECT pg_advisory_lock(%s)', (LOCK,))
    r('CONFIG', 'RESETSTAT')
    proc = start_audit(fam, '--family', 'flight', '--grace-ms', '2000', '--statement-timeout-ms', '60000')
    wait_for(lambda: waiting_on_lock(src), "the first check's query to wait on the lock", timeout=60)
    check(gets(r) == 1, 'expected one GET before the query, saw %d' % gets(r))
    src.sql('UPDATE flight SET v = %s WHERE id = 1', ('v2',))   # the writer commits...
    r('SET', 'flight:1', 'v2')                                   # ...and the cache follows
    hold.execute('SELECT pg_advisory_unlock(%s)', (LOCK,))
    res = finish(proc, 0)[0]
    expect(res, sampled=1, checked=1, ok=1, stale=0, rechecked=1)

    # again, and the re-check's query waits too while the key changes once more
    src.sql('UPDATE flight SET v = %s WHERE id = 1', ('v3',))
    r('SET', 'flight:1', 'v2')
    r('CONFIG', 'RESETSTAT')
    proc = start_audit(fam, '--family', 'flight', '--grace-ms', '2000', '--statement-timeout-ms', '60000')
    wait_for(lambda: gets(r) >= 2, 'the first check (two GETs)', timeout=60)
    hold.execute('SELECT pg_advisory_lock(%s)', (LOCK,))
    wait_for(lambda: waiting_on_lock(src), "the re-check's query to wait on the lock", timeout=60)
    r('SET', 'flight:1', 'v3')
    hold.execute('SELECT pg_advisory_unlock(%s)', (LOCK,))
    res = finish(proc, 0)[0]
    expect(res, sampled=1, checked=0, rechecked=1, skipped_unsettled=1)
    holder.close()


def scenario_unfit(src, tmp):
    """Values an integer parameter cannot take, or a text parameter cannot
    carry, are reported and not sent."""
    r = Redis()
    r('SET', 'num:1', 'name-1')
    r('SET', 'num:abc', 'x')
    r('SET', b'num:\xff', 'x')
    r('SET', 'num:99999999999', 'x')
    r('SET', b'num:1\x002', 'x')
    text = ('[class c]\nttl = 1m\n\n[family num]\nkeys = num:{id}\nclass = c\nsource = %s\n'
            'audit_query = SELECT name FROM users WHERE id = :id\n' % src.url)
    path = write_families(tmp, 'num.ini', text)
    p, objs = audit(path, '--json', '--grace-ms', '0', rc=0)
    res = objs[0]
    expect(res, sampled=5, checked=1, ok=1, skipped_unfit=4)
    why = {u['key']: u['reason'] for u in res['unfit']}
    check(why == {'num:abc': 'the value for $1 is not an integer',
                  'num:\\xff': 'the value for $1 is not valid UTF-8, which a text parameter needs',
                  'num:99999999999': 'the value for $1 is not an integer',
                  'num:1\\x002': 'the value for $1 holds a NUL byte, which a text parameter cannot carry'}, why)
    out = audit(path, '--grace-ms', '0', rc=0)[0].stdout.decode()
    check('num: unfit num:abc: the value for $1 is not an integer (not queried)' in out, out)


def scenario_pg_errors(src, tmp, one):
    src.sql('CREATE SEQUENCE audit_seq')
    msg = one('nextval', "SELECT nextval('audit_seq')::text FROM users WHERE id = :id")
    check('would write' in msg and 'read-only transaction' in msg, msg)
    check(src.sql('SELECT is_called FROM audit_seq')[0][0] is False, 'the audit advanced the sequence')
    before = src.sql('SELECT id, name FROM users ORDER BY id')
    msg = one('update', "UPDATE users SET name = 'x' WHERE id = :id RETURNING name")
    check('would write' in msg, msg)
    check(src.sql('SELECT id, name FROM users ORDER BY id') == before, 'the audit changed the table')
    msg = one('slow', 'SELECT u.name FROM users u, (SELECT pg_sleep(5)) s WHERE u.id = :id', code=69,
              args=('--statement-timeout-ms', '200'))
    check('statement timeout (200 ms)' in msg, msg)
    msg = one('badconninfo', 'SELECT name FROM users WHERE id = :id', source='postgresql:///postgres?nosuchoption=1')
    check('not a valid libpq connection string' in msg and 'nosuchoption' in msg, msg)
    msg = one('unreachable', 'SELECT name FROM users WHERE id = :id',
              source='postgresql:///postgres?host=/nonexistent-dir&port=1', code=69)
    check('cannot connect to host=/nonexistent-dir port=1 dbname=postgres' in msg, msg)
    msg = one('extraparam', 'SELECT name FROM users WHERE id = :id AND $2::int IS NULL')
    check('parameters besides' in msg, msg)


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get('INVQ_TEST_REDIS_DIR'))
    src = PgSource()
    fam = scenario_planted(src, tmp)
    # the same through a libpq keyword string
    kw = write_families(tmp, 'kw.ini', open(fam).read().replace(src.url, src.dsn))
    _, objs = audit(kw, '--json', '--family', 'user', '--grace-ms', '0', rc=0)
    expect(objs[0], sampled=12, checked=9, ok=9, skipped_lease=1, skipped_unknown_marker=1, skipped_wrong_type=1)
    check(objs[0]['source'] == src.shown, objs[0]['source'])
    scenario_read_only_redis(src, fam)
    scenario_unfit(src, tmp)
    lock_fam = family_file(tmp, src, flight_query=FLIGHT_QUERY)
    scenario_refilled_in_grace(src, lock_fam)
    scenario_deleted_by_worker_in_grace(src, lock_fam)
    scenario_changed_between_read_and_check(src, lock_fam)
    one = scenario_errors(src, tmp, fam)
    scenario_pg_errors(src, tmp, one)
    print('audit (postgresql): ok')


main()
