"""A 100,000-entry requeue finishes well within 30 s with nothing lost or
duplicated, and an interrupted run (SIGINT) stops after its current batch
with exit 130, every entry either still dead or on pending exactly once."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

import msgpack  # noqa: E402

N = int(os.environ.get('INVQ_CTL_BULK_N', '100000'))
r = Redis()


def fill(tag):
    jobs = [make_job('%s-%06d' % (tag, i), [('del', ['k:%s:%d' % (tag, i)])], fam='bulk', src='t')
            for i in range(N)]
    for i in range(0, N, 5000):
        r('LPUSH', DEAD, *[make_record(j, jid='x') for j in jobs[i:i + 5000]])
    check(r('LLEN', DEAD) == N, 'setup')
    return jobs


jobs = fill('a')
t0 = time.monotonic()
p = ctl('dlq', 'requeue', '--all', '--json', check_rc=0, timeout=60)
took = time.monotonic() - t0
print('requeue of %d entries took %.2f s' % (N, took))
check(json_lines(p)[0]['moved'] == N, p.stdout)
check(r('LLEN', DEAD) == 0, 'dead not empty')
pending = r('LRANGE', PENDING, 0, -1)
check(len(pending) == N and sorted(pending) == sorted(jobs), 'pending is not exactly the jobs')
# Oldest dead entry first: the first job dead-lettered is the first a worker takes (tail).
check(pending[-1] == jobs[0] and pending[0] == jobs[-1], 'requeue did not keep the order')
r('DEL', PENDING)

# Interrupt: pause writes so the run is caught mid-batch, send SIGINT, resume.
jobs = fill('b')
env = dict(os.environ)
env['INVQ_QUEUE_URL'] = os.environ['INVQ_TEST_REDIS_URL']
proc = subprocess.Popen(ctl_argv('dlq', 'requeue', '--all', '--json'), env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wait_for(lambda: r('LLEN', DEAD) < N, 'the requeue to start moving')
r('CLIENT', 'PAUSE', '1000', 'WRITE')
proc.send_signal(signal.SIGINT)
out, err = proc.communicate(timeout=60)
check(proc.returncode == 130, 'interrupted requeue exit %d: %s' % (proc.returncode, err))
import json  # noqa: E402
summary = json.loads(out.decode().strip().splitlines()[-1])
dead = r('LRANGE', DEAD, 0, -1)
pending = r('LRANGE', PENDING, 0, -1)
print('interrupted after moving %d' % summary['moved'])
check(summary['interrupted'] is True and 0 < summary['moved'] < N, summary)
check(len(pending) == summary['moved'] and len(dead) == N - summary['moved'], 'counts disagree')
moved_jobs = sorted(pending)
left_jobs = sorted(msgpack.unpackb(d, raw=False)['job'] for d in dead)
check(sorted(moved_jobs + left_jobs) == sorted(jobs), 'entries lost or duplicated by the interrupt')
print('ok')
