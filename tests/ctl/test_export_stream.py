"""dlq export and dlq import stream: a DLQ of 64 MiB of records goes out and
comes back byte for byte while each invqctl stays far below that in peak
memory (its ru_maxrss, measured by tests/fixture's peak-rss). Import skips whitespace-only
lines like blank ones, and the size limits hold with and without
--allow-corrupt (record <= max_payload + 64 KiB, its job <= max_payload,
--max-payload / INVQ_MAX_PAYLOAD to raise them)."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

MIB = 1 << 20
UNDER_VALGRIND = os.environ.get('INVQ_CTL_VALGRIND') == '1'
SANITIZED = os.environ.get('INVQ_TEST_SANITIZE', 'none') not in ('', 'none')

r = Redis()


def run_measured(args, stdin_path, stdout_path):
    """Runs invqctl under peak-rss with stdin/stdout on files; returns (exit
    code, its peak RSS in bytes, stderr)."""
    env = dict(os.environ)
    env['INVQ_QUEUE_URL'] = os.environ['INVQ_TEST_REDIS_URL']
    rss_path = stdout_path + '.rss'
    with open(stdin_path or os.devnull, 'rb') as fin, open(stdout_path, 'wb') as fout:
        p = subprocess.run([os.environ['INVQ_TEST_PEAK_RSS'], rss_path] + ctl_argv(*args), stdin=fin,
                           stdout=fout, stderr=subprocess.PIPE, env=env, timeout=120)
    with open(rss_path) as f:
        peak = int(f.read())
    os.unlink(rss_path)
    return p.returncode, peak, p.stderr


def dead_digests():
    out, start = [], 0
    while True:
        page = r('LRANGE', DEAD, start, start + 19)
        out += [hashlib.sha1(x).digest() for x in page]
        if len(page) < 20:
            return out
        start += 20


# ---- a large DLQ, exported and imported with bounded memory
# Under valgrind (no memory bound to check there): fewer, smaller records,
# still more than one page.
n, nkeys = (24, 40) if UNDER_VALGRIND else (320, 200)
key_block = 'k' * 990
recs_digests = []
batch = []
for i in range(n):
    keys = ['%s:%d:%d' % (key_block, i, j) for j in range(nkeys)]  # ~200 KiB job
    rec = make_record(make_job('big-%04d' % i, [('del', keys)]), jid='big-%04d' % i)
    batch.append(rec)
    recs_digests.append(hashlib.sha1(rec).digest())
    if len(batch) == 20:
        r('RPUSH', DEAD, *batch)
        batch = []
if batch:
    r('RPUSH', DEAD, *batch)
data_total = len(rec) * n
check(dead_digests() == recs_digests, 'setup')

work = tempfile.mkdtemp()
export_path = os.path.join(work, 'dlq.jsonl')
rc, export_peak, err = run_measured(['dlq', 'export'], None, export_path)
check(rc == 0, 'export exit %d: %s' % (rc, err))
r('DEL', DEAD)
rc, import_peak, err = run_measured(['dlq', 'import'], export_path, os.path.join(work, 'out'))
check(rc == 0, 'import exit %d: %s' % (rc, err))
check(dead_digests() == recs_digests, 'entries after export/import are not byte-identical')
print('# %d records, %.1f MiB: export peak RSS %.1f MiB, import peak RSS %.1f MiB'
      % (n, data_total / MIB, export_peak / MIB, import_peak / MIB))
if not UNDER_VALGRIND and not SANITIZED:
    # Holding the list (or the file) would take more than all of it.
    check(export_peak < data_total / 2, 'export peak RSS %.1f MiB for %.1f MiB of records'
          % (export_peak / MIB, data_total / MIB))
    check(import_peak < data_total / 2, 'import peak RSS %.1f MiB for %.1f MiB of records'
          % (import_peak / MIB, data_total / MIB))
os.unlink(export_path)
os.unlink(os.path.join(work, 'out'))
os.rmdir(work)
r('DEL', DEAD)

# ---- whitespace-only lines are skipped like blank ones
small = [make_record(make_job('ws-%d' % i, [('del', ['ws:%d' % i])]), jid='ws-%d' % i) for i in range(2)]
r('RPUSH', DEAD, *small)
lines = ctl('dlq', 'export', check_rc=0).stdout.splitlines()
r('DEL', DEAD)
text = b'\n'.join([b'', b'   ', lines[0], b'\t \t', b' \r', lines[1], b'', b'  ']) + b'\n'
p = ctl('dlq', 'import', stdin=text, check_rc=0)
check(b'imported 2 of 2' in p.stdout, p.stdout)
check(r('LRANGE', DEAD, 0, -1) == small, 'whitespace lines changed the import')
r('DEL', DEAD)


def line_for(raw):
    return json.dumps({'record_b64': base64.b64encode(raw).decode()}).encode() + b'\n'


# ---- the size limits, with and without --allow-corrupt
limit = MIB + 64 * 1024
corrupt_big = b'\xc1' + b'x' * limit  # not a record, one byte over the record limit
for extra in ([], ['--allow-corrupt']):
    p = ctl('dlq', 'import', *extra, stdin=line_for(corrupt_big), check_rc=65)
    check(b'line 1' in p.stderr and b'record limit' in p.stderr, p.stderr)
check(r('LLEN', DEAD) == 0, 'an over-limit record was written')
ctl('dlq', 'import', '--allow-corrupt', '--max-payload', str(4 * MIB), stdin=line_for(corrupt_big), check_rc=0)
check(r('LRANGE', DEAD, 0, -1) == [corrupt_big], '--max-payload did not raise the limit')
r('DEL', DEAD)
ctl('dlq', 'import', '--allow-corrupt', stdin=line_for(corrupt_big), check_rc=0,
    env_extra={'INVQ_MAX_PAYLOAD': str(4 * MIB)})
check(r('LLEN', DEAD) == 1, 'INVQ_MAX_PAYLOAD did not raise the limit')
r('DEL', DEAD)

# A record within its own limit whose job is over max_payload.
big_job = make_job('too-big', [('del', ['j' * 1000 + ':%d' % i for i in range(1045)])])
check(MIB < len(big_job) < limit - 1024, 'job size %d' % len(big_job))
rec = make_record(big_job, jid='too-big')
check(len(rec) <= limit, 'record size %d' % len(rec))
for extra in ([], ['--allow-corrupt']):
    p = ctl('dlq', 'import', *extra, stdin=line_for(rec), check_rc=65)
    check(b'line 1' in p.stderr and b'over max_payload' in p.stderr, p.stderr)
check(r('LLEN', DEAD) == 0, 'a record with an over-limit job was written')
ctl('dlq', 'import', '--max-payload', str(2 * MIB), stdin=line_for(rec), check_rc=0)
check(r('LRANGE', DEAD, 0, -1) == [rec], 'the job limit did not follow --max-payload')
r('DEL', DEAD)

# A line longer than any export line of a record within the limits can be.
p = ctl('dlq', 'import', '--max-payload', '16', stdin=b'{"record_b64": "' + b'A' * (1 << 20) + b'"}\n',
        check_rc=65)
check(b'line 1' in p.stderr and b'longer than' in p.stderr, p.stderr)
p = ctl('dlq', 'import', '--max-payload', '15', stdin=b'', check_rc=64)
check(b'--max-payload' in p.stderr, p.stderr)
print('ok')
