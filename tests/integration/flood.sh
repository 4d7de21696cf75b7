# flood.sh - hostile connections while good traffic flows. During a burst
# of 500 messages from a national CERT to a bank (CLI publish --wait 0, 4
# in parallel, as crash.sh does), 200 raw TCP connections send garbage to
# the broker port (50 of them stay open, half-way through a greeting, until
# the burst is over) and 100 CURVE handshakes come with keys the Council
# never signed. The good traffic must complete: every message in the
# bank's inbox exactly once, the outbox drained, nothing lost. Only
# 127.0.0.1; every loop is bounded in count and time.
source "$(dirname "$0")/lib.sh"

COUNT=${FLOOD_COUNT:-500}
GARBAGE=${FLOOD_GARBAGE:-200}
HELD=${FLOOD_HELD:-50}
STRANGERS=${FLOOD_STRANGERS:-100}
started=$SECONDS

# The stranger helper: tests/tools/curve_stranger.c, built by make tests
STRANGER=$BIN/tools/curve_stranger
[ -x "$STRANGER" ] || fail "$STRANGER is missing (make tests builds it)"

council_init
broker_start
[[ "$ENDPOINT" == tcp://127.0.0.1:* ]] || fail "broker is not on 127.0.0.1: $ENDPOINT"
member cert-national national
member bank-01 organization banking punjab
enroll_all cert-national bank-01
node_start cert-national
node_start bank-01

outbox_pending() {
    "$NODE" status --dir "$T/cert-national" --json | json_field outbox_pending
}
broker_json() {
    "$BROKER" status --dir "$T/council" --json
}

# garbage_one N: one raw TCP connection with the Nth kind of garbage
garbage_one() {
    local n=$1
    {
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
        case $((n % 5)) in
            0) head -c $((64 + n * 13 % 4000)) /dev/urandom >&3 ;;
            1) printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3 ;;
            # a ZMTP 3.0 greeting with the NULL mechanism (the broker is CURVE)
            2) printf '\xff\0\0\0\0\0\0\0\1\x7f\3\0NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >&3 ;;
            # a CURVE greeting, then a HELLO command full of noise
            3) printf '\xff\0\0\0\0\0\0\0\1\x7f\3\0CURVE\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >&3
               printf '\4\xc8\5HELLO\1\0' >&3
               head -c 192 /dev/urandom >&3 ;;
            # a greeting claiming a gigantic long frame
            4) printf '\xff\0\0\0\0\0\0\0\1\x7f\3\0CURVE\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >&3
               printf '\6\x7f\xff\xff\xff\xff\xff\xff\xff' >&3
               head -c 1000 /dev/urandom >&3 ;;
        esac
        exec 3>&-
    } 2>/dev/null
}

# garbage_flood: GARBAGE - HELD quick connections; prints how many connected
garbage_flood() {
    trap '' PIPE   # the broker hangs up on garbage: a write may meet a closed socket
    local i ok=0 end=$((SECONDS + 120))
    for ((i = 0; i < GARBAGE - HELD && SECONDS < end; i++)); do
        garbage_one "$i" && ok=$((ok + 1))
    done
    echo "$ok" > "$T/garbage.ok"
}

# publish_burst: COUNT good messages, ids to a file
publish_burst() {
    seq 1 "$COUNT" | xargs -P 4 -I{} sh -c \
        "echo 'flood message {}' | timeout 60 '$NODE' publish --dir '$T/cert-national' --kind advisory \
            --tlp amber --to org:bank-01 --type text/plain --wait 0 - 2>/dev/null" \
        > "$T/ids"
}

# Half-open connections, held by this shell until the burst is over: the
# first 12 bytes of a greeting, then nothing
trap '' PIPE
held=()
for ((i = 0; i < HELD; i++)); do
    if exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
        printf '\xff\0\0\0\0\0\0\0\1\x7f\3\0' >&$fd 2>/dev/null || true
        held+=("$fd")
    fi
done
echo "held open: ${#held[@]} half-greeted connections"

publish_burst &
burst=$!
PIDS+=("$burst")
# The floods start once good traffic is flowing, so they hit it mid-burst
wait_for 120 'test "$(inbox_count bank-01)" -ge $((COUNT / 10))' || fail "the burst did not start"
echo "flood starts with $(inbox_count bank-01) of $COUNT good messages delivered"
garbage_flood &
garbage=$!
timeout 120 "$STRANGER" "$ENDPOINT" "$T/council/broker.pub" "$STRANGERS" 10 \
    > "$T/strangers.out" 2>&1 &
strangers=$!
PIDS+=("$garbage" "$strangers")

wait "$garbage" || fail "garbage flood failed"
strangers_rc=0
wait "$strangers" || strangers_rc=$?
echo "flood over with $(inbox_count bank-01) of $COUNT good messages delivered"
wait "$burst" || fail "publish burst failed"
for fd in "${held[@]}"; do exec {fd}>&-; done

cat "$T/strangers.out"
echo "garbage: $(cat "$T/garbage.ok") of $((GARBAGE - HELD)) quick connections made"
[ "$strangers_rc" -eq 0 ] || fail "a CURVE stranger was not refused cleanly: $(cat "$T/strangers.out")"
grep -q "^strangers: $STRANGERS refused, 0 admitted, 0 undecided, 0 replies" "$T/strangers.out" \
    || fail "strangers: $(cat "$T/strangers.out")"
kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker died under the flood"

# The good traffic completes, exactly once
wait_for 120 'test "$(outbox_pending)" = 0' || fail "outbox did not drain: $(outbox_pending) pending"
wait_for 120 'test "$(inbox_count bank-01)" -ge "$COUNT"' \
    || fail "bank-01 has $(inbox_count bank-01) of $COUNT"
"$NODE" inbox --dir "$T/bank-01" --json | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort > "$T/got"
sort "$T/ids" > "$T/want"
sent=$(wc -l < "$T/want")
lost=$(comm -23 "$T/want" "$T/got" | wc -l)
unexpected=$(comm -13 "$T/want" "$T/got" | wc -l)
dups=$(uniq -d "$T/got" | wc -l)
echo "good traffic: sent $sent, in inbox $(wc -l < "$T/got"), lost $lost, unexpected $unexpected, duplicates $dups"
[ "$sent" -eq "$COUNT" ] || fail "only $sent of $COUNT publishes returned an id"
[ "$lost" -eq 0 ] || fail "$lost acknowledged messages lost"
[ "$unexpected" -eq 0 ] || fail "$unexpected unexpected messages in the inbox"
[ "$dups" -eq 0 ] || fail "$dups duplicates shown to the user"

# Nothing of the flood reached the broker's handlers: no bad packet, no
# refused member frame; the ZAP handler logged each stranger
stats=$(broker_json)
bad=$(echo "$stats" | json_field bad_packets)
refused=$(echo "$stats" | json_field refused_frames)
accepted=$(echo "$stats" | json_field accepted)
zap=$(grep -c "refused transport key" "$T/broker.log" || true)
echo "broker: accepted $accepted, bad_packets $bad, refused_frames $refused, ZAP refusals logged $zap"
[ "$bad" = 0 ] || fail "garbage reached the broker's packet handler ($bad bad packets)"
[ "$refused" = 0 ] || fail "a stranger's frame reached the broker ($refused refused frames)"
[ "$zap" -ge "$STRANGERS" ] || fail "ZAP logged $zap refusals for $STRANGERS strangers"
pass "flood: $COUNT good messages delivered exactly once during $GARBAGE garbage connections and $STRANGERS CURVE strangers ($((SECONDS - started)) s)"
