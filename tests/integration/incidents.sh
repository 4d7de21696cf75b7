# incidents.sh - case threads across tiers: report, acknowledge, resolve;
# the same thread at every participant; response times that match the
# audit log; escalation with provenance; refusals with their reasons.
source "$(dirname "$0")/lib.sh"

council_init
# the limits a Council sets on members, all given (none of them is reached here)
BROKER_ARGS="--quota-rate 500 --quota-burst 1000 --quota-bytes 100000000 --inflight-bytes 4194304 --created-skew 120 --audit-burst 50" broker_start
member cert-national national
member cert-banking sectoral banking
member cert-punjab provincial "" punjab
member bank-01 organization banking punjab
member telco-01 organization telecom punjab
ORGS="cert-national cert-banking cert-punjab bank-01 telco-01"
enroll_all $ORGS
for org in $ORGS; do node_start "$org"; done

# a bank reports to its sectoral CERT and the national tier
echo "ransomware on branch servers" > "$T/report.txt"
case1=$("$NODE" publish --dir "$T/bank-01" --kind incident --tlp amber --severity high \
    --to org:cert-banking,tier:national --topic "ransomware" "$T/report.txt")
for org in cert-banking cert-national; do
    wait_for 20 '"$NODE" incident list --dir "$T/$org" | grep -q "$case1"' || fail "$org has no case"
done
echo "seen; isolating the branch" | "$NODE" incident update --dir "$T/cert-banking" "$case1" \
    --status acknowledged --assign cert-banking - > "$T/ack.id"
wait_for 20 '"$NODE" incident show --dir "$T/bank-01" "$case1" --json | grep -q acknowledged' \
    || fail "the reporter did not get the acknowledgement"
echo "restored from backup" | "$NODE" incident update --dir "$T/cert-banking" "$case1" \
    --status resolved - > "$T/resolve.id"
for org in bank-01 cert-national cert-banking; do
    wait_for 20 '"$NODE" incident show --dir "$T/$org" "$case1" --json | grep -q resolved' \
        || fail "$org did not get the resolution"
    "$NODE" incident show --dir "$T/$org" "$case1" --json > "$T/thread.$org"
done
[ "$(wc -l < "$T/thread.bank-01")" -eq 3 ] || fail "thread has $(wc -l < "$T/thread.bank-01") entries"
cmp "$T/thread.bank-01" "$T/thread.cert-national" || fail "national's thread differs"
cmp "$T/thread.bank-01" "$T/thread.cert-banking" || fail "sectoral CERT's thread differs"
"$NODE" incident list --dir "$T/cert-national" --status resolved --json | grep -q "$case1" \
    || fail "incident list --status"
pass "report, acknowledgement, resolution: the same thread in the same order at all 3 participants"

# response times: the report's figures are the audit log's timestamps
"$BROKER" report --dir "$T/council" --json > "$T/report.json"
"$BROKER" audit list --dir "$T/council" --json > "$T/audit.json"
python3 - "$T/report.json" "$T/audit.json" "$case1" "$(cat "$T/ack.id")" "$(cat "$T/resolve.id")" <<'PY' \
    || fail "report and audit log disagree"
