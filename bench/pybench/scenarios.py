"""The benchmark scenarios of bench/run. Each one starts its own redis-server,
measures its ceiling with redis-benchmark on that server in the same run,
and returns result rows (see report.Row)."""
import math
import os
import subprocess
import time

from .drain import DrainSpec, commandstats, run_drain, wait_drained
from .procs import RedisServer, Worker, cpu_seconds, free_port
from .report import Row
from .tools import (hist_delta, hist_max, hist_quantile, loadgen, prefill_jobs, prefill_keys,
                    redis_benchmark, scrape_lag)

DEL_CEILING = "DEL bk:__rand_int__"
SAMPLES_PER_SECOND = 1000  # latency: keys the checker watches per second of load
INCR_CEILING = "INCR bv:__rand_int__"


class Sizes:
    def __init__(self, quick):
        self.runs = 1 if quick else 3
        self.ceiling_n = 200_000 if quick else 1_000_000
        self.del1 = 100_000 if quick else 1_000_000
        self.del10 = 20_000 if quick else 200_000
        self.bump = 100_000 if quick else 1_000_000
        self.hot = 100_000 if quick else 1_000_000
        self.scaling = 50_000 if quick else 300_000
        self.memory = 50_000 if quick else 500_000
        self.memory_rounds = 3
        self.latency_seconds = 2 if quick else 10
        self.rates = (1_000, 10_000, 50_000)
        self.drain_timeout = 20.0 if quick else 60.0


class Budget:
    """The suite's wall-clock bound: runs that would start past it are skipped."""

    def __init__(self, seconds, reserve):
        self.deadline = time.monotonic() + seconds
        self.reserve = reserve  # seconds one more run of a scenario may take

    def left(self):
        return self.deadline - time.monotonic()


def _server(b, name):
    return RedisServer(b.workdir, name).start()


def _ceiling(b, server, which, n):
    if which == "del":
        return redis_benchmark(b, server, DEL_CEILING, n, prefill_prefix="bk:")
    return redis_benchmark(b, server, INCR_CEILING, n)


def drain_scenario(b, sz, budget, name, spec, ceiling, targets=None, memory_rows=None):
    """Runs `spec` sz.runs times with a fresh ceiling each run."""
    targets = targets or {}
    rate_rows = {"jobs/s": Row(name, "jobs/s", "rate", target=targets.get("jobs/s", ""))}
    if spec.keys_per_job > 1:
        rate_rows["keys/s"] = Row(name, "keys/s", "rate", target=targets.get("keys/s", ""))
    ceil_row = Row(name, "ceiling: redis-benchmark -P 64 %s" % (DEL_CEILING if ceiling == "del" else INCR_CEILING),
                   "rate")
    server = _server(b, name)
    try:
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                for r in rate_rows.values():
                    r.add(None, note="skipped: suite time bound")
                continue
            ceil, ceil_cpu = _ceiling(b, server, ceiling, sz.ceiling_n)
            ceil_row.add(ceil, redis_cpu=ceil_cpu)
            res = run_drain(b, server, spec, timeout=sz.drain_timeout, tag="%s-%d" % (name, run))
            for fig, row in rate_rows.items():
                key = "jobs_s" if fig == "jobs/s" else "keys_s"
                row.add(res.get(key), ceiling=ceil, redis_cpu=res["redis_cpu"],
                        worker_cpu=res["worker_cpu"], note=res["note"])
            if res.get("commandstats"):
                b.commandstats[name] = (res["commandstats"], res["redis_cpu_seconds"], spec)
            if memory_rows is not None:
                memory_rows[0].add(res["hwm_kib"] / 1024.0 if res["hwm_kib"] else None)
                memory_rows[1].add(res["rss_kib"] / 1024.0 if res["rss_kib"] else None)
            if res["seconds"] is None:  # a failed drain would only fail again
                for _ in range(run + 1, sz.runs):
                    for r in rate_rows.values():
                        r.add(None, note="later runs skipped")
                break
    finally:
        server.stop()
    return [ceil_row] + list(rate_rows.values())


def del1(b, sz, budget):
    mem = [Row("memory", "worker peak RSS (VmHWM) during del1, MiB", "mib", target="< 16 MiB"),
           Row("memory", "worker RSS right after del1, MiB", "mib")]
    spec = DrainSpec("del", "bk:", sz.del1, prefill=sz.del1, expect_keys=0)
    rows = drain_scenario(b, sz, budget, "del1", spec, "del", {"jobs/s": "≥ 0.5 × ceiling"}, mem)
    return rows, mem


def del10(b, sz, budget):
    n = sz.del10
    spec = DrainSpec("del", "bk:", n, keys_per_job=10, prefill=n * 10, expect_keys=0)
    return drain_scenario(b, sz, budget, "del10", spec, "del", {"keys/s": "≥ 1.0 × ceiling"})


