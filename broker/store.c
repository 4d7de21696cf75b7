/*  store.c - the broker's storage: every SQL statement the broker runs
    SPDX-License-Identifier: MPL-2.0
*/
#include "store.h"
#include "certbus/db.h"
#include <czmq.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t depth;                   //  committed queue rows
    int64_t delta;                   //  change in the open transaction
    bool touched;
} s_depth_t;

struct broker_store_t {
    sqlite3 *db;                     //  the database connection
    char *path;                      //  its file
    sqlite3_stmt *msg_lookup;        //  cached hot-path statements
    sqlite3_stmt *msg_insert;
    sqlite3_stmt *queue_insert;
    sqlite3_stmt *queue_fetch;       //  one priority class, from a cursor
    sqlite3_stmt *queue_ack;
    sqlite3_stmt *audit_insert;
    sqlite3_stmt *node_insert;
    sqlite3_stmt *node_get;
    sqlite3_stmt *msg_by_seq;
    sqlite3_stmt *audit_by_message;  //  every publish checks one
    sqlite3_stmt *oldest;            //  s_oldest's, prepared on first use
    int64_t audit_size;              //  records in the audit log
    certbus_merkle_frontier_t frontier;  //  of the audit tree, in memory
    //  Row counts for status and metrics, kept in memory: COUNT (*) over a
    //  backlog of a million rows blocks the engine for seconds. Counted
    //  once on first use, then moved by the committed inserts and acks;
    //  an expiry (which cascades) makes them be counted again.
    bool counts_valid;
    zhashx_t *depths;                //  recipient -> s_depth_t
    s_depth_t **touched;             //  entries with a delta in this transaction
    size_t touched_count, touched_cap;
    int64_t messages, messages_delta;
};

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

static int s_rebuild_frontier (broker_store_t *self);
static void s_depth_free (void **item_p);

//  The columns a message digest covers, in the order s_message_digest_at
//  reads them: everything in the row but its sequence (the queue rows'
//  digests cover that) and the digest itself
#define s_MESSAGE_COLUMNS \
    "id, origin, kind, tlp, severity, audience, recipients, accepted_at, expires_at, envelope"
#define s_MESSAGE_COLUMNS_M                                                                    \
    "m.id, m.origin, m.kind, m.tlp, m.severity, m.audience, m.recipients, m.accepted_at,"    \
    " m.expires_at, m.envelope"

static void
s_hash_text (crypto_generichash_state *state, const char *text)
{
    text = text ? text : "";
    crypto_generichash_update (state, (const uint8_t *) text, strlen (text) + 1);
}

static void
s_hash_int (crypto_generichash_state *state, int64_t value)
{
    uint8_t bytes [8];
    for (int i = 0; i < 8; i++)
        bytes [i] = (uint8_t) ((uint64_t) value >> (56 - 8 * i));
    crypto_generichash_update (state, bytes, sizeof bytes);
}

//  The digest of a receipts or case_members row: all of it, so that audit
//  verify sees an altered one
static void
s_mark_digest (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *message_id, size_t id_size,
                  const char *publisher, const char *org)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, message_id, id_size);
    s_hash_text (&state, publisher);
    s_hash_text (&state, org);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

//  The digest of a message row: the stored envelope and every column the
//  broker selects, counts or expires by, so a damaged row is caught before
//  it is served, not by the recipient
static void
s_message_digest (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *id, const char *origin,
                  const char *kind, const char *tlp, const char *severity, const char *audience,
                  int64_t recipients, int64_t accepted_at, int64_t expires_at,
                  const uint8_t *envelope, size_t envelope_size)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, id, CERTBUS_ID_SIZE);
    s_hash_text (&state, origin);
    s_hash_text (&state, kind);
    s_hash_text (&state, tlp);
    s_hash_text (&state, severity);
    s_hash_text (&state, audience);
    s_hash_int (&state, recipients);
    s_hash_int (&state, accepted_at);
    s_hash_int (&state, expires_at);
    s_hash_int (&state, (int64_t) envelope_size);
    if (envelope_size)
        crypto_generichash_update (&state, envelope, envelope_size);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

//  True when the row's s_MESSAGE_COLUMNS, from column col on, match the
//  digest in column digest_col
static bool
s_message_row_intact (sqlite3_stmt *stmt, int col, int digest_col)
{
    if (sqlite3_column_bytes (stmt, col) != CERTBUS_ID_SIZE
        || sqlite3_column_bytes (stmt, digest_col) != CERTBUS_HASH_SIZE)
        return false;
    uint8_t digest [CERTBUS_HASH_SIZE];
    s_message_digest (digest, sqlite3_column_blob (stmt, col),
                      (const char *) sqlite3_column_text (stmt, col + 1),
                      (const char *) sqlite3_column_text (stmt, col + 2),
                      (const char *) sqlite3_column_text (stmt, col + 3),
                      (const char *) sqlite3_column_text (stmt, col + 4),
                      (const char *) sqlite3_column_text (stmt, col + 5),
                      sqlite3_column_int64 (stmt, col + 6), sqlite3_column_int64 (stmt, col + 7),
                      sqlite3_column_int64 (stmt, col + 8), sqlite3_column_blob (stmt, col + 9),
                      (size_t) sqlite3_column_bytes (stmt, col + 9));
    return memcmp (digest, sqlite3_column_blob (stmt, digest_col), sizeof digest) == 0;
}

