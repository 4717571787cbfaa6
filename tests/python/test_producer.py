"""invq.Producer against a real redis-server (with-redis --control, with an
AOF so that the queue survives the restarts) and a
real invq-worker: jobs built from str and bytes keys land on the queue as
the wire format says and the worker applies them (keys deleted, versions
bumped, TTLs shortened); send_many is one atomic round trip; the families
file refuses jobs before anything is queued or spooled; while Redis is down
jobs are spooled, survive into a new producer, and are replayed in order
when it is back; a full spool raises SpoolFull; one producer shared by 16
threads loses nothing; the GIL is released while a send waits on Redis;
fork() after use gives the child a producer of its own, even while a parent
thread held the lock; AUTH and NOPERM failures, timeouts."""
import os
import signal
import tempfile
import threading

import redis

from pyt import (PENDING, Worker, check, client, drained, families_file, job_keys, note, queued, raises,
                 redis_start, redis_stop, run_threads, syscall_of, url, wait_child, wait_for)

import invq

FAMILIES = """
[class standard]
ttl = 10m

[family user]
keys = user:{id}, user:{id}:profile
version_key = ver:user:{id}
class = standard
ops = del, bump
"""


def test_wire_and_worker(r):
    r.flushall()
    with invq.Producer(url(), source="orders-api") as p:
        check(p.delete(["user:1", "user:1:profile"], redo_ms=200) == "sent", "delete")
        check(p.bump("ver:user:1") == "sent", "bump")
        check(p.expire([b"sess:\xff", "sess:ß"], 60000, jitter_pct=5, source="other") == "sent", "expire")
        jobs = queued(r)
        check(len(jobs) == 3 and r.hget("invq:{default}:stats", "enqueued") == b"3", "three jobs, counted")
        d, b, e = jobs
        check(job_keys(d) == [("del", [b"user:1", b"user:1:profile"])] and d["redo_ms"] == 200, repr(d))
        check(d["src"] == "orders-api" and d["v"] == 1 and len(d["id"]) == 26 and d["ts"] > 0, repr(d))
        check(job_keys(b) == [("bump", [b"ver:user:1"])], repr(b))
        raw = r.lindex(PENDING, 0)
        check(b"\xc4\x06sess:\xff" in raw and "sess:ß".encode() in raw, "non-UTF-8 keys travel as bin, others as str")
        check(e["ops"][0]["ttl_ms"] == 60000 and e["ops"][0]["jitter_pct"] == 5 and e["src"] == "other", repr(e))

        # the worker applies them
        r.delete(PENDING)
        r.mset({"user:2": "a", "user:2:profile": "b", "sess:9": "c"})
        r.set("ver:user:2", 41)
        r.set("sess:long", "x", ex=3600)
        j = invq.Job().delete(["user:2", "user:2:profile"]).bump("ver:user:2").expire("sess:long", 5000)
        check(p.send_many([j, invq.Job().delete(b"sess:9")]) == "sent" and len(j.id) == 26, "send_many")
        with Worker():
            wait_for(lambda: drained(r) and r.get("ver:user:2") == b"42", "the worker to apply the jobs")
        check(r.exists("user:2", "user:2:profile", "sess:9") == 0, "keys deleted")
        ttl = r.pttl("sess:long")
        check(0 < ttl <= 5000, "TTL shortened to 5 s (PTTL %d)" % ttl)
        note("applied by invq-worker: 3 keys deleted, ver:user:2 = 42, sess:long PTTL %d ms", ttl)


