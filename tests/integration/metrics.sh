# metrics.sh - after a scripted workload the broker's /metrics counters
# equal what the test did; /healthz answers; promtool accepts the format
# where it is installed.
BROKER_ARGS="--metrics 127.0.0.1:0"
source "$(dirname "$0")/lib.sh"

council_init
broker_start
PORT_METRICS=$(sed -n 's/.*metrics on .*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | tail -n 1)
[ -n "$PORT_METRICS" ] || fail "no metrics port in the log"
member cert-national national
member bank-01 organization banking punjab
member bank-02 organization banking sindh
enroll_all cert-national bank-01 bank-02
for org in cert-national bank-01 bank-02; do node_start "$org"; done

fetch() {
    python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT_METRICS$1').read().decode())"
}
metric() {
    fetch /metrics | awk -v m="$1" '$1 == m { print $2 }'
}

echo "advisory" > "$T/a.txt"
for i in 1 2 3; do
    "$NODE" publish --dir "$T/cert-national" --kind advisory --tlp green --to sector:banking "$T/a.txt" >/dev/null
done
for i in 1 2; do
    "$NODE" publish --dir "$T/bank-01" --kind advisory --tlp green --to all "$T/a.txt" >/dev/null 2>&1 \
        && fail "an organisation addressed all"
done
# 3 advisories to 2 banks: 6 deliveries, then 6 receipts back to national
wait_for 20 '[ "$(metric "certbus_messages_received_total{kind=\"receipt\"}")" = 6 ]' \
    || fail "receipts: $(metric 'certbus_messages_received_total{kind="receipt"}')"
wait_for 20 '[ "$(metric certbus_delivery_acks_total)" = 12 ]' || fail "acks $(metric certbus_delivery_acks_total)"
[ "$(metric 'certbus_messages_received_total{kind="advisory"}')" = 3 ] || fail "advisories"
[ "$(metric 'certbus_publishes_total{decision="accept",reason=""}')" = 9 ] || fail "accepts"
[ "$(metric 'certbus_publishes_total{decision="reject",reason="policy"}')" = 2 ] || fail "policy rejects"
[ "$(metric certbus_deliveries_total)" = 12 ] || fail "deliveries $(metric certbus_deliveries_total)"
[ "$(metric certbus_publish_commit_seconds_count)" = 9 ] || fail "commit histogram"
[ "$(metric 'certbus_members_connected{tier="organization"}')" = 2 ] || fail "connected orgs"
[ "$(metric certbus_members)" = 3 ] || fail "members"
[ "$(fetch /healthz)" = ok ] || fail "healthz"
pass "counters equal the workload: 3 advisories, 2 refusals, 6 deliveries, 6 receipts"

if command -v promtool >/dev/null 2>&1; then
    fetch /metrics | promtool check metrics || fail "promtool rejects the exposition"
    pass "promtool check metrics"
else
    echo "note: promtool not installed; format not cross-checked"
fi
