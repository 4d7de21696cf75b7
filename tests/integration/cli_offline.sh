# cli_offline.sh - the Council and node commands without a running broker:
# init, issue, directory, enroll, seal, open, revoke, and their errors.
source "$(dirname "$0")/lib.sh"

council_init
ENDPOINT=tcp://127.0.0.1:1
member cert-banking sectoral banking
member bank-01 organization banking punjab
member telco-01 organization telecom sindh
enroll_all cert-banking bank-01 telco-01
pass "council and three nodes enrolled"

# secret files are 0600, and a readable one is refused
for f in "$T/council/council.secret" "$T/council/broker.secret" "$T/bank-01/node.secret"; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not mode 600"
done
chmod 644 "$T/bank-01/node.secret"
if out=$("$NODE" status --dir "$T/bank-01" 2>&1); then fail "0644 secret accepted"; fi
echo "$out" | grep -q "chmod 600" || fail "no fix named: $out"
chmod 600 "$T/bank-01/node.secret"
pass "secret keys 0600; a 0644 key is refused with the fix named"

# errors: one line, non-zero, no half-written output
if "$BROKER" issue --dir "$T/council" --tier galactic "$T/bank-01/request" --out "$T/x.cert" 2>"$T/err"; then
    fail "unknown tier accepted"
fi
grep -q "unknown tier 'galactic'" "$T/err" || fail "unclear tier error: $(cat "$T/err")"
[ ! -e "$T/x.cert" ] || fail "output written on error"
if "$BROKER" issue --dir "$T/council" --tier organization "$T/bank-01/request" --out "$T/y.cert" 2>"$T/err"; then
    fail "second certificate for an org accepted"
fi
grep -q "already holds certificate" "$T/err" || fail "unclear duplicate error"
pass "clear errors, no output file on failure"

# seal to the banking sector; open as a banking node, fail as telecom
head -c 100000 /dev/urandom > "$T/payload.bin"
"$NODE" seal --dir "$T/cert-banking" --kind advisory --tlp amber --to sector:banking \
    "$T/payload.bin" --out "$T/msg.cbe" >/dev/null
"$NODE" open --dir "$T/bank-01" "$T/msg.cbe" > "$T/opened.bin"
cmp "$T/payload.bin" "$T/opened.bin" || fail "payload differs"
if "$NODE" open --dir "$T/telco-01" "$T/msg.cbe" >/dev/null 2>"$T/err"; then
    fail "non-banking node opened a banking message"
fi
grep -q "not-recipient" "$T/err" || fail "wrong error: $(cat "$T/err")"
pass "sealed to sector:banking; bank opens byte for byte, telecom cannot"

# red only to named organisations
if "$NODE" seal --dir "$T/cert-banking" --kind advisory --tlp red --to sector:banking \
    "$T/payload.bin" --out "$T/red.cbe" 2>"$T/err"; then fail "red to a sector accepted"; fi
grep -q "TLP red" "$T/err" || fail "unclear TLP error"
if "$NODE" seal --dir "$T/cert-banking" --kind advisory --tlp amber --to sector:nowhere \
    "$T/payload.bin" --out "$T/none.cbe" 2>"$T/err"; then fail "empty audience accepted"; fi
grep -q "resolves to nobody" "$T/err" || fail "unclear empty-audience error"
pass "TLP red and empty audiences refused"

# revoke the sender; after importing the new directory the message is refused
"$BROKER" revoke --dir "$T/council" cert-banking --reason "key compromise" >/dev/null
"$BROKER" directory --dir "$T/council" --out "$T/directory2"
"$NODE" directory --dir "$T/bank-01" --import "$T/directory2" >/dev/null
if "$NODE" open --dir "$T/bank-01" "$T/msg.cbe" >/dev/null 2>"$T/err"; then
    fail "message from a revoked sender opened"
fi
grep -q "revoked" "$T/err" || fail "wrong error: $(cat "$T/err")"
pass "revoked sender refused after the directory update"

# an older directory is refused
if "$NODE" directory --dir "$T/bank-01" --import "$T/directory" 2>"$T/err"; then
    fail "older directory accepted"
fi
grep -q "older than" "$T/err" || fail "unclear downgrade error"
pass "directory downgrade refused"

# init tightens a folder that exists with wide modes, whatever the umask
mkdir -m 0777 "$T/loose"
( umask 000; "$NODE" init --dir "$T/loose" --org loose-01 >/dev/null ) || fail "init in an existing folder"
[ "$(stat -c %a "$T/loose")" = 700 ] || fail "folder left at mode $(stat -c %a "$T/loose")"
pass "init tightens an existing node folder to 0700"
