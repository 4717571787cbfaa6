#!/bin/sh
# Builds a libFuzzer harness with clang (ASan + UBSan) and runs it for
# SECONDS: job_decode (the codec, seeded from schemas/vectors/*.msgpack, the
# default) or families (the families parser, seeded from the example and the
# test files, with a dictionary of the format's words). Exits non-zero on any
# crash, sanitizer report or failed check.
# Usage: schemas/fuzz/run-fuzz.sh BUILD_DIR SECONDS [job_decode|families]
set -eu

if [ $# -ne 2 ] && [ $# -ne 3 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [job_decode|families]" >&2
    exit 2
fi
build_dir=$1
seconds=$2
harness=${3:-job_decode}
here=$(cd "$(dirname "$0")" && pwd)
schemas=$(dirname "$here")
root=$(dirname "$schemas")
cc=${CC_FUZZ:-clang}

mkdir -p "$build_dir"
out=$(cd "$build_dir" && pwd)/fuzz_$harness
work=$(mktemp -d "${TMPDIR:-/tmp}/invq-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus"
flags="-rss_limit_mb=2048 -timeout=10"

# harness: compile HARNESS.c "SOURCE_DIRS" "PKGS", with every source of SOURCE_DIRS
compile() {
    incs="" srcs=""
    for d in $2; do incs="$incs -I$d" srcs="$srcs $d/*.c"; done
    # shellcheck disable=SC2046,SC2086 # pkg-config output and the lists are meant to split
    "$cc" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$here" $incs $(pkg-config --cflags $3) \
        "$here/$1" $srcs $(pkg-config --libs $3) -o "$out"
}

case $harness in
job_decode)
    compile fuzz_job_decode.c "$schemas/codec" msgpack
    cp "$schemas"/vectors/*.msgpack "$work/corpus/"
    flags="$flags -max_len=1100000" ;;
families)
    compile fuzz_families.c "$schemas/families $schemas/codec" "inih msgpack"  # the job check uses the codec's types
    cp "$schemas"/examples/*.ini "$work/corpus/"
    for f in "$root"/tests/ctl/families/*.ini; do cp "$f" "$work/corpus/test-$(basename "$f")"; done
    flags="$flags -max_len=16384 -dict=$here/families.dict" ;;
*)
    echo "$0: unknown harness '$harness' (job_decode or families)" >&2
    exit 2 ;;
esac

cd "$work"
status=0
# shellcheck disable=SC2086 # $flags holds several options
"$out" "$work/corpus" -max_total_time="$seconds" $flags \
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
echo "fuzzing $harness ran clean for ${seconds}s"
