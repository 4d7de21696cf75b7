#!/usr/bin/env bash
# council_pg.sh - every Council command on a PostgreSQL store: the whole of
# council.sh (policy, forwarding, receipts, audit verify and list) and of
# incidents.sh (cases, report) with the store in a throwaway cluster, then
# what only init, pair and a shared database can get wrong.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/../lib/pgtmp.sh"
pgtmp_start
pass "cluster on 127.0.0.1:$PGTMP_PORT"

for script in council incidents; do
    CERTBUS_TEST_STORE="$PGTMP_URL/${script}_sh" bash "$here/$script.sh" >"$T/$script.log" 2>&1 \
        || { grep -E '^(ok|FAIL)' "$T/$script.log" >&2; tail -n 30 "$T/$script.log" >&2
             fail "$script.sh on PostgreSQL"; }
    pass "$script.sh passes with its store on PostgreSQL ($(grep -c '^ok:' "$T/$script.log") checks)"
done

# init records the store in broker.conf; every later command reads it
"$BROKER" init --dir "$T/a" --store "$PGTMP_URL/pair" >/dev/null || fail "init --store"
grep -q "url = \"$PGTMP_URL/pair\"" "$T/a/broker.conf" || fail "broker.conf does not name the store"
[ ! -e "$T/a/broker.db" ] || fail "a PostgreSQL folder made broker.db"
[ "$(pgtmp_psql pair "SELECT count(*) FROM directories")" = 1 ] \
    || fail "init did not store the first directory in PostgreSQL"
pass "init --store postgresql:// keeps the store in the database, named in broker.conf"

# The default is SQLite, in the folder
"$BROKER" init --dir "$T/local" >/dev/null
grep -q 'url = "sqlite:"' "$T/local/broker.conf" && [ -f "$T/local/broker.db" ] \
    || fail "the default store is not DIR/broker.db"
pass "init without --store: sqlite: (DIR/broker.db)"

# Refusals, each before any key is written
refused() { # DIR WHAT URL: init refuses, says WHAT, leaves no key
    local dir=$1 what=$2 url=$3 out
    if out=$("$BROKER" init --dir "$dir" --store "$url" 2>&1); then fail "init accepted $url"; fi
    echo "$out" | grep -qi "$what" || fail "init --store $url: '$out' does not say '$what'"
    [ ! -e "$dir/council.secret" ] && [ ! -e "$dir/broker.conf" ] \
        || fail "a refused init left keys in $dir"
}
refused "$T/pw" "pgpass" "postgresql://certbus:secret@127.0.0.1:$PGTMP_PORT/pw"
refused "$T/pw2" "pgpass" "$PGTMP_URL/pw2?password=secret"
refused "$T/other" "another certbus Council" "$PGTMP_URL/pair"
refused "$T/scheme" "sqlite: (the default) or a PostgreSQL" "mysql://root@127.0.0.1/x"
refused "$T/down" "cannot reach" "postgresql://certbus@127.0.0.1:$(pgtmp_free_port)/x?connect_timeout=2"
pass "init refuses a password in the URL, another Council's database, an unknown scheme and an unreachable server, writing no key"

# A folder whose broker.conf names another Council's database is refused
# by every command, not just init
"$BROKER" init --dir "$T/b" --store "$PGTMP_URL/other_council" >/dev/null
cp "$T/a/broker.conf" "$T/b/broker.conf"
for cmd in "status" "audit verify" "audit list" "report" "directory --out $T/d.dir"; do
    # shellcheck disable=SC2086
    if out=$("$BROKER" $cmd --dir "$T/b" 2>&1); then fail "$cmd used another Council's store"; fi
    echo "$out" | grep -q "another certbus Council" || fail "$cmd: '$out'"
done
pass "status, audit, report and directory refuse a store that holds another Council's data"

# pair: the second broker's folder, without the Council's secret
if "$BROKER" pair --dir "$T/local" --out "$T/local2" 2>"$T/err"; then
    fail "pair accepted an SQLite folder"
fi
grep -q "PostgreSQL" "$T/err" || fail "pair on SQLite: $(cat "$T/err")"
"$BROKER" pair --dir "$T/a" --out "$T/a2" >/dev/null || fail "pair"
[ ! -e "$T/a2/council.secret" ] || fail "pair copied council.secret"
for f in broker.secret broker.pub council.pub policy.zpl broker.conf; do
    cmp -s "$T/a/$f" "$T/a2/$f" || [ "$f" = broker.secret ] || fail "pair: $f differs"
done
[ "$(stat -c %a "$T/a2")" = 700 ] && [ "$(stat -c %a "$T/a2/broker.secret")" = 600 ] \
    || fail "pair: the folder or the broker's secret key is not private"
if "$BROKER" pair --dir "$T/a" --out "$T/a2" 2>/dev/null; then fail "pair overwrote a folder"; fi
pass "pair writes the broker identity, public files, policy and store, never council.secret"

# Both folders read the one store; Council commands need the Council's key
"$NODE" init --dir "$T/m" --org m-01 >/dev/null
"$BROKER" issue --dir "$T/a" --tier organization --sector banking "$T/m/request" --out "$T/m.cert" \
    >/dev/null || fail "issue on PostgreSQL"
if "$BROKER" issue --dir "$T/a2" --tier organization "$T/m/request" --out "$T/x" 2>"$T/err"; then
    fail "the pair's folder issued a certificate without council.secret"
fi
grep -q "council.secret" "$T/err" || fail "issue in the pair folder: $(cat "$T/err")"
"$BROKER" directory --dir "$T/a2" --out "$T/dir2" && [ -s "$T/dir2" ] || fail "directory in a2"
"$BROKER" status --dir "$T/a2" --json >"$T/st" || fail "status in a2"
grep -q '"role":"stopped"' "$T/st" && grep -q '"certificates":1' "$T/st" \
    || fail "status in a2: $(cat "$T/st")"
"$BROKER" policy check --dir "$T/a2" >/dev/null || fail "policy check in a2"
"$BROKER" audit verify --dir "$T/a2" >/dev/null || fail "audit verify in a2"
"$BROKER" revoke --dir "$T/a" m-01 --reason test >/dev/null || fail "revoke on PostgreSQL"
"$BROKER" status --dir "$T/a2" --json | grep -q '"certificates":1' || fail "status after revoke"
pass "both folders of a pair read the one store; issue and revoke need council.secret"
echo "council_pg: all passed"
