#!/bin/sh
# Installs the build into a temp DESTDIR, then builds producer/examples/
# enqueue_delete.c against the INSTALLED libinvq through pkg-config alone
# (shared and static), runs it against a real redis-server and checks the
# job landed. Also checks libinvq exports nothing but invq_*.
# usage: test_install.sh BUILD_DIR EXAMPLE_C WITH_REDIS SANITIZE
set -eu
build=$1 example=$2 with_redis=$3 sanitize=$4
tmp=$(mktemp -d /tmp/invq-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; exit 1; }

pc=$(find "$tmp/root" -name invq.pc | head -n1)
[ -n "$pc" ] || { echo "invq.pc not installed"; exit 1; }
hdr=$(find "$tmp/root" -path '*/include/invq/invq.h' | head -n1)
[ -n "$hdr" ] || { echo "invq/invq.h not installed"; exit 1; }
so=$(find "$tmp/root" -name 'libinvq.so.*' -type f | head -n1)
[ -n "$so" ] || { echo "libinvq.so not installed"; exit 1; }
find "$tmp/root" -name libinvq.a | grep -q . || { echo "libinvq.a not installed"; exit 1; }
[ "$(find "$tmp/root" -path '*/include/*' -name '*.h' | wc -l)" -eq 1 ] ||
    { echo "more than the one public header installed"; exit 1; }

# Only the public API is exported.
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^invq_' || true)
[ -z "$bad" ] || { echo "libinvq exports internal symbols: $bad"; exit 1; }

export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
libdir=$(dirname "$so")
extra=""
case "$sanitize" in *address*|*undefined*) extra="-fsanitize=$sanitize" ;; esac

# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror $extra $(pkg-config --cflags invq) "$example" -o "$tmp/ex_shared" $(pkg-config --libs invq)
# The static archive, found through the same .pc (--static adds the deps).
static_libs=$(pkg-config --static --libs invq | sed 's/-linvq/-Wl,-Bstatic -linvq -Wl,-Bdynamic/')
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Werror $extra $(pkg-config --cflags invq) "$example" -o "$tmp/ex_static" $static_libs
if ldd "$tmp/ex_static" | grep -q libinvq; then echo "static example still needs libinvq.so"; exit 1; fi

cat >"$tmp/run.sh" <<'INNER'
set -eu
LD_LIBRARY_PATH="$1" "$2/ex_shared" "$INVQ_TEST_REDIS_URL" user:1 user:1:profile
"$2/ex_static" "$INVQ_TEST_REDIS_URL" user:2
n=$(redis-cli -s "$INVQ_TEST_REDIS_SOCKET" LLEN 'invq:{default}:pending')
[ "$n" = 2 ] || { echo "expected 2 jobs on the queue, found $n"; exit 1; }
INNER
"$with_redis" -- sh "$tmp/run.sh" "$libdir" "$tmp"
echo "install ok"
