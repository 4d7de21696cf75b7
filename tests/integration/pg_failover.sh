# pg_failover.sh - the database primary lost under load: a PostgreSQL
# primary with a synchronous streaming standby on loopback, a broker pair
# whose store URL lists both servers with target_session_attrs=read-write,
# two nodes publishing sequence-numbered messages to each other. During
# the burst the primary is stopped with `pg_ctl stop -m immediate` and the
# standby promoted.
#
# Pass: a broker serves again through the promoted server (a publish is
# acknowledged by the broker after the promotion), every message a node's
# daemon accepted (publish --wait 0 printed an id) is in its recipient's
# inbox exactly once (lost 0, unexpected 0, duplicates 0), `audit verify`
# passes on the promoted server and every pair of signed tree heads there
# is consistent. What the broker acknowledged before the crash was
# replicated (synchronous_commit on, a synchronous standby), so the
# promoted server has it: a loss would show as an inbox short of messages.
#
# Environment: PGF_MESSAGES (default 1200, over both publishers),
# PGF_DRAIN (s, default 180), PGF_KEEP_LOGS (a folder that gets the logs
# when audit verify fails). Only 127.0.0.1.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
# shellcheck source=../lib/pgtmp.sh
source "$here/../lib/pgtmp.sh"
# shellcheck source=../lib/pgtmp_replica.sh
source "$here/../lib/pgtmp_replica.sh"
# shellcheck source=../lib/pair.sh
source "$here/../lib/pair.sh"

MESSAGES=${PGF_MESSAGES:-1200}
DRAIN=${PGF_DRAIN:-180}
NODES=(n1 n2)
TOOLS=$BIN/tools
started=$SECONDS
[ -x "$TOOLS/heads_consistent" ] || fail "$TOOLS/heads_consistent not built (make tools)"

pgtmp_start
pgtmp_replica_start
s_exit() {
    local rc=$?
    pair_stop_all
    if [ $rc -ne 0 ]; then
        for f in "$PGTMP_DIR/server.log" "$PGTMP_REPLICA_DIR/server.log"; do
            [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }
        done
        (exit $rc) || cleanup
    else
        true
        cleanup
    fi
    pgtmp_replica_stop
    pgtmp_stop
}
trap s_exit EXIT
pass "primary on $PGTMP_PORT, synchronous standby on $PGTMP_REPLICA_PORT"

URL="postgresql://$PGTMP_USER@127.0.0.1:$PGTMP_PORT,127.0.0.1:$PGTMP_REPLICA_PORT/council?target_session_attrs=read-write"
pair_init "$URL"
pair_start a
pair_start b
[ "$(pair_role a)" = active ] && [ "$(pair_role b)" = standby ] \
    || fail "want a active and b standby: a $(pair_role a), b $(pair_role b)"
for org in "${NODES[@]}"; do member "$org" national; done
enroll_all "${NODES[@]}"
for org in "${NODES[@]}"; do node_start "$org"; done
pass "broker pair on $URL, nodes connected"

other_of() { [ "$1" = n1 ] && echo n2 || echo n1; }
# lane PUB OUT: publishes "PUB SEQ" for SEQ = 1..per with --wait 0; writes
# "PUB SEQ ID", or "PUB SEQ -" when no id was printed
lane() {
    local pub=$1 out=$2 to seq id
    to=$(other_of "$pub")
    for ((seq = 1; seq <= per; seq++)); do
        if id=$(echo "$pub $seq" | timeout 60 "$NODE" publish --dir "$T/$pub" --kind advisory \
                --tlp amber --to "org:$to" --type text/plain --wait 0 - 2>/dev/null) \
            && [ -n "$id" ]; then
            echo "$pub $seq $id"
        else
            echo "$pub $seq -"
        fi
    done >> "$out"
}
delivered() { echo $(( $(inbox_count n1) + $(inbox_count n2) )); }

per=$(( (MESSAGES + 1) / 2 ))
lanes=()
for pub in "${NODES[@]}"; do
    lane "$pub" "$T/sent.$pub" &
    lanes+=($!)
    PIDS+=($!)
done
wait_for 120 'test "$(delivered)" -ge $((MESSAGES / 3))' || fail "the burst did not get going"

# The fault: the primary crashes mid-burst, the standby is promoted
echo "primary crashed with $(delivered) messages delivered"
pgtmp_primary_crash
pgtmp_replica_promote
pass "standby promoted: $(pgtmp_replica_psql postgres "SELECT pg_is_in_recovery ()") in recovery"

# A broker serves again, and acknowledges a publish through the promoted
# server (--wait 30 prints the id either way; without the broker's
# PubAck it also says the message is "queued in the outbox")
x=$(pair_wait_active 60) || fail "no broker active after the promotion"
acked=
for try in 1 2 3 4 5 6; do
    # Each try is sent (a timed-out one stays in the outbox and arrives later)
    echo "n1 after-$try" >> "$T/tried.after"
    if acked=$(echo "n1 after-$try" | "$NODE" publish --dir "$T/n1" --kind advisory \
            --tlp amber --to org:n2 --type text/plain --wait 30 - 2>"$T/try.err") \
        && [ -n "$acked" ] && ! grep -q "queued in the outbox" "$T/try.err"; then
        break
    fi
    acked=
