"""producer/python/examples/cache_aside.py (the README's Python example) end
to end against a real redis-server and invq-worker, SQLite as the source of
truth: a miss loads and fills with the family class's TTL, a hit does not
touch the database, a rename commits and invalidates and the next get reads
the new name, a missing row is cached as a negative entry, and with the
cache unreachable the database answers."""
import os
import subprocess
import sys
import tempfile

from pyt import Worker, check, client, drained, note, unix_url_nowhere, url, wait_for

EXAMPLE = os.environ["INVQ_PY_EXAMPLE"]


def run(db, *args, redis_url=None):
    res = subprocess.run([sys.executable, EXAMPLE, db, redis_url or url()] + list(args), capture_output=True,
                         text=True, timeout=60)
    check(res.returncode == 0, "cache_aside.py %s: exit %d: %s" % (" ".join(args), res.returncode, res.stderr))
    note("cache_aside.py %s -> %s", " ".join(args), res.stdout.strip().replace("\n", " | "))
    return res.stdout


def main():
    r = client()
    r.flushall()
    db = os.path.join(tempfile.mkdtemp(prefix="invq-py-example-"), "users.sqlite")
    with Worker():
        run(db, "init")
        out = run(db, "get", "42")
        check(out.startswith("ada\n") and "misses=1 loads=1 fills=1" in out, "miss, load, fill")
        check(r.get("user:42") == b"ada" and 530000 <= r.pttl("user:42") <= 600000, "cached with class standard's TTL")
        out = run(db, "get", "42")
        check(out.startswith("ada\n") and "hits=1 misses=0 loads=0" in out, "a hit")

        check(run(db, "rename", "42", "grace").strip() == "sent", "the job is sent after the commit")
        wait_for(lambda: drained(r) and r.exists("user:42") == 0, "invq-worker to delete user:42")
        out = run(db, "get", "42")
        check(out.startswith("grace\n") and "loads=1" in out, "the new name")

        out = run(db, "get", "7")
        check(out.startswith("(no such user)") and 0 < r.pttl("user:7") <= 30000, "negative entry, class's 30 s")
        out = run(db, "get", "7")
        check("hits=1" in out and "loads=0" in out, "a negative hit")

        out = run(db, "get", "42", redis_url=unix_url_nowhere())
        check(out.startswith("grace\n") and "fallbacks=1" in out, "cache unreachable: the database answers")
    print("python_example: ok")


if __name__ == "__main__":
    main()
