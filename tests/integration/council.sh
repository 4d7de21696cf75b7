# council.sh - the Council's powers: every rule of the default policy,
# forwarding with provenance, receipts, and the tamper-evident audit log.
BROKER_ARGS="--head-interval 200"
source "$(dirname "$0")/lib.sh"

council_init
broker_start
member cert-national national
member cert-federal federal
member cert-punjab provincial "" punjab
member cert-sindh provincial "" sindh
member cert-banking sectoral banking
member cert-telecom sectoral telecom
member bank-01 organization banking punjab
member bank-02 organization banking sindh
member telco-01 organization telecom punjab
ORGS="cert-national cert-federal cert-punjab cert-sindh cert-banking cert-telecom bank-01 bank-02 telco-01"
enroll_all $ORGS
for org in $ORGS; do node_start "$org"; done
echo "test payload" > "$T/p.txt"

# allow FROM KIND AUDIENCE RECIPIENT: accepted, and RECIPIENT gets it
allow() {
    local from=$1 kind=$2 to=$3 recipient=$4
    local id
    id=$("$NODE" publish --dir "$T/$from" --kind "$kind" --tlp amber --to "$to" "$T/p.txt") \
        || fail "$from $kind to $to was refused"
    wait_for 20 '"$NODE" show --dir "$T/$recipient" "$id" >/dev/null 2>&1' \
        || fail "$recipient did not get $from's $kind to $to"
}

# deny FROM KIND AUDIENCE: refused by the broker, naming default-deny
deny() {
    local from=$1 kind=$2 to=$3
    if "$NODE" publish --dir "$T/$from" --kind "$kind" --tlp amber --to "$to" "$T/p.txt" \
        >/dev/null 2>"$T/err"; then
        fail "$from $kind to $to was accepted"
    fi
    grep -q "rule: default-deny" "$T/err" || fail "refusal does not name the rule: $(cat "$T/err")"
}

allow cert-national advisory all telco-01                        # national-any
allow cert-federal advisory tier:organization bank-02            # government-federal-advisories
allow cert-punjab advisory region:punjab bank-01                 # provincial-own-region
deny cert-punjab advisory region:sindh
allow cert-banking advisory sector:banking bank-02               # sectoral-own-sector
deny cert-banking advisory sector:telecom
allow cert-punjab alert org:cert-banking cert-banking            # certs-to-certs
allow bank-01 incident tier:national cert-national               # incidents-to-national
allow bank-01 incident org:cert-banking cert-banking             # incidents-to-own-sectoral
deny bank-01 incident org:cert-telecom
allow bank-01 incident org:cert-punjab cert-punjab               # incidents-to-own-provincial
deny bank-01 incident org:cert-sindh
deny bank-01 advisory all                                        # organisations never all
deny telco-01 advisory sector:telecom
pass "every rule of the default policy: allowed cases delivered, the rest refused by default-deny"

"$BROKER" audit list --dir "$T/council" --org bank-01 --json > "$T/audit.json"
grep -q '"event":"reject".*"rule":"default-deny"' "$T/audit.json" || fail "refusal not audited"
grep -q '"event":"publish".*"rule":"incidents-to-own-sectoral"' "$T/audit.json" \
    || fail "acceptance not audited with its rule"
pass "decisions audited with the rule that decided them"

# a policy file that does not parse is refused; the old one stays in force
cp "$T/council/policy.zpl" "$T/policy.good"
printf 'policy\n    rule = broken\n        kind = advisory\n        tlp = purple\n' > "$T/council/policy.zpl"
if "$BROKER" policy check --dir "$T/council" >/dev/null 2>"$T/err"; then fail "bad policy passed check"; fi
grep -q "unknown TLP 'purple'" "$T/err" || fail "unclear policy error: $(cat "$T/err")"
if "$BROKER" reload --dir "$T/council" 2>"$T/err"; then fail "bad policy loaded"; fi
grep -q "old one stays" "$T/err" || fail "reload error unclear"
allow cert-national advisory all bank-02
cp "$T/policy.good" "$T/council/policy.zpl"
"$BROKER" reload --dir "$T/council" >/dev/null
node_connected bank-02 || fail "reload dropped a connection"
pass "bad policy refused by check and reload; old policy kept; no link dropped"

