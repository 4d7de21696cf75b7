/*  store_sqlite.c - the broker's store in SQLite: messages, queues, counts
    SPDX-License-Identifier: MPL-2.0

    SQLite in WAL mode with synchronous=FULL (lib/db.c). This file opens
    the database and holds the hot path: messages, queue rows, expiry and
    the row counts kept in memory; store_sqlite_rows.c holds the rest
    (audit, Council, cases). Together they fill broker_store_ops_t.
*/
#include "store_sqlite.h"
#include "digest.h"
#include <czmq.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_schema
    = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
      "CREATE TABLE IF NOT EXISTS certs ("
      "  serial INTEGER PRIMARY KEY, org_id TEXT NOT NULL, tier TEXT NOT NULL,"
      "  sector TEXT NOT NULL, region TEXT NOT NULL, not_before INTEGER NOT NULL,"
      "  not_after INTEGER NOT NULL, cert BLOB NOT NULL, issued_at INTEGER NOT NULL,"
      "  revoked_at INTEGER, revocation BLOB, reason TEXT);"
      "CREATE INDEX IF NOT EXISTS certs_by_org ON certs (org_id);"
      "CREATE TABLE IF NOT EXISTS directories ("
      "  serial INTEGER PRIMARY KEY, issued_at INTEGER NOT NULL, blob BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS messages ("
      "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL,"
      "  origin TEXT NOT NULL, kind TEXT NOT NULL, tlp TEXT NOT NULL,"
      "  severity TEXT NOT NULL, audience TEXT NOT NULL, recipients INTEGER NOT NULL,"
      "  accepted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, envelope BLOB NOT NULL,"
      "  digest BLOB NOT NULL, UNIQUE (origin, id));"
      "CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires_at);"
      "CREATE TABLE IF NOT EXISTS queue ("
      "  qseq INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL,"
      "  msg_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,"
      "  priority INTEGER NOT NULL, wrapped BLOB, digest BLOB NOT NULL);"
      "CREATE INDEX IF NOT EXISTS queue_by_recipient ON queue (recipient, priority DESC, qseq);"
      "CREATE INDEX IF NOT EXISTS queue_by_message ON queue (msg_seq);"
      "CREATE TABLE IF NOT EXISTS audit ("
      "  idx INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
      "  org TEXT NOT NULL, message_id BLOB, record BLOB NOT NULL, leaf_hash BLOB NOT NULL);"
      "CREATE INDEX IF NOT EXISTS audit_by_org ON audit (org, time);"
      "CREATE INDEX IF NOT EXISTS audit_by_message ON audit (message_id);"
      "CREATE TABLE IF NOT EXISTS audit_nodes ("
      "  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
      "  PRIMARY KEY (level, idx)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS cases ("
      "  case_id BLOB PRIMARY KEY, origin TEXT NOT NULL, severity TEXT NOT NULL,"
      "  opened_at INTEGER NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,"
      "  first_ack_at INTEGER, resolved_at INTEGER, tlp TEXT NOT NULL, digest BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS receipts ("
      "  message_id BLOB NOT NULL, publisher TEXT NOT NULL, org TEXT NOT NULL,"
      "  digest BLOB NOT NULL, PRIMARY KEY (message_id, publisher, org)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS case_members ("
      "  case_id BLOB NOT NULL, org TEXT NOT NULL, digest BLOB NOT NULL,"
      "  PRIMARY KEY (case_id, org)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS tree_heads ("
      "  size INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, root BLOB NOT NULL,"
      "  head BLOB NOT NULL);";

//  The columns a message digest covers, in the order s_message_row_intact
//  reads them: everything in the row but its sequence (the queue rows'
//  digests cover that) and the digest itself
#define s_MESSAGE_COLUMNS \
    "id, origin, kind, tlp, severity, audience, recipients, accepted_at, expires_at, envelope"
#define s_MESSAGE_COLUMNS_M                                                               \
    "m.id, m.origin, m.kind, m.tlp, m.severity, m.audience, m.recipients, m.accepted_at," \
    " m.expires_at, m.envelope"

