/*  store.c - the node's storage: outbox, inbox, directory; all its SQL
    SPDX-License-Identifier: MPL-2.0
*/
#include "store.h"
#include "certbus/db.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct node_store_t {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *inbox_insert; //  hot path: one per delivery
};

static const char *s_schema
    = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);"
      "CREATE TABLE IF NOT EXISTS outbox ("
      "  id BLOB PRIMARY KEY, envelope BLOB NOT NULL, kind TEXT, tlp TEXT, audience TEXT,"
      "  created INTEGER, state TEXT NOT NULL DEFAULT 'pending', code INTEGER, reason TEXT,"
      "  rule TEXT, seq INTEGER, accepted_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
      "  last_sent INTEGER NOT NULL DEFAULT 0, recipients TEXT, topic TEXT, severity TEXT,"
      "  type TEXT, case_id BLOB, case_status TEXT, assign TEXT, payload BLOB);"
      "CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox (state, last_sent);"
      "CREATE TABLE IF NOT EXISTS inbox ("
      "  n INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, origin TEXT NOT NULL,"
      "  kind TEXT NOT NULL, tlp TEXT NOT NULL, topic TEXT, severity TEXT, type TEXT,"
      "  audience TEXT, forwarders TEXT, created INTEGER, accepted_at INTEGER,"
      "  received_at INTEGER, broker_seq INTEGER, msg_seq INTEGER, size INTEGER,"
      "  payload BLOB, envelope BLOB, note BLOB, case_id BLOB, case_status TEXT,"
      "  assign TEXT, orig_id BLOB);"
      "CREATE INDEX IF NOT EXISTS inbox_by_case ON inbox (case_id);"
      "CREATE TABLE IF NOT EXISTS receipts ("
      "  message_id BLOB NOT NULL, org TEXT NOT NULL, received_at INTEGER NOT NULL,"
      "  refused TEXT, PRIMARY KEY (message_id, org));"
      "CREATE INDEX IF NOT EXISTS inbox_by_kind ON inbox (kind, n);"
      "CREATE TABLE IF NOT EXISTS case_participants ("
      "  case_id BLOB PRIMARY KEY, seq INTEGER NOT NULL, participants TEXT NOT NULL);";

node_store_t *
node_store_open (const char *path)
{
    node_store_t *self = certbus_calloc (1, sizeof *self);
    self->path = strdup (path);
    self->db = certbus_db_open (path, true, s_schema);
    if (!self->db) {
        node_store_destroy (&self);
        return NULL;
    }
    //  A folder made before receipts could say "refused" gets the column
    sqlite3_stmt *probe = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT refused FROM receipts LIMIT 0", -1, &probe, NULL)
        != SQLITE_OK)
        sqlite3_exec (self->db, "ALTER TABLE receipts ADD COLUMN refused TEXT", NULL, NULL, NULL);
    sqlite3_finalize (probe);
    self->inbox_insert = certbus_db_prepare (
        self->db, "INSERT OR IGNORE INTO inbox (id, origin, kind, tlp, topic, severity, type,"
                  " audience, forwarders, created, accepted_at, received_at, broker_seq, msg_seq,"
                  " size, payload, envelope, note, case_id, case_status, assign, orig_id)"
                  " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
                  " ?19,?20,?21,?22)");
    if (!self->inbox_insert) {
        node_store_destroy (&self);
        return NULL;
    }
    return self;
}

void
node_store_destroy (node_store_t **self_p)
{
    assert (self_p);
    node_store_t *self = *self_p;
    if (!self)
        return;
    sqlite3_finalize (self->inbox_insert);
    sqlite3_close (self->db);
    free (self->path);
    free (self);
    *self_p = NULL;
}

int
node_store_begin (node_store_t *self)
{
    return certbus_db_begin (self->db);
}

int
node_store_commit (node_store_t *self)
{
    return certbus_db_commit (self->db);
}

void
node_store_rollback (node_store_t *self)
{
    certbus_db_rollback (self->db);
}

bool
node_store_in_txn (node_store_t *self)
{
    return !sqlite3_get_autocommit (self->db);
}

