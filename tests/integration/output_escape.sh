# output_escape.sh - what certbus-broker prints cannot be forged: values a
# member chose, planted in the database as they would be if a rule ever let
# them through, stay inside their JSON strings (report --json, audit list
# --json) and reach a terminal as \x escapes (report, audit list).
source "$(dirname "$0")/lib.sh"

council_init

# The forged values: a JSON break-out, a forged line, terminal controls
# (ESC, BEL, DEL) and a C1 control (U+0085, NEXT LINE)
python3 - "$T/council/broker.db" <<'PY' || fail "cannot plant the forged rows"
import hashlib, os, sqlite3, sys, time

breakout = 'bank-01","forged":true,"x":"'
status = 'reported\x1b[2J\n{"case":"forged"}'
kind = 'advisory\x1b]0;owned\x07'
reason = 'refused\nbroker: accepted publish org=bank-01 \x7f\u0085end'

def varint(n):
    out = b''
    while True:
        byte = n & 0x7f
        n >>= 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out

def field(number, value):
    if value in (0, b'', ''):
        return b''               # proto3 leaves defaults out: canonical
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data

now = int(time.time() * 1000)
db = sqlite3.connect(sys.argv[1])
index = db.execute('SELECT COALESCE(MAX(idx) + 1, 0) FROM audit').fetchone()[0]
# AuditRecord: version, index, time, event, org, message_id, kind, tlp,
# audience, decision, rule, reason, case_status
record = (field(1, 1) + field(2, index) + field(3, now) + field(4, 'reject')
          + field(5, breakout) + field(6, os.urandom(16)) + field(7, kind)
          + field(8, 'amber') + field(9, 'org:x\x1b[1A') + field(12, 'reject')
          + field(13, 'rule\x1b[31m') + field(14, reason) + field(17, status))
# The only record of a new folder: the tree is its leaf (RFC 6962 hash)
assert index == 0, index
leaf = hashlib.sha256(b'\x00' + record).digest()
db.execute('INSERT INTO audit (idx, time, event, org, message_id, record, leaf_hash)'
           ' VALUES (?, ?, ?, ?, NULL, ?, ?)',
           (index, now, 'reject', breakout, record, leaf))
db.execute('INSERT INTO audit_nodes (level, idx, hash) VALUES (0, ?, ?)', (index, leaf))
# A case opened two hours ago, never acknowledged: overdue as well
# (its digest is not the broker's: report reads cases, audit verify would refuse it)
db.execute('INSERT INTO cases (case_id, origin, severity, opened_at, status, updated_at, tlp,'
           ' digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
           (os.urandom(16), breakout, 'critical', now - 7200000, status, now, 'amber',
            os.urandom(32)))
db.commit()
PY

# JSON: every line is one object; each forged value comes back whole, in
# its own field, and nothing else appears at the top level
"$BROKER" report --dir "$T/council" --json > "$T/report.json"
"$BROKER" audit list --dir "$T/council" --json > "$T/audit.json"
python3 - "$T/report.json" "$T/audit.json" <<'PY' || fail "JSON output was forged"
import json, sys
breakout = 'bank-01","forged":true,"x":"'
status = 'reported\x1b[2J\n{"case":"forged"}'
reports = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
cases = [r for r in reports if 'case' in r]
overdue = [r for r in reports if 'overdue' in r]
assert len(cases) == 1 and len(overdue) == 1, reports
for r in cases + overdue:
    assert 'forged' not in r and 'x' not in r, r
    assert r['reporter'] == breakout, r
    assert r['status'] == status, r
audits = [json.loads(line) for line in open(sys.argv[2], encoding='utf-8')]
forged = [a for a in audits if a.get('event') == 'reject']
assert len(forged) == 1, audits
a = forged[0]
assert 'forged' not in a and 'x' not in a, a
assert a['org'] == breakout, a
assert a['kind'] == 'advisory\x1b]0;owned\x07', a
assert a['reason'] == 'refused\nbroker: accepted publish org=bank-01 \x7f\u0085end', a
assert a['case_status'] == status, a
PY
# ... and the raw bytes hold no control character at all: DEL and C1 are
# \u escapes too, not only C0
python3 - "$T/report.json" "$T/audit.json" <<'PY' || fail "JSON output carries raw control characters"
import sys
for path in sys.argv[1:]:
    text = open(path, encoding='utf-8').read()
    bad = [c for c in text if (ord(c) < 0x20 and c != '\n') or 0x7f <= ord(c) <= 0x9f]
    assert not bad, (path, bad)
    assert '\\u007f' in text or path.endswith('report.json'), path
    assert '\\u0085' in text or path.endswith('report.json'), path
PY
pass "report --json and audit list --json keep forged values inside their strings"

# Text for a terminal: \x escapes instead of controls, one line per record
"$BROKER" report --dir "$T/council" > "$T/report.txt"
"$BROKER" audit list --dir "$T/council" > "$T/audit.txt"
python3 - "$T/report.txt" "$T/audit.txt" <<'PY' || fail "text output carries control characters"
import sys
report = open(sys.argv[1], encoding='utf-8').read()
audit = open(sys.argv[2], encoding='utf-8').read()
for name, text in (('report', report), ('audit', audit)):
    bad = [c for c in text if (ord(c) < 0x20 and c != '\n') or 0x7f <= ord(c) <= 0x9f]
    assert not bad, (name, bad)
# The forged status shows as escapes on the overdue line, which stays one line
lines = [l for l in report.splitlines() if 'reported' in l]
assert len(lines) == 1, report
assert 'reported\\x1b[2J\\x0a{"case":"forged"}' in lines[0], lines[0]
# The audit record is one line whatever its reason says
lines = [l for l in audit.splitlines() if 'reject' in l]
assert len(lines) == 1, audit
line = lines[0]
assert 'advisory\\x1b]0;owned\\x07' in line, line
assert 'rule\\x1b[31m' in line, line
assert 'refused\\x0abroker: accepted publish org=bank-01 \\x7f\\u0085end' in line, line
assert 'accepted publish' not in audit.replace(line, ''), audit
PY
pass "report and audit list show \\x escapes, one line per record"
