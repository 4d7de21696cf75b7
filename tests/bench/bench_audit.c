/*  bench_audit.c - case 5: audit append cost at 10^3 vs 10^6 records, and
    `certbus-broker audit verify` time for 10^6 records
    SPDX-License-Identifier: MPL-2.0

    usage: bench_audit CERTBUS_BROKER [LOG]

    A Council folder from council_init; the broker's storage opened on its
    real SQLite file (WAL, synchronous=FULL); records shaped like the
    engine's "publish" records (one recipient), appended with
    broker_tree_append. Each figure is the time per append over a
    window of 1,000 appends in transactions of 100 (commit and fsync
    included), median of 3 windows. Between the sizes the log is filled in
    transactions of 10,000, with a signed tree head every 1,000 records as
    the engine makes them, so that audit verify has heads to check.
*/
#include "bench.h"
#include "council.h"
#include "store.h"
#include "tree.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define s_RUNS 3
#define s_WINDOW 1000
#define s_WINDOW_TXN 100
#define s_FILL_TXN 10000
#define s_HEAD_RECORDS 1000

typedef struct {
    broker_store_t *store;
    broker_tree_t *tree; //  the audit log's tree, on store
    certbus_identity_t *identity;
    int64_t last_head;
    uint64_t sequence;
} s_log_t;

static void
s_append (s_log_t *log)
{
    uint8_t id [CERTBUS_ID_SIZE], hash [CERTBUS_HASH_SIZE];
    certbus_uuid7 (id);
    randombytes_buf (hash, sizeof hash);
    char *recipients [1] = {"bravo"};
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.time = certbus_now_ms ();
    record.event = "publish";
    record.org = "alpha";
    record.message_id.data = id;
    record.message_id.len = CERTBUS_ID_SIZE;
    record.kind = "advisory";
    record.tlp = "amber";
    record.audience = "org:bravo";
    record.ciphertext_hash.data = hash;
    record.ciphertext_hash.len = sizeof hash;
    record.severity = "medium";
    record.decision = "accept";
    record.rule = "national-any";
    record.reason = "";
    record.sequence = ++log->sequence;
    record.recipients = recipients;
    record.n_recipients = 1;
    if (broker_tree_append (log->tree, &record))
        b_die ("audit append: %s", certbus_reason ());
}

//  Signs a tree head over the log as it stands when due (outside any
//  timed window, in its own transaction as the engine does).
static void
s_heads (s_log_t *log, bool force)
{
    int64_t size = broker_tree_size (log->tree);
    if (size == log->last_head || (!force && size - log->last_head < s_HEAD_RECORDS))
        return;
    certbus_tree_head_t head = {0};
    head.size = (uint64_t) size;
    head.timestamp = certbus_now_ms () + size; //  strictly increasing
    broker_tree_root (log->tree, head.root);
    size_t bytes_size;
    uint8_t *bytes = certbus_tree_head_sign (log->identity, &head, &bytes_size);
    if (broker_store_begin (log->store)
        || broker_store_tree_head_add (log->store, &head, bytes, bytes_size)
        || broker_store_commit (log->store))
        b_die ("tree head: %s", certbus_reason ());
    free (bytes);
    log->last_head = size;
}

static void
s_fill (s_log_t *log, int64_t target)
{
    while (broker_tree_size (log->tree) < target) {
        if (broker_store_begin (log->store))
            b_die ("begin: %s", certbus_reason ());
        int64_t size = broker_tree_size (log->tree);
        int64_t end = size + s_FILL_TXN < target ? size + s_FILL_TXN : target;
        //  stop at every head boundary so heads land where the engine puts them
        int64_t boundary = (size / s_HEAD_RECORDS + 1) * s_HEAD_RECORDS;
        if (end > boundary)
            end = boundary;
        for (; size < end; size++)
            s_append (log);
        if (broker_store_commit (log->store))
            b_die ("commit: %s", certbus_reason ());
        s_heads (log, false);
    }
}

//  Microseconds per append over one window.
static double
s_window (s_log_t *log)
{
    double start = b_now ();
    for (int done = 0; done < s_WINDOW; done += s_WINDOW_TXN) {
        if (broker_store_begin (log->store))
            b_die ("begin: %s", certbus_reason ());
        for (int i = 0; i < s_WINDOW_TXN; i++)
            s_append (log);
        if (broker_store_commit (log->store))
            b_die ("commit: %s", certbus_reason ());
    }
    double us = (b_now () - start) * 1e6 / s_WINDOW;
    s_heads (log, false);
    return us;
}

