"""invq's Python package without a server: the exception classes and the
status codes they carry; Families on the example file, field by field
against configparser's reading of the same file, explain, the key builders
and the job check; every option and argument error of Producer, Reader and
Job raising the right exception with libinvq's message (a spool directory
that cannot be used: SpoolError); a Producer and a
Reader with no Redis to talk to; use after close."""
import datetime
import os
import tempfile

from pyt import check, note, raises, unix_url_nowhere, families_file

import invq
from invq._errors import error_for
from invq._invq import lib

EXAMPLE = os.environ["INVQ_FAMILIES_EXAMPLE"]


def test_errors():
    table = [
        (lib.INVQ_EINVAL, invq.InvalidArgument, ValueError), (lib.INVQ_EURL, invq.InvalidURL, invq.InvalidArgument),
        (lib.INVQ_ENOMEM, invq.OutOfMemory, MemoryError), (lib.INVQ_ECONNECT, invq.RedisUnavailable, invq.Error),
        (lib.INVQ_ETIMEOUT, invq.Timeout, invq.Unconfirmed), (lib.INVQ_EAUTH, invq.AuthError, invq.Error),
        (lib.INVQ_EREPLY, invq.ReplyError, invq.Error), (lib.INVQ_EIO, invq.ConnectionLost, invq.Unconfirmed),
        (lib.INVQ_ELIMIT, invq.LimitError, invq.JobError), (lib.INVQ_EJOB, invq.JobError, ValueError),
        (lib.INVQ_ESPOOL, invq.SpoolError, invq.Error), (lib.INVQ_ESPOOLFULL, invq.SpoolFull, invq.SpoolError),
        (lib.INVQ_ECLOSED, invq.Closed, invq.Error), (lib.INVQ_EPROTO, invq.ProtocolError, invq.Unconfirmed),
        (lib.INVQ_EFAMILY, invq.FamilyError, ValueError), (lib.INVQ_EWAIT, invq.WaitTimeout, invq.Error),
        (lib.INVQ_EQUEUEFULL, invq.Error, Exception),
    ]
    for code, cls, parent in table:
        e = error_for(code)
        check(type(e) is cls and isinstance(e, parent) and isinstance(e, invq.Error), "%d -> %r" % (code, e))
        check(e.code == code and e.name.startswith("INVQ_E") and str(e) == invq.strerror(code), repr(e))
    e = error_for(lib.INVQ_ELIMIT, "key is 2000 bytes, limit 1024")
    check(str(e) == "key is 2000 bytes, limit 1024" and e.name == "INVQ_ELIMIT", repr(e))
    check(invq.code_name(-999) == "-999" and "unknown" in invq.strerror(-999), "unknown code")
    check(invq.SENT == "sent" and invq.SPOOLED == "spooled", "status strings")
    check(invq.__version__ == os.environ["INVQ_VERSION"], "invq.__version__ %s is meson's %s"
          % (invq.__version__, os.environ["INVQ_VERSION"]))


