#!/bin/sh
# The invq demo: starts a private redis-server on a unix socket in a temp dir,
# fills some cache keys, runs invq-worker with 2 consumers, sends a burst of
# invalidations (including a poison payload and a permanent failure), prints
# what happened, then stops everything and removes the temp dir. It ends with
# a few seconds of bench/freshness (TTL only against invq, on a real SQLite
# database) when that benchmark is built.
# Usage: worker/demo/run-demo.sh BUILD_DIR
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR   (the meson build directory, e.g. build)" >&2
    exit 64
fi
build=$1
worker="$build/worker/invq-worker"
producer="$build/worker/demo/demo_producer"
ctl="$build/worker/ctl/invqctl"
freshness="$build/bench/freshness"
for bin in "$worker" "$producer"; do
    if [ ! -x "$bin" ]; then
        echo "run-demo: $bin not found; build first: meson setup $build && ninja -C $build" >&2
        exit 1
    fi
done
server=$(command -v redis-server || true)
if [ -z "$server" ]; then
    echo "run-demo: redis-server not found (Debian: apt-get install redis-server)" >&2
    exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/invq-demo.XXXXXX")
redis_pid=
worker_pid=

cleanup() {
    status=$?
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
    fi
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$dir/worker.log" ]; then
        echo "run-demo: failed; the worker's log:" >&2
        tail -n 40 "$dir/worker.log" >&2
    fi
    if [ "$status" -ne 0 ] && [ -f "$dir/freshness.log" ]; then
        echo "run-demo: the freshness benchmark's log:" >&2
        tail -n 40 "$dir/freshness.log" >&2
    fi
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sock="$dir/redis.sock"
cat > "$dir/redis.conf" <<EOF
port 0
unixsocket $sock
unixsocketperm 700
dir $dir
logfile $dir/redis.log
save ""
appendonly no
daemonize no
EOF
"$server" "$dir/redis.conf" &
redis_pid=$!
url="unix://$sock"

# Wait for the server to answer (bounded: 10 s).
tries=0
until "$producer" --url "$url" --ping >/dev/null 2>&1 || [ $tries -ge 200 ]; do
    if ! kill -0 "$redis_pid" 2>/dev/null; then
        echo "run-demo: redis-server exited; its log:" >&2
        cat "$dir/redis.log" >&2 || true
        exit 1
    fi
    tries=$((tries + 1))
    sleep 0.05
done
echo "redis-server $("$server" --version | sed "s/.* v=\([^ ]*\).*/\1/") running on $sock (pid $redis_pid)"

"$producer" --url "$url" --fill

"$worker" --queue-url "$url" --consumers 2 --http-addr off --backoff-base-ms 100 \
    --log-level warn 2> "$dir/worker.log" &
worker_pid=$!
echo "invq-worker started (pid $worker_pid, 2 consumers)"

"$producer" --url "$url" --send
"$producer" --url "$url" --wait
"$producer" --url "$url" --report

if [ -x "$ctl" ]; then
    echo
    echo "The operator's view: invqctl --queue-url $url dlq list"
    "$ctl" --queue-url "$url" dlq list | sed 's/^/  /'
fi

echo
echo "The worker logged (warnings and errors):"
sed 's/^/  /' "$dir/worker.log"

kill -TERM "$worker_pid"
if wait "$worker_pid"; then
    echo "invq-worker stopped cleanly after SIGTERM"
else
    echo "run-demo: invq-worker exited with status $? after SIGTERM" >&2
    worker_pid=
    exit 1
fi
worker_pid=

# Why invalidate at all: the same workload with TTL only and with invq. The
# benchmark starts its own redis-server, worker and SQLite database.
if [ -x "$freshness" ]; then
    echo
    echo "Freshness: how often does a reader see a row older than what was committed?"
    if ! "$freshness" --demo --worker "$worker" 2> "$dir/freshness.log"; then
        echo "run-demo: bench/freshness --demo failed" >&2
        exit 1
    fi
else
    echo
    echo "(bench/freshness is not built, so the freshness comparison is skipped: it needs libsqlite3-dev)"
fi
