/*  main.c - certbus-broker: the Council's command-line tool and daemon
    SPDX-License-Identifier: MPL-2.0
*/
#include "conf.h"
#include "audit.h"
#include "control.h"
#include "council.h"
#include "report.h"
#include "engine.h"
#include "metrics.h"
#include "store.h"
#include <stddef.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_usage
    = "usage: certbus-broker COMMAND --dir DIR [options]\n"
      "\n"
      "Council commands:\n"
      "  init      --dir DIR [--store URL]        Council key, broker identity, empty database;\n"
      "                                           writes DIR/council.pub and DIR/broker.pub;\n"
      "                                           URL: sqlite: (DIR/broker.db, the default) or\n"
      "                                           postgresql://user@host:port/dbname?... (no\n"
      "                                           password: ~/.pgpass, PGPASSFILE), kept in\n"
      "                                           DIR/broker.conf\n"
      "  pair      --dir DIR --out DIR2           folder for the second broker of a pair on\n"
      "                                           the same PostgreSQL store (no council.secret)\n"
      "  issue     --dir DIR --tier TIER [--sector S] [--region R] [--days N] REQUEST --out CERT\n"
      "                                           sign a member's request (default 365 days)\n"
      "  revoke    --dir DIR ORG_ID [--reason TEXT]\n"
      "  directory --dir DIR --out FILE           export the signed directory\n"
      "\n"
      "Daemon:\n"
      "  run       --dir DIR [--bind ENDPOINT] [--window N] [--heartbeat MS]\n"
      "            [--peer-timeout MS] [--expiry DAYS] [--head-records N]\n"
      "            [--head-interval MS] [--metrics HOST:PORT] [--syslog]\n"
      "            [--verify-threads N]           signature checks on N more threads\n"
      "                                           (default: one per core beyond the first)\n"
      "            [--quota-rate N] [--quota-burst N] [--quota-bytes BYTES]\n"
      "                                           per member: publishes per second (default\n"
      "                                           2000, bursts of 10000) and envelope bytes\n"
      "                                           stored (default 4 GiB); 0 turns one off\n"
      "            [--inflight-bytes BYTES]       deliveries in flight per member (8 MiB)\n"
      "            [--created-skew SECONDS]       how far a signed creation time may lie\n"
      "                                           ahead of the broker's clock (300)\n"
      "            [--lease MS]                   on PostgreSQL, one broker of a pair is active;\n"
      "                                           the other takes over when its lease (10000)\n"
      "                                           ends or its database session is gone\n"
      "            [--audit-burst N]              refused or bad frames audited one by one\n"
      "                                           per member and 10 s (20); the rest go\n"
      "                                           into one 'suppressed' record\n"
      "                                           logs: one line per event on stderr;\n"
      "                                           --syslog sends them to syslog too;\n"
      "                                           every database page is checked after an\n"
      "                                           unclean stop, or always with --check-db\n"
      "                                           serve members (default tcp://0.0.0.0:7447)\n"
      "  status    --dir DIR [--json]             running or not, sessions, backlog\n"
      "  reload    --dir DIR                      load a new policy and directory, no dropped "
      "links\n"
      "  policy check --dir DIR [FILE]            validate a policy file and print its rules\n"
      "  audit verify --dir DIR                   recompute the audit log and its signed heads\n"
      "  audit list --dir DIR [--org ID] [--since TIME] [--json]\n"
      "                                           TIME: 2026-11-27T10:00:00Z, 2026-11-27 or 2h\n"
      "  report    --dir DIR [--since DURATION] [--overdue SEV=DUR,...] [--json]\n"
      "                                           incident response times by tier, sector,\n"
      "                                           severity; overdue defaults: critical=15m,\n"
      "                                           high=1h, medium=4h, low=24h, info=72h\n"
      "\n"
      "Tiers: national, government, federal, provincial, sectoral, organization.\n";

//  Errors may quote what a member sent (a request, a header): escaped, so
//  that they cannot drive the operator's terminal or forge a line
static int
s_error (const char *what)
{
    char *escaped = certbus_term_escape (what);
    fprintf (stderr, "certbus-broker: %s\n", escaped);
    free (escaped);
    return 1;
}

static int
s_fail (void)
{
    return s_error (*certbus_reason () ? certbus_reason () : "failed");
}