done
[ -n "$acked" ] || fail "no publish was acknowledged after the promotion"
echo "n1 after-$try" >> "$T/acked.after"
pass "broker $x acknowledges publishes again through the promoted server"
# Both brokers (the standby polls the lease) hold sessions on the promoted server
broker_sessions() {
    pgtmp_replica_psql council "SELECT COUNT (DISTINCT application_name) FROM pg_stat_activity
                                WHERE application_name IN ('broker-a', 'broker-b')"
}
wait_for 60 'test "$(broker_sessions)" = 2' \
    || fail "both brokers do not have sessions on the promoted server"
pass "both brokers reconnected through the multi-host URL"
grep -h -E "stepping down|standby: cannot|not stored|serving" "$T"/broker-*.log | tail -n 6 || true

for l in "${lanes[@]}"; do wait "$l" || fail "a publishing lane failed"; done
all_drained() {
    local org
    for org in "${NODES[@]}"; do
        [ "$("$NODE" status --dir "$T/$org" --json | json_field outbox_pending)" = 0 ] || return 1
    done
}
wait_for "$DRAIN" all_drained || fail "outboxes did not drain within $DRAIN s"

total_lost=0 total_dups=0 total_unexpected=0
for pub in "${NODES[@]}"; do
    to=$(other_of "$pub")
    awk '$3 != "-" {print $1, $2}' "$T/sent.$pub" | sort > "$T/want.$to"
    awk '{print $1, $2}' "$T/sent.$pub" > "$T/sent_all.$to"
    if [ "$pub" = n1 ]; then
        cat "$T/acked.after" >> "$T/want.$to"
        cat "$T/tried.after" >> "$T/sent_all.$to"
    fi
    sort -o "$T/want.$to" "$T/want.$to"
    sort -u -o "$T/sent_all.$to" "$T/sent_all.$to"
    want=$(wc -l < "$T/want.$to")
    wait_for "$DRAIN" 'test "$(inbox_count "$to")" -ge '"$want" \
        || echo "$to: inbox has $(inbox_count "$to") of $want after $DRAIN s"
    n=$(inbox_count "$to")
    "$NODE" tail --dir "$T/$to" --all --count "$n" --timeout 300 --exec cat > "$T/got.$to" \
        || fail "tail of $n messages of $to failed"
    sort -o "$T/got.$to" "$T/got.$to"
    lost=$(comm -23 "$T/want.$to" <(sort -u "$T/got.$to") | wc -l)
    dups=$(uniq -d "$T/got.$to" | wc -l)
    unexpected=$(comm -13 "$T/sent_all.$to" <(sort -u "$T/got.$to") | wc -l)
    rejected=$("$NODE" status --dir "$T/$pub" --json | json_field outbox_rejected)
    echo "$pub -> $to: accepted $want, in inbox $(wc -l < "$T/got.$to"), lost $lost," \
        "unexpected $unexpected, duplicates $dups, rejected $rejected"
    [ "$rejected" = 0 ] || fail "$pub: the broker rejected $rejected publishes (none may be)"
    [ "$lost" -eq 0 ] || comm -23 "$T/want.$to" <(sort -u "$T/got.$to") | head -n 5 >&2
    [ "$want" -ge "$per" ] || fail "$pub: only $want of $per publishes were accepted"
    total_lost=$((total_lost + lost)) total_dups=$((total_dups + dups))
    total_unexpected=$((total_unexpected + unexpected))
done
[ "$total_lost" -eq 0 ] || fail "$total_lost accepted messages lost"
[ "$total_unexpected" -eq 0 ] || fail "$total_unexpected unexpected messages in the inboxes"
[ "$total_dups" -eq 0 ] || fail "$total_dups duplicates shown to the user"
pass "primary lost mid-burst: lost 0, unexpected 0, duplicates 0"

# The Council's commands follow the URL to the promoted server
# On failure, what the promoted server holds of the audit log
audit_summary() {
    pgtmp_replica_psql council "SELECT 'audit rows ' || COUNT (*) || ', idx ' || COALESCE (MIN (idx), -1)
                                || '..' || COALESCE (MAX (idx), -1) FROM audit" >&2 || true
    pgtmp_replica_psql council "SELECT 'tree heads ' || string_agg (size::TEXT, ' ' ORDER BY size)
                                FROM tree_heads" >&2 || true
    pgtmp_replica_psql council "SELECT 'after record ' || a.idx || ' the next is missing'
                                FROM audit a WHERE NOT EXISTS (SELECT 1 FROM audit b
                                WHERE b.idx = a.idx + 1) ORDER BY a.idx LIMIT 5" >&2 || true
    pgtmp_replica_psql council "SELECT 'record ' || idx || ': ' || event || ' by ' || org || ' at '
                                || time_ms FROM audit WHERE idx < 0 LIMIT 5" >&2 || true
    [ -z "${PGF_KEEP_LOGS:-}" ] || { mkdir -p "$PGF_KEEP_LOGS"; cp "$T"/*.log "$PGTMP_DIR/server.log" \
        "$PGF_KEEP_LOGS"/ 2>/dev/null; cp "$PGTMP_REPLICA_DIR/server.log" "$PGF_KEEP_LOGS/replica.log"; } || true
}
"$BROKER" audit verify --dir "${PAIR_DIR[a]}" || { audit_summary; fail "audit verify after the promotion"; }
"$TOOLS/heads_consistent" "$PAIR_URL_A" "${PAIR_DIR[a]}/broker.pub" || fail "signed tree heads"
pass "audit verify and every pair of tree heads consistent on the promoted server ($((SECONDS - started)) s)"