//  The digest of a queue row: who, which message, how urgent, which key
static void
s_queue_digest (uint8_t out [CERTBUS_HASH_SIZE], const char *recipient, uint64_t msg_seq,
                int priority, const uint8_t *wrapped, size_t wrapped_size)
{
    crypto_generichash_state state;
    uint8_t fixed [12];
    for (int i = 0; i < 8; i++)
        fixed [i] = (uint8_t) (msg_seq >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        fixed [8 + i] = (uint8_t) ((uint32_t) priority >> (24 - 8 * i));
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, (const uint8_t *) recipient, strlen (recipient) + 1);
    crypto_generichash_update (&state, fixed, sizeof fixed);
    if (wrapped_size)
        crypto_generichash_update (&state, wrapped, wrapped_size);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

//  Rows are laid out and digested as this build expects: a database
//  written with another layout is refused with a plain reason, not read
//  as damage. A database with no version yet and no messages or audit
//  records is new, and gets this build's.
static int
s_schema_check (broker_store_t *self)
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
            certbus_db_meta_set (self->db, "schema", want);   //  read-only: checked again next time
    }
    free (have);
    return rc;
}

broker_store_t *
broker_store_open (const char *path, bool create)
{
    broker_store_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->depths = zhashx_new ();
    zhashx_set_destructor (self->depths, s_depth_free);
    self->path = strdup (path);
    self->db = certbus_db_open (path, create, s_schema);
    if (!self->db || s_schema_check (self) != 0) {
        broker_store_destroy (&self);
        return NULL;
    }
    self->msg_lookup = certbus_db_prepare (
        self->db, "SELECT seq, accepted_at FROM messages WHERE origin = ?2 AND id = ?1");
    self->msg_insert = certbus_db_prepare (
        self->db, "INSERT INTO messages (id, origin, kind, tlp, severity, audience, recipients,"
              " accepted_at, expires_at, envelope, digest)"
              " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    self->queue_insert = certbus_db_prepare (
        self->db, "INSERT INTO queue (recipient, msg_seq, priority, wrapped, digest)"
              " VALUES (?1,?2,?3,?4,?5)");
    //  One priority class at a time, from a cursor: the whole index
    //  (recipient, priority, qseq) serves it, and rows already in flight
    //  are not read again
    self->queue_fetch = certbus_db_prepare (
        self->db, "SELECT q.qseq, q.msg_seq, q.wrapped, q.digest, q.priority, q.recipient,"
              " m.digest, " s_MESSAGE_COLUMNS_M
              " FROM queue q JOIN messages m ON m.seq = q.msg_seq"
              " WHERE q.recipient = ?1 AND q.priority = ?3 AND q.qseq > ?4"
              " ORDER BY q.qseq LIMIT ?2");
    self->queue_ack
        = certbus_db_prepare (self->db, "DELETE FROM queue WHERE qseq = ?1 AND recipient = ?2 RETURNING msg_seq");
    self->audit_insert = certbus_db_prepare (
        self->db, "INSERT INTO audit (idx, time, event, org, message_id, record, leaf_hash)"
              " VALUES (?1,?2,?3,?4,?5,?6,?7)");
    self->node_insert
        = certbus_db_prepare (self->db, "INSERT OR REPLACE INTO audit_nodes VALUES (?1, ?2, ?3)");
    self->node_get
        = certbus_db_prepare (self->db, "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2");
    self->audit_by_message = certbus_db_prepare (
        self->db, "SELECT idx, record FROM audit WHERE message_id = ?1 AND event = ?2"
              " ORDER BY idx");
    self->msg_by_seq = certbus_db_prepare (
        self->db, "SELECT id, origin, kind, tlp, severity, audience FROM messages WHERE seq = ?1");
    if (!self->msg_lookup || !self->msg_insert || !self->queue_insert || !self->queue_fetch
        || !self->queue_ack || !self->audit_insert || !self->node_insert || !self->node_get
        || !self->msg_by_seq || !self->audit_by_message) {
        broker_store_destroy (&self);
        return NULL;
    }
    //  The small tables that hold the Council's state are checked on every
    //  open; the whole file is checked by broker_store_check.
    if (broker_store_check (self, false) || s_rebuild_frontier (self)) {
        broker_store_destroy (&self);
        return NULL;
    }
    return self;
}

int
broker_store_check (broker_store_t *self, bool full)
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