//  True when the row's s_MESSAGE_COLUMNS, from column col on, match the
//  digest in column digest_col
static bool
s_message_row_intact (sqlite3_stmt *stmt, int col, int digest_col)
{
    if (sqlite3_column_bytes (stmt, col) != CERTBUS_ID_SIZE
        || sqlite3_column_bytes (stmt, digest_col) != CERTBUS_HASH_SIZE)
        return false;
    broker_message_row_t row = {
        .id = sqlite3_column_blob (stmt, col),
        .origin = (const char *) sqlite3_column_text (stmt, col + 1),
        .kind = (const char *) sqlite3_column_text (stmt, col + 2),
        .tlp = (const char *) sqlite3_column_text (stmt, col + 3),
        .severity = (const char *) sqlite3_column_text (stmt, col + 4),
        .audience = (const char *) sqlite3_column_text (stmt, col + 5),
        .recipients = sqlite3_column_int64 (stmt, col + 6),
        .accepted_at = sqlite3_column_int64 (stmt, col + 7),
        .expires_at = sqlite3_column_int64 (stmt, col + 8),
        .envelope = sqlite3_column_blob (stmt, col + 9),
        .envelope_size = (size_t) sqlite3_column_bytes (stmt, col + 9),
    };
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_message (digest, &row);
    return memcmp (digest, sqlite3_column_blob (stmt, digest_col), sizeof digest) == 0;
}

//  Rows are laid out and digested as this build expects: a database
//  written with another layout is refused with a plain reason, not read
//  as damage. A database with no version yet and no messages or audit
//  records is new, and gets this build's.
static int
s_schema_check (broker_store_backend_t *self)
{
    char want [16];
    snprintf (want, sizeof want, "%d", BROKER_SCHEMA);
    char *have = certbus_db_meta_get (self->db, "schema");
    int rc = 0;
    if (have && strcmp (have, want) != 0)
        rc = certbus_fail (CERTBUS_E_VERSION,
                           "database %s has schema %s; this build of certbus reads schema %s: "
                           "run the certbus that wrote it, or start a new broker folder",
                           self->path, have, want);
    else if (!have) {
        sqlite3_stmt *stmt = certbus_db_prepare (
            self->db, "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM audit)");
        bool used = !stmt || sqlite3_step (stmt) != SQLITE_ROW || sqlite3_column_int (stmt, 0);
        sqlite3_finalize (stmt);
        if (used)
            rc = certbus_fail (CERTBUS_E_VERSION,
                               "database %s was written by an earlier certbus (it has no "
                               "schema version); this build reads schema %s: run the certbus "
                               "that wrote it, or start a new broker folder",
                               self->path, want);
        else
            certbus_db_meta_set (self->db, "schema", want); //  read-only: checked again next time
    }
    free (have);
    return rc;
}

static int
s_check (broker_store_backend_t *self, bool full)
{
    static const char *small [] = {"meta", "certs", "directories", "tree_heads", "cases"};
    size_t rounds = full ? 1 : sizeof small / sizeof small [0];
    for (size_t i = 0; i < rounds; i++) {
        char sql [64];
        if (full)
            snprintf (sql, sizeof sql, "PRAGMA quick_check");
        else
            snprintf (sql, sizeof sql, "PRAGMA quick_check ('%s')", small [i]);
        sqlite3_stmt *check = certbus_db_prepare (self->db, sql);
        const char *verdict = NULL;
        if (check && sqlite3_step (check) == SQLITE_ROW)
            verdict = (const char *) sqlite3_column_text (check, 0);
        if (!verdict || strcmp (verdict, "ok") != 0) {
            certbus_fail (CERTBUS_E_IO,
                          "database %s failed its integrity check (%s); refusing to serve it: "
                          "restore it from a backup",
                          self->path, verdict ? verdict : sqlite3_errmsg (self->db));
            sqlite3_finalize (check);
            return -1;
        }
        sqlite3_finalize (check);
    }
    return 0;
}

