"""The python scenario of bench/run: bench/python_bench.py (the Python
package against redis-py on a redis-server of its own, both measured in the
same run, interleaved) under /usr/bin/python3 with the build's package on
PYTHONPATH, its JSON line turned into rows."""
import os

from .report import Row
from .tools import json_runs


def python(b, sz, budget):
    """Returns (rows, why-not) like scenarios.producer."""
    site = os.path.join(b.build, "producer", "python", "site")
    if not os.path.exists(os.path.join(site, "invq", "__init__.py")):
        return [], "the Python package is not built (python3-dev and python3-cffi missing?)"
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python_bench.py")
    argv = ["/usr/bin/python3", script, "--json"] + (["--quick"] if sz.runs == 1 else [])
    env = dict(os.environ, PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
    per_call = Row("python", "Producer.delete(), one job per call ÷ redis-py LPUSH of the same bytes", "ratio",
                   target="≥ 0.9")
    batched = Row("python", "Producer.send_many() of 1,000 ÷ redis-py pipeline of 1,000 LPUSH", "ratio",
                  target="≥ 0.9")
    hit = Row("python", "Reader.fetch() hit ÷ redis-py GET", "ratio", target="≤ 1.3")
    rows = [per_call, batched, hit]
    runs, why = json_runs(argv, sz, budget, rows, "python_bench", env=env, limit=240)
    if why:
        return [], why
    for d in runs:
        per_call.add(d["per_call_ratio"])
        batched.add(d["batched_ratio"])
        hit.add(d["hit_ratio"])
    if runs:
        def each(fmt, *fields):
            return ", ".join(fmt % tuple(d[f] for f in fields) for d in runs)
        d = runs[0]
        per_call.add_note("jobs/s, invq vs redis-py: %s; each run the median of %d alternating blocks; "
                          "redis-py %s, Python %s" % (each("%.0f vs %.0f", "per_call_jobs_s", "per_call_redis_py_s"),
                                                      d["blocks"], d["redis_py"], d["python"]))
        batched.add_note("jobs/s, invq vs redis-py: " + each("%.0f vs %.0f", "batched_jobs_s", "batched_redis_py_s"))
        hit.add_note("ns per call, fetch vs GET: " + each("%.0f vs %.0f", "hit_ns", "get_ns"))
    return rows, ""