void
broker_store_destroy (broker_store_t **self_p)
{
    assert (self_p);
    broker_store_t *self = *self_p;
    if (!self)
        return;
    sqlite3_finalize (self->msg_lookup);
    sqlite3_finalize (self->audit_by_message);
    sqlite3_finalize (self->msg_insert);
    sqlite3_finalize (self->queue_insert);
    sqlite3_finalize (self->queue_fetch);
    sqlite3_finalize (self->queue_ack);
    sqlite3_finalize (self->audit_insert);
    sqlite3_finalize (self->node_insert);
    sqlite3_finalize (self->node_get);
    sqlite3_finalize (self->msg_by_seq);
    sqlite3_finalize (self->oldest);
    sqlite3_close (self->db);
    zhashx_destroy (&self->depths);
    free (self->touched);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Row counts in memory

static void
s_depth_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  The entry for recipient, made when absent
static s_depth_t *
s_depth_entry (broker_store_t *self, const char *recipient)
{
    s_depth_t *entry = zhashx_lookup (self->depths, recipient);
    if (!entry) {
        entry = calloc (1, sizeof *entry);
        if (!entry)
            abort ();
        zhashx_insert (self->depths, recipient, entry);
    }
    return entry;
}

//  Records a change of delta rows for recipient in the open transaction
static void
s_depth_move (broker_store_t *self, const char *recipient, int64_t delta)
{
    if (!self->counts_valid)
        return;
    s_depth_t *entry = s_depth_entry (self, recipient);
    if (sqlite3_get_autocommit (self->db)) {
        entry->depth += delta;       //  a statement outside a transaction
        return;
    }
    if (!entry->touched) {
        if (self->touched_count == self->touched_cap) {
            self->touched_cap = self->touched_cap ? self->touched_cap * 2 : 64;
            self->touched = realloc (self->touched, self->touched_cap * sizeof (s_depth_t *));
            if (!self->touched)
                abort ();
        }
        self->touched [self->touched_count++] = entry;
        entry->touched = true;
    }
    entry->delta += delta;
}

//  At the end of a transaction: committed changes count, others are dropped
static void
s_counts_settle (broker_store_t *self, bool committed)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        s_depth_t *entry = self->touched [i];
        if (committed)
            entry->depth += entry->delta;
        entry->delta = 0;
        entry->touched = false;
    }
    self->touched_count = 0;
    if (committed)
        self->messages += self->messages_delta;
    self->messages_delta = 0;
}

//  Counts the rows when the counts are not known. Inside a transaction
//  the counts would include uncommitted rows: returns -1 and the caller
//  asks SQLite directly instead.
static int
s_counts_load (broker_store_t *self)
{
    if (self->counts_valid)
        return 0;
    if (!sqlite3_get_autocommit (self->db))
        return -1;
    zhashx_purge (self->depths);
    self->touched_count = 0;
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "SELECT recipient, COUNT (*) FROM queue GROUP BY recipient");
    if (!stmt)
        return -1;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        s_depth_entry (self, (const char *) sqlite3_column_text (stmt, 0))->depth
            = sqlite3_column_int64 (stmt, 1);
    sqlite3_finalize (stmt);
    stmt = certbus_db_prepare (self->db, "SELECT COUNT (*) FROM messages");
    if (!stmt || sqlite3_step (stmt) != SQLITE_ROW) {
        sqlite3_finalize (stmt);
        return -1;
    }
    self->messages = sqlite3_column_int64 (stmt, 0);
    self->messages_delta = 0;
    sqlite3_finalize (stmt);
    self->counts_valid = true;
    return 0;
}

//  Accept time of recipient's oldest queued delivery, 0 when none: the
//  lowest qseq of each priority class, two seeks in the queue's index
static int64_t
s_oldest (broker_store_t *self, const char *recipient)
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

int
broker_store_begin (broker_store_t *self)
{
    return certbus_db_begin (self->db);
}

int
broker_store_commit (broker_store_t *self)
{
    if (certbus_db_commit (self->db) != 0) {
        broker_store_rollback (self);   //  forgets the batch's counts and audit appends
        return -1;
    }
    s_counts_settle (self, true);
    return 0;
}

void
broker_store_rollback (broker_store_t *self)
{
    certbus_db_rollback (self->db);
    s_counts_settle (self, false);
    //  the audit tree is re-read so that a rolled-back append is forgotten
    s_rebuild_frontier (self);
}

int
broker_store_audit_node (void *ctx, unsigned level, uint64_t index, uint8_t out [32])
{
    broker_store_t *self = ctx;
    sqlite3_stmt *stmt = self->node_get;
    sqlite3_reset (stmt);
    sqlite3_bind_int (stmt, 1, (int) level);
    sqlite3_bind_int64 (stmt, 2, (int64_t) index);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) == 32)
        memcpy (out, sqlite3_column_blob (stmt, 0), 32);
    else
        result = certbus_fail (rc == SQLITE_ROW || rc == SQLITE_DONE ? CERTBUS_E_NOT_FOUND
                                                                     : CERTBUS_E_IO,
                               "audit tree node %u/%llu is missing", level,
                               (unsigned long long) index);
    sqlite3_reset (stmt);
    return result;
}

static int
s_rebuild_frontier (broker_store_t *self)
{
    self->audit_size = broker_store_count (self, "audit");
    if (self->audit_size < 0)
        return -1;
    certbus_merkle_frontier_init (&self->frontier);
    if (self->audit_size > 0
        && certbus_merkle_frontier_from_nodes (&self->frontier, (uint64_t) self->audit_size,
                                               broker_store_audit_node, self)) {
        char reason [CERTBUS_REASON_MAX];
        snprintf (reason, sizeof reason, "%s", certbus_reason ());
        certbus_fail (CERTBUS_E_IO,
                      "%s: the audit tree does not match its %lld records (%s); run "
                      "certbus-broker audit verify",
                      self->path, (long long) self->audit_size, reason);
        return -1;
    }
    return 0;
}

int64_t
broker_store_data_version (broker_store_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "PRAGMA data_version");
    int64_t version = -1;
    if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
        version = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return version;
}

int
broker_store_meta_set (broker_store_t *self, const char *key, const char *value)
{
    return certbus_db_meta_set (self->db, key, value);
}

char *
broker_store_meta_get (broker_store_t *self, const char *key)
{
    return certbus_db_meta_get (self->db, key);
}

uint64_t
broker_store_next_serial (broker_store_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "SELECT COALESCE (MAX (serial), 0) + 1 FROM certs");
    uint64_t serial = 0;
    if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
        serial = (uint64_t) sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return serial;
}

