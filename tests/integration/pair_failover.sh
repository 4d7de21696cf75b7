# pair_failover.sh - a broker pair on one PostgreSQL under load: four
# nodes enrolled with both endpoints publish sequence-numbered messages in
# a ring (n1 to n2, n2 to n3, n3 to n4, n4 to n1) while the ACTIVE broker
# is SIGKILLed PAIR_KILLS times at random moments (and restarted: it comes
# back as standby), and once SIGSTOPped past its lease and continued.
#
# Pass:
#   - every recipient's inbox holds every message its publisher's daemon
#     accepted (publish --wait 0 printed an id: in the node's durable
#     outbox, a stronger promise than the broker's acknowledgement) exactly
#     once: lost 0, unexpected 0, duplicates shown to the user 0;
#   - `audit verify` passes, and heads_consistent finds a valid
#     consistency proof between every pair of signed tree heads (audit
#     verify checks consecutive ones) and no two heads of one size;
#   - the broker that was paused past its lease committed nothing after
#     the other took the lease (see fence_check below) and said it stepped
#     down.
#
# Environment: PAIR_KILLS (default 10), PAIR_MESSAGES (default 5000, over
# the four publishers), PAIR_LANES (publishing processes per publisher,
# default 2), PAIR_LEASE (ms, default 2000), PAIR_DRAIN (s, default 180),
# PAIR_KEEP_LOGS (a folder that gets every log of a failed run).
# The kill cadence (a random 0.5 to 2.4 s between kills) is this test's
# definition; every other wait is a bounded poll. Only 127.0.0.1.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
# shellcheck source=../lib/pgtmp.sh
source "$here/../lib/pgtmp.sh"
# shellcheck source=../lib/pair.sh
source "$here/../lib/pair.sh"

KILLS=${PAIR_KILLS:-10}
MESSAGES=${PAIR_MESSAGES:-5000}
LANES=${PAIR_LANES:-2}
DRAIN=${PAIR_DRAIN:-180}
NODES=(n1 n2 n3 n4)
TOOLS=$BIN/tools
started=$SECONDS
[ -x "$TOOLS/heads_consistent" ] || fail "$TOOLS/heads_consistent not built (make tools)"

