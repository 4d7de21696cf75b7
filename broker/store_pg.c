/*  store_pg.c - the broker's store in PostgreSQL: messages, queues, counts
    SPDX-License-Identifier: MPL-2.0

    A libpq session (store_pg_conn.c) to the database a postgresql:// URL
    names. This file holds what the SQLite store's store_sqlite.c holds:
    opening, transactions, the hot path (messages, queue rows, expiry) and
    the row counts kept in memory; store_pg_rows.c holds the rest.

    One transaction per batch, at the server's default isolation (READ
    COMMITTED): nothing here relies on SERIALIZABLE. Like the SQLite
    store, it assumes one writer: queue sequences handed out by one
    session are committed in order, the audit log's indexes are numbered
    by the caller, and the counts are kept in memory. A broker pair keeps
    that true with its lease (issue 12), which must fence every write
    transaction by epoch.
*/
#include "store_pg.h"
#include "digest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  True when a message row's columns, from col on (id, origin, kind,
//  tlp, severity, audience, recipients, accepted_at, expires_at,
//  envelope), match the digest in column digest_col
static bool
s_message_row_intact (const PGresult *res, int r, int col, int digest_col)
{
    size_t id_size, digest_size, envelope_size;
    const uint8_t *id = broker_pg_get_blob (res, r, col, &id_size);
    const uint8_t *stored = broker_pg_get_blob (res, r, digest_col, &digest_size);
    if (id_size != CERTBUS_ID_SIZE || digest_size != CERTBUS_HASH_SIZE)
        return false;
    broker_message_row_t row = {
        .id = id,
        .origin = broker_pg_get_text (res, r, col + 1),
        .kind = broker_pg_get_text (res, r, col + 2),
        .tlp = broker_pg_get_text (res, r, col + 3),
        .severity = broker_pg_get_text (res, r, col + 4),
        .audience = broker_pg_get_text (res, r, col + 5),
        .recipients = broker_pg_get_int (res, r, col + 6),
        .accepted_at = broker_pg_get_int (res, r, col + 7),
        .expires_at = broker_pg_get_int (res, r, col + 8),
        .envelope = broker_pg_get_blob (res, r, col + 9, &envelope_size),
    };
    row.envelope_size = envelope_size;
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_message (digest, &row);
    return broker_digest_equal (digest, stored, digest_size);
}

//  ---------------------------------------------------------------------
//  Meta, the schema version and the Council's identity

static int
s_meta_set (broker_store_backend_t *self, const char *key, const char *value)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, key);
    broker_pg_param_text (&p, value);
    return broker_pg_run (self, BROKER_PG_META_SET, &p, "set a setting") < 0 ? -1 : 0;
}

static char *
s_meta_get (broker_store_backend_t *self, const char *key)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, key);
    PGresult *res = broker_pg_exec (self, BROKER_PG_META_GET, &p, "read a setting");
    char *value = NULL;
    if (res && PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
        value = strdup (PQgetvalue (res, 0, 0));
    PQclear (res);
    return value;
}

//  The key the Council's fingerprint is kept under (council.c sets it at
//  init): a database holding another Council's data is never written
#define s_COUNCIL_KEY "council_fingerprint"

//  meta_set, except that the Council's fingerprint is set once: a second
//  Council's init on this database is refused (store.h has no place for
//  the identity at open; issue 12 may give broker_store_open one)
static int
s_meta_set_checked (broker_store_backend_t *self, const char *key, const char *value)
{
    if (strcmp (key, s_COUNCIL_KEY) != 0)
        return s_meta_set (self, key, value);
    //  Inserted, never overwritten: of two inits racing on one database,
    //  the second waits for the first's row and then finds it
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, key);
    broker_pg_param_text (&p, value);
    if (broker_pg_run (self, BROKER_PG_META_ADD, &p, "set the Council's fingerprint") < 0)
        return -1;
    char *have = s_meta_get (self, key);
    bool other = !have || strcmp (have, value) != 0;
    free (have);
    if (other)
        return certbus_fail (CERTBUS_E_FIELD,
                             "database %s holds another certbus Council's data; refusing to "
                             "write to it: give this Council a database of its own",
                             self->name);
    return 0;
}