//  The statements every open prepares: the hot path's, reused
static const certbus_db_statement_t s_statements [] = {
    {offsetof (broker_store_backend_t, msg_lookup),
     "SELECT seq, accepted_at FROM messages WHERE origin = ?2 AND id = ?1"},
    {offsetof (broker_store_backend_t, msg_insert),
     "INSERT INTO messages (id, origin, kind, tlp, severity, audience, recipients,"
     " accepted_at, expires_at, envelope, digest)"
     " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"},
    {offsetof (broker_store_backend_t, queue_insert),
     "INSERT INTO queue (recipient, msg_seq, priority, wrapped, digest)"
     " VALUES (?1,?2,?3,?4,?5)"},
    //  One priority class at a time, from a cursor: the whole index
    //  (recipient, priority, qseq) serves it, and rows already in flight
    //  are not read again
    {offsetof (broker_store_backend_t, queue_fetch),
     "SELECT q.qseq, q.msg_seq, q.wrapped, q.digest, q.priority, q.recipient,"
     " m.digest, " s_MESSAGE_COLUMNS_M " FROM queue q JOIN messages m ON m.seq = q.msg_seq"
     " WHERE q.recipient = ?1 AND q.priority = ?3 AND q.qseq > ?4"
     " ORDER BY q.qseq LIMIT ?2"},
    {offsetof (broker_store_backend_t, queue_ack),
     "DELETE FROM queue WHERE qseq = ?1 AND recipient = ?2 RETURNING msg_seq"},
    {offsetof (broker_store_backend_t, audit_insert),
     "INSERT INTO audit (idx, time, event, org, message_id, record, leaf_hash)"
     " VALUES (?1,?2,?3,?4,?5,?6,?7)"},
    {offsetof (broker_store_backend_t, node_insert),
     "INSERT OR REPLACE INTO audit_nodes VALUES (?1, ?2, ?3)"},
    {offsetof (broker_store_backend_t, node_get),
     "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2"},
    {offsetof (broker_store_backend_t, audit_by_message),
     "SELECT idx, record FROM audit WHERE message_id = ?1 AND event = ?2"
     " ORDER BY idx"},
    {offsetof (broker_store_backend_t, msg_by_seq),
     "SELECT id, origin, kind, tlp, severity, audience FROM messages WHERE seq = ?1"},
};
#define s_STATEMENTS (sizeof s_statements / sizeof s_statements [0])