int
broker_store_cert_insert (broker_store_t *self, const certbus_cert_t *cert, int64_t now)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "INSERT INTO certs (serial, org_id, tier, sector, region, not_before, not_after,"
              " cert, issued_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) cert->serial);
    sqlite3_bind_text (stmt, 2, cert->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, certbus_tier_name (cert->tier), -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, cert->sector, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, cert->region, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, cert->not_before);
    sqlite3_bind_int64 (stmt, 7, cert->not_after);
    sqlite3_bind_blob (stmt, 8, cert->bytes, (int) cert->size, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 9, now);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "insert certificate");
    sqlite3_finalize (stmt);
    return rc;
}

uint64_t
broker_store_cert_active (broker_store_t *self, const char *org_id)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT serial FROM certs WHERE org_id = ?1 AND revoked_at IS NULL"
              " ORDER BY serial DESC LIMIT 1");
    uint64_t serial = 0;
    if (!stmt)
        return 0;
    sqlite3_bind_text (stmt, 1, org_id, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW)
        serial = (uint64_t) sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return serial;
}

int
broker_store_cert_revoke (broker_store_t *self, uint64_t serial, const uint8_t *revocation,
                          size_t size, int64_t at, const char *reason)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "UPDATE certs SET revoked_at = ?2, revocation = ?3, reason = ?4 WHERE serial = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) serial);
    sqlite3_bind_int64 (stmt, 2, at);
    sqlite3_bind_blob (stmt, 3, revocation, (int) size, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, reason ? reason : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "revoke");
    sqlite3_finalize (stmt);
    return rc;
}

//  Collects one blob column of a query into growable arrays.
static int
s_collect (broker_store_t *self, const char *sql, uint8_t ***blobs_p, size_t **sizes_p,
           size_t *count_p)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    if (!stmt)
        return -1;
    size_t count = 0, cap = 16;
    uint8_t **blobs = malloc (cap * sizeof (uint8_t *));
    size_t *sizes = malloc (cap * sizeof (size_t));
    if (!blobs || !sizes)
        abort ();
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        if (count == cap) {
            cap *= 2;
            blobs = realloc (blobs, cap * sizeof (uint8_t *));
            sizes = realloc (sizes, cap * sizeof (size_t));
            if (!blobs || !sizes)
                abort ();
        }
        size_t size = (size_t) sqlite3_column_bytes (stmt, 0);
        blobs [count] = malloc (size ? size : 1);
        if (!blobs [count])
            abort ();
        memcpy (blobs [count], sqlite3_column_blob (stmt, 0), size);
        sizes [count++] = size;
    }
    sqlite3_finalize (stmt);
    *blobs_p = blobs;
    *sizes_p = sizes;
    *count_p = count;
    return 0;
}

static void
s_free_blobs (uint8_t **blobs, size_t *sizes, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (blobs [i]);
    free (blobs);
    free (sizes);
}

int
broker_store_directory_publish (broker_store_t *self, certbus_identity_t *council,
                                uint64_t *serial_p)
{
    uint8_t **certs = NULL, **revs = NULL;
    size_t *cert_sizes = NULL, *rev_sizes = NULL, cert_count = 0, rev_count = 0;
    int rc = -1;
    if (s_collect (self, "SELECT cert FROM certs WHERE revoked_at IS NULL ORDER BY org_id", &certs,
                   &cert_sizes, &cert_count)
        || s_collect (self, "SELECT revocation FROM certs WHERE revoked_at IS NOT NULL",
                      &revs, &rev_sizes, &rev_count))
        goto cleanup;
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "SELECT COALESCE (MAX (serial), 0) + 1 FROM directories");
    uint64_t serial = 0;
    if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
        serial = (uint64_t) sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    if (serial == 0)
        goto cleanup;
    uint8_t *bytes;
    size_t size;
    if (certbus_directory_build (council, serial, certs, cert_sizes, cert_count, revs, rev_sizes,
                                 rev_count, &bytes, &size))
        goto cleanup;
    stmt = certbus_db_prepare (self->db, "INSERT INTO directories VALUES (?1, ?2, ?3)");
    if (stmt) {
        sqlite3_bind_int64 (stmt, 1, (int64_t) serial);
        sqlite3_bind_int64 (stmt, 2, certbus_now ());
        sqlite3_bind_blob (stmt, 3, bytes, (int) size, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_DONE) {
            rc = 0;
            *serial_p = serial;
        }
        else
            certbus_db_fail (self->db, "store directory");
    }
    sqlite3_finalize (stmt);
    free (bytes);
    //  Each directory holds every certificate, so keeping them all grows
    //  as members squared (a hundred MiB after a thousand enrolments).
    //  Only the latest is served; the last few are kept for an operator
    //  comparing versions, and the certificates themselves stay in certs.
    if (rc == 0 && serial > BROKER_DIRECTORIES_KEPT) {
        stmt = certbus_db_prepare (self->db, "DELETE FROM directories WHERE serial <= ?1");
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, (int64_t) (serial - BROKER_DIRECTORIES_KEPT));
            if (sqlite3_step (stmt) != SQLITE_DONE)
                rc = certbus_db_fail (self->db, "prune old directories");
        }
        sqlite3_finalize (stmt);
    }
cleanup:
    if (certs)
        s_free_blobs (certs, cert_sizes, cert_count);
    if (revs)
        s_free_blobs (revs, rev_sizes, rev_count);
    return rc;
}

