# demo.sh - `make demo` runs inside make check: the whole federation comes
# up, the messages reach exactly whom they should, the forbidden one is
# refused with its rule, receipts complete, the audit log verifies, and
# every process is stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${CERTBUS_BIN:-$here/../../build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 120 "$here/../../deploy/demo.sh" "$BIN" > "$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
grep -q "10 nodes connected" "$out" || fail "not every node connected"
grep -Eq "^bank-beta +received +received +- *$" "$out" || fail "bank-beta row"
grep -Eq "^telco-gamma +received +- +- *$" "$out" || fail "telco-gamma row"
grep -Eq "^cert-national +- +- +received *$" "$out" || fail "cert-national row"
grep -Eq "^cert-banking +received +- +received *$" "$out" || fail "cert-banking row"
grep -q "rule: default-deny" "$out" || fail "refusal without its rule"
grep -q "cert-national: 9 received, 0 pending" "$out" || fail "receipts"
grep -q "audit log verified" "$out" || fail "audit verify"
grep -q "every process stopped" "$out" || fail "not stopped"
grep -q "byte-identical" "$out" || fail "payload differs"
echo "ok: demo output asserted"
