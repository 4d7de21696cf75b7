/*  bench_backlog.c - case 4 (second half): the broker with 1,000,000
    queued, undelivered messages: its memory, and its restart time
    SPDX-License-Identifier: MPL-2.0

    usage: bench_backlog [LOG]                   whole case (gen + restarts)
           bench_backlog start DIR warm|cold clean|crash
                                                 one restart (child process)
           bench_backlog check DIR warm|cold     open-time queries alone (child)

    To keep the bench short the backlog is not published through the
    broker (that would take ~10 minutes at case 1's rate): it is inserted
    with the broker's own storage functions (broker_store_message_insert,
    broker_store_queue_insert, broker_tree_append, and a signed tree
    head every 1,000 records as the engine makes them), in transactions of
    10,000 messages, into a Council folder made by council_init. Every row
    holds a real sealed 1 KiB envelope (the same bytes each time, each row
    under its own message id) for one member that never connects.

    Each restart runs in a fresh process: its RSS before zactor_new is the
    baseline, then zactor_new -> READY is the restart time, then the
    offline member connects and gets its first window of deliveries.
    "warm" leaves the database in the page cache; "cold" first evicts the
    database's pages (posix_fadvise DONTNEED on its files only). The broker
    checks every page (PRAGMA quick_check) only when its last stop was not
    clean: "clean" restarts find meta clean_stop = 1, as a clean stop leaves
    it; "crash" restarts find 0, as a crash (or a first start) leaves it.
*/
#include "bench.h"
#include "council.h"
#include "engine.h"
#include "store.h"
#include "tree.h"
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define s_PAYLOAD 1024
#define s_RUNS 3
#define s_TXN 10000
#define s_HEAD_RECORDS 1000

//  ---------------------------------------------------------------------------
//  Making the backlog

static void
s_generate (b_council_t *council, size_t count, double *seconds_p)
{
    uint8_t payload [s_PAYLOAD];
    randombytes_buf (payload, sizeof payload);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = b_seal (council, 0, "org:offline", payload, sizeof payload, id, &size);
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (bytes, size, &env))
        b_die ("decode: %s", certbus_reason ());
    size_t base_size, wrapped_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    uint8_t *wrapped = certbus_envelope_recipient_bytes (env, 0, &wrapped_size);
    certbus_header_t header = *certbus_envelope_header (env);
    char *path = council_path (council->dir, BROKER_DB);
    broker_store_t *store = broker_store_open (path, false);
    broker_tree_t *tree = store ? broker_tree_new (store) : NULL;
    free (path);
    path = council_path (council->dir, BROKER_SECRET);
    certbus_identity_t *identity = certbus_identity_load (path);
    free (path);
    if (!store || !tree || !identity)
        b_die ("cannot open the broker folder: %s", certbus_reason ());
    char *recipients [1] = {"offline"};
    double start = b_now ();
    int64_t last_head = 0;
    for (size_t done = 0; done < count;) {
        if (broker_store_begin (store))
            b_die ("begin: %s", certbus_reason ());
        size_t end = done + s_TXN < count ? done + s_TXN : count;
        int64_t now = certbus_now_ms ();
        for (; done < end; done++) {
            certbus_uuid7 (header.id);
            uint64_t seq;
            if (broker_store_message_insert (store, &header, base, base_size, now,
                                             now + 30LL * 86400 * 1000, 1, &seq)
                || broker_store_queue_insert (store, "offline", seq, 0, wrapped, wrapped_size))
                b_die ("insert: %s", certbus_reason ());
            Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
            record.time = now;
            record.event = "publish";
            record.org = header.origin;
            record.message_id.data = header.id;
            record.message_id.len = CERTBUS_ID_SIZE;
            record.kind = header.kind;
            record.tlp = header.tlp;
            record.audience = header.audience;
            record.ciphertext_hash.data = header.ciphertext_hash;
            record.ciphertext_hash.len = CERTBUS_HASH_SIZE;
            record.severity = header.severity;
            record.decision = "accept";
            record.rule = "national-any";
            record.reason = "";
            record.sequence = seq;
            record.recipients = recipients;
            record.n_recipients = 1;
            if (broker_tree_append (tree, &record))
                b_die ("audit: %s", certbus_reason ());
        }
        //  Tree heads as the engine signs them (every 1,000 records)
        int64_t records = broker_tree_size (tree);
        while (records - last_head >= s_HEAD_RECORDS || (done == count && records > last_head)) {
            certbus_tree_head_t head = {0};
            head.size = (uint64_t) records;
            head.timestamp = certbus_now_ms () + records; //  strictly increasing
            broker_tree_root (tree, head.root);
            size_t head_size;
            uint8_t *head_bytes = certbus_tree_head_sign (identity, &head, &head_size);
            if (broker_store_tree_head_add (store, &head, head_bytes, head_size))
                b_die ("tree head: %s", certbus_reason ());
            free (head_bytes);
            last_head = records;
        }
        if (broker_store_commit (store))
            b_die ("commit: %s", certbus_reason ());
    }
    *seconds_p = b_now () - start;
    broker_tree_destroy (&tree);
    broker_store_destroy (&store);
    certbus_identity_destroy (&identity);
    certbus_envelope_destroy (&env);
    free (base);
    free (wrapped);
    free (bytes);
}

