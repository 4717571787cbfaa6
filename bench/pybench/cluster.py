"""bench/run's `cluster` scenario: a del1-style drain with the cache on a
3-master Redis Cluster (3 `redis-server --cluster-enabled yes` on loopback,
joined by `redis-cli --cluster create … --cluster-replicas 0`) and, in the
same run, on one plain Redis; the queue on a Redis of its own in both
cases. Jobs/s of each, their ratio, and the Redis CPU per key of each
master (INFO cpu user + sys over the drain ÷ the keys that master held), so
the spread over the masters shows even where the machine's cores cannot
scale the wall clock."""
import os
import subprocess
import time

from .drain import queue_state
from .procs import RedisServer, cpu_seconds, spawn, stop_process
from .report import Row
from .resp import Resp
from .tools import prefill_jobs, run_checked

PREFIX = "ck:"
DIGITS = 12  # bench_redis.h: BENCH_KEY_DIGITS, the names prefill_jobs uses
SLOTS = 16384


def crc16(data):
    """CRC16-XMODEM, the cluster's key hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key):
    """The key's slot, hash tags as in the cluster spec."""
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % SLOTS


def key(n):
    return b"%s%0*d" % (PREFIX.encode(), DIGITS, n)


def info_cpu(port):
    """used_cpu_user + used_cpu_sys of the server, seconds."""
    with Resp(port) as r:
        text = r.call("INFO", "cpu").decode()
    f = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return float(f["used_cpu_user"]) + float(f["used_cpu_sys"])


class Cluster:
    """Three cluster-enabled masters, no replicas, stopped by PID."""

    def __init__(self, workdir):
        self.nodes = [RedisServer(workdir, "cluster-%d" % i,
                                  args=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                        "--cluster-node-timeout", "2000")) for i in range(3)]
        self.owner = [None] * SLOTS  # slot -> node index

    def start(self):
        for n in self.nodes:
            n.start()
        run_checked(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % n.port for n in self.nodes] +
                    ["--cluster-replicas", "0", "--cluster-yes"], 60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ok = True
            for n in self.nodes:
                with Resp(n.port) as r:
                    ok = ok and "cluster_state:ok" in r.call("CLUSTER", "INFO").decode()
            if ok:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the cluster did not reach cluster_state:ok")
        by_port = {n.port: i for i, n in enumerate(self.nodes)}
        with Resp(self.nodes[0].port) as r:
            for lo, hi, master, *_ in r.call("CLUSTER", "SLOTS"):
                for s in range(lo, hi + 1):
                    self.owner[s] = by_port[master[1]]
        return self

    def url(self):
        return "redis-cluster://" + ",".join("127.0.0.1:%d" % n.port for n in self.nodes)

    def flushall(self):
        for n in self.nodes:
            n.flushall()

    def dbsize(self):
        total = 0
        for n in self.nodes:
            with n.client() as c:
                total += c.call("DBSIZE")
        return total

    def stop(self):
        for n in self.nodes:
            n.stop()


def set_keys(ports, owner_of, count, chunk=5000):
    """SETs keys 0..count-1, each on the node owner_of(key) names (an index
    into ports), pipelined; returns how many keys each node got."""
    conns = [Resp(p) for p in ports]
    per = [0] * len(ports)
    try:
        for base in range(0, count, chunk):
            cmds = [[] for _ in ports]
            for n in range(base, min(count, base + chunk)):
                k = key(n)
                i = owner_of(k)
                cmds[i].append(("SET", k, b"v"))
                per[i] += 1
            for c, batch in zip(conns, cmds):
                if batch:
                    bad = [x for x in c.pipe(*batch) if x != "OK"]
                    if bad:
                        raise RuntimeError("SET: %s" % bad[0])
    finally:
        for c in conns:
            c.close()
    return per