int
broker_store_directory_latest (broker_store_t *self, uint8_t **bytes_p, size_t *size_p)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "SELECT blob FROM directories ORDER BY serial DESC LIMIT 1");
    int rc = -1;
    if (!stmt)
        return -1;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        size_t size = (size_t) sqlite3_column_bytes (stmt, 0);
        *bytes_p = malloc (size ? size : 1);
        if (!*bytes_p)
            abort ();
        memcpy (*bytes_p, sqlite3_column_blob (stmt, 0), size);
        *size_p = size;
        rc = 0;
    }
    else
        certbus_fail (CERTBUS_E_NOT_FOUND, "%s holds no directory yet", self->path);
    sqlite3_finalize (stmt);
    return rc;
}

int
broker_store_message_lookup (broker_store_t *self, const char *origin, const uint8_t *id,
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

int
broker_store_message_insert (broker_store_t *self, const certbus_header_t *header,
                             const uint8_t *base, size_t base_size, int64_t accepted_at,
                             int64_t expires_at, uint32_t recipients, uint64_t *seq_p)
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
    s_message_digest (digest, header->id, header->origin, header->kind, header->tlp,
                      header->severity, header->audience, recipients, accepted_at, expires_at,
                      base, base_size);
    sqlite3_bind_blob (stmt, 11, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "insert message");
    sqlite3_reset (stmt);
    if (rc == 0) {
        *seq_p = (uint64_t) sqlite3_last_insert_rowid (self->db);
        if (sqlite3_get_autocommit (self->db))
            self->messages++;
        else
            self->messages_delta++;
    }
    return rc;
}

int
broker_store_queue_insert (broker_store_t *self, const char *recipient, uint64_t msg_seq,
                           int priority, const uint8_t *wrapped, size_t wrapped_size)
{
    sqlite3_stmt *stmt = self->queue_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, (int64_t) msg_seq);
    sqlite3_bind_int (stmt, 3, priority);
    sqlite3_bind_blob (stmt, 4, wrapped, (int) wrapped_size, SQLITE_STATIC);
    uint8_t digest [CERTBUS_HASH_SIZE];
    s_queue_digest (digest, recipient, msg_seq, priority, wrapped, wrapped_size);
    sqlite3_bind_blob (stmt, 5, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "queue delivery");
    sqlite3_reset (stmt);
    if (rc == 0)
        s_depth_move (self, recipient, 1);
    return rc;
}

int
broker_store_queue_fetch (broker_store_t *self, const char *recipient, int priority,
                          uint64_t after, int limit, broker_delivery_skip_fn *skip,
                          broker_delivery_fn *fn, void *arg)
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
        s_queue_digest (digest, row_recipient ? row_recipient : "", delivery.msg_seq,
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

int
broker_store_queue_ack (broker_store_t *self, const char *recipient, uint64_t qseq,
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
        s_depth_move (self, recipient, -1);
    return found;
}

int64_t
broker_store_queue_depth (broker_store_t *self, const char *recipient, int64_t *oldest_p)
{
    int64_t depth = 0;
    if (s_counts_load (self) == 0) {
        s_depth_t *entry = zhashx_lookup (self->depths, recipient);
        depth = entry ? entry->depth : 0;
    }
    else {
        sqlite3_stmt *stmt = certbus_db_prepare (self->db, "SELECT COUNT (*) FROM queue WHERE recipient = ?1");
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

int
broker_store_expire (broker_store_t *self, int64_t now_ms)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "DELETE FROM messages WHERE expires_at < ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, now_ms);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? sqlite3_changes (self->db)
                                                : certbus_db_fail (self->db, "expire messages");
    sqlite3_finalize (stmt);
    if (rc != 0)
        self->counts_valid = false;  //  the cascade removed queue rows too
    return rc;
}

int
broker_store_audit_append (broker_store_t *self, Certbus__AuditRecord *record)
{
    record->version = CERTBUS_WIRE_MAJOR;
    record->index = (uint64_t) self->audit_size;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (record, &size);
    uint8_t leaf [CERTBUS_HASH_SIZE];
    certbus_merkle_leaf_hash (leaf, bytes, size);
    sqlite3_stmt *stmt = self->audit_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, self->audit_size);
    sqlite3_bind_int64 (stmt, 2, record->time);
    sqlite3_bind_text (stmt, 3, record->event, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, record->org, -1, SQLITE_STATIC);
    if (record->message_id.len)
        sqlite3_bind_blob (stmt, 5, record->message_id.data, (int) record->message_id.len,
                           SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, 5);
    sqlite3_bind_blob (stmt, 6, bytes, (int) size, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 7, leaf, sizeof leaf, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "append audit record");
    sqlite3_reset (stmt);
    free (bytes);
    //  The perfect subtrees this record completes are stored with it, so
    //  that proofs later read O(log n) nodes.
    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
    size_t node_count = 0;
    if (rc == 0 && certbus_merkle_frontier_append (&self->frontier, leaf, nodes, &node_count))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < node_count; i++) {
        sqlite3_stmt *insert = self->node_insert;
        sqlite3_reset (insert);
        sqlite3_bind_int (insert, 1, (int) nodes [i].level);
        sqlite3_bind_int64 (insert, 2, (int64_t) nodes [i].index);
        sqlite3_bind_blob (insert, 3, nodes [i].hash, CERTBUS_HASH_SIZE, SQLITE_STATIC);
        if (sqlite3_step (insert) != SQLITE_DONE)
            rc = certbus_db_fail (self->db, "append audit node");
        sqlite3_reset (insert);
    }
    if (rc == 0)
        self->audit_size++;
    return rc;
}