//  Rows are laid out and digested as this build expects (see the SQLite
//  store's s_schema_check): another layout is refused with a plain reason
static int
s_schema_check (broker_store_backend_t *self)
{
    char want [16];
    snprintf (want, sizeof want, "%d", BROKER_SCHEMA);
    char *have = s_meta_get (self, "schema");
    int rc = 0;
    if (have && strcmp (have, want) != 0)
        rc = certbus_fail (CERTBUS_E_VERSION,
                           "database %s has schema %s; this build of certbus reads schema %s: "
                           "run the certbus that wrote it, or give this broker a new database",
                           self->name, have, want);
    else if (!have) {
        int64_t used = broker_pg_int64 (self, BROKER_PG_COUNT_MESSAGES, NULL, "count messages");
        int64_t audits = broker_pg_int64 (self, BROKER_PG_COUNT_AUDIT, NULL, "count audit");
        if (used < 0 || audits < 0)
            rc = -1;
        else if (used || audits)
            rc = certbus_fail (CERTBUS_E_VERSION,
                               "database %s holds rows but no schema version; this build reads "
                               "schema %s: refusing it",
                               self->name, want);
        else
            rc = s_meta_set (self, "schema", want);
    }
    free (have);
    return rc;
}

//  PostgreSQL checks its own pages (with data checksums on, every read
//  does), and every row certbus reads is checked against its digest: the
//  check reads the Council's tables, and a full one asks no more, so that
//  a broker taking over after a crash serves in seconds whatever the
//  backlog (audit verify reads every row when asked)
static int
s_check (broker_store_backend_t *self, bool full)
{
    (void) full;
    static const broker_pg_statement_t small [] = {BROKER_PG_COUNT_CERTS,
                                                   BROKER_PG_DIRECTORY_SERIAL};
    for (size_t i = 0; i < sizeof small / sizeof small [0]; i++)
        if (broker_pg_int64 (self, small [i], NULL, "check the Council's tables") < 0)
            return -1;
    return 0;
}

//  ---------------------------------------------------------------------
//  Counts kept in memory (as the SQLite store's)

//  Counts the rows when the counts are not known; -1 inside a transaction
//  (they would include uncommitted rows) or on error
static int
s_counts_load (broker_store_backend_t *self)
{
    if (self->tally.valid)
        return 0;
    if (self->in_tx)
        return -1;
    broker_store_tally_reset (&self->tally);
    PGresult *res = broker_pg_exec (self, BROKER_PG_QUEUE_COUNTS, NULL, "count queues");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++)
        broker_store_tally_set_depth (&self->tally, PQgetvalue (res, r, 0),
                                      broker_pg_get_int (res, r, 1));
    PQclear (res);
    int64_t messages = broker_pg_int64 (self, BROKER_PG_COUNT_MESSAGES, NULL, "count messages");
    int64_t audits = broker_pg_audit_count (self);
    if (messages < 0 || audits < 0)
        return -1;
    broker_store_tally_loaded (&self->tally, messages, audits);
    return 0;
}

//  ---------------------------------------------------------------------
//  Transactions

static void
s_acked_forget (broker_store_backend_t *self);

int
broker_pg_begin (broker_store_backend_t *self)
{
    assert (!self->in_tx);
    if (self->fenced)
        return certbus_fail (CERTBUS_E_FENCED,
                             "database %s: this broker lost its lease: it writes nothing more",
                             self->name);
    //  A lost session is reopened before the batch, never inside it
    if (PQstatus (self->conn) != CONNECTION_OK) {
        self->tally.valid = false;
        if (broker_pg_connect (self, false))
            return -1;
    }
    PGresult *res = PQexec (self->conn, "BEGIN");
    //  A session the server ended since our last statement (a restart,
    //  a failover) is only seen now: nothing was begun, so open it again
    if (PQresultStatus (res) != PGRES_COMMAND_OK && PQstatus (self->conn) != CONNECTION_OK) {
        PQclear (res);
        self->tally.valid = false;
        if (broker_pg_connect (self, false))
            return -1;
        res = PQexec (self->conn, "BEGIN");
    }
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        certbus_fail (CERTBUS_E_IO, "database %s: begin: %s", self->name,
                      PQerrorMessage (self->conn));
    PQclear (res);
    self->in_tx = rc == 0;
    self->tx_failed = false;
    return rc;
}

