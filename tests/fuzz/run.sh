#!/usr/bin/env bash
# run.sh - build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) into
# build/fuzz/bin/ (`make fuzz-bin`: clang, ASan and UBSan), then run each
# one in turn.
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

skip() {
    echo "skipped: clang/libFuzzer not installed (run deploy/deps.sh --with-fuzz)"
    exit 77
}

# clang, and a fuzzer runtime it can link: try a one-line fuzzer
command -v "$CC" >/dev/null 2>&1 || skip
mkdir -p "$out/logs" "$out/work" "$out/crashes" || exit 2
# One run at a time: runs share build/fuzz/ (and the machine's cores), so a
# second `make check` or `make fuzz` waits here for the first to finish.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$out/.lock"
    flock 9
fi

${MAKE:-make} -C "$root" --no-print-directory FUZZ_CC="$CC" fuzz-probe >/dev/null 2>&1 || skip

# Build every harness the Makefile knows (-k: one that does not build is
# reported below and the others still run)
build_log=$out/logs/build.log
${MAKE:-make} -C "$root" --no-print-directory -k FUZZ_CC="$CC" fuzz-bin >"$build_log" 2>&1

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
    if ! ${MAKE:-make} -C "$root" --no-print-directory -q FUZZ_CC="$CC" "$bin" 2>/dev/null; then
        failed=$((failed + 1))
        printf '%-16s FAILED: does not build, see %s\n' "$name" "$build_log"
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
