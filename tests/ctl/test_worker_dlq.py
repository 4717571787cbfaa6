"""invqctl against a dead-letter queue filled by real invq-worker failures:
INCR on non-integer keys, WRONGTYPE, poison payloads, from different
families and sources. Lists, filters, shows, watches consumers and stats
while the worker runs, then fixes a cause, requeues, and sees the worker
apply the job; finally purges (needing --yes)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

import msgpack  # noqa: E402

r = Redis()
r('SET', 'counter:a', 'abc')
r('SET', 'counter:b', 'xyz')
r('RPUSH', 'alist', 'x')
r('SET', 'user:1', 'cached')


def enqueue(*args):
    return ctl('enqueue', *args, check_rc=0).stdout.decode().strip()


id_a = enqueue('bump', 'counter:a', '--family', 'counters', '--source', 'billing')
id_b = enqueue('bump', 'counter:b', '--family', 'counters', '--source', 'shop')
id_list = enqueue('bump', 'alist', '--family', 'lists', '--source', 'shop')
enqueue('del', 'user:1', '--family', 'users', '--source', 'billing')
r('LPUSH', PENDING, b'garbage\xff')
unknown_op = msgpack.packb({'v': 1, 'id': 'unknown-op-1', 'ts': 1, 'ops': [{'op': 'frob', 'keys': ['k']}]},
                           use_bin_type=True)
r('LPUSH', PENDING, unknown_op)

w = Worker()
wait_for(lambda: r('LLEN', DEAD) == 5 and r('LLEN', PENDING) == 0, 'five dead letters')
wait_for(lambda: r('EXISTS', 'user:1') == 0, 'the good job to be applied')

# While the worker runs: consumers and stats see one live consumer.
p = ctl('consumers', '--json', check_rc=0)
cons = json_lines(p)
check(len(cons) == 1 and cons[0]['state'] == 'live' and cons[0]['held'] == 0, cons)
check(cons[0]['heartbeat_age_ms'] < 5000, cons)
p = ctl('consumers', check_rc=0)
check(p.stdout.decode().split('\n')[1].split()[1] == 'live', p.stdout)
p = ctl('stats', '--json', check_rc=0)
st = json_lines(p)[0]
check(st['dead'] == 5 and st['pending'] == 0 and st['live_consumers'] == 1, st)
check(st['counters'].get('enqueued') == 4 and st['counters'].get('dead') == 5, st['counters'])
p = ctl('stats', '--watch', '1', '--count', '2', '--json', check_rc=0, timeout=30)
samples = json_lines(p)
check(len(samples) == 2 and 'rates' not in samples[0] and 'rates' in samples[1], samples)
check(samples[1]['rates']['dead'] == 0.0, samples[1]['rates'])
p = ctl('stats', check_rc=0)
out = p.stdout.decode()
check('dead         5' in out and '1 live, 0 stale' in out and 'heartbeat' in out, out)
w.stop()

# After the worker stopped and deregistered.
p = ctl('consumers', check_rc=0)
check(b'no consumers' in p.stdout, p.stdout)

# The list: every failure, newest first, with precise reasons.
rows = json_lines(ctl('dlq', 'list', '--json', check_rc=0))
check(len(rows) == 5, rows)
by_id = {row['id']: row for row in rows}
check('not_integer' in by_id[id_a]['reason'] and by_id[id_a]['family'] == 'counters', by_id[id_a])
check(by_id[id_a]['source'] == 'billing' and by_id[id_a]['keys'] == ['counter:a'], by_id[id_a])
check('WRONGTYPE' in by_id[id_list]['reason'], by_id[id_list])
undecodable = [row for row in rows if row['id'] is None]
check(len(undecodable) == 2 and all(row['job_error'] for row in undecodable), undecodable)
check(sorted(row['job_error']['code'] for row in undecodable) == ['trailing_bytes', 'unknown_op'], undecodable)
poison = [row for row in undecodable if row['job_error']['code'] == 'trailing_bytes']
check(all(row['attempts'] == 1 and row['consumer'] for row in rows), rows)

def ids(*args):
    return sorted(str(row['id']) for row in json_lines(ctl('dlq', 'list', '--json', *args)))

check(ids('--family', 'counters') == sorted([id_a, id_b]), 'family filter')
check(ids('--source', 'shop') == sorted([id_b, id_list]), 'source filter')
check(ids('--reason', 'not_integer') == sorted([id_a, id_b]), 'reason filter')
check(len(ids('--since', '5m')) == 5, 'since filter')
ctl('dlq', 'list', '--until', '1h ago', check_rc=1)

p = ctl('dlq', 'list', check_rc=0)
out = p.stdout.decode()
check(out.splitlines()[0].startswith('REF') and id_a in out and 'counters' in out and 'billing' in out, out)

p = ctl('dlq', 'show', id_a, check_rc=0)
out = p.stdout.decode()
for want in ('id              ' + id_a, 'not_integer', 'family        counters', 'source        billing',
             'op 0: bump, 1 key', 'counter:a'):
    check(want in out, 'show lacks %r:\n%s' % (want, out))
full = json_lines(ctl('dlq', 'show', '--json', id_a, check_rc=0))[0]
check(full['job']['ops'] == [{'op': 'bump', 'keys': ['counter:a']}] and len(full['errs']) >= 1, full)

# Fix the cause, requeue that one job, and the worker applies it.
r('SET', 'counter:a', '41')
p = ctl('dlq', 'requeue', id_a, check_rc=0)
check(b'requeued 1 of 1' in p.stdout, p.stdout)
check(r('LLEN', DEAD) == 4 and r('LLEN', PENDING) == 1, 'requeue did not move the entry')
# The poison payload can go back too (with a warning); it dies again.
p = ctl('dlq', 'requeue', poison[0]['ref'], check_rc=0)
check(b'does not decode' in p.stderr, p.stderr)
w = Worker()
wait_for(lambda: r('GET', 'counter:a') == b'42', 'the requeued bump to be applied')
wait_for(lambda: r('LLEN', DEAD) == 4 and r('LLEN', PENDING) == 0, 'the poison payload to die again')
w.stop()
st = json_lines(ctl('stats', '--json', check_rc=0))[0]
check(st['counters']['requeued'] == 2 and st['counters']['done'] >= 2, st['counters'])
check(id_a not in [row['id'] for row in json_lines(ctl('dlq', 'list', '--json'))], 'requeued job came back')

# purge needs --yes for everything; then the DLQ is empty.
ctl('dlq', 'purge', '--all', check_rc=64)
check(r('LLEN', DEAD) == 4, 'purge without --yes deleted')
p = ctl('dlq', 'purge', '--all', '--yes', '--json', check_rc=0)
check(json_lines(p)[0]['moved'] == 4 and r('LLEN', DEAD) == 0, p.stdout)
ctl('dlq', 'list', check_rc=1)
print('ok')
