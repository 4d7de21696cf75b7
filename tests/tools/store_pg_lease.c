/*  store_pg_lease.c - the lease of a broker pair, and its fencing, on a
    real PostgreSQL server
    SPDX-License-Identifier: MPL-2.0

    Run by tests/integration/store_pg.sh: store_pg_lease URL, where URL
    names a database the program may make. Several store handles play the
    brokers of a pair (each its own database session). Checks, through
    store.h only: one holder at a time; a lease that ended is taken over
    with a higher epoch, and the old holder's next commit, or write outside
    a transaction, stores nothing and fails as fenced; a holder whose
    session is gone is taken over at once; a holder that reconnects keeps
    its lease; a holder paused inside a transaction is cut off by the
    server and loses its batch; a second tree head of a size already
    signed is refused whatever its root. Prints one line per check; exits
    0 when all pass.
*/
#include "pgtool.h"
#include "certbus.h"
#include "store.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_LEASE_MS 400

//  One message for bravo, in its own transaction; returns the commit's rc.
//  With keep_id, id is the message's id; else a new one is written there.
static int
s_publish_id (broker_store_t *store, uint8_t id [CERTBUS_ID_SIZE], bool keep_id)
{
    if (broker_store_begin (store))
        return -1;
    if (!pgtool_write_message (store, id, keep_id)) {
        broker_store_rollback (store);
        return -1;
    }
    return broker_store_commit (store);
}

static int
s_publish (broker_store_t *store, uint8_t id [CERTBUS_ID_SIZE])
{
    return s_publish_id (store, id, false);
}

static broker_store_t *
s_open (const char *url)
{
    broker_store_t *store = broker_store_open (url, true);
    if (!store) {
        fprintf (stderr, "store_pg_lease: %s\n", certbus_reason ());
        exit (1);
    }
    return store;
}

//  Takes the lease for name, waiting up to 5 s for it. Returns 1, 0 or -1.
static int
s_take (broker_store_t *store, const char *name, broker_lease_t *lease)
{
    int rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++) {
        rc = broker_store_lease_take (store, name, s_LEASE_MS, lease);
        if (rc == 0)
            zclock_sleep (100);
    }
    return rc;
}

//  Two brokers: one holds, the other waits; the holder commits and renews
static void
s_one_holder (broker_store_t *a, broker_store_t *b, uint64_t *epoch_p)
{
    broker_lease_t lease, seen;
    pgtool_check (broker_store_lease_take (a, "broker-a", s_LEASE_MS, &lease) == 1
                      && lease.epoch >= 1,
                  "broker A takes the lease");
    *epoch_p = lease.epoch;
    pgtool_check (broker_store_lease_take (b, "broker-b", s_LEASE_MS, &seen) == 0
                      && streq (seen.holder, "broker-a") && seen.epoch == lease.epoch
                      && seen.holder_alive,
                  "broker B cannot take it: it names A, alive, at the same epoch");
    uint8_t id [CERTBUS_ID_SIZE];
    //  A keeps renewing for longer than a lease: B still cannot take it
    bool renewed = true;
    for (int i = 0; i < 8; i++) {
        renewed = renewed && s_publish (a, id) == 0;
        zclock_sleep (s_LEASE_MS / 4);
    }
    pgtool_check (renewed && broker_store_lease_take (b, "broker-b", s_LEASE_MS, &seen) == 0,
                  "A's commits renew the lease past its length: B still waits");
    pgtool_check (broker_store_begin (a) == 0 && broker_store_lease_renew (a) == 0
                      && broker_store_meta_set (a, "in-batch", "1") == 0
                      && broker_store_commit (a) == 0,
                  "a renewal asked for inside an open batch waits for the batch's commit");
}

