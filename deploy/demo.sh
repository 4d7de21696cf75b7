#!/usr/bin/env bash
# demo.sh - a whole certbus federation on loopback, in a temporary folder:
# the Council broker, national, government, federal, two provincial and two
# sectoral CERTs, and three organisations. Everyone is enrolled through the
# real CLI; then a few messages show what certbus does. `make demo` runs it;
# KEEP=1 leaves the federation running.
# Usage: deploy/demo.sh [BUILD_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "${1:-$here/../build}" && pwd)
BROKER=$BIN/certbus-broker
NODE=$BIN/certbus-node
EXAMPLES=$here/examples
KEEP=${KEEP:-0}
T=$(mktemp -d /tmp/certbus-demo.XXXXXX)
PIDS=()
start=$(date +%s)

stop_all() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
on_exit() {
    local rc=$?
    if [ "$KEEP" != 1 ] || [ $rc -ne 0 ]; then
        stop_all
        if [ $rc -eq 0 ]; then rm -rf "$T"; else echo "demo failed; logs are in $T" >&2; fi
    fi
    exit $rc
}
trap on_exit EXIT

say() { printf '\n== %s\n' "$*"; }
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until eval "$*"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}

say "the Council: key, broker identity, default policy ($T/council)"
"$BROKER" init --dir "$T/council" >/dev/null
"$BROKER" run --dir "$T/council" --bind 'tcp://127.0.0.1:*' --metrics 127.0.0.1:0 \
    >"$T/broker.log" 2>&1 &
PIDS+=($!)
wait_for 20 'test -s "$T/council/broker.endpoint"'
ENDPOINT=$(cat "$T/council/broker.endpoint")
echo "broker serving $ENDPOINT"

#   org                tier          sector    region
MEMBERS="
cert-national       national      -         -
cert-government     government    -         -
cert-federal        federal       -         -
cert-punjab         provincial    -         punjab
cert-sindh          provincial    -         sindh
cert-banking        sectoral      banking   -
cert-telecom        sectoral      telecom   -
bank-alpha          organization  banking   punjab
bank-beta           organization  banking   sindh
telco-gamma         organization  telecom   punjab
"
ORGS=$(echo "$MEMBERS" | awk 'NF { print $1 }')

say "enrolment: each member makes its keys, the Council signs its certificate"
while read -r org tier sector region; do
    [ -n "$org" ] || continue
    "$NODE" init --dir "$T/$org" --org "$org" >/dev/null
    args=(--tier "$tier")
    [ "$sector" = - ] || args+=(--sector "$sector")
    [ "$region" = - ] || args+=(--region "$region")
    "$BROKER" issue --dir "$T/council" "${args[@]}" "$T/$org/request" --out "$T/$org.cert"
done <<<"$MEMBERS"
"$BROKER" directory --dir "$T/council" --out "$T/directory"
for org in $ORGS; do
    "$NODE" enroll --dir "$T/$org" --cert "$T/$org.cert" --broker "$ENDPOINT" \
        --council "$T/council/council.pub" --broker-key "$T/council/broker.pub" \
        --directory "$T/directory" >/dev/null
done

say "every node starts its daemon and connects over CurveZMQ"
for org in $ORGS; do
    "$NODE" run --dir "$T/$org" >"$T/$org.log" 2>&1 &
    PIDS+=($!)
done
for org in $ORGS; do
    wait_for 30 '"$NODE" status --dir "$T/$org" --json 2>/dev/null | grep -q "\"connected\":true"' \
        || { echo "$org did not connect" >&2; exit 1; }
done
echo "$(echo "$ORGS" | wc -l) nodes connected"

say "the national CERT publishes a CSAF advisory to all"
m1=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp green --to all \
    --topic "GridSentinel RTU firmware upload" --severity critical \
    --type application/csaf+json "$EXAMPLES/csaf-advisory.json")
echo "accepted as $m1"