def test_families():
    f = invq.Families(EXAMPLE)
    cp = f.config()
    check(f.names() == [s.split(" ", 1)[1] for s in cp.sections() if s.startswith("family ")], "names")
    check(len(f) == 4 and "user" in f and "nope" not in f and list(f) == f.names(), "container")
    for name in f.names():
        fi, sec = f.family(name), cp["family " + name]
        check(fi.patterns == tuple(p.strip() for p in sec["keys"].split(",")), "%s patterns" % name)
        check(fi.class_name == sec["class"] and fi.owner == sec.get("owner"), "%s class/owner" % name)
        check(fi.ops == tuple(o.strip() for o in sec.get("ops", "del, bump, expire").split(",")), "%s ops" % name)
        check(fi.mode == sec.get("mode", "enforce") and fi.triggers == sec.get("triggers"), "%s mode" % name)
        check(fi.version_key == sec.get("version_key") and fi.audit_query == sec.get("audit_query"), name)
        cls = cp["class " + fi.class_name]
        check(("%d%%" % fi.jitter_pct) == cls.get("jitter", "0%"), "%s jitter" % name)
    user = f.family("user")
    check(user.ttl_ms == 600000 and user.negative_ttl_ms == 30000 and user.lease_ttl_ms == 5000, repr(user))
    check(user.rate_keys == 50000 and user.rate_period_ms == 1000, "rate")
    recs = f.family("recs")
    check(recs.negative_ttl_ms is None and recs.rate_keys is None and recs.version_key is None, repr(recs))
    raises(invq.FamilyError, f.family, "nope")

    ki = f.explain("user:42:profile")
    check(ki.family.name == "user" and ki.kind == "plain" and ki.pattern == 1, repr(ki))
    check(ki.pattern_text == "user:{id}:profile" and ki.params == {"id": b"42"} and ki.version is None, repr(ki))
    ki = f.explain(b"ver:user:\xff\x00")
    check(ki.kind == "version" and ki.pattern == -1 and ki.params == {"id": b"\xff\x00"}, repr(ki))
    ki = f.explain("user:42:v-17")
    check(ki.kind == "versioned" and ki.version == -17 and ki.params == {"id": b"42"}, repr(ki))
    ki = f.explain("{price:A-1}:eur")
    check(ki.family.name == "price" and ki.params == {"sku": b"A-1", "currency": b"eur"}, repr(ki))
    check(f.explain("session:1") is None and f.explain("user:42:v01") is None, "no family")

    check(f.key("user", id=42) == "user:42" and f.key("user", 2, id="7") == "user:7:settings", "key")
    check(f.key("user", "user:{id}:profile", id=1) == "user:1:profile", "pattern by text")
    check(f.key("user", -1, id=1) == "ver:user:1" == f.key("user", "version", id=1), "version key pattern")
    check(f.key("price", sku="A-1", currency="eur") == "{price:A-1}:eur", "hash tag")
    check(f.key_bytes("stock", warehouse=b"\xff", sku="x") == b"stock:\xff:x", "bytes")
    check(f.key("user", id="x" * 600) == "user:" + "x" * 600, "a key longer than the first buffer")
    e = raises(invq.InvalidArgument, f.key, "user", id="4:2")
    check(":" in str(e), "the C message says why")
    raises(invq.InvalidArgument, f.key, "user")
    raises(invq.InvalidArgument, f.key, "user", id="")
    raises(invq.InvalidArgument, f.key, "user", id=1, other=2)
    raises(invq.FamilyError, f.key, "nope", id=1)
    raises(invq.FamilyError, f.key, "user", 9, id=1)
    raises(invq.FamilyError, f.key, "user", "user:{uid}", id=1)
    raises(invq.FamilyError, f.key, "price", -1, sku=1, currency=2)
    raises(TypeError, f.key, "user", id=True)
    raises(TypeError, f.key, "user", id=1.5)

    check(f.version_key("user:42") == "ver:user:42" and f.version_key(b"user:\xff") == b"ver:user:\xff", "vk")
    raises(invq.FamilyError, f.version_key, "{price:A-1}:eur")
    raises(invq.FamilyError, f.version_key, "session:1")
    check(f.data_key("user:42", 17) == "user:42:v17" and f.data_key(b"u", -1) == b"u:v-1", "data key")
    raises(invq.InvalidArgument, f.data_key, "u", 1 << 63)

    f.check_job(invq.Job(family="user").delete(["user:1", "user:1:profile"]).bump("ver:user:1"))
    f.check_job(invq.Job().delete(["user:1", "{price:A-1}:eur"]))
    e = raises(invq.FamilyError, f.check_job, invq.Job().delete("session:1"))
    check("belongs to no family" in str(e) and e.code == lib.INVQ_EFAMILY, str(e))
    e = raises(invq.FamilyError, f.check_job, invq.Job(family="user").delete("{price:A-1}:eur"))
    check("not to the job's family 'user'" in str(e), str(e))
    e = raises(invq.FamilyError, f.check_job, invq.Job().expire("user:1", 1000))
    check("expire on 'user:1' is not allowed" in str(e), str(e))
    e = raises(invq.FamilyError, f.check_job, invq.Job().delete("ver:user:1"))
    check("only bump" in str(e), str(e))

    bad = families_file("[class c]\nttl = 10x\n[family f]\nkeys = a:{id}\nclass = nope\n")
    e = raises(invq.InvalidArgument, invq.Families, bad)
    lines = str(e).splitlines()
    check(len(lines) == 2 and lines[0].startswith(bad + ":2: ") and lines[1].startswith(bad + ":5: "), str(e))
    e = raises(invq.InvalidArgument, invq.Families, "/nonexistent/families.ini")
    check("/nonexistent/families.ini" in str(e), str(e))
    e = raises(invq.InvalidArgument, invq.Families, families_file("[family f]\nkeys = invq:{x}\nclass = c\n"
                                                                  "[class c]\nttl = 1s\n"))
    check("invq" in str(e), "the reserved namespace")
    invq.Families(families_file("[family f]\nkeys = invq:{x}\nclass = c\n[class c]\nttl = 1s\n"), ns="other")
    os.unlink(bad)