//  The lease ends (A paused): B takes over, and A commits nothing more
static void
s_fenced (broker_store_t *a, broker_store_t *b, uint64_t epoch)
{
    broker_lease_t lease;
    zclock_sleep (2 * s_LEASE_MS);
    pgtool_check (broker_store_lease_take (b, "broker-b", s_LEASE_MS, &lease) == 1
                      && lease.epoch == epoch + 1,
                  "after A's lease ends B takes it over, at the next epoch");
    uint8_t id [CERTBUS_ID_SIZE];
    int rc = s_publish (a, id);
    pgtool_check (rc != 0 && certbus_reason_code () == CERTBUS_E_FENCED,
                  "A wakes: its next commit fails as fenced");
    pgtool_check (!pgtool_known (b, id), "and nothing of A's batch is stored");
    pgtool_check (broker_store_lease_lost (a), "A knows it lost the lease");
    pgtool_check (broker_store_begin (a) != 0 && certbus_reason_code () == CERTBUS_E_FENCED,
                  "A cannot even begin another transaction");
    int wrote = broker_store_meta_set (a, "fenced-probe", "from-a");
    char *value = broker_store_meta_get (b, "fenced-probe");
    pgtool_check (wrote != 0 && certbus_reason_code () == CERTBUS_E_FENCED && !value,
                  "nor write outside one (every later write is refused, not only the next)");
    free (value);
    pgtool_check (s_publish (b, id) == 0 && pgtool_known (b, id), "B commits");
}

//  A write outside a transaction is fenced as a batch is
static void
s_fenced_autocommit (broker_store_t *b, broker_store_t *c)
{
    broker_lease_t lease;
    zclock_sleep (2 * s_LEASE_MS);
    pgtool_check (broker_store_lease_take (c, "broker-c", s_LEASE_MS, &lease) == 1,
                  "B's lease ends and C takes it");
    int rc = broker_store_meta_set (b, "probe", "from-b");
    char *value = broker_store_meta_get (c, "probe");
    pgtool_check (rc != 0 && certbus_reason_code () == CERTBUS_E_FENCED && !value,
                  "B's write outside a transaction fails as fenced and is not stored");
    free (value);
    pgtool_check (broker_store_meta_set (c, "probe", "from-c") == 0, "C's is stored");
}

//  A holder whose session is gone (a killed broker) is taken over at once
static void
s_session_gone (const char *url, broker_store_t **c_p)
{
    broker_store_t *d = s_open (url);
    broker_lease_t lease;
    //  C's lease would last; its session ends with its handle
    pgtool_check (broker_store_lease_renew (*c_p) == 0, "C renews");
    broker_store_destroy (c_p);
    int64_t start = certbus_now_ms ();
    int rc = s_take (d, "broker-d", &lease);
    pgtool_check (rc == 1, "C's session ends: D takes the lease");
    printf ("      (taken %lld ms after C's session closed; the lease lasts %d ms)\n",
            (long long) (certbus_now_ms () - start), s_LEASE_MS);
    broker_store_destroy (&d);
}

//  A holder whose session is cut (a database restart) reconnects and keeps
//  the lease when no other broker took it meanwhile; the lease then names
//  its new session
static void
s_rebind (const char *url)
{
    broker_store_t *e = s_open (url);
    broker_store_t *f = s_open (url);
    broker_lease_t lease;
    pgtool_check (s_take (e, "broker-e", &lease) == 1, "E takes the lease");
    pgtool_check (pgtool_kill_sessions (url), "every session is cut");
    uint8_t id [CERTBUS_ID_SIZE];
    pgtool_check (s_publish (e, id) == 0 && pgtool_known (e, id), "E reconnects and commits");
    pgtool_check (broker_store_lease_take (f, "broker-f", s_LEASE_MS, &lease) == 0
                      && streq (lease.holder, "broker-e") && lease.holder_alive,
                  "the lease names E's new session: F cannot take it");
    broker_store_destroy (&e);
    broker_store_destroy (&f);
}

