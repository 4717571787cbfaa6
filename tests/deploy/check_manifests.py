#!/usr/bin/python3
"""Checks that deploy/ agrees with itself and with the worker it deploys:
every YAML file parses; probes, ports, grace periods, security settings and
the KEDA list name match the worker's flags and defaults; every INVQ_*
variable set anywhere is a flag that `invq-worker --help` lists; the ACL
users and passwords the manifests use exist in deploy/redis-acl/users.acl;
the hourly audit (systemd service and timer, Kubernetes CronJob) runs
`invqctl audit` with flags it knows, once an hour, never twice at once,
keeps its results (--prom where they are collected) and lints its families
file;
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


MIB = 1024 * 1024
# worker/README.md "Memory": peak RSS <= consumers x batch x max-payload x 6 + 8 MiB
MEMORY_FACTOR = 6
MEMORY_BASE = 8 * MIB
DEFAULT_CONSUMERS, DEFAULT_BATCH, DEFAULT_MAX_PAYLOAD = 4, 512, 1048576


def memory_bytes(q):
    """A Kubernetes memory quantity ("256Mi", "1Gi", "500M", "1048576") in bytes."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q).strip())
    if not m:
        return 0
    mult = {None: 1, "Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB, "Ti": 1024 ** 4,
            "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4}[m.group(2)]
    return int(m.group(1)) * mult


def worker_memory_bound(env):
    """The memory a worker configured by env may need at most (worker/README.md)."""
    consumers = int(env.get("INVQ_CONSUMERS", DEFAULT_CONSUMERS))
    batch = int(env.get("INVQ_BATCH", DEFAULT_BATCH))
    payload = int(env.get("INVQ_MAX_PAYLOAD", DEFAULT_MAX_PAYLOAD))
    return consumers * batch * payload * MEMORY_FACTOR + MEMORY_BASE


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
    limit = memory_bytes(res.get("limits", {}).get("memory", "0"))
    need = worker_memory_bound(env)
    check(limit >= need, f"k8s: memory limit {res.get('limits', {}).get('memory')} is below the worker's bound "
          f"{need / MIB:.0f} MiB (consumers x batch x max-payload x {MEMORY_FACTOR} + {MEMORY_BASE // MIB} MiB, "
          "worker/README.md)")
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


def read_unit(path):
    """A systemd unit's settings: name -> list of values, in order."""
    unit = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            unit.setdefault(k, []).append(v)
    return unit


def read_envfile(path, envs, program):
    """INVQ_* settings of an environment file (commented ones checked too)."""
    envfile = {}
    name = os.path.basename(path)
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        m = re.match(r"#?\s*(INVQ_[A-Z0-9_]+)=(.*)", line)
        if m:
            check(m.group(1) in envs, f"{name}: {m.group(1)} is not an {program} flag")
            if not line.startswith("#"):
                envfile[m.group(1)] = m.group(2)
    return envfile


def check_systemd(d, envs, worker):
    unit = read_unit(os.path.join(d, "invq-worker.service"))
    envfile = read_envfile(os.path.join(d, "worker.env.example"), envs, "invq-worker")
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


def audit_help(invqctl):
    """The flags and INVQ_* variables `invqctl audit --help` lists."""
    out = subprocess.run([invqctl, "audit", "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, f"invqctl audit --help exited {out.returncode}")
    text = out.stdout + out.stderr
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", text)), set(re.findall(r"\b(INVQ_[A-Z0-9_]+)", text))


def audit_args(words, where, flags):
    """The options of an `invqctl audit ...` command line (words after
    `audit`, up to a shell ';'), each checked against the known flags."""
    opts = {}
    i = 0
    while i < len(words) and words[i] not in (";", "&&", "||"):
        w = words[i].rstrip(";")
        if w.startswith("--"):
            check(flags is None or w in flags, f"{where}: invqctl audit has no flag {w}")
            val = words[i + 1].rstrip(";") if i + 1 < len(words) and not words[i + 1].startswith("--") else None
            opts[w] = val
            i += 2 if val is not None else 1
            if words[i - 1].endswith(";"):
                break
        else:
            i += 1
    return opts


def check_hourly(schedule, where):
    f = str(schedule).split()
    check(len(f) == 5 and f[0].isdigit() and int(f[0]) < 60 and f[1:] == ["*"] * 4,
          f"{where}: schedule {schedule!r} is not once an hour")


def lint_families(invqctl, text, where):
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run([invqctl, "families", "lint", f.name], capture_output=True, text=True, timeout=10)
        check(out.returncode == 0, f"{where}: the families file does not lint: {out.stdout.strip()}")
    finally:
        os.unlink(f.name)


def check_audit_systemd(d, users, flags, envs):
    unit = read_unit(os.path.join(d, "invq-audit.service"))
    check(unit.get("Type") == ["oneshot"], "invq-audit.service: Type is not oneshot")
    argv = shlex.split(unit.get("ExecStart", [""])[0])
    check(argv[:1] and argv[0].endswith("/invqctl") and argv[1:2] == ["audit"],
          "invq-audit.service: ExecStart is not invqctl audit")
    opts = audit_args(argv[2:], "invq-audit.service", flags)
    check("--families" in opts, "invq-audit.service: no --families")
    prom = opts.get("--prom")
    if check(prom, "invq-audit.service: no --prom (the timer's results would be lost)"):
        rw = [p.lstrip("-") for v in unit.get("ReadWritePaths", []) for p in v.split()]
        check(os.path.dirname(prom) in rw, f"invq-audit.service: --prom {prom} is not under ReadWritePaths {rw}")
    check("3" in " ".join(unit.get("SuccessExitStatus", [])).split(),
          "invq-audit.service: exit 3 (stale keys found) would fail the unit")
    check(unit.get("EnvironmentFile") == ["-/etc/invq/audit.env"],
          "invq-audit.service: EnvironmentFile is not -/etc/invq/audit.env")
    for key, want in (("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("NoNewPrivileges", "yes"),
                      ("PrivateTmp", "yes")):
        check(unit.get(key) == [want], f"invq-audit.service: {key} is not {want}")
    timer = read_unit(os.path.join(d, "invq-audit.timer"))
    check(timer.get("OnCalendar") == ["hourly"], f"invq-audit.timer: OnCalendar is {timer.get('OnCalendar')}")
    check(timer.get("Persistent") in (["yes"], ["true"]), "invq-audit.timer: not Persistent=yes")
    check(timer.get("Unit", ["invq-audit.service"]) == ["invq-audit.service"],
          "invq-audit.timer: does not start invq-audit.service")
    env = read_envfile(os.path.join(d, "audit.env.example"), envs, "invqctl audit")
    check_url(users, env.get("INVQ_CACHE_URL", ""), "audit.env.example INVQ_CACHE_URL", "invq-audit")


def check_audit_k8s(d, users, flags, envs, invqctl):
    docs = {}
    for doc in load_all(os.path.join(d, "k8s", "audit-cronjob.yaml")):
        docs.setdefault(doc.get("kind"), []).append(doc)
    cj = docs.get("CronJob", [{}])[0]
    spec = cj.get("spec", {})
    check_hourly(spec.get("schedule"), "k8s CronJob")
    check(spec.get("concurrencyPolicy") == "Forbid", "k8s CronJob: concurrencyPolicy is not Forbid")
    job = spec.get("jobTemplate", {}).get("spec", {})
    check(job.get("backoffLimit") == 0, "k8s CronJob: backoffLimit is not 0 (a failed audit would be retried at once)")
    pod = job.get("template", {}).get("spec", {})
    check(pod.get("restartPolicy") == "Never", "k8s CronJob: restartPolicy is not Never")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "k8s CronJob: pod may run as root")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    for c in containers:
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False and
              sc.get("capabilities", {}).get("drop") == ["ALL"], f"k8s CronJob: container {c.get('name')} is not locked down")

    def script(c):
        return " ".join(str(x) for x in (c.get("command") or []) + (c.get("args") or []))

    def mounts(c):
        return {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}

    audit = [c for c in containers if "invqctl audit" in script(c)]
    if not check(audit, "k8s CronJob: no container runs invqctl audit"):
        return
    a = audit[0]
    words = shlex.split(script(a).replace(";", " ; "))
    opts = audit_args(words[words.index("audit") + 1:], "k8s CronJob", flags)
    fam = opts.get("--families")
    if check(fam, "k8s CronJob: no --families"):
        vol = volumes.get(mounts(a).get(os.path.dirname(fam)), {})
        cm = vol.get("configMap", {}).get("name")
        maps = {m["metadata"]["name"]: m for m in docs.get("ConfigMap", [])}
        data = maps.get(cm, {}).get("data", {})
        if check(os.path.basename(fam) in data, f"k8s CronJob: --families {fam} comes from no ConfigMap key"):
            if invqctl:
                lint_families(invqctl, data[os.path.basename(fam)], f"k8s ConfigMap {cm}")
    prom = opts.get("--prom")
    if check(prom, "k8s CronJob: no --prom"):
        vname = mounts(a).get(os.path.dirname(prom))
        check(vname and "emptyDir" in volumes.get(vname, {}), f"k8s CronJob: --prom {prom} is not in an emptyDir volume")
        pushers = [c for c in containers if c is not a and f"@{prom}" in script(c) and "/metrics/job/" in script(c)]
        check(pushers and mounts(pushers[0]).get(os.path.dirname(prom)) == vname,
              f"k8s CronJob: no container pushes {prom} to a Pushgateway")
    secrets = {x["metadata"]["name"]: x for x in docs.get("Secret", [])}
    for e in a.get("env", []):
        if e["name"].startswith("INVQ_"):
            check(e["name"] in envs, f"k8s CronJob: sets {e['name']}, which invqctl audit --help does not list")
    url = [e for e in a.get("env", []) if e["name"] == "INVQ_CACHE_URL"]
    ref = url[0].get("valueFrom", {}).get("secretKeyRef", {}) if url else {}
    value = secrets.get(ref.get("name"), {}).get("stringData", {}).get(ref.get("key"))
    if check(value, "k8s CronJob: INVQ_CACHE_URL does not come from a Secret key"):
        check_url(users, value, "k8s Secret invq-audit cache-url", "invq-audit")


MUTATIONS = [
    ("k8s/keda-scaledobject.yaml", 'listName: "invq:{default}:pending"', "listName: invq:default:pending"),
    ("k8s/deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 10"),
    ("k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    ("k8s/deployment.yaml", "path: /readyz", "path: /metrics"),
    ("k8s/deployment.yaml", 'drop: ["ALL"]', 'drop: ["NET_RAW"]'),
    ("k8s/deployment.yaml", "key: queue-url", "key: queue-address"),
    ("k8s/deployment.yaml", "memory: 1Gi", "memory: 256Mi"),
    ("k8s/deployment.yaml", 'value: "64"', 'value: "512"'),
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
    ("k8s/audit-cronjob.yaml", 'schedule: "17 * * * *"', 'schedule: "17 */6 * * *"'),
    ("k8s/audit-cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow"),
    ("k8s/audit-cronjob.yaml", "--prom /results/invq-audit.prom;", "--prom /tmp/invq-audit.prom;"),
    ("k8s/audit-cronjob.yaml", "audit-demo-password@redis", "wrong-password@redis"),
    ("k8s/audit-cronjob.yaml", "mountPath: /etc/invq\n", "mountPath: /etc/families\n"),
    ("k8s/kustomization.yaml", "  - audit-cronjob.yaml\n", ""),
    ("invq-audit.timer", "OnCalendar=hourly", "OnCalendar=daily"),
    ("invq-audit.service", "SuccessExitStatus=3", "SuccessExitStatus=0"),
    ("invq-audit.service", "ReadWritePaths=-/var/lib/prometheus/node-exporter", "ReadWritePaths=-/var/lib/invq"),
    ("audit.env.example", "audit-demo-password@", "demo-password@"),
]
INVQCTL_MUTATIONS = [
    ("invq-audit.service", " --prom /var", " --prometheus /var"),
    ("k8s/audit-cronjob.yaml", "    ttl = 30s\n", "    ttl = 30 seconds\n"),
    ("audit.env.example", "INVQ_CACHE_URL=", "INVQ_CACHE_ADDR="),
]
WORKER_MUTATIONS = [
    ("k8s/deployment.yaml", "name: INVQ_BATCH\n", "name: INVQ_BATCH_SIZE\n"),
    ("worker.env.example", "INVQ_CONSUMERS=", "INVQ_CONSUMER_COUNT="),
]


def self_test(d, worker, invqctl):
    extra = (["--worker", worker] if worker else []) + (["--invqctl", invqctl] if invqctl else [])
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
        muts = MUTATIONS + (WORKER_MUTATIONS if worker else []) + (INVQCTL_MUTATIONS if invqctl else [])
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
        return self_test(d, a.worker, a.invqctl)

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
    aflags, aenvs = audit_help(a.invqctl) if a.invqctl else (None, Anything())
    check_audit_systemd(d, users, aflags, aenvs)
    check_audit_k8s(d, users, aflags, aenvs, a.invqctl)
    return report()


class Anything:
    """Contains everything: stands in for a flag list no binary gave."""

    def __contains__(self, _):
        return True


def report():
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("check_manifests: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