def bump(b, sz, budget):
    spec = DrainSpec("bump", "bv:", sz.bump, expect_keys=sz.bump)
    return drain_scenario(b, sz, budget, "bump", spec, "incr")


def hot(b, sz, budget):
    spec = DrainSpec("del", "hk:", sz.hot, keyspace=1000, prefill=1000, expect_keys=0)
    return drain_scenario(b, sz, budget, "hot keys (1,000 keys)", spec, "del")


def scaling(b, sz, budget):
    configs = [(1, c) for c in (1, 2, 4, 8, 16)] + [(2, 2)]
    rows = {cfg: Row("scaling", "%d process%s × %d consumer%s, jobs/s" % (
                     cfg[0], "es" if cfg[0] > 1 else "", cfg[1], "s" if cfg[1] > 1 else ""),
                     "rate") for cfg in configs}
    ceil_row = Row("scaling", "ceiling: redis-benchmark -P 64 " + DEL_CEILING, "rate")
    spec = DrainSpec("del", "bk:", sz.scaling, prefill=sz.scaling, expect_keys=0)
    server = _server(b, "scaling")
    try:
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                for r in rows.values():
                    r.add(None, note="skipped: suite time bound")
                continue
            ceil, ceil_cpu = _ceiling(b, server, "del", sz.ceiling_n)
            ceil_row.add(ceil, redis_cpu=ceil_cpu)
            for (procs, cons), row in rows.items():
                res = run_drain(b, server, spec, consumers=cons, processes=procs,
                                timeout=sz.drain_timeout, tag="scaling-%d-%d-%d" % (procs, cons, run))
                row.add(res.get("jobs_s"), ceiling=ceil, redis_cpu=res["redis_cpu"],
                        worker_cpu=res["worker_cpu"], note=res["note"])
    finally:
        server.stop()
    return [ceil_row] + list(rows.values())


def memory(b, sz, budget):
    """One worker drains sz.memory_rounds del1 queues in a row: RSS after each."""
    rows = [Row("memory", "worker RSS after round %d of %d × %s jobs, MiB" % (i + 1, sz.memory_rounds, "{:,}".format(sz.memory)),
                "mib") for i in range(sz.memory_rounds)]
    growth = Row("memory", "RSS growth, last round − first, MiB", "mib", target="≈ 0 (no growth)")
    hwm = Row("memory", "worker peak RSS (VmHWM) over the rounds, MiB", "mib", target="< 16 MiB")
    server = _server(b, "memory")
    try:
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                growth.add(None, note="skipped: suite time bound")
                continue
            server.flushall()
            worker = Worker(b.worker, server, b.workdir, tag="memory-%d" % run)
            try:
                rss = []
                for i in range(sz.memory_rounds):
                    prefill_keys(b, server, "mk:", sz.memory)
                    prefill_jobs(b, server, "del", "mk:", sz.memory)
                    seconds, why = wait_drained(server, [worker], 0, sz.drain_timeout)
                    if seconds is None:
                        rows[i].add(None, note=why)
                        break
                    with server.client() as q:
                        q.call("DEL", "invq:{default}:stats")
                    kib = worker.mem()[1]
                    rss.append(kib / 1024.0)
                    rows[i].add(kib / 1024.0)
                peak = worker.mem()[0]
                hwm.add(peak / 1024.0 if peak else None)
                growth.add(rss[-1] - rss[0] if len(rss) == sz.memory_rounds else None)
            finally:
                worker.stop()
    finally:
        server.stop()
    return rows + [growth, hwm]


def latency(b, sz, budget):
    rows = []
    server = _server(b, "latency")
    try:
        for rate in sz.rates:
            tgt = {10_000: "p99 < 1 ms", 50_000: "p99 < 2 ms"}.get(rate, "")
            chk = (rate, "checker, upper bound: push → poll that saw the key gone")
            lo = (rate, "checker, lower bound: push → last poll that saw it present")
            hist = (rate, "worker lag histogram: ts → applied (bucket bound)")
            r = {"achieved": Row("latency", "achieved", "rate", group=chk, col="rate"),
                 "late": Row("latency", "late", "ms", group=chk, col="late")}
            for key, grp in (("c", chk), ("l", lo), ("h", hist)):
                for q in ("p50", "p99", "p99.9", "max"):
                    r[key + q] = Row("latency", q, "ms", group=grp, col=q,
                                     target=tgt if q == "p99" else "")
            rows.extend(r.values())
            for run in range(sz.runs):
                if budget.left() < sz.latency_seconds + budget.reserve:
                    r["c99"].add(None, note="skipped: suite time bound")
                    continue
                _latency_run(b, server, sz, rate, run, r)
    finally:
        server.stop()
    return rows