void
broker_store_audit_root (broker_store_t *self, uint8_t root [32])
{
    certbus_merkle_frontier_root (&self->frontier, root);
}

int
broker_store_message_by_seq (broker_store_t *self, uint64_t seq, certbus_header_t *header)
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

void
broker_store_header_free (certbus_header_t *header)
{
    free (header->origin);
    free (header->kind);
    free (header->tlp);
    free (header->severity);
    free (header->audience);
    memset (header, 0, sizeof *header);
}

int
broker_store_tree_head_add (broker_store_t *self, const certbus_tree_head_t *head,
                            const uint8_t *bytes, size_t size)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, "INSERT INTO tree_heads VALUES (?1, ?2, ?3, ?4)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) head->size);
    sqlite3_bind_int64 (stmt, 2, head->timestamp);
    sqlite3_bind_blob (stmt, 3, head->root, 32, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 4, bytes, (int) size, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "store tree head");
    sqlite3_finalize (stmt);
    return rc;
}

int
broker_store_tree_head_latest (broker_store_t *self, certbus_tree_head_t *head,
                               uint8_t **bytes_p, size_t *size_p)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT size, timestamp, root, head FROM tree_heads ORDER BY size DESC LIMIT 1");
    int found = 0;
    if (!stmt)
        return -1;
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_bytes (stmt, 2) == 32) {
        head->size = (uint64_t) sqlite3_column_int64 (stmt, 0);
        head->timestamp = sqlite3_column_int64 (stmt, 1);
        memcpy (head->root, sqlite3_column_blob (stmt, 2), 32);
        if (bytes_p) {
            *size_p = (size_t) sqlite3_column_bytes (stmt, 3);
            *bytes_p = malloc (*size_p ? *size_p : 1);
            if (!*bytes_p)
                abort ();
            memcpy (*bytes_p, sqlite3_column_blob (stmt, 3), *size_p);
        }
        found = 1;
    }
    sqlite3_finalize (stmt);
    return found;
}

int64_t
broker_store_audit_find (broker_store_t *self, const uint8_t *message_id, const char *event,
                         uint8_t **record_p, size_t *size_p)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT idx, record FROM audit WHERE message_id = ?1 AND event = ?2"
              " ORDER BY idx LIMIT 1");
    int64_t index = -1;
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, event, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        index = sqlite3_column_int64 (stmt, 0);
        if (record_p) {
            *size_p = (size_t) sqlite3_column_bytes (stmt, 1);
            *record_p = malloc (*size_p ? *size_p : 1);
            if (!*record_p)
                abort ();
            memcpy (*record_p, sqlite3_column_blob (stmt, 1), *size_p);
        }
    }
    sqlite3_finalize (stmt);
    return index;
}

int64_t
broker_store_audit_size (broker_store_t *self)
{
    return self->audit_size;
}

int64_t
broker_store_count (broker_store_t *self, const char *table)
{
    if (strcmp (table, "messages") == 0 && s_counts_load (self) == 0)
        return self->messages;
    if (strcmp (table, "queue") == 0 && s_counts_load (self) == 0) {
        int64_t total = 0;
        for (s_depth_t *entry = zhashx_first (self->depths); entry;
             entry = zhashx_next (self->depths))
            total += entry->depth;
        return total;
    }
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT COUNT (*) FROM %s", table);
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    int64_t count = -1;
    if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
        count = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return count;
}

void *
broker_store_db (broker_store_t *self)
{
    return self->db;
}

int64_t
broker_store_audit_each (broker_store_t *self, const char *org, int64_t since,
                         broker_audit_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT idx, time, event, org, record, leaf_hash, message_id FROM audit"
              " WHERE (?1 IS NULL OR org = ?1) AND time >= ?2 ORDER BY idx");
    if (!stmt)
        return -1;
    if (org)
        sqlite3_bind_text (stmt, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, since);
    int64_t rows = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        broker_audit_row_t row = {
            .index = sqlite3_column_int64 (stmt, 0),
            .time = sqlite3_column_int64 (stmt, 1),
            .event = (const char *) sqlite3_column_text (stmt, 2),
            .org = (const char *) sqlite3_column_text (stmt, 3),
            .record = sqlite3_column_blob (stmt, 4),
            .record_size = (size_t) sqlite3_column_bytes (stmt, 4),
            .leaf_hash = sqlite3_column_blob (stmt, 5),
            .leaf_hash_size = (size_t) sqlite3_column_bytes (stmt, 5),
            .message_id = sqlite3_column_blob (stmt, 6),
            .message_id_size = (size_t) sqlite3_column_bytes (stmt, 6),
        };
        rows++;
        if (fn (arg, &row))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        rows = certbus_db_fail (self->db, "read the audit log");
    sqlite3_finalize (stmt);
    return rows;
}

