"""Helpers for the invqctl tests: a small binary-safe Redis client, builders
for jobs and dead-letter records (wire format v1, schemas/job-v1.md), and
runners for invqctl and invq-worker. Run under tests/fixture's with-redis,
which exports INVQ_TEST_REDIS_URL."""
import os
import signal
import socket
import subprocess
import sys
import time

import msgpack

NS_Q = 'invq:{default}:'
PENDING = NS_Q + 'pending'
DEAD = NS_Q + 'dead'
DELAYED = NS_Q + 'delayed'
STATS = NS_Q + 'stats'
CONSUMERS = NS_Q + 'consumers'


class RedisError(Exception):
    pass


class Redis:
    """A minimal RESP2 client: enough for tests, binary safe, pipelining."""

    def __init__(self, url=None, password=None, db=0):
        url = url or os.environ['INVQ_TEST_REDIS_URL']
        if url.startswith('unix://'):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(url[len('unix://'):].split('?')[0])
        else:
            host, port = url[len('redis://'):].split('/')[0].rsplit(':', 1)
            self.sock = socket.create_connection((host, int(port)))
        self.buf = b''
        if password is not None:
            self('AUTH', password)
        if db:
            self('SELECT', db)

    @staticmethod
    def _enc(args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a).encode()
            elif isinstance(a, str):
                a = a.encode()
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        return b''.join(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise RedisError('connection closed')
        self.buf += chunk

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b'+':
            return rest.decode()
        if t == b'-':
            return RedisError(rest.decode())
        if t == b':':
            return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b'*':
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError('bad reply %r' % line)

    def pipeline(self, cmds):
        self.sock.sendall(b''.join(self._enc(c) for c in cmds))
        out = [self._read() for _ in cmds]
        for r in out:
            if isinstance(r, RedisError):
                raise r
        return out

    def __call__(self, *args):
        return self.pipeline([args])[0]


def make_job(jid, ops, fam=None, src=None, ts=None):
    """ops: list of (op, [keys]) or (op, [keys], ttl_ms)."""
    job = {'v': 1, 'id': jid, 'ops': [], 'ts': ts if ts is not None else int(time.time() * 1000)}
    for op in ops:
        o = {'op': op[0], 'keys': list(op[1])}
        if op[0] == 'expire':
            o['ttl_ms'] = op[2]
        job['ops'].append(o)
    if fam is not None:
        job['fam'] = fam
    if src is not None:
        job['src'] = src
    return msgpack.packb(job, use_bin_type=True)


def make_record(job_bytes, reason='wrong_type: WRONGTYPE test', attempts=1, first=None, last=None,
                consumer='test-consumer', jid=None, errs=None):
    now = int(time.time() * 1000)
    rec = {'job': job_bytes, 'reason': reason, 'attempts': attempts,
           'first_failed_ms': first if first is not None else now,
           'last_failed_ms': last if last is not None else now, 'consumer': consumer}
    if jid is not None:
        rec['id'] = jid
    rec['errs'] = list(errs) if errs is not None else [reason]
    return msgpack.packb(rec, use_bin_type=True)


def build_dir():
    return os.environ['INVQ_BUILD_DIR']


def invqctl_path():
    return os.environ['INVQCTL']


def ctl_argv(*args):
    """invqctl's argv; INVQ_CTL_VALGRIND=1 runs it under valgrind (memcheck,
    definite leaks are errors, exit 99 on any error)."""
    pre = []
    if os.environ.get('INVQ_CTL_VALGRIND') == '1':
        pre = ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
               '--errors-for-leak-kinds=definite']
    return pre + [invqctl_path()] + list(args)


def ctl(*args, stdin=None, check_rc=None, timeout=60, env_extra=None, cwd=None):
    """Runs invqctl with INVQ_QUEUE_URL set; returns the CompletedProcess."""
    env = dict(os.environ)
    env['INVQ_QUEUE_URL'] = os.environ['INVQ_TEST_REDIS_URL']
    if env_extra:
        env.update(env_extra)
    p = subprocess.run(ctl_argv(*args), input=stdin, capture_output=True, timeout=timeout,
                       env=env, cwd=cwd)
    if check_rc is not None and p.returncode != check_rc:
        fail('invqctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s' %
             (' '.join(args), p.returncode, check_rc, p.stdout.decode(errors='replace')[:4000],
              p.stderr.decode(errors='replace')[:4000]))
    return p


def json_lines(p):
    import json
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def fail(msg):
    print('FAIL: ' + str(msg), file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_for(pred, what, timeout=20.0):
    """Polls pred() every 20 ms until it is true; fails after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    fail('timed out waiting for ' + what)


class Worker:
    """An invq-worker process against the test Redis (queue and cache)."""

    def __init__(self, *extra):
        exe = os.environ.get('INVQ_WORKER')
        if not exe:
            fail('INVQ_WORKER not set')
        env = dict(os.environ)
        url = os.environ['INVQ_TEST_REDIS_URL']
        self.proc = subprocess.Popen(
            [exe, '--queue-url', url, '--cache-url', url, '--http-addr', 'off', '--consumers', '1',
             '--backoff-base-ms', '10', '--backoff-max-ms', '50', '--heartbeat-ms', '100',
             '--reap-after-ms', '1000', '--log-level', 'warn'] + list(extra),
            env=env, stderr=subprocess.PIPE)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            fail('worker did not stop on SIGTERM: ' + err.decode(errors='replace')[-2000:])
        return err