static void
s_destroy (broker_store_backend_t **self_p)
{
    assert (self_p);
    broker_store_backend_t *self = *self_p;
    if (!self)
        return;
    certbus_db_finalize_all (self, s_statements, s_STATEMENTS);
    sqlite3_finalize (self->oldest);
    sqlite3_close (self->db);
    broker_store_tally_fini (&self->tally);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  Counts the rows when the counts are not known. Inside a transaction
//  the counts would include uncommitted rows: returns -1 and the caller
//  asks SQLite directly instead.
static int
s_counts_load (broker_store_backend_t *self)
{
    if (self->tally.valid)
        return 0;
    if (!sqlite3_get_autocommit (self->db))
        return -1;
    broker_store_tally_reset (&self->tally);
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT recipient, COUNT (*) FROM queue GROUP BY recipient");
    if (!stmt)
        return -1;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        broker_store_tally_set_depth (&self->tally, (const char *) sqlite3_column_text (stmt, 0),
                                      sqlite3_column_int64 (stmt, 1));
    sqlite3_finalize (stmt);
    stmt = certbus_db_prepare (self->db, "SELECT COUNT (*) FROM messages");
    if (!stmt || sqlite3_step (stmt) != SQLITE_ROW) {
        sqlite3_finalize (stmt);
        return -1;
    }
    int64_t messages = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    int64_t audits = broker_sqlite_audit_count (self);
    if (audits < 0)
        return -1;
    broker_store_tally_loaded (&self->tally, messages, audits);
    return 0;
}

//  Accept time of recipient's oldest queued delivery, 0 when none: the
//  lowest qseq of each priority class, two seeks in the queue's index
static int64_t
s_oldest (broker_store_backend_t *self, const char *recipient)
{
    //  Prepared once: a scrape asks this for every member with a backlog
    if (!self->oldest)
        self->oldest = certbus_db_prepare (
            self->db, "SELECT MIN (m.accepted_at) FROM messages m WHERE m.seq IN ("
                      " SELECT (SELECT msg_seq FROM queue WHERE recipient = ?1 AND priority = 1"
                      "  ORDER BY qseq LIMIT 1)"
                      " UNION ALL SELECT (SELECT msg_seq FROM queue WHERE recipient = ?1"
                      "  AND priority = 0 ORDER BY qseq LIMIT 1))");
    sqlite3_stmt *stmt = self->oldest;
    int64_t oldest = 0;
    if (!stmt)
        return 0;
    sqlite3_bind_text (stmt, 1, recipient, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW)
        oldest = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return oldest;
}

static int
s_begin (broker_store_backend_t *self)
{
    return certbus_db_begin (self->db);
}

static void
s_rollback (broker_store_backend_t *self)
{
    certbus_db_rollback (self->db);
    broker_store_tally_settle (&self->tally, false);
}

static int
s_commit (broker_store_backend_t *self)
{
    if (certbus_db_commit (self->db) != 0) {
        s_rollback (self); //  forgets the batch's counts
        return -1;
    }
    broker_store_tally_settle (&self->tally, true);
    return 0;
}

static int
s_meta_set (broker_store_backend_t *self, const char *key, const char *value)
{
    return certbus_db_meta_set (self->db, key, value);
}

static char *
s_meta_get (broker_store_backend_t *self, const char *key)
{
    return certbus_db_meta_get (self->db, key);
}

static int
s_message_lookup (broker_store_backend_t *self, const char *origin, const uint8_t *id,
                  uint64_t *seq_p, int64_t *accepted_at_p)
{
    sqlite3_stmt *stmt = self->msg_lookup;
    sqlite3_reset (stmt);
    sqlite3_bind_blob (stmt, 1, id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    int found = 0;
    if (rc == SQLITE_ROW) {
        *seq_p = (uint64_t) sqlite3_column_int64 (stmt, 0);
        *accepted_at_p = sqlite3_column_int64 (stmt, 1);
        found = 1;
    }
    else if (rc != SQLITE_DONE)
        found = certbus_db_fail (self->db, "look up message");
    sqlite3_reset (stmt);
    return found;
}

static int
s_message_insert (broker_store_backend_t *self, const certbus_header_t *header, const uint8_t *base,
                  size_t base_size, int64_t accepted_at, int64_t expires_at, uint32_t recipients,
                  uint64_t *seq_p)
{
    sqlite3_stmt *stmt = self->msg_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_blob (stmt, 1, header->id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, header->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, header->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, header->tlp, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, header->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 6, header->audience, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 7, recipients);
    sqlite3_bind_int64 (stmt, 8, accepted_at);
    sqlite3_bind_int64 (stmt, 9, expires_at);
    sqlite3_bind_blob (stmt, 10, base, (int) base_size, SQLITE_STATIC);
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_message_row_t row = {
        .id = header->id,
        .origin = header->origin,
        .kind = header->kind,
        .tlp = header->tlp,
        .severity = header->severity,
        .audience = header->audience,
        .recipients = recipients,
        .accepted_at = accepted_at,
        .expires_at = expires_at,
        .envelope = base,
        .envelope_size = base_size,
    };
    broker_digest_message (digest, &row);
    sqlite3_bind_blob (stmt, 11, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "insert message");
    sqlite3_reset (stmt);
    if (rc == 0) {
        *seq_p = (uint64_t) sqlite3_last_insert_rowid (self->db);
        broker_store_tally_message (&self->tally, !sqlite3_get_autocommit (self->db));
    }
    return rc;
}

static int
s_queue_insert (broker_store_backend_t *self, const char *recipient, uint64_t msg_seq, int priority,
                const uint8_t *wrapped, size_t wrapped_size)
{
    sqlite3_stmt *stmt = self->queue_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, (int64_t) msg_seq);
    sqlite3_bind_int (stmt, 3, priority);
    sqlite3_bind_blob (stmt, 4, wrapped, (int) wrapped_size, SQLITE_STATIC);
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_queue (digest, recipient, msg_seq, priority, wrapped, wrapped_size);
    sqlite3_bind_blob (stmt, 5, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "queue delivery");
    sqlite3_reset (stmt);
    if (rc == 0)
        broker_store_tally_move (&self->tally, !sqlite3_get_autocommit (self->db), recipient, 1);
    return rc;
}

static int
s_queue_fetch (broker_store_backend_t *self, const char *recipient, int priority, uint64_t after,
               int limit, broker_delivery_skip_fn *skip, broker_delivery_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = self->queue_fetch;
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, recipient, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int (stmt, 2, limit);
    sqlite3_bind_int (stmt, 3, priority);
    sqlite3_bind_int64 (stmt, 4, (int64_t) after);
    int rows = 0, rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        rows++;
        if (skip && skip (arg, (uint64_t) sqlite3_column_int64 (stmt, 0)))
            continue;
        //  Columns: the queue row (0-5), the message digest (6), then
        //  s_MESSAGE_COLUMNS from 7 on (kind 9, accepted_at 14, envelope 16)
        const char *kind = (const char *) sqlite3_column_text (stmt, 9);
        broker_delivery_t delivery = {
            .qseq = (uint64_t) sqlite3_column_int64 (stmt, 0),
            .msg_seq = (uint64_t) sqlite3_column_int64 (stmt, 1),
            .wrapped = sqlite3_column_blob (stmt, 2),
            .wrapped_size = (size_t) sqlite3_column_bytes (stmt, 2),
            .accepted_at = sqlite3_column_int64 (stmt, 14),
            .envelope = sqlite3_column_blob (stmt, 16),
            .envelope_size = (size_t) sqlite3_column_bytes (stmt, 16),
            .incident = kind && strcmp (kind, "incident") == 0,
        };
        delivery.damaged = !s_message_row_intact (stmt, 7, 6);
        uint8_t digest [CERTBUS_HASH_SIZE];
        const char *row_recipient = (const char *) sqlite3_column_text (stmt, 5);
        broker_digest_queue (digest, row_recipient ? row_recipient : "", delivery.msg_seq,
                             sqlite3_column_int (stmt, 4), delivery.wrapped, delivery.wrapped_size);
        if (sqlite3_column_bytes (stmt, 3) != CERTBUS_HASH_SIZE
            || memcmp (digest, sqlite3_column_blob (stmt, 3), sizeof digest) != 0)
            delivery.damaged = true;
        if (fn (arg, &delivery) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        rows = certbus_db_fail (self->db, "fetch deliveries");
    sqlite3_reset (stmt);
    return rows;
}

static int
s_queue_ack (broker_store_backend_t *self, const char *recipient, uint64_t qseq,
             uint64_t *msg_seq_p)
{
    sqlite3_stmt *stmt = self->queue_ack;
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, (int64_t) qseq);
    sqlite3_bind_text (stmt, 2, recipient, -1, SQLITE_TRANSIENT);
    int found = 0;
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        found = 1;
        if (msg_seq_p)
            *msg_seq_p = (uint64_t) sqlite3_column_int64 (stmt, 0);
        rc = sqlite3_step (stmt);
    }
    if (rc != SQLITE_DONE)
        found = certbus_db_fail (self->db, "acknowledge delivery");
    sqlite3_reset (stmt);
    if (found > 0)
        broker_store_tally_move (&self->tally, !sqlite3_get_autocommit (self->db), recipient, -1);
    return found;
}

