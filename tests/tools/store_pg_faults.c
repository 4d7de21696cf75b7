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
#include "pgtool.h"
#include "certbus.h"
#include "store.h"
#include "tree.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_lost_commit (broker_store_t *store, const char *url)
{
    uint8_t id [CERTBUS_ID_SIZE];
    broker_counts_t counts;
    pgtool_check (broker_store_counts (store, &counts) == 0 && counts.messages == 0,
                  "counts start at 0");
    pgtool_check (broker_store_begin (store) == 0 && pgtool_write_message (store, id, false),
                  "a batch is written");
    pgtool_check (pgtool_kill_sessions (url), "the server ends the store's session");
    pgtool_check (broker_store_commit (store) != 0, "its commit fails");
    //  Lost before COMMIT went (the batch's writes were still being
    //  answered): nothing was committed; lost in COMMIT: the outcome is
    //  unknown. Either way the reason names the lost session
    pgtool_check (strstr (certbus_reason (), "lost during COMMIT") != NULL
                      || strstr (certbus_reason (), "closed the connection") != NULL,
                  "the reason says the session was lost");
    pgtool_check (!pgtool_known (store, id), "the store reconnects; the batch is not there");
    pgtool_check (broker_store_counts (store, &counts) == 0 && counts.messages == 0
                      && counts.queued == 0,
                  "the counts are counted again");
    pgtool_check (broker_store_begin (store) == 0 && pgtool_write_message (store, id, false)
                      && broker_store_commit (store) == 0 && pgtool_known (store, id),
                  "the next batch commits");
    pgtool_check (broker_store_counts (store, &counts) == 0 && counts.messages == 1
                      && counts.queued == 1,
                  "and is counted");
}

static void
s_failed_statement (broker_store_t *store)
{
    const uint8_t blob [2] = {1, 2};
    pgtool_check (broker_store_begin (store) == 0
                      && broker_store_directory_put (store, 1, 1, blob, 2) == 0,
                  "a directory is written in a batch");
    pgtool_check (broker_store_directory_put (store, 1, 1, blob, 2) != 0,
                  "the same version again fails");
    pgtool_check (broker_store_commit (store) != 0, "the batch's commit fails");
    pgtool_check (broker_store_directory_serial (store) == 0, "and nothing of it is stored");
}

static void
s_council (broker_store_t *store)
{
    pgtool_check (broker_store_meta_set (store, "council_fingerprint", "aaaa") == 0,
                  "a Council's fingerprint is recorded");
    pgtool_check (broker_store_meta_set (store, "council_fingerprint", "aaaa") == 0,
                  "the same Council again is accepted");
    pgtool_check (broker_store_meta_set (store, "council_fingerprint", "bbbb") != 0
                      && strstr (certbus_reason (), "another certbus Council"),
                  "another Council is refused");
}

//  Through the proxy: the server commits, the answer never comes
static void
s_unknown_outcome (broker_store_t *direct, const char *cut_url)
{
    broker_store_t *store = broker_store_open (cut_url, false);
    pgtool_check (store != NULL, "the store opens through the proxy");
    if (!store)
        return;
    uint8_t id [CERTBUS_ID_SIZE];
    broker_tree_t *tree = broker_tree_new (store);
    pgtool_check (tree != NULL, "an audit tree is kept over it");
    int64_t size = tree ? broker_tree_size (tree) : -1;
    pgtool_check (broker_store_begin (store) == 0 && pgtool_write_message (store, id, false) && tree
                      && pgtool_audit (tree, id),
                  "a batch is written, with an audit record");
    pgtool_check (broker_store_commit (store) != 0
                      && strstr (certbus_reason (), "lost during COMMIT") != NULL,
                  "a commit whose answer is cut fails as unknown");
    pgtool_check (tree && broker_tree_size (tree) == size + 1
                      && broker_store_audit_count (direct) == size + 1,
                  "the tree, reloaded, holds the record the server kept");
    broker_tree_destroy (&tree);
    pgtool_check (pgtool_known (direct, id), "though the server did commit it (a resend dedups)");
    pgtool_check (pgtool_known (store, id), "the store reconnects and sees it");
    broker_counts_t counts;
    pgtool_check (broker_store_counts (store, &counts) == 0 && counts.messages == 2,
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
    pgtool_check (s_sql (url, "ALTER SYSTEM SET synchronous_standby_names = 'certbus_absent'", NULL)
                      && s_sql (url, "SELECT pg_reload_conf ()", NULL)
                      && s_wait_for (url, "SHOW synchronous_standby_names", "certbus_absent"),
                  "the server waits for a synchronous standby that is not there");
    broker_store_t *store = broker_store_open (url, false);
    uint8_t id [CERTBUS_ID_SIZE];
    pgtool_check (store && broker_store_begin (store) == 0
                      && pgtool_write_message (store, id, false),
                  "a batch is written");
    pthread_t thread;
    pgtool_check (pthread_create (&thread, NULL, s_canceller, (void *) url) == 0,
                  "a canceller waits for the commit's wait");
    pgtool_check (store && broker_store_commit (store) != 0
                      && strstr (certbus_reason (), "may not be replicated") != NULL,
                  "a commit whose wait is cancelled fails as unknown");
    void *done = NULL;
    pthread_join (thread, &done);
    pgtool_check (done != NULL, "the wait was cancelled");
    pgtool_check (store && pgtool_known (store, id),
                  "the batch is stored locally (a resend dedups)");
    broker_store_destroy (&store);
    pgtool_check (s_sql (url, "ALTER SYSTEM RESET synchronous_standby_names", NULL)
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
    pgtool_check (store != NULL, "a second database is made");
    broker_store_destroy (&store);
    PGconn *conn = PQconnectdb (empty);
    PGresult *res = PQexec (conn, "DROP TABLE queue, messages, meta CASCADE");
    bool dropped = PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    PQfinish (conn);
    pgtool_check (dropped, "its tables are dropped");
    store = broker_store_open (empty, false);
    pgtool_check (!store && strstr (certbus_reason (), "holds no certbus store"),
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
    pgtool_check (store != NULL, "the store opens");
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
    return pgtool_failures () ? 1 : 0;
}
