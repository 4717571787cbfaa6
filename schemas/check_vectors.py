#!/usr/bin/python3
"""Checks the golden vectors against the JSON Schema, independently of the C
codec: every valid vector must decode (python3-msgpack), pass the rules that
JSON Schema cannot express, validate, and equal the manifest's expected job;
every invalid vector must be rejected by one of those steps.

Usage: /usr/bin/python3 schemas/check_vectors.py [VECTORS_DIR]"""

import base64
import json
import os
import sys

import jsonschema
import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_DEPTH = 16
MAX_ID = 128
MAX_NAME = 256


class Reject(Exception):
    """The vector breaks a rule of job-v1.md."""


def pairs_hook(pairs):
    """Map builder that enforces str keys and no duplicates (msgpack-python
    would silently keep the last duplicate)."""
    out = {}
    for k, v in pairs:
        if not isinstance(k, str):
            raise Reject("map key %r is not a str" % (k,))
        if k in out:
            raise Reject("duplicate map key %r" % k)
        out[k] = v
    return out


def depth(obj):
    if isinstance(obj, dict):
        return 1 + max((depth(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((depth(v) for v in obj), default=0)
    return 0


def nbytes(v):
    return len(v) if isinstance(v, bytes) else len(v.encode("utf-8"))


def to_json(obj):
    if isinstance(obj, bytes):
        return {"$bin": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_json(v) for v in obj]
    return obj


def spec_checks(data, limits):
    """The rules of job-v1.md that JSON Schema cannot express."""
    if len(data) > limits["max_payload"]:
        raise Reject("payload is %d bytes, limit %d" % (len(data), limits["max_payload"]))
    try:
        # unpackb raises ExtraData on trailing bytes and ValueError on lengths
        # beyond the buffer, truncation and the reserved byte 0xc1.
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False, object_pairs_hook=pairs_hook,
                              use_list=True)
    except Reject:
        raise
    except Exception as e:  # noqa: BLE001 - every msgpack failure is a rejection
        raise Reject("msgpack: %s: %s" % (type(e).__name__, e)) from e
    if depth(obj) > MAX_DEPTH:
        raise Reject("nesting deeper than %d" % MAX_DEPTH)
    if not isinstance(obj, dict):
        return obj
    # Byte lengths (the schema's maxLength counts characters).
    for field, limit in (("id", MAX_ID), ("src", MAX_NAME), ("fam", MAX_NAME)):
        if isinstance(obj.get(field), str) and nbytes(obj[field]) > limit:
            raise Reject("%s is %d bytes, limit %d" % (field, nbytes(obj[field]), limit))
    total = 0
    if isinstance(obj.get("ops"), list):
        for op in obj["ops"]:
            keys = op.get("keys") if isinstance(op, dict) else None
            if not isinstance(keys, list):
                continue
            total += len(keys)
            for k in keys:
                if isinstance(k, (str, bytes)) and nbytes(k) > limits["max_key_len"]:
                    raise Reject("key is %d bytes, limit %d" % (nbytes(k), limits["max_key_len"]))
    if total > limits["max_keys"]:
        raise Reject("%d keys, limit %d" % (total, limits["max_keys"]))
    return obj


OP_FIELDS = {"del": ("op", "keys"), "bump": ("op", "keys"), "expire": ("op", "keys", "ttl_ms", "jitter_pct")}
JOB_FIELDS = ("v", "id", "ts", "src", "fam", "after_ms", "redo_ms", "ops", "attempt", "first_failed_ms",
              "redo", "errs")


def decoded_view(doc):
    """What a v1 decoder keeps: known fields only."""
    out = {k: doc[k] for k in JOB_FIELDS if k in doc and k != "ops"}
    out["ops"] = [{k: op[k] for k in OP_FIELDS[op["op"]] if k in op} for op in doc["ops"]]
    return out


def main():
    vdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "vectors")
    with open(os.path.join(HERE, "job-v1.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    dead_schema = dict(schema["$defs"]["dead_record"], **{"$defs": schema["$defs"]})
    dead_validator = jsonschema.Draft202012Validator(dead_schema)
    with open(os.path.join(vdir, "manifest.json")) as f:
        manifest = json.load(f)
    limits = manifest["limits"]
    failures = []
    nvalid = ninvalid = 0

    for vec in manifest["vectors"]:
        name = vec["name"]
        with open(os.path.join(vdir, vec["file"]), "rb") as f:
            data = f.read()
        try:
            obj = spec_checks(data, limits)
            doc = to_json(obj)
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
            if errors:
                raise Reject("schema: %s at %s" % (errors[0].message[:120], list(errors[0].path)))
        except Reject as e:
            if vec["valid"]:
                failures.append("%s: valid vector rejected: %s" % (name, e))
            else:
                ninvalid += 1
            continue
        if not vec["valid"]:
            failures.append("%s: invalid vector (%s) accepted" % (name, vec["error"]["code"]))
            continue
        if decoded_view(doc) != vec["job"]:
            failures.append("%s: decoded job differs from the manifest" % name)
            continue
        nvalid += 1

    for rec in manifest.get("dead_records", []):
        with open(os.path.join(vdir, rec["file"]), "rb") as f:
            data = f.read()
        try:
            doc = to_json(msgpack.unpackb(data, raw=False, object_pairs_hook=pairs_hook))
        except Exception as e:  # noqa: BLE001
            failures.append("%s: dead record does not decode: %s" % (rec["name"], e))
            continue
        for err in dead_validator.iter_errors(doc):
            failures.append("%s: dead record: %s" % (rec["name"], err.message[:120]))
        if doc != rec["record"]:
            failures.append("%s: dead record differs from the manifest" % rec["name"])

    for case in manifest.get("reserved_keys", []):
        key = case["key"]
        key = base64.b64decode(key["$bin"]) if isinstance(key, dict) else key.encode()
        if key.startswith(case["ns"].encode() + b":") != case["reserved"]:
            failures.append("reserved key %r under namespace %r: expected reserved=%s"
                            % (key, case["ns"], case["reserved"]))

    for line in failures:
        print("FAIL " + line)
    print("%d valid and %d invalid vectors checked, %d dead records, %d reserved-key cases, %d failures"
          % (nvalid, ninvalid, len(manifest.get("dead_records", [])), len(manifest.get("reserved_keys", [])),
             len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