static int64_t
s_queue_depth (broker_store_backend_t *self, const char *recipient, int64_t *oldest_p)
{
    int64_t depth = 0;
    if (s_counts_load (self) == 0)
        depth = broker_store_tally_depth (&self->tally, recipient);
    else {
        sqlite3_stmt *stmt
            = certbus_db_prepare (self->db, "SELECT COUNT (*) FROM queue WHERE recipient = ?1");
        if (!stmt)
            return -1;
        sqlite3_bind_text (stmt, 1, recipient, -1, SQLITE_STATIC);
        depth = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
        sqlite3_finalize (stmt);
    }
    if (oldest_p)
        *oldest_p = depth > 0 ? s_oldest (self, recipient) : 0;
    return depth;
}

static int
s_expire (broker_store_backend_t *self, int64_t now_ms)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "DELETE FROM messages WHERE expires_at < ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, now_ms);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? sqlite3_changes (self->db)
                                                : certbus_db_fail (self->db, "expire messages");
    sqlite3_finalize (stmt);
    if (rc != 0)
        self->tally.valid = false; //  the cascade removed queue rows too
    return rc;
}

static int
s_message_by_seq (broker_store_backend_t *self, uint64_t seq, certbus_header_t *header)
{
    sqlite3_stmt *stmt = self->msg_by_seq;
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, (int64_t) seq);
    int found = 0;
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) == CERTBUS_ID_SIZE) {
        memset (header, 0, sizeof *header);
        memcpy (header->id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        header->origin = strdup ((const char *) sqlite3_column_text (stmt, 1));
        header->kind = strdup ((const char *) sqlite3_column_text (stmt, 2));
        header->tlp = strdup ((const char *) sqlite3_column_text (stmt, 3));
        header->severity = strdup ((const char *) sqlite3_column_text (stmt, 4));
        header->audience = strdup ((const char *) sqlite3_column_text (stmt, 5));
        found = 1;
    }
    sqlite3_reset (stmt);
    return found;
}

