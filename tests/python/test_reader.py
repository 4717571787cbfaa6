"""invq.Reader against a real redis-server (with-redis --control) and a real
invq-worker: hits, misses and "no such row"; binary keys and values, values
that look like lease markers; 50 threads missing one key load it once (the
other 49 wait for the fill); the delete/fill race, forced: the loader reads
the old row, the writer commits and sends a delete job, the worker DELs the
key, the loader returns — the fill is refused and the next fetch loads the
new row; with a families file, fills get the class's TTL within its jitter,
"no such row" is remembered for the class's negative_ttl, a versioned family
moves to the new data key after a bump, keys outside the file are refused;
loader exceptions propagate unchanged and give the lease up; a foreign lease
outliving the wait raises WaitTimeout under on_wait_timeout="fail"; the
cache stopped: the loader answers; fork() after use."""
import os
import threading

from pyt import (Worker, check, client, drained, families_file, note, raises, redis_start, redis_stop, run_threads,
                 url, wait_child, wait_for)

import invq

FAMILIES = """
[class fast]
ttl = 30s
jitter = 20%
negative_ttl = 5s

[class plain]
ttl = 90s

[family user]
keys = user:{id}
version_key = ver:user:{id}
class = plain
ops = del, bump

[family price]
keys = price:{sku}
class = fast
ops = del
"""


def reader(**kw):
    """A Reader with timeouts generous enough for a loaded machine (a slow
    reply must not look like an outage, which sends gets to the loader)."""
    kw.setdefault("connect_timeout_ms", 5000)
    kw.setdefault("command_timeout_ms", 5000)
    return invq.Reader(url(), **kw)


class Source:
    """A one-row source of truth whose loads can be held or paused."""

    def __init__(self, row=b"row"):
        self.row = row
        self.loads = 0
        self.lock = threading.Lock()
        self.hold = None          # a predicate every load waits for (bounded) before returning
        self.pause = None         # (paused, release) events: the next load pauses after reading
        self.missing = False

    def load(self):
        with self.lock:
            self.loads += 1
            row = self.row
            pause, self.pause = self.pause, None
        if pause:
            pause[0].set()
            check(pause[1].wait(60), "the paused load was never released")
        if self.hold:
            wait_for(self.hold, "the load's hold condition")
        return None if self.missing else row


def test_basics(r):
    r.flushall()
    rd = reader(ttl_ms=60000, jitter_pct=0, negative_ttl_ms=10000)
    db = Source(b"ada")
    check(rd.fetch("user:1", db.load) == b"ada" and rd.fetch("user:1", db.load) == b"ada", "miss, then hit")
    check(db.loads == 1 and r.get("user:1") == b"ada" and 59000 < r.pttl("user:1") <= 60000, "stored with its TTL")
    db.missing = True
    check(rd.fetch("user:404", db.load) is None and rd.fetch("user:404", db.load) is None, "no such row")
    check(db.loads == 2 and r.exists("user:404") == 1, "remembered (negative entry)")
    db.missing = False
    weird = b"\x00invq:N1"
    for key, value in ((b"bin:\xff\x00", b"\x00\x01\xff"), ("uni:ß", "ä".encode()), ("empty", b""),
                       ("marker-like", weird)):
        check(rd.fetch(key, lambda v=value: v) == value and rd.fetch(key, db.load) == value, repr(key))
    check(r.get("marker-like") != weird, "a value that looks like a marker is stored escaped")
    check(rd.fetch("mv", lambda: memoryview(b"abc")) == b"abc", "any bytes-like")
    st = rd.stats()
    check(st["hits"] == 6 and st["negative_hits"] == 1 and st["fills"] == 7 and st["errors"] == 0, repr(st))
    check(rd.fetch("ttl:k", db.load, ttl=2.5) == b"ada" and 1000 < r.pttl("ttl:k") <= 2500, "ttl= in seconds")

    class Boom(Exception):
        pass

    def explode():
        raise Boom("database is down")

    e = raises(Boom, rd.fetch, "boom", explode)
    check(str(e) == "database is down" and r.exists("boom") == 0, "propagated, lease given up")
    raises(TypeError, rd.fetch, "str", lambda: "text")
    raises(TypeError, rd.fetch, "int", lambda: 42)
    check(r.exists("str", "int") == 0 and rd.stats()["load_errors"] == 3, "counted as load errors")
    rd.close()


def test_herd(r):
    r.flushall()
    rd = reader(ttl_ms=60000, wait_timeout_ms=60000)
    db = Source(b"hot")
    db.hold = lambda: rd.stats()["lease_waits"] >= 49   # the one loader waits until 49 others wait
    results = []
    errors = run_threads(lambda i: results.append(rd.fetch("hot:key", db.load)), 50)
    st = rd.stats()
    check(not errors and results == [b"hot"] * 50, "every thread got the value: %r %r" % (errors, results[:3]))
    check(db.loads == 1 and st["loads"] == 1 and st["lease_waits"] == 49 and st["fills"] == 1, repr(st))
    note("50 threads, one missing key: %d load, %d lease waits", st["loads"], st["lease_waits"])
    rd.close()


