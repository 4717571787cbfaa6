"""Helpers shared by the Python package's tests (run by meson under
/usr/bin/python3 beside servers that with-redis / with-postgres started):
checks that fail with a message, bounded polling, the fixture's Redis (and
control over it), a real invq-worker, and the queue's jobs read back.

The queue's jobs are decoded here with python3-msgpack only to look at
them; the golden-vector test decodes with the C codec (tests/python/pyvec)."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import redis

DEADLINE = 60.0  # seconds: generous, for a loaded machine


def note(fmt, *args):
    print("# " + (fmt % args if args else fmt), flush=True)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    raise SystemExit(1)


def check(cond, msg, *args):
    if not cond:
        fail(msg % args if args else msg)


def raises(exc_type, fn, *args, **kw):
    """Calls fn and requires it to raise exc_type (exactly that class or a
    subclass); returns the exception."""
    try:
        fn(*args, **kw)
    except exc_type as e:
        note("%s: %s", type(e).__name__, e)
        return e
    except BaseException as e:  # noqa: BLE001
        fail("expected %s, got %s: %s" % (exc_type.__name__, type(e).__name__, e))
    fail("expected %s, nothing raised" % exc_type.__name__)


def wait_for(pred, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def url():
    return os.environ["INVQ_TEST_REDIS_URL"]


def client():
    sock = os.environ.get("INVQ_TEST_REDIS_SOCKET")
    if sock:
        return redis.Redis(unix_socket_path=sock)
    return redis.Redis(host="127.0.0.1", port=int(os.environ["INVQ_TEST_REDIS_PORT"]))


PENDING = "invq:{default}:pending"


def queued(r, queue=PENDING):
    """The jobs on a pending list, oldest first, as dicts (msgpack)."""
    return [msgpack.unpackb(b, raw=False) for b in reversed(r.lrange(queue, 0, -1))]


def job_keys(job):
    """(op, [keys]) pairs of a decoded job, keys as bytes."""
    return [(op["op"], [k.encode() if isinstance(k, str) else k for k in op["keys"]]) for op in job["ops"]]


def redis_up():
    try:
        return client().ping()
    except redis.exceptions.ConnectionError:
        return False


def redis_stop():
    """Stops the fixture's server (with-redis --control) and waits until it is gone."""
    os.kill(int(os.environ["INVQ_TEST_REDIS_CONTROL"]), signal.SIGUSR1)
    wait_for(lambda: not redis_up(), "redis-server to stop")


def redis_start():
    os.kill(int(os.environ["INVQ_TEST_REDIS_CONTROL"]), signal.SIGUSR2)
    wait_for(redis_up, "redis-server to come back")


class Worker:
    """A real invq-worker on the fixture's Redis (queue and cache in one
    server; `redis_url` instead of the fixture's URL), its log in a temp file."""

    def __init__(self, *extra, redis_url=None):
        exe = os.environ.get("INVQ_TEST_WORKER")
        check(exe and os.path.exists(exe), "INVQ_TEST_WORKER not set or missing: %r" % exe)
        self.log = tempfile.NamedTemporaryFile(prefix="invq-pyworker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [exe, "--queue-url", redis_url or url(), "--cache-url", redis_url or url(), "--http-addr", "off", "--consumers", "1",
             "--log-format", "json"] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
        self.stop()


def drained(r):
    """True once the worker applied everything queued (nothing pending,
    delayed or in a processing list)."""
    return (r.llen(PENDING) == 0 and r.zcard("invq:{default}:delayed") == 0
            and not r.keys("invq:{default}:processing:*"))


def unix_url_nowhere():
    """A unix:// URL where no server listens."""
    d = tempfile.mkdtemp(prefix="invq-py-nowhere-")
    return "unix://" + os.path.join(d, "none.sock")


def wait_child(pid, what):
    """Waits (bounded) for a forked child; it must exit 0. A child still
    running at the deadline is killed and the test fails."""
    deadline = time.monotonic() + DEADLINE
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "%s: wait status %d" % (what, status))
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            fail("%s: still running after %.0f s (deadlocked?)" % (what, DEADLINE))
        time.sleep(0.01)


def run_threads(fn, n):
    """Runs fn(i) on n threads at once; returns the exceptions they raised."""
    errors = []

    def run(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def families_file(text):
    """A families file in a temp dir; returns its path."""
    fd, path = tempfile.mkstemp(prefix="invq-py-families-", suffix=".ini")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def syscall_of(tid):
    """The number of the system call thread tid is blocked in (None when it runs)."""
    try:
        with open("/proc/self/task/%d/syscall" % tid) as f:
            first = f.read().split()[0]
    except (OSError, IndexError):
        return None
    return None if first == "running" else int(first)
