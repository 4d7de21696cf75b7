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
#include "pgtool.h"
#include "certbus.h"
#include "store.h"
#include "tree.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One batch of count records; true when it commits
static bool
s_batch (broker_store_t *store, broker_tree_t *tree, int count)
{
    if (broker_store_begin (store))
        return false;
    bool ok = true;
    for (int i = 0; i < count && ok; i++)
        ok = pgtool_audit (tree, NULL);
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
    pgtool_check (tree != NULL, "the store and its tree open");
    if (!tree)
        return 1;
    pgtool_check (s_batch (store, tree, 2), "a first batch of 2 records commits");
    pgtool_check (broker_store_begin (store) == 0 && pgtool_audit (tree, NULL),
                  "a second batch is written");
    pgtool_check (system (argv [2]) == 0, "the server stops at once");
    pgtool_check (broker_store_commit (store) != 0, "the batch's commit fails");
    pgtool_check (!s_batch (store, tree, 1), "with the server gone nothing is appended");
    pgtool_check (system (argv [3]) == 0, "the server starts again");
    bool back = false;
    for (int i = 0; i < 50 && !back; i++) {
        back = s_batch (store, tree, 1);
        if (!back)
            zclock_sleep (200);
    }
    pgtool_check (back, "a batch commits once the server is back");
    pgtool_check (s_batch (store, tree, 3), "and the next");
    int64_t count = 0;
    pgtool_check (s_indexes_dense (url, &count) && count == broker_tree_size (tree),
                  "the stored records are numbered 0..n-1 and the tree counts them");
    uint8_t ours [32], fresh [32];
    broker_tree_root (tree, ours);
    broker_tree_t *again = broker_tree_new (store);
    if (again)
        broker_tree_root (again, fresh);
    pgtool_check (again && memcmp (ours, fresh, 32) == 0,
                  "a tree loaded afresh has the same root (a takeover can sign on it)");
    pgtool_check (broker_tree_check (tree) == 0, "and it matches the stored nodes");
    broker_tree_destroy (&again);
    broker_tree_destroy (&tree);
    broker_store_destroy (&store);
    return pgtool_failures () ? 1 : 0;
}