void
broker_pg_rollback (broker_store_backend_t *self)
{
    broker_pg_drain (self);
    s_acked_forget (self);
    if (self->in_tx && PQstatus (self->conn) == CONNECTION_OK)
        PQclear (PQexec (self->conn, "ROLLBACK"));
    self->in_tx = false;
    self->tx_failed = false;
    broker_store_tally_settle (&self->tally, false);
}

//  COMMIT. A session lost before the server's answer leaves the outcome
//  unknown: that is a failure (the caller acknowledges nothing; a resend
//  and deduplication settle it), and the counts are counted again.
int
broker_pg_commit (broker_store_backend_t *self)
{
    assert (self->in_tx);
    s_acked_forget (self);
    //  Every write sent ahead is answered before COMMIT
    if (broker_pg_drain (self)) {
        broker_pg_rollback (self);
        return -1;
    }
    //  The fencing token: the lease is renewed in this transaction, or
    //  it is no longer ours and nothing of it is committed
    if (!self->tx_failed && self->lease_epoch && broker_pg_lease_fence (self)) {
        broker_pg_rollback (self);
        return -1;
    }
    if (self->tx_failed) {
        broker_pg_rollback (self);
        return certbus_fail (CERTBUS_E_IO,
                             "database %s: commit: a statement of the "
                             "transaction failed; rolled back",
                             self->name);
    }
    self->committing = true;
    self->warning [0] = 0;
    PGresult *res = PQexec (self->conn, "COMMIT");
    self->committing = false;
    ExecStatusType status = PQresultStatus (res);
    //  COMMIT of a transaction the server had aborted answers "ROLLBACK"
    bool committed = status == PGRES_COMMAND_OK && strcmp (PQcmdStatus (res), "COMMIT") == 0;
    bool lost = !committed && PQstatus (self->conn) != CONNECTION_OK;
    char text [512];
    snprintf (text, sizeof text, "%s",
              res && *PQresultErrorMessage (res) ? PQresultErrorMessage (res)
                                                 : PQerrorMessage (self->conn));
    text [strcspn (text, "\n")] = 0;
    PQclear (res);
    self->in_tx = false;
    if (committed && !*self->warning) {
        broker_store_tally_settle (&self->tally, true);
        return 0;
    }
    broker_store_tally_settle (&self->tally, false);
    if (committed) {
        self->tally.valid = false; //  the rows are here, uncounted
        return certbus_fail (CERTBUS_E_OUTCOME_UNKNOWN,
                             "database %s: COMMIT warned \"%s\": the batch is stored on this "
                             "server but may not be replicated (outcome unknown)",
                             self->name, self->warning);
    }
    if (lost) {
        self->tally.valid = false;
        return certbus_fail (CERTBUS_E_OUTCOME_UNKNOWN,
                             "database %s: the session was lost during COMMIT: "
                             "the batch may or may not be stored (outcome unknown: %s)",
                             self->name, text);
    }
    broker_pg_rollback (self);
    return certbus_fail (CERTBUS_E_IO, "database %s: commit failed, rolled back: %s", self->name,
                         *text ? text : "the server aborted the transaction");
}

//  ---------------------------------------------------------------------
//  Messages and queues

static int
s_message_lookup (broker_store_backend_t *self, const char *origin, const uint8_t *id,
                  uint64_t *seq_p, int64_t *accepted_at_p)
{
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, origin);
    PGresult *res = broker_pg_exec (self, BROKER_PG_MSG_LOOKUP, &p, "look up message");
    if (!res)
        return -1;
    int found = PQntuples (res) > 0;
    if (found) {
        *seq_p = (uint64_t) broker_pg_get_int (res, 0, 0);
        *accepted_at_p = broker_pg_get_int (res, 0, 1);
    }
    PQclear (res);
    return found;
}

//  The next message sequence, from the block taken ahead (a new block of
//  64 when it is used up: one round trip per 64 messages). 0 on error.
static int64_t
s_seq_take (broker_store_backend_t *self)
{
    if (self->seq_next == self->seq_count) {
        PGresult *res = broker_pg_exec (self, BROKER_PG_SEQ_BLOCK, NULL, "take message sequences");
        int rows = res ? PQntuples (res) : 0;
        for (int r = 0; r < rows && r < 64; r++)
            self->seqs [r] = broker_pg_get_int (res, r, 0);
        PQclear (res);
        self->seq_count = rows < 64 ? rows : 64;
        self->seq_next = 0;
        if (!self->seq_count)
            return 0;
    }
    return self->seqs [self->seq_next++];
}

