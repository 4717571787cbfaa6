"""The everyday-rate scenario of bench/run: at 1,000 and 10,000 jobs/s offered
(one LPUSH per job, open loop, bench/loadgen), what one job costs the queue
Redis — its CPU (INFO cpu / /proc) and the commands the consumer sent — for
invq-worker, for the simplest reliable consumer (bench/baseline: BLMOVE →
DEL → LREM) and for the leanest one of one job per wake-up (bench/baseline
--pipelined: the removal sent with the next BLMOVE) in the same run, plus
push → applied latency; and the Redis CPU per job of a full-speed del1 drain
beside what the same deletions cost alone."""
import os
import subprocess
import time

from .drain import DrainSpec, commandstats, run_drain
from .procs import Worker, cpu_seconds, spawn, stop_process
from .report import Row
from .tools import CACHE_DB, QUEUE, loadgen, prefill_keys

RATES = (1_000, 10_000)
# Commands that are not the consumer's: the load generator's checker
# (EXISTS, SELECT), this module's own polling (counted and taken out
# below) and the bench's housekeeping.
NOT_CONSUMER = {"exists", "select", "config|resetstat", "info", "ping", "dbsize", "flushall"}


def _redis_cpu_us(server):
    """The server's used_cpu_sys + used_cpu_user (INFO cpu), in µs."""
    with server.client() as q:
        info = q.call("INFO", "cpu").decode()
    total = 0.0
    for line in info.splitlines():
        if line.startswith("used_cpu_sys:") or line.startswith("used_cpu_user:"):
            total += float(line.split(":", 1)[1])
    return total * 1e6


class _Poller:
    """Waits until every job is applied, counting the commands it sends so
    that they can be taken out of the consumer's."""

    def __init__(self, server, cache):
        self.server = server
        self.cache = cache
        self.sent = {}

    def _pipe(self, conn, *cmds):
        for c in cmds:
            name = c[0].lower()
            self.sent[name] = self.sent.get(name, 0) + 1
        return conn.pipe(*cmds)

    def drained(self, processing_keys, timeout):
        t0 = time.monotonic()
        with self.server.client() as q, self.cache.client(CACHE_DB) as c:
            while time.monotonic() - t0 < timeout:
                cmds = [("LLEN", QUEUE + ":pending")] + [("LLEN", k) for k in processing_keys()]
                lens = self._pipe(q, *cmds)
                keys = self._pipe(c, ("DBSIZE",))[0]
                if all(x == 0 for x in lens) and keys == 0:
                    return True
                time.sleep(0.01)
        return False


def _worker_processing(server):
    with server.client() as q:
        ids = q.call("ZRANGE", QUEUE + ":consumers", 0, -1) or []
    return [QUEUE + ":processing:" + i.decode() for i in ids]


# bench/baseline's flags for each reference consumer
BASELINE_FLAGS = {"baseline": [], "lean": ["--pipelined"], "lean-skip": ["--pipelined", "--reply-skip"],
                  "lean-early": ["--pipelined", "--early-take"]}


# the parts of a worker kind's name after "worker-": a letter, then the value
WORKER_PARTS = {"c": "--consumers", "l": "--take-linger-ms"}


def worker_flags(kind):
    """invq-worker's flags for a worker kind: "worker" as it comes (2
    consumers), "-c<N>" for N consumers, "-l<MS>" for --take-linger-ms MS
    (pybench/linger.py); None when kind is not a worker's."""
    parts = kind.split("-")
    if parts[0] != "worker":
        return None
    flags = []
    for p in parts[1:]:
        flags += [WORKER_PARTS[p[0]], p[1:]]
    return flags