def _latency_run(b, server, sz, rate, run, r):
    server.flushall()
    n = int(rate * sz.latency_seconds)
    prefix = "lt%d.%d:" % (rate, run)
    prefill_keys(b, server, prefix, n)
    http_port = free_port()
    worker = Worker(b.worker, server, b.workdir, http_port=http_port, tag="latency-%d-%d" % (rate, run))
    try:
        before = None
        for _ in range(80):  # until the worker serves /metrics (2 s)
            before = scrape_lag(http_port)
            if before is not None or not worker.alive():
                break
            time.sleep(0.025)
        with server.client() as q:
            q.call("CONFIG", "RESETSTAT")
        r0, t0 = cpu_seconds(server.pid), time.monotonic()
        w0 = worker.cpu() or 0.0
        every = max(1, rate // SAMPLES_PER_SECOND)
        out = loadgen(b, server, rate, sz.latency_seconds, prefix, every)
        seconds, why = wait_drained(server, [worker], 0, 10.0)
        wall = time.monotonic() - t0
        r1 = cpu_seconds(server.pid)
        rcpu = 100.0 * (r1 - r0) / wall
        with server.client() as q:
            stats = commandstats(q.call("INFO", "commandstats"))
        # Not the worker's: the load generator's own LPUSH + HINCRBY per push
        # (their time is taken out pro rata, an estimate).
        for cmd in ("lpush", "hincrby"):
            calls, usec = stats.get(cmd, (0, 0))
            mine = max(0, calls - out["pushes"])
            stats[cmd] = (mine, usec * mine // calls if calls else 0)
        b.commandstats["latency {:,}/s".format(rate)] = (stats, r1 - r0, DrainSpec("del", prefix, n))
        wcpu = 100.0 * ((worker.cpu() or 0.0) - w0) / wall
        after = scrape_lag(http_port)
    finally:
        worker.stop()
    note = why
    r["late"].add(out["max_late_us"] / 1000.0)
    hi, low = out["push_to_gone"], out["push_to_last_present"]
    missing = out["samples"] - hi["seen"]
    if missing:
        note = (note + "; " if note else "") + "%d of %d sampled keys never seen gone" % (missing, out["samples"])
    r["achieved"].add(out["achieved_rate"], redis_cpu=rcpu, worker_cpu=wcpu, note=note)

    def ms(us):
        return None if us is None or us < 0 else us / 1000.0
    for key, d in (("c", hi), ("l", low)):
        for q, field in (("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us"), ("max", "max_us")):
            r[key + q].add(ms(d[field]))
    r["cp50"].add_note("%s, EXISTS poll every %d µs" % (
        "every job's key" if every == 1 else "every %dth job's key" % every, out["poll_us"]))
    if before is None or after is None:
        r["hp50"].add_note("the worker serves no invq_job_lag_seconds histogram")
        for q in ("p50", "p99", "p99.9", "max"):
            r["h" + q].add(None)
        return
    cum = hist_delta(before, after)

    def hms(v):
        return None if v is None else (math.inf if math.isinf(v) else v * 1000.0)
    r["hp50"].add_note("lag in whole ms: a 1 ms bound means < 2 ms")
    r["hp50"].add(hms(hist_quantile(cum, 0.50)))
    r["hp99"].add(hms(hist_quantile(cum, 0.99)))
    r["hp99.9"].add(hms(hist_quantile(cum, 0.999)))
    r["hmax"].add(hms(hist_max(cum)))


def producer(b, sz, budget):
    """Runs bench/producer_bench (the producer library's own benchmark, which
    measures its modes and its LPUSH ceiling 3 times, interleaved, and prints
    the medians) and turns its table into rows of ours."""
    if not b.producer_bench or not os.path.exists(b.producer_bench):
        return [], "bench/producer_bench is not built"
    argv = [b.producer_bench] + (["--jobs", "50000"] if sz.runs == 1 else [])
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=max(30, min(180, budget.left() - 10)))
    except subprocess.TimeoutExpired:
        return [], "producer_bench timed out"
    if res.returncode != 0:
        return [], "producer_bench exit %d: %s" % (res.returncode, res.stderr.strip()[-300:])
    lines = res.stdout.strip().splitlines()
    header = lines[0] if lines else ""
    ceiling = header.split("ceiling:", 1)[1].strip() if "ceiling:" in header else "LPUSH"
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4:
            continue
        try:
            rate, ceil = float(cells[1]), float(cells[2])
        except ValueError:
            continue  # the header and separator lines
        if not rows:
            rows.append(Row("producer", "ceiling: " + ceiling, "rate", values=[ceil]))
        rows.append(Row("producer", cells[0] + ", jobs/s", "rate", values=[rate], ceilings=[ceil],
                        target="≥ 0.7 × ceiling" if "batches" in cells[0] else "",
                        notes=["median of producer_bench's own 3 runs"]))
    if not rows:
        return [], "cannot read producer_bench's output: %r" % res.stdout[-300:]
    return rows, ""