# forwarding: national -> provincial -> organisation, origin signature kept
head -c 20000 /dev/urandom > "$T/original.bin"
orig=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp amber --to org:cert-punjab \
    --topic "CVE-2026-0001" "$T/original.bin")
wait_for 20 '"$NODE" show --dir "$T/cert-punjab" "$orig" >/dev/null 2>&1' || fail "no original"
echo "for punjab banks: patch tonight" > "$T/note.txt"
fwd=$("$NODE" forward --dir "$T/cert-punjab" "$orig" --to org:bank-01 --note "$T/note.txt")
wait_for 20 '"$NODE" show --dir "$T/bank-01" "$fwd" >/dev/null 2>&1' || fail "forward not delivered"
"$NODE" show --dir "$T/bank-01" "$fwd" | cmp - "$T/original.bin" || fail "forwarded payload differs"
line=$("$NODE" inbox --dir "$T/bank-01" --json | grep "\"id\":\"$fwd\"")
echo "$line" | grep -q '"origin":"cert-national"' || fail "origin not named: $line"
echo "$line" | grep -q '"forwarders":\["cert-punjab"\]' || fail "forwarder not named: $line"
echo "$line" | grep -q '"note":"for punjab banks' || fail "note lost: $line"
pass "forward chain national -> provincial -> organisation verified end to end"

strict=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp amber+strict \
    --to org:cert-punjab "$T/p.txt")
wait_for 20 '"$NODE" show --dir "$T/cert-punjab" "$strict" >/dev/null 2>&1' || fail "no strict"
if "$NODE" forward --dir "$T/cert-punjab" "$strict" --to org:bank-01 2>"$T/err"; then
    fail "amber+strict forwarded"
fi
grep -q "amber+strict may not be forwarded" "$T/err" || fail "unclear: $(cat "$T/err")"
pass "forwarding amber+strict refused"

# receipts: exactly the recipients that stored it
node_kill bank-02 TERM
rid=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp green --to sector:banking "$T/p.txt")
wait_for 20 '"$NODE" receipts --dir "$T/cert-national" "$rid" --json | grep -c received | grep -qx 2' \
    || fail "receipts from cert-banking and bank-01 missing"
"$NODE" receipts --dir "$T/cert-national" "$rid" --json > "$T/r.json"
grep -q '"org":"bank-02","state":"pending"' "$T/r.json" || fail "bank-02 should be pending"
grep -q '"org":"bank-01","state":"received"' "$T/r.json" || fail "bank-01 should have it"
node_start bank-02
wait_for 20 '"$NODE" receipts --dir "$T/cert-national" "$rid" --json | grep -c received | grep -qx 3' \
    || fail "bank-02's receipt missing"
[ "$("$NODE" receipts --dir "$T/cert-national" "$rid" --json | grep -c pending)" -eq 0 ] \
    || fail "still pending"
pass "receipts name exactly the recipients that stored the message"

# the audit log: verify, prove, and detect tampering
"$BROKER" audit verify --dir "$T/council" > "$T/verify.out" || fail "audit verify failed"
"$NODE" audit prove --dir "$T/bank-01" "$orig" > "$T/prove1.out" 2>&1 || fail "prove: $(cat "$T/prove1.out")"
grep -q "inclusion proof verified" "$T/prove1.out" || fail "no inclusion"
broker_kill
store_copy "$T/council" "$T/council.old"
broker_start "$PORT"
allow cert-national advisory all bank-02
# the node must see a head above the one it holds, so that the copy taken
# before is a rollback for it
seen=$(sed -n 's/.*signed tree head of size \([0-9]*\).*/\1/p' "$T/prove1.out" | tail -n 1)
wait_for 20 '[ "$("$BROKER" status --dir "$T/council" --json | sed -n "s/.*\"tree_head_size\":\([0-9]*\).*/\1/p")" -gt "$seen" ]' \
    || fail "no tree head above size $seen was signed after the restart"
"$NODE" audit prove --dir "$T/bank-01" "$orig" > "$T/prove2.out" 2>&1 || fail "prove 2: $(cat "$T/prove2.out")"
grep -q "consistency proof verified" "$T/prove2.out" || fail "no consistency: $(cat "$T/prove2.out")"
pass "audit verify passes; inclusion and consistency proofs verify on a node"

