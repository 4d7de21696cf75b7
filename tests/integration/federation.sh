# federation.sh - one broker and seven nodes on loopback: an advisory to
# sector:banking reaches exactly the banking members, byte for byte; an
# offline recipient gets everything on reconnect, in order.
source "$(dirname "$0")/lib.sh"

council_init
broker_start
ORGS="cert-national cert-federal cert-punjab cert-banking bank-01 bank-02 telco-01"
member cert-national national
member cert-federal federal
member cert-punjab provincial "" punjab
member cert-banking sectoral banking
member bank-01 organization banking punjab
member bank-02 organization banking sindh
member telco-01 organization telecom punjab
enroll_all $ORGS
for org in $ORGS; do node_start "$org"; done
pass "broker and 7 nodes connected"

# payloads: the shared corpus when present, else generated documents
files=()
if [ -d "$SHARED/corpus/csaf" ]; then
    files=("$SHARED"/corpus/csaf/*.json "$SHARED"/corpus/stix/*.json)
else
    echo "note: $SHARED/corpus not present; using generated payloads instead"
    for i in 1 2 3; do head -c $((i * 40000)) /dev/urandom > "$T/gen$i.bin"; files+=("$T/gen$i.bin"); done
fi
declare -A SUM=()
for f in "${files[@]}"; do
    id=$("$NODE" publish --dir "$T/cert-national" --kind advisory --tlp amber --to sector:banking \
        --type application/csaf+json "$f")
    SUM[$id]=$(sha256sum < "$f")
done
n=${#files[@]}
for org in cert-banking bank-01 bank-02; do
    wait_for 30 'test "$(inbox_count $org)" -ge $n' || fail "$org got $(inbox_count $org) of $n"
    [ "$(inbox_count $org)" -eq $n ] || fail "$org has duplicates"
    for id in "${!SUM[@]}"; do
        got=$("$NODE" show --dir "$T/$org" "$id" | sha256sum)
        [ "$got" = "${SUM[$id]}" ] || fail "$org: $id differs"
    done
done
# the others must have nothing; they had all the time the banks needed
for org in cert-national cert-federal cert-punjab telco-01; do
    [ "$(inbox_count $org)" -eq 0 ] || fail "$org received a banking advisory"
done
first=$("$NODE" inbox --dir "$T/bank-01" --json)
for key in id origin kind tlp topic severity created type size; do
    grep -q "\"$key\":" <<<"$first" || fail "inbox --json lacks $key"
done
echo "$first" | grep -q '"origin":"cert-national"' || fail "inbox --json: wrong origin"
pass "$n corpus documents reached exactly the 3 banking members, byte for byte"

# offline recipient: stopped cleanly, then messages, then back
node_kill bank-02 TERM
ids=()
for i in $(seq 1 20); do
    ids+=("$(echo "advisory $i" | "$NODE" publish --dir "$T/cert-banking" --kind advisory \
        --tlp green --to sector:banking --type text/plain -)")
done
node_start bank-02
wait_for 30 'test "$(inbox_count bank-02)" -ge $((n + 20))' || fail "bank-02 did not catch up"
got=$("$NODE" inbox --dir "$T/bank-02" --json | tail -n 20 | sed 's/.*"id":"\([^"]*\)".*/\1/')
want=$(printf '%s\n' "${ids[@]}")
[ "$got" = "$want" ] || fail "offline recipient got them out of order"
[ "$(inbox_count bank-02)" -eq $((n + 20)) ] || fail "bank-02 has duplicates"
pass "offline recipient received all 20 on reconnect, in order"

# tail --exec hands each message to a tool: payload on stdin, metadata in
# the environment
echo "alert body" > "$T/alert.txt"
alert=$("$NODE" publish --dir "$T/cert-national" --kind alert --tlp clear --severity critical \
    --to org:bank-01 --type text/plain "$T/alert.txt")
"$NODE" tail --dir "$T/bank-01" --all --kind alert --count 1 --timeout 30 \
    --exec "cat > $T/exec.\$CERTBUS_ID; echo \$CERTBUS_ORIGIN \$CERTBUS_SEVERITY >> $T/exec.meta"
cmp "$T/alert.txt" "$T/exec.$alert" || fail "--exec did not get the payload"
[ "$(cat "$T/exec.meta")" = "cert-national critical" ] || fail "--exec metadata: $(cat "$T/exec.meta")"
out=$("$NODE" tail --dir "$T/bank-01" --all --kind alert --count 1 --timeout 5 --json)
echo "$out" | grep -q "\"id\":\"$alert\"" || fail "tail --json: $out"
pass "tail --exec and tail --json"