void
node_store_set_durable (node_store_t *self, bool durable)
{
    sqlite3_exec (self->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL,
                  NULL, NULL);
}

//  Sets key of the meta table to a blob; what names the write in the
//  reason when it fails
static int
s_meta_blob_set (node_store_t *self, const char *key, const uint8_t *bytes, size_t size,
                 const char *what)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "INSERT OR REPLACE INTO meta VALUES (?1, ?2)");
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 2, bytes, (int) size, SQLITE_STATIC);
    return certbus_db_run (self->db, stmt, what);
}

int
node_store_directory_get (node_store_t *self, uint8_t **bytes_p, size_t *size_p)
{
    return node_store_blob_get (self, "directory", bytes_p, size_p);
}

int
node_store_directory_set (node_store_t *self, const uint8_t *bytes, size_t size)
{
    return s_meta_blob_set (self, "directory", bytes, size, "store directory");
}

int
node_store_meta_set (node_store_t *self, const char *key, const char *value)
{
    return certbus_db_meta_set (self->db, key, value);
}

char *
node_store_meta_get (node_store_t *self, const char *key)
{
    return certbus_db_meta_get (self->db, key);
}

//  The case an incident message belongs to: the case it updates, or its
//  own id when it opens one. NULL for other messages.
const uint8_t *
node_case_of (const certbus_header_t *header)
{
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, "updates") == 0)
            return header->refs [i].id;
    return strcmp (header->kind, "incident") == 0 ? header->id : NULL;
}

const uint8_t *
node_case_of_filed (const certbus_header_t *header, const uint8_t *orig_id)
{
    const uint8_t *case_id = node_case_of (header);
    if (case_id == header->id && orig_id)
        case_id = orig_id; //  a forwarded report opened the case under its own id
    return case_id;
}

int
node_store_outbox_add (node_store_t *self, const certbus_header_t *header, const uint8_t *envelope,
                       size_t size, const char *recipients, const uint8_t *payload,
                       size_t payload_size)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "INSERT INTO outbox (id, envelope, kind, tlp, audience, created, recipients,"
                  " topic, severity, type, case_id, case_status, assign, payload)"
                  " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, header->id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 2, envelope, (int) size, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, header->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, header->tlp, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, header->audience, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, header->created);
    sqlite3_bind_text (stmt, 7, recipients ? recipients : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 8, header->topic, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 9, header->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 10, header->content_type, -1, SQLITE_STATIC);
    const uint8_t *case_id = node_case_of (header);
    if (case_id)
        sqlite3_bind_blob (stmt, 11, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 12, header->case_status, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 13, header->assign, -1, SQLITE_STATIC);
    //  Our own incident messages keep their payload for the case thread
    if (case_id && payload)
        sqlite3_bind_blob (stmt, 14, payload, (int) payload_size, SQLITE_STATIC);
    return certbus_db_run (self->db, stmt, "add to outbox");
}

//  The outbox states as the database spells them, by node_outbox_state_t
static const char *s_outbox_states [] = {"pending", "accepted", "rejected"};

static const char *
s_outbox_state_name (node_outbox_state_t state)
{
    assert ((size_t) state < sizeof s_outbox_states / sizeof s_outbox_states [0]);
    return s_outbox_states [state];
}

static node_outbox_state_t
s_outbox_state_parse (const char *name)
{
    int i = certbus_str_index (name, s_outbox_states,
                               sizeof s_outbox_states / sizeof s_outbox_states [0]);
    return i >= 0 ? (node_outbox_state_t) i : NODE_OUTBOX_PENDING;
}

int
node_store_outbox_result (node_store_t *self, const uint8_t *id, node_outbox_state_t state,
                          uint32_t code, const char *reason, const char *rule, uint64_t seq,
                          int64_t accepted_at)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "UPDATE outbox SET state = ?2, code = ?3, reason = ?4, rule = ?5, seq = ?6,"
                  " accepted_at = ?7 WHERE id = ?1 AND state = 'pending'");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, s_outbox_state_name (state), -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 3, (int) code);
    sqlite3_bind_text (stmt, 4, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, rule ? rule : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, (int64_t) seq);
    sqlite3_bind_int64 (stmt, 7, accepted_at);
    return certbus_db_run (self->db, stmt, "update outbox");
}

