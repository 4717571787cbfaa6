"""The Python package over TLS (rediss://, redis-py's ssl_* parameter names)
against a redis-server that accepts only TLS clients with a certificate
(with-redis --tls-auth-clients): a Producer's job reaches the queue and a
real invq-worker (also on rediss://) applies it; a Reader fills and hits;
a server certificate that does not verify raises TLSError without a spool
and spools with one (nothing sent unverified); a missing client
certificate is refused by the server; a CA file that does not exist is
named in the error."""
import os
import tempfile
import urllib.parse

import invq
from pyt import Worker, check, client, drained, queued, raises, url, wait_for

CA = os.environ["INVQ_TEST_TLS_CA"]
WRONG_CA = os.environ["INVQ_TEST_TLS_WRONG_CA"]
CERT = os.environ["INVQ_TEST_TLS_CLIENT_CERT"]
KEY = os.environ["INVQ_TEST_TLS_CLIENT_KEY"]


def tls_url(**params):
    """The fixture's rediss:// URL with these query parameters instead of its own."""
    base = url().split("?", 1)[0]
    check(base.startswith("rediss://127.0.0.1:"), "the fixture serves TLS: %s" % base)
    return base + "?" + urllib.parse.urlencode(params)


def main():
    good = tls_url(ssl_ca_certs=CA, ssl_certfile=CERT, ssl_keyfile=KEY)
    r = client()  # the fixture's plain unix socket, for looking
    r.flushall()

    r.set("user:1", b"old")
    with invq.Producer(good) as p:
        check(p.delete(["user:1"]) == invq.SENT, "sent over TLS")
    check(len(queued(r)) == 1, "the job is on the queue")
    with Worker(redis_url=good), invq.Reader(good) as rd:
        wait_for(lambda: drained(r) and r.exists("user:1") == 0, "invq-worker on rediss:// to delete user:1")
        check(rd.fetch("user:1", lambda: b"new", ttl=60) == b"new", "a miss loads")
        check(rd.fetch("user:1", lambda: b"other", ttl=60) == b"new", "a hit")
        st = rd.stats()
        check(st["hits"] == 1 and st["fills"] == 1 and st["errors"] == 0, repr(st))
    check(r.get("user:1") == b"new", "the fill is in the cache")

    bad = tls_url(ssl_ca_certs=WRONG_CA, ssl_certfile=CERT, ssl_keyfile=KEY)
    with invq.Producer(bad, connect_timeout_ms=5000) as p:
        e = raises(invq.TLSError, p.delete, ["user:2"])
        check(e.code == invq._errors.lib.INVQ_ETLS and "certificate" in str(e), repr(e))
    spool = tempfile.mkdtemp(prefix="invq-py-tls-spool-")
    with invq.Producer(bad, spool_dir=spool, connect_timeout_ms=5000) as p:
        check(p.delete(["user:2"]) == invq.SPOOLED, "an unverified server gets nothing: spooled")
        check(p.spool_stats()["pending_jobs"] == 1, repr(p.spool_stats()))
    check(len(queued(r)) == 0, "nothing reached the queue")
    with invq.Producer(good, spool_dir=spool) as p:
        wait_for(lambda: p.flush_spool() is not None and p.spool_stats()["pending_jobs"] == 0,
                 "the spooled job to go once the CA is right")
    check(len(queued(r)) == 1, "the spooled job arrived")

    with invq.Producer(tls_url(ssl_ca_certs=CA), connect_timeout_ms=5000) as p:
        e = raises(invq.Error, p.delete, ["user:3"])
        check(not isinstance(e, invq.InvalidArgument), "the server's refusal is not a usage error: %r" % e)
    e = raises(invq.TLSError, invq.Producer, tls_url(ssl_ca_certs="/nonexistent/ca.pem"))
    check("/nonexistent/ca.pem" in str(e), "the missing CA file is named: %s" % e)
    print("ok")


if __name__ == "__main__":
    main()
