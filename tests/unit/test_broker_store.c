/*  test_broker_store.c - unit tests of the broker's storage interface
    (broker/store.h) and of the audit tree on top of it (broker/tree.h)
    SPDX-License-Identifier: MPL-2.0

    Written against store.h and tree.h alone, so that the same tests run
    against any backend. The store URL comes from one place: the
    environment's CERTBUS_TEST_STORE_URL, a template in which "%s" is
    replaced by a name unique to each test (each test wants an empty
    store), e.g. "sqlite:/tmp/x/%s.db". Without it, each test gets a new
    SQLite file in a temp folder.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "store.h"
#include "tree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  A new, empty store (and the temp folder it lives in)
typedef struct {
    char *tmp; //  temp folder, removed at teardown
    char *url; //  the store's URL
    broker_store_t *store;
} fixture_t;

static int
s_setup (void **state)
{
    static int serial = 0;
    fixture_t *self = tu_fixture_new (state, sizeof *self);
    self->tmp = tu_tmpdir_new ();
    char name [64];
    snprintf (name, sizeof name, "store_%d_%d", (int) getpid (), ++serial);
    const char *template = getenv ("CERTBUS_TEST_STORE_URL");
    if (template && *template) {
        assert_non_null (strstr (template, "%s"));
        size_t size = strlen (template) + strlen (name) + 1;
        self->url = malloc (size);
        assert_non_null (self->url);
        const char *at = strstr (template, "%s");
        snprintf (self->url, size, "%.*s%s%s", (int) (at - template), template, name, at + 2);
    }
    else {
        char *path = tu_path (self->tmp, name);
        size_t size = strlen (path) + 16;
        self->url = malloc (size);
        assert_non_null (self->url);
        snprintf (self->url, size, "sqlite:%s.db", path);
        free (path);
    }
    self->store = broker_store_open (self->url, true);
    if (!self->store)
        fail_msg ("open %s: %s", self->url, certbus_reason ());
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = *state;
    broker_store_destroy (&self->store);
    tu_tmpdir_remove (&self->tmp);
    free (self->url);
    free (self);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Helpers

//  A message header with a fresh id
typedef struct {
    certbus_header_t header;
    uint8_t envelope [64];
} s_message_t;

static void
s_message_init (s_message_t *m, const char *origin, const char *kind)
{
    memset (m, 0, sizeof *m);
    certbus_uuid7 (m->header.id);
    m->header.origin = (char *) origin;
    m->header.kind = (char *) kind;
    m->header.tlp = "amber";
    m->header.severity = "medium";
    m->header.audience = "org:bravo";
    for (size_t i = 0; i < sizeof m->envelope; i++)
        m->envelope [i] = (uint8_t) (i * 7 + m->header.id [15]);
}

//  Stores a message for recipient at priority; returns its sequence
static uint64_t
s_publish (broker_store_t *store, s_message_t *m, const char *recipient, int priority,
           int64_t expires_at)
{
    uint64_t seq = 0;
    int64_t now = certbus_now_ms ();
    assert_int_equal (broker_store_message_insert (store, &m->header, m->envelope,
                                                   sizeof m->envelope, now, expires_at, 1, &seq),
                      0);
    const uint8_t wrapped [4] = {1, 2, 3, (uint8_t) priority};
    assert_int_equal (broker_store_queue_insert (store, recipient, seq, priority, wrapped,
                                                 sizeof wrapped),
                      0);
    return seq;
}

static int64_t
s_far (void)
{
    return certbus_now_ms () + 86400000LL;
}

//  An audit record of event by org about message id (borrowed strings)
static void
s_record_init (Certbus__AuditRecord *record, const char *event, const char *org,
               uint8_t id [CERTBUS_ID_SIZE])
{
    Certbus__AuditRecord init = CERTBUS__AUDIT_RECORD__INIT;
    *record = init;
    record->time = certbus_now_ms ();
    record->event = (char *) event;
    record->org = (char *) org;
    record->message_id.data = id;
    record->message_id.len = CERTBUS_ID_SIZE;
    record->decision = "accept";
    record->rule = "test";
    record->reason = "";
}

//  Collects queue_fetch deliveries
typedef struct {
    uint64_t qseq [16];
    uint64_t msg_seq [16];
    bool damaged [16];
    size_t count;
    size_t stop_after;  //  0: take them all
    uint64_t skip_qseq; //  0: skip none
} s_fetched_t;

static int
s_fetch_fn (void *arg, const broker_delivery_t *delivery)
{
    s_fetched_t *f = arg;
    assert_true (f->count < 16);
    f->qseq [f->count] = delivery->qseq;
    f->msg_seq [f->count] = delivery->msg_seq;
    f->damaged [f->count] = delivery->damaged;
    assert_int_equal (delivery->envelope_size, 64);
    f->count++;
    return f->stop_after && f->count >= f->stop_after;
}

static bool
s_skip_fn (void *arg, uint64_t qseq)
{
    s_fetched_t *f = arg;
    return qseq == f->skip_qseq;
}

static broker_counts_t
s_counts (broker_store_t *store)
{
    broker_counts_t counts;
    assert_int_equal (broker_store_counts (store, &counts), 0);
    return counts;
}

//  ---------------------------------------------------------------------------
//  Opening

static void
test_open_by_url_or_path (void **state)
{
    fixture_t *self = *state;
    assert_string_equal (broker_store_name (self->store), self->url);
    broker_store_t *other = broker_store_open ("nosuch://host/db", true);
    assert_null (other);
    assert_null (broker_store_open ("sqlite:", true));
    if (strncmp (self->url, "sqlite:", 7) == 0) {
        //  The same file by its plain path
        assert_int_equal (broker_store_meta_set (self->store, "k", "v"), 0);
        other = broker_store_open (self->url + 7, false);
        assert_non_null (other);
        char *value = broker_store_meta_get (other, "k");
        assert_string_equal (value, "v");
        free (value);
        broker_store_destroy (&other);
    }
    assert_int_equal (broker_store_check (self->store, false), 0);
    assert_int_equal (broker_store_check (self->store, true), 0);
}

static void
test_meta (void **state)
{
    fixture_t *self = *state;
    assert_null (broker_store_meta_get (self->store, "clean_stop"));
    assert_int_equal (broker_store_meta_set (self->store, "clean_stop", "1"), 0);
    assert_int_equal (broker_store_meta_set (self->store, "clean_stop", "0"), 0);
    char *value = broker_store_meta_get (self->store, "clean_stop");
    assert_string_equal (value, "0");
    free (value);
}

//  ---------------------------------------------------------------------------
//  Publish batches

static void
test_publish_batch_rollback_leaves_nothing (void **state)
{
    fixture_t *self = *state;
    broker_tree_t *tree = broker_tree_new (self->store);
    assert_non_null (tree);
    uint8_t empty_root [32];
    broker_tree_root (tree, empty_root);

    s_message_t m;
    s_message_init (&m, "alpha", "advisory");
    assert_int_equal (s_counts (self->store).audit, 0); //  counts kept from here on
    assert_int_equal (broker_store_begin (self->store), 0);
    s_publish (self->store, &m, "bravo", 0, s_far ());
    Certbus__AuditRecord record;
    s_record_init (&record, "publish", "alpha", m.header.id);
    assert_int_equal (broker_tree_append (tree, &record), 0);
    assert_int_equal (broker_tree_size (tree), 1);
    broker_store_rollback (self->store);

    uint64_t seq;
    int64_t at;
    assert_int_equal (broker_store_message_lookup (self->store, "alpha", m.header.id, &seq, &at),
                      0);
    broker_counts_t counts = s_counts (self->store);
    assert_int_equal (counts.messages, 0);
    assert_int_equal (counts.queued, 0);
    assert_int_equal (counts.audit, 0);
    assert_int_equal (broker_store_queue_depth (self->store, "bravo", NULL), 0);
    assert_int_equal (broker_tree_size (tree), 0);
    uint8_t root [32];
    broker_tree_root (tree, root);
    assert_memory_equal (root, empty_root, 32);
    assert_int_equal (broker_store_audit_find (self->store, m.header.id, "publish", NULL, NULL),
                      -1);
    broker_tree_destroy (&tree);
}

static void
test_publish_batch_commit_keeps_all (void **state)
{
    fixture_t *self = *state;
    broker_tree_t *tree = broker_tree_new (self->store);
    assert_non_null (tree);
    s_message_t m [3];
    uint64_t seqs [3];
    assert_int_equal (s_counts (self->store).messages, 0); //  counts kept from here on
    assert_int_equal (broker_store_begin (self->store), 0);
    for (int i = 0; i < 3; i++) {
        s_message_init (&m [i], "alpha", "advisory");
        seqs [i] = s_publish (self->store, &m [i], "bravo", 0, s_far ());
        Certbus__AuditRecord record;
        s_record_init (&record, "publish", "alpha", m [i].header.id);
        assert_int_equal (broker_tree_append (tree, &record), 0);
    }
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_true (seqs [0] < seqs [1] && seqs [1] < seqs [2]);

    for (int i = 0; i < 3; i++) {
        uint64_t seq;
        int64_t at;
        assert_int_equal (broker_store_message_lookup (self->store, "alpha", m [i].header.id, &seq,
                                                       &at),
                          1);
        assert_int_equal (seq, seqs [i]);
        //  Deduplication is per origin
        assert_int_equal (broker_store_message_lookup (self->store, "charlie", m [i].header.id,
                                                       &seq, &at),
                          0);
    }
    broker_counts_t counts = s_counts (self->store);
    assert_int_equal (counts.messages, 3);
    assert_int_equal (counts.queued, 3);
    assert_int_equal (counts.audit, 3);
    int64_t oldest = 0;
    assert_int_equal (broker_store_queue_depth (self->store, "bravo", &oldest), 3);
    assert_true (oldest > 0);
    assert_int_equal (broker_store_origin_bytes (self->store, "alpha"), 3 * 64);
    assert_int_equal (broker_store_origin_bytes (self->store, "bravo"), 0);

    certbus_header_t header;
    assert_int_equal (broker_store_message_by_seq (self->store, seqs [1], &header), 1);
    assert_memory_equal (header.id, m [1].header.id, CERTBUS_ID_SIZE);
    assert_string_equal (header.origin, "alpha");
    assert_string_equal (header.kind, "advisory");
    assert_string_equal (header.audience, "org:bravo");
    broker_store_header_free (&header);
    assert_int_equal (broker_store_message_by_seq (self->store, seqs [2] + 100, &header), 0);
    broker_tree_destroy (&tree);
}

//  ---------------------------------------------------------------------------
//  Queues

static void
test_queue_order_per_priority (void **state)
{
    fixture_t *self = *state;
    s_message_t m [6];
    uint64_t seqs [6];
    assert_int_equal (broker_store_begin (self->store), 0);
    for (int i = 0; i < 6; i++) {
        s_message_init (&m [i], "alpha", i == 5 ? "incident" : "advisory");
        seqs [i] = s_publish (self->store, &m [i], "bravo", i % 2, s_far ());
    }
    //  Another member's queue is apart
    s_message_t other;
    s_message_init (&other, "alpha", "advisory");
    s_publish (self->store, &other, "charlie", 1, s_far ());
    assert_int_equal (broker_store_commit (self->store), 0);

    s_fetched_t critical = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 1, 0, 10, NULL, s_fetch_fn,
                                                &critical),
                      3);
    assert_int_equal (critical.count, 3);
    assert_int_equal (critical.msg_seq [0], seqs [1]);
    assert_int_equal (critical.msg_seq [1], seqs [3]);
    assert_int_equal (critical.msg_seq [2], seqs [5]);
    assert_true (critical.qseq [0] < critical.qseq [1] && critical.qseq [1] < critical.qseq [2]);
    for (size_t i = 0; i < critical.count; i++)
        assert_false (critical.damaged [i]);

    s_fetched_t rest = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 0, 0, 10, NULL, s_fetch_fn,
                                                &rest),
                      3);
    assert_int_equal (rest.msg_seq [0], seqs [0]);
    assert_int_equal (rest.msg_seq [1], seqs [2]);
    assert_int_equal (rest.msg_seq [2], seqs [4]);

    //  From a cursor, with a limit
    s_fetched_t after = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 0, rest.qseq [0], 1, NULL,
                                                s_fetch_fn, &after),
                      1);
    assert_int_equal (after.msg_seq [0], seqs [2]);

    //  Skipped rows are seen but not handed over; fn stops early
    s_fetched_t skipped = {.skip_qseq = rest.qseq [1]};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 0, 0, 10, s_skip_fn,
                                                s_fetch_fn, &skipped),
                      3);
    assert_int_equal (skipped.count, 2);
    assert_int_equal (skipped.msg_seq [1], seqs [4]);
    s_fetched_t stopped = {.stop_after = 1};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 0, 0, 10, NULL, s_fetch_fn,
                                                &stopped),
                      1);
    assert_int_equal (stopped.count, 1);

    s_fetched_t none = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "delta", 0, 0, 10, NULL, s_fetch_fn,
                                                &none),
                      0);
}

typedef struct {
    int64_t bravo, charlie;
    int calls;
} s_depths_t;

static void
s_depth_fn (void *arg, const char *recipient, int64_t depth, int64_t oldest)
{
    s_depths_t *d = arg;
    assert_true (oldest > 0);
    d->calls++;
    if (strcmp (recipient, "bravo") == 0)
        d->bravo = depth;
    else if (strcmp (recipient, "charlie") == 0)
        d->charlie = depth;
}

static void
test_ack_deletes (void **state)
{
    fixture_t *self = *state;
    s_message_t m [2];
    uint64_t seqs [2];
    for (int i = 0; i < 2; i++) {
        s_message_init (&m [i], "alpha", "advisory");
        seqs [i] = s_publish (self->store, &m [i], i ? "charlie" : "bravo", 0, s_far ());
    }
    s_fetched_t f = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "bravo", 0, 0, 10, NULL, s_fetch_fn,
                                                &f),
                      1);
    //  Only the recipient's own row
    assert_int_equal (broker_store_queue_ack (self->store, "charlie", f.qseq [0], NULL), 0);
    uint64_t msg_seq = 0;
    assert_int_equal (broker_store_begin (self->store), 0);
    assert_int_equal (broker_store_queue_ack (self->store, "bravo", f.qseq [0], &msg_seq), 1);
    assert_int_equal (msg_seq, seqs [0]);
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_int_equal (broker_store_queue_ack (self->store, "bravo", f.qseq [0], &msg_seq), 0);
    assert_int_equal (broker_store_queue_depth (self->store, "bravo", NULL), 0);
    assert_int_equal (broker_store_queue_depth (self->store, "charlie", NULL), 1);
    assert_int_equal (s_counts (self->store).queued, 1);
    //  The message stays for its other recipients
    assert_int_equal (s_counts (self->store).messages, 2);

    //  A rolled-back ack keeps the row and its count
    s_fetched_t c = {0};
    assert_int_equal (broker_store_queue_fetch (self->store, "charlie", 0, 0, 10, NULL, s_fetch_fn,
                                                &c),
                      1);
    assert_int_equal (broker_store_begin (self->store), 0);
    assert_int_equal (broker_store_queue_ack (self->store, "charlie", c.qseq [0], NULL), 1);
    broker_store_rollback (self->store);
    assert_int_equal (broker_store_queue_depth (self->store, "charlie", NULL), 1);

    s_depths_t depths = {0};
    assert_int_equal (broker_store_queue_depths (self->store, s_depth_fn, &depths), 0);
    assert_int_equal (depths.calls, 1);
    assert_int_equal (depths.charlie, 1);
    assert_int_equal (depths.bravo, 0);
}

static void
test_expiry (void **state)
{
    fixture_t *self = *state;
    int64_t now = certbus_now_ms ();
    s_message_t old, fresh;
    s_message_init (&old, "alpha", "advisory");
    s_message_init (&fresh, "alpha", "advisory");
    uint64_t old_seq = s_publish (self->store, &old, "bravo", 0, now - 1000);
    const uint8_t wrapped [4] = {9, 9, 9, 9};
    assert_int_equal (broker_store_queue_insert (self->store, "charlie", old_seq, 1, wrapped,
                                                 sizeof wrapped),
                      0);
    s_publish (self->store, &fresh, "bravo", 0, now + 60000);
    assert_int_equal (s_counts (self->store).queued, 3);
    assert_int_equal (broker_store_expire (self->store, now), 1);
    assert_int_equal (broker_store_expire (self->store, now), 0);
    broker_counts_t counts = s_counts (self->store);
    assert_int_equal (counts.messages, 1);
    assert_int_equal (counts.queued, 1);
    assert_int_equal (broker_store_queue_depth (self->store, "charlie", NULL), 0);
    uint64_t seq;
    int64_t at;
    assert_int_equal (broker_store_message_lookup (self->store, "alpha", old.header.id, &seq, &at),
                      0);
    assert_int_equal (broker_store_message_lookup (self->store, "alpha", fresh.header.id, &seq,
                                                   &at),
                      1);
}

//  ---------------------------------------------------------------------------
//  Cases and receipts

static int
s_case_count_fn (void *arg, const broker_case_t *c)
{
    (void) c;
    (*(int *) arg)++;
    return 0;
}

static void
test_cases (void **state)
{
    fixture_t *self = *state;
    broker_case_t c = {0};
    certbus_uuid7 (c.case_id);
    snprintf (c.origin, sizeof c.origin, "alpha");
    snprintf (c.severity, sizeof c.severity, "high");
    snprintf (c.tlp, sizeof c.tlp, "amber");
    snprintf (c.status, sizeof c.status, "open");
    c.opened_at = 1000;
    c.updated_at = 1000;
    broker_case_t got;
    assert_int_equal (broker_store_case_get (self->store, c.case_id, &got), 0);
    assert_int_equal (broker_store_case_put (self->store, &c), 0);
    assert_int_equal (broker_store_case_get (self->store, c.case_id, &got), 1);
    assert_string_equal (got.origin, "alpha");
    assert_string_equal (got.status, "open");
    assert_int_equal (got.first_ack_at, 0);
    assert_int_equal (got.resolved_at, 0);
    //  Updated in place
    snprintf (c.status, sizeof c.status, "resolved");
    c.first_ack_at = 1500;
    c.resolved_at = 2000;
    c.updated_at = 2000;
    assert_int_equal (broker_store_case_put (self->store, &c), 0);
    assert_int_equal (broker_store_case_get (self->store, c.case_id, &got), 1);
    assert_memory_equal (&got, &c, sizeof c);

    //  Participants
    assert_int_equal (broker_store_case_member (self->store, c.case_id, "charlie", false), 0);
    assert_int_equal (broker_store_case_member (self->store, c.case_id, "charlie", true), 0);
    assert_int_equal (broker_store_case_member (self->store, c.case_id, "alpha", true), 0);
    assert_int_equal (broker_store_case_member (self->store, c.case_id, "alpha", true), 0);
    assert_int_equal (broker_store_case_member (self->store, c.case_id, "charlie", false), 1);
    char **orgs;
    size_t count;
    assert_int_equal (broker_store_case_members (self->store, c.case_id, &orgs, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (orgs [0], "alpha");
    assert_string_equal (orgs [1], "charlie");
    certbus_strv_free (orgs, count);

    broker_case_t later = c;
    certbus_uuid7 (later.case_id);
    later.opened_at = 5000;
    assert_int_equal (broker_store_case_put (self->store, &later), 0);
    int seen = 0;
    assert_int_equal (broker_store_cases_each (self->store, 0, s_case_count_fn, &seen), 2);
    assert_int_equal (seen, 2);
    seen = 0;
    assert_int_equal (broker_store_cases_each (self->store, 4000, s_case_count_fn, &seen), 1);
    char *what = NULL;
    assert_int_equal (broker_store_damaged_case_row (self->store, &what), 0);
    assert_null (what);
}

static void
test_receipts (void **state)
{
    fixture_t *self = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    certbus_uuid7 (id);
    assert_int_equal (broker_store_receipt_add (self->store, id, "alpha", "bravo"), 1);
    assert_int_equal (broker_store_receipt_add (self->store, id, "alpha", "bravo"), 0);
    assert_int_equal (broker_store_receipt_add (self->store, id, "alpha", "charlie"), 1);
    assert_int_equal (broker_store_receipt_add (self->store, id, "delta", "bravo"), 1);
    char *what = NULL;
    assert_int_equal (broker_store_damaged_case_row (self->store, &what), 0);
}

//  ---------------------------------------------------------------------------
//  The audit log and its tree

typedef struct {
    int64_t indexes [8];
    uint8_t leaf0 [32];
    size_t count;
} s_rows_t;

static int
s_audit_row_fn (void *arg, const broker_audit_row_t *row)
{
    s_rows_t *rows = arg;
    assert_true (rows->count < 8);
    if (rows->count == 0) {
        assert_int_equal (row->leaf_hash_size, 32);
        memcpy (rows->leaf0, row->leaf_hash, 32);
    }
    rows->indexes [rows->count++] = row->index;
    return 0;
}

static int
s_accept_second_fn (void *arg, int64_t index, const uint8_t *record, size_t size)
{
    (void) index;
    assert_true (size > 0 && record);
    return ++*(int *) arg == 2;
}

static void
test_audit_records_and_nodes (void **state)
{
    fixture_t *self = *state;
    broker_tree_t *tree = broker_tree_new (self->store);
    assert_non_null (tree);
    uint8_t a [CERTBUS_ID_SIZE], b [CERTBUS_ID_SIZE];
    certbus_uuid7 (a);
    certbus_uuid7 (b);
    const char *orgs [4] = {"alpha", "bravo", "alpha", "alpha"};
    assert_int_equal (broker_store_begin (self->store), 0);
    for (int i = 0; i < 4; i++) {
        Certbus__AuditRecord record;
        s_record_init (&record, i == 3 ? "receipt" : "publish", orgs [i], i == 1 ? b : a);
        assert_int_equal (broker_tree_append (tree, &record), 0);
        assert_int_equal (record.index, (uint64_t) i);
    }
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_int_equal (broker_tree_size (tree), 4);
    assert_int_equal (broker_store_audit_count (self->store), 4);

    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (broker_store_audit_find (self->store, a, "publish", &bytes, &size), 0);
    assert_true (size > 0);
    free (bytes);
    assert_int_equal (broker_store_audit_find (self->store, b, "publish", NULL, NULL), 1);
    assert_int_equal (broker_store_audit_find (self->store, a, "receipt", NULL, NULL), 3);
    int calls = 0;
    assert_int_equal (broker_store_audit_find_each (self->store, a, "publish", s_accept_second_fn,
                                                    &calls),
                      2);

    s_rows_t all = {0}, alpha = {0};
    assert_int_equal (broker_store_audit_each (self->store, NULL, 0, s_audit_row_fn, &all), 4);
    assert_int_equal (broker_store_audit_each (self->store, "alpha", 0, s_audit_row_fn, &alpha), 3);
    assert_int_equal (alpha.indexes [1], 2);

    //  Level 0 nodes are the leaf hashes; the perfect subtree of all four
    //  is the root
    uint8_t node [32], root [32];
    assert_int_equal (broker_store_node_get (self->store, 0, 0, node), 0);
    assert_memory_equal (node, all.leaf0, 32);
    assert_int_equal (broker_tree_node (tree, 2, 0, node), 0);
    broker_tree_root (tree, root);
    assert_memory_equal (node, root, 32);
    assert_int_equal (broker_store_node_get (self->store, 0, 4, node), CERTBUS_E_NOT_FOUND);

    //  A second tree over the same store agrees
    broker_tree_t *again = broker_tree_new (self->store);
    assert_non_null (again);
    uint8_t root2 [32];
    broker_tree_root (again, root2);
    assert_memory_equal (root, root2, 32);
    broker_tree_destroy (&again);
    broker_tree_destroy (&tree);
}

static void
test_tree_across_commit_and_rollback (void **state)
{
    fixture_t *self = *state;
    broker_tree_t *tree = broker_tree_new (self->store);
    assert_non_null (tree);
    uint8_t id [CERTBUS_ID_SIZE];
    certbus_uuid7 (id);
    assert_int_equal (broker_store_begin (self->store), 0);
    for (int i = 0; i < 3; i++) {
        Certbus__AuditRecord record;
        s_record_init (&record, "publish", "alpha", id);
        assert_int_equal (broker_tree_append (tree, &record), 0);
    }
    assert_int_equal (broker_store_commit (self->store), 0);
    uint8_t committed [32];
    broker_tree_root (tree, committed);

    assert_int_equal (broker_store_begin (self->store), 0);
    for (int i = 0; i < 2; i++) {
        Certbus__AuditRecord record;
        s_record_init (&record, "publish", "bravo", id);
        assert_int_equal (broker_tree_append (tree, &record), 0);
    }
    assert_int_equal (broker_tree_size (tree), 5);
    uint8_t open [32];
    broker_tree_root (tree, open);
    assert_memory_not_equal (open, committed, 32);
    broker_store_rollback (self->store);
    assert_int_equal (broker_tree_size (tree), 3);
    uint8_t after [32];
    broker_tree_root (tree, after);
    assert_memory_equal (after, committed, 32);

    //  The next append takes the index the rolled-back one had
    Certbus__AuditRecord record;
    s_record_init (&record, "publish", "charlie", id);
    assert_int_equal (broker_store_begin (self->store), 0);
    assert_int_equal (broker_tree_append (tree, &record), 0);
    assert_int_equal (record.index, 3);
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_int_equal (broker_store_audit_count (self->store), 4);
    broker_tree_destroy (&tree);
}

typedef struct {
    uint64_t sizes [4];
    size_t count;
} s_heads_t;

static int
s_head_fn (void *arg, const certbus_tree_head_t *head, const uint8_t *bytes, size_t size)
{
    s_heads_t *h = arg;
    assert_true (h->count < 4);
    assert_true (bytes && size == 3);
    h->sizes [h->count++] = head->size;
    return 0;
}

static void
test_tree_heads (void **state)
{
    fixture_t *self = *state;
    certbus_tree_head_t head = {0};
    assert_int_equal (broker_store_tree_head_latest (self->store, &head, NULL, NULL), 0);
    const uint8_t bytes [3] = {7, 8, 9};
    for (uint64_t size = 1; size <= 3; size++) {
        certbus_tree_head_t h = {.size = size * 10, .timestamp = (int64_t) size * 100};
        memset (h.root, (int) size, 32);
        assert_int_equal (broker_store_tree_head_add (self->store, &h, bytes, sizeof bytes), 0);
    }
    uint8_t *copy = NULL;
    size_t copy_size = 0;
    assert_int_equal (broker_store_tree_head_latest (self->store, &head, &copy, &copy_size), 1);
    assert_int_equal (head.size, 30);
    assert_int_equal (head.timestamp, 300);
    assert_int_equal (head.root [0], 3);
    assert_int_equal (copy_size, 3);
    assert_memory_equal (copy, bytes, 3);
    free (copy);
    s_heads_t heads = {0};
    assert_int_equal (broker_store_tree_heads_each (self->store, s_head_fn, &heads), 3);
    assert_int_equal (heads.sizes [0], 10);
    assert_int_equal (heads.sizes [2], 30);
}

//  ---------------------------------------------------------------------------
//  Certificates and directories

typedef struct {
    char seen [4][16];
    size_t count;
} s_blobs_seen_t;

static int
s_blob_fn (void *arg, const uint8_t *bytes, size_t size)
{
    s_blobs_seen_t *b = arg;
    assert_true (b->count < 4 && size < 16);
    memcpy (b->seen [b->count], bytes, size);
    b->seen [b->count++][size] = 0;
    return 0;
}

static void
s_cert_init (certbus_cert_t *cert, uint64_t serial, const char *org, char *bytes)
{
    memset (cert, 0, sizeof *cert);
    cert->serial = serial;
    cert->org_id = (char *) org;
    cert->name = (char *) org;
    cert->tier = CERTBUS_TIER_NATIONAL;
    cert->sector = "";
    cert->region = "";
    cert->not_before = 0;
    cert->not_after = 4000000000LL;
    cert->bytes = (uint8_t *) bytes;
    cert->size = strlen (bytes);
}

static void
test_certificates (void **state)
{
    fixture_t *self = *state;
    assert_int_equal (broker_store_next_serial (self->store), 1);
    certbus_cert_t cert;
    s_cert_init (&cert, 1, "zulu", "cert-zulu");
    assert_int_equal (broker_store_cert_insert (self->store, &cert, 10), 0);
    s_cert_init (&cert, 2, "alpha", "cert-alpha");
    assert_int_equal (broker_store_cert_insert (self->store, &cert, 11), 0);
    assert_int_equal (broker_store_next_serial (self->store), 3);
    assert_int_equal (broker_store_cert_active (self->store, "alpha"), 2);
    assert_int_equal (broker_store_cert_active (self->store, "nobody"), 0);

    s_blobs_seen_t active = {0};
    assert_int_equal (broker_store_certs_each (self->store, s_blob_fn, &active), 0);
    assert_int_equal (active.count, 2);
    assert_string_equal (active.seen [0], "cert-alpha"); //  by org id
    assert_string_equal (active.seen [1], "cert-zulu");

    const char *revocation = "rev-zulu";
    assert_int_equal (broker_store_cert_revoke (self->store, 1, (const uint8_t *) revocation,
                                                strlen (revocation), 20, "key lost"),
                      0);
    assert_int_equal (broker_store_cert_active (self->store, "zulu"), 0);
    s_blobs_seen_t left = {0}, revs = {0};
    assert_int_equal (broker_store_certs_each (self->store, s_blob_fn, &left), 0);
    assert_int_equal (left.count, 1);
    assert_string_equal (left.seen [0], "cert-alpha");
    assert_int_equal (broker_store_revocations_each (self->store, s_blob_fn, &revs), 0);
    assert_int_equal (revs.count, 1);
    assert_string_equal (revs.seen [0], "rev-zulu");
    assert_int_equal (s_counts (self->store).certificates, 2);
}

static void
test_directory_versions (void **state)
{
    fixture_t *self = *state;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (broker_store_directory_serial (self->store), 0);
    assert_int_equal (broker_store_directory_latest (self->store, &bytes, &size), -1);
    for (uint64_t serial = 1; serial <= BROKER_DIRECTORIES_KEPT + 4; serial++) {
        uint8_t blob [2] = {(uint8_t) serial, 0xdd};
        assert_int_equal (broker_store_directory_put (self->store, serial, 1000 + (int64_t) serial,
                                                      blob, 2),
                          0);
    }
    assert_int_equal (broker_store_directory_serial (self->store), BROKER_DIRECTORIES_KEPT + 4);
    assert_int_equal (broker_store_directory_latest (self->store, &bytes, &size), 0);
    assert_int_equal (size, 2);
    assert_int_equal (bytes [0], BROKER_DIRECTORIES_KEPT + 4);
    free (bytes);
    //  A version is stored once
    uint8_t blob [1] = {0};
    assert_int_not_equal (broker_store_directory_put (self->store, 3 + BROKER_DIRECTORIES_KEPT, 0,
                                                      blob, 1),
                          0);
}

//  ---------------------------------------------------------------------------
//  Damage and end hooks

static void
test_intact_store_reports_no_damage (void **state)
{
    fixture_t *self = *state;
    s_message_t m;
    s_message_init (&m, "alpha", "incident");
    s_publish (self->store, &m, "bravo", 1, s_far ());
    assert_int_equal (broker_store_damaged_message (self->store), 0);
    assert_int_equal (broker_store_damaged_queue_row (self->store), 0);
    char *what = NULL;
    assert_int_equal (broker_store_damaged_case_row (self->store, &what), 0);
    assert_null (what);
}

static void
s_end_fn (void *arg, bool committed)
{
    int *ends = arg;
    ends [committed ? 1 : 0]++;
}

static void
test_end_hooks (void **state)
{
    fixture_t *self = *state;
    int ends [2] = {0, 0};
    assert_int_equal (broker_store_on_end (self->store, s_end_fn, ends), 0);
    assert_int_equal (broker_store_begin (self->store), 0);
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_int_equal (broker_store_begin (self->store), 0);
    broker_store_rollback (self->store);
    assert_int_equal (ends [1], 1);
    assert_int_equal (ends [0], 1);
    broker_store_on_end_cancel (self->store, s_end_fn, ends);
    assert_int_equal (broker_store_begin (self->store), 0);
    assert_int_equal (broker_store_commit (self->store), 0);
    assert_int_equal (ends [1], 1);
}

//  A test that runs on a fresh fixture (s_setup, s_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        s_test (test_open_by_url_or_path),
        s_test (test_meta),
        s_test (test_publish_batch_rollback_leaves_nothing),
        s_test (test_publish_batch_commit_keeps_all),
        s_test (test_queue_order_per_priority),
        s_test (test_ack_deletes),
        s_test (test_expiry),
        s_test (test_cases),
        s_test (test_receipts),
        s_test (test_audit_records_and_nodes),
        s_test (test_tree_across_commit_and_rollback),
        s_test (test_tree_heads),
        s_test (test_certificates),
        s_test (test_directory_versions),
        s_test (test_intact_store_reports_no_damage),
        s_test (test_end_hooks),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