def test_race(r, producer):
    r.flushall()
    rd = reader(ttl_ms=60000)
    db = Source(b"old")
    paused, release = threading.Event(), threading.Event()
    db.pause = (paused, release)
    got = {}
    with Worker():
        t = threading.Thread(target=lambda: got.setdefault("v", rd.fetch("user:42", db.load)))
        t.start()
        check(paused.wait(60), "the loader never started")       # it read "old"; the lease is in the key
        check(r.get("user:42").startswith(b"\x00invq:L1:"), "the lease marker is in the key")
        db.row = b"new"                                           # the writer commits ...
        check(producer.delete("user:42") == "sent", "... and sends the delete")
        wait_for(lambda: r.exists("user:42") == 0 and drained(r), "invq-worker to DEL the key")
        release.set()                                             # the loader returns the old row
        t.join()
    st = rd.stats()
    check(got["v"] == b"old" and st["fills_refused"] == 1 and st["fills"] == 0, "fill refused: %r" % st)
    check(r.exists("user:42") == 0, "the stale value was not stored")
    check(rd.fetch("user:42", db.load) == b"new" and r.get("user:42") == b"new", "the next fetch loads the new row")
    note("delete/fill race: fill refused, next fetch read %r", r.get("user:42"))
    rd.close()


def test_families(r, producer):
    r.flushall()
    path = families_file(FAMILIES)
    rd = reader(families=path, ttl_ms=600000, jitter_pct=0, negative_ttl_ms=60000)
    db = Source(b"9.99")
    ttls = []
    for i in range(30):
        rd.fetch("price:sku-%d" % i, db.load)
        ttls.append(r.pttl("price:sku-%d" % i))
    note("30 fills of class fast (30s, jitter 20%%): PTTL %d .. %d ms", min(ttls), max(ttls))
    check(all(24000 - 5000 <= t <= 30000 for t in ttls), "within the class's TTL and jitter: %r" % ttls)
    check(max(ttls) - min(ttls) >= 1000, "spread by the jitter: %r" % ttls)

    db.missing = True
    check(rd.fetch("price:gone", db.load) is None and 0 < r.pttl("price:gone") <= 5000, "class negative_ttl 5s")
    check(rd.fetch("user:404", db.load) is None and r.exists("user:404:v0") == 0, "class plain: none")
    db.missing = False

    db.row = b"name=ada"
    with Worker():
        check(rd.fetch("user:42", db.load) == b"name=ada" and r.exists("user:42:v0") == 1, "versioned: v0")
        check(80000 < r.pttl("user:42:v0") <= 90000, "class plain's 90 s")
        db.row = b"name=grace"
        check(producer.bump("ver:user:42") == "sent", "bump")
        wait_for(lambda: r.get("ver:user:42") == b"1", "the worker to bump ver:user:42")
    check(rd.fetch("user:42", db.load) == b"name=grace" and r.get("user:42:v1") == b"name=grace", "v1")

    e = raises(invq.FamilyError, rd.fetch, "session:1", db.load, ttl=10)
    check(path in str(e), str(e))
    raises(invq.FamilyError, rd.fetch, "price:1", db.load, family="user")
    check(rd.fetch("price:1", db.load, family="price") == b"name=grace", "the right family")
    rd.close()
    os.unlink(path)


def test_wait_fail(r):
    r.flushall()
    marker = b"\x00invq:L1:" + b"0123456789abcdef" * 2    # another reader's lease (lease-v1.md §2)
    r.set("leased", marker, px=60000)
    rd = reader(ttl_ms=60000, wait_timeout_ms=50, on_wait_timeout="fail")
    db = Source()
    e = raises(invq.WaitTimeout, rd.fetch, "leased", db.load)
    check("leased" in str(e) and db.loads == 0 and r.get("leased") == marker, "not loaded, lease untouched")
    rd.close()
    rd = reader(ttl_ms=60000, wait_timeout_ms=50)
    check(rd.fetch("leased", db.load) == b"row" and r.get("leased") == marker, "load policy: loads, stores nothing")
    rd.close()


def test_threads(r):
    r.flushall()
    rd = reader(ttl_ms=60000)

    def run(t):
        for i in range(100):
            k = "k%d" % (i % 10)
            check(rd.fetch(k, lambda: k.encode()) == k.encode(), "value of " + k)

    errors = run_threads(run, 20)
    st = rd.stats()
    check(not errors and st["hits"] + st["misses"] == 2000 and st["loads"] >= 10, "%r %r %s" % (errors, st, rd.last_error()))
    rd.close()


def test_outage_and_fork(r):
    r.flushall()
    rd = reader(ttl_ms=60000, connect_timeout_ms=1000, command_timeout_ms=5000)
    db = Source(b"db")
    check(rd.fetch("f:1", db.load) == b"db", "filled")
    child = os.fork()
    if child == 0:
        try:
            ok = rd.fetch("f:1", db.load) == b"db" and rd.fetch("f:2", lambda: b"child") == b"child"
            os._exit(0 if ok and rd.stats()["hits"] == 1 else 3)
        except BaseException:  # noqa: BLE001
            os._exit(4)
    wait_child(child, "the child's reader")
    check(r.get("f:2") == b"child" and rd.fetch("f:2", db.load) == b"child", "the parent's reader still works")

    redis_stop()
    check(rd.fetch("f:1", lambda: b"from-db") == b"from-db", "cache down: the loader answers")
    st = rd.stats()
    check(st["fallbacks"] >= 1 and st["errors"] >= 1, repr(st))
    note("cache down: %s", rd.last_error())
    redis_start()
    rd.close()


def main():
    r = client()
    with invq.Producer(url()) as producer:
        test_basics(r)
        test_herd(r)
        test_race(r, producer)
        test_families(r, producer)
        test_wait_fail(r)
        test_threads(r)
    test_outage_and_fork(r)
    print("python_reader: ok")


if __name__ == "__main__":
    main()
