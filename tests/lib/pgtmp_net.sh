# pgtmp_net.sh - pgtmp.sh's throwaway PostgreSQL cluster, listening on a
# given address, optionally inside a network namespace (a database host of
# deploy/netns/topology.sh). Source it (it sources pgtmp.sh), then call
# pgtmp_net_start; never run it.
#
#   pgtmp_net_start NETNS ADDR CIDR
#                      starts a cluster in network namespace NETNS ("" for
#                      this one) listening on ADDR, port 5432 (the namespace
#                      is ours alone; in this one a free port), trusting
#                      clients from CIDR (e.g. 10.77.0.0/24) as loopback is
#                      trusted. Sets PGTMP_DIR, PGTMP_PORT, PGTMP_USER,
#                      PGTMP_HOST and PGTMP_URL (postgresql://USER@ADDR:PORT,
#                      add /DBNAME). PGTMP_NET_OPTS: more server options
#                      (-c name=value ...), e.g. the keepalives a deployment sets.
#   pgtmp_net_psql DB SQL
#                      runs SQL on database DB through the cluster's Unix
#                      socket, which works from any network namespace
#
# pgtmp_stop (pgtmp.sh) stops it; pgtmp_net_start sets it to run at exit,
# as pgtmp_start does. Like pgtmp.sh, it fails naming the package when the
# server's programs are missing: it never skips.

# shellcheck source=pgtmp.sh
source "$(dirname "${BASH_SOURCE[0]}")/pgtmp.sh"

PGTMP_HOST=
PGTMP_NETNS=

# Runs a server command in the cluster's namespace as the server's user
pgtmp_net_as() {
    local run=()
    [ -z "$PGTMP_NETNS" ] || run=(ip netns exec "$PGTMP_NETNS")
    if [ -n "$PGTMP_RUNAS" ]; then
        "${run[@]}" nice runuser -u "$PGTMP_RUNAS" -- "$@"
    else
        "${run[@]}" nice "$@"
    fi
}

pgtmp_net_start() {
    local netns=$1 addr=$2 cidr=$3
    [ -n "$addr" ] && [ -n "$cidr" ] || pgtmp_fail "usage: pgtmp_net_start NETNS ADDR CIDR"
    if [ -n "$netns" ]; then
        command -v ip >/dev/null 2>&1 || pgtmp_fail "ip not found: install the Debian package iproute2"
        ip netns exec "$netns" true || pgtmp_fail "no network namespace $netns"
    fi
    PGTMP_NETNS=$netns
    PGTMP_HOST=$addr
    pgtmp_find_bin
    pgtmp_pick_user
    PGTMP_DIR=$(mktemp -d /tmp/certbus-pg.XXXXXX)
    pgtmp_at_exit pgtmp_stop
    [ -z "$PGTMP_RUNAS" ] || chown "$PGTMP_RUNAS" "$PGTMP_DIR"
    pgtmp_net_as "$PGTMP_BIN/initdb" -A trust -U "$PGTMP_USER" -E UTF8 --no-locale --no-sync \
        -D "$PGTMP_DIR/data" >"$PGTMP_DIR/initdb.log" 2>&1 \
        || { cat "$PGTMP_DIR/initdb.log" >&2; pgtmp_fail "initdb failed"; }
    # initdb trusts loopback only; the other hosts of the test network too
    printf 'host all all %s trust\n' "$cidr" >>"$PGTMP_DIR/data/pg_hba.conf"
    local try tries=1
    [ -n "$netns" ] || tries=5   # a free port may be taken between the check and the bind
    for ((try = 1; try <= tries; try++)); do
        if [ -n "$netns" ]; then PGTMP_PORT=5432; else PGTMP_PORT=$(pgtmp_free_port); fi
        # shellcheck disable=SC2086
        if pgtmp_net_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_DIR/data" -l "$PGTMP_DIR/server.log" \
            -w -t 60 -o "-k $PGTMP_DIR -h $addr -p $PGTMP_PORT -c fsync=off ${PGTMP_NET_OPTS:-}" \
            start >"$PGTMP_DIR/pg_ctl.log" 2>&1; then
            PGTMP_URL="postgresql://$PGTMP_USER@$addr:$PGTMP_PORT"
            return 0
        fi
    done
    tail -n 20 "$PGTMP_DIR/server.log" >&2 2>/dev/null || true
    pgtmp_fail "pg_ctl start on $addr${netns:+ in namespace $netns} failed"
}

pgtmp_net_psql() {
    local psql=$PGTMP_BIN/psql
    [ -x "$psql" ] || psql=psql
    "$psql" -X -q -v ON_ERROR_STOP=1 -tA -h "$PGTMP_DIR" -p "$PGTMP_PORT" -U "$PGTMP_USER" \
        -d "$1" -c "$2"
}