static int64_t
s_origin_bytes (broker_store_backend_t *self, const char *origin)
{
    //  length () of a blob reads only its record header, not its pages
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT COALESCE (SUM (length (envelope)), 0) FROM messages WHERE origin = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, origin, -1, SQLITE_STATIC);
    int64_t bytes = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0)
                                                      : certbus_db_fail (self->db, "sum sizes");
    sqlite3_finalize (stmt);
    return bytes;
}

static int
s_queue_depths (broker_store_backend_t *self, broker_depth_fn *fn, void *arg)
{
    if (s_counts_load (self))
        return -1;
    zhashx_t *depths = self->tally.depths;
    for (broker_store_depth_t *entry = zhashx_first (depths); entry; entry = zhashx_next (depths))
        if (entry->depth > 0) {
            const char *recipient = zhashx_cursor (depths);
            fn (arg, recipient, entry->depth, s_oldest (self, recipient));
        }
    return 0;
}

static int64_t
s_damaged_queue_row (broker_store_backend_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db,
        "SELECT qseq, recipient, msg_seq, priority, wrapped, digest FROM queue ORDER BY qseq");
    if (!stmt)
        return -1;
    int64_t damaged = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW && !damaged) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        const char *recipient = (const char *) sqlite3_column_text (stmt, 1);
        broker_digest_queue (digest, recipient ? recipient : "",
                             (uint64_t) sqlite3_column_int64 (stmt, 2),
                             sqlite3_column_int (stmt, 3), sqlite3_column_blob (stmt, 4),
                             (size_t) sqlite3_column_bytes (stmt, 4));
        if (sqlite3_column_bytes (stmt, 5) != CERTBUS_HASH_SIZE
            || memcmp (digest, sqlite3_column_blob (stmt, 5), sizeof digest) != 0)
            damaged = sqlite3_column_int64 (stmt, 0);
    }
    sqlite3_finalize (stmt);
    if (damaged)
        return damaged;
    //  A queue row whose message row is gone (a damaged sequence number)
    //  would never be delivered: as bad as an altered one
    stmt
        = certbus_db_prepare (self->db,
                              "SELECT q.qseq FROM queue q LEFT JOIN messages m ON m.seq = q.msg_seq"
                              " WHERE m.seq IS NULL ORDER BY q.qseq LIMIT 1");
    if (!stmt)
        return -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        damaged = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return damaged;
}

static int64_t
s_damaged_message (broker_store_backend_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "SELECT seq, digest, " s_MESSAGE_COLUMNS
                                                       " FROM messages ORDER BY seq");
    if (!stmt)
        return -1;
    int64_t damaged = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW && !damaged)
        if (!s_message_row_intact (stmt, 2, 1))
            damaged = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return damaged;
}

