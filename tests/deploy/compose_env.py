#!/usr/bin/python3
"""Reads deploy/compose.yaml for tests/deploy/compose_local.sh, so the local
run uses the compose file's own settings rather than a copy of them.

  compose_env.py COMPOSE env SERVICE REDIS_ADDR
      `export K='V'` lines of the service's environment; URLs that point at
      the compose service `redis` are pointed at REDIS_ADDR (host:port).
  compose_env.py COMPOSE redis-args
      the redis service's command after `redis-server`, shell-quoted, with
      each in-container path replaced by the host file mounted there.
  compose_env.py COMPOSE entrypoint SERVICE REDIS_ADDR
      the service's entrypoint and command, shell-quoted, URLs repointed.
  compose_env.py COMPOSE url SERVICE REDIS_ADDR
      the service's Redis URL (its --url, else INVQ_QUEUE_URL), repointed.
  compose_env.py COMPOSE userpass SERVICE
      "user password" from the service's Redis URL.
  compose_env.py COMPOSE burst SERVICE N REDIS_ADDR
      connects as the user in the service's Redis URL and LPUSHes N
      schema-v1 jobs (job burst-<i> deletes the cache key
      deploytest:burst:<i>) onto the pending list of the service's
      INVQ_NAMESPACE/INVQ_QUEUE, counting them in the stats hash, pipelined.
"""
import os
import shlex
import socket
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import msgpack
import yaml


def service(doc, name):
    s = doc["services"][name]
    env = s.get("environment", {}) or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return s, {k: str(v) for k, v in env.items()}


def service_url(s, env):
    """The service's Redis URL: its --url argument, else INVQ_QUEUE_URL."""
    argv = [str(a) for a in (s.get("command") or [])]
    if "--url" in argv:
        return argv[argv.index("--url") + 1]
    return env["INVQ_QUEUE_URL"]


def repoint(url, addr):
    u = urlsplit(url)
    if u.scheme != "redis" or u.hostname != "redis":
        return url
    auth = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
    return urlunsplit((u.scheme, auth + addr, u.path, u.query, u.fragment))


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if cmd == "env":
        _, env = service(doc, sys.argv[3])
        for k, v in env.items():
            if v.startswith("redis://"):
                v = repoint(v, sys.argv[4])
            print(f"export {k}={shlex.quote(v)}")
    elif cmd == "redis-args":
        s, _ = service(doc, "redis")
        args = [str(a) for a in s["command"]]
        if args[0] != "redis-server":
            sys.exit("compose: redis command does not start with redis-server")
        mounts = {}
        for v in s.get("volumes", []):
            parts = v.split(":")
            if parts[0].startswith("."):
                mounts[parts[1]] = os.path.normpath(os.path.join(base, parts[0]))
        print(" ".join(shlex.quote(mounts.get(a, a)) for a in args[1:]))
    elif cmd == "entrypoint":
        s, _ = service(doc, sys.argv[3])
        argv = [str(a) for a in list(s.get("entrypoint") or []) + list(s.get("command") or [])]
        argv = [repoint(a, sys.argv[4]) if a.startswith("redis://") else a for a in argv]
        print(" ".join(shlex.quote(a) for a in argv))
    elif cmd == "url":
        s, env = service(doc, sys.argv[3])
        print(repoint(service_url(s, env), sys.argv[4]))
    elif cmd == "userpass":
        s, env = service(doc, sys.argv[3])
        u = urlsplit(service_url(s, env))
        print(u.username, u.password)
    elif cmd == "burst":
        s, env = service(doc, sys.argv[3])
        n = int(sys.argv[4])
        host, port = sys.argv[5].rsplit(":", 1)
        u = urlsplit(service_url(s, env))
        _, wenv = service(doc, "worker")
        ns = wenv.get("INVQ_NAMESPACE", "invq")
        q = wenv.get("INVQ_QUEUE", "default")
        pending = f"{ns}:{{{q}}}:pending"
        now = int(time.time() * 1000)
        out = [resp("AUTH", u.username, u.password)]
        chunk = []
        for i in range(n):
            job = {"v": 1, "id": f"burst-{i}", "ts": now, "src": "compose_local",
                   "ops": [{"op": "del", "keys": [f"deploytest:burst:{i}"]}]}
            chunk.append(msgpack.packb(job, use_bin_type=True))
            if len(chunk) == 500 or i == n - 1:
                out.append(resp("LPUSH", pending, *chunk))
                out.append(resp("HINCRBY", f"{ns}:{{{q}}}:stats", "enqueued", len(chunk)))
                chunk = []
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"".join(out))
            f = sock.makefile("rb")
            for _ in range(len(out)):
                line = f.readline()
                if not line or line[:1] == b"-":
                    sys.exit(f"burst: {line.decode(errors='replace').strip() or 'connection closed'}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