def test_jobs():
    j = invq.Job(family="user", redo_ms=500).delete(["user:1", b"user:\xff"]).bump("ver:user:1")
    j.expire([bytearray(b"a"), memoryview(b"b")], 5000, jitter_pct=10)
    check(j.ops == [("del", (b"user:1", b"user:\xff"), None, None), ("bump", (b"ver:user:1",), None, None),
                    ("expire", (b"a", b"b"), 5000, 10)], repr(j.ops))
    check(repr(j) == "invq.Job(del 2 keys, bump 1 key, expire 2 keys, family='user', redo_ms=500)", repr(j))
    check(invq.Job().delete("one-key").ops[0][1] == (b"one-key",), "a str is one key, not its characters")
    raises(TypeError, invq.Job().delete, [1])
    raises(TypeError, invq.Job().delete, 5)
    raises(invq.InvalidArgument, invq.Job().delete, "\udcff")
    raises(TypeError, invq.Job().expire, "k", "5000")
    raises(invq.InvalidArgument, invq.Job().expire, "k", -1)
    raises(invq.InvalidArgument, invq.Job().expire, "k", 1 << 64)


def test_producer_offline():
    nowhere = unix_url_nowhere()
    e = raises(invq.InvalidURL, invq.Producer, "http://h")
    check("http" in str(e), "names the scheme")
    raises(invq.InvalidURL, invq.Producer, "redis://h:99999")
    e = raises(invq.InvalidArgument, invq.Producer, nowhere, ns="")
    check("ns" in str(e), str(e))
    raises(invq.InvalidArgument, invq.Producer, nowhere, queue="a{b}")
    raises(invq.InvalidArgument, invq.Producer, nowhere, connect_timeout_ms=-1)
    raises(invq.InvalidArgument, invq.Producer, nowhere, connect_timeout_ms=1 << 40)
    raises(invq.InvalidArgument, invq.Producer, nowhere, spool_fsync="sometimes")
    raises(invq.InvalidArgument, invq.Producer, "unix:///tmp/a\0b")
    raises(TypeError, invq.Producer, nowhere, max_keys="10")
    raises(TypeError, invq.Producer, 42)
    e = raises(invq.InvalidArgument, invq.Producer, nowhere, families="/nonexistent/f.ini")
    check("/nonexistent/f.ini" in str(e), str(e))
    e = raises(invq.SpoolError, invq.Producer, nowhere, spool_dir="/nonexistent/spool")
    check(e.code == lib.INVQ_ESPOOL and "/nonexistent/spool" in str(e), str(e))
    with tempfile.NamedTemporaryFile() as f:
        raises(invq.SpoolError, invq.Producer, nowhere, spool_dir=f.name)   # not a directory

    p = invq.Producer(nowhere, command_timeout_ms=1000, connect_timeout_ms=1000, max_keys=2, source="svc")
    e = raises(invq.RedisUnavailable, p.delete, "k")
    check(e.code == lib.INVQ_ECONNECT, repr(e))
    raises(invq.JobError, p.send, invq.Job())                       # checked before connecting
    raises(invq.LimitError, p.delete, ["a", "b", "c"])               # max_keys 2
    raises(invq.InvalidArgument, p.delete, [])
    raises(invq.InvalidArgument, p.expire, "k", 0)
    raises(invq.InvalidArgument, p.expire, "k", 1000, jitter_pct=101)
    raises(invq.InvalidArgument, p.delete, "k", family="x" * 300)
    raises(invq.InvalidArgument, p.delete, "k", source="a\0b")
    raises(invq.LimitError, p.check, invq.Job().delete(["a", "b", "c"]))
    raises(invq.JobError, p.check, invq.Job())
    p.check(invq.Job().delete("a"))
    raises(TypeError, p.send_many, [object()])
    check(p.families is None and p.spool_dir is None and p.spool_stats()["pending_jobs"] == 0, "no spool")
    p.close()
    p.close()
    check(p.closed, "closed")
    e = raises(invq.Closed, p.delete, "k")
    check(e.code == lib.INVQ_ECLOSED, repr(e))
    raises(invq.Closed, p.flush_spool)
    with invq.Producer(nowhere, families=invq.Families(EXAMPLE)) as p2:
        raises(invq.FamilyError, p2.delete, "session:1")               # refused before any connection
        raises(invq.FamilyError, p2.check, invq.Job().delete("session:1"))
        check(p2.families.names() == invq.Families(EXAMPLE).names(), "producer.families")
    check(p2.closed, "the with block closed it")


