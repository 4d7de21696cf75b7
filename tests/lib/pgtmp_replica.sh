# pgtmp_replica.sh - a synchronous streaming standby for pgtmp.sh's
# throwaway cluster: pg_basebackup -R from the primary into a temp folder,
# its own free loopback port, the primary made to wait for it at every
# commit (synchronous_standby_names, synchronous_commit = on). Source it
# after pgtmp.sh, call pgtmp_start, then pgtmp_replica_start; never run it.
#
#   pgtmp_replica_start   makes and starts the standby; sets
#                         PGTMP_REPLICA_DIR and PGTMP_REPLICA_PORT; then
#                         makes the primary's commits synchronous and waits
#                         until pg_stat_replication says sync
#   pgtmp_replica_psql DB SQL   runs SQL on the standby (as pgtmp_psql)
#   pgtmp_primary_crash   stops the primary with pg_ctl stop -m immediate
#                         (no shutdown checkpoint: as a crash)
#   pgtmp_replica_promote promotes the standby (pg_ctl promote, waits) and
#                         waits until it accepts writes
#   pgtmp_replica_stop    stops the standby and removes its folder
#                         (pgtmp_replica_start sets it to run at exit
#                         through pgtmp_at_exit; call it yourself from an
#                         EXIT trap of your own)
#
# The standby is made before the primary is told to wait for it, so its
# copy of the configuration does not name a synchronous standby: once
# promoted it commits alone. Both run with fsync=off (pgtmp's choice): a
# server stopped in -m immediate loses nothing the kernel holds.

PGTMP_REPLICA_DIR=
PGTMP_REPLICA_PORT=

pgtmp_replica_psql() {
    local psql=$PGTMP_BIN/psql
    [ -x "$psql" ] || psql=psql
    "$psql" -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$PGTMP_REPLICA_PORT" -U "$PGTMP_USER" \
        -d "$1" -c "$2"
}

# Runs SQL on the primary until it prints want, up to limit seconds
pgtmp_replica_poll() {
    local limit=$1 want=$2 sql=$3 end=$((SECONDS + $1)) got
    while [ $SECONDS -lt "$end" ]; do
        got=$(pgtmp_psql postgres "$sql" 2>/dev/null || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    return 1
}

pgtmp_replica_start() {
    [ -n "$PGTMP_DIR" ] && [ -n "$PGTMP_PORT" ] || pgtmp_fail "pgtmp_replica_start needs pgtmp_start first"
    [ -x "$PGTMP_BIN/pg_basebackup" ] \
        || pgtmp_fail "pg_basebackup not found in $PGTMP_BIN: install the Debian package postgresql"
    PGTMP_REPLICA_DIR=$(mktemp -d /tmp/certbus-pg-replica.XXXXXX)
    pgtmp_at_exit pgtmp_replica_stop
    [ -z "$PGTMP_RUNAS" ] || chown "$PGTMP_RUNAS" "$PGTMP_REPLICA_DIR"
    # -R: standby.signal and primary_conninfo; -X stream: the WAL of the copy
    pgtmp_as "$PGTMP_BIN/pg_basebackup" -h 127.0.0.1 -p "$PGTMP_PORT" -U "$PGTMP_USER" \
        -D "$PGTMP_REPLICA_DIR/data" -R -X stream -c fast \
        >"$PGTMP_REPLICA_DIR/basebackup.log" 2>&1 \
        || { cat "$PGTMP_REPLICA_DIR/basebackup.log" >&2; pgtmp_fail "pg_basebackup failed"; }
    local try
    for try in 1 2 3 4 5; do
        PGTMP_REPLICA_PORT=$(pgtmp_free_port)
        if pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_REPLICA_DIR/data" \
            -l "$PGTMP_REPLICA_DIR/server.log" -w -t 60 \
            -o "-k $PGTMP_REPLICA_DIR -h 127.0.0.1 -p $PGTMP_REPLICA_PORT -c fsync=off -c cluster_name=replica" \
            start >"$PGTMP_REPLICA_DIR/pg_ctl.log" 2>&1; then
            break
        fi
        PGTMP_REPLICA_PORT=
    done
    if [ -z "$PGTMP_REPLICA_PORT" ]; then
        tail -n 20 "$PGTMP_REPLICA_DIR/server.log" >&2 2>/dev/null || true
        pgtmp_fail "the standby did not start (five tries)"
    fi
    # Every commit on the primary now waits for the standby's flush
    pgtmp_psql postgres "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
    pgtmp_psql postgres "ALTER SYSTEM SET synchronous_commit = 'on'" >/dev/null
    pgtmp_psql postgres "SELECT pg_reload_conf ()" >/dev/null
    pgtmp_replica_poll 60 sync "SELECT sync_state FROM pg_stat_replication LIMIT 1" \
        || pgtmp_fail "the standby on port $PGTMP_REPLICA_PORT did not become synchronous"
    [ "$(pgtmp_psql postgres "SHOW synchronous_commit")" = on ] \
        || pgtmp_fail "synchronous_commit is not on for the primary"
}

pgtmp_primary_crash() {
    pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_DIR/data" -m immediate -w -t 60 stop \
        >>"$PGTMP_DIR/pg_ctl.log" 2>&1 || pgtmp_fail "pg_ctl stop -m immediate failed"
}

pgtmp_replica_promote() {
    pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_REPLICA_DIR/data" -w -t 60 promote \
        >>"$PGTMP_REPLICA_DIR/pg_ctl.log" 2>&1 || pgtmp_fail "pg_ctl promote failed"
    local end=$((SECONDS + 60))
    until [ "$(pgtmp_replica_psql postgres "SELECT pg_is_in_recovery ()" 2>/dev/null)" = f ]; do
        [ $SECONDS -lt $end ] || pgtmp_fail "the promoted standby is still in recovery after 60 s"
        sleep 0.2
    done
}

pgtmp_replica_stop() {
    [ -n "$PGTMP_REPLICA_DIR" ] || return 0
    if [ -f "$PGTMP_REPLICA_DIR/data/postmaster.pid" ]; then
        pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_REPLICA_DIR/data" -m immediate -w -t 60 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP_REPLICA_DIR"
    PGTMP_REPLICA_DIR=
}
