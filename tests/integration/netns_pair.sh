# netns_pair.sh - a Council broker pair across hosts: broker A, broker B
# and a PostgreSQL host in network namespaces, three member nodes on
# three more. During a burst from two publishers the active broker's link
# is cut: the standby takes over when the lease ends, the nodes move to
# it, the cut broker steps down, and nothing acknowledged is lost or
# shown twice; `audit verify` passes on the shared database. Root only.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../lib/pgtmp_net.sh
source "$(dirname "$0")/../lib/pgtmp_net.sh"

TOPO=$(cd "$(dirname "$0")/../../deploy/netns" && pwd)/topology.sh
P=cp$$
if [ "$(id -u)" -ne 0 ] || ! ip netns add "$P-probe" 2>/dev/null; then
    echo "skipped: needs root and ip netns (network namespaces)"
    exit 77
fi
ip netns del "$P-probe"
# At exit: our processes, the cluster, the namespaces, then lib.sh's
# cleanup (which shows the logs when the exit status says failure)
stop_all() {
    local p
    for p in "${PIDS[@]}" "${NODE_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
# (set +e: under set -e the trap would end at the first failing step)
AT_EXIT='s_rc=$?; set +e; stop_all; pgtmp_stop; "$TOPO" down "$P"; (exit $s_rc); cleanup'
# shellcheck disable=SC2064  # AT_EXIT is single-quoted: it expands at exit
trap "$AT_EXIT" EXIT
"$TOPO" up-pair "$P"

LEASE_MS=3000
A_IP=10.77.0.2 B_IP=10.77.0.3 DB_IP=10.77.0.31
A_DIR=$T/council B_DIR=$T/council-b
# The server drops a half-open session in seconds, as deploy/ha's Patroni
# configuration has it (otherwise a cut broker's backend lingers for hours)
# (PAIR_SERVER_KEEPALIVES=0 runs without them, to see the difference)
if [ "${PAIR_SERVER_KEEPALIVES:-1}" = 1 ]; then
    PGTMP_NET_OPTS="-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
    PGTMP_NET_OPTS+=" -c tcp_user_timeout=10000"
fi
pgtmp_net_start "$P-db" "$DB_IP" 10.77.0.0/24
# shellcheck disable=SC2064
trap "$AT_EXIT" EXIT   # pgtmp_net_start put pgtmp_stop first; keep our order
pass "PostgreSQL on the database host, $PGTMP_URL"
STORE="$PGTMP_URL/certbus"

# Every Council command reaches the database from a broker host: lib.sh's
# helpers (member, enroll_all) call $BROKER, here a wrapper run on host A
REAL_BROKER=$BROKER
for host in brokera brokerb; do
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$P-$host" "$REAL_BROKER" >"$T/on-$host"
    chmod 755 "$T/on-$host"
done
BROKER=$T/on-brokera
BROKER_B=$T/on-brokerb

"$BROKER" init --dir "$A_DIR" --store "$STORE" >/dev/null || fail "init --store $STORE"
grep -q 'postgresql://' "$A_DIR/broker.conf" || fail "broker.conf does not record the store URL"
"$BROKER" pair --dir "$A_DIR" --out "$B_DIR" >/dev/null || fail "pair --out $B_DIR"
[ ! -e "$B_DIR/council.secret" ] || fail "pair copied council.secret"
pass "init on host A with the PostgreSQL store; pair folder for host B, without council.secret"

# run_broker HOST DIR IP LOG: a broker of the pair on HOST; sets RUN_PID
run_broker() {
    "$TOPO" exec "$P" "$1" "$REAL_BROKER" run --dir "$2" --bind "tcp://$3:7447" \
        --lease "$LEASE_MS" --heartbeat 200 --peer-timeout 3000 >>"$4" 2>&1 &
    RUN_PID=$!
    PIDS+=("$RUN_PID")
}
run_broker brokera "$A_DIR" "$A_IP" "$T/broker-a.log"
A_PID=$RUN_PID
wait_for 30 'test -s "$A_DIR/broker.endpoint"' || fail "broker A did not become active"
run_broker brokerb "$B_DIR" "$B_IP" "$T/broker-b.log"
B_PID=$RUN_PID
wait_for 30 'grep -q "standby" "$T/broker-b.log" 2>/dev/null' || fail "broker B did not report standby"
[ ! -e "$B_DIR/broker.endpoint" ] || fail "standby B wrote broker.endpoint"
pass "broker A active on $A_IP, broker B standby on $B_IP"

# role_of DIR WRAPPER: the role `status --json` reports
role_of() {
    "$2" status --dir "$1" --json 2>/dev/null | sed -n 's/.*"role":"\([a-z]*\)".*/\1/p'
}
epoch_of() {
    "$2" status --dir "$1" --json 2>/dev/null | json_field lease_epoch
}
[ "$(role_of "$A_DIR" "$BROKER")" = active ] || fail "status on A does not say active"
EPOCH_BEFORE=$(epoch_of "$A_DIR" "$BROKER")

ENDPOINT=tcp://$A_IP:7447,tcp://$B_IP:7447
member cert-national national
member cert-banking sectoral banking
member bank-01 organization banking punjab
enroll_all cert-national cert-banking bank-01
declare -A HOST=([cert-national]=cert1 [cert-banking]=cert2 [bank-01]=org)
for org in cert-national cert-banking bank-01; do
    "$TOPO" exec "$P" "${HOST[$org]}" "$NODE" run --dir "$T/$org" >>"$T/$org.log" 2>&1 &
    NODE_PIDS[$org]=$!
    wait_for 30 'node_connected "$org"' || fail "$org did not connect to broker A"
done
pass "three nodes on three hosts, enrolled with both endpoints, connected to A"

# The burst: two publishers, COUNT messages each, to bank-01. --wait 0
# hands each to the node's outbox, so the burst goes on through the cut.
COUNT=${PAIR_COUNT:-200}
publish_burst() {
    local org=$1
    seq 1 "$COUNT" | xargs -P 3 -I{} sh -c "echo '$org message {}' | '$NODE' publish \
        --dir '$T/$org' --kind advisory --tlp amber --to org:bank-01 --wait 0 - 2>/dev/null" \
        >"$T/ids.$org"
}
publish_burst cert-national &
burst1=$!
publish_burst cert-banking &
burst2=$!
wait_for 90 'test "$(inbox_count bank-01)" -ge 50' || fail "burst did not start"
"$TOPO" cut "$P" brokera
CUT_AT=$SECONDS
echo "cut broker A's link with $(inbox_count bank-01) messages in bank-01's inbox"

# B takes over once A's lease has ended (A's database session is
# half-open, not gone), binds, and the nodes find it
wait_for 90 'test -s "$B_DIR/broker.endpoint"' || fail "broker B did not take over after the cut"
grep -q "serving" "$T/broker-b.log" || fail "broker B wrote broker.endpoint but never said serving"
echo "B serving about $((SECONDS - CUT_AT)) s after the cut (lease $LEASE_MS ms)"
pass "standby B took over the lease after A's link was cut"
wait "$burst1" || fail "burst from cert-national failed"
wait "$burst2" || fail "burst from cert-banking failed"

outbox_pending() {
    "$NODE" status --dir "$T/$1" --json | json_field outbox_pending
}
TOTAL=$((2 * COUNT))
for org in cert-national cert-banking; do
    wait_for 180 'test "$(outbox_pending "$org")" = 0' \
        || fail "$org's outbox did not drain: $(outbox_pending "$org") pending"
done
wait_for 180 'test "$(inbox_count bank-01)" -ge $TOTAL' \
    || fail "bank-01 has $(inbox_count bank-01) of $TOTAL after the failover"
sessions=$("$BROKER_B" status --dir "$B_DIR" --json)
for org in cert-national cert-banking bank-01; do
    echo "$sessions" | grep -q "\"org\":\"$org\"" || fail "$org has no session on broker B"
done
pass "every node moved to broker B"

"$NODE" inbox --dir "$T/bank-01" --json | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort >"$T/got"
sort "$T/ids.cert-national" "$T/ids.cert-banking" >"$T/want"
sent=$(wc -l <"$T/want")
lost=$(comm -23 "$T/want" "$T/got" | wc -l)
dups=$(uniq -d "$T/got" | wc -l)
extra=$(comm -13 "$T/want" "$T/got" | sort -u | wc -l)
echo "sent $sent, received $(wc -l <"$T/got"), lost $lost, duplicates $dups, unexpected $extra"
[ "$sent" -eq "$TOTAL" ] || fail "only $sent of $TOTAL publishes returned an id"
[ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$extra" -eq 0 ] \
    || fail "lost $lost, duplicates $dups, unexpected $extra"
pass "active broker's link cut during a burst: lost 0, duplicates 0"

# A, cut off, cannot renew: it must step down on its own and stop serving
wait_for 120 'grep -q "stepping down" "$T/broker-a.log"' \
    || fail "cut broker A never stepped down"
echo "A stepped down at most $((SECONDS - CUT_AT)) s after the cut"
wait_for 30 'test ! -e "$A_DIR/broker.endpoint"' || fail "A stepped down but kept broker.endpoint"
kill -0 "$A_PID" 2>/dev/null || fail "broker A exited instead of going back to standby"
echo "A: $(grep -m 1 'stepping down' "$T/broker-a.log")"
pass "cut broker A stepped down and removed broker.endpoint"

[ "$(role_of "$B_DIR" "$BROKER_B")" = active ] || fail "status on B does not say active"
EPOCH_AFTER=$(epoch_of "$B_DIR" "$BROKER_B")
if [ -n "$EPOCH_BEFORE" ] && [ -n "$EPOCH_AFTER" ]; then
    [ "$EPOCH_AFTER" -gt "$EPOCH_BEFORE" ] \
        || fail "lease epoch $EPOCH_AFTER after the takeover is not above $EPOCH_BEFORE"
    echo "lease epoch $EPOCH_BEFORE on A, $EPOCH_AFTER on B"
fi

# A's link back: A stays standby, B stays active
"$TOPO" restore "$P" brokera
wait_for 60 'test "$(role_of "$A_DIR" "$BROKER")" = standby' \
    || fail "A is '$(role_of "$A_DIR" "$BROKER")' after its link came back, not standby"
[ -s "$B_DIR/broker.endpoint" ] || fail "B lost the lease when A came back"
pass "A's link restored: A standby, B active"

out=$("$BROKER_B" audit verify --dir "$B_DIR" 2>&1) || { echo "$out"; fail "audit verify on B"; }
echo "$out" | tail -n 3
out=$("$BROKER" audit verify --dir "$A_DIR" 2>&1) || { echo "$out"; fail "audit verify on A"; }
pass "audit verify passes on either broker host, over the shared database"
kill "$A_PID" "$B_PID" 2>/dev/null || true
