# systemd_units.sh - the units in deploy/systemd: the hardening they
# promise is there, and `systemd-analyze verify` accepts them (with
# ExecStart pointed at the binaries under test, since verify checks that
# the command exists). Skipped (exit 77) without systemd-analyze.
# Usage: bash tests/integration/systemd_units.sh (CERTBUS_BIN: the build folder)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
UNITS=$here/../../deploy/systemd
BIN=${CERTBUS_BIN:-$here/../../build}
BROKER_UNIT=$UNITS/certbus-broker.service
NODE_UNIT=$UNITS/certbus-node@.service

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# has UNIT 'Key=value': the unit sets exactly that line
has() { grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"; }

# What the units promise, checked without systemd: a dedicated user, the
# state folder, the installed paths, and every hardening setting.
for unit in "$BROKER_UNIT" "$NODE_UNIT"; do
    [ -f "$unit" ] || fail "missing $unit"
    for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
        PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
        ProtectControlGroups=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
        RestrictNamespaces=yes LockPersonality=yes MemoryDenyWriteExecute=yes \
        SystemCallFilter=@system-service UMask=0077 Restart=on-failure KillSignal=SIGTERM \
        DynamicUser=no; do
        has "$unit" "$line"
    done
    grep -q '^RestartSec=' "$unit" || fail "$(basename "$unit") lacks RestartSec"
done
has "$BROKER_UNIT" "User=certbus"
has "$BROKER_UNIT" "StateDirectory=certbus-broker"
has "$BROKER_UNIT" 'ExecReload=/bin/kill -HUP $MAINPID'
grep -qE '^ExecStart=/usr/local/bin/certbus-broker run --dir /var/lib/certbus-broker( |$)' \
    "$BROKER_UNIT" || fail "broker ExecStart is not make install's default path"
has "$NODE_UNIT" "User=certbus-node"
has "$NODE_UNIT" "StateDirectory=certbus-node/%i"
has "$NODE_UNIT" "ExecStart=/usr/local/bin/certbus-node run --dir /var/lib/certbus-node/%i"
pass "both units: dedicated user, state folder, installed paths, hardening settings"

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
for unit in "$BROKER_UNIT" "$NODE_UNIT"; do
    name=$(basename "$unit")
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
pass "systemd-analyze verify: certbus-broker.service, certbus-node@bank-01.service"

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
    for unit in certbus-broker.service certbus-node@bank-01.service; do
        level=$(systemd-analyze security --offline=yes "$T/$unit" 2>&1 | tail -n 1)
        echo "$unit: $level"
        systemd-analyze security --offline=yes --threshold=20 "$T/$unit" >/dev/null 2>&1 \
            || fail "$unit: exposure above 2.0: $level"
    done
    pass "systemd-analyze security: exposure at most 2.0 for both units"
fi