static int
s_message_insert (broker_store_backend_t *self, const certbus_header_t *header, const uint8_t *base,
                  size_t base_size, int64_t accepted_at, int64_t expires_at, uint32_t recipients,
                  uint64_t *seq_p)
{
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
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_message (digest, &row);
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, header->id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, header->origin);
    broker_pg_param_text (&p, header->kind);
    broker_pg_param_text (&p, header->tlp);
    broker_pg_param_text (&p, header->severity);
    broker_pg_param_text (&p, header->audience);
    broker_pg_param_int (&p, recipients);
    broker_pg_param_int (&p, accepted_at);
    broker_pg_param_int (&p, expires_at);
    broker_pg_param_blob (&p, base, base_size);
    broker_pg_param_blob (&p, digest, sizeof digest);
    int64_t seq = s_seq_take (self);
    if (seq <= 0)
        return -1;
    broker_pg_param_int (&p, seq);
    PGresult *res = broker_pg_exec (self, BROKER_PG_MSG_INSERT, &p, "insert message");
    if (!res)
        return -1;
    PQclear (res);
    *seq_p = (uint64_t) seq;
    broker_store_tally_message (&self->tally, self->in_tx);
    return 0;
}

static int
s_queue_insert (broker_store_backend_t *self, const char *recipient, uint64_t msg_seq, int priority,
                const uint8_t *wrapped, size_t wrapped_size)
{
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_queue (digest, recipient, msg_seq, priority, wrapped, wrapped_size);
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, recipient);
    broker_pg_param_int (&p, (int64_t) msg_seq);
    broker_pg_param_int (&p, priority);
    if (wrapped)
        broker_pg_param_blob (&p, wrapped, wrapped_size);
    else
        broker_pg_param_null (&p);
    broker_pg_param_blob (&p, digest, sizeof digest);
    if (broker_pg_run (self, BROKER_PG_QUEUE_INSERT, &p, "queue delivery") < 0)
        return -1;
    broker_store_tally_move (&self->tally, self->in_tx, recipient, 1);
    return 0;
}

//  Row r of a fetch as a delivery, its digests checked. Columns: the
//  queue row (0-5), the message digest (6), then the message's digested
//  columns from 7 on (kind 9, accepted_at 14, envelope 16)
static broker_delivery_t
s_delivery (const PGresult *res, int r)
{
    const char *kind = broker_pg_get_text (res, r, 9);
    size_t size;
    broker_delivery_t delivery = {
        .qseq = (uint64_t) broker_pg_get_int (res, r, 0),
        .msg_seq = (uint64_t) broker_pg_get_int (res, r, 1),
        .accepted_at = broker_pg_get_int (res, r, 14),
        .incident = kind && strcmp (kind, "incident") == 0,
    };
    delivery.wrapped = broker_pg_get_blob (res, r, 2, &size);
    delivery.wrapped_size = size;
    delivery.envelope = broker_pg_get_blob (res, r, 16, &size);
    delivery.envelope_size = size;
    delivery.damaged = !s_message_row_intact (res, r, 7, 6);
    uint8_t digest [CERTBUS_HASH_SIZE];
    const char *recipient = broker_pg_get_text (res, r, 5);
    broker_digest_queue (digest, recipient ? recipient : "", delivery.msg_seq,
                         (int) broker_pg_get_int (res, r, 4), delivery.wrapped,
                         delivery.wrapped_size);
    const uint8_t *stored = broker_pg_get_blob (res, r, 3, &size);
    if (!broker_digest_equal (digest, stored, size))
        delivery.damaged = true;
    return delivery;
}

static int
s_queue_fetch (broker_store_backend_t *self, const char *recipient, int priority, uint64_t after,
               int limit, broker_delivery_skip_fn *skip, broker_delivery_fn *fn, void *arg)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, recipient);
    broker_pg_param_int (&p, limit);
    broker_pg_param_int (&p, priority);
    broker_pg_param_int (&p, (int64_t) after);
    PGresult *res = broker_pg_exec (self, BROKER_PG_QUEUE_FETCH, &p, "fetch deliveries");
    if (!res)
        return -1;
    int rows = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        rows++;
        if (skip && skip (arg, (uint64_t) broker_pg_get_int (res, r, 0)))
            continue;
        broker_delivery_t delivery = s_delivery (res, r);
        if (fn (arg, &delivery) != 0)
            break;
    }
    PQclear (res);
    return rows;
}

