"""export -> purge -> import gives back byte-identical entries in the same
order, including binary keys, an undecodable job and (with --allow-corrupt)
a corrupt record; export lines carry the informational fields."""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

r = Redis()
recs = []
for i in range(1200):  # more than two pages
    job = make_job('e-%04d' % i, [('del', [b'\xff\xfe' + bytes([i % 256]), 'plain:%d' % i]),
                                   ('expire', ['ttl:%d' % i], 1000 + i)], fam='fam%d' % (i % 3), src='svc')
    recs.append(make_record(job, reason='wrong_type: WRONGTYPE %d' % i, attempts=1 + i % 5,
                            jid='e-%04d' % i, errs=['a', 'b\x01c']))
recs.append(make_record(b'\x00\x01\x02 not a job', reason='malformed: x', attempts=1))
recs.append(b'\xde\xad\xbe\xef')  # corrupt record
r('RPUSH', DEAD, *recs[:600])
r('RPUSH', DEAD, *recs[600:])
before = r('LRANGE', DEAD, 0, -1)
check(before == recs, 'setup')

p_all = ctl('dlq', 'export', check_rc=0)
lines = json_lines(p_all)
check(len(lines) == len(recs), 'exported %d lines' % len(lines))
check(lines[0]['id'] == 'e-0000' and lines[0]['reason'] == 'wrong_type: WRONGTYPE 0', lines[0])
check(lines[0]['last_failed_ms'] > 0 and lines[-1]['corrupt'] is True, lines[-1])
check([base64.b64decode(x['record_b64']) for x in lines] == before, 'export bytes differ')

# Filtered export.
p = ctl('dlq', 'export', '--family', 'fam1', check_rc=0)
check(len(json_lines(p)) == 400, 'filtered export')

ctl('dlq', 'purge', '--all', '--yes', check_rc=0)
check(r('LLEN', DEAD) == 0, 'purge left entries')

# Without --allow-corrupt the corrupt line is refused and nothing is written.
export = p_all.stdout
p = ctl('dlq', 'import', stdin=export, check_rc=65)
check(b'line %d' % len(recs) in p.stderr, p.stderr)
check(r('LLEN', DEAD) == 0, 'refused import wrote entries')

p = ctl('dlq', 'import', '--dry-run', '--allow-corrupt', stdin=export, check_rc=0)
check(r('LLEN', DEAD) == 0, 'dry run wrote entries')
p = ctl('dlq', 'import', '--allow-corrupt', stdin=export, check_rc=0)
check(b'imported %d of %d' % (len(recs), len(recs)) in p.stdout, p.stdout)
after = r('LRANGE', DEAD, 0, -1)
check(after == before, 'entries after export/purge/import are not byte-identical')
print('ok')
