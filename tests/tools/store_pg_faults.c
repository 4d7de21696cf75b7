/*  store_pg_faults.c - what the PostgreSQL store does when the server fails it
    SPDX-License-Identifier: MPL-2.0

    Run by tests/integration/store_pg.sh against a throwaway cluster:
    store_pg_faults URL [CUT_URL], where URL names a database the program
    may make, and CUT_URL the same database through pg_commit_cut.py (a
    proxy that cuts the session once the server has committed).
    Checks, through store.h only (and libpq to play the failing server):
    a commit whose session is lost fails and stores nothing, and the store
    reconnects for the next batch; a commit the server made but never
    confirmed is not reported as done, nor one whose wait for a
    synchronous standby was cancelled; a failed statement fails its batch;
    a second Council's fingerprint is refused; a database without the
    schema is refused when not asked to make it. Prints one line per
    check; exits 0 when all pass.
*/
#include "certbus.h"
#include "store.h"
#include "tree.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_failures = 0;

static void
s_check (bool ok, const char *what)
{
    printf ("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) {
        printf ("      reason: %s\n", certbus_reason ());
        s_failures++;
    }
}

//  Ends every other session on the store's database, as a server restart
//  or a failover does
static bool
s_kill_sessions (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    PGresult *res = PQexec (conn,
                            "SELECT pg_terminate_backend (pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    bool ok = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) >= 1;
    PQclear (res);
    PQfinish (conn);
    return ok;
}

//  Inserts one message for bravo; returns its id in id
static bool
s_publish (broker_store_t *store, uint8_t id [CERTBUS_ID_SIZE])
{
    certbus_header_t header = {0};
    certbus_uuid7 (header.id);
    memcpy (id, header.id, CERTBUS_ID_SIZE);
    header.origin = "alpha";
    header.kind = "advisory";
    header.tlp = "amber";
    header.severity = "medium";
    header.audience = "org:bravo";
    const uint8_t envelope [8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t seq = 0;
    int64_t now = certbus_now_ms ();
    return broker_store_message_insert (store, &header, envelope, sizeof envelope, now, now + 60000,
                                        1, &seq)
               == 0
           && broker_store_queue_insert (store, "bravo", seq, 0, envelope, 4) == 0;
}

//  Appends an audit record about message id to tree
static bool
s_audit (broker_tree_t *tree, uint8_t id [CERTBUS_ID_SIZE])
{
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.time = certbus_now_ms ();
    record.event = "publish";
    record.org = "alpha";
    record.message_id.data = id;
    record.message_id.len = CERTBUS_ID_SIZE;
    record.decision = "accept";
    record.rule = "test";
    record.reason = "";
    return broker_tree_append (tree, &record) == 0;
}

static bool
s_known (broker_store_t *store, const uint8_t id [CERTBUS_ID_SIZE])
{
    uint64_t seq;
    int64_t at;
    return broker_store_message_lookup (store, "alpha", id, &seq, &at) == 1;
}

static void
s_lost_commit (broker_store_t *store, const char *url)
{
    uint8_t id [CERTBUS_ID_SIZE];
    broker_counts_t counts;
    s_check (broker_store_counts (store, &counts) == 0 && counts.messages == 0,
             "counts start at 0");
    s_check (broker_store_begin (store) == 0 && s_publish (store, id), "a batch is written");
    s_check (s_kill_sessions (url), "the server ends the store's session");
    s_check (broker_store_commit (store) != 0, "its commit fails");
    //  Lost before COMMIT went (the batch's writes were still being
    //  answered): nothing was committed; lost in COMMIT: the outcome is
    //  unknown. Either way the reason names the lost session
    s_check (strstr (certbus_reason (), "lost during COMMIT") != NULL
                 || strstr (certbus_reason (), "closed the connection") != NULL,
             "the reason says the session was lost");
    s_check (!s_known (store, id), "the store reconnects; the batch is not there");
    s_check (broker_store_counts (store, &counts) == 0 && counts.messages == 0
                 && counts.queued == 0,
             "the counts are counted again");
    s_check (broker_store_begin (store) == 0 && s_publish (store, id)
                 && broker_store_commit (store) == 0 && s_known (store, id),
             "the next batch commits");
    s_check (broker_store_counts (store, &counts) == 0 && counts.messages == 1
                 && counts.queued == 1,
             "and is counted");
}

static void
s_failed_statement (broker_store_t *store)
{
    const uint8_t blob [2] = {1, 2};
    s_check (broker_store_begin (store) == 0
                 && broker_store_directory_put (store, 1, 1, blob, 2) == 0,
             "a directory is written in a batch");
    s_check (broker_store_directory_put (store, 1, 1, blob, 2) != 0,
             "the same version again fails");
    s_check (broker_store_commit (store) != 0, "the batch's commit fails");
    s_check (broker_store_directory_serial (store) == 0, "and nothing of it is stored");
}

static void
s_council (broker_store_t *store)
{
    s_check (broker_store_meta_set (store, "council_fingerprint", "aaaa") == 0,
             "a Council's fingerprint is recorded");
    s_check (broker_store_meta_set (store, "council_fingerprint", "aaaa") == 0,
             "the same Council again is accepted");
    s_check (broker_store_meta_set (store, "council_fingerprint", "bbbb") != 0
                 && strstr (certbus_reason (), "another certbus Council"),
             "another Council is refused");
}

//  Through the proxy: the server commits, the answer never comes
static void
s_unknown_outcome (broker_store_t *direct, const char *cut_url)
{
    broker_store_t *store = broker_store_open (cut_url, false);
    s_check (store != NULL, "the store opens through the proxy");
    if (!store)
        return;
    uint8_t id [CERTBUS_ID_SIZE];
    broker_tree_t *tree = broker_tree_new (store);
    s_check (tree != NULL, "an audit tree is kept over it");
    int64_t size = tree ? broker_tree_size (tree) : -1;
    s_check (broker_store_begin (store) == 0 && s_publish (store, id) && tree && s_audit (tree, id),
             "a batch is written, with an audit record");
    s_check (broker_store_commit (store) != 0
                 && strstr (certbus_reason (), "lost during COMMIT") != NULL,
             "a commit whose answer is cut fails as unknown");
    s_check (tree && broker_tree_size (tree) == size + 1
                 && broker_store_audit_count (direct) == size + 1,
             "the tree, reloaded, holds the record the server kept");
    broker_tree_destroy (&tree);
    s_check (s_known (direct, id), "though the server did commit it (a resend dedups)");
    s_check (s_known (store, id), "the store reconnects and sees it");
    broker_counts_t counts;
    s_check (broker_store_counts (store, &counts) == 0 && counts.messages == 2,
             "its counts are counted again");
    broker_store_destroy (&store);
}

//  Runs sql on a new session to url; with want, true when its one value
//  equals want
static bool
s_sql (const char *url, const char *sql, const char *want)
{
    PGconn *conn = PQconnectdb (url);
    PGresult *res = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (res);
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (ok && want)
        ok = PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 0), want) == 0;
    PQclear (res);
    PQfinish (conn);
    return ok;
}