typedef struct {
    const char *dir, *tier, *sector, *region, *out, *reason, *bind, *org, *since, *overdue;
    const char *metrics, *store;
    int lease;
    int days, window, heartbeat, peer_timeout, expiry_days, head_records, head_interval;
    int verify_threads;
    long long quota_rate, quota_burst, quota_bytes, inflight_bytes, created_skew, audit_burst;
    bool json, verbose, help, syslog, check_db;
    int argc; //  positional arguments left
    char **argv;
} s_args_t;

//  Every option, and where its value goes
static const certbus_opt_t s_options [] = {
    {"dir", CERTBUS_OPT_STRING, offsetof (s_args_t, dir)},
    {"tier", CERTBUS_OPT_STRING, offsetof (s_args_t, tier)},
    {"sector", CERTBUS_OPT_STRING, offsetof (s_args_t, sector)},
    {"region", CERTBUS_OPT_STRING, offsetof (s_args_t, region)},
    {"days", CERTBUS_OPT_INT, offsetof (s_args_t, days)},
    {"out", CERTBUS_OPT_STRING, offsetof (s_args_t, out)},
    {"reason", CERTBUS_OPT_STRING, offsetof (s_args_t, reason)},
    {"bind", CERTBUS_OPT_STRING, offsetof (s_args_t, bind)},
    {"window", CERTBUS_OPT_INT, offsetof (s_args_t, window)},
    {"heartbeat", CERTBUS_OPT_INT, offsetof (s_args_t, heartbeat)},
    {"peer-timeout", CERTBUS_OPT_INT, offsetof (s_args_t, peer_timeout)},
    {"expiry", CERTBUS_OPT_INT, offsetof (s_args_t, expiry_days)},
    {"head-records", CERTBUS_OPT_INT, offsetof (s_args_t, head_records)},
    {"head-interval", CERTBUS_OPT_INT, offsetof (s_args_t, head_interval)},
    {"metrics", CERTBUS_OPT_STRING, offsetof (s_args_t, metrics)},
    {"json", CERTBUS_OPT_FLAG, offsetof (s_args_t, json)},
    {"org", CERTBUS_OPT_STRING, offsetof (s_args_t, org)},
    {"since", CERTBUS_OPT_STRING, offsetof (s_args_t, since)},
    {"overdue", CERTBUS_OPT_STRING, offsetof (s_args_t, overdue)},
    {"verbose", CERTBUS_OPT_FLAG, offsetof (s_args_t, verbose)},
    {"syslog", CERTBUS_OPT_FLAG, offsetof (s_args_t, syslog)},
    {"check-db", CERTBUS_OPT_FLAG, offsetof (s_args_t, check_db)},
    {"verify-threads", CERTBUS_OPT_INT, offsetof (s_args_t, verify_threads)},
    {"quota-rate", CERTBUS_OPT_LLONG, offsetof (s_args_t, quota_rate)},
    {"quota-burst", CERTBUS_OPT_LLONG, offsetof (s_args_t, quota_burst)},
    {"quota-bytes", CERTBUS_OPT_LLONG, offsetof (s_args_t, quota_bytes)},
    {"inflight-bytes", CERTBUS_OPT_LLONG, offsetof (s_args_t, inflight_bytes)},
    {"created-skew", CERTBUS_OPT_LLONG, offsetof (s_args_t, created_skew)},
    {"audit-burst", CERTBUS_OPT_LLONG, offsetof (s_args_t, audit_burst)},
    {"store", CERTBUS_OPT_STRING, offsetof (s_args_t, store)},
    {"lease", CERTBUS_OPT_INT, offsetof (s_args_t, lease)},
    {"help", CERTBUS_OPT_FLAG, offsetof (s_args_t, help)},
};

static int
s_parse (int argc, char **argv, s_args_t *args)
{
    memset (args, 0, sizeof *args);
    args->days = 365;
    args->window = BROKER_DEFAULT_WINDOW;
    args->heartbeat = BROKER_DEFAULT_HEARTBEAT_MS;
    args->peer_timeout = BROKER_DEFAULT_PEER_TIMEOUT_MS;
    args->expiry_days = 30;
    args->head_records = BROKER_DEFAULT_HEAD_RECORDS;
    args->head_interval = BROKER_DEFAULT_HEAD_MS;
    args->bind = BROKER_DEFAULT_BIND;
    args->verify_threads = -1;
    args->quota_rate = BROKER_DEFAULT_QUOTA_RATE;
    args->quota_burst = BROKER_DEFAULT_QUOTA_BURST;
    args->quota_bytes = BROKER_DEFAULT_QUOTA_BYTES;
    args->inflight_bytes = BROKER_DEFAULT_INFLIGHT_BYTES;
    args->created_skew = BROKER_DEFAULT_CREATED_SKEW_MS / 1000;
    args->audit_burst = BROKER_DEFAULT_NOISE_BURST;
    args->lease = BROKER_DEFAULT_LEASE_MS;
    int first = certbus_args_parse (argc, argv, s_options, sizeof s_options / sizeof s_options [0],
                                    args);
    if (first < 0)
        return -1;
    args->argc = argc - first;
    args->argv = argv + first;
    return 0;
}

