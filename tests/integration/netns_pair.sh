# netns_pair.sh - a Council broker pair across hosts: broker A, broker B
# and a PostgreSQL host in network namespaces, three member nodes on
# three more. During a burst from two publishers the active broker's link
# is cut: the standby takes over when the lease ends, the nodes move to
# it, the cut broker steps down, and nothing acknowledged is lost or
# shown twice; `audit verify` passes on the shared database. Root only.
#
# PAIR_DB=patroni runs deploy/ha's replicated database instead of one
# server (deploy/netns/ha-db.sh: three etcd members, Patroni on two
# PostgreSQL hosts, synchronous_mode_strict, TLS and passwords) and adds
# a second burst, during which the database primary is SIGKILLed:
# Patroni promotes the synchronous standby, the brokers follow it through
# the multi-host URL, the killed host rejoins, and again nothing is lost.
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
HA_DB=$(cd "$(dirname "$0")/../../deploy/netns" && pwd)/ha-db.sh
HA_WORK=
ha_down() {
    [ -n "$HA_WORK" ] || return 0
    "$HA_DB" down "$P" "$HA_WORK"
    [ "${PAIR_KEEP:-0}" = 1 ] && echo "kept $HA_WORK" || rm -rf "$HA_WORK"
}
# (set +e: under set -e the trap would end at the first failing step)
AT_EXIT='s_rc=$?; set +e; stop_all; pgtmp_stop; ha_down; "$TOPO" down "$P"; (exit $s_rc); cleanup'
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
if [ "${PAIR_DB:-single}" = patroni ]; then
    # The servers' user must reach the folder: not under $T (0700)
    HA_WORK=$(mktemp -d /tmp/certbus-ha.XXXXXX)
    "$HA_DB" up "$P" "$HA_WORK" >"$T/ha-db.log" 2>&1 || { cat "$T/ha-db.log"; fail "ha-db.sh up"; }
    tail -n 1 "$T/ha-db.log"
    STORE=$(cat "$HA_WORK/store.url")
    export PGPASSFILE=$HA_WORK/pgpass   # the brokers' password, as deploy/ha's unit sets it
    pass "deploy/ha's database: etcd on three hosts, Patroni on db1 and db2, synchronous standby"
else
    pgtmp_net_start "$P-db" "$DB_IP" 10.77.0.0/24
    # shellcheck disable=SC2064
    trap "$AT_EXIT" EXIT   # pgtmp_net_start put pgtmp_stop first; keep our order
    pass "PostgreSQL on the database host, $PGTMP_URL"
    STORE="$PGTMP_URL/certbus"
fi

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
grep -qF "url = \"$STORE\"" "$A_DIR/broker.conf" || fail "broker.conf does not record the store URL"
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
    local round=$1 org=$2
    seq 1 "$COUNT" | xargs -P 3 -I{} sh -c "echo '$org round $round message {}' | '$NODE' \
        publish --dir '$T/$org' --kind advisory --tlp amber --to org:bank-01 --wait 0 - \
        2>/dev/null" >"$T/ids.$round.$org"
}
outbox_pending() {
    "$NODE" status --dir "$T/$1" --json | json_field outbox_pending
}
# check_all ROUNDS WHAT: every id the publishers got in rounds 1..ROUNDS
# is in bank-01's inbox once, and nothing else is
check_all() {
    local rounds=$1 what=$2 total=$(($1 * 2 * COUNT)) org
    for org in cert-national cert-banking; do
        wait_for 240 'test "$(outbox_pending "$org")" = 0' \
            || fail "$org's outbox did not drain: $(outbox_pending "$org") pending"
    done
    wait_for 240 'test "$(inbox_count bank-01)" -ge $total' \
        || fail "bank-01 has $(inbox_count bank-01) of $total after $what"
    "$NODE" inbox --dir "$T/bank-01" --json | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort >"$T/got"
    local r files=()
    for ((r = 1; r <= rounds; r++)); do files+=("$T/ids.$r.cert-national" "$T/ids.$r.cert-banking"); done
    sort "${files[@]}" >"$T/want"
    local sent lost dups extra
    sent=$(wc -l <"$T/want")
    lost=$(comm -23 "$T/want" "$T/got" | wc -l)
    dups=$(uniq -d "$T/got" | wc -l)
    extra=$(comm -13 "$T/want" "$T/got" | sort -u | wc -l)
    echo "after $what: sent $sent, received $(wc -l <"$T/got"), lost $lost," \
        "duplicates $dups, unexpected $extra"
    [ "$sent" -eq "$total" ] || fail "only $sent of $total publishes returned an id"
    [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$extra" -eq 0 ] \
        || fail "lost $lost, duplicates $dups, unexpected $extra"
}
publish_burst 1 cert-national &
burst1=$!
publish_burst 1 cert-banking &
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

check_all 1 "the cut"
sessions=$("$BROKER_B" status --dir "$B_DIR" --json)
for org in cert-national cert-banking bank-01; do
    echo "$sessions" | grep -q "\"org\":\"$org\"" || fail "$org has no session on broker B"
done
pass "every node moved to broker B"
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

if [ -n "$HA_WORK" ]; then
    # Round 2: the database primary is SIGKILLed during a burst. Patroni
    # promotes the synchronous standby once the leader key's ttl ends; the
    # brokers' sessions fail, they find the new primary through the URL's
    # second host (a broker may lose its lease meanwhile and either one
    # may hold it after). With two database hosts and strict mode, writes
    # wait until the killed host is back as the synchronous standby.
    publish_burst 2 cert-national &
    burst1=$!
    publish_burst 2 cert-banking &
    burst2=$!
    wait_for 90 'test "$(inbox_count bank-01)" -ge $((2 * COUNT + 50))' || fail "round 2 did not start"
    new=
    old=$("$HA_DB" leader "$P" "$HA_WORK") || fail "no database primary before round 2"
    "$HA_DB" kill "$P" "$HA_WORK" "$old"
    KILL_AT=$SECONDS
    echo "SIGKILLed Patroni and PostgreSQL on $old with $(inbox_count bank-01) messages in"
    wait_for 120 'new=$("$HA_DB" leader "$P" "$HA_WORK") && [ "$new" != "$old" ]' \
        || fail "the standby was not promoted after $old was killed"
    echo "$new primary about $((SECONDS - KILL_AT)) s after the kill"
    "$HA_DB" start "$P" "$HA_WORK" "$old"
    wait_for 180 'test "$("$HA_DB" sync "$P" "$HA_WORK")" = "$old"' \
        || fail "$old did not rejoin as the synchronous standby"
    echo "$old back as synchronous standby about $((SECONDS - KILL_AT)) s after the kill"
    wait "$burst1" || fail "round 2 burst from cert-national failed"
    wait "$burst2" || fail "round 2 burst from cert-banking failed"
    wait_for 60 'test -s "$A_DIR/broker.endpoint" || test -s "$B_DIR/broker.endpoint"' \
        || fail "no broker active after the database failover"
    check_all 2 "the database failover"
    pass "database primary SIGKILLed during a burst: promoted standby, lost 0, duplicates 0"
    out=$("$BROKER" audit verify --dir "$A_DIR" 2>&1) || { echo "$out"; fail "audit verify"; }
    echo "$out" | tail -n 1
    pass "audit verify passes after the database failover"
fi
kill "$A_PID" "$B_PID" 2>/dev/null || true
