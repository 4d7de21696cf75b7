#!/usr/bin/env bash
# fuzz.sh - every libFuzzer harness for a few seconds (FUZZ_CHECK_SECONDS,
# default 10) through tests/fuzz/run.sh. Skipped (exit 77) in the sanitizer
# pass, which would only repeat the same fuzzing, and when clang or its
# libFuzzer runtime is missing (run.sh says so). `make fuzz` runs longer.
set -u
if [ "${SANITIZE_BUILD:-0}" = 1 ]; then
    echo "skipped: the sanitizer pass does not repeat the fuzzing (run make fuzz)"
    exit 77
fi
exec bash "$(dirname "$0")/../fuzz/run.sh" "${FUZZ_CHECK_SECONDS:-10}"
