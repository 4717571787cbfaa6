"""The families file's benchmarks (schemas/families-v1.md, worker --families):
what the allowlist costs a del1 drain, measured beside the same drain
without a file in the same run, and how closely two worker processes hold a
family's fleet-wide rate limit."""
import os
import time

from .drain import DrainSpec, run_drain
from .procs import Worker, free_port
from .report import Row
from .tools import CACHE_DB, QUEUE, prefill_jobs, prefill_keys, scrape_metric

PREFIX = "bk:"
OTHER_FAMILIES = 50  # besides the one that claims the drain's keys: a realistic file to look keys up in


def families_file(workdir, name, rate=None):
    """A families file whose family `bench` claims the drain's keys (bk:{n},
    enforce, with `rate` when given), among OTHER_FAMILIES others."""
    lines = ["[class standard]", "ttl = 10m", "jitter = 10%", ""]
    lines += ["[family bench]", "keys = bk:{n}", "class = standard", "ops = del, bump, expire", "mode = enforce"]
    if rate:
        lines.append("rate = %d/s" % rate)
    lines.append("")
    for i in range(OTHER_FAMILIES):
        lines += ["[family f%02d]" % i, "keys = f%02d:{id}, f%02d:{id}:profile, {{f%02d:{id}}}:part" % (i, i, i),
                  "version_key = ver:f%02d:{id}" % i if i % 2 else "owner = team-%d" % i,
                  "class = standard", "mode = %s" % ("enforce", "shadow", "off")[i % 3], ""]
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def allowlist(b, sz, budget):
    """del1 without and with --families, alternating, in the same runs."""
    path = families_file(b.workdir, "families-del1.ini")
    spec = DrainSpec("del", PREFIX, sz.del1, prefill=sz.del1, expect_keys=0)
    plain = Row("families", "del1 jobs/s without --families", "rate")
    fam = Row("families", "del1 jobs/s with --families (%d families; ratio: to the run without)"
              % (OTHER_FAMILIES + 1), "rate", target="≥ 0.90 × without")
    from .scenarios import _server  # one place that starts a scenario's server
    server = _server(b, "families")
    try:
        for run in range(sz.runs):
            if budget.left() < 2 * budget.reserve:
                fam.add(None, note="skipped: suite time bound")
                continue
            res0 = run_drain(b, server, spec, timeout=sz.drain_timeout, tag="families-plain-%d" % run)
            res1 = run_drain(b, server, spec, timeout=sz.drain_timeout, tag="families-file-%d" % run,
                             extra=["--families", path])
            plain.add(res0.get("jobs_s"), redis_cpu=res0["redis_cpu"], worker_cpu=res0["worker_cpu"],
                      note=res0["note"])
            fam.add(res1.get("jobs_s"), ceiling=res0.get("jobs_s"), redis_cpu=res1["redis_cpu"],
                    worker_cpu=res1["worker_cpu"], note=res1["note"])
    finally:
        server.stop()
    return [plain, fam]


def ratelimit(b, sz, budget):
    """Two worker processes drain a family with `rate`; keys deleted per
    second over the window, against the configured rate."""
    rate = 20_000
    window = 5.0 if sz.runs == 1 else 10.0
    warmup = 1.0
    jobs = int(rate * (warmup + window + 3))
    path = families_file(b.workdir, "families-rate.ini", rate=rate)
    row = Row("ratelimit", "keys/s over %.0f s, 2 processes × 2 consumers (ratio: measured ÷ rate = %s/s)"
              % (window, "{:,}".format(rate)), "rate", target="0.90–1.10 × rate")
    share = Row("ratelimit", "share of the keys the first process deleted", "ratio")
    from .scenarios import _server
    server = _server(b, "ratelimit")
    try:
        for run in range(sz.runs):
            if budget.left() < window + warmup + budget.reserve:
                row.add(None, note="skipped: suite time bound")
                continue
            measured, first, note = _ratelimit_run(b, server, path, jobs, warmup, window, run)
            row.add(measured, ceiling=rate if measured else None, note=note)
            share.add(first)
    finally:
        server.stop()
    return [row, share]


def _ratelimit_run(b, server, path, jobs, warmup, window, run):
    server.flushall()
    prefill_keys(b, server, PREFIX, jobs)
    prefill_jobs(b, server, "del", PREFIX, jobs)
    ports = [free_port(), free_port()]
    workers = [Worker(b.worker, server, b.workdir, consumers=2, http_port=p, extra=["--families", path],
                      tag="ratelimit-%d-%d" % (run, i)) for i, p in enumerate(ports)]
    try:
        with server.client(CACHE_DB) as c:
            deadline = time.monotonic() + 30
            while c.call("DBSIZE") == jobs:  # until the first batch is applied
                if time.monotonic() > deadline or not all(w.alive() for w in workers):
                    return None, None, "the workers applied nothing: %s" % workers[0].log_tail(2)
                time.sleep(0.005)
            time.sleep(warmup)
            k0, t0 = c.call("DBSIZE"), time.monotonic()
            time.sleep(window)
            k1, t1 = c.call("DBSIZE"), time.monotonic()
        if k1 == 0:
            return None, None, "the queue ran dry inside the window: prefill more jobs"
        per = [scrape_metric(p, 'invq_keys_invalidated_total{op="del"}') or 0 for p in ports]
        first = per[0] / sum(per) if sum(per) else None
        with server.client() as q:
            retried = int(q.call("HGET", QUEUE + ":stats", "retried") or 0)
        note = "retried %d" % retried if retried else ""
        return (k0 - k1) / (t1 - t0), first, note
    finally:
        for w in workers:
            w.stop()