static int
s_outgoing_rows (sqlite3_stmt *stmt, node_outgoing_fn *fn, void *arg);

int
node_store_outbox_pending (node_store_t *self, int64_t sent_before, int limit, node_outgoing_fn *fn,
                           void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT id, envelope, state, attempts, last_sent FROM outbox"
                  " WHERE state = 'pending' AND last_sent < ?1 ORDER BY created LIMIT ?2");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, sent_before);
    sqlite3_bind_int (stmt, 2, limit);
    return s_outgoing_rows (stmt, fn, arg);
}

int
node_store_outbox_one (node_store_t *self, const uint8_t *id, node_outgoing_fn *fn, void *arg)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT id, envelope, state, attempts, last_sent FROM outbox"
                              " WHERE state = 'pending' AND id = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    return s_outgoing_rows (stmt, fn, arg);
}

//  Calls fn for each outbox row of stmt until it returns true, then
//  finalizes stmt. Returns the rows seen.
static int
s_outgoing_rows (sqlite3_stmt *stmt, node_outgoing_fn *fn, void *arg)
{
    int rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        node_outgoing_t outgoing = {0};
        if (sqlite3_column_bytes (stmt, 0) != CERTBUS_ID_SIZE)
            continue;
        memcpy (outgoing.id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        outgoing.envelope = sqlite3_column_blob (stmt, 1);
        outgoing.envelope_size = (size_t) sqlite3_column_bytes (stmt, 1);
        outgoing.state = s_outbox_state_parse ((const char *) sqlite3_column_text (stmt, 2));
        outgoing.attempts = sqlite3_column_int (stmt, 3);
        outgoing.last_sent = sqlite3_column_int64 (stmt, 4);
        rows++;
        if (fn (arg, &outgoing))
            break;
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
node_store_outbox_sent (node_store_t *self, const uint8_t *id, int64_t now)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "UPDATE outbox SET attempts = attempts + 1, last_sent = ?2 WHERE id = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, now);
    return certbus_db_run (self->db, stmt, "update outbox");
}

int64_t
node_store_outbox_count (node_store_t *self, node_outbox_state_t state)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "SELECT COUNT (*) FROM outbox WHERE state = ?1");
    int64_t count = -1;
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, s_outbox_state_name (state), -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW)
        count = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return count;
}

int
node_store_outbox_get (node_store_t *self, const uint8_t *id, node_outbox_state_t *state_p,
                       uint32_t *code_p, char **reason_p, char **rule_p)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT state, code, reason, rule FROM outbox WHERE id = ?1");
    int found = 0;
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        found = 1;
        *state_p = s_outbox_state_parse ((const char *) sqlite3_column_text (stmt, 0));
        *code_p = (uint32_t) sqlite3_column_int (stmt, 1);
        const char *reason = (const char *) sqlite3_column_text (stmt, 2);
        const char *rule = (const char *) sqlite3_column_text (stmt, 3);
        *reason_p = strdup (reason ? reason : "");
        *rule_p = strdup (rule ? rule : "");
    }
    sqlite3_finalize (stmt);
    return found;
}

