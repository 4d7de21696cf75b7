#!/usr/bin/env bash
# ha-db.sh - deploy/ha's replicated database, for real, on the hosts of
# `topology.sh up-pair`: etcd members etcd-1..3 on PREFIX-db, PREFIX-db2
# and PREFIX-witness, and Patroni with PostgreSQL on PREFIX-db (db1) and
# PREFIX-db2, from deploy/ha's own files. Only what cannot hold on one
# machine is rewritten: the addresses (192.0.2.x to 10.77.0.x), the paths
# (into WORK), the Debian-only bootstrap (pg_createcluster becomes initdb,
# pg_clonecluster becomes pg_basebackup), the superuser's name (the
# unprivileged user the servers run as) and the timings (ttl 20 s,
# loop_wait 2 s). A private CA signs every certificate; passwords are
# generated into WORK. Needs root, and the Debian packages patroni,
# etcd-server, etcd-client and postgresql.
#
#   ha-db.sh up PREFIX WORK      start all of it; wait for a leader and a
#                                synchronous standby; make the role and
#                                database certbus; write WORK/store.url
#                                (the brokers' URL) and WORK/pgpass
#   ha-db.sh leader PREFIX WORK  print db1 or db2: which one is primary
#   ha-db.sh sync PREFIX WORK    print the synchronous standby, if any
#   ha-db.sh kill PREFIX WORK DB SIGKILL Patroni and PostgreSQL on DB
#   ha-db.sh start PREFIX WORK DB   start Patroni on DB (again)
#   ha-db.sh down PREFIX WORK    stop everything it started
set -euo pipefail

cmd=${1:-}; prefix=${2:-cb}; work=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
HA=$(cd "$here/../ha" && pwd)
RUNAS=${HA_RUNAS:-certbus-pgtest}
PG_BIN=${HA_PG_BIN:-/usr/lib/postgresql/15/bin}
declare -A NS=([db1]=$prefix-db [db2]=$prefix-db2 [witness]=$prefix-witness)
declare -A IP=([db1]=10.77.0.31 [db2]=10.77.0.32 [witness]=10.77.0.33)
# deploy/ha's example addresses, and this topology's
MAP='s/192\.0\.2\.11/10.77.0.2/g; s/192\.0\.2\.12/10.77.0.3/g; s/192\.0\.2\.21/10.77.0.31/g;
     s/192\.0\.2\.22/10.77.0.32/g; s/192\.0\.2\.23/10.77.0.33/g'

die() { echo "ha-db: $*" >&2; exit 1; }

