# crash.sh - durability under SIGKILL. A burst of messages from one CERT to
# a bank; first the broker is killed mid-burst and restarted, then the
# recipient node. Every acknowledged message must reach the bank's inbox
# exactly once, and the publisher's outbox must drain by itself.
source "$(dirname "$0")/lib.sh"

# The sanitizer pass checks memory safety, not volume: a smaller burst
if [ "${SANITIZE_BUILD:-0}" = 1 ]; then COUNT=${CRASH_COUNT:-500}; else COUNT=${CRASH_COUNT:-2000}; fi
council_init
broker_start
member cert-national national
member bank-01 organization banking punjab
enroll_all cert-national bank-01
node_start cert-national
node_start bank-01

# publish ROUND: COUNT messages, 4 publishers in parallel, ids to a file.
# --wait 0 hands each message to the daemon's outbox and returns, so the
# burst keeps going while the broker is down.
publish_burst() {
    local round=$1
    seq 1 "$COUNT" | xargs -P 4 -I{} sh -c \
        "echo 'round $round message {}' | '$NODE' publish --dir '$T/cert-national' --kind advisory \
            --tlp amber --to org:bank-01 --type text/plain --wait 0 - 2>/dev/null" \
        > "$T/ids.$round"
}

outbox_pending() {
    "$NODE" status --dir "$T/cert-national" --json | json_field outbox_pending
}

# check ROUND EXPECTED_TOTAL: all ids of the round are in the inbox once
check_round() {
    local round=$1 total=$2
    wait_for 120 'test "$(outbox_pending)" = 0' || fail "outbox did not drain: $(outbox_pending) pending"
    wait_for 120 'test "$(inbox_count bank-01)" -ge "$total"' \
        || fail "bank-01 has $(inbox_count bank-01) of $total"
    "$NODE" inbox --dir "$T/bank-01" --json | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort > "$T/got"
    sort "$T/ids.$round" > "$T/want"
    local sent lost dups
    sent=$(wc -l < "$T/want")
    [ "$sent" -eq "$COUNT" ] || fail "only $sent of $COUNT publishes returned an id"
    lost=$(comm -23 "$T/want" "$T/got" | wc -l)
    dups=$(uniq -d "$T/got" | wc -l)
    echo "round $round: sent $sent, in inbox $(wc -l < "$T/got"), lost $lost, duplicates $dups"
    [ "$lost" -eq 0 ] || fail "$lost acknowledged messages lost"
    [ "$dups" -eq 0 ] || fail "$dups duplicates shown to the user"
    [ "$(wc -l < "$T/got")" -eq "$total" ] || fail "unexpected messages in the inbox"
}

# Round 1: SIGKILL the broker once a quarter of the burst has arrived
publish_burst 1 &
burst=$!
wait_for 120 'test "$(inbox_count bank-01)" -ge $((COUNT / 4))' || fail "burst did not start"
broker_kill
echo "broker killed with $(inbox_count bank-01) messages in the inbox"
broker_start "$PORT"
wait "$burst" || fail "publish burst failed"
check_round 1 "$COUNT"
pass "broker SIGKILLed mid-burst: lost 0, duplicates 0"

# Round 2: SIGKILL the recipient mid-stream, then restart it
publish_burst 2 &
burst=$!
wait_for 120 'test "$(inbox_count bank-01)" -ge $((COUNT + COUNT / 4))' || fail "round 2 did not start"
node_kill bank-01 9
echo "bank-01 killed with $(inbox_count bank-01) messages in the inbox"
wait "$burst" || fail "publish burst failed"
node_start bank-01
check_round 2 $((2 * COUNT))
pass "recipient SIGKILLed mid-stream: lost 0, duplicates 0"