int
node_store_inbox_add (node_store_t *self, const certbus_header_t *header, const char *forwarders,
                      const uint8_t *payload, size_t size, const uint8_t *envelope,
                      size_t envelope_size, int64_t accepted_at, uint64_t broker_seq,
                      uint64_t msg_seq, const uint8_t *note, size_t note_size,
                      const uint8_t *orig_id)
{
    sqlite3_stmt *stmt = self->inbox_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_blob (stmt, 1, header->id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, header->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, header->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, header->tlp, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, header->topic, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 6, header->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 7, header->content_type, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 8, header->audience, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 9, forwarders ? forwarders : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 10, header->created);
    sqlite3_bind_int64 (stmt, 11, accepted_at);
    sqlite3_bind_int64 (stmt, 12, certbus_now_ms ());
    sqlite3_bind_int64 (stmt, 13, (int64_t) broker_seq);
    sqlite3_bind_int64 (stmt, 14, (int64_t) msg_seq);
    sqlite3_bind_int64 (stmt, 15, (int64_t) size);
    sqlite3_bind_blob (stmt, 16, payload, (int) size, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 17, envelope, (int) envelope_size, SQLITE_STATIC);
    if (note && note_size)
        sqlite3_bind_blob (stmt, 18, note, (int) note_size, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, 18);
    const uint8_t *case_id = node_case_of_filed (header, orig_id);
    if (case_id)
        sqlite3_bind_blob (stmt, 19, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, 19);
    sqlite3_bind_text (stmt, 20, header->case_status, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 21, header->assign, -1, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 22, orig_id ? orig_id : header->id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return certbus_db_fail (self->db, "store delivery");
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

static const char *s_inbox_columns
    = "n, id, origin, kind, tlp, topic, severity, type, audience, forwarders, created,"
      " accepted_at, received_at, broker_seq, msg_seq, payload, envelope, note";

//  Calls fn for each inbox row of stmt (s_inbox_columns) until it
//  returns true, then finalizes stmt. Returns the rows seen.
static int
s_inbox_rows (sqlite3_stmt *stmt, node_message_fn *fn, void *arg)
{
    int rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        node_message_t message = {0};
        message.n = sqlite3_column_int64 (stmt, 0);
        if (sqlite3_column_bytes (stmt, 1) == CERTBUS_ID_SIZE)
            memcpy (message.id, sqlite3_column_blob (stmt, 1), CERTBUS_ID_SIZE);
        message.origin = (const char *) sqlite3_column_text (stmt, 2);
        message.kind = (const char *) sqlite3_column_text (stmt, 3);
        message.tlp = (const char *) sqlite3_column_text (stmt, 4);
        message.topic = (const char *) sqlite3_column_text (stmt, 5);
        message.severity = (const char *) sqlite3_column_text (stmt, 6);
        message.type = (const char *) sqlite3_column_text (stmt, 7);
        message.audience = (const char *) sqlite3_column_text (stmt, 8);
        message.forwarders = (const char *) sqlite3_column_text (stmt, 9);
        message.created = sqlite3_column_int64 (stmt, 10);
        message.accepted_at = sqlite3_column_int64 (stmt, 11);
        message.received_at = sqlite3_column_int64 (stmt, 12);
        message.broker_seq = (uint64_t) sqlite3_column_int64 (stmt, 13);
        message.msg_seq = (uint64_t) sqlite3_column_int64 (stmt, 14);
        message.payload = sqlite3_column_blob (stmt, 15);
        message.size = (size_t) sqlite3_column_bytes (stmt, 15);
        message.envelope = sqlite3_column_blob (stmt, 16);
        message.envelope_size = (size_t) sqlite3_column_bytes (stmt, 16);
        message.note = sqlite3_column_blob (stmt, 17);
        message.note_size = (size_t) sqlite3_column_bytes (stmt, 17);
        rows++;
        if (fn (arg, &message))
            break;
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
node_store_inbox_list (node_store_t *self, int64_t after, const char *kind, int limit,
                       node_message_fn *fn, void *arg)
{
    char sql [512];
    snprintf (sql, sizeof sql,
              "SELECT %s FROM inbox WHERE n > ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY n"
              " LIMIT ?3",
              s_inbox_columns);
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, after);
    if (kind)
        sqlite3_bind_text (stmt, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 3, limit);
    return s_inbox_rows (stmt, fn, arg);
}

int
node_store_inbox_get (node_store_t *self, const uint8_t *id, node_message_fn *fn, void *arg)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT %s FROM inbox WHERE id = ?1", s_inbox_columns);
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    return s_inbox_rows (stmt, fn, arg) > 0 ? 1 : 0;
}

static int64_t
s_scalar (node_store_t *self, const char *sql)
{
    return certbus_db_int64 (self->db, sql, NULL);
}

int64_t
node_store_inbox_count (node_store_t *self)
{
    return s_scalar (self, "SELECT COUNT (*) FROM inbox");
}

int64_t
node_store_inbox_last (node_store_t *self)
{
    return s_scalar (self, "SELECT COALESCE (MAX (n), 0) FROM inbox");
}

int
node_store_receipt_add (node_store_t *self, const uint8_t *message_id, const char *org,
                        int64_t received_at, const char *refused)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "INSERT OR IGNORE INTO receipts (message_id, org, received_at, refused)"
                  " VALUES (?1, ?2, ?3, ?4)");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, org, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, received_at);
    if (refused)
        sqlite3_bind_text (stmt, 4, refused, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, 4);
    return certbus_db_run (self->db, stmt, "store receipt");
}