say "the banking CERT publishes indicators to sector:banking"
m2=$("$NODE" publish --dir "$T/cert-banking" --kind advisory --tlp amber --to sector:banking \
    --topic "intrusion indicators" --type application/stix+json "$EXAMPLES/stix-bundle.json")
echo "accepted as $m2"

say "bank-alpha reports an incident to its sectoral CERT and to tier:national"
m3=$("$NODE" publish --dir "$T/bank-alpha" --kind incident --tlp amber --severity high \
    --to org:cert-banking,tier:national --topic "phishing wave" --type text/plain \
    "$EXAMPLES/incident-report.txt")
echo "accepted as $m3 (case opened)"

say "telco-gamma tries to address all (organisations never may)"
if "$NODE" publish --dir "$T/telco-gamma" --kind advisory --tlp green --to all \
    "$EXAMPLES/incident-report.txt" >/dev/null 2>"$T/refusal"; then
    echo "unexpectedly accepted" >&2
    exit 1
fi
sed 's/^certbus-node: /  /' "$T/refusal"

# every delivery done: each expected recipient holds each message
expect() { # ID ORG...
    local id=$1; shift
    for org in "$@"; do
        wait_for 30 '"$NODE" show --dir "$T/$org" "$id" >/dev/null 2>&1' \
            || { echo "$org did not receive $id" >&2; exit 1; }
    done
}
expect "$m1" $(echo "$ORGS" | grep -v '^cert-national$')
expect "$m2" bank-alpha bank-beta
expect "$m3" cert-banking cert-national
for id in "$m1" "$m2" "$m3"; do
    case $id in "$m1") from=cert-national ;; "$m2") from=cert-banking ;; *) from=bank-alpha ;; esac
    wait_for 30 '! "$NODE" receipts --dir "$T/$from" "$id" --json | grep -q pending' \
        || { echo "receipts for $id incomplete" >&2; exit 1; }
done

say "who received what (verified, decrypted, stored)"
printf '%-16s %-14s %-16s %-14s\n' member "CSAF to all" "STIX to banking" "bank incident"
for org in $ORGS; do
    row=()
    for id in "$m1" "$m2" "$m3"; do
        if "$NODE" show --dir "$T/$org" "$id" >/dev/null 2>&1; then row+=(received)
        else row+=(-); fi
    done
    printf '%-16s %-14s %-16s %-14s\n' "$org" "${row[@]}"
done
cmp <("$NODE" show --dir "$T/bank-beta" "$m1") "$EXAMPLES/csaf-advisory.json" \
    && echo "(bank-beta's copy of the advisory is byte-identical to the original)"

say "receipts seen by each publisher"
for pair in "cert-national $m1" "cert-banking $m2" "bank-alpha $m3"; do
    set -- $pair
    "$NODE" receipts --dir "$T/$1" "$2" | tail -n 1 | sed "s/^/  $1: /"
done

say "the Council's audit log"
"$BROKER" audit list --dir "$T/council" --json | grep -c . | sed 's/^/  records: /'
"$BROKER" audit list --dir "$T/council" | grep ' reject ' | sed 's/^/  /'
"$BROKER" audit verify --dir "$T/council" | sed 's/^/  /'

elapsed=$(( $(date +%s) - start ))
if [ "$KEEP" = 1 ]; then
    metrics_port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | head -n 1)
    cat <<MSG

== the federation is still running ($elapsed s to get here); explore it:
  $NODE inbox --dir $T/bank-beta
  $NODE tail --dir $T/bank-alpha --json
  $NODE incident show --dir $T/cert-national $m3
  $BROKER status --dir $T/council
  $BROKER report --dir $T/council
  curl http://127.0.0.1:$metrics_port/metrics
stop it with: kill ${PIDS[*]}; rm -rf $T
MSG
else
    stop_all
    echo
    echo "demo finished in $elapsed s; every process stopped"
fi
