# pgtmp.sh - a throwaway PostgreSQL cluster for tests: a temp folder, a
# free loopback port, trust authentication, stopped and removed at exit.
# Source it, then call pgtmp_start; never run it.
#
#   pgtmp_start        starts a cluster; sets PGTMP_DIR, PGTMP_PORT,
#                      PGTMP_USER (the database superuser) and PGTMP_URL
#                      (postgresql://USER@127.0.0.1:PORT, add /DBNAME)
#   pgtmp_psql DB SQL  runs SQL on database DB, unaligned rows on stdout
#   pgtmp_createdb DB  makes database DB
#   pgtmp_stop         stops the cluster and removes its folder (pgtmp_start
#                      sets it to run at exit, before any EXIT trap already set)
#   PGTMP_FSYNC=on     makes the server sync to disk as in production (the
#                      default, off, suits tests; benchmarks turn it on)
#   pgtmp_at_exit CMD  runs CMD at exit before what is already set (use it,
#                      not `trap ... EXIT`, which would drop pgtmp_stop)
#
# The server refuses to run as root: as root, initdb, pg_ctl and postgres
# run as the system user certbus-pgtest (made when absent), or nobody. When
# initdb or pg_ctl is missing it fails naming the package: it never skips.

PGTMP_DIR=
PGTMP_PORT=
PGTMP_USER=certbus
PGTMP_URL=
PGTMP_BIN=
PGTMP_RUNAS=

pgtmp_fail() { echo "pgtmp: $*" >&2; exit 1; }

# The newest server's binaries under /usr/lib/postgresql/*/bin
pgtmp_find_bin() {
    local dir best=
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && best=$dir
    done
    [ -n "$best" ] || pgtmp_fail "initdb and pg_ctl not found under /usr/lib/postgresql/*/bin:" \
        "install the Debian package postgresql (deploy/deps.sh does)"
    [ -x "$best/psql" ] || command -v psql >/dev/null 2>&1 \
        || pgtmp_fail "psql not found: install the Debian package postgresql-client"
    PGTMP_BIN=$best
}

# The unprivileged user the server runs as when we are root
pgtmp_pick_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    if ! id -u certbus-pgtest >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin certbus-pgtest \
            >/dev/null 2>&1 || true
    fi
    if id -u certbus-pgtest >/dev/null 2>&1; then
        PGTMP_RUNAS=certbus-pgtest
    elif id -u nobody >/dev/null 2>&1; then
        PGTMP_RUNAS=nobody
    else
        pgtmp_fail "running as root, and neither certbus-pgtest (useradd failed) nor nobody exists"
    fi
    command -v runuser >/dev/null 2>&1 || pgtmp_fail "runuser not found: install util-linux"
}

# Runs a server command as the server's user, niced (the CPU is shared)
pgtmp_as() {
    if [ -n "$PGTMP_RUNAS" ]; then
        nice runuser -u "$PGTMP_RUNAS" -- "$@"
    else
        nice "$@"
    fi
}

pgtmp_at_exit() {
    local previous
    previous=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    # shellcheck disable=SC2064
    trap "$*; ${previous:-:}" EXIT
}

pgtmp_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pgtmp_start() {
    pgtmp_find_bin
    pgtmp_pick_user
    PGTMP_DIR=$(mktemp -d /tmp/certbus-pg.XXXXXX)
    # Set before anything else can fail: the folder goes whatever happens
    pgtmp_at_exit pgtmp_stop
    [ -z "$PGTMP_RUNAS" ] || chown "$PGTMP_RUNAS" "$PGTMP_DIR"
    pgtmp_as "$PGTMP_BIN/initdb" -A trust -U "$PGTMP_USER" -E UTF8 --no-locale --no-sync \
        -D "$PGTMP_DIR/data" >"$PGTMP_DIR/initdb.log" 2>&1 \
        || { cat "$PGTMP_DIR/initdb.log" >&2; pgtmp_fail "initdb failed"; }
    # A free port may be taken between the check and the bind: try a few
    local try
    for try in 1 2 3 4 5; do
        PGTMP_PORT=$(pgtmp_free_port)
        if pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_DIR/data" -l "$PGTMP_DIR/server.log" -w -t 60 \
            -o "-k $PGTMP_DIR -h 127.0.0.1 -p $PGTMP_PORT -c fsync=${PGTMP_FSYNC:-off}" start \
            >"$PGTMP_DIR/pg_ctl.log" 2>&1; then
            PGTMP_URL="postgresql://$PGTMP_USER@127.0.0.1:$PGTMP_PORT"
            return 0
        fi
    done
    tail -n 20 "$PGTMP_DIR/server.log" >&2 2>/dev/null || true
    pgtmp_fail "pg_ctl start failed five times"
}

pgtmp_psql() {
    local psql=$PGTMP_BIN/psql
    [ -x "$psql" ] || psql=psql
    "$psql" -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$PGTMP_PORT" -U "$PGTMP_USER" \
        -d "$1" -c "$2"
}

pgtmp_createdb() {
    pgtmp_psql postgres "CREATE DATABASE \"$1\""
}

pgtmp_stop() {
    [ -n "$PGTMP_DIR" ] || return 0
    if [ -f "$PGTMP_DIR/data/postmaster.pid" ]; then
        pgtmp_as "$PGTMP_BIN/pg_ctl" -D "$PGTMP_DIR/data" -m immediate -w -t 60 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP_DIR"
    PGTMP_DIR=
}