static volatile sig_atomic_t s_reload_requested = 0;

static void
s_on_hup (int signum)
{
    (void) signum;
    s_reload_requested = 1;
}

//  Asks the engine for its metrics over the in-process control endpoint;
//  called in the HTTP server's thread, so it uses a socket of its own.
static char *
s_fetch_metrics (void *arg)
{
    (void) arg;
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (client, 3000);
    zsock_set_sndtimeo (client, 1000);
    zsock_set_linger (client, 0);
    char *text = NULL;
    if (zsock_connect (client, "%s", BROKER_CONTROL_INPROC) == 0
        && zstr_send (client, "METRICS") == 0)
        text = zstr_recv (client);
    zsock_destroy (&client);
    return text;
}

//  The daemon's side of the engine's events
typedef struct {
    const char *dir;
    char *endpoint_file; //  DIR/broker.endpoint: there while active
} s_daemon_t;

static bool
s_is_event (const char *text)
{
    return strncmp (text, "READY ", 6) == 0 || strncmp (text, "STANDBY ", 8) == 0
           || strncmp (text, "DOWN ", 5) == 0 || strncmp (text, "FATAL ", 6) == 0;
}

//  READY ENDPOINT: serving (write DIR/broker.endpoint); STANDBY TEXT:
//  waiting for the lease; DOWN REASON: lost it, back to standby; FATAL
//  REASON: the engine cannot go on. Returns 0, or 1 on FATAL.
static int
s_event (s_daemon_t *daemon, const char *event)
{
    if (!event || strncmp (event, "FATAL ", 6) == 0)
        return s_error (event && strlen (event) > 6 ? event + 6 : "engine did not start");
    if (strncmp (event, "READY ", 6) == 0) {
        if (certbus_file_write (daemon->endpoint_file, event + 6, strlen (event + 6), 0644))
            zsys_warning ("broker: %s", certbus_reason ());
        printf ("certbus-broker: serving %s\n", event + 6);
    }
    else if (strncmp (event, "STANDBY ", 8) == 0)
        printf ("certbus-broker: standby: %s\n", event + 8);
    else if (strncmp (event, "DOWN ", 5) == 0) {
        unlink (daemon->endpoint_file);
        printf ("certbus-broker: stepped down: %s\n", event + 5);
    }
    fflush (stdout);
    return 0;
}

