"""Processes the benchmark starts and watches: redis-server on a loopback
port (retried on bind failure, stopped by PID), invq-worker, and CPU and
memory figures read from /proc/PID."""
import os
import random
import signal
import socket
import subprocess
import time

from .resp import Resp

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # every Popen we made, so an interrupted run still stops them


def stop_all():
    """Stops every process this run started and has not stopped yet."""
    for p in reversed(STARTED):
        stop_process(p, 5.0)


def stop_process(proc, grace):
    """SIGTERM, then SIGKILL after `grace` seconds; by PID only."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in STARTED:
        STARTED.remove(proc)
    return proc.returncode


def spawn(argv, log_path, env=None):
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()
    STARTED.append(proc)
    return proc


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds (None once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def mem_kib(pid):
    """(VmHWM, VmRSS) in KiB, or (None, None) once the process is gone."""
    hwm = rss = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


def free_port():
    """A loopback port nobody listens on right now (the caller still retries
    if it is taken before use)."""
    while True:
        port = random.randint(20000, 60999)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()


def make_certs(workdir):
    """A CA and a server certificate for 127.0.0.1 (openssl CLI, EC keys)
    for bench/run --tls; returns their paths."""
    d = os.path.join(workdir, "tls")
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda argv: subprocess.run(["openssl"] + argv, cwd=d, check=True, capture_output=True)
    run(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench-ca"])
    run(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"])
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "server.ext"])
    return {"ca": os.path.join(d, "ca.crt"), "cert": os.path.join(d, "server.crt"),
            "key": os.path.join(d, "server.key")}


class RedisServer:
    """A redis-server on 127.0.0.1:<port> without persistence, in `workdir`.
    With TLS set (bench/run --tls) it also listens on a TLS port, which the
    workers use; the benchmark's own tools keep the plain port."""

    TLS = None  # {"ca", "cert", "key"} paths from make_certs()

    def __init__(self, workdir, name="redis", args=(), wrap=()):
        self.wrap = list(wrap)  # e.g. ["nice", "-n", "-10"]: runs the server under it
        self.dir = os.path.join(workdir, name)
        self.args = list(args)  # more redis-server arguments (e.g. --cluster-enabled yes)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.port = None
        self.tls_port = None

    def start(self, attempts=20):
        for _ in range(attempts):
            port = free_port()
            argv = self.wrap + ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                    "--protected-mode", "yes", "--daemonize", "no",
                    "--logfile", os.path.join(self.dir, "redis.log")] + self.args
            tls_port = None
            if RedisServer.TLS:
                tls_port = free_port()
                t = RedisServer.TLS
                argv += ["--tls-port", str(tls_port), "--tls-cert-file", t["cert"], "--tls-key-file", t["key"],
                         "--tls-ca-cert-file", t["ca"], "--tls-auth-clients", "no"]
            proc = spawn(argv, os.path.join(self.dir, "stdout.log"))
            if self._wait_ready(proc, port):
                self.proc, self.port, self.tls_port = proc, port, tls_port
                return self
            stop_process(proc, 2.0)  # lost the port race: try another one
        raise RuntimeError("redis-server did not start (see %s)" % self.dir)

    def url(self, db=0):
        """The URL a worker uses: over TLS when the server has a TLS port."""
        if self.tls_port:
            return "rediss://127.0.0.1:%d/%d?ssl_ca_certs=%s" % (self.tls_port, db, RedisServer.TLS["ca"])
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    @staticmethod
    def _wait_ready(proc, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with Resp(port, timeout=1.0) as r:
                    if r.call("PING") == "PONG":
                        return True
            except (OSError, ConnectionError):
                pass
            time.sleep(0.01)
        return False

    @property
    def pid(self):
        return self.proc.pid

    def client(self, db=0):
        return Resp(self.port, db=db)

    def flushall(self):
        with self.client() as r:
            r.call("FLUSHALL")

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, 10.0)
            self.proc = None


class Worker:
    """One invq-worker process against `server` (queue in db 0, cache in db 1;
    the cache on `cache_server` instead when given)."""

    EXTRA = []  # arguments bench/run --worker-arg adds to every worker

    def __init__(self, exe, server, workdir, consumers=2, http_port=None, extra=(), tag="worker", cache_server=None):
        self.log = os.path.join(workdir, "%s.log" % tag)
        argv = [exe, "--queue-url", server.url(0), "--cache-url", (cache_server or server).url(1),
                "--consumers", str(consumers), "--log-level", "warn",
                "--http-addr", "127.0.0.1:%d" % http_port if http_port else "off"]
        argv.extend(extra)
        argv.extend(Worker.EXTRA)
        self.argv = argv
        self.proc = spawn(argv, self.log)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def mem(self):
        return mem_kib(self.proc.pid)

    def stop(self, grace=15.0):
        return stop_process(self.proc, grace)

    def log_tail(self, n=5):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""
