#!/bin/sh
# Installs, from Debian 12 packages, everything invq needs to build, test,
# benchmark and run its demo. Idempotent: when every package is present it
# changes nothing and touches no network.
# INVQ_DEPS=all (default) | build (only what `meson setup` + `ninja` need, for
# the container's build stage) | runtime (only the shared libraries the
# installed programs load).
set -eu

RUNTIME_PACKAGES="
libhiredis0.14
libuv1
libjansson4
libhttp-parser2.9
libsystemd0
libnettle8
libinih1
libssl3
libsqlite3-0
libpq5
"

BUILD_PACKAGES="
build-essential
pkg-config
meson
ninja-build
libhiredis-dev
libuv1-dev
libmsgpack-dev
libjansson-dev
libhttp-parser-dev
libinih-dev
libcmocka-dev
libsystemd-dev
nettle-dev
libssl-dev
libpq-dev
libsqlite3-dev
python3
python3-dev
python3-cffi
"

# Everything else the tests, the fuzzer, the benchmarks and the demo use
# (python3-setuptools, -wheel, -pip and -venv: `pip install ./producer/python`;
# Django, SQLAlchemy and psycopg2: the Python package's after-commit hooks;
# python3-redis: its benchmark's baseline and its tests' look at Redis).
TEST_PACKAGES="
redis-server
redis-tools
openssl
clang
libclang-rt-14-dev
valgrind
linux-perf
strace
python3-msgpack
python3-jsonschema
python3-yaml
curl
prometheus
systemd
postgresql
python3-setuptools
python3-wheel
python3-pip
python3-venv
python3-redis
python3-django
python3-sqlalchemy
python3-psycopg2
"

PACKAGES="$BUILD_PACKAGES $TEST_PACKAGES"

case "${INVQ_DEPS:-all}" in
    all) ;;
    build) PACKAGES=$BUILD_PACKAGES ;;
    runtime) PACKAGES=$RUNTIME_PACKAGES ;;
    *) echo "install-deps: INVQ_DEPS must be all, build or runtime (got \"$INVQ_DEPS\")" >&2; exit 64 ;;
esac

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
    for p in $PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
            "install ok installed") ;;
            *) missing="$missing $p" ;;
        esac
    done
else
    missing=$PACKAGES
fi

if [ -z "$missing" ]; then
    echo "install-deps: all $(echo $PACKAGES | wc -w) packages present"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not found; install these Debian 12 packages (or your system's equivalents):" >&2
    for p in $PACKAGES; do echo "  $p" >&2; done
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: not root and no sudo; missing packages:$missing" >&2
        exit 1
    fi
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# The packaged redis-server service is not used: tests and the demo start
# their own servers on loopback. Stop a service the package may have started.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
echo "install-deps: done"