static int
s_run (s_args_t *args)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.dir = args->dir;
    config.bind = args->bind;
    config.lease_ms = args->lease;
    if (args->lease < 200 || args->lease > 600000)
        return s_error ("--lease must be 200..600000 ms");
    if (args->window < 1 || args->window > 100000 || args->heartbeat < 10
        || args->peer_timeout < args->heartbeat || args->expiry_days < 1
        || args->verify_threads < -1 || args->verify_threads > 64)
        return s_error ("--window must be 1..100000, --heartbeat >= 10 ms, --peer-timeout >= "
                        "--heartbeat, --expiry >= 1 day, --verify-threads 0..64");
    config.window = args->window;
    config.heartbeat_ms = args->heartbeat;
    config.peer_timeout_ms = args->peer_timeout;
    config.expiry_ms = (int64_t) args->expiry_days * 86400 * 1000;
    config.head_records = args->head_records > 0 ? args->head_records : 1;
    config.head_ms = args->head_interval > 0 ? args->head_interval : 1;
    config.full_check = args->check_db;
    config.verify_threads = args->verify_threads;
    if (args->quota_rate < 0 || args->quota_rate > 1000000 || args->quota_burst < 1
        || args->quota_burst > 10000000 || args->quota_bytes < 0 || args->inflight_bytes < 1024
        || args->created_skew < 1 || args->created_skew > 86400 || args->audit_burst < 1
        || args->audit_burst > 1000000000)
        return s_error ("--quota-rate must be 0..1000000, --quota-burst 1..10000000, "
                        "--quota-bytes >= 0, --inflight-bytes >= 1024, --created-skew 1..86400 "
                        "seconds, --audit-burst 1..1000000000");
    config.quota_rate = (int) args->quota_rate;
    config.quota_burst = (int) args->quota_burst;
    config.quota_bytes = args->quota_bytes;
    config.inflight_bytes = args->inflight_bytes;
    config.created_skew_ms = args->created_skew * 1000;
    config.noise_burst = (int) args->audit_burst;
    signal (SIGHUP, s_on_hup);
    s_daemon_t daemon = {.dir = args->dir};
    daemon.endpoint_file = council_path (args->dir, "broker.endpoint");
    zactor_t *engine = zactor_new (broker_engine_actor, &config);
    //  The engine says STANDBY (another broker of the pair is active) or
    //  READY first; FATAL when it cannot start
    char *event = zstr_recv (engine);
    int rc = s_event (&daemon, event);
    zstr_free (&event);
    broker_metrics_t *metrics = NULL;
    if (rc == 0 && args->metrics) {
        metrics = broker_metrics_start (args->metrics, s_fetch_metrics, NULL);
        if (metrics)
            printf ("certbus-broker: metrics on http://%s/metrics (port %d)\n", args->metrics,
                    broker_metrics_port (metrics));
        else
            rc = s_fail ();
    }
    fflush (stdout);
    zpoller_t *poller = zpoller_new (engine, NULL);
    while (rc == 0 && !zsys_interrupted) {
        if (zpoller_wait (poller, 200) == engine) {
            event = zstr_recv (engine);
            rc = s_event (&daemon, event);
            zstr_free (&event);
        }
        if (zpoller_terminated (poller) && zsys_interrupted)
            break;
        if (s_reload_requested && rc == 0) {
            s_reload_requested = 0;
            zstr_send (engine, "RELOAD");
            //  Events may come before the reply
            char *reply = zstr_recv (engine);
            while (reply && s_is_event (reply) && rc == 0) {
                rc = s_event (&daemon, reply);
                zstr_free (&reply);
                reply = zstr_recv (engine);
            }
            zsys_info ("broker: reload: %s", reply ? reply : "no answer");
            zstr_free (&reply);
        }
    }
    zsys_info ("broker: shutting down");
    broker_metrics_stop (&metrics);
    zpoller_destroy (&poller);
    zactor_destroy (&engine);
    unlink (daemon.endpoint_file);
    free (daemon.endpoint_file);
    return rc;
}

//  A number of a STATS object, -1 when absent
static long long
s_number (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    return json_is_integer (value) ? (long long) json_integer_value (value) : -1;
}

//  A string of a STATS object, "" when absent
static const char *
s_string (json_t *object, const char *key)
{
    const char *text = json_string_value (json_object_get (object, key));
    return text ? text : "";
}

//  Renders the engine's STATS for a person at 3 a.m.
static void
s_print_stats (json_t *stats)
{
    char head_time [40] = "-";
    long long head_ms = s_number (stats, "tree_head_time");
    if (head_ms > 0)
        certbus_time_format (head_ms, head_time, sizeof head_time);
    const char *last_error = s_string (stats, "last_error");
    char *error_text = certbus_term_escape (*last_error ? last_error : "none");
    const char *role = s_string (stats, "role");
    char until [40] = "-";
    if (s_number (stats, "lease_expires") > 0)
        certbus_time_format (s_number (stats, "lease_expires"), until, sizeof until);
    char *holder = certbus_term_escape (s_string (stats, "lease_holder"));
    printf ("certbus-broker: running, %s\n"
            "  lease               %s, epoch %lld, until %s (takeovers here: %lld)\n",
            *role ? role : "active", *holder ? holder : "none (one host: SQLite)",
            s_number (stats, "lease_epoch"), until, s_number (stats, "failovers"));
    free (holder);
    if (streq (role, "standby")) {
        free (error_text);
        return;
    }
    printf ("  directory version   %lld (%lld members)\n"
            "  policy              %lld rules, default deny\n"
            "  messages stored     %lld (queued deliveries %lld)\n"
            "  accepted/rejected   %lld / %lld (duplicates %lld)\n"
            "  deliveries/acks     %lld / %lld\n"
            "  audit log           %lld records, last signed head %lld at %s\n"
            "  last error          %s\n",
            s_number (stats, "directory"), s_number (stats, "members"),
            s_number (stats, "policy_rules"), s_number (stats, "messages"),
            s_number (stats, "queued"), s_number (stats, "accepted"), s_number (stats, "rejected"),
            s_number (stats, "duplicates"), s_number (stats, "deliveries"),
            s_number (stats, "acks"), s_number (stats, "audit_size"),
            s_number (stats, "tree_head_size"), head_time, error_text);
    free (error_text);
    printf ("  %-24s %-13s %8s %8s %8s\n", "member", "tier", "inflight", "queued", "idle ms");
    json_t *sessions = json_object_get (stats, "sessions");
    for (size_t i = 0; i < json_array_size (sessions); i++) {
        json_t *session = json_array_get (sessions, i);
        char *org_text = certbus_term_escape (s_string (session, "org"));
        char *tier_text = certbus_term_escape (s_string (session, "tier"));
        printf ("  %-24s %-13s %8lld %8lld %8lld\n", org_text, tier_text,
                s_number (session, "inflight"), s_number (session, "queued"),
                s_number (session, "idle_ms"));
        free (org_text);
        free (tier_text);
    }
}

