"""The benchmark's helper programs: the C prefill tool, the open-loop load
generator, redis-benchmark (the ceiling) and the worker's /metrics page."""
import csv
import io
import json
import subprocess
import time
import urllib.request

from .procs import cpu_seconds

QUEUE = "invq:{default}"
CACHE_DB = 1  # the worker's cache target; the queue stays in db 0


def run_checked(argv, timeout):
    """Runs a helper to completion; raises with its stderr on failure."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (argv[0], res.returncode, res.stderr.strip()[-500:]))
    return res.stdout


def json_runs(argv, sz, budget, rows, name, env=None, limit=120):
    """Runs a benchmark program that prints one JSON line, once per run of
    the suite (later runs skipped when the suite's time bound is near; the
    rows get a note then). Returns (list of the parsed lines, why-not)."""
    runs = []
    for run in range(sz.runs):
        if run > 0 and budget.left() < budget.reserve:
            for r in rows:
                r.add(None, note="run skipped: suite time bound")
            continue
        try:
            res = subprocess.run(argv, capture_output=True, text=True, env=env,
                                 timeout=max(30, min(limit, budget.left() - 5)))
        except subprocess.TimeoutExpired:
            return runs, "%s timed out" % name
        if res.returncode != 0:
            return runs, "%s exit %d: %s" % (name, res.returncode, res.stderr.strip()[-300:])
        try:
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return runs, "cannot read %s's output: %r" % (name, res.stdout[-300:])
    return runs, ""


def prefill_keys(b, server, prefix, count, db=CACHE_DB, start=0):
    run_checked([b.prefill, "--port", str(server.port), "keys", "--prefix", prefix,
                 "--count", str(count), "--start", str(start), "--db", str(db)], 120)


def prefill_jobs(b, server, kind, prefix, count, keys_per_job=1, keyspace=0):
    run_checked([b.prefill, "--port", str(server.port), "jobs", "--kind", kind,
                 "--prefix", prefix, "--count", str(count),
                 "--keys-per-job", str(keys_per_job), "--keyspace", str(keyspace)], 120)


def redis_benchmark(b, server, command, n, prefill_prefix=None):
    """The ceiling: `redis-benchmark -c 50 -P 64 -n N -r N <command>` on db 0,
    after prefilling the `prefill_prefix` keyspace 0..N-1 when given.
    Returns (requests/s, Redis CPU % during the run)."""
    with server.client() as r:
        r.call("FLUSHDB")
    if prefill_prefix:
        prefill_keys(b, server, prefill_prefix, n, db=0)
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-c", "50", "-P", "64",
            "-n", str(n), "-r", str(n), "--csv"] + command.split()
    c0, t0 = cpu_seconds(server.pid), time.monotonic()
    out = run_checked(argv, 120)
    c1, t1 = cpu_seconds(server.pid), time.monotonic()
    rows = list(csv.reader(io.StringIO(out)))
    rps = None
    for row in rows[1:]:
        if len(row) >= 2:
            rps = float(row[1])
    if rps is None:
        raise RuntimeError("cannot read redis-benchmark's output: %r" % out[-300:])
    with server.client() as r:
        r.call("FLUSHDB")
    return rps, 100.0 * (c1 - c0) / (t1 - t0)


def loadgen(b, server, rate, seconds, prefix, every, grace_ms=5000, cache=None):
    """bench/loadgen against `server`'s queue, its checker on `cache` (the
    same server by default)."""
    out = run_checked([b.loadgen, "--port", str(server.port), "--rate", str(rate),
                       "--seconds", str(seconds), "--prefix", prefix, "--sample-every", str(every),
                       "--cache-port", str((cache or server).port),
                       "--cache-db", str(CACHE_DB), "--grace-ms", str(grace_ms)],
                      seconds + grace_ms / 1000 + 60)
    return json.loads(out.strip().splitlines()[-1])


def scrape_metric(http_port, series):
    """The value of one sample (`name{labels}` as the worker renders it) of the
    worker's /metrics, or None when it is absent or the worker does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def scrape_lag(http_port):
    """Cumulative counts of invq_job_lag_seconds_bucket by upper bound (float,
    +Inf as inf), or None when the worker serves no such histogram."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    buckets = {}
    for line in text.splitlines():
        if not line.startswith("invq_job_lag_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets[float(le)] = buckets.get(float(le), 0) + float(value)
    return buckets or None


def hist_delta(before, after):
    """Sorted [(bound, cumulative count)] of what was observed between two scrapes."""
    return sorted((le, after[le] - before.get(le, 0)) for le in after)


def hist_quantile(cum, q):
    """The smallest bucket bound holding the q-quantile (inf: beyond the last
    finite bound), or None for an empty histogram."""
    total = cum[-1][1] if cum else 0
    if total <= 0:
        return None
    for le, c in cum:
        if c >= q * total:
            return le
    return cum[-1][0]


def hist_max(cum):
    """Upper bound of the highest non-empty bucket."""
    prev = 0
    top = None
    for le, c in cum:
        if c > prev:
            top = le
        prev = c
    return top
