#!/bin/bash
# Runs deploy/compose.yaml's stack without a container engine: the same
# processes with the same environment, read out of compose.yaml, on loopback.
# Redis gets the compose command line and the mounted ACL file; three
# invq-worker processes get the worker service's environment; the producers
# and invqctl use the producer and invqctl services' users. Then it checks
# that every job is applied, that each ACL user can do its job and nothing
# more (the producer cannot DEL a cache key), and that SIGTERM drains cleanly.
#
# What differs from `docker compose up`, and why:
#  - URLs name 127.0.0.1:PORT instead of the compose host `redis:6379`;
#  - each worker's INVQ_HTTP_ADDR is 127.0.0.1:<own port> instead of
#    0.0.0.0:9464 (three processes share one network namespace here);
#  - the ACL file is a copy with one extra line, a test-only user the checks
#    use to read and seed keys; the compose users' lines are unchanged.
#
# usage: compose_local.sh COMPOSE_YAML INVQ_WORKER [INVQCTL|-] [DEMO_PRODUCER|-]
set -u

COMPOSE=$1
WORKER=$2
INVQCTL=${3:--}
DEMO=${4:--}
abs() { if [ "$1" = - ]; then echo -; else realpath "$1"; fi; }
WORKER=$(abs "$WORKER"); INVQCTL=$(abs "$INVQCTL"); DEMO=$(abs "$DEMO")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
CENV="$PY $HERE/compose_env.py $COMPOSE"

command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    echo "redis-server/redis-cli not installed: skipped"; exit 77; }

TMP=$(mktemp -d)
REDIS_PID=""
WORKER_PIDS=()
fail=0