need() {
    [ "$(id -u)" -eq 0 ] || die "needs root (ip netns, and the servers run as $RUNAS)"
    for prog in patroni etcd etcdctl openssl curl setpriv; do
        command -v "$prog" >/dev/null 2>&1 || die "$prog not found: install the Debian packages" \
            "patroni, etcd-server, etcd-client, openssl, curl"
    done
    [ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb: install the Debian package postgresql"
    [ -n "$work" ] || die "usage: ha-db.sh $cmd PREFIX WORK"
    if ! id -u "$RUNAS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUNAS" \
            || die "cannot make the user $RUNAS"
    fi
}

# as HOST CMD...: run CMD on HOST as the servers' user. setpriv execs
# CMD itself (runuser would stay as its parent), so a PID we keep is CMD's.
as() {
    local host=$1; shift
    ip netns exec "${NS[$host]}" setpriv --reuid "$RUNAS" --regid "$RUNAS" --init-groups \
        --reset-env "$@"
}

# The CA, and a certificate for NAME with subjectAltName SAN and key usage EKU
s_cert() {
    local name=$1 san=$2 eku=$3 pki=$work/pki
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$eku" >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}

s_pki() {
    local pki=$work/pki
    mkdir -p "$pki"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=certbus test database CA" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
    s_cert etcd-1 "IP:${IP[db1]}" serverAuth,clientAuth
    s_cert etcd-2 "IP:${IP[db2]}" serverAuth,clientAuth
    s_cert etcd-3 "IP:${IP[witness]}" serverAuth,clientAuth
    s_cert db1 "IP:${IP[db1]}" serverAuth
    s_cert db2 "IP:${IP[db2]}" serverAuth
    s_cert patroni "DNS:patroni" clientAuth
    chown -R "$RUNAS" "$pki"
    chmod 0600 "$pki"/*.key
    chmod 0644 "$pki/ca.crt"
}

# start_bg HOST NAME CMD...: CMD in the background as the servers' user,
# output to WORK/NAME.log, its PID to WORK/NAME.pid
start_bg() {
    local host=$1 name=$2; shift 2
    # not through as(): a function in the background is a subshell, and $!
    # would be its PID; this way ip execs setpriv, which execs CMD
    ip netns exec "${NS[$host]}" setpriv --reuid "$RUNAS" --regid "$RUNAS" --init-groups \
        --reset-env "$@" >>"$work/$name.log" 2>&1 &
    echo $! >"$work/$name.pid"
}

s_etcd() {
    local n=$1 host=$2 vars
    mkdir -p "$work/etcd-$n"
    chown "$RUNAS" "$work/etcd-$n"
    chmod 0700 "$work/etcd-$n"
    vars=$(sed -e "$MAP" -e "s#/etc/etcd/pki#$work/pki#g" \
        -e "s#^ETCD_DATA_DIR=.*#ETCD_DATA_DIR=$work/etcd-$n#" "$HA/etcd-$n.env" | grep '^ETCD_')
    # shellcheck disable=SC2086  # one KEY=VALUE word per line, no spaces
    start_bg "$host" "etcd-$n" env $vars etcd
}

etcdctl_on() {
    local pki=$work/pki
    ip netns exec "${NS[db1]}" etcdctl --cacert "$pki/ca.crt" --cert "$pki/etcd-1.crt" \
        --key "$pki/etcd-1.key" --endpoints \
        "https://${IP[db1]}:2379,https://${IP[db2]}:2379,https://${IP[witness]}:2379" "$@"
}

# The Patroni file for DB: deploy/ha's, with what one machine needs
s_patroni_config() {
    local db=$1
    mkdir -p "$work/$db"
    chown "$RUNAS" "$work/$db"
    chmod 0700 "$work/$db"
    sed -e "$MAP" "$HA/patroni-$db.yml" >"$work/$db/deploy.yml"
    /usr/bin/python3 - "$work/$db/deploy.yml" "$work" "$db" "$RUNAS" "$PG_BIN" \
        >"$work/$db/patroni.yml" <<'EOF'
import sys, yaml
src, work, db, me, pg_bin = sys.argv[1:]
c = yaml.safe_load(open(src))
d = f"{work}/{db}"
pki = f"{work}/pki"
c["etcd3"].update(cacert=f"{pki}/ca.crt", cert=f"{pki}/patroni.crt", key=f"{pki}/patroni.key")
b = c["bootstrap"]
b.pop("method")
b.pop("pg_createcluster")
b["dcs"].update(ttl=20, loop_wait=2, retry_timeout=5)
# the superuser is the unprivileged user the servers run as (peer auth)
hba = []
for line in b["dcs"]["postgresql"]["pg_hba"]:
    f = line.split()
    if f[0] == "local" and f[2] == "postgres":
        f[2] = me
    hba.append(" ".join(f))
b["dcs"]["postgresql"]["pg_hba"] = hba
b["pg_hba"] = hba
b["dcs"]["postgresql"]["parameters"]["fsync"] = "off"   # a test: speed over durability
p = c["postgresql"]
p["data_dir"] = f"{d}/data"
p["bin_dir"] = pg_bin
p.pop("config_dir")
p.pop("create_replica_methods")
p.pop("pg_clonecluster")
p["pgpass"] = f"{d}/pgpass.patroni"
p["authentication"]["superuser"]["username"] = me
for user in ("replication", "rewind"):
    p["authentication"][user]["sslrootcert"] = f"{pki}/ca.crt"
q = p["parameters"]
q["unix_socket_directories"] = d
q["ssl_cert_file"] = f"{pki}/{db}.crt"
q["ssl_key_file"] = f"{pki}/{db}.key"
q["ssl_ca_file"] = f"{pki}/ca.crt"
yaml.safe_dump(c, sys.stdout, sort_keys=False)
EOF
}

s_patroni_start() {
    local db=$1
    # shellcheck disable=SC1090
    source "$work/secrets"
    start_bg "$db" "patroni-$db" env PATRONI_SUPERUSER_PASSWORD="$SUPERUSER" \
        PATRONI_REPLICATION_PASSWORD="$REPLICATION" PATRONI_REWIND_PASSWORD="$REWIND" \
        PATRONI_RESTAPI_USERNAME=patroni PATRONI_RESTAPI_PASSWORD="$RESTAPI" \
        patroni "$work/$db/patroni.yml"
}

# answers DB PATH: DB's Patroni answers 200 to GET PATH (/primary on the
# leader only, /sync on the synchronous standby only)
answers() {
    ip netns exec "${NS[$1]}" curl -s -f -m 2 -o /dev/null "http://${IP[$1]}:8008$2"
}

leader() {
    local db
    for db in db1 db2; do
        answers "$db" /primary && { echo "$db"; return 0; }
    done
    return 1
}

sync_standby() {
    local db
    for db in db1 db2; do
        answers "$db" /sync && { echo "$db"; return 0; }
    done
    return 1
}

# wait_until SECONDS CMD...: bounded
wait_until() {
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.5
    done
}

psql_on() {
    local db=$1; shift
    as "$db" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h "$work/$db" -d postgres "$@"
}

up() {
    need
    mkdir -p "$work"
    chmod 0755 "$work"
    s_pki
    umask 077
    printf 'SUPERUSER=%s\nREPLICATION=%s\nREWIND=%s\nRESTAPI=%s\nCERTBUS=%s\n' \
        "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" \
        "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" >"$work/secrets"
    umask 022
    s_etcd 1 db1
    s_etcd 2 db2
    s_etcd 3 witness
    wait_until 60 etcdctl_on endpoint health || die "etcd did not become healthy ($work/etcd-*.log)"
    s_patroni_config db1
    s_patroni_config db2
    s_patroni_start db1
    wait_until 120 leader || die "db1 did not become primary ($work/patroni-db1.log)"
    s_patroni_start db2
    wait_until 180 sync_standby || die "db2 did not become the synchronous standby ($work/patroni-db2.log)"
    # shellcheck disable=SC1090
    source "$work/secrets"
    local primary
    primary=$(leader)
    psql_on "$primary" -c "CREATE ROLE certbus LOGIN PASSWORD '$CERTBUS'"
    psql_on "$primary" -c "CREATE DATABASE certbus OWNER certbus"
    printf '%s:5432:certbus:certbus:%s\n%s:5432:certbus:certbus:%s\n' \
        "${IP[db1]}" "$CERTBUS" "${IP[db2]}" "$CERTBUS" >"$work/pgpass"
    chmod 0600 "$work/pgpass"
    # deploy/ha/broker.conf's URL, on this topology's addresses
    printf 'postgresql://certbus@%s:5432,%s:5432/certbus?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=%s\n' \
        "${IP[db1]}" "${IP[db2]}" "$work/pki/ca.crt" >"$work/store.url"
    echo "ha-db: $primary primary, $(sync_standby) synchronous standby; store $(cat "$work/store.url")"
}

# kill_pids FILE...: SIGKILL the processes whose PIDs we wrote, and their
# children (Patroni's PostgreSQL)
kill_db() {
    local db=$1 pid
    pid=$(cat "$work/patroni-$db.pid" 2>/dev/null) || return 0
    kill -9 "$pid" 2>/dev/null || true
    if [ -f "$work/$db/data/postmaster.pid" ]; then
        kill -9 "$(head -n 1 "$work/$db/data/postmaster.pid")" 2>/dev/null || true
    fi
    rm -f "$work/patroni-$db.pid"
}

down() {
    [ -n "$work" ] && [ -d "$work" ] || return 0
    kill_db db1
    kill_db db2
    local n pid
    for n in 1 2 3; do
        pid=$(cat "$work/etcd-$n.pid" 2>/dev/null) || continue
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$work/etcd-$n.pid"
    done
}

case $cmd in
    up) up ;;
    leader) leader ;;
    sync) sync_standby ;;
    kill) kill_db "$4" ;;
    start) s_patroni_start "$4" ;;
    down) down ;;
    *) echo "usage: ha-db.sh up|leader|sync|kill|start|down PREFIX WORK [DB]" >&2; exit 2 ;;
esac
