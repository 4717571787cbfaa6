#!/bin/sh
# The main job on its embedded default: installs what is missing, builds,
# starts a local redis-server of its own, fills cache keys, runs invq-worker
# and a demo producer, prints what happened, and stops everything.
set -eu
cd "$(dirname "$0")"
sh deploy/install-deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null
exec sh worker/demo/run-demo.sh build