//  ---------------------------------------------------------------------------
//  Child modes

static void
s_evict (const char *dir)
{
    const char *names [] = {"broker.db", "broker.db-wal", "broker.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *path = zsys_sprintf ("%s/%s", dir, names [i]);
        int fd = open (path, O_RDONLY);
        if (fd >= 0) {
            fdatasync (fd);
            posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
            close (fd);
        }
        zstr_free (&path);
    }
}

static double
s_query_time (sqlite3 *db, const char *sql, char *answer, size_t answer_size)
{
    double start = b_now ();
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
        b_die ("%s: %s", sql, sqlite3_errmsg (db));
    if (sqlite3_step (stmt) == SQLITE_ROW && answer)
        snprintf (answer, answer_size, "%s", (const char *) sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    return b_now () - start;
}

static int
s_check (const char *dir, bool cold)
{
    if (cold)
        s_evict (dir);
    char *path = zsys_sprintf ("%s/broker.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        b_die ("cannot open %s", path);
    char verdict [64] = "";
    double check = s_query_time (db, "PRAGMA quick_check", verdict, sizeof verdict);
    printf ("CHILD quick_check_s %.4f\n", check);
    if (cold) {
        sqlite3_close (db);
        s_evict (dir);
        sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
    }
    double audit = s_query_time (db, "SELECT COUNT (*) FROM audit", NULL, 0);
    printf ("CHILD count_audit_s %.4f\n", audit);
    double queue = s_query_time (db, "SELECT COUNT (*) FROM queue", NULL, 0);
    printf ("CHILD count_queue_s %.4f\n", queue);
    double messages = s_query_time (db, "SELECT COUNT (*) FROM messages", NULL, 0);
    printf ("CHILD count_messages_s %.4f\n", messages);
    sqlite3_close (db);
    free (path);
    return strcmp (verdict, "ok") == 0 ? 0 : 1;
}

//  Leaves the database as a clean stop (1) or a crash (0) would.
static void
s_mark_stop (const char *dir, bool clean)
{
    char *path = zsys_sprintf ("%s/broker.db", dir);
    sqlite3 *db = NULL;
    char *sql
        = zsys_sprintf ("INSERT OR REPLACE INTO meta (key, value) VALUES ('clean_stop', '%s')",
                        clean ? "1" : "0");
    if (sqlite3_open (path, &db) != SQLITE_OK
        || sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
        b_die ("cannot mark %s: %s", path, sqlite3_errmsg (db));
    sqlite3_close (db);
    zstr_free (&sql);
    zstr_free (&path);
}

static int
s_start (const char *dir, bool cold, bool clean)
{
    s_mark_stop (dir, clean);
    if (cold)
        s_evict (dir);
    long rss_before = b_proc_kib (0, "VmRSS");
    b_broker_t *broker = b_broker_start (dir, 0, 60000);
    if (!broker)
        return 1;
    long rss_ready = b_proc_kib (0, "VmRSS");
    printf ("CHILD start_s %.4f\nCHILD rss_before_kib %ld\nCHILD rss_ready_kib %ld\n",
            broker->start_s, rss_before, rss_ready);
    fflush (stdout);
    //  The offline member comes back: time to its first window, acked
    b_council_t council = {0};
    char *path = council_path (dir, BROKER_PUB);
    if (certbus_pubfile_read (path, council.broker_sign, council.broker_curve))
        b_die ("%s", certbus_reason ());
    free (path);
    path = council_path (dir, "offline.secret");
    b_member_t member = {0};
    snprintf (member.org, sizeof member.org, "offline");
    member.identity = certbus_identity_load (path);
    free (path);
    if (!member.identity)
        b_die ("offline member keys: %s", certbus_reason ());
    double start = b_now ();
    zsock_t *client = b_client (&council, &member, broker->endpoint);
    b_send_hello (client, 0, 0);
    int delivered = 0;
    double first = 0;
    uint64_t sequences [64];
    while (delivered < 64) {
        Certbus__Packet *packet = b_expect (client, CERTBUS__PACKET__BODY_DELIVER, 30000);
        if (!packet)
            b_die ("no delivery to the returning member within 30 s");
        if (!first)
            first = b_now () - start;
        sequences [delivered++] = packet->deliver->sequence;
        certbus_codec_free (packet);
    }
    double window = b_now () - start;
    b_send_acks (client, sequences, 64);
    //  the next window proves the acks were taken
    Certbus__Packet *packet = b_expect (client, CERTBUS__PACKET__BODY_DELIVER, 30000);
    double next = b_now () - start;
    //  Then drain for a while, acknowledging each delivery at once, as a
    //  returning member does: deliveries per second out of the backlog
    int drained = 0;
    double drain_start = b_now ();
    while (packet && drained < 640 && b_now () - drain_start < 20) {
        uint64_t sequence = packet->deliver->sequence;
        b_send_acks (client, &sequence, 1);
        drained++;
        certbus_codec_free (packet);
        packet = b_expect (client, CERTBUS__PACKET__BODY_DELIVER, 30000);
    }
    double drain_rate = drained / (b_now () - drain_start);
    certbus_codec_free (packet);
    printf ("CHILD drain_per_s %.1f\n", drain_rate);
    long rss_serving = b_proc_kib (0, "VmRSS");
    double stats_start = b_now ();
    int64_t queued = b_broker_stat (broker, "queued");
    double stats_s = b_now () - stats_start;
    printf ("CHILD first_delivery_s %.4f\nCHILD first_window_s %.4f\nCHILD next_window_s %.4f\n"
            "CHILD rss_serving_kib %ld\nCHILD stats_s %.4f\nCHILD queued %lld\n",
            first, window, next, rss_serving, stats_s, (long long) queued);
    //  A Prometheus scrape asks the engine for METRICS: time it (the
    //  engine answers nothing else meanwhile)
    double metrics_start = b_now ();
    zstr_send (broker->actor, "METRICS");
    char *metrics = zstr_recv (broker->actor);
    double metrics_s = b_now () - metrics_start;
    printf ("CHILD metrics_s %.4f\n", metrics ? metrics_s : -1.0);
    zstr_free (&metrics);
    long hwm = b_proc_kib (0, "VmHWM");
    printf ("CHILD rss_hwm_kib %ld\n", hwm);
    zsock_destroy (&client);
    b_broker_stop (&broker);
    certbus_identity_destroy (&member.identity);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Orchestration

typedef struct {
    double values [16][s_RUNS];
    char keys [16][64];
    int count;
} s_table_t;

static void
s_child (const char *mode, const char *dir, const char *temperature, const char *stop,
         s_table_t *table, int run)
{
    char exe [4096];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        b_die ("cannot find this program's path");
    exe [len] = 0;
    char *command = zsys_sprintf ("'%s' %s '%s' %s %s", exe, mode, dir, temperature, stop);
    FILE *pipe = popen (command, "r");
    if (!pipe)
        b_die ("cannot run %s", command);
    char line [256];
    while (fgets (line, sizeof line, pipe)) {
        char key [64];
        double value;
        if (sscanf (line, "CHILD %63s %lf", key, &value) != 2)
            continue;
        int k;
        for (k = 0; k < table->count; k++)
            if (strcmp (table->keys [k], key) == 0)
                break;
        if (k == table->count && table->count < 16)
            snprintf (table->keys [table->count++], sizeof table->keys [0], "%s", key);
        if (k < 16)
            table->values [k][run] = value;
    }
    if (pclose (pipe) != 0)
        b_die ("%s failed", command);
    zstr_free (&command);
}

static double
s_get_n (s_table_t *table, const char *key, double *runs_out, int runs)
{
    for (int k = 0; k < table->count; k++)
        if (strcmp (table->keys [k], key) == 0) {
            if (runs_out)
                memcpy (runs_out, table->values [k], sizeof (double) * (size_t) runs);
            return b_median (table->values [k], (size_t) runs);
        }
    return -1;
}

static double
s_get (s_table_t *table, const char *key, double *runs_out)
{
    return s_get_n (table, key, runs_out, s_RUNS);
}

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && strcmp (argv [1], "start") == 0) {
        certbus_init ();
        zsys_init ();
        b_log_to ("/dev/null");
        return s_start (argv [2], strcmp (argv [3], "cold") == 0, strcmp (argv [4], "clean") == 0);
    }
    if (argc >= 4 && strcmp (argv [1], "check") == 0)
        return s_check (argv [2], strcmp (argv [3], "cold") == 0);
    certbus_init ();
    zsys_init ();
    if (argc > 1)
        b_log_to (argv [1]);
    int cores = b_cores ();
    size_t count = b_quick () ? 100000 : 1000000;
    printf ("== case 4: broker with %zu queued undelivered messages (%d cores)\n", count, cores);
    if (b_quick ())
        printf ("   BENCH_QUICK: %zu messages instead of 1,000,000\n", count);
    static const char *orgs [2] = {"alpha", "offline"};
    b_council_t *council = b_council_new ("backlog", 2, NULL, orgs, "national", NULL);
    char *path = council_path (council->dir, "offline.secret");
    if (certbus_identity_save (council->members [1].identity, path))
        b_die ("%s", certbus_reason ());
    free (path);
    double gen_s = 0;
    s_generate (council, count, &gen_s);
    path = council_path (council->dir, BROKER_DB);
    struct stat st;
    double db_mib = stat (path, &st) == 0 ? (double) st.st_size / 1048576.0 : -1;
    free (path);
    printf ("   backlog inserted directly with broker_store_* (not published through the "
            "broker), %d per transaction, with its audit records and tree heads: %.1f s; "
            "broker.db %.0f MiB\n",
            s_TXN, gen_s, db_mib);
    fflush (stdout);

    //  Cold runs may reread the whole file from disk: at full size one of
    //  each (about a minute apiece here), three in a quick run
    int cold_runs = b_quick () ? s_RUNS : 1;
    s_table_t clean_warm = {0}, clean_cold = {0}, crash_warm = {0}, crash_cold = {0};
    s_table_t check_warm = {0}, check_cold = {0};
    for (int r = 0; r < cold_runs; r++) {
        s_child ("check", council->dir, "cold", "-", &check_cold, r);
        s_child ("start", council->dir, "cold", "crash", &crash_cold, r);
        s_child ("start", council->dir, "cold", "clean", &clean_cold, r);
    }
    //  check warm reads every page (quick_check), so the warm starts after
    //  it find the whole database in the page cache
    for (int r = 0; r < s_RUNS; r++) {
        s_child ("check", council->dir, "warm", "-", &check_warm, r);
        s_child ("start", council->dir, "warm", "clean", &clean_warm, r);
        s_child ("start", council->dir, "warm", "crash", &crash_warm, r);
    }
    double runs [s_RUNS];
    char list [4][128];
    double clean_w = s_get (&clean_warm, "start_s", runs);
    snprintf (list [0], sizeof list [0], "%s", b_list (runs, s_RUNS, "%.2f"));
    double crash_w = s_get (&crash_warm, "start_s", runs);
    snprintf (list [1], sizeof list [1], "%s", b_list (runs, s_RUNS, "%.2f"));
    double clean_c = s_get_n (&clean_cold, "start_s", runs, cold_runs);
    snprintf (list [2], sizeof list [2], "%s", b_list (runs, (size_t) cold_runs, "%.2f"));
    double crash_c = s_get_n (&crash_cold, "start_s", runs, cold_runs);
    snprintf (list [3], sizeof list [3], "%s", b_list (runs, (size_t) cold_runs, "%.2f"));
    const char *cold_what = cold_runs > 1 ? "median" : "one run";
    double before = s_get (&clean_warm, "rss_before_kib", NULL) / 1024;
    double ready = s_get (&clean_warm, "rss_ready_kib", NULL) / 1024;
    double serving = s_get (&clean_warm, "rss_serving_kib", NULL) / 1024;
    double hwm = s_get (&clean_warm, "rss_hwm_kib", NULL) / 1024;
    double hwm_crash = s_get (&crash_warm, "rss_hwm_kib", NULL) / 1024;
    double check_w = s_get (&check_warm, "quick_check_s", NULL);
    double check_c = s_get_n (&check_cold, "quick_check_s", NULL, cold_runs);
    double audit_w = s_get (&check_warm, "count_audit_s", NULL);
    double audit_c = s_get_n (&check_cold, "count_audit_s", NULL, cold_runs);
    printf (
        "   restart (zactor_new -> READY) after a clean stop, warm cache: %.2f s (target <= 5 s)"
        "%s (median of %d: %s)\n",
        clean_w, clean_w <= 5 ? "" : " MISSED", s_RUNS, list [0]);
    printf ("   restart after a crash (every page checked), warm cache: %.2f s%s (median of %d: "
            "%s)\n",
            crash_w, crash_w <= 5 ? "" : " (over 5 s)", s_RUNS, list [1]);
    printf ("   cold cache (the database's pages evicted first): after a clean stop %.2f s%s (%s: "
            "%s), after a crash %.2f s%s (%s: %s)\n",
            clean_c, clean_c <= 5 ? "" : " (over 5 s)", cold_what, list [2], crash_c,
            crash_c <= 5 ? "" : " (over 5 s)", cold_what, list [3]);
    printf ("     baseline, PRAGMA quick_check alone on the same file: %.2f s warm, %.2f s cold "
            "(%.0f%% / %.0f%% of the crash restart); SELECT COUNT(*) FROM audit (frontier "
            "rebuild, every start): %.2f s warm, %.2f s cold\n",
            check_w, check_c, 100 * check_w / crash_w, 100 * check_c / crash_c, audit_w, audit_c);
    printf ("   returning member: first delivery %.3f s, first window of 64 %.3f s after "
            "connecting; then it drains %.0f deliveries/s acking each one (warm, clean)\n",
            s_get (&clean_warm, "first_delivery_s", NULL),
            s_get (&clean_warm, "first_window_s", NULL), s_get (&clean_warm, "drain_per_s", NULL));
    printf ("   broker RSS with the backlog: %.1f MiB at READY, %.1f MiB serving the returning "
            "member; peak %.1f MiB (%.1f MiB after a crash restart) (target <= 100 MiB)%s; "
            "baseline: this process before zactor_new %.1f MiB\n",
            ready, serving, hwm, hwm_crash, hwm <= 100 && hwm_crash <= 100 ? "" : " MISSED",
            before);
    printf ("   with the backlog, the engine's STATS takes %.2f s and METRICS (a Prometheus "
            "scrape) %.2f s, during which it serves no member (warm cache)\n",
            s_get (&clean_warm, "stats_s", NULL), s_get (&clean_warm, "metrics_s", NULL));
    printf ("   cores %d\n", cores);
    b_result ("backlog_messages", (double) count);
    b_result ("backlog_db_mib", db_mib);
    b_result ("backlog_generate_s", gen_s);
    b_result ("rss_1m_backlog_mib", hwm > hwm_crash ? hwm : hwm_crash);
    b_result ("rss_1m_backlog_ready_mib", ready);
    b_result ("rss_1m_backlog_serving_mib", serving);
    b_result ("rss_backlog_baseline_mib", before);
    b_result ("restart_1m_backlog_s", clean_w);
    b_result ("restart_1m_backlog_crash_s", crash_w);
    b_result ("restart_1m_backlog_cold_s", clean_c);
    b_result ("restart_1m_backlog_crash_cold_s", crash_c);
    b_result ("restart_quick_check_warm_s", check_w);
    b_result ("restart_quick_check_cold_s", check_c);
    b_result ("restart_count_audit_warm_s", audit_w);
    b_result ("restart_count_audit_cold_s", audit_c);
    b_result ("backlog_first_window_s", s_get (&clean_warm, "first_window_s", NULL));
    b_result ("backlog_drain_per_s", s_get (&clean_warm, "drain_per_s", NULL));
    b_result ("backlog_stats_s", s_get (&clean_warm, "stats_s", NULL));
    b_result ("backlog_metrics_s", s_get (&clean_warm, "metrics_s", NULL));
    b_council_destroy (&council, true);
    return 0;
}
