"""invqctl over TCP with a password and a database number in the URL, and
with another namespace and queue: AUTH, SELECT and key names are honoured; a
wrong password is a clear "unreachable" error (69)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

port = os.environ['INVQ_TEST_REDIS_PORT']
good = 'redis://:s3cret@127.0.0.1:%s/3' % port
r3 = Redis(password='s3cret', db=3)
r0 = Redis(password='s3cret')

rec = make_record(make_job('auth-1', [('del', ['k'])]), jid='auth-1')
r3('LPUSH', 'ops:{billing}:dead', rec)
r0('LPUSH', DEAD, make_record(make_job('db0-1', [('del', ['k'])]), jid='db0-1'))

p = ctl('dlq', 'list', '--queue-url', 'redis://:wrong@127.0.0.1:%s' % port, check_rc=69)
check(b'WRONGPASS' in p.stderr or b'auth' in p.stderr.lower(), p.stderr)
ctl('dlq', 'list', '--queue-url', 'redis://127.0.0.1:%s' % port, check_rc=69)

rows = json_lines(ctl('dlq', 'list', '--json', '--queue-url', good, '--namespace', 'ops', '--queue', 'billing',
                      check_rc=0))
check([row['id'] for row in rows] == ['auth-1'], rows)
rows = json_lines(ctl('--queue-url', 'redis://:s3cret@127.0.0.1:%s' % port, 'dlq', 'list', '--json', check_rc=0))
check([row['id'] for row in rows] == ['db0-1'], rows)
env = {'INVQ_NAMESPACE': 'ops', 'INVQ_QUEUE': 'billing'}
p = ctl('dlq', 'requeue', '--queue-url', good, 'auth-1', check_rc=0, env_extra=env)
check(r3('LLEN', 'ops:{billing}:pending') == 1 and r3('LLEN', 'ops:{billing}:dead') == 0, 'requeue in db 3')
check(r0('LLEN', DEAD) == 1 and r0('LLEN', PENDING) == 0, 'db 0 touched')
if os.environ.get('INVQ_CTL_HAVE_ENQUEUE') == '1':
    ctl('enqueue', 'del', 'x', '--queue-url', good, check_rc=0, env_extra=env)
    check(r3('LLEN', 'ops:{billing}:pending') == 2, 'enqueue in db 3')
st = json_lines(ctl('stats', '--json', '--queue-url', good, check_rc=0, env_extra=env))[0]
check(st['queue'] == 'ops:{billing}' and st['pending'] >= 1 and st['counters']['requeued'] == 1, st)
print('ok')
