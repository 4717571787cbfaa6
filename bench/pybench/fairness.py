"""The fairness scenario of bench/run: while invq-worker drains a queue at
full speed, another client of the same cache Redis sends plain GETs at a
fixed rate (bench/getlat, open loop) and times each one. Reported: that
client's p50/p99 during the drain against the same GET with the cache idle
in the same run, beside the drain's throughput, for the worker as it comes,
with a smaller --cache-window-keys and with --cache-max-keys-per-s set; and once with the queue and the cache
on one Redis (there the queue's scripts share the server's time too)."""
import json
import os
import signal
import subprocess
import time

from .procs import RedisServer, Worker, spawn
from .report import Row
from .tools import CACHE_DB, QUEUE, prefill_jobs, prefill_keys

GET_RATE = 2000          # the other client's GETs per second
IDLE_SECONDS = 3
CONSUMERS = 4
CEILING = 200_000        # --cache-max-keys-per-s of the capped configuration


def _priority():
    """The cache Redis and the probe run at a raised priority when the bench
    may set one: in production the cache Redis has a host of its own, so what
    is measured is what the worker's commands do to the other client, not
    how the two cores of a shared machine are handed out (the idle figure
    shows what the machine alone costs)."""
    if os.geteuid() == 0:
        return ["nice", "-n", "-10"]
    return []


def _getlat(b, cache, seconds, tag):
    argv = _priority() + [b.getlat, "--port", str(cache.port), "--db", str(CACHE_DB), "--rate", str(GET_RATE),
            "--seconds", str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(os.path.join(b.workdir, tag + ".log"), "w"),
                            text=True)


def _result(proc):
    out, _ = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise RuntimeError("bench/getlat failed (exit %d)" % proc.returncode)
    return json.loads(out.strip().splitlines()[-1])


def _drained(queue, cache, worker, timeout):
    t0 = time.monotonic()
    with queue.client() as q, cache.client(CACHE_DB) as c:
        while time.monotonic() - t0 < timeout and worker.alive():
            ids = q.call("ZRANGE", QUEUE + ":consumers", 0, -1) or []
            lens = q.pipe(("LLEN", QUEUE + ":pending"), *[("LLEN", QUEUE + ":processing:" + i.decode()) for i in ids])
            if ids and all(x == 0 for x in lens) and c.call("DBSIZE") == 1:  # the probe's key stays
                return time.monotonic() - t0
            time.sleep(0.005)
    return None


def _one(b, queue, cache, jobs, extra, tag):
    """One drain with the probe running; returns (getlat result, jobs/s or None)."""
    queue.flushall()
    if cache is not queue:
        cache.flushall()
    prefill_keys(b, cache, "fk:", jobs)
    with cache.client(CACHE_DB) as c:
        c.call("SET", "fairness:probe", "x" * 64)
    prefill_jobs(b, queue, "del", "fk:", jobs)
    probe = _getlat(b, cache, 600, tag + "-getlat")
    time.sleep(0.05)  # the probe is connected and sending
    w = Worker(b.worker, queue, b.workdir, consumers=CONSUMERS, extra=list(extra), tag=tag, cache_server=cache)
    try:
        seconds = _drained(queue, cache, w, 120)
    finally:
        probe.send_signal(signal.SIGTERM)
        w.stop()
    res = _result(probe)
    return res, (jobs / seconds if seconds else None)


def fairness(b, sz, budget):
    if not os.path.exists(b.getlat):
        return [], "bench/getlat is not built"
    # long enough for a few thousand GETs during the drain (a p99 of a few
    # hundred samples would be the noise of a shared machine)
    jobs = 1_000_000 if sz.runs > 1 else 500_000
    configs = [("worker, separate cache Redis", [], False),
               ("worker --cache-window-keys=32, separate cache Redis", ["--cache-window-keys=32"], False),
               ("worker --cache-max-keys-per-s=%d, separate cache Redis" % CEILING,
                ["--cache-max-keys-per-s=%d" % CEILING], False),
               ("worker, queue and cache on one Redis", [], True)]
    prio = "cache Redis and probe at nice -10" if _priority() else "no priority set (not root)"
    idle = {"p50": Row("fairness", "cache idle: other client's GET p50, ms", "ms"),
            "p99": Row("fairness", "cache idle: other client's GET p99, ms", "ms")}
    rows = list(idle.values())
    per = []
    for label, _, _ in configs:
        r = {"p50": Row("fairness", "%s: GET p50 during a full-speed drain, ms" % label, "ms"),
             "p99": Row("fairness", "%s: GET p99 during the drain, ms" % label, "ms", target="≤ 1 ms"),
             "ratio": Row("fairness", "%s: GET p99 ÷ idle p99 (same run)" % label, "ratio"),
             "rate": Row("fairness", "%s: drain jobs/s (%d consumers)" % (label, CONSUMERS), "rate")}
        per.append(r)
        rows += list(r.values())
    queue = RedisServer(b.workdir, "fairness-queue").start()
    cache = RedisServer(b.workdir, "fairness-cache", wrap=_priority()).start()
    try:
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                idle["p99"].add(None, note="skipped: suite time bound")
                continue
            cache.flushall()
            with cache.client(CACHE_DB) as c:
                c.call("SET", "fairness:probe", "x" * 64)
            base = _result(_getlat(b, cache, IDLE_SECONDS, "fairness-idle-%d" % run))
            idle["p50"].add(base["p50_us"] / 1000.0)
            idle["p99"].add(base["p99_us"] / 1000.0, note="%d GETs/s, plain GET of a 64-byte value; %s" % (GET_RATE, prio))
            for (label, extra, shared), r in zip(configs, per):
                res, rate = _one(b, queue, queue if shared else cache, jobs, extra,
                                 "fairness-%d-%d" % (run, configs.index((label, extra, shared))))
                note = "" if rate else "the drain did not finish"
                r["p50"].add(res["p50_us"] / 1000.0)
                r["p99"].add(res["p99_us"] / 1000.0, note=note or "max %.1f ms over %d GETs"
                             % (res["max_us"] / 1000.0, res["gets"]))
                r["ratio"].add(res["p99_us"] / base["p99_us"] if base["p99_us"] else None)
                r["rate"].add(rate, note=note)
    finally:
        queue.stop()
        cache.stop()
    return rows, ""
