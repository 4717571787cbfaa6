#!/usr/bin/python3
"""Checks that deploy/ agrees with itself and with the worker it deploys:
every YAML file parses; probes, ports, grace periods, security settings and
the KEDA list name match the worker's flags and defaults; every INVQ_*
variable set anywhere is a flag that `invq-worker --help` lists; the ACL
users and passwords the manifests use exist in deploy/redis-acl/users.acl;
the TLS examples (compose.tls.yaml, k8s-tls/) use rediss:// URLs whose
ssl_* files are mounted where the URLs say.

usage: check_manifests.py DEPLOY_DIR [--worker PATH] [--invqctl PATH]
                          [--demo-producer PATH] [--self-test]
--self-test: breaks copies of DEPLOY_DIR one mistake at a time and expects
each to be caught (the checks must be able to fail).
"""
import argparse
import glob
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

import yaml

DEFAULT_GRACE_MS = 10000  # invq-worker --shutdown-grace-ms default
DEFAULT_NAMESPACE = "invq"
DEFAULT_QUEUE = "default"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def duration_s(text):
    """Compose durations: 1m30s, 20s, 500ms, 1h."""
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"bad duration {text!r}")
    for n, u in parts:
        total += float(n) * units[u]
    return total


def http_port(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


def worker_help(worker):
    out = subprocess.run([worker, "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, f"{worker} --help exited {out.returncode}")
    text = out.stdout + out.stderr
    envs = set(re.findall(r"\b(INVQ_[A-Z0-9_]+)", text))
    flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", text))
    check(envs, f"{worker} --help lists no INVQ_* variables")
    m = re.search(r"--shutdown-grace-ms\b.*\(default (\d+)\)", text)
    if m:
        global DEFAULT_GRACE_MS
        DEFAULT_GRACE_MS = int(m.group(1))
    return envs, flags


def acl_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            check(words[0] == "user", f"users.acl: line does not start with 'user': {line.strip()}")
            users[words[1]] = words[2:]
    return users


def acl_password_ok(users, user, password):
    rules = users.get(user)
    if rules is None:
        return False
    digest = hashlib.sha256(password.encode()).hexdigest()
    return ("#" + digest) in rules or (">" + password) in rules


def check_url(users, url, where, want_user, scheme="redis"):
    u = urlsplit(url)
    check(u.scheme == scheme, f"{where}: URL scheme is {u.scheme!r}")
    check(u.username == want_user, f"{where}: URL user is {u.username!r}, expected {want_user!r}")
    check(u.password, f"{where}: URL carries no password")
    if u.username and u.password:
        check(acl_password_ok(users, u.username, u.password),
              f"{where}: user {u.username!r} with that password is not in users.acl")


def check_compose(d, envs, users, demo_usage, ctl_envs):
    path = os.path.join(d, "compose.yaml")
    doc = load_all(path)[0]
    svcs = doc.get("services", {})
    for name in ("redis", "worker", "cache-fill", "producer", "invqctl"):
        check(name in svcs, f"compose: no service {name!r}")
    redis = svcs.get("redis", {})
    cmd = redis.get("command", [])
    check("--aclfile" in cmd, "compose: redis is not started with --aclfile")
    if "--aclfile" in cmd:
        acl_in = cmd[cmd.index("--aclfile") + 1]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in redis.get("volumes", []) if ":" in v}
        src = mounts.get(acl_in)
        check(src is not None, f"compose: ACL file {acl_in} is not mounted into redis")
        if src:
            check(os.path.samefile(os.path.join(d, src), os.path.join(d, "redis-acl", "users.acl")),
                  "compose: the mounted ACL file is not deploy/redis-acl/users.acl")
    check(str(redis.get("image", "")).startswith("redis:7"), "compose: redis image is not redis:7")
    check(redis.get("healthcheck"), "compose: redis has no healthcheck")

    w = svcs.get("worker", {})
    env = w.get("environment", {})
    check(isinstance(env, dict), "compose: worker environment is not a mapping")
    check(w.get("deploy", {}).get("replicas") == 3, "compose: worker deploy.replicas is not 3")
    for k in env:
        check(k in envs, f"compose: worker sets {k}, which invq-worker --help does not list")
    check_url(users, env.get("INVQ_QUEUE_URL", ""), "compose worker INVQ_QUEUE_URL", "invq-worker")
    if "INVQ_CACHE_URL" in env:
        check_url(users, env["INVQ_CACHE_URL"], "compose worker INVQ_CACHE_URL", "invq-worker")
    grace_ms = int(env.get("INVQ_SHUTDOWN_GRACE_MS", DEFAULT_GRACE_MS))
    sgp = w.get("stop_grace_period")
    if check(sgp is not None, "compose: worker has no stop_grace_period"):
        check(duration_s(sgp) > grace_ms / 1000,
              f"compose: stop_grace_period {sgp} is not longer than the shutdown grace {grace_ms} ms")
    check(w.get("stop_signal", "SIGTERM") == "SIGTERM", "compose: worker stop_signal is not SIGTERM")
    host, port = http_port(env.get("INVQ_HTTP_ADDR", "127.0.0.1:9464"))
    check(host == "0.0.0.0", "compose: INVQ_HTTP_ADDR does not listen beyond the container's loopback")
    hc = w.get("healthcheck", {}).get("test")
    check(hc == ["CMD", "invq-worker", "--probe", f"http://127.0.0.1:{port}/healthz"],
          f"compose: worker healthcheck is {hc!r}")
    check(str(port) in [str(p) for p in w.get("expose", [])], "compose: worker does not expose the metrics port")

    for name, user, action in (("cache-fill", "invq-demo-app", "--fill"), ("producer", "invq-producer", "--send")):
        svc = svcs.get(name, {})
        argv = [str(x) for x in (svc.get("entrypoint") or []) + (svc.get("command") or [])]
        check(argv[:1] == ["invq-demo-producer"], f"compose: {name} does not run invq-demo-producer")
        check(action in argv, f"compose: {name} does not run the demo producer's {action}")
        if check("--url" in argv, f"compose: {name} passes no --url"):
            check_url(users, argv[argv.index("--url") + 1], f"compose {name} --url", user)
            path = urlsplit(argv[argv.index("--url") + 1]).path
            check(path == urlsplit(env.get("INVQ_QUEUE_URL", "")).path, f"compose: {name} and the workers use different DBs")
        if demo_usage is not None:
            for flag in (x for x in argv[1:] if x.startswith("--")):
                check(flag in demo_usage, f"compose: {name} passes {flag}, which the demo producer does not take")
    check(env.get("INVQ_NAMESPACE", "invq") == "invq" and env.get("INVQ_QUEUE", "default") == "default",
          "compose: the demo producer only speaks the invq/default queue")
    if "invqctl" in svcs:
        cenv = svcs["invqctl"].get("environment", {})
        check_url(users, cenv.get("INVQ_QUEUE_URL", ""), "compose invqctl INVQ_QUEUE_URL", "invq-admin")
        if ctl_envs is not None:
            for k in cenv:
                check(k in ctl_envs, f"compose: invqctl service sets {k}, which invqctl --help does not list")
        for k in ("INVQ_NAMESPACE", "INVQ_QUEUE"):
            check(cenv.get(k, None) == env.get(k, None), f"compose: invqctl and worker disagree on {k}")
    return env, grace_ms


def ssl_files(url):
    """The paths of a rediss:// URL's ssl_* parameters."""
    q = urlsplit(url).query
    return {k: v for k, v in (p.split("=", 1) for p in q.split("&") if "=" in p) if k.startswith("ssl_")}


def check_compose_tls(d, users):
    path = os.path.join(d, "compose.tls.yaml")
    if not check(os.path.exists(path), "compose.tls.yaml is missing"):
        return
    doc = load_all(path)[0]
    secrets = doc.get("secrets", {})
    made = {"ca.crt", "redis.crt", "redis.key", "client.crt", "client.key"}  # by deploy/tls/make-certs.sh
    for name, s in secrets.items():
        check(os.path.basename(s.get("file", "")) in made,
              f"compose.tls: secret {name} is not a file deploy/tls/make-certs.sh makes")
    svcs = doc.get("services", {})
    cmd = svcs.get("redis", {}).get("command", [])
    check("--tls-port" in cmd and cmd[cmd.index("--port") + 1] == "0" if "--port" in cmd else False,
          "compose.tls: redis does not listen on TLS only")
    for flag in ("--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"):
        if check(flag in cmd, f"compose.tls: redis has no {flag}"):
            f = cmd[cmd.index(flag) + 1]
            check(f.startswith("/run/secrets/") and f[13:] in svcs["redis"].get("secrets", []),
                  f"compose.tls: redis {flag} {f} is not one of its secrets")
    urls = []
    for name, user in (("worker", "invq-worker"), ("invqctl", "invq-admin")):
        urls.append((name, user, svcs.get(name, {}).get("environment", {}).get("INVQ_QUEUE_URL", "")))
    for name, user in (("cache-fill", "invq-demo-app"), ("producer", "invq-producer")):
        argv = [str(x) for x in svcs.get(name, {}).get("command", [])]
        urls.append((name, user, argv[argv.index("--url") + 1] if "--url" in argv else ""))
    for name, user, url in urls:
        check_url(users, url, f"compose.tls {name}", user, scheme="rediss")
        files = ssl_files(url)
        check("ssl_ca_certs" in files, f"compose.tls: {name}'s URL has no ssl_ca_certs")
        for k, f in files.items():
            if k in ("ssl_cert_reqs", "ssl_check_hostname"):
                continue
            check(f.startswith("/run/secrets/") and f[13:] in svcs.get(name, {}).get("secrets", []),
                  f"compose.tls: {name}'s {k}={f} is not one of its secrets")


def check_k8s_tls(d, users):
    k = os.path.join(d, "k8s-tls")
    if not check(os.path.isdir(k), "k8s-tls/ is missing"):
        return
    docs = {}
    for path in sorted(glob.glob(os.path.join(k, "*.yaml"))):
        for doc in load_all(path):
            docs.setdefault((doc.get("kind"), doc.get("metadata", {}).get("name")), doc)
    kz = docs.get(("Kustomization", None), {})
    for r in kz.get("resources", []) + [p.get("path") for p in kz.get("patches", [])]:
        check(r == "../k8s" or os.path.exists(os.path.join(k, r)), f"k8s-tls: kustomization names missing {r}")
    tls = docs.get(("Secret", "invq-redis-tls"), {}).get("stringData", {})
    urls = docs.get(("Secret", "invq-redis"), {}).get("stringData", {})
    dep = docs.get(("Deployment", "invq-worker"), {}).get("spec", {}).get("template", {}).get("spec", {})
    vols = {v["name"]: v for v in dep.get("volumes", [])}
    mount = None
    for c in dep.get("containers", []):
        for m in c.get("volumeMounts", []):
            v = vols.get(m["name"], {})
            if v.get("secret", {}).get("secretName") == "invq-redis-tls":
                mount = m["mountPath"]
                check(m.get("readOnly"), "k8s-tls: the TLS Secret is not mounted read-only")
                mode = v["secret"].get("defaultMode", 0o644)
                check(mode & 0o004 or (mode & 0o040 and dep.get("securityContext", {}).get("fsGroup") == 10001),
                      "k8s-tls: uid 10001 cannot read the mounted TLS files")
    check(mount is not None, "k8s-tls: the invq-redis-tls Secret is not mounted into the worker")
    for key in ("queue-url", "cache-url"):
        url = urls.get(key, "")
        check_url(users, url, f"k8s-tls Secret {key}", "invq-worker", scheme="rediss")
        for p, f in ssl_files(url).items():
            if p in ("ssl_cert_reqs", "ssl_check_hostname"):
                continue
            check(mount is not None and os.path.dirname(f) == mount and os.path.basename(f) in tls,
                  f"k8s-tls: {key}'s {p}={f} is not a key of invq-redis-tls mounted at {mount}")


def check_dockerfile(d, envs):
    text = open(os.path.join(d, "Dockerfile"), encoding="utf-8").read()
    joined = re.sub(r"\\\n", " ", text)
    froms = re.findall(r"^FROM\s+(\S+)", joined, re.M)
    check(froms[:1] == ["debian:12"], f"Dockerfile: build stage is FROM {froms[:1]}")
    check(froms[-1:] == ["debian:12-slim"], f"Dockerfile: runtime stage is FROM {froms[-1:]}")
    check("install-deps.sh" in joined, "Dockerfile: build stage does not use deploy/install-deps.sh")
    check("meson setup build -Dwerror=true --buildtype=release" in joined,
          "Dockerfile: not the CI meson setup command")
    check(re.search(r"meson install .*--destdir", joined), "Dockerfile: no meson install --destdir")
    runtime = joined.split("FROM debian:12-slim", 1)[-1]
    check(re.search(r"^ENTRYPOINT \[\"invq-worker\"\]\s*$", runtime, re.M), "Dockerfile: ENTRYPOINT is not invq-worker")
    check(re.search(r"^USER 10001(:10001)?\s*$", runtime, re.M), "Dockerfile: not USER 10001")
    check(re.search(r"^STOPSIGNAL SIGTERM\s*$", runtime, re.M), "Dockerfile: no STOPSIGNAL SIGTERM")
    env_addr = re.search(r"INVQ_HTTP_ADDR=(\S+)", runtime)
    port = 9464
    if check(env_addr, "Dockerfile: runtime stage does not set INVQ_HTTP_ADDR"):
        host, port = http_port(env_addr.group(1))
        check(host == "0.0.0.0", "Dockerfile: INVQ_HTTP_ADDR listens only inside the container")
    check(re.search(rf"^EXPOSE {port}\s*$", runtime, re.M), f"Dockerfile: does not EXPOSE {port}")
    check(f'CMD ["invq-worker", "--probe", "http://127.0.0.1:{port}/healthz"]' in runtime,
          "Dockerfile: HEALTHCHECK is not invq-worker --probe on /healthz")
    for k in re.findall(r"\b(INVQ_[A-Z0-9_]+)=", runtime):
        check(k in envs, f"Dockerfile: sets {k}, which invq-worker --help does not list")


def check_k8s(d, envs, users):
    k = os.path.join(d, "k8s")
    docs = {}
    for path in sorted(glob.glob(os.path.join(k, "*.yaml"))):
        for doc in load_all(path):
            docs.setdefault(doc.get("kind"), []).append(doc)
    dep = docs.get("Deployment", [{}])[0]
    spec = dep.get("spec", {})
    check(spec.get("replicas") == 3, "k8s: Deployment replicas is not 3")
    tmpl = spec.get("template", {})
    pod_labels = tmpl.get("metadata", {}).get("labels", {})
    check(all(pod_labels.get(a) == b for a, b in spec.get("selector", {}).get("matchLabels", {}).items()),
          "k8s: Deployment selector does not match its pod labels")
    pod = tmpl.get("spec", {})
    c = (pod.get("containers") or [{}])[0]
    env = {}
    secrets = {s["metadata"]["name"]: s for s in docs.get("Secret", [])}
    for e in c.get("env", []):
        check(e["name"] in envs, f"k8s: Deployment sets {e['name']}, which invq-worker --help does not list")
        if "value" in e:
            env[e["name"]] = str(e["value"])
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            s = secrets.get(ref["name"])
            if check(s is not None, f"k8s: {e['name']} refers to a missing Secret {ref['name']}"):
                data = s.get("stringData", {})
                if check(ref["key"] in data or ref.get("optional"),
                         f"k8s: Secret {ref['name']} has no key {ref['key']}") and ref["key"] in data:
                    env[e["name"]] = data[ref["key"]]
    check("INVQ_QUEUE_URL" in env, "k8s: INVQ_QUEUE_URL does not come from the Secret")
    check(not any(e.get("name") == "INVQ_QUEUE_URL" and "value" in e for e in c.get("env", [])),
          "k8s: INVQ_QUEUE_URL is a literal, not a secretKeyRef")
    check_url(users, env.get("INVQ_QUEUE_URL", ""), "k8s Secret queue-url", "invq-worker")
    grace_ms = int(env.get("INVQ_SHUTDOWN_GRACE_MS", DEFAULT_GRACE_MS))
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    check(tgps > grace_ms / 1000,
          f"k8s: terminationGracePeriodSeconds {tgps} is not longer than the shutdown grace {grace_ms} ms")
    host, port = http_port(env.get("INVQ_HTTP_ADDR", "127.0.0.1:9464"))
    check(host == "0.0.0.0", "k8s: INVQ_HTTP_ADDR listens only on the pod's loopback")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    check(port in ports.values(), f"k8s: container does not declare port {port}")

    def probe(name, path):
        pr = c.get(name, {}).get("httpGet", {})
        pp = pr.get("port")
        pp = ports.get(pp, pp)
        check(pr.get("path") == path and pp == port,
              f"k8s: {name} is {pr!r}, expected GET {path} on port {port}")
    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")

    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in res.get(kind, {}), f"k8s: container has no resources.{kind}.{r}")
    psc = pod.get("securityContext", {})
    csc = c.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, "k8s: runAsNonRoot is not true")
    check(csc.get("runAsUser", psc.get("runAsUser")) == 10001, "k8s: runAsUser is not 10001")
    check(csc.get("readOnlyRootFilesystem") is True, "k8s: readOnlyRootFilesystem is not true")
    check(csc.get("allowPrivilegeEscalation") is False, "k8s: allowPrivilegeEscalation is not false")
    check("ALL" in csc.get("capabilities", {}).get("drop", []), "k8s: capabilities do not drop ALL")
    seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {}))
    check(seccomp.get("type") == "RuntimeDefault", "k8s: seccompProfile is not RuntimeDefault")

    svc = docs.get("Service", [{}])[0]
    ann = svc.get("metadata", {}).get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true", "k8s: Service lacks prometheus.io/scrape: \"true\"")
    check(ann.get("prometheus.io/port") == str(port), "k8s: Service prometheus.io/port is not the metrics port")
    check(ann.get("prometheus.io/path", "/metrics") == "/metrics", "k8s: Service scrape path is not /metrics")
    sp = (svc.get("spec", {}).get("ports") or [{}])[0]
    check(ports.get(sp.get("targetPort"), sp.get("targetPort")) == port, "k8s: Service targetPort is not the metrics port")
    check(all(pod_labels.get(a) == b for a, b in svc.get("spec", {}).get("selector", {}).items()),
          "k8s: Service selector does not match the worker pods")

    pdb = docs.get("PodDisruptionBudget", [{}])[0]
    check(all(pod_labels.get(a) == b for a, b in pdb.get("spec", {}).get("selector", {}).get("matchLabels", {}).items())
          and pdb.get("spec", {}).get("selector"), "k8s: PodDisruptionBudget selector does not match the worker pods")
    check("maxUnavailable" in pdb.get("spec", {}) or "minAvailable" in pdb.get("spec", {}),
          "k8s: PodDisruptionBudget sets neither maxUnavailable nor minAvailable")

    so = docs.get("ScaledObject", [{}])[0]
    check(so.get("spec", {}).get("scaleTargetRef", {}).get("name") == dep.get("metadata", {}).get("name"),
          "k8s: ScaledObject does not target the Deployment")
    trig = (so.get("spec", {}).get("triggers") or [{}])[0]
    check(trig.get("type") == "redis", "k8s: KEDA trigger is not the Redis Lists scaler (type: redis)")
    ns = env.get("INVQ_NAMESPACE", DEFAULT_NAMESPACE)
    q = env.get("INVQ_QUEUE", DEFAULT_QUEUE)
    want = f"{ns}:{{{q}}}:pending"
    md = trig.get("metadata", {})
    check(md.get("listName") == want, f"k8s: KEDA listName is {md.get('listName')!r}, expected {want!r}")
    check(isinstance(md.get("listLength"), str) and md["listLength"].isdigit(),
          "k8s: KEDA listLength is not a quoted integer")
    auth = trig.get("authenticationRef", {}).get("name")
    tas = {t["metadata"]["name"]: t for t in docs.get("TriggerAuthentication", [])}
    if check(auth in tas, f"k8s: KEDA authenticationRef {auth!r} has no TriggerAuthentication"):
        params = {}
        for ref in tas[auth]["spec"].get("secretTargetRef", []):
            s = secrets.get(ref["name"], {}).get("stringData", {})
            check(ref["key"] in s, f"k8s: TriggerAuthentication refers to missing Secret key {ref['key']}")
            params[ref["parameter"]] = s.get(ref["key"])
        check("address" in params and "password" in params, "k8s: KEDA gets no address/password")
        if params.get("username"):
            check(acl_password_ok(users, params["username"], params.get("password") or ""),
                  f"k8s: KEDA user {params['username']!r} with that password is not in users.acl")

    kz = load_all(os.path.join(k, "kustomization.yaml"))[0]
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k, "*.yaml")))
    files.remove("kustomization.yaml")
    check(sorted(kz.get("resources", [])) == files, f"k8s: kustomization resources {kz.get('resources')} != {files}")


