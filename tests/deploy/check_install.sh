#!/bin/sh
# What the image's runtime stage receives: `meson install --destdir` of this
# build (the Dockerfile copies /out/usr/local). Checks that invq-worker and
# invqctl land in bin/ and run from there, then that every shared library
# they load comes from a package the runtime stage installs.
# The demo producer, which the Dockerfile copies from the build tree, is
# checked too when given.
# usage: check_install.sh BUILD_ROOT DOCKERFILE INSTALL_DEPS CHECK_RUNTIME_LIBS_PY [DEMO_PRODUCER]
set -u
build=$1; dockerfile=$2; deps=$3; libs_py=$4; demo=${5:-}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet > "$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log"; echo "FAIL: meson install --destdir failed"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
root=$tmp$prefix
[ "$prefix" = /usr/local ] || echo "note: prefix is $prefix; the Dockerfile copies /out/usr/local"
status=0
bins=""
for b in invq-worker invqctl; do
    if [ ! -x "$root/bin/$b" ]; then echo "FAIL: meson install puts no $b in $prefix/bin"; status=1; continue; fi
    LD_LIBRARY_PATH=$root/$libdir "$root/bin/$b" --version || { echo "FAIL: installed $b --version failed"; status=1; }
    bins="$bins $root/bin/$b"
done
[ -n "$bins" ] || exit 1
grep -q "build/worker/demo/demo_producer" "$dockerfile" && [ -z "$demo" ] \
    && echo "note: the Dockerfile copies the demo producer, but it is not built here"
if [ -n "$demo" ]; then
    cp "$demo" "$tmp/invq-demo-producer"
    bins="$bins $tmp/invq-demo-producer"
fi
# shellcheck disable=SC2086
LD_LIBRARY_PATH=$root/$libdir /usr/bin/python3 "$libs_py" "$dockerfile" "$deps" "$tmp" $bins || status=1
exit $status
