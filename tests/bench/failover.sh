#!/usr/bin/env bash
#   failover.sh - failover time of a broker pair on PostgreSQL: the active
#   broker is SIGKILLed FAILOVER_KILLS times (default 20); each failover
#   is timed from the kill to the first publish the broker acknowledges
#   after it (through the broker that took over), while a second publisher
#   keeps a steady stream going. Prints p50 and p99 in seconds and the
#   stream's lost and duplicated messages (accepted by the node's daemon,
#   missing from / twice in the recipient's inbox), and writes them as
#   one JSON object to OUT (tests/bench/run.sh flattens it into results).
#   SPDX-License-Identifier: MPL-2.0
#
#   usage: tests/bench/failover.sh OUT.json [BUILD]
#   Keys: failover_p50_s, failover_p99_s, failover_lost,
#   failover_duplicates (and failover_count). Figures are reported, never
#   asserted: the script fails only when the set-up fails or a failover
#   does not complete within 60 s.
set -euo pipefail
OUT_JSON=${1:?usage: tests/bench/failover.sh OUT.json [BUILD]}
if [ -n "${2:-}" ]; then CERTBUS_BIN=$(cd "$2" && pwd); export CERTBUS_BIN; fi
OUT_JSON=$(cd "$(dirname "$OUT_JSON")" && pwd)/$(basename "$OUT_JSON")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../integration/lib.sh"
# shellcheck source=../lib/pgtmp.sh
source "$here/../lib/pgtmp.sh"
# shellcheck source=../lib/pair.sh
source "$here/../lib/pair.sh"
KILLS=${FAILOVER_KILLS:-20}

pgtmp_start
s_exit() {
    local rc=$?
    pair_stop_all
    if [ $rc -ne 0 ]; then (exit $rc) || cleanup; else true; cleanup; fi
    pgtmp_stop
}
trap s_exit EXIT

pair_init "$PGTMP_URL/council"
pair_start a
pair_start b
# probe publishes and is timed; stream keeps a load going; sink receives
for org in probe stream sink; do member "$org" national; done
enroll_all probe stream sink
for org in probe stream sink; do node_start "$org"; done
echo "failover bench: $KILLS SIGKILLs of the active broker of a pair on PostgreSQL ($ENDPOINT)"

# acked_publish SEQ WAIT: one publish from probe; 0 when the broker
# acknowledged it within WAIT seconds (publish prints the id either way;
# without the broker's answer it says the message is queued in the outbox)
acked_publish() {
    local id
    id=$(echo "probe $1" | "$NODE" publish --dir "$T/probe" --kind advisory --tlp amber \
        --to org:sink --type text/plain --wait "$2" - 2>"$T/probe.err") || return 1
    [ -n "$id" ] && ! grep -q "queued in the outbox" "$T/probe.err"
}

# The stream: one --wait 0 publish about every 50 ms until told to stop
stream() {
    local seq=0 id
    while [ ! -e "$T/stream.stop" ] && [ $seq -lt 100000 ]; do
        seq=$((seq + 1))
        if id=$(echo "stream $seq" | timeout 60 "$NODE" publish --dir "$T/stream" --kind advisory \
                --tlp amber --to org:sink --type text/plain --wait 0 - 2>/dev/null) \
            && [ -n "$id" ]; then
            echo "stream $seq"
        fi
        sleep 0.05
    done > "$T/stream.sent"
}
stream &
stream_pid=$!
PIDS+=("$stream_pid")

now() { date +%s.%N; }
seq=0
acked_publish $((++seq)) 30 || fail "the first publish was not acknowledged"
: > "$T/times"
for ((k = 1; k <= KILLS; k++)); do
    x=$(pair_wait_active 60) || fail "no active broker before kill $k"
    epoch=$(pair_epoch "$x")
    start=$(now)
    pair_kill "$x" KILL
    # Timed: publish until one is acknowledged (each waits up to 2 s for
    # the broker; a new publish each round, the earlier ones are resent
    # by the node from its outbox)
    done_at=
    for ((try = 0; try < 60; try++)); do
        if acked_publish $((++seq)) 2; then done_at=$(now); break; fi
    done
    [ -n "$done_at" ] || fail "failover $k: nothing acknowledged within 60 tries"
    t=$(awk -v a="$start" -v b="$done_at" 'BEGIN { printf "%.3f", b - a }')
    printf '%.3f\n' "$t" >> "$T/times"
    printf 'failover %d: broker %s (epoch %s) killed, acknowledged again after %.3f s\n' \
        "$k" "$x" "$epoch" "$t"
    # The killed broker comes back as standby; a steady pause between kills
    pair_start "$x"
    pair_wait_active 60 $((epoch + 1)) >/dev/null || fail "failover $k: no new epoch"
    sleep 1
done
touch "$T/stream.stop"
wait "$stream_pid" || true

# The stream's messages in sink's inbox: lost and duplicates
drained() {
    local org
    for org in probe stream; do
        [ "$("$NODE" status --dir "$T/$org" --json | json_field outbox_pending)" = 0 ] || return 1
    done
}
wait_for 180 drained || fail "outboxes did not drain within 180 s"
sort "$T/stream.sent" > "$T/want"
want=$(wc -l < "$T/want")
wait_for 120 'test "$(inbox_count sink)" -ge $((want + seq))' || true
n=$(inbox_count sink)
"$NODE" tail --dir "$T/sink" --all --count "$n" --timeout 300 --exec cat \
    | grep '^stream ' | sort > "$T/got" || true
lost=$(comm -23 "$T/want" <(sort -u "$T/got") | wc -l)
dups=$(uniq -d "$T/got" | wc -l)

read -r p50 p99 count < <(sort -n "$T/times" | awk '{ v[NR] = $1 }
    function pct(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
    END { printf "%.3f %.3f %d\n", pct(0.50), pct(0.99), NR }')
echo "failovers $count: p50 $p50 s, p99 $p99 s; stream of $want messages: lost $lost, duplicates $dups"
printf '{"failover_count": %d, "failover_p50_s": %s, "failover_p99_s": %s, "failover_lost": %d, "failover_duplicates": %d}\n' \
    "$count" "$p50" "$p99" "$lost" "$dups" > "$OUT_JSON"
echo "results: $OUT_JSON"