def test_reader_offline():
    nowhere = unix_url_nowhere()
    raises(invq.InvalidURL, invq.Reader, "rediss://h?ssl_cert_reqs=sometimes")
    raises(invq.InvalidURL, invq.Reader, "redis-sentinel://h:26379")  # no #MASTERNAME
    raises(invq.InvalidArgument, invq.Reader, nowhere, jitter_pct=101)
    raises(invq.InvalidArgument, invq.Reader, nowhere, lease_ttl_ms=0)
    raises(invq.InvalidArgument, invq.Reader, nowhere, on_wait_timeout="panic")
    raises(invq.InvalidArgument, invq.Reader, nowhere, wait_poll_min_ms=10, wait_poll_max_ms=5)
    e = raises(invq.InvalidArgument, invq.Reader, nowhere, families=families_file("[family x]\n"))
    check(":" in str(e), str(e))

    r = invq.Reader(nowhere)
    calls = []
    raises(invq.InvalidArgument, r.fetch, "k", lambda: calls.append(1) or b"v")  # no TTL anywhere
    check(not calls, "the loader is not called")
    check(r.fetch("k", lambda: b"from-db", ttl=30) == b"from-db", "no cache: the loader answers")
    check(r.fetch("k", lambda: None, ttl=datetime.timedelta(seconds=1)) is None, "no such row")
    st = r.stats()
    check(st["fallbacks"] == 2 and st["errors"] >= 1 and st["loads"] == 2, repr(st))
    check(r.last_error() != "", "the failure is described")
    note("reader with no Redis: %s", r.last_error())
    raises(invq.InvalidArgument, r.fetch, "k", lambda: b"", ttl=0)
    raises(invq.InvalidArgument, r.fetch, "k", lambda: b"", ttl=0.0001)
    raises(TypeError, r.fetch, "k", lambda: b"", ttl="30")
    raises(TypeError, r.fetch, "k", b"not callable", ttl=30)
    raises(invq.InvalidArgument, r.fetch, "", lambda: b"", ttl=30)
    e = raises(invq.InvalidArgument, r.fetch, "k", lambda: b"", ttl=30, family="user")
    check("needs a families file" in str(e), str(e))
    r.close()
    raises(invq.Closed, r.fetch, "k", lambda: b"", ttl=30)
    raises(invq.Closed, r.stats)

    with invq.Reader(nowhere, families=EXAMPLE) as rf:
        e = raises(invq.FamilyError, rf.fetch, "session:1", lambda: b"")
        check("belongs to no family of " + EXAMPLE in str(e), str(e))
        e = raises(invq.FamilyError, rf.fetch, "user:1", lambda: b"", family="price")
        check("not to family 'price'" in str(e), str(e))
        raises(invq.FamilyError, rf.fetch, "ver:user:1", lambda: b"")
        check(rf.fetch("user:1", lambda: b"db") == b"db", "a family key: the loader answers (no Redis)")


if __name__ == "__main__":
    test_errors()
    test_families()
    test_jobs()
    test_producer_offline()
    test_reader_offline()
    print("python_unit: ok")
