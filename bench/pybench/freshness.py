"""The freshness scenario of bench/run: bench/freshness (stale reads per
invalidation strategy against SQLite and a PostgreSQL server it starts, with
a real invq-worker; TTL only is the baseline of the same run), once. Its own
tables go into the report as they are; the leases target and the TTL-only
baseline become rows of the main table."""
import json
import os
import subprocess

from .report import Row

# bench/run runs the benchmark's quick variant (10^6 reads per strategy and
# database, a few minutes); bench/run --quick a tenth of it, which is too
# few reads to judge the leases target.
QUICK_READS = 100_000
TIMEOUT_S = 1200


def freshness(b, sz, budget):
    """Returns (rows, why-not) like scenarios.producer; appends the
    benchmark's own tables to b.sections."""
    if not b.freshness or not os.path.exists(b.freshness):
        return [], "bench/freshness is not built (it needs libsqlite3-dev)"
    jpath = os.path.join(b.workdir, "freshness.json")
    shown = ["--quick", "--db", "both"] + (["--reads", str(QUICK_READS)] if sz.runs == 1 else [])
    argv = [b.freshness] + shown + ["--worker", b.worker, "--json-file", jpath]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [], "freshness timed out after %d s" % TIMEOUT_S
    if res.returncode != 0:
        return [], "freshness exit %d: %s" % (res.returncode, res.stderr.strip()[-400:])
    try:
        with open(jpath) as f:
            results = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        return [], "cannot read freshness's results: %s" % e
    b.sections.append("Freshness (bench/freshness %s, one run; ratios against TTL only in the same run):\n%s"
                      % (" ".join(shown), res.stdout))
    rows = []
    for d in results:
        if d["strategy"] not in ("ttl", "leases"):
            continue
        if d["strategy"] == "leases":
            r = Row("freshness", "%s, delete + leases: stale reads > %d ms after commit"
                    % (d["db"], d["threshold_ms"]), "text",
                    target="0 in ≥ %s reads" % "{:,}".format(d["target_reads"]))
            verdict = {True: "met", False: "MISSED", None: "too few reads to judge"}[d["target_met"]]
            r.add("%d in %s reads: %s" % (d["stale_over_threshold"], "{:,}".format(d["reads"]), verdict))
            r.add_note("%.1f stale reads per 10^6, all within %.1f ms of their commit; %d fills refused"
                       % (d["stale_per_million"], d["stale_max_ms"], d["fills_refused"]))
            r.add_note("stale ÷ TTL-only %.4f" % d["stale_ratio_vs_ttl"])
        else:
            r = Row("freshness", "%s, TTL only: stale reads per 10^6 (p99 / max staleness)" % d["db"], "text",
                    target="the stale window")
            r.add("%.0f (%.0f / %.0f ms)" % (d["stale_per_million"], d["stale_p99_ms"], d["stale_max_ms"]))
            r.add_note("TTL %d ms; %s reads; %d > %d ms after commit"
                       % (d["ttl_ms"], "{:,}".format(d["reads"]), d["stale_over_threshold"], d["threshold_ms"]))
        rows.append(r)
    return rows, ""
