#!/usr/bin/env bash
# run.sh BUILD - the soak behind `make soak`: sequence-numbered messages
# from 3 publisher nodes to 1 recipient node, in two phases:
#   1. the broker is SIGKILLed every 1-3 s and restarted on the same port;
#   2. the recipient node is SIGKILLed every 1-3 s and restarted.
# Each payload is "PUBLISHER SEQ". Pass = acknowledged lost 0 (every
# publish that printed an id is in the recipient's inbox), unexpected 0
# (nothing in the inbox that no publisher sent) and duplicates shown to
# the user 0 (each "PUBLISHER SEQ" exactly once in the inbox). The figures
# of each phase are printed.
#
# Environment:
#   SOAK_COUNT  messages per phase, over the 3 publishers (default 30000)
#   SOAK_TIME   bound in seconds on each phase's publishing (default
#               600 + SOAK_COUNT / 4); publishing stops there
#   SOAK_MIN    messages each phase must get acknowledged (default
#               SOAK_COUNT: the full soak publishes every one)
#   SOAK_DRAIN  bound in seconds on each phase's drain (default 900)
#   SOAK_LANES  publishing processes per publisher (default 2)
# The kill cadence (a random 1-3 s between kills) is this test's
# definition; every other wait is a bounded poll. Only 127.0.0.1.
set -euo pipefail
BUILD=${1:-build}
export CERTBUS_BIN=${CERTBUS_BIN:-$(cd "$BUILD" && pwd)}
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

COUNT=${SOAK_COUNT:-30000}
TIME=${SOAK_TIME:-$((600 + COUNT / 4))}
MIN=${SOAK_MIN:-$COUNT}
DRAIN=${SOAK_DRAIN:-900}
LANES=${SOAK_LANES:-2}
PUBLISHERS=(pub-1 pub-2 pub-3)
RECIPIENT=bank-01
MAX_KILLS=$((TIME / 1 + 10))   # at most one kill a second, whatever happens
started=$SECONDS

