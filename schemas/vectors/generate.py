#!/usr/bin/python3
"""Generates the golden vectors of wire format v1: NAME.msgpack files and
manifest.json (see ../README.md). Run: /usr/bin/python3 schemas/vectors/generate.py"""

import base64
import json
import os
import struct
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_PAYLOAD = 1024 * 1024
MAX_KEYS = 10000
MAX_KEY_LEN = 1024
TS = 1700000000000

VECTORS = []


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def to_json(obj):
    """msgpack -> JSON mapping of job-v1.schema.json (bin -> {"$bin": base64})."""
    if isinstance(obj, bytes):
        return {"$bin": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


OP_FIELDS = {"del": ("op", "keys"), "bump": ("op", "keys"), "expire": ("op", "keys", "ttl_ms", "jitter_pct")}
JOB_FIELDS = ("v", "id", "ts", "src", "fam", "after_ms", "redo_ms", "ops",
              "attempt", "first_failed_ms", "redo", "errs")


def decoded(job):
    """What a v1 decoder yields: known fields only (ttl_ms/jitter_pct only on expire)."""
    out = {k: job[k] for k in JOB_FIELDS if k in job and k != "ops"}
    out["ops"] = [{k: op[k] for k in OP_FIELDS[op["op"]] if k in op} for op in job["ops"]]
    return to_json(out)


def valid(name, job, raw=None, canonical=False, note=""):
    data = raw if raw is not None else pack(job)
    VECTORS.append({"name": name, "data": data, "valid": True, "job": decoded(job),
                    "canonical": canonical, "note": note})


def invalid(name, data, code, field, note=""):
    if not isinstance(data, bytes):
        data = pack(data)
    VECTORS.append({"name": name, "data": data, "valid": False,
                    "error": {"code": code, "field": field}, "note": note})


def job(*ops, **extra):
    """A job in the C encoder's field order (v, id, ts, src, fam, after_ms,
    redo_ms, ops, attempt, first_failed_ms, redo, errs)."""
    j = {"v": 1, "id": extra.pop("id", "job-1"), "ts": extra.pop("ts", TS)}
    for k in ("src", "fam", "after_ms", "redo_ms"):
        if k in extra:
            j[k] = extra.pop(k)
    j["ops"] = list(ops) if ops else [{"op": "del", "keys": ["user:1"]}]
    for k in ("attempt", "first_failed_ms", "redo", "errs"):
        if k in extra:
            j[k] = extra.pop(k)
    j.update(extra)
    return j


def with_field(base, key, value, after=None):
    """Copy of base with key set to value (appended at the end)."""
    out = dict(base)
    out[key] = value
    return out


def without(base, key):
    return {k: v for k, v in base.items() if k != key}


def pad_to(base, size):
    """base plus an unknown field "pad" (bin) so the encoding is exactly size bytes."""
    n = size - len(pack(with_field(base, "pad", b"")))
    for _ in range(8):
        data = pack(with_field(base, "pad", b"\x00" * n))
        if len(data) == size:
            return with_field(base, "pad", b"\x00" * n), data
        n += size - len(data)
    raise SystemExit("cannot pad to %d" % size)


def nested(depth):
    """An unknown value nested `depth` containers deep (arrays)."""
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def build():
    d1 = job()
    # ---- valid -----------------------------------------------------------
    valid("del_minimal", d1, canonical=True, note="the example of job-v1.md")
    valid("bump_one_key", job({"op": "bump", "keys": ["ver:user:1"]}), canonical=True)
    valid("expire_ttl", job({"op": "expire", "keys": ["sess:1", "sess:2"], "ttl_ms": 60000}), canonical=True)
    valid("expire_jitter", job({"op": "expire", "keys": ["sess:1"], "ttl_ms": 5000, "jitter_pct": 20}),
          canonical=True)
    valid("expire_jitter_bounds", job({"op": "expire", "keys": ["a"], "ttl_ms": 1, "jitter_pct": 0},
                                      {"op": "expire", "keys": ["b"], "ttl_ms": 1, "jitter_pct": 100}),
          canonical=True)
    valid("all_optional_fields",
          job({"op": "del", "keys": ["user:1", "user:1:profile"]},
              {"op": "bump", "keys": ["ver:user"]},
              {"op": "expire", "keys": ["feed:1"], "ttl_ms": 30000, "jitter_pct": 10},
              id="0190a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", src="orders-api", fam="user",
              after_ms=250, redo_ms=500),
          canonical=True)
    valid("utf8_keys", job({"op": "del", "keys": ["ユーザー:1", "café:ß", "emoji:\U0001F600"]}), canonical=True)
    valid("bin_keys", job({"op": "del", "keys": [b"\x00\xff\x00", b"\xff", b"k\x00ey"]}), canonical=True,
          note="bin keys with 0x00 and 0xff bytes")
    valid("mixed_str_bin_keys", job({"op": "del", "keys": ["user:1", b"user:1"]}), canonical=True,
          note="str and bin with the same bytes are the same Redis key")
    valid("key_1024_bytes", job({"op": "del", "keys": ["k" * MAX_KEY_LEN]}), canonical=True)
    valid("bin_key_1024_bytes", job({"op": "del", "keys": [b"\xff" * MAX_KEY_LEN]}), canonical=True)
    valid("keys_10000", job({"op": "del", "keys": ["d:%d" % i for i in range(6000)]},
                            {"op": "bump", "keys": ["b:%d" % i for i in range(MAX_KEYS - 6000)]}),
          canonical=True, note="exactly the key limit, counted across ops")
    padded, data = pad_to(d1, MAX_PAYLOAD)
    valid("payload_1mib", padded, raw=data, note="exactly 1 MiB, padded with an unknown field")
    valid("id_128_bytes", job(id="i" * 128), canonical=True)
    valid("src_fam_256_bytes", job(src="s" * 256, fam="f" * 256), canonical=True)
    valid("empty_src_fam", job(src="", fam=""), canonical=True)
    valid("unknown_fields_ignored",
          dict(job({"op": "expire", "keys": ["k"], "ttl_ms": 10, "note": "op-level extra", "prio": 3}),
               trace={"span": "abc", "sampled": True}, x_float=1.5, x_nil=None, x_neg=-7, x_bin=b"\x01"),
          note="unknown top-level and op fields of any type are ignored")
    valid("ttl_on_del_ignored", job({"op": "del", "keys": ["k"], "ttl_ms": 5, "jitter_pct": 50}),
          note="ttl_ms/jitter_pct are checked but only used by expire")
    valid("field_order_free", {"ops": [{"keys": ["k"], "op": "del"}], "ts": TS, "id": "job-1", "v": 1})
    valid("worker_fields", job(attempt=3, first_failed_ms=TS + 10, redo=True,
                               errs=["timeout: cache", "LOADING: cache", "timeout: cache"]),
          canonical=True, note="a retried copy as the worker writes it")
    valid("zero_delays", job(after_ms=0, redo_ms=0), canonical=True)
    valid("big_uints", job(ts=2 ** 63 - 1, after_ms=2 ** 32, redo_ms=2 ** 31), canonical=True)
    # Non-minimal but legal integer formats: v as int8 0xd0 01, ts as uint64.
    raw = (b"\x84" + b"\xa1v" + b"\xd0\x01" + b"\xa2id" + b"\xa5job-1" +
           b"\xa2ts" + b"\xcf" + struct.pack(">Q", 7) + b"\xa3ops" + b"\x91" + pack({"op": "del", "keys": ["k"]}))
    valid("integer_formats", job({"op": "del", "keys": ["k"]}, ts=7), raw=raw,
          note="any msgpack integer format with a value >= 0 is a uint")
    valid("nesting_16", dict(d1, deep=nested(15)), note="nesting exactly at the limit (map + 15 arrays)")
    valid("many_ops", job(*[{"op": "del", "keys": ["k%d" % i]} for i in range(100)]), canonical=True)

    # ---- invalid ---------------------------------------------------------
    ts_last = {"v": 1, "id": "job-1", "ops": [{"op": "del", "keys": ["user:1"]}], "ts": TS}
    invalid("empty_input", b"", "truncated", "")
    invalid("truncated_uint", pack(ts_last)[:-4], "truncated", "", "input ends inside ts")
    invalid("truncated_map", b"\x84\xa1v\x01\xa2id\xa1x\xa2ts", "truncated", "")
    invalid("trailing_bytes", pack(d1) + b"\x00", "trailing_bytes", "")
    invalid("two_jobs", pack(d1) + pack(d1), "trailing_bytes", "")
    invalid("not_map_array", [1, 2, 3], "not_map", "")
    invalid("not_map_str", "job", "not_map", "")
    invalid("not_map_nil", b"\xc0", "not_map", "")
    invalid("missing_v", without(d1, "v"), "missing_field", "v")
    invalid("missing_id", without(d1, "id"), "missing_field", "id")
    invalid("missing_ops", without(d1, "ops"), "missing_field", "ops")
    invalid("missing_ts", without(d1, "ts"), "missing_field", "ts")
    invalid("missing_op", job({"keys": ["k"]}), "missing_field", "ops[0].op")
    invalid("missing_keys", job({"op": "del"}), "missing_field", "ops[0].keys")
    invalid("missing_ttl", job({"op": "expire", "keys": ["k"]}), "missing_field", "ops[0].ttl_ms")
    invalid("wrong_type_v", dict(d1, v="1"), "wrong_type", "v")
    invalid("wrong_type_v_negative", dict(d1, v=-1), "wrong_type", "v")
    invalid("wrong_type_id", dict(d1, id=42), "wrong_type", "id")
    invalid("wrong_type_id_bin", dict(d1, id=b"job-1"), "wrong_type", "id")
    invalid("wrong_type_ops", dict(d1, ops={"op": "del", "keys": ["k"]}), "wrong_type", "ops")
    invalid("wrong_type_ts", dict(d1, ts="2024-01-01"), "wrong_type", "ts")
    invalid("wrong_type_src", job(src=7), "wrong_type", "src")
    invalid("wrong_type_fam", job(fam=True), "wrong_type", "fam")
    invalid("wrong_type_after_ms", job(after_ms=-5), "wrong_type", "after_ms")
    invalid("wrong_type_redo_ms", job(redo_ms=1.5), "wrong_type", "redo_ms")
    invalid("wrong_type_attempt", job(attempt="2"), "wrong_type", "attempt")
    invalid("wrong_type_first_failed_ms", job(first_failed_ms=None), "wrong_type", "first_failed_ms")
    invalid("wrong_type_redo", job(redo=1), "wrong_type", "redo")
    invalid("wrong_type_errs", job(errs="timeout"), "wrong_type", "errs")
    invalid("wrong_type_errs_item", job(errs=["ok", 5]), "wrong_type", "errs[1]")
    invalid("wrong_type_op_entry", job(["del", ["k"]]), "wrong_type", "ops[0]")
    invalid("wrong_type_op", job({"op": 1, "keys": ["k"]}), "wrong_type", "ops[0].op")
    invalid("wrong_type_keys", job({"op": "del", "keys": "user:1"}), "wrong_type", "ops[0].keys")
    invalid("wrong_type_key", job({"op": "del", "keys": ["a", 5]}), "wrong_type", "ops[0].keys[1]")
    invalid("wrong_type_ttl_ms", job({"op": "expire", "keys": ["k"], "ttl_ms": "60"}), "wrong_type",
            "ops[0].ttl_ms")
    invalid("wrong_type_jitter_pct", job({"op": "expire", "keys": ["k"], "ttl_ms": 1, "jitter_pct": -1}),
            "wrong_type", "ops[0].jitter_pct")
    invalid("non_str_map_key", b"\x85" + pack(d1)[1:] + b"\x01\x02", "wrong_type", "",
            "map keys must be str")
    invalid("unknown_op", job({"op": "del", "keys": ["a"]}, {"op": "flush", "keys": ["k"]}), "unknown_op", "ops[1].op")
    invalid("empty_ops", dict(d1, ops=[]), "empty", "ops")
    invalid("empty_keys", job({"op": "del", "keys": []}), "empty", "ops[0].keys")
    invalid("empty_key", job({"op": "del", "keys": ["a", ""]}), "empty", "ops[0].keys[1]")
    invalid("empty_bin_key", job({"op": "del", "keys": [b""]}), "empty", "ops[0].keys[0]")
    invalid("empty_id", dict(d1, id=""), "empty", "id")
    invalid("key_1025_bytes", job({"op": "del", "keys": ["ok", "k" * (MAX_KEY_LEN + 1)]}), "key_too_long",
            "ops[0].keys[1]")
    invalid("key_1025_bytes_utf8", job({"op": "del", "keys": ["é" * 512 + "x"]}), "key_too_long",
            "ops[0].keys[0]", "513 characters but 1025 bytes")
    invalid("keys_10001", job({"op": "del", "keys": ["d:%d" % i for i in range(6000)]},
                              {"op": "bump", "keys": ["b:%d" % i for i in range(MAX_KEYS + 1 - 6000)]}),
            "too_many_keys", "ops[1].keys")
    _, data = pad_to(d1, MAX_PAYLOAD + 1)
    invalid("payload_over_1mib", data, "too_large", "")
    invalid("too_deep", dict(d1, deep=nested(16)), "too_deep", "", "map + 16 arrays = 17 levels")
    invalid("bad_length_dd", b"\xdd" * 14, "bad_length", "", "array32 declaring 0xdddddddd elements")
    invalid("bad_length_str32", b"\x81\xa1x\xdb\xff\xff\xff\xf0abc", "bad_length", "")
    invalid("bad_length_map16", b"\xde\xff\xff\xa1v\x01", "bad_length", "")
    invalid("version_2", dict(d1, v=2), "unsupported_version", "v")
    invalid("version_2_new_op", job({"op": "purge_tag", "tag": "t"}, v=2), "unsupported_version", "v",
            "the version is checked before anything else in the job")
    invalid("version_0", dict(d1, v=0), "unsupported_version", "v")
    invalid("duplicate_field", b"\x85" + pack(d1)[1:] + b"\xa2id\xa5job-2", "duplicate_field", "id")
    invalid("duplicate_unknown_field", b"\x86" + pack(d1)[1:] + b"\xa1x\x01\xa1x\x02", "duplicate_field", "x")
    invalid("duplicate_op_field", b"\x84\xa1v\x01\xa2id\xa1j\xa2ts\x01\xa3ops\x91\x83\xa2op\xa3del"
            b"\xa4keys\x91\xa1k\xa4keys\x91\xa1q", "duplicate_field", "ops[0].keys")
    invalid("reserved_c1", b"\x81\xa1x\xc1", "malformed", "")
    invalid("ttl_ms_zero", job({"op": "expire", "keys": ["k"], "ttl_ms": 0}), "bad_value", "ops[0].ttl_ms")
    invalid("jitter_pct_101", job({"op": "expire", "keys": ["k"], "ttl_ms": 1, "jitter_pct": 101}), "bad_value",
            "ops[0].jitter_pct")
    invalid("id_129_bytes", dict(d1, id="i" * 129), "bad_value", "id")
    invalid("id_with_nul", dict(d1, id="a\x00b"), "bad_value", "id")
    invalid("src_257_bytes", job(src="s" * 257), "bad_value", "src")
    invalid("fam_257_bytes", job(fam="ф" * 128 + "x"), "bad_value", "fam", "129 characters but 257 bytes")
    invalid("errs_9", job(errs=["e"] * 9), "bad_value", "errs")


DEAD = []


def dead(name, rec):
    """A dead-letter record in the C encoder's field order."""
    DEAD.append({"name": name, "data": pack(rec), "record": to_json(rec)})


def build_dead():
    original = pack(job())
    dead("dead_decodable", {"job": original, "reason": "wrong_type: ops[0] WRONGTYPE Operation against a key",
                            "attempts": 1, "first_failed_ms": TS + 5, "last_failed_ms": TS + 5,
                            "consumer": "cache-worker-1:4242:1", "id": "job-1",
                            "errs": ["wrong_type: ops[0] WRONGTYPE Operation against a key"]})
    dead("dead_undecodable", {"job": b"\x81\xa1x\xc1", "reason": "malformed: not msgpack",
                              "attempts": 1, "first_failed_ms": TS, "last_failed_ms": TS,
                              "consumer": "cache-worker-2:77:1", "errs": ["malformed: not msgpack"]})
    dead("dead_retried_out", {"job": original, "reason": "timeout: cache did not answer in 1000 ms",
                              "attempts": 3, "first_failed_ms": TS, "last_failed_ms": TS + 9000,
                              "consumer": "cache-worker-1:4242:1", "id": "job-1",
                              "errs": ["timeout: cache", "LOADING: cache", "timeout: cache did not answer in 1000 ms"]})
    big = "too_large: (payload): payload is 52428800 bytes, limit 1048576"
    dead("dead_oversized", {"job": b"", "reason": big, "attempts": 1, "first_failed_ms": TS,
                            "last_failed_ms": TS, "consumer": "cache-worker-1-4242-9f0c11aa-0", "errs": [big],
                            "job_size": 52428800,
                            "job_key": "invq:{default}:oversized:cache-worker-1-4242-9f0c11aa-0:1700000000000:1"})


def reserved_keys():
    """Cases of the reserved-key rule (job-v1.md 3.1): a key is reserved when
    it starts with "<ns>:", byte for byte."""
    cases = [
        ("invq", "invq:{default}:pending", True),
        ("invq", "invq:{default}:dead", True),
        ("invq", "invq:{other}:stats", True),
        ("invq", "invq:{default}:processing:host-1-2-3-0", True),
        ("invq", "invq:anything", True),
        ("invq", "invq:", True),
        ("invq", b"invq:\xff\x00", True),
        ("invq", "invq", False),
        ("invq", "invqx:{default}:pending", False),
        ("invq", "INVQ:{default}:pending", False),
        ("invq", "user:invq:{default}:pending", False),
        ("invq", " invq:{default}:pending", False),
        ("invq", "invq;{default}:pending", False),
        ("app1", "app1:{jobs}:dead", True),
        ("app1", "invq:{default}:pending", False),
        ("a:b", "a:b:c", True),
        ("a:b", "a:bc", False),
    ]
    return [{"ns": ns, "key": to_json(key), "reserved": want} for ns, key, want in cases]


def main():
    build()
    build_dead()
    names = set()
    manifest = []
    for vec in VECTORS:
        assert vec["name"] not in names, vec["name"]
        names.add(vec["name"])
        fname = vec["name"] + ".msgpack"
        with open(os.path.join(HERE, fname), "wb") as f:
            f.write(vec["data"])
        entry = {"name": vec["name"], "file": fname, "valid": vec["valid"]}
        if vec["valid"]:
            entry["job"] = vec["job"]
            entry["canonical"] = vec["canonical"]
        else:
            entry["error"] = vec["error"]
        if vec["note"]:
            entry["note"] = vec["note"]
        manifest.append(entry)
    dead_manifest = []
    for rec in DEAD:
        assert rec["name"] not in names, rec["name"]
        names.add(rec["name"])
        fname = rec["name"] + ".msgpack"
        with open(os.path.join(HERE, fname), "wb") as f:
            f.write(rec["data"])
        dead_manifest.append({"name": rec["name"], "file": fname, "record": rec["record"]})
    for fname in os.listdir(HERE):
        if fname.endswith(".msgpack") and fname[:-len(".msgpack")] not in names:
            os.remove(os.path.join(HERE, fname))
    doc = {
        "format": "invq job v1 golden vectors",
        "limits": {"max_payload": MAX_PAYLOAD, "max_keys": MAX_KEYS, "max_key_len": MAX_KEY_LEN},
        "vectors": manifest,
        "dead_records": dead_manifest,
        "reserved_keys": reserved_keys(),
    }
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    nvalid = sum(1 for v in manifest if v["valid"])
    print("%d vectors (%d valid, %d invalid)" % (len(manifest), nvalid, len(manifest) - nvalid), file=sys.stderr)


if __name__ == "__main__":
    main()
