/*  store_pg_restart.c - the audit tree when the database goes away in a
    commit, and comes back
    SPDX-License-Identifier: MPL-2.0

    Run by tests/integration/store_pg.sh: store_pg_restart URL STOP START,
    where STOP and START are shell commands that stop the server at once
    (pg_ctl stop -m immediate) and start it again. A batch's commit fails
    with the server gone, so the tree's reload fails too; the tree must then
    append nothing until it reloads, and once the server is back every
    record is numbered after the stored ones, with no gap and no negative
    index, and a tree loaded afresh (as a broker that takes over loads it)
    has the same root. Prints one line per check; exits 0 when all pass.
*/
#include "certbus.h"
#include "store.h"
#include "tree.h"
#include <czmq.h>
#include <libpq-fe.h>
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

static bool
s_audit (broker_tree_t *tree)
{
    uint8_t id [CERTBUS_ID_SIZE];
    certbus_uuid7 (id);
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

//  One batch of count records; true when it commits
static bool
s_batch (broker_store_t *store, broker_tree_t *tree, int count)
{
    if (broker_store_begin (store))
        return false;
    bool ok = true;
    for (int i = 0; i < count && ok; i++)
        ok = s_audit (tree);
    if (!ok) {
        broker_store_rollback (store);
        return false;
    }
    return broker_store_commit (store) == 0;
}

//  The stored indexes are 0..n-1 exactly
static bool
s_indexes_dense (const char *url, int64_t *count_p)
{
    PGconn *conn = PQconnectdb (url);
    PGresult *res = PQexec (conn,
                            "SELECT COUNT (*), COALESCE (MIN (idx), 0), COALESCE (MAX (idx), -1)"
                            " FROM audit");
    bool ok = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1;
    if (ok) {
        long long count = atoll (PQgetvalue (res, 0, 0));
        long long min = atoll (PQgetvalue (res, 0, 1));
        long long max = atoll (PQgetvalue (res, 0, 2));
        *count_p = count;
        ok = min == 0 && max == count - 1;
        if (!ok)
            printf ("      audit holds %lld records, indexes %lld..%lld\n", count, min, max);
    }
    PQclear (res);
    PQfinish (conn);
    return ok;
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: store_pg_restart URL STOP_COMMAND START_COMMAND\n");
        return 2;
    }
    certbus_init ();
    const char *url = argv [1];
    broker_store_t *store = broker_store_open (url, true);
    broker_tree_t *tree = store ? broker_tree_new (store) : NULL;
    s_check (tree != NULL, "the store and its tree open");
    if (!tree)
        return 1;
    s_check (s_batch (store, tree, 2), "a first batch of 2 records commits");
    s_check (broker_store_begin (store) == 0 && s_audit (tree), "a second batch is written");
    s_check (system (argv [2]) == 0, "the server stops at once");
    s_check (broker_store_commit (store) != 0, "the batch's commit fails");
    s_check (!s_batch (store, tree, 1), "with the server gone nothing is appended");
    s_check (system (argv [3]) == 0, "the server starts again");
    bool back = false;
    for (int i = 0; i < 50 && !back; i++) {
        back = s_batch (store, tree, 1);
        if (!back)
            zclock_sleep (200);
    }
    s_check (back, "a batch commits once the server is back");
    s_check (s_batch (store, tree, 3), "and the next");
    int64_t count = 0;
    s_check (s_indexes_dense (url, &count) && count == broker_tree_size (tree),
             "the stored records are numbered 0..n-1 and the tree counts them");
    uint8_t ours [32], fresh [32];
    broker_tree_root (tree, ours);
    broker_tree_t *again = broker_tree_new (store);
    if (again)
        broker_tree_root (again, fresh);
    s_check (again && memcmp (ours, fresh, 32) == 0,
             "a tree loaded afresh has the same root (a takeover can sign on it)");
    s_check (broker_tree_check (tree) == 0, "and it matches the stored nodes");
    broker_tree_destroy (&again);
    broker_tree_destroy (&tree);
    broker_store_destroy (&store);
    return s_failures ? 1 : 0;
}
