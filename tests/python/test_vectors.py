"""The golden vectors (schemas/vectors/manifest.json) built twice, from the
same content — once in Python with invq.Job and invq.Producer, once in C
with libinvq's API (tests/python/pyvec) — sent to a real redis-server and
decoded by the one C codec: both sides accept or refuse the same vectors with
the same code, and every accepted job decodes the same from Python as from C
(id and ts aside, which each send makes fresh) and means what the manifest
says. Vectors carrying fields only a worker writes are left out."""
import base64
import json
import os
import subprocess
import tempfile

from pyt import check, client, note, url

import invq

PRODUCER_FIELDS = {"v", "id", "ts", "ops", "src", "fam", "after_ms", "redo_ms"}


def key_bytes(k):
    return base64.b64decode(k["$bin"]) if isinstance(k, dict) else k.encode("utf-8")


def python_key(k):
    return base64.b64decode(k["$bin"]) if isinstance(k, dict) else k   # str stays str


def specs(manifest):
    out = []
    for v in manifest["vectors"]:
        job = v.get("job")
        if not v["valid"] or not job or set(job) - PRODUCER_FIELDS:
            continue
        spec = {"name": v["name"], "ops": []}
        for op in job["ops"]:
            o = {"op": op["op"], "keys": [key_bytes(k).hex() for k in op["keys"]]}
            for f in ("ttl_ms", "jitter_pct"):
                if f in op and op["op"] == "expire":
                    o[f] = op[f]
            spec["ops"].append(o)
        for f in ("src", "fam", "after_ms", "redo_ms"):
            if f in job:
                spec[f] = job[f]
        out.append((v, spec))
    return out


def python_job(v):
    job = v["job"]
    j = invq.Job(family=job.get("fam"), source=job.get("src"), after_ms=job.get("after_ms"),
                 redo_ms=job.get("redo_ms"))
    for op in job["ops"]:
        keys = [python_key(k) for k in op["keys"]]
        if op["op"] == "del":
            j.delete(keys)
        elif op["op"] == "bump":
            j.bump(keys)
        else:
            j.expire(keys, op["ttl_ms"], jitter_pct=op.get("jitter_pct"))
    return j


def meaning(decoded):
    """A decoded job without what each send makes fresh."""
    return {k: v for k, v in decoded.items() if k not in ("id", "ts")}


def manifest_meaning(job):
    out = {k: job[k] for k in ("v", "src", "fam", "after_ms", "redo_ms") if k in job}
    out["ops"] = []
    for op in job["ops"]:
        o = {"op": op["op"], "keys": [key_bytes(k).hex() for k in op["keys"]]}
        if op["op"] == "expire":
            o["ttl_ms"] = op["ttl_ms"]
            if "jitter_pct" in op:
                o["jitter_pct"] = op["jitter_pct"]
        out["ops"].append(o)
    return out


def without_bin(d):
    d = dict(d)
    d["ops"] = [dict(op, keys=[k["hex"] for k in op["keys"]]) for op in d["ops"]]
    return d


def main():
    pyvec = os.environ["INVQ_TEST_PYVEC"]
    with open(os.path.join(os.environ["INVQ_VECTORS_DIR"], "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    pairs = specs(manifest)
    check(len(pairs) >= 20, "only %d buildable vectors" % len(pairs))
    client().flushall()

    py_status = {}
    with invq.Producer(url(), queue="py") as p:
        for v, _ in pairs:
            try:
                check(p.send(python_job(v)) == "sent", "sent")
                py_status[v["name"]] = 0
            except invq.Error as e:
                py_status[v["name"]] = e.code

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for _, spec in pairs:
            f.write(json.dumps(spec) + "\n")
    out = subprocess.run([pyvec, "build", url(), "c", f.name], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    c_status = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}
    check(c_status == py_status, "accepted/refused alike: C %r, Python %r" % (
        {k: v for k, v in c_status.items() if v != py_status.get(k)},
        {k: v for k, v in py_status.items() if v != c_status.get(k)}))
    refused = sorted(n for n, rc in py_status.items() if rc != 0)
    note("%d vectors built by both; refused by both with the same code: %s", len(pairs),
         ", ".join("%s (%s)" % (n, invq.code_name(py_status[n])) for n in refused) or "none")

    def decoded(queue):
        res = subprocess.run([pyvec, "decode", url(), queue], capture_output=True, text=True, check=True)
        return [json.loads(line) for line in res.stdout.splitlines()]

    py_jobs, c_jobs = decoded("py"), decoded("c")
    accepted = [(v, s) for v, s in pairs if py_status[v["name"]] == 0]
    check(len(py_jobs) == len(c_jobs) == len(accepted), "%d / %d / %d jobs" % (len(py_jobs), len(c_jobs),
                                                                              len(accepted)))
    for (v, _), pj, cj in zip(accepted, py_jobs, c_jobs):
        check("error" not in pj and "error" not in cj, "%s decodes: %r %r" % (v["name"], pj, cj))
        check(meaning(pj) == meaning(cj), "%s: Python %r != C %r" % (v["name"], meaning(pj), meaning(cj)))
        check(len(pj["id"]) == 26 and pj["ts"] > 0, "%s: a fresh ULID and ts" % v["name"])
        want = manifest_meaning(v["job"])
        check(without_bin(meaning(pj)) == want, "%s: decoded %r, manifest %r" % (v["name"], meaning(pj), want))
    note("%d jobs decode the same from Python as from C, and as the manifest says", len(accepted))
    print("python_vectors: ok")


if __name__ == "__main__":
    main()
