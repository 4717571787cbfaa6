#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, then builds and tests three ways — a -Werror build, an ASan+UBSan
# build, and the Redis-backed suites under valgrind — and fuzzes the job
# decoder and the families parser.
# Prints `tests: N passed, M failed` last, counted from meson's test logs.
set -u
cd "$(dirname "$0")"
ROOT=$(pwd)

FUZZ_SECONDS=${INVQ_FUZZ_SECONDS:-45}
FAMILIES_FUZZ_SECONDS=${INVQ_FUZZ_FAMILIES_SECONDS:-20}
STEPS=${INVQ_TEST_STEPS:-"plain asan valgrind fuzz"}
LOGS=""
status=0

step() { printf '\n==== %s\n' "$*"; }

sh deploy/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }

setup() { # dir, extra meson options...
    dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null || return 1
    else
        meson setup "$dir" "$@" || return 1
    fi
    ninja -C "$dir"
}

run_suite() { # dir, meson test args...
    dir=$1; shift
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=1
    LOGS="$LOGS $dir/meson-logs/testlog.json"
}

for s in $STEPS; do
    case $s in
    plain)
        step "build (warnings as errors) and every suite"
        if setup build-ci -Dwerror=true; then
            rm -f build-ci/meson-logs/testlog.json
            run_suite build-ci
        else status=1; fi ;;
    asan)
        step "ASan+UBSan build and every suite but slow (those run in the plain pass)"
        if setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false; then
            rm -f build-asan/meson-logs/testlog.json
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                run_suite build-asan --timeout-multiplier 3 --no-suite slow
        else status=1; fi ;;
    valgrind)
        step "integration suites under valgrind"
        if setup build-ci -Dwerror=true; then
            rm -f build-ci/meson-logs/vg*.json
            INVQ_TEST_VALGRIND=1 INVQ_CTL_VALGRIND=1 meson test -C build-ci --print-errorlogs --num-processes 2 \
                --suite redis --suite fault --no-suite slow --no-suite novalgrind \
                --wrapper "valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no --quiet" \
                --timeout-multiplier 6 --logbase vg || status=1
            # meson names the log after the wrapper too: vg-valgrind.json
            vglog=$(ls build-ci/meson-logs/vg*.json 2>/dev/null | head -n 1)
            LOGS="$LOGS ${vglog:-build-ci/meson-logs/vg.json}"
        else status=1; fi ;;
    fuzz)
        rm -f build-fuzz/testlog.json
        mkdir -p build-fuzz
        for h in job_decode families; do
            secs=$FUZZ_SECONDS
            [ "$h" = families ] && secs=$FAMILIES_FUZZ_SECONDS
            step "libFuzzer on $h, ${secs}s under ASan+UBSan"
            if sh schemas/fuzz/run-fuzz.sh build-fuzz "$secs" "$h"; then
                echo "{\"name\": \"fuzz_$h\", \"result\": \"OK\"}" >> build-fuzz/testlog.json
            else
                echo "{\"name\": \"fuzz_$h\", \"result\": \"FAIL\"}" >> build-fuzz/testlog.json
                status=1
            fi
        done
        LOGS="$LOGS build-fuzz/testlog.json" ;;
    *) echo "unknown step $s" >&2; status=1 ;;
    esac
done

step "summary"
# shellcheck disable=SC2086
/usr/bin/python3 "$ROOT/tests/count_results.py" $LOGS || status=1
exit $status
