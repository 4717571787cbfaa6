#!/usr/bin/python3
"""bench/python_bench.py — the Python package against redis-py, in the same
run, on a redis-server of its own (127.0.0.1, TCP):

- producer, one job per call: invq.Producer.delete() of one key, against
  redis-py's LPUSH of the very bytes invq pushed, one call each;
- producer, batched: invq.Producer.send_many() of 1,000 invq.Job objects
  (built in the timed loop), against a redis-py pipeline of 1,000 LPUSHes of
  the same bytes;
- reader hit: invq.Reader.fetch() of a cached key, against redis-py's GET.

Each pair is measured in alternating blocks (200 calls, or one batch of
1,000; which side goes first rotates), 40 blocks of each, so a change in
the machine's load hits both sides alike; a ratio is the median of the
blocks' ratios (producer: invq's rate ÷ redis-py's; fetch: fetch's time ÷
GET's). Targets: producer ≥ 0.9 × redis-py, fetch ≤ 1.3 × a GET.

usage: PYTHONPATH=<build>/producer/python/site /usr/bin/python3 bench/python_bench.py
       [--quick] [--blocks N] [--json]"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import redis  # noqa: E402

import invq  # noqa: E402
from pybench.procs import RedisServer, stop_all  # noqa: E402

PENDING = "invq:{default}:pending"


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def blocks(r, n_blocks, invq_block, py_block):
    """Alternates timed blocks of the two sides (so the machine's load hits
    both alike); returns the per-block (invq seconds, redis-py seconds)."""
    out = []
    for b in range(n_blocks):
        if b % 2:  # rotate which side goes first
            tp = timed(lambda: py_block(b))
            ti = timed(lambda: invq_block(b))
        else:
            ti = timed(lambda: invq_block(b))
            tp = timed(lambda: py_block(b))
        out.append((ti, tp))
    r.delete(PENDING)
    return out


def capture(r, p, n, batch=1):
    """The bytes of n jobs invq pushes (for redis-py to push the same)."""
    r.delete(PENDING)
    for i in range(0, n, batch):
        if batch == 1:
            p.delete("bench:user:%d" % i)
        else:
            p.send_many([invq.Job().delete("bench:user:%d:%d" % (i, k)) for k in range(batch)])
    payloads = list(reversed(r.lrange(PENDING, 0, -1)))
    r.delete(PENDING)
    return payloads


def per_call(url, r, n_blocks, size):
    """One job per call: invq Producer.delete() against redis-py LPUSH."""
    with invq.Producer(url) as p:
        payloads = capture(r, p, n_blocks * size)

        def inv(b):
            for i in range(size):
                p.delete("bench:user:%d:%d" % (b, i))

        def py(b):
            for x in payloads[b * size:(b + 1) * size]:
                r.lpush(PENDING, x)
        return blocks(r, n_blocks, inv, py)


def batched(url, r, n_blocks, size):
    """send_many of `size` Job objects (built in the timed block) against a
    redis-py pipeline of `size` LPUSHes; one batch per block."""
    with invq.Producer(url) as p:
        payloads = capture(r, p, n_blocks * size, size)

        def inv(b):
            p.send_many([invq.Job().delete("bench:user:%d:%d" % (b, i)) for i in range(size)])

        def py(b):
            pipe = r.pipeline(transaction=False)
            for x in payloads[b * size:(b + 1) * size]:
                pipe.lpush(PENDING, x)
            pipe.execute()
        return blocks(r, n_blocks, inv, py)


def hits(url, r, n_blocks, size):
    """Reader.fetch() of a cached key against redis-py GET."""
    value = b'{"id": 42, "name": "Ada Lovelace", "email": "ada@example.org", "plan": "pro"}'
    loader = lambda: value  # noqa: E731
    with invq.Reader(url, ttl_ms=600000) as rd:
        rd.fetch("user:42", loader)
        assert rd.fetch("user:42", loader) == value and r.get("user:42") == value

        def inv(b):
            for _ in range(size):
                rd.fetch("user:42", loader)

        def py(b):
            for _ in range(size):
                r.get("user:42")
        res = blocks(r, n_blocks, inv, py)
        st = rd.stats()
        assert st["loads"] == 1 and st["hits"] == n_blocks * size + 1, st
        return res


def main():
    ap = argparse.ArgumentParser(description="invq's Python package against redis-py")
    ap.add_argument("--quick", action="store_true", help="10 blocks of each kind instead of 40")
    ap.add_argument("--blocks", type=int, help="blocks of each kind (default 40, quick 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON line only")
    args = ap.parse_args()
    n_blocks = args.blocks or (10 if args.quick else 40)
    work = tempfile.mkdtemp(prefix="invq-pybench-")
    server = RedisServer(work).start()
    url = "redis://127.0.0.1:%d" % server.port
    r = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        res = {"per_call": per_call(url, r, n_blocks, 200), "batched": batched(url, r, n_blocks, 1000),
               "hit": hits(url, r, n_blocks, 200)}
    finally:
        r.close()
        server.stop()
        stop_all()

    def ratio(pairs):
        return statistics.median(a / b for a, b in pairs)

    def per_op(pairs, i, ops):
        return statistics.median(p[i] for p in pairs) / ops
    out = {
        "blocks": n_blocks, "python": sys.version.split()[0], "redis_py": redis.__version__,
        "per_call_jobs_s": 1 / per_op(res["per_call"], 0, 200), "per_call_redis_py_s": 1 / per_op(res["per_call"], 1, 200),
        "per_call_ratio": 1 / ratio(res["per_call"]),
        "batched_jobs_s": 1 / per_op(res["batched"], 0, 1000), "batched_redis_py_s": 1 / per_op(res["batched"], 1, 1000),
        "batched_ratio": 1 / ratio(res["batched"]),
        "hit_ns": per_op(res["hit"], 0, 200) * 1e9, "get_ns": per_op(res["hit"], 1, 200) * 1e9,
        "hit_ratio": ratio(res["hit"]),
    }
    if args.json:
        print(json.dumps(out))
        return
    print("invq Python package vs redis-py %s (Python %s), medians of %d alternating blocks:" % (
        out["redis_py"], out["python"], n_blocks))
    print("| figure | invq | redis-py | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print("| producer, one job per call (jobs/s) | %s | %s | %.2f | ≥ 0.9 |" % (
        "{:,.0f}".format(out["per_call_jobs_s"]), "{:,.0f}".format(out["per_call_redis_py_s"]),
        out["per_call_ratio"]))
    print("| producer, send_many of 1,000 vs a pipeline of 1,000 LPUSH (jobs/s) | %s | %s | %.2f | ≥ 0.9 |" % (
        "{:,.0f}".format(out["batched_jobs_s"]), "{:,.0f}".format(out["batched_redis_py_s"]),
        out["batched_ratio"]))
    print("| Reader.fetch hit vs GET (µs per call; ratio: fetch ÷ GET) | %.1f | %.1f | %.2f | ≤ 1.3 |" % (
        out["hit_ns"] / 1000, out["get_ns"] / 1000, out["hit_ratio"]))


if __name__ == "__main__":
    main()
