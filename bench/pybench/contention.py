"""The contention scenario of bench/run: push → applied latency at 10,000
jobs/s (one LPUSH per job, open loop, bench/loadgen's checker) with two CPU
hogs (busy-loop processes this scenario starts and stops by PID) competing
with Redis, the worker and the load generator for the machine's cores,
beside the same run without hogs, and with the hogs at `nice -n 19`
(batch work given the lowest CPU weight, as an operator can)."""
import subprocess
import sys
import time

from .everyday import _one
from .procs import RedisServer, stop_process
from .report import Row

RATE = 10_000
HOGS = 2


def _hogs_start(niced):
    argv = (["nice", "-n", "19"] if niced else []) + [sys.executable, "-c", "while True: pass"]
    return [subprocess.Popen(argv) for _ in range(HOGS)]


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
    niced = Row("contention", "{:,} jobs/s, {} CPU hogs at nice 19: p99 push → applied, ms".format(RATE, HOGS), "ms",
                target="≤ 5 ms")
    niced_ratio = Row("contention", "p99 with hogs at nice 19 ÷ without (same run)", "ratio")
    rows = [quiet, busy, ratio, niced, niced_ratio]
    server = RedisServer(b.workdir, "contention").start()
    try:
        for run in range(sz.runs):
            if budget.left() < 6 * seconds + budget.reserve:
                busy.add(None, note="skipped: suite time bound")
                continue
            res = {}
            # rotate which pass goes first, so load drifts hit each
            modes = ("none", "hogs", "niced")
            for i, mode in enumerate(modes[run % 3:] + modes[:run % 3]):
                hogs = _hogs_start(mode == "niced") if mode != "none" else []
                try:
                    time.sleep(0.2)  # the hogs are spinning
                    res[mode] = _one(b, server, "worker", RATE, seconds, 100 + 3 * run + i, True)
                finally:
                    _hogs_stop(hogs)
            note = "" if all(r["ok"] for r in res.values()) else "a run did not drain"
            base = res["none"]["p99_ms"]
            quiet.add(base, worker_cpu=res["none"]["consumer_cpu_pct"], note=note)
            busy.add(res["hogs"]["p99_ms"], worker_cpu=res["hogs"]["consumer_cpu_pct"], note=note)
            ratio.add(res["hogs"]["p99_ms"] / base if base else None)
            niced.add(res["niced"]["p99_ms"], worker_cpu=res["niced"]["consumer_cpu_pct"], note=note)
            niced_ratio.add(res["niced"]["p99_ms"] / base if base else None)
        busy.add_note("load average before the run: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    finally:
        server.stop()
    return rows
