# systemd_units.sh - the units in deploy/systemd and deploy/ha (the
# broker of a pair, and the drop-ins for Debian's patroni and etcd units):
# the hardening they promise is there, and `systemd-analyze verify` accepts
# them (with ExecStart pointed at the binaries under test, since verify
# checks that the command exists). Skipped (exit 77) without systemd-analyze.
# Usage: bash tests/integration/systemd_units.sh (CERTBUS_BIN: the build folder)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
UNITS=$here/../../deploy/systemd
BIN=${CERTBUS_BIN:-$here/../../build}
BROKER_UNIT=$UNITS/certbus-broker.service
NODE_UNIT=$UNITS/certbus-node@.service
HA=$here/../../deploy/ha
PAIR_UNIT=$HA/certbus-broker.service

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# has UNIT 'Key=value': the unit sets exactly that line
has() { grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"; }

# What the units promise, checked without systemd: a dedicated user, the
# state folder, the installed paths, and every hardening setting.
HARDENING=(NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes
    PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes
    ProtectControlGroups=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"
    RestrictNamespaces=yes LockPersonality=yes MemoryDenyWriteExecute=yes
    SystemCallFilter=@system-service UMask=0077 KillSignal=SIGTERM DynamicUser=no)
for unit in "$BROKER_UNIT" "$NODE_UNIT" "$PAIR_UNIT"; do
    [ -f "$unit" ] || fail "missing $unit"
    for line in "${HARDENING[@]}"; do
        has "$unit" "$line"
    done
    grep -q '^RestartSec=' "$unit" || fail "$(basename "$unit") lacks RestartSec"
done
has "$BROKER_UNIT" Restart=on-failure
has "$NODE_UNIT" Restart=on-failure
has "$BROKER_UNIT" "User=certbus"
has "$BROKER_UNIT" "StateDirectory=certbus-broker"
has "$BROKER_UNIT" 'ExecReload=/bin/kill -HUP $MAINPID'
grep -qE '^ExecStart=/usr/local/bin/certbus-broker run --dir /var/lib/certbus-broker( |$)' \
    "$BROKER_UNIT" || fail "broker ExecStart is not make install's default path"
has "$NODE_UNIT" "User=certbus-node"
has "$NODE_UNIT" "StateDirectory=certbus-node/%i"
has "$NODE_UNIT" "ExecStart=/usr/local/bin/certbus-node run --dir /var/lib/certbus-node/%i"
pass "both units: dedicated user, state folder, installed paths, hardening settings"

# The broker of a pair: the single broker's settings, restarted whatever
# made it stop, and the database password from a file, never in the unit
for line in "User=certbus" "StateDirectory=certbus-broker" 'ExecReload=/bin/kill -HUP $MAINPID' \
    Restart=always Environment=PGPASSFILE=/etc/certbus/pgpass; do
    has "$PAIR_UNIT" "$line"
done
grep -qE '^ExecStart=/usr/local/bin/certbus-broker run --dir /var/lib/certbus-broker( |$)' \
    "$PAIR_UNIT" || fail "deploy/ha broker ExecStart is not make install's default path"
if grep -qiE 'PGPASSWORD|password=' "$PAIR_UNIT"; then fail "deploy/ha unit holds a password"; fi
# Drop-ins for Debian's units: only the sections a drop-in may hold
for dropin in "$HA"/patroni-dropin.conf "$HA"/etcd-dropin.conf; do
    [ -f "$dropin" ] || fail "missing $dropin"
    bad=$(grep -vE '^(#.*|\[(Unit|Service)\]|[A-Za-z]+=.*|)$' "$dropin" || true)
    [ -z "$bad" ] || fail "$dropin: not a unit line: $bad"
    grep -q '^Restart=' "$dropin" || fail "$dropin sets no Restart="
    has "$dropin" NoNewPrivileges=yes
done
pass "deploy/ha: the pair's broker unit (Restart=always, PGPASSFILE) and the patroni, etcd drop-ins"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze not installed"
    exit 77
fi

BIN=$(cd "$BIN" && pwd)
[ -x "$BIN/certbus-broker" ] && [ -x "$BIN/certbus-node" ] \
    || fail "no certbus-broker and certbus-node in $BIN: run make first"
case $BIN in
    *[[:space:]\#\&\\%]*) fail "CERTBUS_BIN '$BIN' has characters a unit's ExecStart cannot hold" ;;
esac

T=$(mktemp -d /tmp/certbus-units.XXXXXX)
trap 'rm -rf "$T"' EXIT
for unit in "$BROKER_UNIT" "$NODE_UNIT" "$PAIR_UNIT"; do
    name=$(basename "$unit")
    [ "$unit" = "$PAIR_UNIT" ] && name=pair-$name
    sed "s#/usr/local/bin/certbus-#$BIN/certbus-#g" "$unit" >"$T/$name"
    grep -q "^ExecStart=$BIN/certbus-" "$T/$name" || fail "$name: ExecStart not substituted"
done

# verify UNIT_PATH: no error, and no warning about our units (verify exits
# 0 on an unknown key or a value it cannot parse, so read what it says;
# lines about other units come from the host and are not ours to judge).
verify() {
    local out rc=0
    out=$(systemd-analyze verify --man=no "$1" 2>&1) || rc=$?
    [ -n "$out" ] && echo "$out"
    [ $rc -eq 0 ] || fail "systemd-analyze verify $(basename "$1"): exit $rc"
    if echo "$out" | grep -q 'certbus-'; then
        fail "systemd-analyze verify $(basename "$1") warns about our unit"
    fi
}
verify "$T/certbus-broker.service"
verify "$T/certbus-node@bank-01.service"   # an instance, loaded from the template
verify "$T/pair-certbus-broker.service"
pass "systemd-analyze verify: certbus-broker.service, certbus-node@bank-01.service, deploy/ha's broker unit"

# The drop-ins, on Debian's unit when its package is installed, else on a
# stub of it: verify reads NAME.service.d/ beside NAME.service
for name in patroni etcd; do
    mkdir -p "$T/dropins/$name.service.d"
    base=
    for dir in /lib/systemd/system /usr/lib/systemd/system; do
        [ -f "$dir/$name.service" ] && { base=$dir/$name.service; break; }
    done
    if [ -n "$base" ]; then
        cp "$base" "$T/dropins/$name.service"
    else
        printf '[Unit]\nDescription=stub of %s\n[Service]\nExecStart=/bin/true\n' "$name" \
            >"$T/dropins/$name.service"
    fi
    cp "$HA/$name-dropin.conf" "$T/dropins/$name.service.d/certbus.conf"
    out=$(systemd-analyze verify --man=no "$T/dropins/$name.service" 2>&1) || true
    if echo "$out" | grep -q 'certbus.conf'; then
        echo "$out"
        fail "systemd-analyze verify warns about deploy/ha/$name-dropin.conf"
    fi
    echo "$name-dropin.conf: verified on ${base:-a stub unit}"
done
pass "systemd-analyze verify: the patroni and etcd drop-ins"

# The users the units run as: sysusers-certbus.conf parses and creates both
# (in a scratch root, without touching this machine's accounts).
if command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$T/root/etc"
    touch "$T/root/etc/passwd" "$T/root/etc/group" "$T/root/etc/shadow" "$T/root/etc/gshadow"
    out=$(systemd-sysusers --root="$T/root" --dry-run "$UNITS/sysusers-certbus.conf" 2>&1) \
        || { echo "$out"; fail "systemd-sysusers rejects sysusers-certbus.conf"; }
    for user in certbus certbus-node; do
        echo "$out" | grep -q "Creating user '$user'" || { echo "$out"; fail "no user $user"; }
    done
    pass "sysusers-certbus.conf creates the users certbus and certbus-node"
fi

# The hardening as systemd scores it (0 = locked down, 10 = exposed); 2.0
# leaves room for newer systemd versions that score more settings.
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    for unit in certbus-broker.service certbus-node@bank-01.service pair-certbus-broker.service; do
        level=$(systemd-analyze security --offline=yes "$T/$unit" 2>&1 | tail -n 1)
        echo "$unit: $level"
        systemd-analyze security --offline=yes --threshold=20 "$T/$unit" >/dev/null 2>&1 \
            || fail "$unit: exposure above 2.0: $level"
    done
    pass "systemd-analyze security: exposure at most 2.0 for the three units"
fi
