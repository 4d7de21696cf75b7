# deploy_files.sh - the files in deploy/ that no program of ours reads:
# example payloads (well-formed JSON, shaped as CSAF 2.0 and STIX 2.1
# require), the Grafana dashboard (panels laid out, every metric of the
# brief shown, no metric the broker does not print), the alert rules' metric
# names, deploy/ha's Patroni, etcd and broker files (and Patroni's own
# validator when it is installed), and, when promtool is installed, the
# Prometheus configuration, alert rules and their unit tests, and every
# dashboard query.
# Usage: bash tests/integration/deploy_files.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
DEPLOY=$(cd "$here/../../deploy" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

command -v python3 >/dev/null 2>&1 || { echo "skipped: python3 not installed"; exit 77; }

for f in "$DEPLOY"/examples/*.json "$DEPLOY"/grafana/*.json; do
    python3 -m json.tool "$f" >/dev/null || fail "$f is not well-formed JSON"
done
pass "examples and dashboard are well-formed JSON"

python3 - "$DEPLOY" <<'EOF'
import glob, json, re, sys
from datetime import datetime

deploy = sys.argv[1]
problems = []

def need(cond, what):
    if not cond:
        problems.append(what)

def load(path):
    with open(f"{deploy}/{path}", encoding="utf-8") as f:
        return json.load(f)

def timestamp(text):
    return isinstance(text, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text) is not None

# --- CSAF 2.0, profile csaf_security_advisory (CSAF 2.0 sections 3, 4.5, 6.1)
csaf = load("examples/csaf-advisory.json")
doc = csaf.get("document", {})
need(doc.get("category") == "csaf_security_advisory", "csaf: document.category")
need(doc.get("csaf_version") == "2.0", "csaf: csaf_version")
pub = doc.get("publisher", {})
need(pub.get("category") in ("coordinator", "discoverer", "other", "translator", "user", "vendor")
     and pub.get("name") and pub.get("namespace", "").startswith("https://"), "csaf: publisher")
need(doc.get("title"), "csaf: title")
tr = doc.get("tracking", {})
for key in ("id", "status", "version", "revision_history", "initial_release_date",
            "current_release_date"):
    need(key in tr, f"csaf: tracking.{key}")
need(tr.get("status") in ("draft", "final", "interim"), "csaf: tracking.status")
history = tr.get("revision_history", [])
need(history and all(timestamp(r.get("date")) and r.get("number") and r.get("summary")
                     for r in history), "csaf: revision_history items")
if history:
    need(history[-1]["number"] == tr.get("version"), "csaf: version is not the last revision (6.1.16)")
    need(history[0]["date"] == tr.get("initial_release_date"), "csaf: initial_release_date")
    need(history[-1]["date"] == tr.get("current_release_date"), "csaf: current_release_date")
    need([r["date"] for r in history] == sorted(r["date"] for r in history),
         "csaf: revision history out of order")
selfref = [r for r in doc.get("references", []) if r.get("category") == "self"]
need(selfref and selfref[0]["url"].endswith(tr.get("id", "?").lower() + ".json"),
     "csaf: self reference must end with the tracking id as file name (5.1, 6.2.11)")

defined = set()
def walk(branches):
    for b in branches:
        if "product" in b:
            defined.add(b["product"]["product_id"])
        walk(b.get("branches", []))
need("product_tree" in csaf, "csaf: product_tree (6.1.27.4)")
walk(csaf.get("product_tree", {}).get("branches", []))
vulns = csaf.get("vulnerabilities", [])
need(vulns, "csaf: vulnerabilities")
for i, v in enumerate(vulns):
    need(re.fullmatch(r"CVE-\d{4}-\d{4,}", v.get("cve", "")), f"csaf: vulnerabilities[{i}].cve")
    need(v.get("notes"), f"csaf: vulnerabilities[{i}].notes (6.1.27.5)")
    status = v.get("product_status", {})
    need(status, f"csaf: vulnerabilities[{i}].product_status (6.1.27.6)")
    used = {p for ids in status.values() for p in ids}
    need(used <= defined, f"csaf: undefined product ids {used - defined} (6.1.1)")
    affected = set(status.get("known_affected", [])) | set(status.get("first_affected", []))
    remedied = set()
    for r in v.get("remediations", []):
        need(r.get("category") and r.get("details"), f"csaf: vulnerabilities[{i}] remediation")
        need(r.get("product_ids") or r.get("group_ids"), "csaf: remediation without products (6.1.29)")
        remedied |= set(r.get("product_ids", []))
    need(v.get("remediations") and affected <= remedied,
         f"csaf: affected products without remediation {affected - remedied} (6.2.2)")
    for s in v.get("scores", []):
        cv = s.get("cvss_v3", {})
        need(cv.get("vectorString", "").startswith(f"CVSS:{cv.get('version')}/"),
             "csaf: cvss_v3 version and vector disagree")

# --- STIX 2.1 bundle (STIX 2.1 sections 2.9, 3, 4, 5, 8)
stix = load("examples/stix-bundle.json")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
need(stix.get("type") == "bundle", "stix: type bundle")
need(re.fullmatch("bundle--" + UUID, stix.get("id", "")), "stix: bundle id")
need("spec_version" not in stix, "stix: a 2.1 bundle has no spec_version")
objects = stix.get("objects", [])
ids = {o.get("id") for o in objects}
need(len(ids) == len(objects), "stix: duplicate ids")
types = {}
for o in objects:
    t = o.get("type", "")
    types.setdefault(t, []).append(o)
    need(re.fullmatch(re.escape(t) + "--" + UUID, o.get("id", "")), f"stix: id of {t}")
    need(o.get("spec_version") == "2.1", f"stix: {o.get('id')} spec_version")
    need(timestamp(o.get("created")), f"stix: {o.get('id')} created")
    if t != "marking-definition":
        need(timestamp(o.get("modified")) and o["modified"] >= o["created"],
             f"stix: {o.get('id')} modified")
    for key, value in o.items():
        refs = value if key.endswith("_refs") else [value] if key.endswith("_ref") else []
        for ref in refs:
            need(ref in ids, f"stix: {o.get('id')}.{key} points outside the bundle: {ref}")
for t in ("identity", "indicator", "malware", "relationship"):
    need(t in types, f"stix: no {t}")
for o in types.get("identity", []):
    need(o.get("name") and o.get("identity_class"), "stix: identity name, identity_class")
for o in types.get("malware", []):
    need(o.get("name") and isinstance(o.get("is_family"), bool), "stix: malware name, is_family")
for o in types.get("indicator", []):
    need(o.get("pattern_type") == "stix" and timestamp(o.get("valid_from")),
         "stix: indicator pattern_type, valid_from")
    p = o.get("pattern", "")
    need(p.startswith("[") and p.endswith("]") and p.count("[") == p.count("]"),
         f"stix: indicator pattern {p!r}")
    if "valid_until" in o:
        need(o["valid_until"] > o["valid_from"], "stix: valid_until before valid_from")
for o in types.get("relationship", []):
    need(o.get("relationship_type") and o.get("source_ref") and o.get("target_ref"),
         "stix: relationship type and ends")
need(any(r.get("relationship_type") == "indicates"
         and r["source_ref"].startswith("indicator--") and r["target_ref"].startswith("malware--")
         for r in types.get("relationship", [])), "stix: no indicator indicates malware")

# --- Grafana dashboard
dash = load("grafana/certbus.json")
need(dash.get("uid") and dash.get("title") and dash.get("schemaVersion", 0) >= 36,
     "grafana: uid, title, schemaVersion >= 36 (Grafana 9)")
need(dash.get("id") is None, "grafana: id must be null for import")
panels = dash.get("panels", [])
pids = [p.get("id") for p in panels]
need(len(set(pids)) == len(pids), "grafana: duplicate panel ids")
cells = set()
exprs = []
for p in panels:
    g = p["gridPos"]
    need(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"grafana: panel {p['id']} width")
    mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
    need(not mine & cells, f"grafana: panel {p['id']} overlaps another")
    cells |= mine
    for t in p.get("targets", []):
        need(t.get("datasource", {}).get("uid") == "${datasource}",
             f"grafana: panel {p['id']} not on the datasource variable")
        exprs.append(t["expr"])
text = "\n".join(exprs)
for metric in ("certbus_messages_received_total", "certbus_publishes_total",
               "certbus_deliveries_total", "certbus_redeliveries_total", "certbus_queue_depth",
               "certbus_queue_oldest_age_seconds", "certbus_members_connected",
               "certbus_publish_commit_seconds_bucket", "certbus_audit_tree_size",
               "certbus_build_info"):
    need(metric in text, f"grafana: no panel shows {metric}")
# Every metric a query names must be one the broker prints: the names in
# the string literals of broker/*.c (histograms with their suffixes).
exported = set()
for path in glob.glob(f"{deploy}/../broker/*.c"):
    with open(path, encoding="utf-8") as f:
        for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', f.read()):
            exported |= set(re.findall(r"certbus_[a-z0-9_]+", literal))
need("certbus_build_info" in exported, "grafana: no metric names found in broker/*.c")
with open(f"{deploy}/certbus-alerts.yml", encoding="utf-8") as f:
    alerts = f.read()
for where, source in (("grafana", text), ("certbus-alerts.yml", alerts)):
    for name in sorted(set(re.findall(r"certbus_[a-z0-9_]+", source))):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        need(name in exported or base in exported, f"{where}: the broker exports no {name}")

if problems:
    print("\n".join("FAIL: " + p for p in problems), file=sys.stderr)
    sys.exit(1)
EOF
pass "CSAF advisory, STIX bundle and Grafana dashboard have the shape their standards require"

for f in "$DEPLOY"/examples/*.txt; do
    grep -qx 'TLP:[A-Z+]*' <(head -n 1 "$f") || fail "$f does not open with its TLP label"
    if LC_ALL=C grep -q '[^[:print:][:space:]]' "$f"; then fail "$f is not plain ASCII text"; fi
done
pass "text examples open with their TLP label"

# deploy/ha: the Patroni files parse as YAML (with PyYAML; a structural
# check without it) and say what the pair relies on; the etcd members'
# environment files agree on one cluster; no password in clear anywhere.
python3 - "$DEPLOY/ha" <<'EOF'
import glob, os, re, sys

ha = sys.argv[1]
problems = []

def need(cond, what):
    if not cond:
        problems.append(what)

def text(name):
    with open(os.path.join(ha, name), encoding="utf-8") as f:
        return f.read()

try:
    import yaml
except ImportError:
    yaml = None
    print("note: python3-yaml not installed; deploy/ha YAML checked by structure only")

def structure(name, body):
    """Without PyYAML: indentation in steps of two, no tabs, key lines well formed."""
    for n, line in enumerate(body.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        need("\t" not in line, f"{name}:{n}: a tab")
        indent = len(line) - len(line.lstrip(" "))
        need(indent % 2 == 0, f"{name}:{n}: indentation {indent} is not a multiple of two")
        item = line.strip()
        need(item.startswith("- ") or re.match(r"[A-Za-z0-9_]+:( |$)", item),
             f"{name}:{n}: neither a key nor a list item: {item!r}")

configs = {}
for name in ("patroni-db1.yml", "patroni-db2.yml"):
    body = text(name)
    if yaml is None:
        structure(name, body)
        for line in ("synchronous_mode: true", "synchronous_mode_strict: true",
                     'synchronous_commit: "on"', "wal_level: replica", 'hot_standby: "on"',
                     "etcd3:", "restapi:", "scope: 15-main"):
            need(re.search(r"^\s*" + re.escape(line) + r"\s*$", body, re.M), f"{name}: no '{line}'")
        need(not re.search(r"^\s*password\s*:", body, re.M), f"{name}: a password in clear")
        continue
    try:
        c = yaml.safe_load(body)
    except yaml.YAMLError as e:
        problems.append(f"{name}: not YAML: {e}")
        continue
    configs[name] = c
    dcs = c.get("bootstrap", {}).get("dcs", {})
    need(dcs.get("synchronous_mode") is True, f"{name}: bootstrap.dcs.synchronous_mode is not true")
    need(dcs.get("synchronous_mode_strict") is True,
         f"{name}: bootstrap.dcs.synchronous_mode_strict is not true")
    params = dcs.get("postgresql", {}).get("parameters", {})
    need(params.get("synchronous_commit") == "on", f"{name}: synchronous_commit is not 'on'")
    need(params.get("wal_level") == "replica", f"{name}: wal_level is not replica")
    need(params.get("hot_standby") == "on", f"{name}: hot_standby is not 'on'")
    need(isinstance(params.get("max_wal_senders"), int) and params["max_wal_senders"] >= 2,
         f"{name}: max_wal_senders")
    need(len(c.get("etcd3", {}).get("hosts", [])) == 3,
         f"{name}: etcd3.hosts does not list three members")
    for key in ("scope", "name", "restapi", "postgresql"):
        need(key in c, f"{name}: no {key}")
    pg = c.get("postgresql", {})
    for key in ("listen", "connect_address", "data_dir", "bin_dir", "authentication"):
        need(key in pg, f"{name}: no postgresql.{key}")
    hba = dcs.get("postgresql", {}).get("pg_hba", [])
    rules = [line.split() for line in hba]
    need(any(r[0] == "hostssl" and r[1] == "replication" and r[-1] == "scram-sha-256"
             for r in rules), f"{name}: pg_hba has no replication line with scram-sha-256")
    need(sum(r[0] == "hostssl" and r[1] == "certbus" and r[2] == "certbus"
             and r[-1] == "scram-sha-256" for r in rules) == 2,
         f"{name}: pg_hba does not let certbus in from the two broker hosts")
    need(not any(r[0].startswith("host") and r[-1] in ("trust", "md5", "password") for r in rules),
         f"{name}: pg_hba trusts the network or uses md5/password")
    need(c.get("bootstrap", {}).get("pg_hba") == hba,
         f"{name}: bootstrap.pg_hba differs from the dcs list")

    def passwords(node, path=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k).lower().endswith("password"):
                    problems.append(f"{name}: {path}{k} holds a password; "
                                    "it belongs in /etc/patroni_env.conf")
                passwords(v, f"{path}{k}.")
        elif isinstance(node, list):
            for v in node:
                passwords(v, path)
    passwords(c)
if len(configs) == 2:
    one, two = configs["patroni-db1.yml"], configs["patroni-db2.yml"]
    need(one["bootstrap"] == two["bootstrap"] and one["scope"] == two["scope"]
         and one["etcd3"] == two["etcd3"], "patroni-db1.yml and patroni-db2.yml disagree on the cluster")
    need(one["name"] != two["name"]
         and one["postgresql"]["connect_address"] != two["postgresql"]["connect_address"],
         "patroni-db1.yml and patroni-db2.yml name one host")

# etcd members: Debian's /etc/default/etcd, KEY=VALUE lines of etcd's options
ETCD_KEYS = {"NAME", "DATA_DIR", "LISTEN_PEER_URLS", "LISTEN_CLIENT_URLS",
             "INITIAL_ADVERTISE_PEER_URLS", "ADVERTISE_CLIENT_URLS", "INITIAL_CLUSTER",
             "INITIAL_CLUSTER_STATE", "INITIAL_CLUSTER_TOKEN", "CERT_FILE", "KEY_FILE",
             "TRUSTED_CA_FILE", "CLIENT_CERT_AUTH", "PEER_CERT_FILE", "PEER_KEY_FILE",
             "PEER_TRUSTED_CA_FILE", "PEER_CLIENT_CERT_AUTH", "AUTO_COMPACTION_MODE",
             "AUTO_COMPACTION_RETENTION", "HEARTBEAT_INTERVAL", "ELECTION_TIMEOUT"}
members = {}
for n in (1, 2, 3):
    name = f"etcd-{n}.env"
    env = {}
    for i, line in enumerate(text(name).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"ETCD_([A-Z_]+)=(\S+)", line)
        need(m and m.group(1) in ETCD_KEYS, f"{name}:{i}: not an etcd option: {line!r}")
        if m:
            env[m.group(1)] = m.group(2)
    need(env.get("NAME") == f"etcd-{n}", f"{name}: ETCD_NAME is not etcd-{n}")
    members[n] = env
clusters = {e.get("INITIAL_CLUSTER") for e in members.values()}
need(len(clusters) == 1, "etcd-N.env: the members disagree on ETCD_INITIAL_CLUSTER")
peers = dict(p.split("=", 1) for p in (clusters.pop() or "").split(",") if "=" in p)
for n, env in members.items():
    need(peers.get(env.get("NAME")) == env.get("INITIAL_ADVERTISE_PEER_URLS"),
         f"etcd-{n}.env: its peer URL is not the one ETCD_INITIAL_CLUSTER names")
need(len(peers) == 3, "ETCD_INITIAL_CLUSTER does not name three members")
if "patroni-db1.yml" in configs:
    clients = {e.get("ADVERTISE_CLIENT_URLS", "").split("://")[-1] for e in members.values()}
    need(set(configs["patroni-db1.yml"]["etcd3"]["hosts"]) == clients,
         "Patroni's etcd3.hosts are not the etcd members' client URLs")

# Placeholders only: Patroni's environment, the pgpass file, the store URL
for line in text("patroni.env.example").splitlines():
    if re.match(r"PATRONI_\w*PASSWORD=", line):
        need(line.endswith("=REPLACE-ME"),
             f"patroni.env.example: {line.split('=')[0]} is not a placeholder")
pgpass = [l for l in text("pgpass.example").splitlines() if l.strip() and not l.startswith("#")]
need(pgpass and all(l.count(":") == 4 and l.endswith(":REPLACE-ME") for l in pgpass),
     "pgpass.example: lines are not host:port:database:user:REPLACE-ME")
url = re.search(r'^store\n\s+url = "([^"]+)"', text("broker.conf"), re.M)
need(url, 'broker.conf: no store section with url = "..."')
if url:
    u = url.group(1)
    need(re.match(r"postgresql://certbus@db1:5432,db2:5432/certbus\?", u)
         and "target_session_attrs=read-write" in u, "broker.conf: not the multi-host read-write URL")
    need("password" not in u and not re.match(r"postgresql://[^@/]*:[^@/]*@", u),
         "broker.conf: the URL holds a password")
for path in sorted(glob.glob(os.path.join(ha, "**", "*"), recursive=True)):
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                need(not re.search(r"(?i)password\s*[:=]\s*['\"]?(?!REPLACE-ME)[A-Za-z0-9+/]{8,}",
                                   line),
                     f"{os.path.relpath(path, ha)}:{i}: looks like a password in clear")

if problems:
    print("\n".join("FAIL: " + p for p in problems), file=sys.stderr)
    sys.exit(1)
EOF
pass "deploy/ha: Patroni YAML (synchronous_mode_strict), etcd members, placeholders only"

# etcd's own options, when etcd is installed: each ETCD_X is a flag --x
if command -v etcd >/dev/null 2>&1; then
    flags=$(etcd --help 2>&1 | sed -n 's/^ *--\([a-z0-9-]*\).*/\1/p')
    for key in $(grep -h '^ETCD_' "$DEPLOY"/ha/etcd-*.env | cut -d= -f1 | sort -u); do
        flag=$(echo "${key#ETCD_}" | tr 'A-Z_' 'a-z-')
        echo "$flags" | grep -qx -- "$flag" || fail "etcd has no --$flag (deploy/ha sets $key)"
    done
    pass "every ETCD_ variable of deploy/ha is an option of $(etcd --version | head -n 1)"
fi

# Patroni's own validator, when Patroni is installed. The example's etcd
# hosts do not answer here; a bin_dir of a PostgreSQL version this machine
# lacks, or a data_dir only postgres may read, is the machine's doing, not
# the file's. In a network namespace of its own (when unshare may make
# one) the unreachable hosts fail at once, not after a timeout each.
if command -v patroni >/dev/null 2>&1; then
    isolate=()
    unshare -rn true 2>/dev/null && isolate=(unshare -rn)
    for f in "$DEPLOY"/ha/patroni-db*.yml; do
        out=$("${isolate[@]}" patroni --validate-config "$f" 2>&1 || true)
        # (and this machine's own cluster folder, which only postgres may read)
        rest=$(echo "$out" | grep -v "is not reachable" | grep -v '^$' \
            | grep -v '^postgresql.data_dir .*Permission denied' || true)
        [ -d /usr/lib/postgresql/15/bin ] || rest=$(echo "$rest" | grep -v 'bin_dir' || true)
        [ -z "$rest" ] || { echo "$rest"; fail "patroni --validate-config $(basename "$f")"; }
    done
    pass "patroni --validate-config accepts patroni-db1.yml and patroni-db2.yml"
else
    echo "note: patroni not installed; its validator not run"
fi

if ! command -v promtool >/dev/null 2>&1; then
    echo "note: promtool not installed; Prometheus files not checked"
    exit 0
fi
T=$(mktemp -d /tmp/certbus-deploy.XXXXXX)
trap 'rm -rf "$T"' EXIT
promtool check config "$DEPLOY/prometheus.yml" >"$T/out" 2>&1 || { cat "$T/out"; fail "prometheus.yml"; }
promtool check rules "$DEPLOY/certbus-alerts.yml" >"$T/out" 2>&1 \
    || { cat "$T/out"; fail "certbus-alerts.yml"; }
(cd "$DEPLOY" && promtool test rules certbus-alerts.test.yml) >"$T/out" 2>&1 \
    || { cat "$T/out"; fail "alert rule tests"; }
pass "promtool: prometheus.yml, certbus-alerts.yml and its tests"

# Every dashboard query, with Grafana's variables filled in, as a recording
# rule: promtool parses each one.
python3 - "$DEPLOY/grafana/certbus.json" >"$T/dashboard-rules.json" <<'EOF'
import json, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
subst = {"$__rate_interval": "1m", "$__interval": "1m", "$instance": ".*", "$member": ".*"}
rules = []
for i, e in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout)
EOF
promtool check rules "$T/dashboard-rules.json" >"$T/out" 2>&1 \
    || { cat "$T/out"; fail "a dashboard query does not parse"; }
pass "promtool: every dashboard query parses"