def test_families_refusal(r, spool):
    r.flushall()
    path = families_file(FAMILIES)
    with invq.Producer(url(), families=path, spool_dir=spool) as p:
        check(p.delete(["user:1", "user:1:profile"], family="user") == "sent", "allowed")
        for fn in (lambda: p.delete("session:1"), lambda: p.expire("user:1", 1000),
                   lambda: p.delete("ver:user:1"), lambda: p.send_many([invq.Job().delete("user:2"),
                                                                         invq.Job().delete("cart:1")])):
            e = raises(invq.FamilyError, fn)
            check(path in str(e) or "not allowed" in str(e), str(e))
        check(r.llen(PENDING) == 1 and r.hget("invq:{default}:stats", "enqueued") == b"1", "nothing else queued")
        check(p.spool_stats()["pending_jobs"] == 0, "nothing spooled")
    os.unlink(path)


def test_spool(r, spool):
    r.flushall()
    with invq.Producer(url(), spool_dir=spool, connect_timeout_ms=1000, command_timeout_ms=1000) as p:
        check(p.delete("before") == "sent", "sent while up")
        redis_stop()
        check(p.delete("down:1") == "spooled", "spooled while down")
        check(p.bump(["ver:user:1"]) == "spooled", "spooled while down")
        check(p.send_many([invq.Job().delete("down:2"), invq.Job().delete("down:3")]) == "spooled", "batch")
        st = p.spool_stats()
        check(st["pending_jobs"] == 4 and st["pending_bytes"] > 0, repr(st))
        raises(invq.RedisUnavailable, p.flush_spool)
        check(p.spool_stats()["pending_jobs"] == 4, "still spooled")
        with invq.Producer(url(), connect_timeout_ms=1000) as nospool:
            raises(invq.RedisUnavailable, nospool.delete, "lost?")
        redis_start()
        check(p.flush_spool() == 4, "four replayed")
        check(p.delete("after") == "sent", "sent again")
    keys = [job_keys(j)[0][1][0] for j in queued(r)]
    check(keys == [b"before", b"down:1", b"ver:user:1", b"down:2", b"down:3", b"after"], "in order: %r" % keys)
    note("spooled while Redis was down, replayed in order: %r", keys)

    # spooled jobs outlive their producer: a new one on the same dir replays them
    r.flushall()
    redis_stop()
    p = invq.Producer(url(), spool_dir=spool, connect_timeout_ms=1000)
    check(p.delete("orphan") == "spooled", "spooled")
    p.close()
    redis_start()
    with invq.Producer(url(), spool_dir=spool) as p2:  # adopts the closed producer's file and replays it
        check(r.llen(PENDING) == 1 and p2.spool_stats()["adopted_files"] == 1, "replayed by the new producer")
        check(p2.spool_stats()["pending_jobs"] == 0, "nothing left")

    # a full spool refuses
    redis_stop()
    with tempfile.TemporaryDirectory(prefix="invq-py-spool-") as small:
        with invq.Producer(url(), spool_dir=small, spool_max_bytes=150, connect_timeout_ms=1000) as p3:
            check(p3.delete("a") == "spooled", "first fits")
            raises(invq.SpoolFull, p3.delete, ["b" * 60, "c" * 60])
    redis_start()


def test_threads(r):
    r.flushall()
    p = invq.Producer(url())

    def run(t):
        for i in range(100):
            if i % 10 == 9:
                p.send_many([invq.Job().delete("t%d:%d:%d" % (t, i, k)) for k in range(3)])
            else:
                p.delete("t%d:%d" % (t, i))

    errors = run_threads(run, 16)
    check(not errors, "errors: %r" % errors)
    jobs = queued(r)
    ids = {j["id"] for j in jobs}
    check(len(jobs) == 16 * 120 and len(ids) == len(jobs), "%d jobs, %d ids" % (len(jobs), len(ids)))
    note("16 threads on one producer: %d jobs, all ids distinct", len(jobs))
    p.close()


