"""invqctl's command line: help on every subcommand, --version, usage errors
(64), unreachable server (69), purge --all needing --yes, import rejecting a
bad file (65) without writing anything, and enqueue through libinvq."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

import msgpack  # noqa: E402

r = Redis()

# --help on every subcommand, exit 0, on stdout.
for cmd in (['stats'], ['consumers'], ['enqueue'], ['dlq', 'list'], ['dlq', 'show'], ['dlq', 'requeue'],
            ['dlq', 'purge'], ['dlq', 'export'], ['dlq', 'import'], ['dlq'], []):
    p = ctl(*(cmd + ['--help']), check_rc=0)
    check(b'Usage: invqctl' in p.stdout, 'no usage in %s --help: %r' % (cmd, p.stdout[:200]))
    check(b'--queue-url' in p.stdout, 'help of %s lacks the connection flags' % cmd)

p = ctl('--version', check_rc=0)
check(p.stdout.startswith(b'invqctl '), 'version: %r' % p.stdout)

# Usage errors: exit 64 with a message naming the problem.
p = ctl('frobnicate', check_rc=64)
check(b"unknown command 'frobnicate'" in p.stderr, p.stderr)
p = ctl('dlq', 'list', '--bogus', check_rc=64)
check(b"unknown option '--bogus'" in p.stderr, p.stderr)
p = ctl('dlq', 'list', '--limit', 'x', check_rc=64)
check(b'--limit: expected an integer' in p.stderr, p.stderr)
p = ctl('dlq', 'list', '--since', 'yesterday-ish', check_rc=64)
check(b'--since' in p.stderr, p.stderr)
ctl('dlq', 'requeue', check_rc=64)
ctl('dlq', 'requeue', 'some-id', '--all', check_rc=64)
ctl('dlq', 'show', check_rc=64)
ctl('enqueue', 'expire', 'k1', check_rc=64)  # no --ttl-ms
ctl('enqueue', 'zap', 'k1', check_rc=64)
p = ctl('dlq', 'list', check_rc=64, env_extra={'INVQ_QUEUE_URL': ''})
check(b'--queue-url' in p.stderr, p.stderr)
p = ctl('dlq', 'list', '--queue-url', 'redis://127.0.0.1:1', check_rc=69)
check(b'unreachable' in p.stderr, p.stderr)
ctl('stats', '--queue-url', 'unix:///nonexistent/redis.sock', check_rc=69)

# An empty DLQ: list finds nothing (exit 1).
ctl('dlq', 'list', check_rc=1)

# purge --all without filters needs --yes: nothing is deleted without it.
recs = [make_record(make_job('p-%d' % i, [('del', ['k%d' % i])]), jid='p-%d' % i) for i in range(3)]
r('RPUSH', DEAD, *recs)
p = ctl('dlq', 'purge', '--all', check_rc=64)
check(b'--yes' in p.stderr, p.stderr)
check(r('LLEN', DEAD) == 3, 'purge without --yes deleted entries')
p = ctl('dlq', 'purge', '--all', '--dry-run', '--json', check_rc=0)
check(json_lines(p)[0]['would_move'] == 3, p.stdout)
check(r('LLEN', DEAD) == 3, 'dry run deleted entries')
p = ctl('dlq', 'purge', '--all', '--yes', check_rc=0)
check(b'purged 3 of 3' in p.stdout, p.stdout)
check(r('LLEN', DEAD) == 0, 'purge --all --yes left entries')

# import: every line is checked before anything is written; a bad line
# gives 65 and names its number.
good = json_lines(ctl('dlq', 'export', check_rc=1))  # empty now
check(good == [], 'export of an empty DLQ printed %r' % good)
import base64  # noqa: E402
import json  # noqa: E402
lines = [json.dumps({'record_b64': base64.b64encode(rec).decode()}) for rec in recs]
bad_cases = [
    ('{not json', b'line 2: not a JSON object'),
    (json.dumps({'id': 'x'}), b'line 2: no "record_b64"'),
    (json.dumps({'record_b64': '!!!'}), b'line 2: record_b64 is not valid base64'),
    (json.dumps({'record_b64': base64.b64encode(b'\x93\x01\x02').decode()}), b'line 2: not a dead-letter record'),
]
for bad, msg in bad_cases:
    text = '\n'.join([lines[0], bad, lines[1]]) + '\n'
    p = ctl('dlq', 'import', stdin=text.encode(), check_rc=65)
    check(msg in p.stderr, 'import error for %r: %r' % (bad, p.stderr))
    check(r('LLEN', DEAD) == 0, 'a failed import wrote entries')
p = ctl('dlq', 'import', stdin=('\n'.join(lines) + '\n').encode(), check_rc=0)
check(r('LRANGE', DEAD, 0, -1) == recs, 'import did not reproduce the records in order')

# enqueue through libinvq: the printed id is the job's id on pending.
if os.environ.get('INVQ_CTL_HAVE_ENQUEUE') == '1':
    p = ctl('enqueue', 'expire', 'user:1', 'user:2', '--ttl-ms', '5000', '--jitter-pct', '10', '--family', 'users',
            check_rc=0)
    jid = p.stdout.decode().strip()
    raw = r('LRANGE', PENDING, 0, -1)
    check(len(raw) == 1, 'enqueue pushed %d jobs' % len(raw))
    job = msgpack.unpackb(raw[0], raw=False)
    check(job['id'] == jid and job['fam'] == 'users' and job['src'] == 'invqctl', job)
    check(job['ops'][0]['op'] == 'expire' and job['ops'][0]['ttl_ms'] == 5000, job)
    keys = [k if isinstance(k, str) else k.decode() for k in job['ops'][0]['keys']]
    check(keys == ['user:1', 'user:2'], job)
    p = ctl('enqueue', 'del', '--json', '--', '-dash-key', check_rc=0)
    check(json_lines(p)[0]['op'] == 'del' and r('LLEN', PENDING) == 2, p.stdout)
    ctl('enqueue', 'del', 'k', '--queue-url', 'redis://127.0.0.1:1', check_rc=69)

print('ok')