cleanup() {
    for p in "${WORKER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "$REDIS_PID" ]; then kill -TERM "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
    if [ $fail -ne 0 ]; then
        for f in "$TMP"/*.log; do echo "---- $(basename "$f") (last 20 lines)"; tail -n 20 "$f"; done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

die() { echo "FAIL: $*"; fail=1; exit 1; }
ok() { echo "ok: $*"; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# poll CMD up to $1 tenths of a second
poll() { local n=$1; shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }

# ---- redis: the compose command line, ACL file and all ---------------------
ACL_SRC=$($PY -c 'import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); s=d["services"]["redis"]; c=s["command"]; print(c[c.index("--aclfile")+1])' "$COMPOSE")
REDIS_ARGS=$($CENV redis-args)
ACL_HOST=$($PY -c 'import shlex,sys; a=shlex.split(sys.argv[1]); print(a[a.index("--aclfile")+1])' "$REDIS_ARGS")
[ -f "$ACL_HOST" ] || die "ACL file $ACL_HOST (mounted at $ACL_SRC) does not exist"
cp "$ACL_HOST" "$TMP/users.acl"
echo "user invq-test on >test-only-password ~* &* +@all" >> "$TMP/users.acl"
REDIS_ARGS=${REDIS_ARGS//"$ACL_HOST"/"$TMP/users.acl"}

PORT=""
for _ in 1 2 3 4 5; do
    PORT=$(free_port)
    eval "set -- $REDIS_ARGS"
    redis-server "$@" --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --daemonize no \
        --logfile "$TMP/redis.log" &
    REDIS_PID=$!
    if poll 100 sh -c "redis-cli -h 127.0.0.1 -p $PORT ping 2>/dev/null | grep -q PONG || ! kill -0 $REDIS_PID 2>/dev/null"; then
        kill -0 "$REDIS_PID" 2>/dev/null && break
    fi
    wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""
done
[ -n "$REDIS_PID" ] || die "redis-server did not start with the compose arguments"
ok "redis-server $REDIS_ARGS on 127.0.0.1:$PORT"
ADDR=127.0.0.1:$PORT

r() { redis-cli -h 127.0.0.1 -p "$PORT" --user invq-test --pass test-only-password --no-auth-warning "$@"; }
as_user() { # SERVICE CMD...: a redis-cli as the user in that service's Redis URL
    local up; up=$($CENV userpass "$1"); shift
    redis-cli -h 127.0.0.1 -p "$PORT" --user "${up% *}" --pass "${up#* }" --no-auth-warning "$@"
}

[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping)" = PONG ] || die "the compose healthcheck (redis-cli ping) fails"
ok "redis healthcheck: unauthenticated PING answers PONG"
redis-cli -h 127.0.0.1 -p "$PORT" get x | grep -q NOPERM || die "the default user can do more than PING"

eval "$($CENV env worker "$ADDR" | grep -E '^export INVQ_(NAMESPACE|QUEUE|CONSUMERS)=')"
NS=${INVQ_NAMESPACE:-invq}; Q=${INVQ_QUEUE:-default}; CONSUMERS=${INVQ_CONSUMERS:-2}
unset INVQ_NAMESPACE INVQ_QUEUE INVQ_CONSUMERS
K="$NS:{$Q}"
GRACE_MS=$(eval "$($CENV env worker "$ADDR")"; echo "${INVQ_SHUTDOWN_GRACE_MS:-10000}")

# cache keys the jobs below invalidate
for i in $(seq 1 100); do echo "SET deploytest:user:$i v$i"; done | r > /dev/null
for i in $(seq 1 20); do echo "SET deploytest:ver:$i 1"; echo "SET deploytest:ttl:$i x EX 3600"; done | r > /dev/null
r set deploytest:guard keep > /dev/null

# ---- three workers with the compose worker environment ---------------------
start_worker() { # index
    local hp; hp=$(free_port)
    echo "$hp" > "$TMP/http$1"
    ( eval "$($CENV env worker "$ADDR")"; export INVQ_HTTP_ADDR=127.0.0.1:$hp
      exec "$WORKER" ) > "$TMP/worker$1.log" 2>&1 &
    WORKER_PIDS[$1]=$!
}
probe() { # index: the compose healthcheck command, run with the worker's env
    ( eval "$($CENV env worker "$ADDR")"; "$WORKER" --probe "http://127.0.0.1:$(cat "$TMP/http$1")/healthz" ) \
        > /dev/null 2>&1
}
for i in 1 2 3; do start_worker $i; done
for i in 1 2 3; do
    poll 100 probe $i || die "worker $i: healthcheck (invq-worker --probe .../healthz) never passed"
done
ok "3 workers up; the compose healthcheck command passes for each"
want=$((3 * CONSUMERS))
poll 100 sh -c "[ \"\$(redis-cli -h 127.0.0.1 -p $PORT --user invq-test --pass test-only-password --no-auth-warning zcard '$K:consumers')\" = $want ]" \
    || die "expected $want registered consumers, got $(r zcard "$K:consumers")"
users=$(r client list | grep -o 'user=[^ ]*' | sort | uniq -c)
echo "$users" | grep -q 'user=invq-worker' || die "no connection runs as invq-worker: $users"
echo "$users" | grep -v -e 'user=invq-worker' -e 'user=invq-test' | grep -q . && die "unexpected users connected: $users"
ok "$want consumers registered; connections by user: $(echo $users)"

# ---- producers as invq-producer ----------------------------------------------
enqueued=0
if [ "$INVQCTL" != - ]; then
    # invqctl enqueue with the compose producer service's credentials
    penv="export INVQ_QUEUE_URL=$($CENV url producer "$ADDR")"
    for i in $(seq 1 10); do
        keys=$(seq $((i * 10 - 9)) $((i * 10)) | sed 's/^/deploytest:user:/')
        # shellcheck disable=SC2086
        ( eval "$penv"; "$INVQCTL" enqueue del $keys --source compose_local ) > "$TMP/enqueue.log" 2>&1 \
            || die "invqctl enqueue as invq-producer failed: $(cat "$TMP/enqueue.log")"
        enqueued=$((enqueued + 1))
    done
    # shellcheck disable=SC2046
    ( eval "$penv"; "$INVQCTL" enqueue bump $(seq 1 20 | sed 's/^/deploytest:ver:/') ) >> "$TMP/enqueue.log" 2>&1 \
        || die "invqctl enqueue bump failed: $(cat "$TMP/enqueue.log")"
    # shellcheck disable=SC2046
    ( eval "$penv"; "$INVQCTL" enqueue expire $(seq 1 20 | sed 's/^/deploytest:ttl:/') --ttl-ms 60000 ) >> "$TMP/enqueue.log" 2>&1 \
        || die "invqctl enqueue expire failed: $(cat "$TMP/enqueue.log")"
    enqueued=$((enqueued + 2))
    ok "invqctl enqueue (libinvq) as invq-producer: $enqueued jobs"
else
    echo "note: no invqctl: its enqueue/stats checks are skipped"
fi
demo() { # SERVICE: run the compose service's demo producer command line
    local argv; argv=$($CENV entrypoint "$1" "$ADDR")
    ( eval "set -- $argv"; shift; exec "$DEMO" "$@" ) >> "$TMP/demo.log" 2>&1
}
if [ "$DEMO" != - ]; then
    demo cache-fill || die "the compose 'cache-fill' service (demo producer --fill as invq-demo-app) failed"
    demo producer || die "the compose 'producer' service (demo producer --send as invq-producer) failed"
    ok "demo producer ran as the compose services cache-fill and producer"
else
    echo "note: no demo producer built: the compose 'cache-fill' and 'producer' services are not exercised"
fi

# ---- every job applied -------------------------------------------------------
settled() {
    [ "$(r llen "$K:pending")" = 0 ] && [ "$(r zcard "$K:delayed")" = 0 ] || return 1
    local n=0 c
    for c in $(r zrange "$K:consumers" 0 -1); do n=$((n + $(r llen "$K:processing:$c"))); done
    [ $n = 0 ]
}
poll 300 settled || die "queue did not settle: pending=$(r llen "$K:pending") delayed=$(r zcard "$K:delayed")"
if [ "$INVQCTL" != - ]; then
    left=$(r --scan --pattern 'deploytest:user:*' | wc -l)
    [ "$left" = 0 ] || die "$left deleted keys still exist"
    for i in $(seq 1 20); do
        [ "$(r get deploytest:ver:$i)" = 2 ] || die "deploytest:ver:$i = $(r get deploytest:ver:$i), expected 2"
        ttl=$(r pttl deploytest:ttl:$i)
        [ "$ttl" -gt 0 ] && [ "$ttl" -le 60000 ] || die "deploytest:ttl:$i pttl $ttl, expected <= 60000"
    done
    ok "every job applied: 100 keys deleted, 20 versions bumped, 20 TTLs shortened"
fi
if [ "$DEMO" != - ]; then
    "$DEMO" --url "redis://invq-test:test-only-password@$ADDR/0" --report > "$TMP/report.log" 2>&1 \
        || { cat "$TMP/report.log"; die "the demo's own outcome check failed"; }
    sed 's/^/    /' "$TMP/report.log"
    ok "the demo's burst was applied as it asked (its --report check passes)"
fi
r --raw lrange "$K:dead" 0 -1 | grep -qa NOPERM && die "a dead letter carries NOPERM: the worker's ACL is too narrow"
ok "stats: $(r hgetall "$K:stats" | paste -sd' ')"

no_denials() { # WHEN: fail when any invq-* user was refused a command
    local denied
    denied=$(r acl log 1000 | grep -A1 -x username | grep -v -x -e username -e -- | sort | uniq -c)
    if echo "$denied" | grep -q invq-; then
        r acl log 1000 | head -60
        die "ACL denials $1: $denied"
    fi
    ok "no ACL denials for the invq users $1"
}
no_denials "while jobs were applied"

# ---- least privilege ----------------------------------------------------------
out=$(as_user producer del deploytest:guard)
echo "$out" | grep -q NOPERM || die "invq-producer DEL of a cache key answered '$out', expected NOPERM"
[ "$(r get deploytest:guard)" = keep ] || die "the producer deleted a cache key"
out=$(as_user producer set deploytest:guard x)
echo "$out" | grep -q NOPERM || die "invq-producer SET answered '$out', expected NOPERM"
ok "invq-producer cannot DEL (or SET) a cache key: NOPERM"
set -f  # the commands below are split into words, never globbed
for c in "flushall" "config get maxmemory" "keys *" "acl list" "get deploytest:guard"; do
    # shellcheck disable=SC2086
    out=$(as_user worker $c)
    echo "$out" | grep -q NOPERM || die "invq-worker '$c' answered '$out', expected NOPERM"
done
set +f
ok "invq-worker cannot FLUSHALL, CONFIG, KEYS, ACL or read cache values"
if [ "$INVQCTL" != - ]; then
    aenv=$($CENV env invqctl "$ADDR")
    ( eval "$aenv"; "$INVQCTL" stats ) > "$TMP/invqctl.log" 2>&1 || die "invqctl stats as invq-admin failed"
    ( eval "$aenv"; "$INVQCTL" dlq list ) >> "$TMP/invqctl.log" 2>&1; rc=$?
    [ $rc = 0 ] || [ $rc = 1 ] || die "invqctl dlq list as invq-admin exited $rc"
    ( eval "$aenv"; "$INVQCTL" consumers ) >> "$TMP/invqctl.log" 2>&1 || die "invqctl consumers as invq-admin failed"
    out=$(as_user invqctl del deploytest:guard)
    echo "$out" | grep -q NOPERM || die "invq-admin DEL of a cache key answered '$out', expected NOPERM"
    ok "invqctl stats / dlq list / consumers work as invq-admin, which cannot touch cache keys"
fi
r acl log reset > /dev/null
# ---- SIGTERM: a clean drain, idle and in the middle of a burst ---------------
stop_all() { # WHEN: SIGTERM every worker; each must exit 0 within the grace
    local t0 i pid rc limit=$((GRACE_MS / 100 + 50))
    t0=$(date +%s%N)
    for i in "${!WORKER_PIDS[@]}"; do kill -TERM "${WORKER_PIDS[$i]}"; done
    for i in "${!WORKER_PIDS[@]}"; do
        pid=${WORKER_PIDS[$i]}
        poll $limit sh -c "! kill -0 $pid 2>/dev/null" || die "worker $i still running $((limit / 10)) s after SIGTERM ($1)"
        wait "$pid"; rc=$?
        unset "WORKER_PIDS[$i]"
        [ $rc = 0 ] || die "worker $i exited $rc after SIGTERM ($1), expected 0"
    done
    DRAIN_MS=$((($(date +%s%N) - t0) / 1000000))
    [ "$(r zcard "$K:consumers")" = 0 ] || die "consumers ZSET not empty after the drain ($1): $(r zrange "$K:consumers" 0 -1)"
    local proc; proc=$(r --scan --pattern "$K:processing:*")
    [ -z "$proc" ] || die "processing lists left after the drain ($1): $proc"
}
stop_all "idle"
ok "SIGTERM when idle: 3 workers exit 0 in $DRAIN_MS ms, consumers ZSET empty, no processing lists"

N=200000
seq 0 $((N - 1)) | sed 's/.*/SET deploytest:burst:& x/' | r --pipe > "$TMP/seed.log" 2>&1 || die "seeding burst keys failed"
$CENV burst producer $N "$ADDR" > "$TMP/pipe.log" 2>&1 \
    || die "LPUSH burst as invq-producer failed: $(cat "$TMP/pipe.log")"
[ "$(r llen "$K:pending")" = $N ] || die "burst: pending holds $(r llen "$K:pending") jobs, expected $N"
for i in 1 2 3; do start_worker $i; done
# SIGTERM as soon as every consumer has registered (a worker registers from
# its event loop, so its signal handling is in place by then)
for _ in $(seq 2000); do [ "$(r zcard "$K:consumers")" = "$want" ] && break; sleep 0.005; done
[ "$(r zcard "$K:consumers")" = "$want" ] || die "the burst's workers did not register"
stop_all "busy"
left=$(r --scan --pattern 'deploytest:burst:*' | sed 's/.*://' | sort)
pend=$(r --raw lrange "$K:pending" 0 -1 | grep -ao 'burst-[0-9]*' | sed 's/burst-//' | sort)
missing=$(comm -23 <(echo "$left") <(echo "$pend") | grep -c .)
[ "$missing" = 0 ] || die "$missing keys are neither deleted nor queued: jobs were lost in the drain"
nleft=$(echo "$left" | grep -c .)
[ "$nleft" -lt $N ] || die "the workers applied nothing of the burst before SIGTERM"
[ "$nleft" -gt 0 ] || echo "note: the workers finished the whole burst before SIGTERM arrived"
ok "SIGTERM in a $N-job burst: exit 0 x3 in $DRAIN_MS ms, consumers ZSET empty, no processing lists, $((N - nleft)) jobs applied, the $nleft others all back in pending"

# the returned jobs are intact: one worker finishes them
start_worker 1
poll 100 probe 1 || die "the restarted worker never became healthy"
poll 300 sh -c "[ \$(redis-cli -h 127.0.0.1 -p $PORT --user invq-test --pass test-only-password --no-auth-warning llen '$K:pending') = 0 ]" \
    || die "the restarted worker did not finish the returned jobs"
poll 100 sh -c "[ -z \"\$(redis-cli -h 127.0.0.1 -p $PORT --user invq-test --pass test-only-password --no-auth-warning --scan --pattern 'deploytest:burst:*')\" ]" \
    || die "burst keys remain after the restart"
kill -TERM "${WORKER_PIDS[1]}"; wait "${WORKER_PIDS[1]}"; rc=$?; unset "WORKER_PIDS[1]"
[ $rc = 0 ] || die "restarted worker exited $rc"
r --raw lrange "$K:dead" 0 -1 | grep -qa 'burst-' && die "burst jobs were dead-lettered"
ok "all $N burst jobs applied after a restart; nothing lost"
no_denials "during the burst and the drain"
grep -l NOPERM "$TMP"/worker*.log && die "a worker logged NOPERM"
echo "compose_local: all checks passed"