def test_gil_released(r):
    """A send blocked on a paused Redis must not hold the GIL: the main thread
    runs Python meanwhile (it is what resumes the server). Were the GIL held,
    the send would wait out its 60 s command timeout and fail."""
    r.flushall()
    pid = client().info("server")["process_id"]
    p = invq.Producer(url(), command_timeout_ms=60000)
    p.delete("warm-up")
    result = {}
    os.kill(pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=lambda: result.setdefault("status", p.delete("while-paused")))
        t.start()
        # wait until the sender is inside a blocking system call (poll, read, ...), not on the GIL (futex)
        wait_for(lambda: syscall_of(t.native_id) not in (None, 202), "the sender to block on the socket")
        note("sender blocked in system call %d while the main thread runs", syscall_of(t.native_id))
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join()
    check(result.get("status") == "sent", "sent after the resume: %r" % result)
    p.close()


def test_fork(r):
    r.flushall()
    p = invq.Producer(url(), command_timeout_ms=60000)
    check(p.delete("parent:1") == "sent", "parent")

    # a plain fork after use
    child = os.fork()
    if child == 0:
        try:
            status = p.delete("child:1")
            os._exit(0 if status == "sent" else 3)
        except BaseException:  # noqa: BLE001
            os._exit(4)
    wait_child(child, "the child's send")
    check(p.delete("parent:2") == "sent", "the parent's producer still works")

    # fork while another thread is inside a send (holding the producer's lock)
    pid = client().info("server")["process_id"]
    os.kill(pid, signal.SIGSTOP)
    done = {}
    try:
        t = threading.Thread(target=lambda: done.setdefault("status", p.delete("parent:3")))
        t.start()
        wait_for(lambda: syscall_of(t.native_id) not in (None, 202), "the parent thread to block in its send")
        child = os.fork()
        if child == 0:
            try:
                status = p.delete("child:2")  # must not wait for the parent thread's lock
                os._exit(0 if status == "sent" else 3)
            except BaseException:  # noqa: BLE001
                os._exit(4)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_child(child, "the child's send while a parent thread held the lock")
    t.join()
    check(done.get("status") == "sent", "parent thread: %r" % done)
    keys = sorted(job_keys(j)[0][1][0] for j in queued(r))
    check(keys == [b"child:1", b"child:2", b"parent:1", b"parent:2", b"parent:3"], repr(keys))
    note("fork after use: children sent on their own connections: %r", keys)
    p.close()


def test_auth_and_replies(r):
    r.flushall()
    r.acl_setuser("invq-test", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    r.acl_setuser("invq-nopush", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-lpush"])
    base = url()
    assert base.startswith("unix://")
    e = raises(invq.AuthError, invq.Producer(base + "?user=invq-test&password=wrong").delete, "k")
    check(e.code == invq._invq.lib.INVQ_EAUTH, repr(e))
    with invq.Producer(base + "?user=invq-test&password=s3cret") as ok:
        check(ok.delete("k") == "sent", "the right password")
    e = raises(invq.ReplyError, invq.Producer(base + "?user=invq-nopush&password=pw").delete, "k")
    check("NOPERM" in str(e) or "EXECABORT" in str(e) or "permission" in str(e).lower(), str(e))
    check(r.llen(PENDING) == 1, "only the allowed send queued")

    # a command that outlives command_timeout_ms: not confirmed
    pid = client().info("server")["process_id"]
    p = invq.Producer(base, command_timeout_ms=200)
    p.delete("warm")
    os.kill(pid, signal.SIGSTOP)
    try:
        e = raises(invq.Timeout, p.delete, "slow")
        check(isinstance(e, invq.Unconfirmed), "a timeout is unconfirmed")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: p.delete("again") == "sent", "the producer to reconnect")
    p.close()


def main():
    r = client()
    with tempfile.TemporaryDirectory(prefix="invq-py-spool-") as spool:
        test_wire_and_worker(r)
        test_families_refusal(r, spool)
        test_threads(r)
        test_gil_released(r)
        test_fork(r)
        test_auth_and_replies(r)
        test_spool(r, spool)
    print("python_producer: ok")


if __name__ == "__main__":
    try:
        main()
    except redis.exceptions.RedisError as e:
        print("FAIL: redis: %s" % e)
        raise SystemExit(1)