static void
s_acked_forget (broker_store_backend_t *self)
{
    PQclear (self->acked);
    self->acked = NULL;
    self->acked_seq = 0;
}

static int
s_queue_ack (broker_store_backend_t *self, const char *recipient, uint64_t qseq,
             uint64_t *msg_seq_p)
{
    s_acked_forget (self);
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) qseq);
    broker_pg_param_text (&p, recipient);
    PGresult *res = broker_pg_exec (self, BROKER_PG_QUEUE_ACK, &p, "acknowledge delivery");
    if (!res)
        return -1;
    int found = PQntuples (res) > 0;
    uint64_t msg_seq = found ? (uint64_t) broker_pg_get_int (res, 0, 0) : 0;
    if (found && msg_seq_p)
        *msg_seq_p = msg_seq;
    if (found && self->in_tx) {
        self->acked = res;
        self->acked_seq = msg_seq;
    }
    else
        PQclear (res);
    if (found)
        broker_store_tally_move (&self->tally, self->in_tx, recipient, -1);
    return found;
}

//  Accept time of recipient's oldest queued delivery, 0 when none
static int64_t
s_oldest (broker_store_backend_t *self, const char *recipient)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, recipient);
    int64_t oldest = broker_pg_int64 (self, BROKER_PG_OLDEST, &p, "oldest delivery");
    return oldest > 0 ? oldest : 0;
}

static int64_t
s_queue_depth (broker_store_backend_t *self, const char *recipient, int64_t *oldest_p)
{
    int64_t depth = 0;
    if (s_counts_load (self) == 0)
        depth = broker_store_tally_depth (&self->tally, recipient);
    else {
        broker_pg_params_t p = {0};
        broker_pg_param_text (&p, recipient);
        depth = broker_pg_int64 (self, BROKER_PG_QUEUE_COUNT, &p, "count deliveries");
    }
    if (oldest_p)
        *oldest_p = depth > 0 ? s_oldest (self, recipient) : 0;
    return depth;
}

static int
s_expire (broker_store_backend_t *self, int64_t now_ms)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, now_ms);
    int64_t removed = broker_pg_run (self, BROKER_PG_EXPIRE, &p, "expire messages");
    if (removed != 0)
        self->tally.valid = false; //  the cascade removed queue rows too
    return (int) removed;
}

//  A malloc copy of a text column ("" when NULL)
static char *
s_text_dup (const PGresult *res, int r, int col)
{
    const char *text = broker_pg_get_text (res, r, col);
    char *copy = strdup (text ? text : "");
    if (!copy)
        abort ();
    return copy;
}

static int
s_message_by_seq (broker_store_backend_t *self, uint64_t seq, certbus_header_t *header)
{
    //  The row QUEUE_ACK just answered, columns from 1; else a query
    bool cached = self->acked && self->acked_seq == seq;
    PGresult *res = cached ? self->acked : NULL;
    int col = cached ? 1 : 0;
    if (!cached) {
        broker_pg_params_t p = {0};
        broker_pg_param_int (&p, (int64_t) seq);
        res = broker_pg_exec (self, BROKER_PG_MSG_BY_SEQ, &p, "read message");
    }
    size_t id_size = 0;
    const uint8_t *id = res && PQntuples (res) ? broker_pg_get_blob (res, 0, col, &id_size) : NULL;
    int found = id && id_size == CERTBUS_ID_SIZE;
    if (found) {
        memset (header, 0, sizeof *header);
        memcpy (header->id, id, CERTBUS_ID_SIZE);
        header->origin = s_text_dup (res, 0, col + 1);
        header->kind = s_text_dup (res, 0, col + 2);
        header->tlp = s_text_dup (res, 0, col + 3);
        header->severity = s_text_dup (res, 0, col + 4);
        header->audience = s_text_dup (res, 0, col + 5);
    }
    if (cached)
        s_acked_forget (self);
    else
        PQclear (res);
    return found;
}

static int64_t
s_origin_bytes (broker_store_backend_t *self, const char *origin)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, origin);
    return broker_pg_int64 (self, BROKER_PG_ORIGIN_BYTES, &p, "sum sizes");
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

//  ---------------------------------------------------------------------
//  Damage

