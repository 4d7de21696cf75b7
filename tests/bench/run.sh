#!/usr/bin/env bash
# shellcheck disable=SC2086,SC2046  # flags and object lists split into words on purpose
#   run.sh - `make bench`: runs every case with the bench programs that
#   `make bench-bin` built into BUILD/bench/bin, then writes
#   BUILD/bench/results.json (one flat JSON object).
#   SPDX-License-Identifier: MPL-2.0
#
#   usage: tests/bench/run.sh BUILD [CASE...]
#       CASE: relay e2e fanout backlog audit mqtt pg failover (default: all,
#       in that order; pg runs relay and e2e again with the store in a
#       throwaway PostgreSQL cluster, fsync on, as pg_* figures)
#   BENCH_QUICK=1 shrinks the sizes for a smoke run (each program says which).
#   BENCH_TMP=DIR puts the scratch folders (up to ~3 GB for the 10^6 cases)
#   somewhere other than /tmp.
#
#   Every figure is reported, never asserted: the script fails only when a
#   program is missing or crashes.
set -euo pipefail

BUILD=${1:?usage: tests/bench/run.sh BUILD [CASE...]}
shift
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(relay e2e fanout backlog audit mqtt pg failover)

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT="$BUILD/bench"
BIN="$OUT/bin"
LOGS="$OUT/logs"
mkdir -p "$BIN" "$LOGS"

echo "certbus bench: $(nproc) cores, $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ] && echo "BENCH_QUICK=1: sizes shrunk for a smoke run (each case says which)"
for program in bench_relay bench_e2e bench_fanout bench_backlog bench_audit; do
    if [ -f "tests/bench/$program.c" ] && [ ! -x "$BIN/$program" ]; then
        echo "run.sh: $BIN/$program is missing (make bench-bin builds it)" >&2
        exit 1
    fi
done
MQTT_OK=0
if command -v mosquitto >/dev/null 2>&1 && [ -x "$BIN/bench_mqtt" ]; then
    MQTT_OK=1
fi

#   Scratch folders of the cases (the 10^6 cases need ~3 GB), removed at exit
export BENCH_TMP
BENCH_TMP=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/certbus-bench.XXXXXX")
trap 'rm -rf "$BENCH_TMP"' EXIT

RESULTS="$OUT/results.txt"
: > "$RESULTS"
echo "cores $(nproc)" >> "$RESULTS"
echo "load_average_start $(cut -d' ' -f1 /proc/loadavg)" >> "$RESULTS"

#   Runs a program, shows its report, keeps its RESULT lines
run_case () {
    local name=$1
    shift
    local started=$SECONDS
    local log="$LOGS/$name.out"
    local rc=0
    #   the report streams as it comes; RESULT lines go to the log only
    set +e
    "$@" 2> "$LOGS/$name.err" | tee "$log" | grep --line-buffered -v '^RESULT '
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "   $name FAILED (exit code $rc); see $LOGS/$name.err:"
        tail -n 5 "$LOGS/$name.err" | sed 's/^/      /'
    fi
    grep '^RESULT ' "$log" | cut -d' ' -f2- >> "$RESULTS" || true
    echo "   ($name took $((SECONDS - started)) s)"
}