//  A field of the STATS object, or null (borrowed)
static json_t *
s_field (json_t *stats, const char *key)
{
    json_t *value = json_object_get (stats, key);
    return value ? value : json_null ();
}

//  Prints a JSON object on one line, compact, keys in the order given,
//  and frees it.
static void
s_print_json (json_t *object)
{
    char *text = object ? json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf ("%s\n", text);
    free (text);
    json_decref (object);
}

static int
s_status (s_args_t *args)
{
    char *stats = broker_control_call (args->dir, "STATS");
    if (stats) {
        json_t *parsed = json_loads (stats, 0, NULL);
        if (args->json && parsed)
            s_print_json (json_pack ("{s:b, s:O, s:O, s:O, s:O, s:O, s:O}", "running", 1, "role",
                                     s_field (parsed, "role"), "lease_holder",
                                     s_field (parsed, "lease_holder"), "lease_epoch",
                                     s_field (parsed, "lease_epoch"), "lease_expires",
                                     s_field (parsed, "lease_expires"), "failovers",
                                     s_field (parsed, "failovers"), "broker", parsed));
        else if (args->json)
            printf ("{\"running\":true,\"broker\":%s}\n", stats);
        else if (parsed)
            s_print_stats (parsed);
        json_decref (parsed);
        int rc = args->json || parsed ? 0 : s_error ("the broker's STATS reply is not JSON");
        free (stats);
        return rc;
    }
    broker_store_t *store = broker_conf_store_open (args->dir);
    if (!store)
        return s_fail ();
    broker_counts_t counts = {0};
    broker_lease_t lease;
    int rc = broker_store_counts (store, &counts) || broker_store_lease_read (store, &lease);
    broker_store_destroy (&store);
    if (rc)
        return s_fail ();
    //  Not running here; the lease says whether a broker of the pair is
    //  active elsewhere
    bool held = lease.supported && lease.expires_at > lease.now;
    char until [40] = "-";
    if (lease.expires_at > 0)
        certbus_time_format (lease.expires_at, until, sizeof until);
    if (args->json)
        s_print_json (json_pack ("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "running", 0,
                                 "role", "stopped", "lease_holder", lease.holder, "lease_epoch",
                                 (json_int_t) lease.epoch, "lease_expires",
                                 (json_int_t) lease.expires_at, "messages",
                                 (json_int_t) counts.messages, "queued", (json_int_t) counts.queued,
                                 "audit_size", (json_int_t) counts.audit, "certificates",
                                 (json_int_t) counts.certificates));
    else {
        char *holder = certbus_term_escape (lease.holder);
        printf ("certbus-broker: not running here\n");
        if (lease.supported)
            printf ("lease: %s %s, epoch %llu, until %s\n", held ? "held by" : "last held by",
                    *holder ? holder : "nobody", (unsigned long long) lease.epoch, until);
        free (holder);
        printf ("messages stored: %lld\ndeliveries queued: %lld\n"
                "audit records: %lld\ncertificates issued: %lld\n",
                (long long) counts.messages, (long long) counts.queued, (long long) counts.audit,
                (long long) counts.certificates);
    }
    return 0;
}