static double
s_run_verify (const char *program, const char *dir, const char *log, int *rc_p)
{
    double start = b_now ();
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *out = fopen (log, "a");
        if (out) {
            dup2 (fileno (out), 1);
            dup2 (fileno (out), 2);
        }
        execl (program, program, "audit", "verify", "--dir", dir, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    waitpid (pid, &status, 0);
    *rc_p = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    return b_now () - start;
}

int
main (int argc, char *argv [])
{
    const char *logfile;
    const char *program = b_program_args (argc, argv, &logfile);
    certbus_init ();
    zsys_init ();
    b_log_to (logfile);
    int cores = b_cores ();
    int64_t big = b_quick () ? 100000 : 1000000;
    printf ("== case 5: audit append at 10^3 vs %s records, audit verify of %s (%d cores)\n",
            b_quick () ? "10^5" : "10^6", b_quick () ? "10^5" : "10^6", cores);
    if (b_quick ())
        printf ("   BENCH_QUICK: 10^5 records instead of 10^6\n");
    b_council_t *council = b_council_new ("audit", 0, NULL, NULL, "national", NULL);
    s_log_t log = {0};
    char *path = council_path (council->dir, BROKER_DB);
    log.store = broker_store_open (path, false);
    log.tree = log.store ? broker_tree_new (log.store) : NULL;
    char *secret = council_path (council->dir, BROKER_SECRET);
    log.identity = certbus_identity_load (secret);
    free (secret);
    if (!log.store || !log.tree || !log.identity)
        b_die ("cannot open the broker folder: %s", certbus_reason ());

    double small [s_RUNS], large [s_RUNS];
    s_fill (&log, 1000);
    for (int r = 0; r < s_RUNS; r++)
        small [r] = s_window (&log);
    double fill_start = b_now ();
    s_fill (&log, big);
    double fill_s = b_now () - fill_start;
    for (int r = 0; r < s_RUNS; r++)
        large [r] = s_window (&log);
    s_heads (&log, true);
    int64_t records = broker_tree_size (log.tree);
    broker_tree_destroy (&log.tree);
    broker_store_destroy (&log.store);
    certbus_identity_destroy (&log.identity);
    struct stat st;
    double db_mib = stat (path, &st) == 0 ? (double) st.st_size / 1048576.0 : -1;
    free (path);

    double verify [s_RUNS];
    int rc = 0;
    for (int r = 0; r < s_RUNS; r++) {
        verify [r] = s_run_verify (program, council->dir, logfile, &rc);
        if (rc != 0)
            printf ("   audit verify exited %d (see %s)\n", rc, logfile);
    }
    double small_m = b_median (small, s_RUNS), large_m = b_median (large, s_RUNS);
    double verify_m = b_median (verify, s_RUNS);
    printf ("   append at ~10^3 records: %6.1f us (median of %d windows: %s)\n", small_m, s_RUNS,
            b_list (small, s_RUNS, "%.1f"));
    printf ("   append at ~%s records: %6.1f us (median of %d windows: %s); ratio %.2f "
            "(baseline: the same appends at 10^3)\n",
            b_quick () ? "10^5" : "10^6", large_m, s_RUNS, b_list (large, s_RUNS, "%.1f"),
            large_m / small_m);
    printf ("   fill to %lld records (transactions of %d): %.1f s = %.1f us per append; "
            "broker.db %.0f MiB\n",
            (long long) records, s_FILL_TXN, fill_s, fill_s * 1e6 / (double) (big - 4000), db_mib);
    printf ("   certbus-broker audit verify, %lld records, %lld tree heads: %.2f s (median of "
            "%d: %s) = %.0f records/s%s; cores %d\n",
            (long long) records, (long long) (records / s_HEAD_RECORDS + 1), verify_m, s_RUNS,
            b_list (verify, s_RUNS, "%.2f"), (double) records / verify_m, rc ? " (FAILED)" : "",
            cores);
    b_result ("audit_append_us_1e3", small_m);
    //  the same keys in a quick run, whose size audit_records gives
    b_result ("audit_append_us_1e6", large_m);
    b_result ("audit_verify_1e6_s", verify_m);
    b_result ("audit_records", (double) records);
    b_result ("audit_db_mib", db_mib);
    b_result ("audit_fill_us_per_append", fill_s * 1e6 / (double) (big - 4000));
    b_result ("audit_verify_ok", rc == 0 ? 1 : 0);
    b_council_destroy (&council, true);
    return 0;
}
