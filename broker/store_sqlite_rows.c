/*  store_sqlite_rows.c - the broker's store in SQLite: audit log, Council, cases
    SPDX-License-Identifier: MPL-2.0

    The SQLite store's statements for the audit log and its tree nodes,
    tree heads, certificates and directories, cases and receipts: the
    rows off the publish and delivery hot path (which is in
    store_sqlite.c, with the database's schema).
*/
#include "store_sqlite.h"
#include "digest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The audit log and its tree

int
broker_sqlite_node_get (broker_store_backend_t *self, unsigned level, uint64_t index,
                        uint8_t out [32])
{
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

int
broker_sqlite_node_put (broker_store_backend_t *self, unsigned level, uint64_t index,
                        const uint8_t hash [32])
{
    sqlite3_stmt *stmt = self->node_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_int (stmt, 1, (int) level);
    sqlite3_bind_int64 (stmt, 2, (int64_t) index);
    sqlite3_bind_blob (stmt, 3, hash, CERTBUS_HASH_SIZE, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0
                                                : certbus_db_fail (self->db, "append audit node");
    sqlite3_reset (stmt);
    return rc;
}

int
broker_sqlite_audit_put (broker_store_backend_t *self, const broker_audit_row_t *row)
{
    sqlite3_stmt *stmt = self->audit_insert;
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, row->index);
    sqlite3_bind_int64 (stmt, 2, row->time);
    sqlite3_bind_text (stmt, 3, row->event, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, row->org, -1, SQLITE_STATIC);
    if (row->message_id)
        sqlite3_bind_blob (stmt, 5, row->message_id, (int) row->message_id_size, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, 5);
    sqlite3_bind_blob (stmt, 6, row->record, (int) row->record_size, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 7, row->leaf_hash, (int) row->leaf_hash_size, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0
                                                : certbus_db_fail (self->db, "append audit record");
    sqlite3_reset (stmt);
    if (rc == 0)
        broker_store_tally_audit (&self->tally, !sqlite3_get_autocommit (self->db));
    return rc;
}

int64_t
broker_sqlite_audit_count (broker_store_backend_t *self)
{
    return certbus_db_int64 (self->db, "SELECT COUNT (*) FROM audit", "count audit records");
}

//  ---------------------------------------------------------------------
//  Certificates and directories

uint64_t
broker_sqlite_next_serial (broker_store_backend_t *self)
{
    //  At least 1 when the query runs: 0 says it failed
    int64_t serial = certbus_db_int64 (self->db, "SELECT COALESCE (MAX (serial), 0) + 1 FROM certs",
                                       NULL);
    return serial > 0 ? (uint64_t) serial : 0;
}

int
broker_sqlite_cert_insert (broker_store_backend_t *self, const certbus_cert_t *cert, int64_t now)
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
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0
                                                : certbus_db_fail (self->db, "insert certificate");
    sqlite3_finalize (stmt);
    return rc;
}

uint64_t
broker_sqlite_cert_active (broker_store_backend_t *self, const char *org_id)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT serial FROM certs WHERE org_id = ?1 AND revoked_at IS NULL"
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
broker_sqlite_cert_revoke (broker_store_backend_t *self, uint64_t serial, const uint8_t *revocation,
                           size_t size, int64_t at, const char *reason)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db,
        "UPDATE certs SET revoked_at = ?2, revocation = ?3, reason = ?4 WHERE serial = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) serial);
    sqlite3_bind_int64 (stmt, 2, at);
    sqlite3_bind_blob (stmt, 3, revocation, (int) size, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, reason ? reason : "", -1, SQLITE_STATIC);
    return certbus_db_run (self->db, stmt, "revoke");
}

//  Calls fn with each value of one blob column of sql
static int
s_blobs_each (broker_store_backend_t *self, const char *sql, broker_blob_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db, sql);
    if (!stmt)
        return -1;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        if (fn (arg, sqlite3_column_blob (stmt, 0), (size_t) sqlite3_column_bytes (stmt, 0)))
            break;
    int result = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "read");
    sqlite3_finalize (stmt);
    return result;
}

int
broker_sqlite_certs_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg)
{
    return s_blobs_each (self, "SELECT cert FROM certs WHERE revoked_at IS NULL ORDER BY org_id",
                         fn, arg);
}

