"""One drain: prefill a queue (and the cache keyspace it invalidates), start
the worker(s), and time until the queue is empty, nothing is in flight and
the cache holds exactly the keys expected, checked rather than assumed."""
import random
import time

from .procs import Worker, cpu_seconds
from .tools import CACHE_DB, QUEUE, prefill_jobs, prefill_keys


class DrainSpec:
    def __init__(self, kind, prefix, jobs, keys_per_job=1, keyspace=0, prefill=0, expect_keys=0):
        self.kind = kind                  # del | bump
        self.prefix = prefix              # cache key prefix
        self.jobs = jobs
        self.keys_per_job = keys_per_job
        self.keyspace = keyspace          # key numbers wrap here (0: every key distinct)
        self.prefill = prefill            # cache keys 0..prefill-1 set before the run
        self.expect_keys = expect_keys    # cache keys left once every job is applied


def queue_state(q, c):
    """(pending, delayed, jobs in processing lists, cache DBSIZE)."""
    pending, ids, delayed = q.pipe(("LLEN", QUEUE + ":pending"),
                                   ("ZRANGE", QUEUE + ":consumers", 0, -1),
                                   ("ZCARD", QUEUE + ":delayed"))
    processing = 0
    if ids:
        lens = q.pipe(*[("LLEN", QUEUE + ":processing:" + i.decode()) for i in ids])
        processing = sum(x for x in lens if isinstance(x, int))
    return pending, delayed, processing, c.call("DBSIZE")


def wait_drained(server, workers, expect_keys, timeout, poll=0.005):
    """Seconds from now until drained, or (None, why)."""
    t0 = time.monotonic()
    with server.client() as q, server.client(CACHE_DB) as c:
        while True:
            pending, delayed, processing, keys = queue_state(q, c)
            now = time.monotonic()
            if pending == 0 and delayed == 0 and processing == 0 and keys == expect_keys:
                return now - t0, ""
            dead = [w for w in workers if not w.alive()]
            if dead:
                return None, "worker exited (%s): %s" % (dead[0].proc.returncode, dead[0].log_tail(2))
            if now - t0 > timeout:
                return None, ("timed out after %.0f s (pending %d, delayed %d, processing %d, cache keys %d)"
                              % (timeout, pending, delayed, processing, keys))
            time.sleep(poll)


def verify(server, spec):
    """Problems found after a drain: sampled keys, dead letters, stats."""
    problems = []
    with server.client() as q, server.client(CACHE_DB) as c:
        dead = q.call("LLEN", QUEUE + ":dead")
        if dead:
            problems.append("%d dead letters" % dead)
        done = q.call("HGET", QUEUE + ":stats", "done")
        if done is not None and int(done) != spec.jobs:
            problems.append("stats done=%s, expected %d" % (done.decode(), spec.jobs))
        span = spec.keyspace or spec.jobs * spec.keys_per_job
        sample = [random.randrange(span) for _ in range(1000)]
        keys = ["%s%012d" % (spec.prefix, n) for n in sample]
        if spec.kind == "del":
            left = sum(c.pipe(*[("EXISTS", k) for k in keys]))
            if left:
                problems.append("%d of 1000 sampled keys still exist" % left)
        else:
            vals = c.pipe(*[("GET", k) for k in keys])
            wrong = sum(1 for v in vals if v != b"1")
            if wrong:
                problems.append("%d of 1000 sampled version keys are not 1" % wrong)
    return problems


def commandstats(info):
    """{command: (calls, usec)} from INFO commandstats."""
    out = {}
    for line in info.decode().splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, fields = line[len("cmdstat_"):].split(":", 1)
        kv = dict(f.split("=", 1) for f in fields.split(","))
        out[name] = (int(kv["calls"]), int(kv["usec"]))
    return out


def run_drain(b, server, spec, consumers=2, processes=1, timeout=60.0, tag="drain", extra=()):
    """Returns a dict: seconds (None on failure), jobs_s, keys_s, redis_cpu,
    worker_cpu (% of one core), hwm_kib, rss_kib, note. `extra`: more worker flags."""
    server.flushall()
    if spec.prefill:
        prefill_keys(b, server, spec.prefix, spec.prefill)
    prefill_jobs(b, server, spec.kind, spec.prefix, spec.jobs, spec.keys_per_job, spec.keyspace)
    with server.client() as q:
        q.call("CONFIG", "RESETSTAT")
    r0 = cpu_seconds(server.pid)
    t0 = time.monotonic()
    workers = [Worker(b.worker, server, b.workdir, consumers=consumers, extra=extra, tag="%s-%d" % (tag, i))
               for i in range(processes)]
    seconds, why = wait_drained(server, workers, spec.expect_keys, timeout)
    wall = time.monotonic() - t0
    r1 = cpu_seconds(server.pid)
    wcpu = sum((w.cpu() or 0.0) for w in workers)
    mems = [w.mem() for w in workers]
    rcs = [w.stop() for w in workers]
    with server.client() as q:
        cmdstats = commandstats(q.call("INFO", "commandstats"))
    out = {
        "seconds": seconds, "redis_cpu": 100.0 * (r1 - r0) / wall,
        "worker_cpu": 100.0 * wcpu / wall,
        "hwm_kib": max((m[0] or 0) for m in mems), "rss_kib": max((m[1] or 0) for m in mems),
        "note": why, "commandstats": cmdstats, "redis_cpu_seconds": r1 - r0,
    }
    if seconds is not None:
        out["jobs_s"] = spec.jobs / seconds
        out["keys_s"] = spec.jobs * spec.keys_per_job / seconds
        problems = verify(server, spec)
        bad_exit = [rc for rc in rcs if rc != 0]
        if bad_exit:
            problems.append("worker exit status %s on SIGTERM" % bad_exit)
        out["note"] = "; ".join(problems)
    return out