def check_systemd(d, envs, worker):
    unit = {}
    for line in open(os.path.join(d, "invq-worker.service"), encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            unit.setdefault(k, []).append(v)
    envfile = {}
    for line in open(os.path.join(d, "worker.env.example"), encoding="utf-8"):
        line = line.strip()
        m = re.match(r"#?\s*(INVQ_[A-Z0-9_]+)=(.*)", line)
        if m:
            check(m.group(1) in envs, f"worker.env.example: {m.group(1)} is not an invq-worker flag")
            if not line.startswith("#"):
                envfile[m.group(1)] = m.group(2)
    grace_ms = int(envfile.get("INVQ_SHUTDOWN_GRACE_MS", DEFAULT_GRACE_MS))
    stop = unit.get("TimeoutStopSec", ["90s"])[-1]
    check(duration_s(stop if not stop.isdigit() else stop + "s") > grace_ms / 1000,
          f"systemd: TimeoutStopSec {stop} is not longer than the shutdown grace {grace_ms} ms")
    check(unit.get("EnvironmentFile") == ["-/etc/invq/worker.env"], "systemd: EnvironmentFile is not -/etc/invq/worker.env")
    check(shlex.split(unit.get("ExecStart", [""])[0])[0].endswith("/invq-worker"), "systemd: ExecStart is not invq-worker")
    for key, want in (("Restart", "on-failure"), ("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                      ("ProtectHome", "yes"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes")):
        check(unit.get(key) == [want], f"systemd: {key} is not {want}")
    typ = unit.get("Type", ["simple"])[0]
    if worker:
        ldd = subprocess.run(["ldd", worker], capture_output=True, text=True).stdout
        links = "libsystemd.so" in ldd
        with open(worker, "rb") as f:
            speaks = b"sd_notify" in f.read()
        if links and speaks:
            check(typ == "notify", "systemd: the worker speaks sd_notify, so Type should be notify")
        else:
            check(typ == "simple", "systemd: Type=notify but the worker does not call sd_notify")


MUTATIONS = [
    ("k8s/keda-scaledobject.yaml", 'listName: "invq:{default}:pending"', "listName: invq:default:pending"),
    ("k8s/deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 10"),
    ("k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    ("k8s/deployment.yaml", "path: /readyz", "path: /metrics"),
    ("k8s/deployment.yaml", 'drop: ["ALL"]', 'drop: ["NET_RAW"]'),
    ("k8s/deployment.yaml", "key: queue-url", "key: queue-address"),
    ("k8s/service.yaml", 'prometheus.io/port: "9464"', 'prometheus.io/port: "9090"'),
    ("k8s/kustomization.yaml", "  - pdb.yaml\n", ""),
    ("compose.yaml", "stop_grace_period: 20s", "stop_grace_period: 10s"),
    ("compose.yaml", "worker-demo-password@redis", "not-the-password@redis"),
    ("compose.yaml", "http://127.0.0.1:9464/healthz", "http://127.0.0.1:9464/metrics"),
    ("compose.yaml", "replicas: 3", "replicas: 1"),
    ("compose.yaml", "services:", "services: [\n"),
    ("Dockerfile", "EXPOSE 9464", "EXPOSE 8080"),
    ("Dockerfile", "USER 10001:10001", "USER root"),
    ("invq-worker.service", "TimeoutStopSec=30s", "TimeoutStopSec=10s"),
    ("invq-worker.service", "ProtectSystem=strict", "ProtectSystem=full"),
    ("redis-acl/users.acl", "+lpush +hincrby", "+lpush +del +hincrby"),
    ("compose.tls.yaml", "ssl_ca_certs=/run/secrets/redis-ca&ssl_certfile", "ssl_ca_certs=/run/secrets/ca&ssl_certfile"),
    ("compose.tls.yaml", "secrets: [redis-ca, redis-cert, redis-key]", "secrets: [redis-ca, redis-cert]"),
    ("k8s-tls/secret-urls.yaml", "ssl_ca_certs=/etc/invq/tls/ca.crt", "ssl_ca_certs=/etc/invq/ca.crt"),
    ("k8s-tls/deployment-tls.yaml", "mountPath: /etc/invq/tls", "mountPath: /etc/tls"),
    ("k8s-tls/deployment-tls.yaml", "fsGroup: 10001", "fsGroup: 0"),
]
WORKER_MUTATIONS = [
    ("k8s/deployment.yaml", "name: INVQ_BATCH\n", "name: INVQ_BATCH_SIZE\n"),
    ("worker.env.example", "INVQ_CONSUMERS=", "INVQ_CONSUMER_COUNT="),
]


def self_test(d, worker):
    extra = ["--worker", worker] if worker else []
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        def run(copy):
            return subprocess.run([sys.executable, __file__, copy] + extra,
                                  capture_output=True, text=True)
        base = os.path.join(tmp, "base")
        shutil.copytree(d, base)
        r = run(base)
        if r.returncode != 0:
            print(r.stdout)
            return report_list(["the unmodified deploy/ copy fails"])
        muts = MUTATIONS + (WORKER_MUTATIONS if worker else [])
        for i, (rel, old, new) in enumerate(muts):
            copy = os.path.join(tmp, f"m{i}")
            shutil.copytree(d, copy)
            path = os.path.join(copy, rel)
            text = open(path, encoding="utf-8").read()
            if old not in text:
                bad.append(f"mutation {i}: {old!r} not found in {rel} (update the self-test)")
                continue
            open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
            r = run(copy)
            caught = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
            if r.returncode == 0:
                bad.append(f"not caught: {rel}: {old!r} -> {new!r}")
            else:
                print(f"caught {rel}: {old!r} -> {new!r}: {caught[:1]}")
            shutil.rmtree(copy)
    return report_list(bad)


def report_list(bad):
    for b in bad:
        print("FAIL:", b)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("deploy_dir")
    ap.add_argument("--worker")
    ap.add_argument("--demo-producer")
    ap.add_argument("--invqctl")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    d = a.deploy_dir
    if a.self_test:
        return self_test(d, a.worker)

    yamls = glob.glob(os.path.join(d, "**", "*.yaml"), recursive=True) + \
        glob.glob(os.path.join(d, "**", "*.yml"), recursive=True)
    check(len(yamls) >= 7, f"expected the compose and k8s YAML files, found {yamls}")
    for path in yamls:
        try:
            load_all(path)
        except yaml.YAMLError as e:
            failures.append(f"{path}: does not parse: {e}")
    if failures:
        return report()

    if a.worker:
        envs, _flags = worker_help(a.worker)
    else:
        envs = None
    demo_usage = None
    if a.demo_producer:
        out = subprocess.run([a.demo_producer, "--help"], capture_output=True, text=True, timeout=10)
        demo_usage = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout + out.stderr))
        check(demo_usage, "the demo producer prints no usage")
    ctl_envs = worker_help(a.invqctl)[0] if a.invqctl else None
    if envs is None:
        print("check_manifests: no invq-worker binary given; INVQ_* variables are not cross-checked")

        class Anything:
            def __contains__(self, _):
                return True
        envs = Anything()
    users = acl_users(os.path.join(d, "redis-acl", "users.acl"))
    for u in ("invq-worker", "invq-producer", "invq-admin"):
        check(u in users, f"users.acl: no user {u}")
    prod = users.get("invq-producer", [])
    check(not any(r in prod for r in ("+del", "+unlink", "+@all", "+@write", "+@keyspace", "allkeys", "~*")),
          "users.acl: invq-producer may delete or reach cache keys")
    check_compose(d, envs, users, demo_usage, ctl_envs)
    check_dockerfile(d, envs)
    check_k8s(d, envs, users)
    check_compose_tls(d, users)
    check_k8s_tls(d, users)
    check_systemd(d, envs, a.worker)
    return report()


def report():
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("check_manifests: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
