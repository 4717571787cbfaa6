"""Result rows and the Markdown table: median and min–max over the runs of
each figure, and the ratio to the ceiling measured in the same run."""
import math
import statistics
from dataclasses import dataclass, field


@dataclass
class Row:
    scenario: str
    figure: str
    unit: str                                      # rate | ms | mib | pct | text
    values: list = field(default_factory=list)     # one per run; None = no value (see notes)
    ceilings: list = field(default_factory=list)   # the same run's ceiling, or empty
    target: str = ""
    redis_cpu: list = field(default_factory=list)  # % of one core, per run
    worker_cpu: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    group: tuple = ()                              # latency rows: (rate, source), rendered by latency_table
    col: str = ""                                  # latency rows: p50 | p99 | p99.9 | max | rate

    def add(self, value, ceiling=None, redis_cpu=None, worker_cpu=None, note=None):
        self.values.append(value)
        if ceiling is not None:
            self.ceilings.append(ceiling)
        if redis_cpu is not None:
            self.redis_cpu.append(redis_cpu)
        if worker_cpu is not None:
            self.worker_cpu.append(worker_cpu)
        self.add_note(note)

    def add_note(self, note):
        if note and note not in self.notes:
            self.notes.append(note)


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "text":
        return str(v)
    if isinstance(v, float) and math.isinf(v):
        return "+Inf"
    if unit == "rate":
        return "{:,.0f}".format(v)
    if unit == "ms":
        return "%.3f" % v if v < 10 else "%.1f" % v
    if unit == "mib":
        return "%.1f" % v
    if unit == "pct":
        return "%.0f" % v
    if unit == "ratio":
        return "%.2f" % v
    return str(v)


def spread(values, unit):
    """(median, "min–max") of the numeric values; text rows show the values."""
    nums = [v for v in values if isinstance(v, (int, float))]
    if unit == "text":
        return (", ".join(str(v) for v in values if v is not None) or "—"), ""
    if not nums:
        return "—", ""
    med = statistics.median(nums)
    if len(nums) == 1:
        return fmt(med, unit), ""
    return fmt(med, unit), "%s–%s" % (fmt(min(nums), unit), fmt(max(nums), unit))


def ratio_cell(row):
    pairs = [(v, c) for v, c in zip(row.values, row.ceilings)
             if isinstance(v, (int, float)) and c]
    if not pairs:
        return ""
    ratios = [v / c for v, c in pairs]
    med = statistics.median(ratios)
    if len(ratios) == 1:
        return "%.2f" % med
    return "%.2f (%.2f–%.2f)" % (med, min(ratios), max(ratios))


def table(rows):
    head = ("| scenario | figure | median | min–max | ceiling | ratio | target | Redis CPU % | worker CPU % | runs | notes |\n"
            "|---|---|---:|---|---:|---|---|---:|---:|---:|---|\n")
    lines = []
    for r in rows:
        if r.group:
            continue
        med, mm = spread(r.values, r.unit)
        ceil = fmt(statistics.median(r.ceilings), "rate") if r.ceilings else ""
        rc = fmt(statistics.median(r.redis_cpu), "pct") if r.redis_cpu else ""
        wc = fmt(statistics.median(r.worker_cpu), "pct") if r.worker_cpu else ""
        ok = sum(1 for v in r.values if v is not None)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d | %s |" % (
            r.scenario, r.figure, med, mm, ceil, ratio_cell(r), r.target, rc, wc,
            ok, len(r.values), "; ".join(r.notes)))
    return head + "\n".join(lines) + "\n"


def _cell(row):
    med, mm = spread(row.values, row.unit)
    return med + (" (%s)" % mm if mm else "")


def latency_table(rows):
    """One line per (rate, source): each quantile as median (min–max) over the runs."""
    groups = {}
    for r in rows:
        if r.group:
            groups.setdefault(r.group, {})[r.col] = r
    if not groups:
        return ""
    head = ("| rate, jobs/s | measured by | p50 ms | p99 ms | p99.9 ms | max ms | target | achieved jobs/s | "
            "producer behind schedule, max ms | Redis CPU % | worker CPU % | notes |\n"
            "|---:|---|---|---|---|---|---|---|---|---:|---:|---|\n")
    lines = []
    for (rate, source), cols in groups.items():
        achieved = cols.get("rate")
        target = next((c.target for c in cols.values() if c.target), "")
        notes = []
        for c in cols.values():
            notes += [n for n in c.notes if n not in notes]
        rc = wc = ""
        if achieved is not None and achieved.redis_cpu:
            rc = fmt(statistics.median(achieved.redis_cpu), "pct")
            wc = fmt(statistics.median(achieved.worker_cpu), "pct")
        late = cols.get("late")
        lines.append("| {:,} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            rate, source, *(_cell(cols[q]) if q in cols else "—" for q in ("p50", "p99", "p99.9", "max")),
            target, _cell(achieved) if achieved is not None else "", _cell(late) if late is not None else "",
            rc, wc, "; ".join(notes)))
    return head + "\n".join(lines) + "\n"


# Commands the benchmark itself sends while it watches a drain (the worker's
# own LLEN/ZCARD sampler runs every 5 s and is negligible).
BENCH_COMMANDS = {"exists", "dbsize", "llen", "zrange", "zcard", "select", "config|resetstat", "info", "ping"}


def commandstats_table(stats):
    """Where Redis spent its command time during one drain of each scenario
    (INFO commandstats, reset when the worker started). Lua scripts run as
    EVALSHA; the commands they call are also counted under their own names."""
    if not stats:
        return ""
    out = []
    for name, (cmds, cpu_s, spec) in stats.items():
        top = sorted(((u, c, n) for n, (c, u) in cmds.items() if u > 0), reverse=True)[:8]
        out.append("| %s | %s |" % (name, ", ".join(
            "%s %.0f ms (%d calls, %.1f µs/call)" % (n, u / 1000.0, c, u / c) for u, c, n in top)))
        per_job = sum(c for n, (c, _) in cmds.items() if n not in BENCH_COMMANDS) / max(spec.jobs, 1)
        out.append("| | Redis CPU %.2f s for %s jobs; %.3f commands per job from the worker (incl. those its scripts call) |"
                   % (cpu_s, "{:,}".format(spec.jobs), per_job))
    return "| drain | Redis command time, largest first |\n|---|---|\n" + "\n".join(out) + "\n"
