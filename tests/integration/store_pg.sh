#!/usr/bin/env bash
# store_pg.sh - the storage interface's unit tests (test_broker_store,
# unchanged) against a throwaway PostgreSQL cluster, then what only a
# server can show: the schema as made, and a commit whose session is lost.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${CERTBUS_BIN:-$(cd "$here/../../build" && pwd)}
# shellcheck source=../lib/pgtmp.sh
source "$here/../lib/pgtmp.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

[ -x "$BIN/tests/test_broker_store" ] || fail "$BIN/tests/test_broker_store not built (make tests)"
pgtmp_start
pass "cluster on 127.0.0.1:$PGTMP_PORT"

# Each test's store is its own database, which the store makes on open
# (the template's %s is a name unique to each test)
CERTBUS_TEST_STORE_URL="$PGTMP_URL/%s" nice "$BIN/tests/test_broker_store" \
    || fail "test_broker_store against PostgreSQL"
pass "test_broker_store against PostgreSQL"

# The databases the tests made hold this build's schema version
db=$(pgtmp_psql postgres "SELECT datname FROM pg_database WHERE datname LIKE 'store\_%'
                          ORDER BY datname LIMIT 1")
[ -n "$db" ] || fail "no test database was made"
schema=$(pgtmp_psql "$db" "SELECT value FROM meta WHERE key = 'schema'")
[ "$schema" = 3 ] || fail "schema version in $db is '$schema', want 3"
pass "schema version $schema recorded in $db"

# What only a server can do to the store: a session lost in COMMIT, a
# failed statement, another Council, a database without the schema. The
# postgres:// spelling of the URL opens the same backend.
[ -x "$BIN/tools/store_pg_faults" ] || fail "$BIN/tools/store_pg_faults not built (make tests)"
# A proxy that cuts the session after the server's COMMIT, before its answer
coproc CUT { exec python3 "$here/../tools/pg_commit_cut.py" "$PGTMP_PORT"; }
cut_pid=$CUT_PID
pgtmp_at_exit 'kill "$cut_pid" 2>/dev/null || true'
read -r -t 10 cut_port <&"${CUT[0]}" || fail "pg_commit_cut.py did not start"
nice "$BIN/tools/store_pg_faults" "postgres://$PGTMP_USER@127.0.0.1:$PGTMP_PORT/faults" \
    "postgresql://$PGTMP_USER@127.0.0.1:$cut_port/faults?sslmode=disable&gssencmode=disable" \
    || fail "store_pg_faults"
pass "store_pg_faults"

# The lease of a broker pair and its fencing, with several store handles
# as the brokers
[ -x "$BIN/tools/store_pg_lease" ] || fail "$BIN/tools/store_pg_lease not built (make tests)"
nice "$BIN/tools/store_pg_lease" "$PGTMP_URL/lease" || fail "store_pg_lease"
pass "store_pg_lease"

# The database stopped at once during a commit, then started again: the
# audit tree appends nothing while it cannot reload, then numbers on from
# what is stored. (The cluster is stopped and started in place.)
[ -x "$BIN/tools/store_pg_restart" ] || fail "$BIN/tools/store_pg_restart not built (make tests)"
as=${PGTMP_RUNAS:+runuser -u $PGTMP_RUNAS --}
stop="$as $PGTMP_BIN/pg_ctl -D $PGTMP_DIR/data -m immediate -w -t 60 stop >/dev/null"
start="$as $PGTMP_BIN/pg_ctl -D $PGTMP_DIR/data -l $PGTMP_DIR/server.log -w -t 60 \
    -o '-k $PGTMP_DIR -h 127.0.0.1 -p $PGTMP_PORT -c fsync=off' start >/dev/null"
nice "$BIN/tools/store_pg_restart" "$PGTMP_URL/restart" "$stop" "$start" || fail "store_pg_restart"
pass "store_pg_restart"