int
node_store_receipts (node_store_t *self, const uint8_t *message_id, char **recipients_p,
                     node_receipt_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "SELECT recipients FROM outbox WHERE id = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text (stmt, 0);
        *recipients_p = strdup (text ? text : "");
        found = 1;
    }
    sqlite3_finalize (stmt);
    if (!found)
        return 0;
    stmt = certbus_db_prepare (self->db, "SELECT org, received_at, refused FROM receipts"
                                         " WHERE message_id = ?1 ORDER BY received_at, org");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    while (sqlite3_step (stmt) == SQLITE_ROW)
        fn (arg, (const char *) sqlite3_column_text (stmt, 0), sqlite3_column_int64 (stmt, 1),
            (const char *) sqlite3_column_text (stmt, 2));
    sqlite3_finalize (stmt);
    return 1;
}

int
node_store_blob_set (node_store_t *self, const char *key, const uint8_t *bytes, size_t size)
{
    return s_meta_blob_set (self, key, bytes, size, "meta");
}

int
node_store_blob_get (node_store_t *self, const char *key, uint8_t **bytes_p, size_t *size_p)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "SELECT value FROM meta WHERE key = ?1");
    int rc = -1;
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) > 0) {
        *bytes_p = certbus_db_column_dup (stmt, 0, size_p);
        rc = 0;
    }
    sqlite3_finalize (stmt);
    return rc;
}

//  Every message of a case this node holds: what it received (inbox) and
//  what it sent (outbox), in one order all participants share: the
//  broker's accept sequence, then its accept time. The sender's signed
//  creation time orders nothing: a member may sign any time it likes.
//  Outbox rows the broker has not accepted yet (no sequence) come last, in
//  the order they were queued. A message held twice (our own, delivered
//  back to us forwarded) is listed once, at its first sequence.
static const char *s_thread_sql
    = "SELECT orig_id, origin, created, case_status, assign, kind, payload, forwarders,"
      " audience, severity, topic, tlp, type, MIN (seq_key), accepted_at, own FROM ("
      " SELECT orig_id, origin, created, case_status, assign, kind, payload, forwarders,"
      "  audience, severity, topic, tlp, type, NULLIF (msg_seq, 0) AS seq_key, accepted_at,"
      "  0 AS own, 0 AS local FROM inbox WHERE case_id = ?1"
      " UNION ALL"
      " SELECT id, ?2, created, case_status, assign, kind, payload, '', audience, severity,"
      "  topic, tlp, type, CASE WHEN state = 'accepted' THEN NULLIF (seq, 0) END,"
      "  CASE WHEN state = 'accepted' THEN accepted_at END, 1, rowid"
      "  FROM outbox WHERE case_id = ?1 AND state != 'rejected'"
      "  AND type != '" CERTBUS_FORWARD_TYPE "')"
      " GROUP BY orig_id ORDER BY MIN (seq_key) IS NULL, MIN (seq_key), accepted_at, local,"
      " orig_id";

