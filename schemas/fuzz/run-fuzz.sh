#!/bin/sh
# Builds the codec's libFuzzer harness with clang (ASan + UBSan) and runs it
# for SECONDS, seeded from schemas/vectors/*.msgpack. Exits non-zero on any
# crash, sanitizer report or failed check.
# Usage: schemas/fuzz/run-fuzz.sh BUILD_DIR SECONDS
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build_dir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
schemas=$(dirname "$here")
cc=${CC_FUZZ:-clang}

mkdir -p "$build_dir"
out=$(cd "$build_dir" && pwd)/fuzz_job_decode
work=$(mktemp -d "${TMPDIR:-/tmp}/invq-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# shellcheck disable=SC2046 # pkg-config output is meant to split
"$cc" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$schemas/codec" $(pkg-config --cflags msgpack) \
    "$here/fuzz_job_decode.c" "$schemas"/codec/*.c \
    $(pkg-config --libs msgpack) -o "$out"

mkdir -p "$work/corpus"
cp "$schemas"/vectors/*.msgpack "$work/corpus/"

cd "$work"
status=0
"$out" "$work/corpus" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1100000 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$work/" 2>"$work/fuzz.log" || status=$?
tail -n 25 "$work/fuzz.log"
if [ "$status" -ne 0 ] || grep -q -E 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:|SUMMARY:' "$work/fuzz.log"; then
    for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [ -e "$f" ] || continue
        cp "$f" "$(dirname "$out")/" && echo "kept $(basename "$f") in $(dirname "$out")" >&2
    done
    echo "fuzzing failed (exit $status)" >&2
    exit 1
fi
echo "fuzzing ran clean for ${seconds}s"