# a rolled-back log: the broker restarts on the older copy
broker_kill
mv "$T/council" "$T/council.new"
cp -a "$T/council.old" "$T/council"
broker_start "$PORT"
if "$NODE" audit prove --dir "$T/bank-01" "$orig" > "$T/prove3.out" 2>&1; then
    fail "rolled-back head accepted: $(cat "$T/prove1.out" "$T/prove2.out" "$T/prove3.out")"
fi
grep -q "rolled back" "$T/prove3.out" || fail "unclear: $(cat "$T/prove3.out")"
broker_kill
rm -rf "$T/council"
mv "$T/council.new" "$T/council"
pass "a node refuses a rolled-back tree head"

# tampering with the stored log (broker stopped)
store_copy "$T/council" "$T/tamper1"
if [ -n "${CERTBUS_TEST_STORE:-}" ]; then
    store_sql "$T/tamper1" "UPDATE audit SET record = overlay(record placing '\\x7e'::bytea from 11 for 1) WHERE idx = 5"
else
    sqlite3 "$T/tamper1/broker.db" \
        "UPDATE audit SET record = substr(record, 1, 10) || X'7E' || substr(record, 12) WHERE idx = 5"
fi
if "$BROKER" audit verify --dir "$T/tamper1" 2>"$T/err"; then fail "altered record not detected"; fi
grep -q "record 5 " "$T/err" || fail "verify does not name record 5: $(cat "$T/err")"
store_copy "$T/council" "$T/tamper2"
# the newest records that a signed tree head covers
covered=$(store_sql "$T/tamper2" "SELECT MAX(size) FROM tree_heads")
store_sql "$T/tamper2" "DELETE FROM audit WHERE idx >= $((covered - 3))"
if "$BROKER" audit verify --dir "$T/tamper2" 2>"$T/err"; then fail "deleted records not detected"; fi
grep -q "were deleted" "$T/err" || fail "unclear: $(cat "$T/err")"
"$BROKER" audit verify --dir "$T/council" >/dev/null || fail "the untouched log fails"
pass "an altered record is named; deleted records are caught by the signed tree head"

# old directories are pruned: only the last 16 stay, the latest is served
for i in $(seq 1 20); do member "extra-$i" organization banking punjab; done
kept=$(store_sql "$T/council" "SELECT COUNT(*) FROM directories")
latest=$(store_sql "$T/council" "SELECT MAX(serial) FROM directories")
[ "$kept" -eq 16 ] || fail "$kept directories kept, not 16"
"$BROKER" directory --dir "$T/council" --out "$T/latest.cbd" > "$T/dir.out" \
    || fail "no directory exported after pruning"
"$NODE" directory --dir "$T/bank-01" --import "$T/latest.cbd" > "$T/import.out" 2>&1 \
    || fail "the latest directory does not import: $(cat "$T/import.out")"
grep -q "$latest" "$T/import.out" "$T/dir.out" || fail "directory version $latest not reported: $(cat "$T/dir.out" "$T/import.out")"
pass "old directories pruned: $kept kept, the latest (version $latest) served"

# a database written with another row layout is refused plainly
store_copy "$T/council" "$T/old-layout"
store_sql "$T/old-layout" "DELETE FROM meta WHERE key = 'schema'"
if "$BROKER" audit verify --dir "$T/old-layout" > "$T/schema.out" 2>&1; then
    fail "a database without a schema version was opened: $(cat "$T/schema.out")"
fi
grep -Eq "written by an earlier certbus|holds rows but no schema version" "$T/schema.out" \
    || fail "unclear: $(cat "$T/schema.out")"
store_sql "$T/old-layout" "INSERT INTO meta VALUES ('schema', '99')"
"$BROKER" audit verify --dir "$T/old-layout" > "$T/schema.out" 2>&1 \
    && fail "a database of schema 99 was opened"
grep -q "has schema 99" "$T/schema.out" || fail "unclear: $(cat "$T/schema.out")"
"$BROKER" audit verify --dir "$T/council" > /dev/null || fail "the current database is refused"
pass "a database of another layout is refused: $(head -n 1 "$T/schema.out")"
