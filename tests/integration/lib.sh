# lib.sh - helpers for certbus integration scripts: a temporary federation
# on loopback, real processes, bounded waits. Source it; never run it.
set -euo pipefail

BIN=${CERTBUS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
BROKER=$BIN/certbus-broker
NODE=$BIN/certbus-node
SHARED=${CERTBUS_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared}
T=$(mktemp -d /tmp/certbus-test.XXXXXX)
PIDS=()
BROKER_PID=
declare -A NODE_PIDS=()

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}" "${NODE_PIDS[@]}" $BROKER_PID; do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        echo "--- logs from $T" >&2
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
    fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# wait_for SECONDS 'COMMAND': evaluates COMMAND (quote it, so that any
# $(...) in it runs each time) every 0.1 s until it succeeds; returns 1
# when the bound runs out.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until eval "$*"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}

# The Council's store: SQLite in the folder, or CERTBUS_TEST_STORE (a
# PostgreSQL URI, as council_pg.sh sets) when given
council_init() {
    "$BROKER" init --dir "$T/council" ${CERTBUS_TEST_STORE:+--store "$CERTBUS_TEST_STORE"} \
        >/dev/null
}

# The store a broker folder names in broker.conf
store_url() { sed -n 's/^ *url = "\(.*\)"$/\1/p' "$1/broker.conf"; }

# store_sql DIR SQL: runs SQL on broker folder DIR's store (sqlite3 on
# DIR/broker.db, or psql on its PostgreSQL database), rows on stdout
store_sql() {
    if [ -n "${CERTBUS_TEST_STORE:-}" ]; then
        psql -X -q -At -v ON_ERROR_STOP=1 "$(store_url "$1")" -c "$2"
    else
        sqlite3 "$1/broker.db" "$2"
    fi
}

# store_copy SRC DST: broker folder DST, a copy of SRC with a copy of its
# store (on PostgreSQL a new database filled by pg_dump of SRC's)
store_copy() {
    cp -a "$1" "$2"
    [ -n "${CERTBUS_TEST_STORE:-}" ] || return 0
    local url base new
    url=$(store_url "$1")
    base=${url%/*}
    new="${url##*/}_$(basename "$2" | tr -c 'a-z0-9\n' '_')"
    psql -X -q "$base/postgres" -c "CREATE DATABASE \"$new\"" >/dev/null \
        && pg_dump --no-owner "$url" 2>/dev/null | psql -X -q -v ON_ERROR_STOP=1 "$base/$new" >/dev/null \
        || fail "cannot copy the database of $1 to $new"
    sed -i "s|^\( *url = \).*|\1\"$base/$new\"|" "$2/broker.conf"
}

# broker_start [PORT]: runs the broker on 127.0.0.1 (an ephemeral port by
# default) and sets ENDPOINT.
broker_start() {
    local port=${1:-*}
    rm -f "$T/council/broker.endpoint"
    "$BROKER" run --dir "$T/council" --bind "tcp://127.0.0.1:$port" --heartbeat 200 \
        --peer-timeout 3000 ${BROKER_ARGS:-} >>"$T/broker.log" 2>&1 &
    BROKER_PID=$!
    wait_for 20 'test -s "$T/council/broker.endpoint"' || fail "broker did not start"
    ENDPOINT=$(cat "$T/council/broker.endpoint")
    PORT=${ENDPOINT##*:}
}

broker_kill() {
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}

# member ORG TIER [SECTOR] [REGION]: init, issue, enrol (needs ENDPOINT)
member() {
    local org=$1 tier=$2 sector=${3:-} region=${4:-}
    "$NODE" init --dir "$T/$org" --org "$org" >/dev/null
    "$BROKER" issue --dir "$T/council" --tier "$tier" ${sector:+--sector "$sector"} \
        ${region:+--region "$region"} "$T/$org/request" --out "$T/$org.cert" >/dev/null
}

enroll_all() {
    "$BROKER" directory --dir "$T/council" --out "$T/directory"
    local org
    for org in "$@"; do
        "$NODE" enroll --dir "$T/$org" --cert "$T/$org.cert" --broker "$ENDPOINT" \
            --council "$T/council/council.pub" --broker-key "$T/council/broker.pub" \
            --directory "$T/directory" >/dev/null
    done
}

node_connected() {
    "$NODE" status --dir "$T/$1" --json 2>/dev/null | grep -q '"connected":true'
}

node_start() {
    local org=$1
    "$NODE" run --dir "$T/$org" >>"$T/$org.log" 2>&1 &
    NODE_PIDS[$org]=$!
    wait_for 20 'node_connected "$org"' || fail "node $org did not connect"
}

node_kill() {
    local org=$1 sig=${2:-9}
    kill -"$sig" "${NODE_PIDS[$org]}" 2>/dev/null || true
    wait "${NODE_PIDS[$org]}" 2>/dev/null || true
    unset "NODE_PIDS[$org]"
}

inbox_count() {
    "$NODE" inbox --dir "$T/$1" --json | wc -l
}

# json_field NAME: the value of a top-level number field in one JSON line
json_field() {
    sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
