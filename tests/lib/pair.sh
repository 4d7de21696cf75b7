# pair.sh - helpers for a broker pair on one PostgreSQL store in tests:
# two broker folders, both brokers on loopback, which one is active, kills
# and restarts by PID. Source it after tests/integration/lib.sh (it uses
# BROKER, T, wait_for and fail); never run it.
#
#   pair_init URL      init $T/council on store URL (a libpq URI, with or
#                      without a query) and pair it into $T/council2; each
#                      folder's URL names its broker in application_name
#                      (broker-a, broker-b) so that the database can tell
#                      their sessions apart; picks both ports; sets
#                      ENDPOINT to the comma list of both endpoints
#   pair_start X       runs broker X (a or b) in the background, log in
#                      $T/broker-X.log; waits until it is active or standby
#   pair_kill X [SIG]  sends SIG (default KILL) to broker X; for KILL,
#                      waits for it to end
#   pair_role X        active, standby or stopped (by status --json)
#   pair_epoch X       the lease epoch broker X's status shows
#   pair_active        prints a or b, the broker whose status says active;
#                      nothing when neither does; it skips broker
#                      $PAIR_STOPPED (one held by SIGSTOP answers nothing)
#   pair_wait_active S [EPOCH]  waits up to S seconds for an active broker
#                      whose lease epoch is at least EPOCH; prints it
#   pair_stop_all      SIGKILLs both brokers (for the exit trap)
#
# A broker runs with --heartbeat 200 --peer-timeout 3000 --lease
# ${PAIR_LEASE:-2000} and ${PAIR_BROKER_ARGS:-}.

declare -A PAIR_PID=()
declare -A PAIR_DIR=([a]="$T/council" [b]="$T/council2")
declare -A PAIR_PORT=()
PAIR_URL_A=
PAIR_URL_B=

pair_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pair_init() {
    local url=$1 sep='?'
    [[ "$url" == *\?* ]] && sep='&'
    PAIR_URL_A="$url${sep}application_name=broker-a"
    PAIR_URL_B="$url${sep}application_name=broker-b"
    "$BROKER" init --dir "${PAIR_DIR[a]}" --store "$PAIR_URL_A" >/dev/null \
        || fail "init on $url failed"
    "$BROKER" pair --dir "${PAIR_DIR[a]}" --out "${PAIR_DIR[b]}" >/dev/null || fail "pair failed"
    [ ! -e "${PAIR_DIR[b]}/council.secret" ] || fail "pair copied council.secret"
    grep -q "application_name=broker-a" "${PAIR_DIR[b]}/broker.conf" \
        || fail "the paired folder's broker.conf does not hold the store URL"
    # The second broker's sessions are named broker-b: the same store, told apart
    sed -i "s/application_name=broker-a/application_name=broker-b/" "${PAIR_DIR[b]}/broker.conf"
    PAIR_PORT[a]=$(pair_free_port)
    PAIR_PORT[b]=$(pair_free_port)
    while [ "${PAIR_PORT[b]}" = "${PAIR_PORT[a]}" ]; do PAIR_PORT[b]=$(pair_free_port); done
    ENDPOINT="tcp://127.0.0.1:${PAIR_PORT[a]},tcp://127.0.0.1:${PAIR_PORT[b]}"
}

pair_role() {
    timeout 10 "$BROKER" status --dir "${PAIR_DIR[$1]}" --json 2>/dev/null \
        | sed -n 's/^{[^{]*"role":"\([a-z]*\)".*/\1/p'
}

pair_epoch() {
    timeout 10 "$BROKER" status --dir "${PAIR_DIR[$1]}" --json 2>/dev/null \
        | sed -n 's/^{[^{]*"lease_epoch":\([0-9]*\).*/\1/p'
}

pair_start() {
    local x=$1
    "$BROKER" run --dir "${PAIR_DIR[$x]}" --bind "tcp://127.0.0.1:${PAIR_PORT[$x]}" \
        --heartbeat 200 --peer-timeout 3000 --lease "${PAIR_LEASE:-2000}" ${PAIR_BROKER_ARGS:-} \
        >>"$T/broker-$x.log" 2>&1 &
    PAIR_PID[$x]=$!
    wait_for 30 'case "$(pair_role '"$x"')" in active|standby) true;; *) false;; esac' \
        || fail "broker $x did not start (neither active nor standby)"
}

pair_kill() {
    local x=$1 sig=${2:-KILL}
    [ -n "${PAIR_PID[$x]:-}" ] || return 0
    kill -"$sig" "${PAIR_PID[$x]}" 2>/dev/null || true
    if [ "$sig" = KILL ] || [ "$sig" = 9 ]; then
        wait "${PAIR_PID[$x]}" 2>/dev/null || true
        PAIR_PID[$x]=
    fi
}

pair_active() {
    local x
    for x in a b; do
        [ -n "${PAIR_PID[$x]:-}" ] || continue
        [ "$x" != "${PAIR_STOPPED:-}" ] || continue
        [ "$(pair_role "$x")" = active ] && { echo "$x"; return 0; }
    done
    return 0
}

pair_wait_active() {
    local min=${2:-1} end=$((SECONDS + $1)) x epoch
    while [ $SECONDS -lt "$end" ]; do
        x=$(pair_active)
        if [ -n "$x" ]; then
            epoch=$(pair_epoch "$x")
            if [ -n "$epoch" ] && [ "$epoch" -ge "$min" ]; then
                echo "$x"
                return 0
            fi
        fi
        sleep 0.1
    done
    return 1
}

pair_stop_all() {
    local x
    for x in a b; do
        [ -n "${PAIR_PID[$x]:-}" ] && kill -9 "${PAIR_PID[$x]}" 2>/dev/null
    done
    return 0
}