int
broker_sqlite_revocations_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg)
{
    return s_blobs_each (self, "SELECT revocation FROM certs WHERE revoked_at IS NOT NULL", fn,
                         arg);
}

int64_t
broker_sqlite_directory_serial (broker_store_backend_t *self)
{
    return certbus_db_int64 (self->db, "SELECT COALESCE (MAX (serial), 0) FROM directories",
                             "read directory version");
}

int
broker_sqlite_directory_put (broker_store_backend_t *self, uint64_t serial, int64_t issued_at,
                             const uint8_t *bytes, size_t size)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "INSERT INTO directories VALUES (?1, ?2, ?3)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) serial);
    sqlite3_bind_int64 (stmt, 2, issued_at);
    sqlite3_bind_blob (stmt, 3, bytes, (int) size, SQLITE_STATIC);
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "store directory");
    sqlite3_finalize (stmt);
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
    return rc;
}

int
broker_sqlite_directory_latest (broker_store_backend_t *self, uint8_t **bytes_p, size_t *size_p)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT blob FROM directories ORDER BY serial DESC LIMIT 1");
    int rc = -1;
    if (!stmt)
        return -1;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        *bytes_p = certbus_db_column_dup (stmt, 0, size_p);
        rc = 0;
    }
    else
        certbus_fail (CERTBUS_E_NOT_FOUND, "%s holds no directory yet", self->path);
    sqlite3_finalize (stmt);
    return rc;
}

//  ---------------------------------------------------------------------
//  Tree heads and audit reads

int
broker_sqlite_tree_head_add (broker_store_backend_t *self, const certbus_tree_head_t *head,
                             const uint8_t *bytes, size_t size)
{
    sqlite3_stmt *stmt = certbus_db_prepare (self->db,
                                             "INSERT INTO tree_heads VALUES (?1, ?2, ?3, ?4)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (int64_t) head->size);
    sqlite3_bind_int64 (stmt, 2, head->timestamp);
    sqlite3_bind_blob (stmt, 3, head->root, 32, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 4, bytes, (int) size, SQLITE_STATIC);
    return certbus_db_run (self->db, stmt, "store tree head");
}

int
broker_sqlite_tree_head_latest (broker_store_backend_t *self, certbus_tree_head_t *head,
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
        if (bytes_p)
            *bytes_p = certbus_db_column_dup (stmt, 3, size_p);
        found = 1;
    }
    sqlite3_finalize (stmt);
    return found;
}

int64_t
broker_sqlite_audit_find (broker_store_backend_t *self, const uint8_t *message_id,
                          const char *event, uint8_t **record_p, size_t *size_p)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT idx, record FROM audit WHERE message_id = ?1 AND event = ?2"
                              " ORDER BY idx LIMIT 1");
    int64_t index = -1;
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, message_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, event, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        index = sqlite3_column_int64 (stmt, 0);
        if (record_p)
            *record_p = certbus_db_column_dup (stmt, 1, size_p);
    }
    sqlite3_finalize (stmt);
    return index;
}