council_init
broker_start
[[ "$ENDPOINT" == tcp://127.0.0.1:* ]] || fail "broker is not on 127.0.0.1: $ENDPOINT"
for pub in "${PUBLISHERS[@]}"; do member "$pub" national; done
member "$RECIPIENT" organization banking punjab
enroll_all "${PUBLISHERS[@]}" "$RECIPIENT"
for org in "${PUBLISHERS[@]}" "$RECIPIENT"; do node_start "$org"; done
echo "soak: $COUNT messages per phase from ${#PUBLISHERS[@]} publishers ($LANES lanes each) to $RECIPIENT; publishing bounded to $TIME s per phase"

outbox_pending() {
    "$NODE" status --dir "$T/$1" --json | json_field outbox_pending
}
outbox_rejected() {
    "$NODE" status --dir "$T/$1" --json | json_field outbox_rejected
}
all_drained() {
    local pub
    for pub in "${PUBLISHERS[@]}"; do
        [ "$(outbox_pending "$pub")" = 0 ] || return 1
    done
}

# lane PUB FIRST STEP LAST DEADLINE OUT: publishes "PUB SEQ" for SEQ =
# FIRST, FIRST+STEP, ... up to LAST or until DEADLINE (in $SECONDS),
# one --wait 0 publish at a time; "PUB SEQ ID" for each id printed, and
# "PUB SEQ -" for a publish that printed none
lane() {
    local pub=$1 seq=$2 step=$3 last=$4 deadline=$5 out=$6 id
    for ((; seq <= last && SECONDS < deadline; seq += step)); do
        if id=$(echo "$pub $seq" | timeout 60 "$NODE" publish --dir "$T/$pub" --kind advisory \
                --tlp amber --to "org:$RECIPIENT" --type text/plain --wait 0 - 2>/dev/null) \
            && [ -n "$id" ]; then
            echo "$pub $seq $id"
        else
            echo "$pub $seq -"
        fi
    done >> "$out"
}

# phase N WHAT: publishes this phase's share of sequence numbers while
# WHAT (broker|recipient) is killed every 1-3 s; then drains and checks
phase() {
    local n=$1 what=$2 phase_start=$SECONDS
    local per=$(( (COUNT + ${#PUBLISHERS[@]} - 1) / ${#PUBLISHERS[@]} ))
    local first=$(( (n - 1) * per + 1 )) last=$(( n * per ))
    local deadline=$((SECONDS + TIME)) out="$T/sent.$n" lanes=() pub l
    : > "$out"
    for pub in "${PUBLISHERS[@]}"; do
        for ((l = 0; l < LANES; l++)); do
            lane "$pub" $((first + l)) "$LANES" "$last" "$deadline" "$out" &
            lanes+=($!)
            PIDS+=($!)
        done
    done
    # The kills, every 1-3 s, while any lane publishes
    local kills=0 alive
    while [ $kills -lt $MAX_KILLS ] && [ $SECONDS -lt $((deadline + 60)) ]; do
        alive=0
        for l in "${lanes[@]}"; do kill -0 "$l" 2>/dev/null && alive=1; done
        [ $alive = 1 ] || break
        sleep "$((RANDOM % 2 + 1)).$((RANDOM % 10))"   # 1.0 to 2.9 s
        if [ "$what" = broker ]; then
            broker_kill
            broker_start "$PORT"
        else
            node_kill "$RECIPIENT" 9
            node_start "$RECIPIENT"
        fi
        kills=$((kills + 1))
    done
    for l in "${lanes[@]}"; do wait "$l" || fail "a publishing lane failed"; done
    local publish_s=$((SECONDS - phase_start))

    # Drain: every outbox empty, every acknowledged message in the inbox
    local acked attempted
    attempted=$(wc -l < "$out")
    acked=$(awk '$3 != "-"' "$out" | wc -l)
    wait_for "$DRAIN" all_drained || fail "phase $n: outboxes did not drain within $DRAIN s"
    local want=$(( $(cat "$T"/sent.* | awk '$3 != "-"' | wc -l) ))
    wait_for "$DRAIN" 'test "$(inbox_count "$RECIPIENT")" -ge '"$want" \
        || echo "phase $n: inbox has $(inbox_count "$RECIPIENT") of $want acknowledged after $DRAIN s"

    # Every payload in the inbox, as the user sees it (tail --exec hands
    # each message's payload to the command)
    local total
    total=$(inbox_count "$RECIPIENT")
    "$NODE" tail --dir "$T/$RECIPIENT" --all --count "$total" --timeout 600 --exec cat \
        > "$T/payloads" || fail "tail of $total messages failed"
    # This phase's acknowledged messages, and everything any phase sent
    awk '$3 != "-" {print $1, $2}' "$out" | sort > "$T/want"
    cat "$T"/sent.* | awk '{print $1, $2}' | sort > "$T/sent_all"
    # The inbox's payloads of this phase's sequence range
    awk -v a="$first" -v b="$last" '$2 >= a && $2 <= b' "$T/payloads" | sort > "$T/got"
    local lost unexpected dups got unacked_arrived
    got=$(wc -l < "$T/got")
    lost=$(comm -23 "$T/want" <(sort -u "$T/got") | wc -l)
    dups=$(uniq -d "$T/got" | wc -l)
    # Anything in the whole inbox that nobody sent (bad payloads included)
    unexpected=$(comm -13 "$T/sent_all" <(sort -u "$T/payloads") | wc -l)
    unacked_arrived=$(( $(sort -u "$T/got" | wc -l) - (acked - lost) ))
    local rejected=0
    for pub in "${PUBLISHERS[@]}"; do rejected=$((rejected + $(outbox_rejected "$pub"))); done
    echo "phase $n ($what SIGKILLed $kills times, publishing ${publish_s} s, total $((SECONDS - phase_start)) s):" \
        "attempted $attempted, acknowledged $acked, in inbox $got," \
        "acknowledged lost $lost, unexpected $unexpected, duplicates $dups," \
        "unacknowledged but delivered $unacked_arrived, rejected by the broker $rejected"
    [ "$lost" -eq 0 ] || { comm -23 "$T/want" <(sort -u "$T/got") | head -n 5 >&2; fail "phase $n: $lost acknowledged messages lost"; }
    [ "$unexpected" -eq 0 ] || fail "phase $n: $unexpected unexpected messages in the inbox"
    [ "$dups" -eq 0 ] || fail "phase $n: $dups duplicates shown to the user"
    [ "$rejected" -eq 0 ] || fail "phase $n: the broker rejected $rejected publishes"
    [ "$acked" -ge "$MIN" ] || fail "phase $n: only $acked of $MIN messages acknowledged within $TIME s"
    [ "$kills" -gt 0 ] || fail "phase $n: the $what was never killed"
    pass "phase $n: $what killed $kills times; $acked acknowledged, lost 0, unexpected 0, duplicates 0"
}

phase 1 broker
phase 2 recipient
"$BROKER" audit verify --dir "$T/council"
pass "soak: both phases in $((SECONDS - started)) s"