//  A holder paused inside a transaction, with many writes sent ahead (a
//  broadcast): the server still ends its session after a lease's length,
//  the lease is taken, the batch is lost, and the new holder is not kept
//  waiting by the rows the paused one locked
static void
s_paused_in_transaction (const char *url)
{
    broker_store_t *g = s_open (url);
    broker_store_t *h = s_open (url);
    broker_lease_t lease;
    pgtool_check (s_take (g, "broker-g", &lease) == 1, "G takes the lease");
    certbus_header_t header = {0};
    certbus_uuid7 (header.id);
    header.origin = "alpha";
    header.kind = "advisory";
    header.tlp = "amber";
    header.severity = "medium";
    header.audience = "all";
    uint64_t seq = 0;
    int64_t now = certbus_now_ms ();
    bool began = broker_store_begin (g) == 0
                 && broker_store_message_insert (g, &header, (const uint8_t *) "x", 1, now,
                                                 now + 60000, 300, &seq)
                        == 0;
    uint8_t wrapped [200];
    memset (wrapped, 7, sizeof wrapped);
    for (int i = 0; began && i < 300; i++) {
        char recipient [32];
        snprintf (recipient, sizeof recipient, "org-%03d", i);
        began = broker_store_queue_insert (g, recipient, seq, 0, wrapped, sizeof wrapped) == 0;
    }
    pgtool_check (began, "G opens a batch: a message for 300 recipients (60 KB of queue rows)");
    zclock_sleep (3 * s_LEASE_MS);
    pgtool_check (s_take (h, "broker-h", &lease) == 1, "G pauses inside it: H takes the lease");
    uint8_t id [CERTBUS_ID_SIZE];
    memcpy (id, header.id, CERTBUS_ID_SIZE);
    pgtool_check (s_publish_id (h, id, true) == 0,
                  "H stores the same message (G's locks went with its session)");
    int rc = broker_store_commit (g);
    pgtool_check (rc != 0, "G wakes: its commit fails");
    broker_counts_t counts;
    pgtool_check (broker_store_counts (h, &counts) == 0 && counts.queued >= 1
                      && broker_store_queue_depth (h, "org-000", NULL) == 0,
                  "and none of G's queue rows is stored");
    broker_store_destroy (&g);
    broker_store_destroy (&h);
}

//  The audit log never forks: a second head of a size already signed, or
//  a smaller one, is refused whatever its root
static void
s_heads (const char *url)
{
    broker_store_t *k = s_open (url);
    broker_lease_t lease;
    pgtool_check (s_take (k, "broker-k", &lease) == 1, "K takes the lease");
    certbus_tree_head_t head = {.size = 1000000, .timestamp = certbus_now_ms ()};
    memset (head.root, 0xaa, 32);
    bool added = broker_store_begin (k) == 0
                 && broker_store_tree_head_add (k, &head, (const uint8_t *) "h1", 2) == 0
                 && broker_store_commit (k) == 0;
    pgtool_check (added, "a head of size 1000000 is stored");
    memset (head.root, 0xbb, 32);
    int rc = broker_store_begin (k) == 0
                 ? broker_store_tree_head_add (k, &head, (const uint8_t *) "h2", 2)
                 : -1;
    broker_store_rollback (k);
    pgtool_check (rc != 0 && strstr (certbus_reason (), "must not fork"),
                  "a second head of that size with another root is refused");
    memset (head.root, 0xaa, 32);
    head.size = 999999;
    rc = broker_store_begin (k) == 0
             ? broker_store_tree_head_add (k, &head, (const uint8_t *) "h3", 2)
             : -1;
    broker_store_rollback (k);
    pgtool_check (rc != 0, "so is a head below the newest");
    certbus_tree_head_t latest;
    pgtool_check (broker_store_tree_head_latest (k, &latest, NULL, NULL) == 1
                      && latest.size == 1000000 && latest.root [0] == 0xaa,
                  "the newest head is the first one");
    broker_store_destroy (&k);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: store_pg_lease postgresql://USER@HOST:PORT/DBNAME\n");
        return 2;
    }
    certbus_init ();
    const char *url = argv [1];
    broker_store_t *a = s_open (url);
    broker_store_t *b = s_open (url);
    broker_store_t *c = s_open (url);
    uint64_t epoch = 0;
    s_one_holder (a, b, &epoch);
    s_fenced (a, b, epoch);
    s_fenced_autocommit (b, c);
    broker_store_destroy (&a);
    broker_store_destroy (&b);
    s_session_gone (url, &c);
    s_rebind (url);
    s_paused_in_transaction (url);
    s_heads (url);
    return pgtool_failures () ? 1 : 0;
}