int64_t
broker_sqlite_audit_each (broker_store_backend_t *self, const char *org, int64_t since,
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
broker_sqlite_tree_heads_each (broker_store_backend_t *self, broker_head_fn *fn, void *arg)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT size, timestamp, root, head FROM tree_heads ORDER BY size");
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

//  ---------------------------------------------------------------------
//  Cases and receipts

int
broker_sqlite_case_get (broker_store_backend_t *self, const uint8_t *case_id, broker_case_t *c)
{
    sqlite3_stmt *stmt = certbus_db_prepare (
        self->db,
        "SELECT origin, severity, opened_at, status, updated_at, first_ack_at, resolved_at,"
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

int
broker_sqlite_case_put (broker_store_backend_t *self, const broker_case_t *c)
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
    broker_case_row_t row = {
        .case_id = c->case_id,
        .case_id_size = CERTBUS_ID_SIZE,
        .origin = c->origin,
        .severity = c->severity,
        .opened_at = c->opened_at,
        .status = c->status,
        .updated_at = c->updated_at,
        .first_ack_at = c->first_ack_at,
        .resolved_at = c->resolved_at,
        .tlp = c->tlp,
    };
    broker_digest_case (digest, &row);
    sqlite3_bind_blob (stmt, 10, digest, sizeof digest, SQLITE_STATIC);
    return certbus_db_run (self->db, stmt, "store case");
}

int
broker_sqlite_case_member (broker_store_backend_t *self, const uint8_t *case_id, const char *org,
                           bool add)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              add ? "INSERT OR IGNORE INTO case_members VALUES (?1, ?2, ?3)"
                                  : "SELECT 1 FROM case_members WHERE case_id = ?1 AND org = ?2");
    if (!stmt)
        return -1;
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_case_member (digest, case_id, CERTBUS_ID_SIZE, org);
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
broker_sqlite_case_members (broker_store_backend_t *self, const uint8_t *case_id, char ***orgs_p,
                            size_t *count_p)
{
    *orgs_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT org FROM case_members WHERE case_id = ?1 ORDER BY org");
    if (!stmt)
        return -1;
    sqlite3_bind_blob (stmt, 1, case_id, CERTBUS_ID_SIZE, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if (*count_p == cap) {
            cap = cap ? cap * 2 : 8;
            *orgs_p = certbus_realloc (*orgs_p, cap, sizeof (char *));
        }
        (*orgs_p) [(*count_p)++] = strdup ((const char *) sqlite3_column_text (stmt, 0));
    }
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? 0 : certbus_db_fail (self->db, "list case members");
}

int
broker_sqlite_receipt_add (broker_store_backend_t *self, const uint8_t *message_id,
                           const char *publisher, const char *org)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db, "INSERT OR IGNORE INTO receipts VALUES (?1, ?2, ?3, ?4)");
    if (!stmt)
        return -1;
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_receipt (digest, message_id, CERTBUS_ID_SIZE, publisher, org);
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
broker_sqlite_audit_find_each (broker_store_backend_t *self, const uint8_t *message_id,
                               const char *event, broker_record_fn *fn, void *arg)
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
broker_sqlite_cases_each (broker_store_backend_t *self, int64_t since, broker_case_fn *fn,
                          void *arg)
{
    sqlite3_stmt *stmt
        = certbus_db_prepare (self->db,
                              "SELECT case_id FROM cases WHERE opened_at >= ?1 ORDER BY opened_at");
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
        if (broker_sqlite_case_get (self, id, &c) == 1) {
            rows++;
            if (fn (arg, &c))
                break;
        }
    }
    sqlite3_finalize (stmt);
    return rows;
}

int
broker_sqlite_damaged_case_row (broker_store_backend_t *self, char **what_p)
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
            const uint8_t *id = sqlite3_column_blob (stmt, 0);
            size_t id_size = (size_t) sqlite3_column_bytes (stmt, 0);
            if (m == 0)
                broker_digest_receipt (digest, id, id_size, a, b);
            else
                broker_digest_case_member (digest, id, id_size, a);
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
        broker_case_row_t row = {
            .case_id = sqlite3_column_blob (stmt, 0),
            .case_id_size = (size_t) sqlite3_column_bytes (stmt, 0),
            .origin = (const char *) sqlite3_column_text (stmt, 1),
            .severity = (const char *) sqlite3_column_text (stmt, 2),
            .opened_at = sqlite3_column_int64 (stmt, 3),
            .status = (const char *) sqlite3_column_text (stmt, 4),
            .updated_at = sqlite3_column_int64 (stmt, 5),
            .first_ack_at = sqlite3_column_int64 (stmt, 6),
            .resolved_at = sqlite3_column_int64 (stmt, 7),
            .tlp = (const char *) sqlite3_column_text (stmt, 8),
        };
        broker_digest_case (digest, &row);
        if (sqlite3_column_bytes (stmt, 9) != CERTBUS_HASH_SIZE
            || memcmp (digest, sqlite3_column_blob (stmt, 9), sizeof digest) != 0) {
            const char *origin = (const char *) sqlite3_column_text (stmt, 1);
            *what_p = zsys_sprintf ("the case reported by '%s'", origin ? origin : "?");
        }
    }
    sqlite3_finalize (stmt);
    return *what_p ? 1 : 0;
}