pgtmp_start
# One exit path: brokers, then nodes and the test folder (lib.sh's cleanup,
# which shows the logs on failure), then the cluster
s_exit() {
    local rc=$?
    pair_stop_all
    # PAIR_KEEP_LOGS=DIR keeps every log of a failed run there
    if [ $rc -ne 0 ] && [ -n "${PAIR_KEEP_LOGS:-}" ]; then
        mkdir -p "$PAIR_KEEP_LOGS" && cp "$T"/*.log "$PAIR_KEEP_LOGS"/ 2>/dev/null || true
    fi
    if [ $rc -ne 0 ]; then (exit $rc) || cleanup; else true; cleanup; fi
    pgtmp_stop
}
trap s_exit EXIT

pair_init "$PGTMP_URL/council"
DB_URL=$PAIR_URL_A
pgtmp_sql() { pgtmp_psql council "$1"; }

# fence_check's instrument: a trigger deferred to COMMIT notes, for every
# row any broker writes to the Council's message, delivery, audit, tree
# head and receipt tables, the writing session's application_name
# (broker-a or broker-b) and the time of the commit. A transaction that is
# fenced rolls back, its notes with it: only what was committed is noted.
pgtmp_sql "
CREATE TABLE fence_log (app TEXT NOT NULL, tbl TEXT NOT NULL, at TIMESTAMPTZ NOT NULL);
CREATE FUNCTION fence_note () RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO fence_log VALUES (current_setting ('application_name'), TG_TABLE_NAME,
                                  clock_timestamp ());
    RETURN NULL;
END \$\$;
DO \$\$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['messages', 'queue', 'audit', 'tree_heads', 'receipts'] LOOP
        EXECUTE format ('CREATE CONSTRAINT TRIGGER fence_note AFTER INSERT OR UPDATE OR DELETE'
                        ' ON %I DEFERRABLE INITIALLY DEFERRED FOR EACH ROW'
                        ' EXECUTE FUNCTION fence_note ()', t);
    END LOOP;
END \$\$;" >/dev/null || fail "cannot install the commit notes"

pair_start a
[ "$(pair_role a)" = active ] || fail "the first broker is not active"
pair_start b
[ "$(pair_role b)" = standby ] || fail "the second broker is not standby: $(pair_role b)"
# A standby binds nothing: its endpoint refuses the connection
if (exec 3<>"/dev/tcp/127.0.0.1/${PAIR_PORT[b]}") 2>/dev/null; then
    fail "the standby accepts connections on ${PAIR_PORT[b]}"
fi
pass "broker a active, broker b standby and unbound"

for org in "${NODES[@]}"; do member "$org" national; done
enroll_all "${NODES[@]}"
for org in "${NODES[@]}"; do node_start "$org"; done
echo "four nodes on $ENDPOINT; $MESSAGES messages, $KILLS kills, lease ${PAIR_LEASE:-2000} ms"

# The ring: n1 publishes to n2, ..., n4 to n1
recipient_of() {
    local i
    for i in "${!NODES[@]}"; do
        [ "${NODES[$i]}" = "$1" ] && { echo "${NODES[$(((i + 1) % ${#NODES[@]}))]}"; return; }
    done
}

# lane PUB FIRST STEP LAST OUT: publishes "PUB SEQ" for SEQ = FIRST,
# FIRST+STEP, ... LAST, one --wait 0 publish at a time; writes "PUB SEQ ID"
# for each id printed and "PUB SEQ -" for a publish that printed none
lane() {
    local pub=$1 seq=$2 step=$3 last=$4 out=$5 to id
    to=$(recipient_of "$pub")
    for ((; seq <= last; seq += step)); do
        if id=$(echo "$pub $seq" | timeout 60 "$NODE" publish --dir "$T/$pub" --kind advisory \
                --tlp amber --to "org:$to" --type text/plain --wait 0 - 2>/dev/null) \
            && [ -n "$id" ]; then
            echo "$pub $seq $id"
        else
            echo "$pub $seq -"
        fi
    done >> "$out"
}

# Publishing in the background: each publisher's share, over LANES lanes
per=$(( (MESSAGES + ${#NODES[@]} - 1) / ${#NODES[@]} ))
lanes=()
for pub in "${NODES[@]}"; do
    for ((l = 0; l < LANES; l++)); do
        lane "$pub" $((1 + l)) "$LANES" "$per" "$T/sent.$pub.$l" &
        lanes+=($!)
        PIDS+=($!)
    done
done
publishing() {
    local l
    for l in "${lanes[@]}"; do kill -0 "$l" 2>/dev/null && return 0; done
    return 1
}
delivered() {
    local n=0 org
    for org in "${NODES[@]}"; do n=$((n + $(inbox_count "$org"))); done
    echo $n
}
wait_for 60 'test "$(delivered)" -ge 20' || fail "no messages delivered before the faults"

# kill_active: SIGKILLs the active broker, restarts it, and waits for an
# active broker with a higher epoch
kill_active() {
    local x epoch
    x=$(pair_wait_active 30) || fail "no active broker before kill $((kills + 1))"
    epoch=$(pair_epoch "$x")
    pair_kill "$x" KILL
    pair_start "$x"
    pair_wait_active 30 $((epoch + 1)) >/dev/null \
        || fail "no broker took over after broker $x (epoch $epoch) was SIGKILLed"
    kills=$((kills + 1))
}

# fence_check: SIGSTOPs the active broker X past its lease, waits for the
# other to take over, continues X, and waits for X to step down. Then it
# counts X's notes (by X's application_name) committed at or after the
# lease's taken_at of the new epoch: 0 when fencing works. This can fail:
# without the epoch check in every commit, X would commit the publishes
# its nodes sent while it was stopped (they sit in its socket buffers) and
# their notes would carry X's name and a time after taken_at. X must also
# have committed something before (the instrument works) and must log its
# step-down. (Whether X had a batch waiting when it woke is likely, as
# the nodes keep sending to it until their peer timeout, but not asserted.)
fence_check() {
    local x y epoch taken before downs after stopped_at
    x=$(pair_wait_active 30) || fail "no active broker to stop"
    epoch=$(pair_epoch "$x")
    before=$(pgtmp_sql "SELECT COUNT(*) FROM fence_log WHERE app = 'broker-$x'")
    [ "$before" -gt 0 ] || fail "no commit by broker-$x was noted: the instrument is broken"
    downs=$(grep -c "stepping down" "$T/broker-$x.log" || true)
    pair_kill "$x" STOP
    PAIR_STOPPED=$x
    stopped_at=$SECONDS
    y=$(pair_wait_active 30 $((epoch + 1))) || fail "no takeover while broker $x was stopped"
    [ "$y" != "$x" ] || fail "the stopped broker still looks active"
    taken=$(pgtmp_sql "SELECT taken_at FROM lease")
    echo "broker $x (epoch $epoch) stopped; broker $y took over at $taken: $(pgtmp_sql "SELECT epoch FROM lease")"
    # Stopped about 4 s in all (twice the default lease), whatever the takeover took
    while [ $((SECONDS - stopped_at)) -lt 4 ]; do sleep 0.2; done
    pair_kill "$x" CONT
    PAIR_STOPPED=
    wait_for 30 'test "$(grep -c "stepping down" "$T/broker-$x.log" || true)" -gt '"$downs" \
        || fail "broker $x was continued after losing its lease but did not step down"
    grep "stepping down" "$T/broker-$x.log" | tail -n 1
    wait_for 30 'test "$(pair_role '"$x"')" = standby' || fail "broker $x is not standby again"
    after=$(pgtmp_sql "SELECT COUNT(*) FROM fence_log WHERE app = 'broker-$x'
                       AND at >= '$taken'::TIMESTAMPTZ")
    [ "$after" -eq 0 ] || fail "broker $x committed $after rows after broker $y took the lease"
    pass "broker $x paused past its lease: stepped down, committed nothing after the takeover"
}

kills=0
stop_at=$((KILLS / 2))
while [ $kills -lt "$KILLS" ]; do
    sleep "0.$((RANDOM % 5 + 5))"
    [ $((RANDOM % 2)) = 0 ] && sleep "1.$((RANDOM % 5))"
    kill_active
    echo "kill $kills: $(delivered) delivered so far, $(publishing && echo publishing || echo "publishing done")"
    if [ $kills -eq "$stop_at" ]; then fence_check; fi
done
[ "$KILLS" -gt 0 ] || fence_check
publishing && busy=1 || busy=0
for l in "${lanes[@]}"; do wait "$l" || fail "a publishing lane failed"; done
[ $busy = 1 ] || echo "note: publishing ended before the last kill"
publish_s=$((SECONDS - started))

# Drain: every outbox empty, every accepted message in its recipient's inbox
outbox_field() {
    "$NODE" status --dir "$T/$1" --json | json_field "$2"
}
all_drained() {
    local org
    for org in "${NODES[@]}"; do [ "$(outbox_field "$org" outbox_pending)" = 0 ] || return 1; done
}
wait_for "$DRAIN" all_drained || fail "outboxes did not drain within $DRAIN s"
cat "$T"/sent.* | awk '{print $1, $2}' | sort > "$T/sent_all"
total_lost=0 total_dups=0 total_unexpected=0 total_acked=0
for pub in "${NODES[@]}"; do
    to=$(recipient_of "$pub")
    cat "$T"/sent."$pub".* | awk '$3 != "-" {print $1, $2}' | sort > "$T/want.$to"
    want=$(wc -l < "$T/want.$to")
    wait_for "$DRAIN" 'test "$(inbox_count "$to")" -ge '"$want" \
        || echo "$to: inbox has $(inbox_count "$to") of $want accepted after $DRAIN s"
    n=$(inbox_count "$to")
    # The payloads as the user sees them (tail --exec hands each to cat)
    "$NODE" tail --dir "$T/$to" --all --count "$n" --timeout 300 --exec cat > "$T/got.$to" \
        || fail "tail of $n messages of $to failed"
    sort -o "$T/got.$to" "$T/got.$to"
    lost=$(comm -23 "$T/want.$to" <(sort -u "$T/got.$to") | wc -l)
    dups=$(uniq -d "$T/got.$to" | wc -l)
    # In the inbox but never sent to it by its publisher
    unexpected=$(comm -13 <(grep "^$pub " "$T/sent_all") <(sort -u "$T/got.$to") | wc -l)
    rejected=$(outbox_field "$pub" outbox_rejected)
    echo "$pub -> $to: accepted $want, in inbox $(wc -l < "$T/got.$to"), lost $lost," \
        "unexpected $unexpected, duplicates $dups, rejected $rejected"
    [ "$lost" -eq 0 ] || comm -23 "$T/want.$to" <(sort -u "$T/got.$to") | head -n 5 >&2
    [ "$want" -eq "$per" ] || fail "$pub: only $want of $per publishes were accepted"
    if [ "$rejected" != 0 ]; then
        grep -h "rejected publish org=$pub " "$T"/broker-*.log | head -n 5 >&2 || true
        grep -h -i "reject" "$T/$pub.log" | head -n 5 >&2 || true
        fail "$pub: the broker rejected $rejected publishes"
    fi
    total_lost=$((total_lost + lost)) total_dups=$((total_dups + dups))
    total_unexpected=$((total_unexpected + unexpected)) total_acked=$((total_acked + want))
done
[ "$total_lost" -eq 0 ] || fail "$total_lost accepted messages lost"
[ "$total_unexpected" -eq 0 ] || fail "$total_unexpected unexpected messages in the inboxes"
[ "$total_dups" -eq 0 ] || fail "$total_dups duplicates shown to the user"
pass "$kills SIGKILLs of the active broker and one pause: $total_acked accepted, lost 0, unexpected 0, duplicates 0 (publishing ${publish_s} s)"

# The audit log: verified, and every pair of signed heads consistent
"$BROKER" audit verify --dir "${PAIR_DIR[a]}" || fail "audit verify"
"$TOOLS/heads_consistent" "$DB_URL" "${PAIR_DIR[a]}/broker.pub" || fail "signed tree heads"
failovers=$(pgtmp_sql "SELECT epoch FROM lease")
[ "$failovers" -ge $((KILLS + 2)) ] || fail "lease epoch $failovers after $KILLS kills and a pause"
pass "audit verify and every pair of tree heads consistent; lease epoch $failovers ($((SECONDS - started)) s)"
