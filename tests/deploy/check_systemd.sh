#!/bin/sh
# Verifies systemd units with `systemd-analyze verify`, any warning counting
# as a failure. The service's ExecStart names the installed path
# (/usr/local/bin/PROGRAM, PROGRAM being the built binary's name); the check
# runs on temporary copies where ExecStart points at the built binary
# instead, the only line changed. Further units (a timer) are verified
# beside it, unchanged.
# usage: check_systemd.sh SERVICE BUILT_BINARY [UNIT...]
set -u
unit=$1
bin=$(realpath "$2") || exit 1
shift 2
name=$(basename "$bin")
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed: skipped"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
grep -Eq "^ExecStart=/usr/local/bin/$name( |\$)" "$unit" || { echo "FAIL: ExecStart is not /usr/local/bin/$name"; exit 1; }
sed -E "s|^ExecStart=/usr/local/bin/$name( \|\$)|ExecStart=$bin\\1|" "$unit" > "$tmp/$(basename "$unit")"
set -- "$tmp/$(basename "$unit")" "$@"
for extra in "$@"; do
    [ "$extra" = "$1" ] || cp "$extra" "$tmp/"
done
units=""
for u in "$tmp"/*; do units="$units $u"; done
# shellcheck disable=SC2086
systemd-analyze verify $units > "$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
if [ $rc -ne 0 ] || [ -s "$tmp/out" ]; then
    echo "FAIL: systemd-analyze verify reported problems (exit $rc)"
    exit 1
fi
echo "systemd-analyze verify: clean:$(for u in $units; do printf ' %s' "$(basename "$u")"; done)"
