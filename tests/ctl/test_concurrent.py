"""Two `dlq requeue --all` processes at once move each entry exactly once:
afterwards pending holds every job exactly once, dead is empty, and the two
runs' moved counts add up to the number of entries. Then a filtered requeue
runs while another process purges the entries it leaves in place (forcing
it to re-find its position): still every matching entry moves exactly once."""
import os
import json
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

import msgpack  # noqa: E402

N = int(os.environ.get('INVQ_CTL_CONCURRENT_N', '20000'))
r = Redis()
jobs = [make_job('c-%06d' % i, [('del', ['k:%d' % i])], fam='f%d' % (i % 4), src='s') for i in range(N)]
# Two identical records too: each must still move exactly once.
twin = make_record(make_job('twin', [('del', ['twin'])]), jid='twin')
for i in range(0, N, 1000):
    r('LPUSH', DEAD, *[make_record(j, jid='c-%06d' % (i + k)) for k, j in enumerate(jobs[i:i + 1000])])
r('LPUSH', DEAD, twin, twin)
total = N + 2
check(r('LLEN', DEAD) == total, 'setup')

env = dict(os.environ)
env['INVQ_QUEUE_URL'] = os.environ['INVQ_TEST_REDIS_URL']
procs = [subprocess.Popen(ctl_argv('dlq', 'requeue', '--all', '--json'), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
moved = 0
for p in procs:
    out, err = p.communicate(timeout=120)
    check(p.returncode == 0, 'requeue exit %d: %s' % (p.returncode, err.decode(errors='replace')))
    summary = json.loads(out.decode().strip().splitlines()[-1])
    moved += summary['moved']
    print('run: moved %d, already gone %d' % (summary['moved'], summary['already_gone']))

pending = r('LRANGE', PENDING, 0, -1)
check(r('LLEN', DEAD) == 0, 'dead not empty: %d' % r('LLEN', DEAD))
check(len(pending) == total, 'pending has %d, expected %d' % (len(pending), total))
check(moved == total, 'moved %d in total, expected %d' % (moved, total))
twin_job = msgpack.unpackb(twin, raw=False)['job']
want = sorted(jobs + [twin_job, twin_job])
check(sorted(pending) == want, 'pending is not exactly the requeued jobs (duplicates or losses)')
check(int(r('HGET', STATS, 'requeued')) == total, 'requeued counter')

# Filtered requeue racing a purge of the other family.
r('DEL', PENDING)
keep, other = [], []
for i in range(0, N, 1000):
    batch = []
    for k in range(1000):
        fam = 'keep' if (i + k) % 2 else 'other'
        job = make_job('m-%06d' % (i + k), [('del', ['k'])], fam=fam)
        (keep if fam == 'keep' else other).append(job)
        batch.append(make_record(job, jid='m-%06d' % (i + k)))
    r('LPUSH', DEAD, *batch)
procs = [subprocess.Popen(ctl_argv('dlq', 'requeue', '--family', 'keep', '--json'), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE),
         subprocess.Popen(ctl_argv('dlq', 'purge', '--family', 'other', '--json'), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
results = []
for p in procs:
    out, err = p.communicate(timeout=120)
    check(p.returncode == 0, 'exit %d: %s' % (p.returncode, err.decode(errors='replace')))
    results.append(json.loads(out.decode().strip().splitlines()[-1]))
print('filtered requeue restarted its walk %d times' % results[0]['rescans'])
check(results[0]['moved'] == len(keep) and results[1]['moved'] == len(other), results)
check(r('LLEN', DEAD) == 0, 'entries left: %d' % r('LLEN', DEAD))
check(sorted(r('LRANGE', PENDING, 0, -1)) == sorted(keep), 'filtered requeue lost or duplicated entries')
print('ok')