int
node_store_case_thread (node_store_t *self, const uint8_t *case_id, const char *own_org,
                        node_thread_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, s_thread_sql);
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, own_org, -1, SQLITE_STATIC);
    int rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        node_thread_entry_t entry = {0};
        if (sqlite3_column_bytes (stmt, 0) == CERTBUS_ID_SIZE)
            memcpy (entry.id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        entry.origin = (const char *) sqlite3_column_text (stmt, 1);
        entry.created = sqlite3_column_int64 (stmt, 2);
        entry.status = (const char *) sqlite3_column_text (stmt, 3);
        entry.assign = (const char *) sqlite3_column_text (stmt, 4);
        entry.kind = (const char *) sqlite3_column_text (stmt, 5);
        entry.payload = sqlite3_column_blob (stmt, 6);
        entry.size = (size_t) sqlite3_column_bytes (stmt, 6);
        entry.forwarders = (const char *) sqlite3_column_text (stmt, 7);
        entry.audience = (const char *) sqlite3_column_text (stmt, 8);
        entry.severity = (const char *) sqlite3_column_text (stmt, 9);
        entry.topic = (const char *) sqlite3_column_text (stmt, 10);
        entry.tlp = (const char *) sqlite3_column_text (stmt, 11);
        entry.type = (const char *) sqlite3_column_text (stmt, 12);
        entry.seq = (uint64_t) sqlite3_column_int64 (stmt, 13);
        entry.accepted_at = sqlite3_column_int64 (stmt, 14);
        entry.own = sqlite3_column_int (stmt, 15) != 0;
        rows++;
        if (fn (arg, &entry))
            break;
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
node_store_cases (node_store_t *self, node_case_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db,
        "SELECT DISTINCT case_id FROM (SELECT case_id FROM inbox WHERE case_id IS NOT NULL"
        " UNION SELECT case_id FROM outbox WHERE case_id IS NOT NULL"
        " AND state != 'rejected')");
    if (!stmt)
        return -1;
    int rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        if (sqlite3_column_bytes (stmt, 0) != CERTBUS_ID_SIZE)
            continue;
        uint8_t case_id [CERTBUS_ID_SIZE];
        memcpy (case_id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        rows++;
        if (fn (arg, case_id))
            break;
    }
    sqlite3_finalize (stmt);
    return rows;
}

//  Runs a one-row query keyed by an id and copies its single blob column.
static int
s_blob_by_id (node_store_t *self, const char *sql, const uint8_t *id, uint8_t **bytes_p,
              size_t *size_p)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    int found = 0;
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        *bytes_p = certbus_db_column_dup (stmt, 0, size_p);
        found = 1;
    }
    sqlite3_finalize (stmt);
    return found;
}

int
node_store_outbox_envelope (node_store_t *self, const uint8_t *id, uint8_t **bytes_p,
                            size_t *size_p)
{
    return s_blob_by_id (self, "SELECT envelope FROM outbox WHERE id = ?1", id, bytes_p, size_p);
}

int
node_store_inbox_envelope (node_store_t *self, const uint8_t *orig_id, uint8_t **bytes_p,
                           size_t *size_p)
{
    return s_blob_by_id (self, "SELECT envelope FROM inbox WHERE orig_id = ?1 OR id = ?1 LIMIT 1",
                         orig_id, bytes_p, size_p);
}

int
node_store_case_participants_set (node_store_t *self, const uint8_t *case_id, uint64_t seq,
                                  const char *participants)
{
    //  The list of the highest broker sequence wins; an older one (a
    //  delivery that arrives late) never replaces it
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "INSERT INTO case_participants VALUES (?1, ?2, ?3)"
                              " ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq,"
                              " participants = excluded.participants WHERE excluded.seq >= seq");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, (int64_t) seq);
    sqlite3_bind_text (stmt, 3, participants, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0
                                                : certbus_db_fail (self->db, "store participants");
    sqlite3_finalize (stmt);
    return rc;
}

char *
node_store_case_participants (node_store_t *self, const uint8_t *case_id)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT participants FROM case_participants WHERE case_id = ?1");
    if (!stmt)
        return NULL;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    char *list = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text (stmt, 0);
        list = strdup (text ? text : "");
    }
    sqlite3_finalize (stmt);
    return list;
}

int
node_store_outbox_case (node_store_t *self, const uint8_t *id, uint8_t case_id [CERTBUS_ID_SIZE])
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "SELECT case_id FROM outbox WHERE id = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) == CERTBUS_ID_SIZE) {
        memcpy (case_id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        found = 1;
    }
    sqlite3_finalize (stmt);
    return found;
}
