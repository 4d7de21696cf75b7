# examples.sh - the payloads in deploy/examples travel as deploy/examples/
# README.md says, under the default policy: the national CERT's CSAF
# advisory to all, its STIX alert to the energy sector, a bank's incident
# report to the national tier and its sectoral CERT. Each recipient gets
# the bytes that were sent, with the content type they were sent with;
# nobody else gets them.
source "$(dirname "$0")/lib.sh"

EXAMPLES=$(cd "$(dirname "$0")/../../deploy/examples" && pwd)

council_init
broker_start
ORGS="cert-national cert-banking cert-energy bank-01 grid-01"
member cert-national national
member cert-banking sectoral banking
member cert-energy sectoral energy
member bank-01 organization banking punjab
member grid-01 organization energy sindh
enroll_all $ORGS
for org in $ORGS; do node_start "$org"; done
pass "broker and 5 nodes connected"

csaf=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp green --to all \
    --topic "EXAMPLE-CERT-SA-2026-0007" --severity critical --type application/csaf+json \
    "$EXAMPLES/csaf-advisory.json")
stix=$("$NODE" publish --dir "$T/cert-national" --kind alert --tlp green --to sector:energy \
    --topic "GRIDLOCK indicators" --severity high --type application/stix+json \
    "$EXAMPLES/stix-bundle.json")
report=$("$NODE" publish --dir "$T/bank-01" --kind incident --tlp amber \
    --to tier:national,org:cert-banking --topic "bank-01-IR-2026-0031" --severity high \
    --type text/plain "$EXAMPLES/incident-report.txt")
pass "all three examples accepted by the default policy"

# expect ORG ID FILE TYPE: ORG holds ID, byte for byte, of content type TYPE
expect() {
    local org=$1 id=$2 file=$3 type=$4
    wait_for 30 '"$NODE" inbox --dir "$T/$org" --json | grep -q "\"id\":\"$id\""' \
        || fail "$org did not receive $(basename "$file")"
    "$NODE" show --dir "$T/$org" "$id" >"$T/got"
    cmp -s "$file" "$T/got" || fail "$org: $(basename "$file") differs from what was sent"
    "$NODE" inbox --dir "$T/$org" --json | grep "\"id\":\"$id\"" | grep -qF "\"type\":\"$type\"" \
        || fail "$org: $(basename "$file") arrived without type $type"
}
for org in cert-banking cert-energy bank-01 grid-01; do
    expect "$org" "$csaf" "$EXAMPLES/csaf-advisory.json" application/csaf+json
done
for org in cert-energy grid-01; do
    expect "$org" "$stix" "$EXAMPLES/stix-bundle.json" application/stix+json
done
for org in cert-national cert-banking; do
    expect "$org" "$report" "$EXAMPLES/incident-report.txt" text/plain
done
pass "every recipient holds the examples byte for byte, with their content types"

# Each member's queue delivers in the broker's order: once a later message
# to all has arrived, anything earlier addressed to that member has too.
marker=$(echo "end of examples" | "$NODE" publish --dir "$T/cert-national" --kind advisory \
    --tlp clear --to all --type text/plain -)
for org in cert-banking cert-energy bank-01 grid-01; do
    wait_for 30 '"$NODE" inbox --dir "$T/$org" --json | grep -q "\"id\":\"$marker\""' \
        || fail "$org did not receive the marker"
done
for org in cert-banking bank-01; do
    ! "$NODE" inbox --dir "$T/$org" --json | grep -q "\"id\":\"$stix\"" \
        || fail "$org (banking) received the energy alert"
done
for org in cert-energy bank-01 grid-01; do
    ! "$NODE" inbox --dir "$T/$org" --json | grep -q "\"id\":\"$report\"" \
        || fail "$org received bank-01's incident report"
done
pass "the alert stayed in the energy sector, the incident report with its addressees"
