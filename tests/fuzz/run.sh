#!/usr/bin/env bash
# run.sh - build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) into
# build/fuzz/ with clang, ASan and UBSan, then run each one in turn.
#
# Usage: tests/fuzz/run.sh [SECONDS] [FILTER]
#   SECONDS  time per harness (default 60)
#   FILTER   run only harnesses whose name contains it (default: all)
#
# Prints one line per harness and a final "N passed, N failed"; exits 0
# when every harness ran clean, 1 when one crashed, leaked, timed out, ran
# out of memory or did not build, and 77 (skipped) when clang or its
# libFuzzer runtime is missing. Each harness fuzzes a scratch copy of its
# committed seeds (tests/fuzz/corpus/NAME/) in build/fuzz/work/NAME, so the
# seeds never change; a failing input is saved in build/fuzz/crashes/ and
# the fuzzer's log in build/fuzz/logs/NAME.log. To replay one:
#   build/fuzz/bin/NAME build/fuzz/crashes/NAME-crash-...
set -u

seconds=${1:-60}
filter=${2:-}
case $seconds in
    '' | *[!0-9]* | 0)
        echo "usage: $0 [SECONDS] [FILTER]  (SECONDS a positive integer, not '$seconds')" >&2
        exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
out=build/fuzz
CC=${FUZZ_CC:-clang}
PKGS="libczmq libzmq libprotobuf-c libsodium sqlite3"

skip() {
    echo "skipped: clang/libFuzzer not installed (run deploy/deps.sh --with-fuzz)"
    exit 77
}

# clang, and a fuzzer runtime it can link: try a one-line fuzzer
command -v "$CC" >/dev/null 2>&1 || skip
mkdir -p "$out/obj" "$out/bin" "$out/gen" "$out/logs" "$out/work" "$out/crashes" || exit 2
# One run at a time: runs share build/fuzz/ (and the machine's cores), so a
# second `make check` or `make fuzz` waits here for the first to finish.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$out/.lock"
    flock 9
fi

printf 'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n);\n%s\n' \
    'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n) { return d && n == 7; }' \
    > "$out/probe.c"
"$CC" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1 || skip

for tool in protoc-c pkg-config; do
    command -v "$tool" >/dev/null 2>&1 \
        || { echo "run.sh: $tool is missing (run deploy/deps.sh)" >&2; exit 2; }
done
# shellcheck disable=SC2086
pkg-config --exists $PKGS \
    || { echo "run.sh: missing libraries: $PKGS (run deploy/deps.sh)" >&2; exit 2; }

# --------------------------------------------------------------------------
# Build. Objects are rebuilt when their source, any header or this script
# is newer; nothing is shared with the gcc build in build/.

gen_c=$out/gen/proto/certbus.pb-c.c
gen_h=$out/gen/proto/certbus.pb-c.h
if [ ! -f "$gen_c" ] || [ proto/certbus.proto -nt "$gen_c" ]; then
    protoc-c --c_out="$out/gen" proto/certbus.proto \
        || { echo "run.sh: protoc-c failed" >&2; exit 1; }
fi

# shellcheck disable=SC2086
read -r -a pkg_cflags <<< "$(pkg-config --cflags $PKGS)"
# shellcheck disable=SC2086
read -r -a pkg_libs <<< "$(pkg-config --libs $PKGS)"
common=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
        -Iinclude -I"$out/gen" "${pkg_cflags[@]}")
lib_flags=("-fsanitize=address,undefined,fuzzer-no-link" "${common[@]}")
fixture_flags=("-fsanitize=address,undefined,fuzzer-no-link" "${common[@]}" -Wall -Wextra -Werror)
fuzz_flags=("-fsanitize=fuzzer,address,undefined" "${common[@]}" -Wall -Wextra -Werror)

# compile SRC OBJ FLAGS...: only when OBJ is missing or older than what it is made of
compile() {
    local src=$1 obj=$2
    shift 2
    if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ -z "$(find include tests/fuzz/fixture.h \
            "$gen_h" "$0" -newer "$obj" 2>/dev/null | head -n 1)" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$obj")"
    "$CC" "$@" -c "$src" -o "$obj"
}

lib_objs=()
for src in lib/*.c "$gen_c"; do
    obj=$out/obj/lib/$(basename "$src" .c).o
    compile "$src" "$obj" "${lib_flags[@]}" || { echo "run.sh: cannot compile $src" >&2; exit 1; }
    lib_objs+=("$obj")
done
compile tests/fuzz/fixture.c "$out/obj/fixture.o" "${fixture_flags[@]}" \
    || { echo "run.sh: cannot compile tests/fuzz/fixture.c" >&2; exit 1; }

# --------------------------------------------------------------------------
# Run, one harness at a time.

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
crashes=$root/$out/crashes
passed=0 failed=0
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then continue; fi
    bin=$out/bin/$name
    log=$out/logs/$name.log
    obj=$out/obj/$name.o
    if ! compile "$src" "$obj" "${fuzz_flags[@]}" >"$log" 2>&1 \
        || ! "$CC" -fsanitize=fuzzer,address,undefined "$obj" "$out/obj/fixture.o" \
            "${lib_objs[@]}" "${pkg_libs[@]}" -lpthread -lm -o "$bin" >>"$log" 2>&1; then
        failed=$((failed + 1))
        printf '%-16s FAILED: does not build, see %s\n' "$name" "$log"
        continue
    fi
    work=$out/work/$name
    rm -rf "$work"
    mkdir -p "$work"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
    fi
    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$crashes/$name-" "$work" >"$log" 2>&1
    rc=$?
    stats=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$stats")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$stats")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$stats")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ] && grep -a -q '^Done [0-9]* runs' "$log"; then
        passed=$((passed + 1))
        printf '%-16s ok: %s runs in %ss, %s exec/s, cov %s, ft %s, corpus %s\n' "$name" \
            "${runs:-?}" "$seconds" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    else
        failed=$((failed + 1))
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        why=$(grep -a -m 1 -E '^SUMMARY: |runtime error' "$log" | sed 's/^SUMMARY: //')
        printf '%-16s FAILED (rc=%s): %s; input: %s; log: %s\n' "$name" "$rc" \
            "${why:-see the log}" "${input:-none saved}" "$log"
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
