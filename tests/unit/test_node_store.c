/*  test_node_store.c - the node's storage, through node/store.h alone:
    outbox, inbox, receipts, case threads and participants, directory,
    settings and transactions
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "../../node/store.h" //  the node store, not the broker one on the include path
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *dir;
    node_store_t *store;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = tu_fixture_new (state, sizeof *f);
    f->dir = tu_tmpdir_new ();
    char *path = tu_path (f->dir, "node.db");
    f->store = node_store_open (path);
    free (path);
    assert_non_null (f->store);
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    node_store_destroy (&f->store);
    node_store_destroy (&f->store); //  safe twice
    tu_tmpdir_remove (&f->dir);
    free (f);
    return 0;
}

//  A header as the engine gets it from an opened envelope (strings borrowed)
static certbus_header_t
s_header (uint8_t id [CERTBUS_ID_SIZE], const char *origin, const char *kind)
{
    certbus_uuid7 (id);
    certbus_header_t header = {0};
    memcpy (header.id, id, CERTBUS_ID_SIZE);
    header.origin = (char *) origin;
    header.kind = (char *) kind;
    header.topic = "topic";
    header.tlp = "green";
    header.severity = "high";
    header.created = 1700000000000;
    header.audience = "sector:banking";
    header.content_type = "text/plain";
    return header;
}

static int
s_inbox_add (node_store_t *store, const certbus_header_t *header, const char *payload, uint64_t seq)
{
    const char *envelope = "sealed bytes";
    return node_store_inbox_add (store, header, NULL, (const uint8_t *) payload, strlen (payload),
                                 (const uint8_t *) envelope, strlen (envelope),
                                 1700000001000 + (int64_t) seq, seq, seq, NULL, 0, NULL);
}

//  --------------------------------------------------------------------------
//  Outbox

typedef struct {
    size_t count;
    uint8_t ids [8][CERTBUS_ID_SIZE];
    int stop_after; //  return 1 after this many, 0 for never
} outgoing_t;

static int
s_collect_outgoing (void *arg, const node_outgoing_t *outgoing)
{
    outgoing_t *o = arg;
    assert_true (o->count < 8);
    assert_int_equal (outgoing->state, NODE_OUTBOX_PENDING);
    assert_int_equal (outgoing->envelope_size, 8);
    memcpy (o->ids [o->count++], outgoing->id, CERTBUS_ID_SIZE);
    return o->stop_after && (int) o->count >= o->stop_after;
}

static void
test_outbox (void **state)
{
    fixture_t *f = *state;
    uint8_t a [CERTBUS_ID_SIZE], b [CERTBUS_ID_SIZE], missing [CERTBUS_ID_SIZE];
    certbus_uuid7 (missing);
    certbus_header_t ha = s_header (a, "cert-nl", "advisory");
    certbus_header_t hb = s_header (b, "cert-nl", "alert");
    assert_int_equal (node_store_outbox_add (f->store, &ha, (const uint8_t *) "envelop1", 8,
                                             "bank-a\nbank-b", NULL, 0),
                      0);
    assert_int_equal (node_store_outbox_add (f->store, &hb, (const uint8_t *) "envelop2", 8,
                                             "bank-a", NULL, 0),
                      0);
    //  The same id twice is refused
    assert_int_not_equal (node_store_outbox_add (f->store, &ha, (const uint8_t *) "envelop1", 8,
                                                 "bank-a", NULL, 0),
                          0);
    assert_int_equal (node_store_outbox_count (f->store, NODE_OUTBOX_PENDING), 2);
    assert_int_equal (node_store_outbox_count (f->store, NODE_OUTBOX_ACCEPTED), 0);
    //  Pending rows come in order of creation; fn may stop the walk
    outgoing_t o = {0};
    assert_int_equal (node_store_outbox_pending (f->store, INT64_MAX, 10, s_collect_outgoing, &o),
                      2);
    assert_memory_equal (o.ids [0], a, CERTBUS_ID_SIZE);
    assert_memory_equal (o.ids [1], b, CERTBUS_ID_SIZE);
    o = (outgoing_t){.stop_after = 1};
    node_store_outbox_pending (f->store, INT64_MAX, 10, s_collect_outgoing, &o);
    assert_int_equal (o.count, 1);
    //  A "sent" mark holds a row back from resends sent before it
    assert_int_equal (node_store_outbox_sent (f->store, a, 5000), 0);
    o = (outgoing_t){0};
    node_store_outbox_pending (f->store, 5000, 10, s_collect_outgoing, &o);
    assert_int_equal (o.count, 1);
    assert_memory_equal (o.ids [0], b, CERTBUS_ID_SIZE);
    o = (outgoing_t){0};
    assert_int_equal (node_store_outbox_one (f->store, a, s_collect_outgoing, &o), 1);
    assert_int_equal (node_store_outbox_one (f->store, missing, s_collect_outgoing, &o), 0);
    //  The broker's answer settles a row, once
    assert_int_equal (node_store_outbox_result (f->store, a, NODE_OUTBOX_ACCEPTED, 0, "", "", 41,
                                                1700000002000),
                      0);
    assert_int_equal (node_store_outbox_result (f->store, b, NODE_OUTBOX_REJECTED, CERTBUS_E_POLICY,
                                                "no", "rule-7", 0, 0),
                      0);
    assert_int_equal (node_store_outbox_result (f->store, a, NODE_OUTBOX_REJECTED, CERTBUS_E_POLICY,
                                                "late", "", 0, 0),
                      0);
    node_outbox_state_t row_state;
    uint32_t code;
    char *reason = NULL, *rule = NULL;
    assert_int_equal (node_store_outbox_get (f->store, a, &row_state, &code, &reason, &rule), 1);
    assert_int_equal (row_state, NODE_OUTBOX_ACCEPTED);
    free (reason);
    free (rule);
    assert_int_equal (node_store_outbox_get (f->store, b, &row_state, &code, &reason, &rule), 1);
    assert_int_equal (row_state, NODE_OUTBOX_REJECTED);
    assert_int_equal (code, CERTBUS_E_POLICY);
    assert_string_equal (reason, "no");
    assert_string_equal (rule, "rule-7");
    free (reason);
    free (rule);
    assert_int_equal (node_store_outbox_get (f->store, missing, &row_state, &code, &reason, &rule),
                      0);
    assert_int_equal (node_store_outbox_count (f->store, NODE_OUTBOX_PENDING), 0);
    assert_int_equal (node_store_outbox_count (f->store, NODE_OUTBOX_ACCEPTED), 1);
    assert_int_equal (node_store_outbox_count (f->store, NODE_OUTBOX_REJECTED), 1);
    //  Settled rows are no longer sent
    o = (outgoing_t){0};
    assert_int_equal (node_store_outbox_pending (f->store, INT64_MAX, 10, s_collect_outgoing, &o),
                      0);
    assert_int_equal (node_store_outbox_one (f->store, a, s_collect_outgoing, &o), 0);
    //  The envelope we published stays readable
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (node_store_outbox_envelope (f->store, b, &bytes, &size), 1);
    assert_int_equal (size, 8);
    assert_memory_equal (bytes, "envelop2", 8);
    free (bytes);
    assert_int_equal (node_store_outbox_envelope (f->store, missing, &bytes, &size), 0);
}

//  --------------------------------------------------------------------------
//  Inbox

typedef struct {
    size_t count;
    int64_t last;
    char kinds [8][16];
} listed_t;

static int
s_collect_message (void *arg, const node_message_t *message)
{
    listed_t *l = arg;
    assert_true (l->count < 8);
    assert_true (message->n > l->last);
    l->last = message->n;
    snprintf (l->kinds [l->count++], sizeof l->kinds [0], "%s", message->kind);
    assert_string_equal (message->origin, "bank-a");
    assert_int_equal (message->envelope_size, strlen ("sealed bytes"));
    return 0;
}

static int
s_check_payload (void *arg, const node_message_t *message)
{
    const char *want = arg;
    assert_int_equal (message->size, strlen (want));
    assert_memory_equal (message->payload, want, message->size);
    assert_string_equal (message->tlp, "green");
    assert_string_equal (message->severity, "high");
    assert_int_equal (message->created, 1700000000000);
    return 0;
}

static void
test_inbox (void **state)
{
    fixture_t *f = *state;
    uint8_t a [CERTBUS_ID_SIZE], b [CERTBUS_ID_SIZE], c [CERTBUS_ID_SIZE];
    certbus_header_t ha = s_header (a, "bank-a", "advisory");
    certbus_header_t hb = s_header (b, "bank-a", "alert");
    certbus_header_t hc = s_header (c, "bank-a", "advisory");
    assert_int_equal (node_store_inbox_count (f->store), 0);
    assert_int_equal (node_store_inbox_last (f->store), 0);
    assert_int_equal (s_inbox_add (f->store, &ha, "first", 1), 1);
    assert_int_equal (s_inbox_add (f->store, &hb, "second", 2), 1);
    //  A redelivery of the same id is recognised, not stored twice
    assert_int_equal (s_inbox_add (f->store, &ha, "first", 3), 0);
    assert_int_equal (s_inbox_add (f->store, &hc, "third", 4), 1);
    assert_int_equal (node_store_inbox_count (f->store), 3);
    int64_t last = node_store_inbox_last (f->store);
    assert_true (last > 0);
    listed_t l = {0};
    assert_int_equal (node_store_inbox_list (f->store, 0, NULL, 10, s_collect_message, &l), 3);
    assert_string_equal (l.kinds [0], "advisory");
    assert_string_equal (l.kinds [1], "alert");
    assert_int_equal (l.last, last);
    //  By kind, after a point, bounded
    l = (listed_t){0};
    assert_int_equal (node_store_inbox_list (f->store, 0, "advisory", 10, s_collect_message, &l),
                      2);
    l = (listed_t){0};
    assert_int_equal (node_store_inbox_list (f->store, 0, NULL, 1, s_collect_message, &l), 1);
    l = (listed_t){0};
    assert_int_equal (node_store_inbox_list (f->store, last, NULL, 10, s_collect_message, &l), 0);
    assert_int_equal (node_store_inbox_get (f->store, b, s_check_payload, "second"), 1);
    uint8_t missing [CERTBUS_ID_SIZE];
    certbus_uuid7 (missing);
    assert_int_equal (node_store_inbox_get (f->store, missing, s_check_payload, ""), 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (node_store_inbox_envelope (f->store, c, &bytes, &size), 1);
    assert_memory_equal (bytes, "sealed bytes", size);
    free (bytes);
    assert_int_equal (node_store_inbox_envelope (f->store, missing, &bytes, &size), 0);
}

//  A forwarded message is filed under the forward's id and found by the
//  original's id too
static void
test_inbox_forwarded (void **state)
{
    fixture_t *f = *state;
    uint8_t forward [CERTBUS_ID_SIZE], original [CERTBUS_ID_SIZE];
    certbus_header_t header = s_header (forward, "bank-a", "advisory");
    certbus_uuid7 (original);
    const char *note = "see this";
    assert_int_equal (node_store_inbox_add (f->store, &header, "bank-b", (const uint8_t *) "x", 1,
                                            (const uint8_t *) "fwd", 3, 1700000001000, 7, 7,
                                            (const uint8_t *) note, strlen (note), original),
                      1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (node_store_inbox_envelope (f->store, original, &bytes, &size), 1);
    assert_memory_equal (bytes, "fwd", 3);
    free (bytes);
}

//  --------------------------------------------------------------------------
//  Receipts

typedef struct {
    size_t count, refused;
    char orgs [4][32];
} receipts_t;

static void
s_collect_receipt (void *arg, const char *org, int64_t received_at, const char *refused)
{
    receipts_t *r = arg;
    assert_true (r->count < 4);
    assert_true (received_at > 0);
    snprintf (r->orgs [r->count++], sizeof r->orgs [0], "%s", org);
    if (refused) {
        assert_string_equal (refused, "signature");
        r->refused++;
    }
}

static void
test_receipts (void **state)
{
    fixture_t *f = *state;
    uint8_t id [CERTBUS_ID_SIZE], other [CERTBUS_ID_SIZE];
    certbus_header_t header = s_header (id, "cert-nl", "advisory");
    assert_int_equal (node_store_outbox_add (f->store, &header, (const uint8_t *) "envelope", 8,
                                             "bank-a\nbank-b\ncert-nl", NULL, 0),
                      0);
    assert_int_equal (node_store_receipt_add (f->store, id, "bank-b", 2000, NULL), 0);
    assert_int_equal (node_store_receipt_add (f->store, id, "bank-a", 1000, "signature"), 0);
    char *recipients = NULL;
    receipts_t r = {0};
    assert_int_equal (node_store_receipts (f->store, id, &recipients, s_collect_receipt, &r), 1);
    assert_string_equal (recipients, "bank-a\nbank-b\ncert-nl");
    free (recipients);
    assert_int_equal (r.count, 2);
    assert_int_equal (r.refused, 1);
    assert_string_equal (r.orgs [0], "bank-a"); //  in order of arrival
    assert_string_equal (r.orgs [1], "bank-b");
    //  Not a message we published
    certbus_uuid7 (other);
    recipients = NULL;
    r = (receipts_t){0};
    assert_int_equal (node_store_receipts (f->store, other, &recipients, s_collect_receipt, &r), 0);
    free (recipients);
    assert_int_equal (r.count, 0);
}

//  --------------------------------------------------------------------------
//  Cases

typedef struct {
    size_t count, own;
    char origins [8][32];
} thread_t;

static int
s_collect_entry (void *arg, const node_thread_entry_t *entry)
{
    thread_t *t = arg;
    assert_true (t->count < 8);
    snprintf (t->origins [t->count++], sizeof t->origins [0], "%s", entry->origin);
    t->own += entry->own;
    return 0;
}

static int
s_count_case (void *arg, const uint8_t *case_id)
{
    (void) case_id;
    (*(size_t *) arg)++;
    return 0;
}

static void
test_cases (void **state)
{
    fixture_t *f = *state;
    //  bank-a reports; we (cert-nl) update the case; bank-a updates again
    uint8_t report [CERTBUS_ID_SIZE], ours [CERTBUS_ID_SIZE], theirs [CERTBUS_ID_SIZE];
    certbus_header_t hr = s_header (report, "bank-a", "incident");
    hr.case_status = "reported";
    assert_ptr_equal (node_case_of (&hr), hr.id);
    assert_int_equal (s_inbox_add (f->store, &hr, "report", 10), 1);
    certbus_ref_t ref = {.relation = "updates"};
    memcpy (ref.id, report, CERTBUS_ID_SIZE);
    certbus_header_t ho = s_header (ours, "cert-nl", "incident");
    ho.refs = &ref;
    ho.ref_count = 1;
    ho.case_status = "investigating";
    assert_memory_equal (node_case_of (&ho), report, CERTBUS_ID_SIZE);
    assert_int_equal (node_store_outbox_add (f->store, &ho, (const uint8_t *) "envelope", 8,
                                             "bank-a\ncert-nl", (const uint8_t *) "update", 6),
                      0);
    certbus_header_t ht = s_header (theirs, "bank-a", "incident");
    ht.refs = &ref;
    ht.ref_count = 1;
    assert_int_equal (s_inbox_add (f->store, &ht, "more", 12), 1);
    //  A plain advisory belongs to no case
    uint8_t plain [CERTBUS_ID_SIZE];
    certbus_header_t hp = s_header (plain, "bank-a", "advisory");
    assert_null (node_case_of (&hp));
    assert_int_equal (s_inbox_add (f->store, &hp, "plain", 13), 1);
    //  The thread: accepted messages in broker order, ours (not accepted) last
    thread_t t = {0};
    assert_int_equal (node_store_case_thread (f->store, report, "cert-nl", s_collect_entry, &t), 3);
    assert_string_equal (t.origins [0], "bank-a");
    assert_string_equal (t.origins [1], "bank-a");
    assert_string_equal (t.origins [2], "cert-nl");
    assert_int_equal (t.own, 1);
    size_t cases = 0;
    assert_int_equal (node_store_cases (f->store, s_count_case, &cases) >= 0, 1);
    assert_int_equal (cases, 1);
    uint8_t case_id [CERTBUS_ID_SIZE];
    assert_int_equal (node_store_outbox_case (f->store, ours, case_id), 1);
    assert_memory_equal (case_id, report, CERTBUS_ID_SIZE);
    //  Participants: the list of the highest broker sequence wins
    assert_null (node_store_case_participants (f->store, report));
    assert_int_equal (node_store_case_participants_set (f->store, report, 12, "bank-a,cert-nl"), 0);
    assert_int_equal (node_store_case_participants_set (f->store, report, 10, "bank-a"), 0);
    char *list = node_store_case_participants (f->store, report);
    assert_string_equal (list, "bank-a,cert-nl");
    free (list);
    assert_int_equal (node_store_case_participants_set (f->store, report, 14,
                                                        "bank-a,bank-b,cert-nl"),
                      0);
    list = node_store_case_participants (f->store, report);
    assert_string_equal (list, "bank-a,bank-b,cert-nl");
    free (list);
}

//  --------------------------------------------------------------------------
//  Directory, settings, transactions

static void
test_directory_and_settings (void **state)
{
    fixture_t *f = *state;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (node_store_directory_get (f->store, &bytes, &size), -1);
    assert_int_equal (node_store_directory_set (f->store, (const uint8_t *) "dir-v1", 6), 0);
    assert_int_equal (node_store_directory_set (f->store, (const uint8_t *) "dir-v2", 6), 0);
    assert_int_equal (node_store_directory_get (f->store, &bytes, &size), 0);
    assert_int_equal (size, 6);
    assert_memory_equal (bytes, "dir-v2", 6);
    free (bytes);
    assert_int_not_equal (node_store_blob_get (f->store, "tree_head", &bytes, &size), 0);
    assert_int_equal (node_store_blob_set (f->store, "tree_head", (const uint8_t *) "\x01\x00\x02",
                                           3),
                      0);
    assert_int_equal (node_store_blob_get (f->store, "tree_head", &bytes, &size), 0);
    assert_int_equal (size, 3);
    assert_memory_equal (bytes, "\x01\x00\x02", 3);
    free (bytes);
    assert_null (node_store_meta_get (f->store, "directory_known"));
    assert_int_equal (node_store_meta_set (f->store, "directory_known", "7"), 0);
    assert_int_equal (node_store_meta_set (f->store, "directory_known", "9"), 0);
    char *value = node_store_meta_get (f->store, "directory_known");
    assert_string_equal (value, "9");
    free (value);
}

static void
test_transactions (void **state)
{
    fixture_t *f = *state;
    uint8_t a [CERTBUS_ID_SIZE], b [CERTBUS_ID_SIZE];
    certbus_header_t ha = s_header (a, "bank-a", "advisory");
    certbus_header_t hb = s_header (b, "bank-a", "advisory");
    assert_false (node_store_in_txn (f->store));
    assert_int_equal (node_store_begin (f->store), 0);
    assert_true (node_store_in_txn (f->store));
    assert_int_equal (s_inbox_add (f->store, &ha, "rolled back", 1), 1);
    node_store_rollback (f->store);
    assert_false (node_store_in_txn (f->store));
    assert_int_equal (node_store_inbox_count (f->store), 0);
    assert_int_equal (node_store_begin (f->store), 0);
    assert_int_equal (s_inbox_add (f->store, &ha, "kept", 1), 1);
    assert_int_equal (s_inbox_add (f->store, &hb, "kept", 2), 1);
    assert_int_equal (node_store_commit (f->store), 0);
    assert_int_equal (node_store_inbox_count (f->store), 2);
    //  Not durable for a moment (sent marks), then durable again
    node_store_set_durable (f->store, false);
    assert_int_equal (node_store_meta_set (f->store, "k", "v"), 0);
    node_store_set_durable (f->store, true);
    //  What was committed survives a reopen
    node_store_destroy (&f->store);
    char *path = tu_path (f->dir, "node.db");
    f->store = node_store_open (path);
    free (path);
    assert_non_null (f->store);
    assert_int_equal (node_store_inbox_count (f->store), 2);
    char *value = node_store_meta_get (f->store, "k");
    assert_string_equal (value, "v");
    free (value);
}

//  A test that runs on a fresh fixture (s_setup, s_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        s_test (test_outbox),       s_test (test_inbox), s_test (test_inbox_forwarded),
        s_test (test_receipts),     s_test (test_cases), s_test (test_directory_and_settings),
        s_test (test_transactions),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
