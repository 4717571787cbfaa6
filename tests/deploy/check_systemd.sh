#!/bin/sh
# Verifies deploy/invq-worker.service with `systemd-analyze verify`, any
# warning counting as a failure. The unit's ExecStart names the installed
# path (/usr/local/bin/invq-worker); the check runs on a temporary copy whose
# ExecStart points at the built binary instead, the only line changed.
# usage: check_systemd.sh UNIT BUILT_INVQ_WORKER
set -u
unit=$1
worker=$(realpath "$2") || exit 1
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed: skipped"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
grep -q '^ExecStart=/usr/local/bin/invq-worker$' "$unit" || { echo "FAIL: ExecStart is not /usr/local/bin/invq-worker"; exit 1; }
sed "s|^ExecStart=/usr/local/bin/invq-worker|ExecStart=$worker|" "$unit" > "$tmp/invq-worker.service"
systemd-analyze verify "$tmp/invq-worker.service" > "$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
if [ $rc -ne 0 ] || [ -s "$tmp/out" ]; then
    echo "FAIL: systemd-analyze verify reported problems (exit $rc)"
    exit 1
fi
echo "systemd-analyze verify: clean"