def drain(b, queue, cache_url, cache_size, jobs, timeout, tag):
    """One worker (2 consumers) drains `jobs` one-key DEL jobs; returns
    (seconds or None, worker CPU s, note)."""
    log = "%s/%s.log" % (b.workdir, tag)
    argv = [b.worker, "--queue-url", queue.url(0), "--cache-url", cache_url, "--consumers", "2",
            "--log-level", "warn", "--http-addr", "off"]
    w = spawn(argv, log)
    t0 = time.monotonic()
    seconds, note, wcpu = None, "", 0.0
    try:
        with queue.client() as q:
            while True:
                pending, delayed, processing, _ = queue_state(q, q)
                now = time.monotonic()
                if pending == 0 and delayed == 0 and processing == 0 and cache_size() == 0:
                    seconds = now - t0
                    break
                if w.poll() is not None:
                    note = "worker exited (%s)" % w.returncode
                    break
                if now - t0 > timeout:
                    note = "timed out after %.0f s (pending %d, cache keys %d)" % (timeout, pending, cache_size())
                    break
                time.sleep(0.005)
            wcpu = cpu_seconds(w.pid) or 0.0
            dead = q.call("LLEN", "invq:{default}:dead")
            if dead:
                note = "; ".join(x for x in (note, "%d dead letters" % dead) if x)
    finally:
        rc = stop_process(w, 15.0)
    if rc != 0 and seconds is not None:
        note = "; ".join(x for x in (note, "worker exit status %s on SIGTERM" % rc) if x)
    return seconds, wcpu, note


def cluster(b, sz, budget):
    jobs = sz.scaling  # 300,000 (50,000 with --quick)
    one = Row("cluster", "one Redis as the cache, jobs/s", "rate")
    three = Row("cluster", "3-master cluster as the cache, jobs/s", "rate")
    ratio = Row("cluster", "cluster / one Redis, jobs/s", "ratio")
    cpu_one = Row("cluster", "one Redis: Redis CPU per key, µs", "ratio")
    cpu_m = [Row("cluster", "master %d: Redis CPU per key it held, µs (keys held)" % i, "text") for i in range(3)]
    cpu_sum = Row("cluster", "3 masters: Redis CPU per key, sum over the masters, µs", "ratio")
    queue = RedisServer(b.workdir, "cluster-queue").start()
    single = RedisServer(b.workdir, "cluster-single").start()
    cl = Cluster(b.workdir)
    try:
        cl.start()
        ports = [n.port for n in cl.nodes]
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                three.add(None, note="skipped: suite time bound")
                continue
            # one plain Redis
            queue.flushall()
            single.flushall()
            set_keys([single.port], lambda k: 0, jobs)
            prefill_jobs(b, queue, "del", PREFIX, jobs)
            c0 = info_cpu(single.port)

            def single_size():
                with single.client() as c:
                    return c.call("DBSIZE")
            s1, w1, n1 = drain(b, queue, single.url(0), single_size, jobs, sz.drain_timeout, "cluster-one-%d" % run)
            c1 = info_cpu(single.port)
            one.add(jobs / s1 if s1 else None, worker_cpu=100.0 * w1 / s1 if s1 else None, note=n1)
            cpu_one.add(1e6 * (c1 - c0) / jobs)
            # the cluster
            queue.flushall()
            cl.flushall()
            per = set_keys(ports, lambda k: cl.owner[keyslot(k)], jobs)
            prefill_jobs(b, queue, "del", PREFIX, jobs)
            m0 = [info_cpu(p) for p in ports]
            s3, w3, n3 = drain(b, queue, cl.url(), cl.dbsize, jobs, sz.drain_timeout, "cluster-three-%d" % run)
            m1 = [info_cpu(p) for p in ports]
            three.add(jobs / s3 if s3 else None, worker_cpu=100.0 * w3 / s3 if s3 else None, note=n3)
            ratio.add(s1 / s3 if s1 and s3 else None)
            total = 0.0
            for i in range(3):
                us = 1e6 * (m1[i] - m0[i])
                total += us
                cpu_m[i].add("%.2f (%s)" % (us / per[i] if per[i] else 0.0, "{:,}".format(per[i])))
            cpu_sum.add(total / jobs)
    except (subprocess.SubprocessError, OSError) as e:
        three.add(None, note="failed: %s" % e)
    finally:
        cl.stop()
        single.stop()
        queue.stop()
    note = Row("cluster", "note", "text")
    note.add("on %s cores the worker and the masters share the CPUs: the wall clock cannot scale with masters; "
             "the per-master CPU shows the spread" % os.cpu_count())
    return [one, three, ratio, cpu_one] + cpu_m + [cpu_sum, note]
