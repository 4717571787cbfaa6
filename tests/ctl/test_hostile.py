"""invqctl against hostile input and a damaged queue: `enqueue` refuses keys
reserved for the queue (exit 64, nothing sent); empty --queue/--namespace
are refused in invq-worker's words; every command that writes checks the
queue's keys first and refuses a wrong-typed one (exit 70, nothing changed);
a job too large for its dead-letter record is shown, written out byte for
byte (`dlq job`), requeued from and purged with the key that keeps it, and a
record naming a key outside the queue cannot make invqctl touch that key."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

r = Redis()
OVERSIZED = NS_Q + 'oversized:'


def err(p):
    return p.stderr.decode(errors='replace')


def reset():
    r('FLUSHALL')


# ---- enqueue: keys reserved for the queue ----
if os.environ.get('INVQ_CTL_HAVE_ENQUEUE') == '1':
    for op, key, extra in (('del', 'invq:{default}:pending', []), ('bump', 'invq:{default}:dead', []),
                           ('expire', 'invq:{other}:delayed', ['--ttl-ms', '5']), ('del', 'invq:x', [])):
        p = ctl('enqueue', op, 'user:1', key, *extra, check_rc=64)
        want = 'key_not_allowed: %s %s: reserved for the queue' % (op, key)
        check(want in err(p), 'enqueue %s %s said: %s' % (op, key, err(p)))
    check(r('LLEN', PENDING) == 0 and r('EXISTS', STATS) == 0, 'a refused job reached the queue')
    # the namespace decides what is reserved
    ctl('--namespace', 'app', 'enqueue', 'del', 'app:{default}:dead', check_rc=64)
    ctl('--namespace', 'app', 'enqueue', 'del', 'invq:{default}:dead', check_rc=0)
    check(r('LLEN', 'app:{default}:pending') == 1, 'a key of another namespace was refused')
    print('ok enqueue refuses keys reserved for the queue (exit 64), nothing sent')
    reset()

# ---- empty names: refused like invq-worker refuses them ----
for flag, env in (('--queue', 'INVQ_QUEUE'), ('--namespace', 'INVQ_NAMESPACE')):
    p = ctl(flag, '', 'stats', check_rc=64)
    check(err(p) == 'invqctl: %s: expected a non-empty value\n' % flag, err(p))
    p = ctl('dlq', 'list', flag, '', check_rc=64)
    check(err(p) == 'invqctl: %s: expected a non-empty value\n' % flag, err(p))
    p = ctl('stats', env_extra={env: ''}, check_rc=64)
    check(err(p) == 'invqctl: %s: expected a non-empty value (from %s)\n' % (flag, env), err(p))
    ctl(flag, 'x', 'stats', env_extra={env: ''}, check_rc=0)  # the flag wins, unchecked
    if os.environ.get('INVQ_WORKER'):
        w = subprocess.run([os.environ['INVQ_WORKER'], '--queue-url', os.environ['INVQ_TEST_REDIS_URL'], flag, ''],
                           capture_output=True, timeout=30)
        wmsg = w.stderr.decode()
        check(w.returncode == 64, 'worker %s "": exit %d' % (flag, w.returncode))
        check(wmsg.split(': ', 1)[1] == err(ctl(flag, '', 'stats')).split(': ', 1)[1],
              'worker and invqctl disagree: %r vs %r' % (wmsg, err(p)))
print('ok empty --queue/--namespace refused as invq-worker does (exit 64)')

# ---- wrong-typed queue keys: every write refused, nothing changed ----
job = make_job('j-1', [('del', ['k:1'])])
rec = make_record(job, jid='j-1')


def dlq_intact():
    return r('LRANGE', DEAD, 0, -1) == [rec]


for key, bad, cmd, stdin in (
        (STATS, ('SET', STATS, 'x'), ('dlq', 'requeue', '--all'), None),
        (PENDING, ('SET', PENDING, 'x'), ('dlq', 'requeue', '--all'), None),
        (NS_Q + 'reaped', ('SET', NS_Q + 'reaped', 'x'), ('dlq', 'requeue', 'j-1'), None),
        (STATS, ('SET', STATS, 'x'), ('dlq', 'purge', '--all', '--yes'), None)):
    reset()
    r('LPUSH', DEAD, rec)
    r(*bad)
    p = ctl(*cmd, check_rc=70)
    check('queue key %s has type string' % key in err(p), '%s said: %s' % (' '.join(cmd), err(p)))
    check(dlq_intact(), '%s changed the DLQ' % ' '.join(cmd))
    check(r('TYPE', key) == 'string', 'the broken key was touched')
reset()
r('SET', DEAD, 'x')
ctl('dlq', 'export', check_rc=70)  # reading a string as a list fails too
export = b'{"record_b64":"%s"}\n' % __import__('base64').b64encode(rec)
p = ctl('dlq', 'import', stdin=export, check_rc=70)
check('queue key %s has type string, expected list' % DEAD in err(p), err(p))
check(r('GET', DEAD) == b'x', 'import touched the broken key')
if os.environ.get('INVQ_CTL_HAVE_ENQUEUE') == '1':
    reset()
    r('SET', PENDING, 'x')
    p = ctl('enqueue', 'del', 'k:1', check_rc=70)
    check('queue key %s has type string, expected list' % PENDING in err(p), err(p))
    check(r('EXISTS', STATS) == 0, 'enqueue counted a job it could not push')
# a counter that is not a number: the script itself refuses, nothing moves
reset()
r('LPUSH', DEAD, rec)
r('HSET', STATS, 'requeued', 'abc')
p = ctl('dlq', 'requeue', '--all', check_rc=70)
check('queue key %s field requeued is not an integer; nothing was changed' % STATS in err(p), err(p))
check(dlq_intact() and r('LLEN', PENDING) == 0, 'requeue moved something')
print('ok requeue/purge/import/enqueue refuse wrong-typed queue keys (exit 70), nothing changed')

# ---- a job too large for its record ----
reset()
big = make_job('big-1', [('del', ['big:1'])]) + b''
big = b'\x85' + big[1:] + b'\xa3pad\xc6' + (200000).to_bytes(4, 'big') + b'y' * 200000
okey = OVERSIZED + 'host-1-2-3-0:1700000000000:1'
reason = 'too_large: (payload): payload is %d bytes, limit 65536' % len(big)


def oversized_record(key, size):
    now = int(time.time() * 1000)
    return msgpack.packb({'job': b'', 'reason': reason, 'attempts': 1, 'first_failed_ms': now,
                          'last_failed_ms': now, 'consumer': 'host-1-2-3-0', 'errs': [reason],
                          'job_size': size, 'job_key': key}, use_bin_type=True)


orec = oversized_record(okey, len(big))
r('SET', okey, big)
r('LPUSH', DEAD, orec)
rows = json_lines(ctl('dlq', 'list', '--json', check_rc=0))
check(len(rows) == 1 and rows[0]['reason'] == reason and rows[0]['job_error']['code'] == 'too_large', rows)
ref = rows[0]['ref']
p = ctl('dlq', 'show', ref, check_rc=0)
out = p.stdout.decode()
check(okey in out and '%d bytes, too large to keep in the record' % len(big) in out and '85 a1 76 01' in out, out)
full = json_lines(ctl('dlq', 'show', ref, '--json', check_rc=0))[0]
check(full['job_key'] == okey and full['job_key_present'] is True and full['job_size'] == len(big), full)
with tempfile.TemporaryFile() as f:
    p = subprocess.run(ctl_argv('dlq', 'job', ref), stdout=f, stderr=subprocess.PIPE, timeout=60,
                       env=dict(os.environ, INVQ_QUEUE_URL=os.environ['INVQ_TEST_REDIS_URL']))
    check(p.returncode == 0, 'dlq job: exit %d: %s' % (p.returncode, p.stderr))
    f.seek(0)
    check(f.read() == big, 'dlq job did not write the exact bytes')
# an ordinary entry's job comes from the record itself
r('LPUSH', DEAD, rec)
check(ctl('dlq', 'job', 'j-1', check_rc=0).stdout == job, 'dlq job of an ordinary entry')
r('LREM', DEAD, 0, rec)
p = ctl('dlq', 'requeue', ref, check_rc=0)
check('oversized job (%d bytes) goes back from %s' % (len(big), okey) in err(p), err(p))
check(r('LRANGE', PENDING, 0, -1) == [big], 'requeue did not push the exact bytes')
check(r('EXISTS', okey) == 0 and r('LLEN', DEAD) == 0, 'the key or the record is left')
check(r('HGET', STATS, 'requeued') == b'1', 'requeue not counted')
# purge deletes the key with the record
r('SET', okey, big)
r('LPUSH', DEAD, orec)
ctl('dlq', 'purge', ref, check_rc=0)
check(r('EXISTS', okey) == 0 and r('LLEN', DEAD) == 0, 'purge left the key')
# gone key: shown as gone, dlq job and requeue fail without touching anything
r('LPUSH', DEAD, orec)
check('the key is gone' in ctl('dlq', 'show', ref, check_rc=0).stdout.decode(), 'gone key not shown')
with tempfile.TemporaryFile() as f:
    p = subprocess.run(ctl_argv('dlq', 'job', ref), stdout=f, stderr=subprocess.PIPE, timeout=60,
                       env=dict(os.environ, INVQ_QUEUE_URL=os.environ['INVQ_TEST_REDIS_URL']))
    check(p.returncode == 70 and b'is gone' in p.stderr, 'dlq job of a gone key: %d %s' % (p.returncode, p.stderr))
p = ctl('dlq', 'requeue', ref, check_rc=70)
check('oversized job key %s has type none' % okey in err(p), err(p))
check(r('LRANGE', DEAD, 0, -1) == [orec], 'a failed requeue changed the DLQ')
# a (hostile, imported) record naming a key outside the queue
reset()
r('SET', 'user:1', 'precious')
foreign = oversized_record('user:1', 8)
r('LPUSH', DEAD, foreign)
p = ctl('dlq', 'requeue', '--all', check_rc=70)
check('not a key under %s' % OVERSIZED in err(p), err(p))
check(r('LLEN', PENDING) == 0 and r('GET', 'user:1') == b'precious', 'requeue used a foreign key')
ctl('dlq', 'purge', '--all', '--yes', check_rc=0)
check(r('LLEN', DEAD) == 0 and r('GET', 'user:1') == b'precious', 'purge deleted a foreign key')
print('ok oversized jobs: shown, written out, requeued and purged with their key; foreign keys untouched')

# ---- end to end: a worker moves a job aside, invqctl gets it back ----
if os.environ.get('INVQ_WORKER'):
    reset()
    w = Worker('--max-payload', '65536')
    r('LPUSH', PENDING, big)
    wait_for(lambda: r('LLEN', DEAD) == 1, 'the worker to dead-letter the oversized job')
    rows = json_lines(ctl('dlq', 'list', '--json', check_rc=0))
    check(rows[0]['reason'] == reason, rows[0])
    with tempfile.TemporaryFile() as f:
        p = subprocess.run(ctl_argv('dlq', 'job', rows[0]['ref']), stdout=f, stderr=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, INVQ_QUEUE_URL=os.environ['INVQ_TEST_REDIS_URL']))
        f.seek(0)
        check(p.returncode == 0 and f.read() == big, 'the bytes the worker kept aside')
    w.stop()
    print('ok the worker keeps an oversized job aside; invqctl writes its exact bytes')