static int64_t
s_damaged_message (broker_store_backend_t *self)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_MSG_ALL, NULL, "read the messages");
    if (!res)
        return -1;
    int64_t damaged = 0;
    for (int r = 0; r < PQntuples (res) && !damaged; r++)
        if (!s_message_row_intact (res, r, 2, 1))
            damaged = broker_pg_get_int (res, r, 0);
    PQclear (res);
    return damaged;
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
        counts->messages = broker_pg_int64 (self, BROKER_PG_COUNT_MESSAGES, NULL, "count rows");
        counts->queued = broker_pg_int64 (self, BROKER_PG_COUNT_QUEUE, NULL, "count rows");
        counts->audit = broker_pg_audit_count (self);
    }
    counts->certificates = broker_pg_int64 (self, BROKER_PG_COUNT_CERTS, NULL, "count rows");
    return counts->messages < 0 || counts->queued < 0 || counts->certificates < 0
                   || counts->audit < 0
               ? -1
               : 0;
}

//  ---------------------------------------------------------------------
//  Open and close

static void
s_destroy (broker_store_backend_t **self_p)
{
    assert (self_p);
    broker_store_backend_t *self = *self_p;
    if (!self)
        return;
    PQclear (self->acked);
    PQfinish (self->conn); //  an open transaction is rolled back by the server
    broker_store_tally_fini (&self->tally);
    free (self->url);
    free (self->name);
    free (self);
    *self_p = NULL;
}

static const broker_store_ops_t s_ops = {
    .destroy = s_destroy,
    .begin = broker_pg_begin,
    .commit = broker_pg_commit,
    .rollback = broker_pg_rollback,
    .node_get = broker_pg_node_get,
    .check = s_check,
    .meta_set = s_meta_set_checked,
    .meta_get = s_meta_get,
    .next_serial = broker_pg_next_serial,
    .cert_insert = broker_pg_cert_insert,
    .cert_active = broker_pg_cert_active,
    .cert_revoke = broker_pg_cert_revoke,
    .certs_each = broker_pg_certs_each,
    .revocations_each = broker_pg_revocations_each,
    .directory_serial = broker_pg_directory_serial,
    .directory_put = broker_pg_directory_put,
    .directory_latest = broker_pg_directory_latest,
    .message_lookup = s_message_lookup,
    .message_insert = s_message_insert,
    .queue_insert = s_queue_insert,
    .queue_fetch = s_queue_fetch,
    .queue_ack = s_queue_ack,
    .queue_depth = s_queue_depth,
    .expire = s_expire,
    .audit_put = broker_pg_audit_put,
    .node_put = broker_pg_node_put,
    .audit_count = broker_pg_audit_count,
    .audit_find = broker_pg_audit_find,
    .audit_find_each = broker_pg_audit_find_each,
    .tree_head_add = broker_pg_tree_head_add,
    .tree_head_latest = broker_pg_tree_head_latest,
    .audit_each = broker_pg_audit_each,
    .tree_heads_each = broker_pg_tree_heads_each,
    .case_get = broker_pg_case_get,
    .case_put = broker_pg_case_put,
    .case_member = broker_pg_case_member,
    .case_members = broker_pg_case_members,
    .receipt_add = broker_pg_receipt_add,
    .origin_bytes = s_origin_bytes,
    .cases_each = broker_pg_cases_each,
    .message_by_seq = s_message_by_seq,
    .queue_depths = s_queue_depths,
    .damaged_message = s_damaged_message,
    .damaged_queue_row = broker_pg_damaged_queue_row,
    .damaged_case_row = broker_pg_damaged_case_row,
    .counts = s_counts,
    .lease_take = broker_pg_lease_take,
    .lease_read = broker_pg_lease_read,
    .lease_renew = broker_pg_lease_renew,
    .lease_release = broker_pg_lease_release,
    .lease_lost = broker_pg_lease_lost,
};

broker_store_backend_t *
broker_store_pg_open (const char *url, bool create, const broker_store_ops_t **ops_p)
{
    broker_store_backend_t *self = certbus_calloc (1, sizeof *self);
    broker_store_tally_init (&self->tally);
    self->url = strdup (url);
    self->name = broker_pg_url_name (url);
    if (!self->url)
        abort ();
    if (broker_pg_connect (self, create) || s_schema_check (self) || s_check (self, false)) {
        s_destroy (&self);
        return NULL;
    }
    *ops_p = &s_ops;
    return self;
}
