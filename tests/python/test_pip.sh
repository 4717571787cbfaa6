#!/bin/sh
# `pip install --no-build-isolation ./producer/python`, as the README says,
# offline (--no-index) into a venv made by /usr/bin/python3 with
# --system-site-packages, from a copy of the files a fresh clone has (so the
# source tree stays clean). The venv is made --without-pip and Debian's pip
# (python3-pip, visible through --system-site-packages) installs into it:
# the same pip 23.0.1 that ensurepip would copy in, minus the copying. Then the installed package, not the build dir's,
# runs the unit test and sends a job to a real redis-server. Also checks that
# the native module exports nothing but its init function and needs no
# libinvq.so.
# usage: test_pip.sh SOURCE_ROOT WITH_REDIS
set -eu
root=$1 with_redis=$2
tmp=$(mktemp -d /tmp/invq-pip-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir -p "$tmp/src/producer" "$tmp/src/schemas" "$tmp/src/worker/lua"
cp "$root/meson.build" "$tmp/src/"
for d in producer/python producer/include producer/src core schemas/codec schemas/families schemas/lease; do
    mkdir -p "$tmp/src/$d"
    tar -C "$root/$d" --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ -cf - . |
        tar -C "$tmp/src/$d" -xf -
done
cp "$root/worker/lua/embed.py" "$tmp/src/worker/lua/"

/usr/bin/python3 -m venv --system-site-packages --without-pip "$tmp/venv"
if ! "$tmp/venv/bin/python" -m pip install --no-build-isolation --no-index --quiet "$tmp/src/producer/python" \
        >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log"
    exit 1
fi
echo "# pip install: ok"

cd "$tmp"
where=$("$tmp/venv/bin/python" -c 'import invq, os; print(os.path.dirname(invq.__file__))')
case "$where" in
    "$tmp/venv/lib/"*/site-packages/invq) ;;
    *) echo "invq imported from $where, not from the venv"; exit 1 ;;
esac
[ -f "$where/py.typed" ] || { echo "py.typed not installed"; exit 1; }
so=$(ls "$where"/_invq*.so)
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^PyInit__invq$' || true)
[ -z "$bad" ] || { echo "the native module exports more than PyInit__invq: $bad"; exit 1; }
if ldd "$so" | grep -q libinvq; then echo "the native module needs libinvq.so"; exit 1; fi
echo "# installed in $where; deps: $(ldd "$so" | awk '{print $1}' | grep -E 'hiredis|uv|msgpack|inih' | tr '\n' ' ')"

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$root/tests/python" "$tmp/venv/bin/python" "$root/tests/python/test_unit.py" \
    >"$tmp/unit.log" 2>&1 || { cat "$tmp/unit.log"; exit 1; }
echo "# the unit test passes against the installed package"

cat >"$tmp/send.py" <<'PY'
import os, invq
with invq.Producer(os.environ["INVQ_TEST_REDIS_URL"]) as p:
    assert p.delete(["user:1", b"user:\xff"]) == "sent"
r = invq.Reader(os.environ["INVQ_TEST_REDIS_URL"], ttl_ms=1000)
assert r.fetch("k", lambda: b"v") == b"v" and r.fetch("k", lambda: b"w") == b"v"
print("# installed package: sent a job, read through the cache")
PY
"$with_redis" -- "$tmp/venv/bin/python" "$tmp/send.py"
echo "pip install ok"
