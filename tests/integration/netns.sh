# netns.sh - the federation across hosts: a Council host, two CERT hosts
# and an organisation host in network namespaces; the organisation's link
# is cut during a burst and restored: nothing is lost. Root only.
source "$(dirname "$0")/lib.sh"

TOPO=$(cd "$(dirname "$0")/../../deploy/netns" && pwd)/topology.sh
P=cb$$
if [ "$(id -u)" -ne 0 ] || ! ip netns add "$P-probe" 2>/dev/null; then
    echo "skipped: needs root and ip netns (network namespaces)"
    exit 77
fi
ip netns del "$P-probe"
trap '"$TOPO" down "$P"; cleanup' EXIT
"$TOPO" up "$P"

council_init
"$TOPO" exec "$P" council "$BROKER" run --dir "$T/council" --bind tcp://10.77.0.1:7447 \
    --heartbeat 200 --peer-timeout 3000 >>"$T/broker.log" 2>&1 &
BROKER_PID=$!
wait_for 20 'test -s "$T/council/broker.endpoint"' || fail "broker did not start"
ENDPOINT=tcp://10.77.0.1:7447
member cert-national national
member cert-banking sectoral banking
member bank-01 organization banking punjab
enroll_all cert-national cert-banking bank-01
declare -A HOST=([cert-national]=cert1 [cert-banking]=cert2 [bank-01]=org)
for org in cert-national cert-banking bank-01; do
    "$TOPO" exec "$P" "${HOST[$org]}" "$NODE" run --dir "$T/$org" >>"$T/$org.log" 2>&1 &
    NODE_PIDS[$org]=$!
    wait_for 30 'node_connected "$org"' || fail "$org did not connect across the network"
done
pass "broker on 10.77.0.1, nodes on three other hosts, connected over CurveZMQ"

COUNT=300
seq 1 $COUNT | xargs -P 4 -I{} sh -c "echo 'message {}' | '$NODE' publish --dir '$T/cert-national' \
    --kind advisory --tlp amber --to org:bank-01 --wait 0 - 2>/dev/null" > "$T/ids" &
burst=$!
wait_for 60 'test "$(inbox_count bank-01)" -ge 50' || fail "burst did not start"
"$TOPO" cut "$P" org
echo "cut the organisation host's link with $(inbox_count bank-01) messages in"
wait "$burst"
sleep 2   # the outage itself: the link stays down while the burst is queued
[ "$(inbox_count bank-01)" -lt $COUNT ] || echo "note: every message arrived before the cut"
"$TOPO" restore "$P" org
wait_for 120 'test "$(inbox_count bank-01)" -ge $COUNT' \
    || fail "after the link came back bank-01 has $(inbox_count bank-01) of $COUNT"
"$NODE" inbox --dir "$T/bank-01" --json | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort > "$T/got"
sort "$T/ids" > "$T/want"
lost=$(comm -23 "$T/want" "$T/got" | wc -l)
dups=$(uniq -d "$T/got" | wc -l)
echo "sent $(wc -l < "$T/want"), received $(wc -l < "$T/got"), lost $lost, duplicates $dups"
[ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] || fail "lost $lost, duplicates $dups"
pass "link cut and restored during a burst: nothing lost, nothing doubled"