import json, sys, datetime
report = [json.loads(l) for l in open(sys.argv[1])]
audit = [json.loads(l) for l in open(sys.argv[2])]
case, ack, resolve = sys.argv[3:6]
def t(mid):
    rec = [r for r in audit if r["event"] == "publish" and r["message_id"] == mid]
    stamp = datetime.datetime.strptime(rec[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
row = [r for r in report if r.get("case") == case][0]
want_ack, want_resolve = round(t(ack) - t(case)), round(t(resolve) - t(case))
print("ack_ms", row["ack_ms"], "audit", want_ack, "resolve_ms", row["resolve_ms"], "audit", want_resolve)
assert row["ack_ms"] == want_ack and row["resolve_ms"] == want_resolve
assert row["tier"] == "organization" and row["sector"] == "banking" and row["severity"] == "high"
group = [r for r in report if "group" in r][0]
assert group["cases"] == 1 and group["open"] == 0
PY
"$BROKER" report --dir "$T/council" | grep -q "organization  banking" || fail "text report"
pass "time to acknowledge and to resolve match the audit log"

# refusals: a non-participant, and a status the policy keeps from organisations
if echo "me too" | "$NODE" incident update --dir "$T/telco-01" "$case1" --status reported \
    --to org:cert-national - 2>"$T/err"; then fail "non-participant accepted"; fi
grep -q "not a participant" "$T/err" || fail "unclear: $(cat "$T/err")"
if echo "all good" | "$NODE" incident update --dir "$T/bank-01" "$case1" --status resolved - \
    2>"$T/err"; then fail "an organisation resolved a case"; fi
grep -q "with status resolved" "$T/err" || fail "unclear: $(cat "$T/err")"
pass "non-participant and forbidden status change refused with their reasons"

# escalation: provincial -> national brings the earlier thread. Others'
# messages are forwarded, origin signature kept; the escalating CERT's own
# messages go out as new incident messages of the case (a forward of one's
# own message is refused: it could launder a kind or a status past policy)
echo "phishing wave against punjab banks" > "$T/report2.txt"
case2=$("$NODE" publish --dir "$T/bank-01" --kind incident --tlp amber --severity critical \
    --to org:cert-punjab "$T/report2.txt")
wait_for 20 '"$NODE" incident list --dir "$T/cert-punjab" | grep -q "$case2"' || fail "no case2"
echo "investigating" | "$NODE" incident update --dir "$T/cert-punjab" "$case2" \
    --status investigating - >/dev/null 2>"$T/err" || fail "update: $(cat "$T/err")"
"$NODE" incident escalate --dir "$T/cert-punjab" "$case2" --to tier:national >/dev/null 2>"$T/err" \
    || fail "escalate: $(cat "$T/err")"
wait_for 20 '[ "$("$NODE" incident show --dir "$T/cert-national" "$case2" --json | wc -l)" -eq 2 ]' \
    || fail "national did not get the thread"
"$NODE" incident show --dir "$T/cert-national" "$case2" --json > "$T/t2.national"
"$NODE" incident show --dir "$T/cert-punjab" "$case2" --json > "$T/t2.punjab"
python3 - "$T/t2.national" "$T/t2.punjab" <<'PY' || fail "escalated thread differs"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
# national holds the report, forwarded by punjab, then punjab's update as a
# new message of punjab's; punjab holds both too, in the same order
ids = [x["id"] for x in b]
assert all(x["id"] in ids for x in a), (a, b)
assert [ids.index(x["id"]) for x in a] == sorted(ids.index(x["id"]) for x in a), (a, b)
for x in a:
    y = b[ids.index(x["id"])]
    assert (x["origin"], x["status"], x["payload"]) == (y["origin"], y["status"], y["payload"]), (x, y)
assert a[0]["origin"] == "bank-01" and a[0]["forwarders"] == "cert-punjab", a
assert a[1]["origin"] == "cert-punjab" and a[1]["forwarders"] == "", a
assert a[1]["status"] == "investigating" and a[1]["payload"] == "investigating\n", a
original = [y for y in b if y["origin"] == "cert-punjab" and y["id"] != a[1]["id"]]
assert len(original) == 1 and original[0]["payload"] == a[1]["payload"], b
PY
echo "national coordinating" | "$NODE" incident update --dir "$T/cert-national" "$case2" \
    --status contained - >/dev/null || fail "the escalated CERT cannot take part"
wait_for 20 '"$NODE" incident show --dir "$T/bank-01" "$case2" --json | grep -q contained' \
    || fail "the reporter did not hear from national"
pass "escalation delivered the earlier thread with provenance; national joined the case"

# TLP red and amber+strict never travel further: a red case is not
# escalated and a red message is not forwarded; the originator brings
# another CERT in with a new message instead
echo "insider at a branch" > "$T/report3.txt"
case3=$("$NODE" publish --dir "$T/bank-01" --kind incident --tlp red --severity high \
    --to org:cert-punjab "$T/report3.txt")
wait_for 20 '"$NODE" incident list --dir "$T/cert-punjab" | grep -q "$case3"' || fail "no case3"
if "$NODE" incident escalate --dir "$T/cert-punjab" "$case3" --to tier:national 2>"$T/err"; then
    fail "a red case was escalated"
fi
grep -q "TLP red.*cannot be escalated.*incident update" "$T/err" || fail "unclear: $(cat "$T/err")"
if "$NODE" forward --dir "$T/cert-punjab" "$case3" --to org:cert-national 2>"$T/err"; then
    fail "a red message was forwarded"
fi
grep -q "TLP red may not be forwarded" "$T/err" || fail "unclear: $(cat "$T/err")"
echo "bringing in national" | "$NODE" incident update --dir "$T/bank-01" "$case3" \
    --status reported --to org:cert-national - >/dev/null 2>"$T/err" \
    || fail "the originator could not bring national in: $(cat "$T/err")"
wait_for 20 '"$NODE" incident list --dir "$T/cert-national" --json | grep "$case3" | grep -q "\"tlp\":\"red\""' \
    || fail "national did not get the red case from its originator"
echo "seen" | "$NODE" incident update --dir "$T/cert-national" "$case3" --status acknowledged - \
    >/dev/null 2>"$T/err" || fail "national cannot take part: $(cat "$T/err")"
wait_for 20 '"$NODE" incident show --dir "$T/cert-punjab" "$case3" --json | grep -q acknowledged' \
    || fail "punjab, a participant, did not hear from national"
pass "red case: escalation and forwarding refused; the originator brought national in; participants from the broker"

# tail --exec names the forwarders (empty when not forwarded); the control
# socket of a running node is 0600 even when started under umask 000
n=$("$NODE" inbox --dir "$T/cert-national" --json | wc -l)
"$NODE" tail --dir "$T/cert-national" --all --count "$n" --timeout 20 \
    --exec 'echo "$CERTBUS_ORIGIN|$CERTBUS_FORWARDERS" >> "'"$T"'/fwd.env"' \
    || fail "tail --exec"
grep -qx "bank-01|cert-punjab" "$T/fwd.env" || fail "no forwarder named: $(cat "$T/fwd.env")"
grep -qx "bank-01|" "$T/fwd.env" || fail "a message not forwarded names a forwarder: $(cat "$T/fwd.env")"
node_kill telco-01
old_umask=$(umask)
umask 000
node_start telco-01
umask "$old_umask"
[ "$(stat -c %a "$T/telco-01/node.ctl")" = 600 ] \
    || fail "control socket at mode $(stat -c %a "$T/telco-01/node.ctl")"
pass "tail --exec gets CERTBUS_FORWARDERS; the control socket is 0600 under umask 000"

# the broker's record of cases and participants is covered by digests:
# each change made behind its back (SQL on a copy) fails audit verify
for change in "case_members org=org||'x'" "cases status=status||'x'" "cases tlp=tlp||'x'" \
              "cases origin=origin||'x'"; do
    table=${change%% *} set=${change#* }
    n=$((${n:-0} + 1))
    store_copy "$T/council" "$T/tamper$n"
    store_sql "$T/tamper$n" "UPDATE $table SET $set WHERE case_id = (SELECT case_id FROM $table ORDER BY case_id LIMIT 1)" \
        >/dev/null || fail "could not apply: $change"
    if out=$("$BROKER" audit verify --dir "$T/tamper$n" 2>&1); then
        fail "UPDATE $table SET $set: audit verify did not notice"
    fi
    [[ "$out" == *altered* ]] || fail "UPDATE $table SET $set: unclear ($out)"
done
pass "a case's row and its participants are covered by digests: audit verify names each change"