int64_t
broker_store_tree_heads_each (broker_store_t *self, broker_head_fn *fn, void *arg)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "SELECT size, timestamp, root, head FROM tree_heads ORDER BY size");
    if (!stmt)
        return -1;
    int64_t rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        certbus_tree_head_t head = {0};
        head.size = (uint64_t) sqlite3_column_int64 (stmt, 0);
        head.timestamp = sqlite3_column_int64 (stmt, 1);
        if (sqlite3_column_bytes (stmt, 2) == 32)
            memcpy (head.root, sqlite3_column_blob (stmt, 2), 32);
        rows++;
        if (fn (arg, &head, sqlite3_column_blob (stmt, 3), (size_t) sqlite3_column_bytes (stmt, 3)))
            break;
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
broker_store_case_get (broker_store_t *self, const uint8_t *case_id, broker_case_t *c)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT origin, severity, opened_at, status, updated_at, first_ack_at, resolved_at,"
              " tlp FROM cases WHERE case_id = ?1");
    int found = 0;
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        memset (c, 0, sizeof *c);
        memcpy (c->case_id, case_id, CERTBUS_ID_SIZE);
        snprintf (c->origin, sizeof c->origin, "%s", sqlite3_column_text (stmt, 0));
        snprintf (c->severity, sizeof c->severity, "%s", sqlite3_column_text (stmt, 1));
        c->opened_at = sqlite3_column_int64 (stmt, 2);
        snprintf (c->status, sizeof c->status, "%s", sqlite3_column_text (stmt, 3));
        c->updated_at = sqlite3_column_int64 (stmt, 4);
        c->first_ack_at = sqlite3_column_int64 (stmt, 5);
        c->resolved_at = sqlite3_column_int64 (stmt, 6);
        snprintf (c->tlp, sizeof c->tlp, "%s", sqlite3_column_text (stmt, 7));
        found = 1;
    }
    sqlite3_finalize (stmt);
    return found;
}

//  The digest of a cases row: every column
static void
s_case_digest (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *case_id, size_t id_size,
               const char *origin, const char *severity, int64_t opened_at, const char *status,
               int64_t updated_at, int64_t first_ack_at, int64_t resolved_at, const char *tlp)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, case_id, id_size);
    s_hash_text (&state, origin);
    s_hash_text (&state, severity);
    s_hash_int (&state, opened_at);
    s_hash_text (&state, status);
    s_hash_int (&state, updated_at);
    s_hash_int (&state, first_ack_at);
    s_hash_int (&state, resolved_at);
    s_hash_text (&state, tlp);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

int
broker_store_case_put (broker_store_t *self, const broker_case_t *c)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "INSERT OR REPLACE INTO cases VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, c->case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, c->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, c->severity, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 4, c->opened_at);
    sqlite3_bind_text (stmt, 5, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, c->updated_at);
    if (c->first_ack_at)
        sqlite3_bind_int64 (stmt, 7, c->first_ack_at);
    else
        sqlite3_bind_null (stmt, 7);
    if (c->resolved_at)
        sqlite3_bind_int64 (stmt, 8, c->resolved_at);
    else
        sqlite3_bind_null (stmt, 8);
    sqlite3_bind_text (stmt, 9, c->tlp, -1, SQLITE_STATIC);
    uint8_t digest [CERTBUS_HASH_SIZE];
    s_case_digest (digest, c->case_id, CERTBUS_ID_SIZE, c->origin, c->severity, c->opened_at,
                   c->status, c->updated_at, c->first_ack_at, c->resolved_at, c->tlp);
    sqlite3_bind_blob (stmt, 10, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "store case");
    sqlite3_finalize (stmt);
    return rc;
}

int
broker_store_case_member (broker_store_t *self, const uint8_t *case_id, const char *org,
                          bool add)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, add ? "INSERT OR IGNORE INTO case_members VALUES (?1, ?2, ?3)"
                  : "SELECT 1 FROM case_members WHERE case_id = ?1 AND org = ?2");
    if (!stmt)
        return -1;
    uint8_t digest [CERTBUS_HASH_SIZE];
    s_mark_digest (digest, case_id, CERTBUS_ID_SIZE, org, "");
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, org, -1, SQLITE_STATIC);
    if (add)
        sqlite3_bind_blob (stmt, 3, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    int result = add ? (rc == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "add case member"))
                     : (rc == SQLITE_ROW ? 1 : 0);
    sqlite3_finalize (stmt);
    return result;
}

int
broker_store_case_members (broker_store_t *self, const uint8_t *case_id, char ***orgs_p,
                           size_t *count_p)
{
    *orgs_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT org FROM case_members WHERE case_id = ?1 ORDER BY org");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if (*count_p == cap) {
            cap = cap ? cap * 2 : 8;
            *orgs_p = realloc (*orgs_p, cap * sizeof (char *));
            if (!*orgs_p)
                abort ();
        }
        (*orgs_p) [(*count_p)++] = strdup ((const char *) sqlite3_column_text (stmt, 0));
    }
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "list case members");
}

int
broker_store_receipt_add (broker_store_t *self, const uint8_t *message_id, const char *publisher,
                          const char *org)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "INSERT OR IGNORE INTO receipts VALUES (?1, ?2, ?3, ?4)");
    if (!stmt)
        return -1;
    uint8_t digest [CERTBUS_HASH_SIZE];
    s_mark_digest (digest, message_id, CERTBUS_ID_SIZE, publisher, org);
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, publisher, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, org, -1, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 4, digest, sizeof digest, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? sqlite3_changes (self->db)
                                                : certbus_db_fail (self->db, "record receipt");
    sqlite3_finalize (stmt);
    return rc;
}

int64_t
broker_store_origin_bytes (broker_store_t *self, const char *origin)
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