//  COUNT (*) of a table named by the caller (never by a peer)
static int64_t
s_count_rows (broker_store_backend_t *self, const char *sql)
{
    return certbus_db_int64 (self->db, sql, "count rows");
}

static int
s_counts (broker_store_backend_t *self, broker_counts_t *counts)
{
    memset (counts, 0, sizeof *counts);
    if (s_counts_load (self) == 0) {
        counts->messages = self->tally.messages;
        counts->audit = self->tally.audits;
        counts->queued = broker_store_tally_queued (&self->tally);
    }
    else {
        //  In a transaction: what it sees
        counts->messages = s_count_rows (self, "SELECT COUNT (*) FROM messages");
        counts->queued = s_count_rows (self, "SELECT COUNT (*) FROM queue");
        counts->audit = broker_sqlite_audit_count (self);
    }
    counts->certificates = s_count_rows (self, "SELECT COUNT (*) FROM certs");
    return counts->messages < 0 || counts->queued < 0 || counts->certificates < 0
                   || counts->audit < 0
               ? -1
               : 0;
}

static const broker_store_ops_t s_ops = {
    .destroy = s_destroy,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .node_get = broker_sqlite_node_get,
    .check = s_check,
    .meta_set = s_meta_set,
    .meta_get = s_meta_get,
    .next_serial = broker_sqlite_next_serial,
    .cert_insert = broker_sqlite_cert_insert,
    .cert_active = broker_sqlite_cert_active,
    .cert_revoke = broker_sqlite_cert_revoke,
    .certs_each = broker_sqlite_certs_each,
    .revocations_each = broker_sqlite_revocations_each,
    .directory_serial = broker_sqlite_directory_serial,
    .directory_put = broker_sqlite_directory_put,
    .directory_latest = broker_sqlite_directory_latest,
    .message_lookup = s_message_lookup,
    .message_insert = s_message_insert,
    .queue_insert = s_queue_insert,
    .queue_fetch = s_queue_fetch,
    .queue_ack = s_queue_ack,
    .queue_depth = s_queue_depth,
    .expire = s_expire,
    .audit_put = broker_sqlite_audit_put,
    .node_put = broker_sqlite_node_put,
    .audit_count = broker_sqlite_audit_count,
    .audit_find = broker_sqlite_audit_find,
    .audit_find_each = broker_sqlite_audit_find_each,
    .tree_head_add = broker_sqlite_tree_head_add,
    .tree_head_latest = broker_sqlite_tree_head_latest,
    .audit_each = broker_sqlite_audit_each,
    .tree_heads_each = broker_sqlite_tree_heads_each,
    .case_get = broker_sqlite_case_get,
    .case_put = broker_sqlite_case_put,
    .case_member = broker_sqlite_case_member,
    .case_members = broker_sqlite_case_members,
    .receipt_add = broker_sqlite_receipt_add,
    .origin_bytes = s_origin_bytes,
    .cases_each = broker_sqlite_cases_each,
    .message_by_seq = s_message_by_seq,
    .queue_depths = s_queue_depths,
    .damaged_message = s_damaged_message,
    .damaged_queue_row = s_damaged_queue_row,
    .damaged_case_row = broker_sqlite_damaged_case_row,
    .counts = s_counts,
};

broker_store_backend_t *
broker_store_sqlite_open (const char *path, bool create, const broker_store_ops_t **ops_p)
{
    broker_store_backend_t *self = certbus_calloc (1, sizeof *self);
    broker_store_tally_init (&self->tally);
    self->path = strdup (path);
    self->db = certbus_db_open (path, create, s_schema);
    if (!self->db || s_schema_check (self) != 0) {
        s_destroy (&self);
        return NULL;
    }
    if (certbus_db_prepare_all (self->db, self, s_statements, s_STATEMENTS)) {
        s_destroy (&self);
        return NULL;
    }
    //  The small tables that hold the Council's state are checked on every
    //  open; the whole file is checked by broker_store_check.
    if (s_check (self, false)) {
        s_destroy (&self);
        return NULL;
    }
    *ops_p = &s_ops;
    return self;
}
