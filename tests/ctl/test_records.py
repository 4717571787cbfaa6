"""dlq list/show/requeue/purge on known records: newest-first order, paging,
every filter (reason, family, source, since/until), refs, binary keys shown
safely, corrupt records shown as corrupt (not a crash), requeue of an
undecodable job (warned, bytes unchanged) versus a corrupt record (exit 2)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

r = Redis()
now = int(time.time() * 1000)
H = 3600 * 1000

# 30 records, oldest first pushed with LPUSH like the worker: index 0 is newest.
jobs, recs = [], []
for i in range(30):
    fam = ['users', 'orders', 'carts'][i % 3]
    src = 'api' if i % 2 else 'batch'
    keys = ['%s:%d' % (fam, i), b'bin\x00\xff\\' + bytes([i])]
    job = make_job('job-%02d' % i, [('bump', keys)], fam=fam, src=src, ts=now - 50 * H)
    reason = 'not_integer: ERR value is not an integer' if i % 5 else 'wrong_type: WRONGTYPE Operation'
    rec = make_record(job, reason=reason, attempts=1 + i % 4, first=now - (40 - i) * H - 1000,
                      last=now - (30 - i) * H, consumer='host-1-abc-%d' % (i % 2), jid='job-%02d' % i,
                      errs=['transient: LOADING', reason])
    jobs.append(job)
    recs.append(rec)
    r('LPUSH', DEAD, rec)
undecodable = make_record(b'\xc1\xc1poison', reason='malformed: not msgpack', attempts=1, last=now)
corrupt = b'\x85garbage-record'
r('LPUSH', DEAD, undecodable)
r('LPUSH', DEAD, corrupt)

# JSON list: newest first, the default limit 50 shows all 32.
p = ctl('dlq', 'list', '--json', check_rc=0)
rows = json_lines(p)
check(len(rows) == 32, 'expected 32 rows, got %d' % len(rows))
check(rows[0]['corrupt'] is True and rows[0]['record_error']['code'], rows[0])
check(rows[1]['id'] is None and rows[1]['job_error']['code'] == 'malformed', rows[1])
check([row['id'] for row in rows[2:]] == ['job-%02d' % i for i in range(29, -1, -1)], 'order wrong')
j29 = rows[2]
check(j29['family'] == 'carts' and j29['source'] == 'api' and j29['attempts'] == 2, j29)
check(j29['keys'] == ['carts:29', 'bin\\x00\\xff\\\\\\x1d'], j29['keys'])
check(j29['nkeys'] == 2 and j29['last_failed_ms'] == now - 1 * H, j29)
check(all(row['ref'].startswith('@') and len(row['ref']) == 13 for row in rows), 'bad refs')

# Paging.
p = ctl('dlq', 'list', '--json', '--limit', '5', '--offset', '2', check_rc=0)
check([row['id'] for row in json_lines(p)] == ['job-29', 'job-28', 'job-27', 'job-26', 'job-25'], p.stdout)
p = ctl('dlq', 'list', '--limit', '5', check_rc=0)
check(b'(more entries: --offset 5)' in p.stdout, p.stdout)
ctl('dlq', 'list', '--offset', '32', check_rc=1)

# Filters.
def ids(*args):
    return [row['id'] for row in json_lines(ctl('dlq', 'list', '--json', '--limit', '0', *args))]

check(ids('--family', 'orders') == ['job-%02d' % i for i in range(28, -1, -1) if i % 3 == 1], 'family')
check(ids('--source', 'batch', '--family', 'users') == ['job-%02d' % i for i in (24, 18, 12, 6, 0)], 'source')
check(ids('--reason', 'WRONGTYPE') == ['job-%02d' % i for i in (25, 20, 15, 10, 5, 0)], 'reason')
since = ids('--since', '270m')
check(since == [None, 'job-29', 'job-28', 'job-27', 'job-26'], 'since: %r' % since)
check(ids('--until', '27h ago') == ['job-%02d' % i for i in range(3, -1, -1)], 'until')
t0 = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime((now - 10 * H - H // 2) / 1000))
t1 = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime((now - 8 * H + H // 2) / 1000))
check(ids('--since', t0, '--until', t1) == ['job-22', 'job-21', 'job-20'], 'rfc3339 window')
ctl('dlq', 'list', '--family', 'nope', check_rc=1)

# Human list: aligned columns, corrupt entry flagged, binary keys escaped.
p = ctl('dlq', 'list', '--limit', '4', check_rc=0)
out = p.stdout.decode()
lines = out.splitlines()
check(lines[0].split() == ['REF', 'ID', 'AGE', 'ATTEMPTS', 'FAMILY', 'SOURCE', 'REASON', 'KEYS'], lines[0])
check('CORRUPT RECORD' in lines[1], lines[1])
check(lines[3].startswith(rows[2]['ref']) and 'job-29' in lines[3] and '1h00m' in lines[3], lines[3])
check('carts:29, bin\\x00\\xff\\\\\\x1d' in lines[3], lines[3])
col = lines[0].index('REASON')
check(all(len(line) > col for line in lines[1:4]), 'columns not aligned')
check(lines[2][col - 2:col] == '  ' and lines[3][col - 2:col] == '  ', 'columns not aligned')

# show by id (human + JSON), by ref; a missing id gives 1.
p = ctl('dlq', 'show', 'job-07', check_rc=0)
out = p.stdout.decode()
for want in ('id              job-07', 'attempts        4', 'consumer        host-1-abc-1', '1. transient: LOADING',
             '2. not_integer: ERR value is not an integer', 'family        orders', 'op 0: bump, 2 keys',
             'orders:7', 'bin\\x00\\xff\\\\\\x07', 'first failed    ', 'h00m ago)'):
    check(want in out, 'show lacks %r:\n%s' % (want, out))
p = ctl('dlq', 'show', '--json', 'job-07', check_rc=0)
full = json_lines(p)[0]
check(full['errs'] == ['transient: LOADING', 'not_integer: ERR value is not an integer'], full)
check(full['job']['ops'][0]['op'] == 'bump' and full['job']['family'] == 'orders', full)
check(full['first_failed_ms'] == now - 33 * H - 1000, full)
p = ctl('dlq', 'show', rows[0]['ref'], check_rc=0)
check(b'CORRUPT RECORD' in p.stdout and b'raw' in p.stdout, p.stdout)
p = ctl('dlq', 'show', '--json', rows[1]['ref'], check_rc=0)
u = json_lines(p)[0]
check(u['job_hex_head'].startswith('c1 c1') and u['job_error']['code'] == 'malformed', u)
ctl('dlq', 'show', 'no-such-job', check_rc=1)
ctl('dlq', 'show', 'job-07', 'no-such-job', check_rc=2)

# requeue by id: the job's exact bytes go to pending, the record leaves.
p = ctl('dlq', 'requeue', 'job-07', check_rc=0)
check(b'requeued 1 of 1' in p.stdout, p.stdout)
check(r('LRANGE', PENDING, 0, -1) == [jobs[7]], 'pending does not hold the job bytes')
check(r('LLEN', DEAD) == 31 and jobs[7] not in r('LRANGE', DEAD, 0, -1), 'record still there')
check(r('HGET', STATS, 'requeued') == b'1', 'requeued counter')
ctl('dlq', 'requeue', 'job-07', check_rc=1)  # gone now

# requeue by filter with --dry-run changes nothing.
p = ctl('dlq', 'requeue', '--family', 'carts', '--dry-run', '--json', check_rc=0)
s = json_lines(p)[0]
check(s['would_move'] == 10 and s['matched'] == 10 and r('LLEN', DEAD) == 31, s)

# The undecodable job can be requeued (with a warning); the corrupt record cannot.
p = ctl('dlq', 'requeue', rows[1]['ref'], check_rc=0)
check(b'does not decode' in p.stderr, p.stderr)
check(r('LINDEX', PENDING, 0) == b'\xc1\xc1poison', 'undecodable job bytes changed')
p = ctl('dlq', 'requeue', rows[0]['ref'], check_rc=2)
check(b'corrupt record' in p.stderr and r('LINDEX', DEAD, 0) == corrupt, p.stderr)

# purge by ref removes the corrupt record; --all with a filter needs no --yes.
p = ctl('dlq', 'purge', rows[0]['ref'], check_rc=0)
check(r('LLEN', DEAD) == 29 and corrupt not in r('LRANGE', DEAD, 0, -1), 'corrupt record not purged')
p = ctl('dlq', 'purge', '--all', '--family', 'carts', '--json', check_rc=0)
check(json_lines(p)[0]['moved'] == 10 and r('LLEN', DEAD) == 19, p.stdout)
check(r('HGET', STATS, 'purged') == b'11', 'purged counter')
check(ids('--family', 'carts') == [], 'carts left')
print('ok')