def _start(b, server, kind, tag, cache):
    """Starts a consumer of `kind` (a worker kind, see worker_flags, or a key
    of BASELINE_FLAGS) with the cache on `cache`; returns (stop(), pid,
    processing_keys()) once it waits for jobs."""
    flags = worker_flags(kind)
    if flags is not None:
        w = Worker(b.worker, server, b.workdir, tag=tag, cache_server=cache, extra=flags)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _worker_processing(server):
            time.sleep(0.02)
        keys = _worker_processing(server)
        return w.stop, w.pid, lambda: keys
    argv = [b.baseline, "--port", str(server.port), "--cache-port", str(cache.port),
            "--cache-db", str(CACHE_DB)] + BASELINE_FLAGS[kind]
    proc = spawn(argv, os.path.join(b.workdir, tag + ".log"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with server.client() as q:
            info = q.call("INFO", "clients").decode()
        if "blocked_clients:1" in info:
            break
        time.sleep(0.02)
    return (lambda: stop_process(proc, 5.0)), proc.pid, lambda: [QUEUE + ":processing:baseline"]


def _one(b, server, kind, rate, seconds, run, measure_latency, cache=None):
    """One open-loop run, the cache in database 1 of `server` or of `cache`;
    returns a dict of figures: the Redis CPU per job is `server`'s (with the
    cache's work when it is the same server), the cache Redis's apart."""
    cache = cache or server
    server.flushall()
    if cache is not server:
        cache.flushall()
    n = int(rate * seconds)
    prefix = "ev%d.%s.%d.%d:" % (rate, kind, run, int(measure_latency))
    prefill_keys(b, cache, prefix, n)
    stop, pid, processing = _start(b, server, kind, "everyday-%s-%d-%d" % (kind, rate, run), cache)
    try:
        with server.client() as q:
            q.call("CONFIG", "RESETSTAT")
        c0, p0, k0 = _redis_cpu_us(server), cpu_seconds(pid) or 0.0, _redis_cpu_us(cache)
        # CPU pass: one sampled job (the checker is idle once it is gone);
        # latency pass: 1,000 keys a second polled every 100 µs, as `latency`.
        every = max(1, rate // 1000) if measure_latency else n
        out = loadgen(b, server, rate, seconds, prefix, every, cache=cache)
        poller = _Poller(server, cache)
        ok = poller.drained(processing, 30.0)
        c1, p1, k1 = _redis_cpu_us(server), cpu_seconds(pid) or 0.0, _redis_cpu_us(cache)
        with server.client() as q:
            stats = commandstats(q.call("INFO", "commandstats"))
    finally:
        stop()
    calls = 0
    for name, (cnt, _) in stats.items():
        if name in NOT_CONSUMER:
            continue
        if name in ("lpush", "hincrby"):
            cnt -= out["pushes"]  # the load generator's LPUSH + HINCRBY per push
        cnt -= poller.sent.get(name, 0)
        calls += max(0, cnt)
    return {"ok": ok and out["ok"], "jobs": n, "cpu_us_per_job": (c1 - c0) / n,
            "cache_cpu_us_per_job": (k1 - k0) / n if cache is not server else None,
            "cmds_per_job": calls / n, "consumer_cpu_pct": 100.0 * (p1 - p0) / max(seconds, 1e-9),
            "p99_ms": out["push_to_gone"]["p99_us"] / 1000.0 if measure_latency else None,
            "stats": stats}


SPLIT_RATE = 1_000
SPLIT_KINDS = ("baseline", "lean", "lean-skip", "lean-early", "worker")
SPLIT_NAMES = {"baseline": "baseline (BLMOVE → DEL → LREM)", "lean": "lean consumer",
               "lean-skip": "lean consumer, CLIENT REPLY SKIP ahead of its LTRIM",
               "lean-early": "lean consumer, removal and next BLMOVE sent before the job is applied",
               "worker": "invq-worker"}


def _producer_alone(b, server, rate, seconds):
    """The queue Redis's CPU per job (µs) of the load generator's pushes with
    no consumer at all (the jobs pile up; its one sampled key never goes)."""
    server.flushall()
    c0 = _redis_cpu_us(server)
    loadgen(b, server, rate, seconds, "evp:", int(rate * seconds), grace_ms=100)
    c1 = _redis_cpu_us(server)
    server.flushall()
    return (c1 - c0) / int(rate * seconds)


def _split(b, sz, budget, server, seconds):
    """1,000 jobs/s with the cache on a Redis of its own, so that the queue
    Redis's INFO cpu holds only queue work: the producer alone, then each
    reference consumer and the worker, rotating which goes first."""
    from .procs import RedisServer
    label = "{:,} jobs/s, cache on a Redis of its own".format(SPLIT_RATE)
    alone = Row("everyday", "%s: queue-Redis CPU per job, the producer alone (no consumer), µs" % label, "ms")
    rows = [alone]
    q_rows, c_rows, ratio_rows = {}, {}, {}
    for k in SPLIT_KINDS:
        q_rows[k] = Row("everyday", "%s: queue-Redis CPU per job, %s, µs" % (label, SPLIT_NAMES[k]), "ms")
        c_rows[k] = Row("everyday", "%s: cache-Redis CPU per job, %s, µs" % (label, SPLIT_NAMES[k]), "ms")
        rows += [q_rows[k], c_rows[k]]
        if k != "baseline":
            ratio_rows[k] = Row("everyday", "%s: queue-Redis CPU per job, %s ÷ baseline (same run)"
                                % (label, SPLIT_NAMES[k]), "ratio", target="≤ 0.7" if k == "worker" else "")
            rows.append(ratio_rows[k])
    cache = RedisServer(b.workdir, "everyday-cache").start()
    try:
        for run in range(sz.runs):
            if budget.left() < 6 * seconds + budget.reserve:
                alone.add(None, note="skipped: suite time bound")
                continue
            alone.add(_producer_alone(b, server, SPLIT_RATE, seconds))
            order = SPLIT_KINDS[run % len(SPLIT_KINDS):] + SPLIT_KINDS[:run % len(SPLIT_KINDS)]
            res = {k: _one(b, server, k, SPLIT_RATE, seconds, 200 + run, False, cache=cache) for k in order}
            base = res["baseline"]["cpu_us_per_job"]
            for k in SPLIT_KINDS:
                note = None if res[k]["ok"] else "a run did not drain"
                q_rows[k].add(res[k]["cpu_us_per_job"], worker_cpu=res[k]["consumer_cpu_pct"], note=note)
                c_rows[k].add(res[k]["cache_cpu_us_per_job"])
                if k in ratio_rows:
                    ratio_rows[k].add(res[k]["cpu_us_per_job"] / base if base else None)
    finally:
        cache.stop()
    return rows


def _deletions_alone(b, server, n, chunk=128, depth=8):
    """The Redis CPU per key (µs) of deleting n keys set as the del1 drain's
    were (bk:<12 digits> in the cache database), by one client sending DEL
    commands of `chunk` keys, `depth` of them per write: what the drain's
    deletions cost without any queue work."""
    server.flushall()
    prefill_keys(b, server, "bk:", n)
    c0 = _redis_cpu_us(server)
    with server.client(CACHE_DB) as c:
        cmds = []
        for start in range(0, n, chunk):
            cmds.append(["DEL"] + ["bk:%012d" % i for i in range(start, min(start + chunk, n))])
            if len(cmds) == depth:
                c.pipe(*cmds)
                cmds = []
        if cmds:
            c.pipe(*cmds)
        left = c.call("DBSIZE")
    c1 = _redis_cpu_us(server)
    if left:
        raise RuntimeError("deletions alone: %d keys left" % left)
    return (c1 - c0) / n


def everyday(b, sz, budget):
    seconds = 2 if sz.runs == 1 else 5
    rows = []
    server = None
    from .procs import RedisServer
    server = RedisServer(b.workdir, "everyday").start()
    try:
        for rate in RATES:
            label = "{:,} jobs/s".format(rate)
            r_w = Row("everyday", "%s: queue-Redis CPU per job, invq-worker, µs" % label, "ms")
            r_b = Row("everyday", "%s: queue-Redis CPU per job, baseline (BLMOVE → DEL → LREM), µs" % label, "ms")
            r_ratio = Row("everyday", "%s: CPU per job, invq-worker ÷ baseline (same run)" % label, "ratio",
                          target="≤ 0.7")
            r_cw = Row("everyday", "%s: commands per job, invq-worker (incl. its scripts')" % label, "ratio",
                       target="≤ 3" if rate == 1_000 else "≤ 1")
            r_cb = Row("everyday", "%s: commands per job, baseline" % label, "ratio")
            r_pw = Row("everyday", "%s: p99 push → applied, invq-worker, ms (checker upper bound)" % label, "ms",
                       target="< 1 ms")
            r_pb = Row("everyday", "%s: p99 push → applied, baseline, ms" % label, "ms")
            r_l = Row("everyday", "%s: queue-Redis CPU per job, lean consumer (BLMOVE → DEL → LTRIM sent with "
                      "the next BLMOVE), µs" % label, "ms")
            r_lratio = Row("everyday", "%s: CPU per job, lean consumer ÷ baseline (same run): the floor of one "
                           "job per wake-up" % label, "ratio")
            r_wl = Row("everyday", "%s: CPU per job, invq-worker ÷ lean consumer (same run)" % label, "ratio")
            rows += [r_w, r_b, r_ratio, r_cw, r_cb, r_pw, r_pb, r_l, r_lratio, r_wl]
            for run in range(sz.runs):
                if budget.left() < 5 * seconds + budget.reserve:
                    r_ratio.add(None, note="skipped: suite time bound")
                    continue
                # rotate which consumer goes first, so load drifts hit each
                kinds = ("worker", "baseline", "lean")
                order = kinds[run % 3:] + kinds[:run % 3]
                res = {k: _one(b, server, k, rate, seconds, run, False) for k in order}
                lat = {k: _one(b, server, k, rate, seconds, run, True) for k in order if k != "lean"}
                w, bl, lean = res["worker"], res["baseline"], res["lean"]
                r_l.add(lean["cpu_us_per_job"], worker_cpu=lean["consumer_cpu_pct"],
                        note=None if lean["ok"] else "a run did not drain")
                r_lratio.add(lean["cpu_us_per_job"] / bl["cpu_us_per_job"] if bl["cpu_us_per_job"] else None)
                r_wl.add(w["cpu_us_per_job"] / lean["cpu_us_per_job"] if lean["cpu_us_per_job"] else None)
                note = "" if w["ok"] and bl["ok"] else "a run did not drain"
                r_w.add(w["cpu_us_per_job"], worker_cpu=w["consumer_cpu_pct"], note=note)
                r_b.add(bl["cpu_us_per_job"], worker_cpu=bl["consumer_cpu_pct"])
                r_ratio.add(w["cpu_us_per_job"] / bl["cpu_us_per_job"] if bl["cpu_us_per_job"] else None)
                r_cw.add(w["cmds_per_job"])
                r_cb.add(bl["cmds_per_job"])
                r_pw.add(lat["worker"]["p99_ms"])
                r_pb.add(lat["baseline"]["p99_ms"])
                b.commandstats["everyday %s, invq-worker" % label] = (
                    w["stats"], w["cpu_us_per_job"] * w["jobs"] / 1e6, DrainSpec("del", "", w["jobs"]))
        rows += _split(b, sz, budget, server, seconds)
        # full speed: Redis CPU per job of a del1 drain (1,000,000 jobs; 100,000 with --quick)
        full = Row("everyday", "full-speed del1 drain of {:,} jobs: Redis CPU per job, µs".format(sz.del1), "ms",
                   target="≤ 1.0 µs")
        rate_row = Row("everyday", "full-speed del1 drain: jobs/s", "rate")
        alone = Row("everyday", "the same deletions alone (pipelined DEL of 128 keys, no queue): Redis CPU per key, µs",
                    "ms")
        queue_part = Row("everyday", "full-speed del1: the queue's part (drain − deletions alone), µs per job", "ms")
        rows += [full, rate_row, alone, queue_part]
        spec = DrainSpec("del", "bk:", sz.del1, prefill=sz.del1, expect_keys=0)
        for run in range(sz.runs):
            if budget.left() < budget.reserve:
                full.add(None, note="skipped: suite time bound")
                continue
            res = run_drain(b, server, spec, timeout=sz.drain_timeout, tag="everyday-del1-%d" % run)
            if res["seconds"] is None:
                full.add(None, note=res["note"])
                continue
            full.add(res["redis_cpu_seconds"] * 1e6 / spec.jobs, redis_cpu=res["redis_cpu"],
                     worker_cpu=res["worker_cpu"], note=res["note"])
            rate_row.add(res["jobs_s"])
            b.commandstats["everyday full-speed del1"] = (res["commandstats"], res["redis_cpu_seconds"], spec)
            per_key = _deletions_alone(b, server, sz.del1)
            alone.add(per_key)
            queue_part.add(res["redis_cpu_seconds"] * 1e6 / spec.jobs - per_key)
    finally:
        server.stop()
    return rows
