#!/bin/sh
# deploy/redis-acl/families-cache.acl is exactly what `invqctl families acl`
# prints for schemas/examples/families.ini (with the file's own password
# digest), so the documented example cannot drift from the generator.
# Usage: check_families_acl.sh INVQCTL EXAMPLE_INI ACLFILE
set -eu
invqctl=$1
example=$2
aclfile=$3
hash=$(sed -n 's/^user invq-worker #\([0-9a-f]\{64\}\) .*/\1/p' "$aclfile")
if [ -z "$hash" ]; then
    echo "FAIL: $aclfile: no 'user invq-worker #<sha256>' line" >&2
    exit 1
fi
got=$("$invqctl" families acl "$example" --user invq-worker --password-sha256 "$hash")
if [ "$got" != "$(cat "$aclfile")" ]; then
    echo "FAIL: $aclfile differs from what invqctl generates; regenerate it with" >&2
    echo "  invqctl families acl schemas/examples/families.ini --user invq-worker --password-sha256 $hash > deploy/redis-acl/families-cache.acl" >&2
    printf 'generated: %s\n' "$got" >&2
    exit 1
fi
echo "ok: $aclfile matches the generator"
