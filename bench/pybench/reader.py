"""The reader scenario of bench/run: bench/reader_bench (the cache-aside
reader's own benchmark, which starts its own redis-server and measures its
baselines in the same run) once per run, its JSON line turned into rows."""
import json
import os
import subprocess

from .report import Row


def reader(b, sz, budget):
    """Returns (rows, why-not) like scenarios.producer."""
    if not b.reader_bench or not os.path.exists(b.reader_bench):
        return [], "bench/reader_bench is not built"
    argv = [b.reader_bench, "--json"] + (["--quick"] if sz.runs == 1 else [])
    loads = Row("reader", "herd: DB loads per invalidation per key, leases", "ratio", target="≤ 1.05")
    plain = Row("reader", "herd: DB loads per invalidation per key, plain GET / SET PX (no leases)", "ratio")
    stale = Row("reader", "herd: stale reads (older than an invalidation that had returned), leases / plain",
                "text", target="0 with leases")
    hit = Row("reader", "hit: invq_reader_get ÷ plain GET round trip (median of 40 blocks)", "ratio",
              target="≤ 1.2")
    vhit = Row("reader", "versioned hit: invq_reader_get ÷ two plain GETs", "ratio")
    rows = [loads, plain, stale, hit, vhit]
    runs = []
    for run in range(sz.runs):
        if run > 0 and budget.left() < budget.reserve:
            for r in rows:
                r.add(None, note="run skipped: suite time bound")
            continue
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=max(30, min(120, budget.left() - 5)))
        except subprocess.TimeoutExpired:
            return [], "reader_bench timed out"
        if res.returncode != 0:
            return [], "reader_bench exit %d: %s" % (res.returncode, res.stderr.strip()[-300:])
        try:
            d = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return [], "cannot read reader_bench's output: %r" % res.stdout[-300:]
        runs.append(d)
        loads.add(d["loads_per_inv_leases"])
        plain.add(d["loads_per_inv_plain"])
        stale.add("%d / %d" % (d["stale_reads_leases"], d["stale_reads_plain"]))
        hit.add(d["hit_ratio"])
        vhit.add(d["vhit_ratio"])
    if runs:
        def each(fmt, *fields):
            return ", ".join(fmt % tuple(d[f] for f in fields) for d in runs)
        d = runs[0]
        setup = "%d readers × %d keys, %d invalidations, loads of %d µs" % (
            d["readers"], d["keys"], d["invalidations"], d["load_us"])
        loads.add_note(setup)
        loads.add_note("fills refused (stale sets prevented) per run: " + each("%d", "fills_refused"))
        loads.add_note("wait timeouts: " + each("%d", "wait_timeouts"))
        plain.add_note(setup)
        stale.add_note("reads, leases / plain: " + each("%d / %d", "gets_leases", "gets_plain"))
        stale.add_note("keys left stale at the end: " + each("%d / %d", "stale_leases", "stale_plain"))
        hit.add_note("ns per hit, reader vs GET: " + each("%d vs %d", "hit_ns", "get_ns"))
        vhit.add_note("ns per hit: " + each("%d vs %d", "vhit_ns", "get2_ns"))
    return rows, ""