int64_t
broker_store_audit_find_each (broker_store_t *self, const uint8_t *message_id, const char *event,
                              broker_record_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = self->audit_by_message;
    sqlite3_reset (stmt);
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, event, -1, SQLITE_STATIC);
    int64_t found = -1;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        if (fn (arg, sqlite3_column_int64 (stmt, 0), sqlite3_column_blob (stmt, 1),
                (size_t) sqlite3_column_bytes (stmt, 1))) {
            found = sqlite3_column_int64 (stmt, 0);
            break;
        }
    sqlite3_reset (stmt);
    return found;
}

int64_t
broker_store_cases_each (broker_store_t *self, int64_t since, broker_case_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT case_id FROM cases WHERE opened_at >= ?1 ORDER BY opened_at");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, since);
    int64_t rows = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        broker_case_t c;
        uint8_t id [CERTBUS_ID_SIZE];
        if (sqlite3_column_bytes (stmt, 0) != CERTBUS_ID_SIZE)
            continue;
        memcpy (id, sqlite3_column_blob (stmt, 0), CERTBUS_ID_SIZE);
        if (broker_store_case_get (self, id, &c) == 1) {
            rows++;
            if (fn (arg, &c))
                break;
        }
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
broker_store_queue_depths (broker_store_t *self, broker_depth_fn *fn, void *arg)
{
    if (s_counts_load (self))
        return -1;
    for (s_depth_t *entry = zhashx_first (self->depths); entry;
         entry = zhashx_next (self->depths))
        if (entry->depth > 0) {
            const char *recipient = zhashx_cursor (self->depths);
            fn (arg, recipient, entry->depth, s_oldest (self, recipient));
        }
    return 0;
}

int64_t
broker_store_damaged_queue_row (broker_store_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT qseq, recipient, msg_seq, priority, wrapped, digest FROM queue ORDER BY qseq");
    if (!stmt)
        return -1;
    int64_t damaged = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW && !damaged) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        const char *recipient = (const char *) sqlite3_column_text (stmt, 1);
        s_queue_digest (digest, recipient ? recipient : "", (uint64_t) sqlite3_column_int64 (stmt, 2),
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
    stmt = certbus_db_prepare (self->db, "SELECT q.qseq FROM queue q LEFT JOIN messages m ON m.seq = q.msg_seq"
                            " WHERE m.seq IS NULL ORDER BY q.qseq LIMIT 1");
    if (!stmt)
        return -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        damaged = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return damaged;
}

int
broker_store_damaged_case_row (broker_store_t *self, char **what_p)
{
    *what_p = NULL;
    //  Receipt marks and case participants: (id, name, name) and a digest
    static const struct {
        const char *sql, *what;
    } marks [] = {
        {"SELECT message_id, publisher, org, digest FROM receipts", "the receipt mark of '%s'"},
        {"SELECT case_id, org, '', digest FROM case_members", "the participant row of '%s'"},
    };
    for (size_t m = 0; m < sizeof marks / sizeof marks [0] && !*what_p; m++) {
        sqlite3_stmt *stmt = certbus_db_prepare (self->db, marks [m].sql);
        if (!stmt)
            return -1;
        while (!*what_p && sqlite3_step (stmt) == SQLITE_ROW) {
            uint8_t digest [CERTBUS_HASH_SIZE];
            const char *a = (const char *) sqlite3_column_text (stmt, 1);
            const char *b = (const char *) sqlite3_column_text (stmt, 2);
            s_mark_digest (digest, sqlite3_column_blob (stmt, 0),
                           (size_t) sqlite3_column_bytes (stmt, 0), a, b);
            if (sqlite3_column_bytes (stmt, 3) != CERTBUS_HASH_SIZE
                || memcmp (digest, sqlite3_column_blob (stmt, 3), sizeof digest) != 0)
                *what_p = zsys_sprintf (marks [m].what, m == 0 ? (b ? b : "?") : (a ? a : "?"));
        }
        sqlite3_finalize (stmt);
    }
    if (*what_p)
        return 1;
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT case_id, origin, severity, opened_at, status, updated_at,"
              " COALESCE (first_ack_at, 0), COALESCE (resolved_at, 0), tlp, digest FROM cases");
    if (!stmt)
        return -1;
    while (!*what_p && sqlite3_step (stmt) == SQLITE_ROW) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        s_case_digest (digest, sqlite3_column_blob (stmt, 0), (size_t) sqlite3_column_bytes (stmt, 0),
                       (const char *) sqlite3_column_text (stmt, 1),
                       (const char *) sqlite3_column_text (stmt, 2), sqlite3_column_int64 (stmt, 3),
                       (const char *) sqlite3_column_text (stmt, 4), sqlite3_column_int64 (stmt, 5),
                       sqlite3_column_int64 (stmt, 6), sqlite3_column_int64 (stmt, 7),
                       (const char *) sqlite3_column_text (stmt, 8));
        if (sqlite3_column_bytes (stmt, 9) != CERTBUS_HASH_SIZE
            || memcmp (digest, sqlite3_column_blob (stmt, 9), sizeof digest) != 0) {
            const char *origin = (const char *) sqlite3_column_text (stmt, 1);
            *what_p = zsys_sprintf ("the case reported by '%s'", origin ? origin : "?");
        }
    }
    sqlite3_finalize (stmt);
    return *what_p ? 1 : 0;
}

int64_t
broker_store_damaged_message (broker_store_t *self)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db, "SELECT seq, digest, " s_MESSAGE_COLUMNS " FROM messages ORDER BY seq");
    if (!stmt)
        return -1;
    int64_t damaged = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW && !damaged)
        if (!s_message_row_intact (stmt, 2, 1))
            damaged = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return damaged;
}