static int
s_audit (s_args_t *args)
{
    if (args->argc == 1 && streq (args->argv [0], "verify"))
        return audit_verify (args->dir) ? 1 : 0;
    if (args->argc == 1 && streq (args->argv [0], "list")) {
        int64_t since = 0;
        if (args->since && (since = certbus_time_parse (args->since)) < 0)
            return s_error ("--since takes 2026-11-27T10:00:00Z, 2026-11-27 or a duration "
                            "such as 2h");
        return audit_list (args->dir, args->org, since, args->json) ? s_fail () : 0;
    }
    return s_error ("usage: certbus-broker audit verify|list --dir DIR");
}

static int
s_report (s_args_t *args)
{
    int64_t since = 0;
    if (args->since) {
        int64_t span = certbus_duration_parse (args->since);
        since = span >= 0 ? certbus_now_ms () - span : certbus_time_parse (args->since);
        if (since < 0)
            return s_error ("--since takes a duration such as 7d or 12h, or a date");
    }
    return report_print (args->dir, since, args->json, args->overdue) ? s_fail () : 0;
}

int
main (int argc, char **argv)
{
    certbus_init ();
    if (argc < 2 || streq (argv [1], "--help") || streq (argv [1], "-h")
        || streq (argv [1], "help")) {
        fputs (s_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv [1];
    s_args_t args;
    if (s_parse (argc - 1, argv + 1, &args) != 0) {
        fputs (s_usage, stderr);
        return 2;
    }
    if (args.help) {
        fputs (s_usage, stdout);
        return 0;
    }
    if (!args.dir)
        return s_error ("--dir DIR is required (see certbus-broker --help)");
    int rc;
    if (streq (command, "init")) {
        if (council_init (args.dir, args.store ? args.store : BROKER_STORE_DEFAULT))
            return s_fail ();
        printf ("initialised Council broker in %s\n"
                "give members %s/council.pub and %s/broker.pub\n",
                args.dir, args.dir, args.dir);
        rc = 0;
    }
    else if (streq (command, "issue")) {
        if (!args.tier || !args.out || args.argc != 1)
            return s_error ("usage: certbus-broker issue --dir DIR --tier TIER [--sector S] "
                            "[--region R] [--days N] REQUEST --out CERT");
        rc = council_issue (args.dir, args.tier, args.sector, args.region, args.days, args.argv [0],
                            args.out)
                 ? s_fail ()
                 : 0;
    }
    else if (streq (command, "revoke")) {
        if (args.argc != 1)
            return s_error ("usage: certbus-broker revoke --dir DIR ORG_ID [--reason TEXT]");
        rc = council_revoke (args.dir, args.argv [0], args.reason) ? s_fail () : 0;
    }
    else if (streq (command, "pair")) {
        if (!args.out || args.argc != 0)
            return s_error ("usage: certbus-broker pair --dir DIR --out DIR2");
        if (council_pair (args.dir, args.out))
            return s_fail ();
        printf ("wrote %s for the second broker of the pair: the broker identity, public files, "
                "policy and store (no council.secret)\n"
                "copy it to the second host and run certbus-broker run --dir there\n",
                args.out);
        rc = 0;
    }
    else if (streq (command, "directory")) {
        if (!args.out)
            return s_error ("usage: certbus-broker directory --dir DIR --out FILE");
        rc = council_directory (args.dir, args.out) ? s_fail () : 0;
    }
    else if (streq (command, "run")) {
        zsys_set_logident ("certbus-broker");
        zsys_set_logstream (stderr);
        if (args.syslog)
            zsys_set_logsystem (true);
        rc = s_run (&args);
    }
    else if (streq (command, "policy")) {
        if (args.argc < 1 || !streq (args.argv [0], "check") || args.argc > 2)
            return s_error ("usage: certbus-broker policy check --dir DIR [FILE]");
        rc = council_policy_check (args.dir, args.argc == 2 ? args.argv [1] : NULL) ? s_fail () : 0;
    }
    else if (streq (command, "audit"))
        rc = s_audit (&args);
    else if (streq (command, "report"))
        rc = s_report (&args);
    else if (streq (command, "status"))
        rc = s_status (&args);
    else if (streq (command, "reload")) {
        char *reply = broker_control_call (args.dir, "RELOAD");
        if (!reply)
            return s_error ("no broker is running in this folder (nothing to reload)");
        rc = strncmp (reply, "OK", 2) == 0 ? 0 : 1;
        fprintf (rc ? stderr : stdout, "certbus-broker: reload: %s\n", reply);
        free (reply);
    }
    else {
        fprintf (stderr, "certbus-broker: unknown command '%s'\n\n%s", command, s_usage);
        rc = 2;
    }
    return rc;
}
