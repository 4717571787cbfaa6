"""The linger scenario of bench/run: at 1,000 and 10,000 jobs/s offered (one
LPUSH per job, open loop, as `everyday`), invq-worker as `everyday` runs it
(2 consumers) and with --take-linger-ms 2 (an applied batch that was not
full waits that long before its finish takes the next, so that the jobs
arriving meanwhile share one take), then with one consumer, without a
linger and with 1, 2 and 5 ms: the queue Redis's CPU per job against the
baseline consumer (bench/baseline: BLMOVE → DEL → LREM) of the same run, the
worker's commands per job, and p99 push → applied, side by side, so that
what a linger buys and what it costs are read off one table. Each consumer
lingers on its own while the others wait in BLMOVE, so a take gathers
about rate × linger ÷ consumers jobs: the one-consumer rows show a linger
at its best."""
from .everyday import RATES, _one, worker_flags
from .procs import RedisServer
from .report import Row

KINDS = ("worker", "worker-l2", "worker-c1", "worker-c1-l1", "worker-c1-l2", "worker-c1-l5")
SECONDS = 4  # of load per pass (2 with --quick): 13 passes per rate and run


def _name(kind):
    return " ".join(["invq-worker"] + worker_flags(kind))


def linger(b, sz, budget):
    seconds = 2 if sz.runs == 1 else SECONDS
    rows = []
    server = RedisServer(b.workdir, "linger").start()
    try:
        for rate in RATES:
            label = "{:,} jobs/s".format(rate)
            base = Row("linger", "%s: queue-Redis CPU per job, baseline (BLMOVE → DEL → LREM), µs" % label, "ms")
            rows.append(base)
            ratio, cmds, p99 = {}, {}, {}
            for k in KINDS:
                ratio[k] = Row("linger", "%s: CPU per job, %s ÷ baseline (same run)" % (label, _name(k)), "ratio",
                               target="≤ 0.7")
                cmds[k] = Row("linger", "%s: commands per job, %s (incl. its scripts')" % (label, _name(k)), "ratio",
                              target="≤ 3" if rate == 1_000 else "≤ 1")
                p99[k] = Row("linger", "%s: p99 push → applied, %s, ms (checker upper bound)" % (label, _name(k)),
                             "ms", target="< 1 ms")
                rows += [ratio[k], cmds[k], p99[k]]
            for run in range(sz.runs):
                if budget.left() < (2 * len(KINDS) + 1) * seconds + budget.reserve:
                    base.add(None, note="skipped: suite time bound")
                    continue
                # rotate which consumer goes first, so load drifts hit each
                kinds = ("baseline",) + KINDS
                order = kinds[run % len(kinds):] + kinds[:run % len(kinds)]
                res = {k: _one(b, server, k, rate, seconds, 300 + run, False) for k in order}
                lat = {k: _one(b, server, k, rate, seconds, 300 + run, True) for k in order if k != "baseline"}
                bl = res["baseline"]["cpu_us_per_job"]
                base.add(bl, worker_cpu=res["baseline"]["consumer_cpu_pct"])
                for k in KINDS:
                    note = None if res[k]["ok"] and lat[k]["ok"] else "a run did not drain"
                    ratio[k].add(res[k]["cpu_us_per_job"] / bl if bl else None, worker_cpu=res[k]["consumer_cpu_pct"],
                                 note=note)
                    cmds[k].add(res[k]["cmds_per_job"])
                    p99[k].add(lat[k]["p99_ms"])
    finally:
        server.stop()
    return rows