for case in "${CASES[@]}"; do
    case $case in
        relay) run_case relay "$BIN/bench_relay" "$LOGS/relay.log" ;;
        e2e) run_case e2e "$BIN/bench_e2e" "$LOGS/e2e.log" ;;
        fanout) run_case fanout "$BIN/bench_fanout" "$BUILD/certbus-broker" "$LOGS/fanout.log" ;;
        backlog) run_case backlog "$BIN/bench_backlog" "$LOGS/backlog.log" ;;
        audit) run_case audit "$BIN/bench_audit" "$BUILD/certbus-broker" "$LOGS/audit.log" ;;
        mqtt)
            if [ $MQTT_OK = 1 ]; then
                run_case mqtt "$BIN/bench_mqtt" "$(command -v mosquitto)"
            elif ! command -v mosquitto >/dev/null 2>&1; then
                echo "== case 6: mosquitto not installed: skipped"
                echo 'mosquitto_skipped "mosquitto not installed"' >> "$RESULTS"
            else
                echo "== case 6: mosquitto is installed but libmosquitto-dev is not: skipped"
                echo 'mosquitto_skipped "libmosquitto-dev not installed"' >> "$RESULTS"
            fi ;;
        pg)
            # shellcheck source=../lib/pgtmp.sh
            source "$ROOT/tests/lib/pgtmp.sh"
            PGTMP_FSYNC=on pgtmp_start
            echo "== PostgreSQL store: relay and end to end again, the store on 127.0.0.1:$PGTMP_PORT (fsync on)"
            CERTBUS_BENCH_STORE_URL="$PGTMP_URL/%s" CERTBUS_BENCH_RESULT_PREFIX=pg_ \
                run_case pg_relay "$BIN/bench_relay" "$LOGS/pg_relay.log"
            CERTBUS_BENCH_STORE_URL="$PGTMP_URL/%s" CERTBUS_BENCH_RESULT_PREFIX=pg_ \
                run_case pg_e2e "$BIN/bench_e2e" "$LOGS/pg_e2e.log"
            pgtmp_stop
            awk '{ v[$1] = $2 }
                 END {
                     if (v["relay_msgs_per_s"] > 0 && v["pg_relay_msgs_per_s"] != "")
                         printf "pg_over_sqlite_relay %.3f\n", v["pg_relay_msgs_per_s"] / v["relay_msgs_per_s"]
                     if (v["e2e_msgs_per_s"] > 0 && v["pg_e2e_msgs_per_s"] != "")
                         printf "pg_over_sqlite_e2e %.3f\n", v["pg_e2e_msgs_per_s"] / v["e2e_msgs_per_s"]
                 }' "$RESULTS" | tee -a "$RESULTS" | sed 's/^/   /' ;;
        failover)
            if [ -x "$ROOT/tests/bench/failover.sh" ]; then
                run_case failover bash "$ROOT/tests/bench/failover.sh" "$LOGS/failover.json" "$BUILD"
                # its JSON keys, flattened into results
                tr -d '{}" ' < "$LOGS/failover.json" | tr ',' '\n' | sed -n 's/^\([a-z0-9_]*\):\(.*\)$/\1 \2/p' \
                    >> "$RESULTS" || true
            else
                echo "== failover: tests/bench/failover.sh missing: skipped"
            fi ;;
        *) echo "unknown case $case" >&2; exit 2 ;;
    esac
done
echo "load_average_end $(cut -d' ' -f1 /proc/loadavg)" >> "$RESULTS"
[ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ] && echo 'quick "BENCH_QUICK=1: sizes shrunk"' >> "$RESULTS"

#   The targets, from the figures above (reported, never asserted)
echo "== summary against the targets ($(nproc) cores; load average at start $(awk '$1 == "load_average_start" { print $2 }' "$RESULTS"), at end $(cut -d' ' -f1 /proc/loadavg))"
awk '{ v[$1] = $2 }
     function show(name, have, cmp, target, unit,   ok) {
         if (have == "") { printf "   %-36s not measured\n", name; return }
         ok = (cmp == "<=") ? (have + 0 <= target) : (have + 0 >= target)
         printf "   %-36s %12.3f %-4s target %s %s%s\n", name, have, unit, cmp, target,
                ok ? "  met" : "  MISSED (" sprintf ("%.2fx", cmp == "<=" ? have / target : target / have) ")"
     }
     END {
         ratio = (v["relay_msgs_per_s"] != "" && v["verify_one_core_ops_per_s"] > 0) ? v["relay_msgs_per_s"] / v["verify_one_core_ops_per_s"] : ""
         show("relay / one-core verify", ratio, ">=", 0.8, "")
         show("end-to-end p99 at half max", v["e2e_p99_ms"], "<=", 10, "ms")
         show("PostgreSQL relay / SQLite relay", v["pg_over_sqlite_relay"], ">=", 0.6, "")
         show("failover p99 (SIGKILL to first ack)", v["failover_p99_s"], "<=", 3, "s")
         show("fan-out to " (v["fanout_members"] != "" ? v["fanout_members"] : 1000) " members", v["fanout_1000_s"], "<=", 1, "s")
         show("broker RSS, idle members", v["rss_1000_idle_mib"], "<=", 100, "MiB")
         show("broker RSS, " (v["backlog_messages"] != "" ? v["backlog_messages"] : 1000000) " backlog", v["rss_1m_backlog_mib"], "<=", 100, "MiB")
         show("restart, backlog, clean stop, warm", v["restart_1m_backlog_s"], "<=", 5, "s")
         show("restart, backlog, clean stop, cold", v["restart_1m_backlog_cold_s"], "<=", 5, "s")
         show("restart, backlog, crash, warm", v["restart_1m_backlog_crash_s"], "<=", 5, "s")
         show("restart, backlog, crash, cold", v["restart_1m_backlog_crash_cold_s"], "<=", 5, "s")
     }' "$RESULTS"

#   One flat JSON object, keys in the order the cases printed them
awk 'BEGIN { printf "{" }
     NF >= 2 { key = $1; $1 = ""; sub (/^ /, ""); if (n++) printf ","; printf "\n  \"%s\": %s", key, $0 }
     END { printf "\n}\n" }' "$RESULTS" > "$OUT/results.json"
echo "results: $OUT/results.json"
