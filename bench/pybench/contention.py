"""The contention scenario of bench/run: push → applied latency at 10,000
jobs/s (one LPUSH per job, open loop, bench/loadgen's checker) with two CPU
hogs (busy-loop processes this scenario starts and stops by PID) competing
with Redis, the worker and the load generator for the machine's cores,
beside the same run without hogs."""
import subprocess
import sys
import time

from .everyday import _one
from .procs import RedisServer, stop_process
from .report import Row

RATE = 10_000
HOGS = 2


def _hogs_start():
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]


def _hogs_stop(hogs):
    for h in hogs:
        stop_process(h, 2.0)


def contention(b, sz, budget):
    seconds = 2 if sz.runs == 1 else 5
    quiet = Row("contention", "{:,} jobs/s, no hogs: p99 push → applied, ms (checker upper bound)".format(RATE), "ms",
                target="< 1 ms")
    busy = Row("contention", "{:,} jobs/s, {} CPU hogs: p99 push → applied, ms".format(RATE, HOGS), "ms",
               target="≤ 5 ms")
    ratio = Row("contention", "p99 with hogs ÷ without (same run)", "ratio")
    rows = [quiet, busy, ratio]
    server = RedisServer(b.workdir, "contention").start()
    try:
        for run in range(sz.runs):
            if budget.left() < 4 * seconds + budget.reserve:
                busy.add(None, note="skipped: suite time bound")
                continue
            res = {}
            for hogged in ((False, True) if run % 2 == 0 else (True, False)):
                hogs = _hogs_start() if hogged else []
                try:
                    time.sleep(0.2)  # the hogs are spinning
                    res[hogged] = _one(b, server, "worker", RATE, seconds, 100 + 2 * run + int(hogged), True)
                finally:
                    _hogs_stop(hogs)
            note = "" if res[False]["ok"] and res[True]["ok"] else "a run did not drain"
            quiet.add(res[False]["p99_ms"], worker_cpu=res[False]["consumer_cpu_pct"], note=note)
            busy.add(res[True]["p99_ms"], worker_cpu=res[True]["consumer_cpu_pct"], note=note)
            ratio.add(res[True]["p99_ms"] / res[False]["p99_ms"] if res[False]["p99_ms"] else None)
        busy.add_note("load average before the run: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    finally:
        server.stop()
    return rows