//  Polls for up to ten seconds until s_sql (url, sql, want) holds
static bool
s_wait_for (const char *url, const char *sql, const char *want)
{
    for (int tries = 0; tries < 200; tries++) {
        if (s_sql (url, sql, want))
            return true;
        zclock_sleep (50);
    }
    return false;
}

//  Thread: cancels the session that waits for a synchronous standby
static void *
s_canceller (void *arg)
{
    const char *url = arg;
    bool done = s_wait_for (url,
                            "SELECT COUNT (pg_cancel_backend (pid)) FROM pg_stat_activity"
                            " WHERE wait_event = 'SyncRep'",
                            "1");
    return done ? arg : NULL;
}

//  A synchronous standby that never answers, and an operator (or a
//  failover) that cancels the wait: the server committed locally and said
//  so only in a WARNING
static void
s_sync_cancelled (const char *url)
{
    s_check (s_sql (url, "ALTER SYSTEM SET synchronous_standby_names = 'certbus_absent'", NULL)
                 && s_sql (url, "SELECT pg_reload_conf ()", NULL)
                 && s_wait_for (url, "SHOW synchronous_standby_names", "certbus_absent"),
             "the server waits for a synchronous standby that is not there");
    broker_store_t *store = broker_store_open (url, false);
    uint8_t id [CERTBUS_ID_SIZE];
    s_check (store && broker_store_begin (store) == 0 && s_publish (store, id),
             "a batch is written");
    pthread_t thread;
    s_check (pthread_create (&thread, NULL, s_canceller, (void *) url) == 0,
             "a canceller waits for the commit's wait");
    s_check (store && broker_store_commit (store) != 0
                 && strstr (certbus_reason (), "may not be replicated") != NULL,
             "a commit whose wait is cancelled fails as unknown");
    void *done = NULL;
    pthread_join (thread, &done);
    s_check (done != NULL, "the wait was cancelled");
    s_check (store && s_known (store, id), "the batch is stored locally (a resend dedups)");
    broker_store_destroy (&store);
    s_check (s_sql (url, "ALTER SYSTEM RESET synchronous_standby_names", NULL)
                 && s_sql (url, "SELECT pg_reload_conf ()", NULL)
                 && s_wait_for (url, "SHOW synchronous_standby_names", ""),
             "the server waits for no standby again");
}

//  A database that exists but holds no store is refused without create
static void
s_no_schema (const char *url)
{
    char *empty = zsys_sprintf ("%s_empty", url);
    broker_store_t *store = broker_store_open (empty, true);
    s_check (store != NULL, "a second database is made");
    broker_store_destroy (&store);
    PGconn *conn = PQconnectdb (empty);
    PGresult *res = PQexec (conn, "DROP TABLE queue, messages, meta CASCADE");
    bool dropped = PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    PQfinish (conn);
    s_check (dropped, "its tables are dropped");
    store = broker_store_open (empty, false);
    s_check (!store && strstr (certbus_reason (), "holds no certbus store"),
             "without create, a database with no store is refused");
    broker_store_destroy (&store);
    zstr_free (&empty);
}

int
main (int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf (stderr, "usage: store_pg_faults postgresql://USER@HOST:PORT/DBNAME [CUT_URL]\n");
        return 2;
    }
    certbus_init ();
    const char *url = argv [1];
    broker_store_t *store = broker_store_open (url, true);
    s_check (store != NULL, "the store opens");
    if (!store)
        return 1;
    s_lost_commit (store, url);
    s_failed_statement (store);
    s_council (store);
    if (argc == 3)
        s_unknown_outcome (store, argv [2]);
    broker_store_destroy (&store);
    s_sync_cancelled (url);
    s_no_schema (url);
    return s_failures ? 1 : 0;
}
