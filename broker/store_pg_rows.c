/*  store_pg_rows.c - the broker's store in PostgreSQL: audit log, Council, cases
    SPDX-License-Identifier: MPL-2.0

    The PostgreSQL store's rows off the publish and delivery hot path: the
    audit log and its tree nodes, tree heads, certificates and
    directories, cases and receipts. Each function mirrors its SQLite
    twin in store_sqlite_rows.c.
*/
#include "store_pg.h"
#include "digest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The audit log and its tree

int
broker_pg_node_get (broker_store_backend_t *self, unsigned level, uint64_t index, uint8_t out [32])
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, level);
    broker_pg_param_int (&p, (int64_t) index);
    PGresult *res = broker_pg_exec (self, BROKER_PG_NODE_GET, &p, "read audit tree node");
    if (!res)
        return -1;
    size_t size = 0;
    const uint8_t *hash = PQntuples (res) ? broker_pg_get_blob (res, 0, 0, &size) : NULL;
    int result = 0;
    if (hash && size == 32)
        memcpy (out, hash, 32);
    else
        result = certbus_fail (CERTBUS_E_NOT_FOUND, "audit tree node %u/%llu is missing", level,
                               (unsigned long long) index);
    PQclear (res);
    return result;
}

int
broker_pg_node_put (broker_store_backend_t *self, unsigned level, uint64_t index,
                    const uint8_t hash [32])
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, level);
    broker_pg_param_int (&p, (int64_t) index);
    broker_pg_param_blob (&p, hash, CERTBUS_HASH_SIZE);
    return broker_pg_run (self, BROKER_PG_NODE_PUT, &p, "append audit node") < 0 ? -1 : 0;
}

int
broker_pg_audit_put (broker_store_backend_t *self, const broker_audit_row_t *row)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, row->index);
    broker_pg_param_int (&p, row->time);
    broker_pg_param_text (&p, row->event);
    broker_pg_param_text (&p, row->org);
    if (row->message_id)
        broker_pg_param_blob (&p, row->message_id, row->message_id_size);
    else
        broker_pg_param_null (&p);
    broker_pg_param_blob (&p, row->record, row->record_size);
    broker_pg_param_blob (&p, row->leaf_hash, row->leaf_hash_size);
    if (broker_pg_run (self, BROKER_PG_AUDIT_INSERT, &p, "append audit record") < 0)
        return -1;
    broker_store_tally_audit (&self->tally, self->in_tx);
    return 0;
}

int64_t
broker_pg_audit_count (broker_store_backend_t *self)
{
    return broker_pg_int64 (self, BROKER_PG_COUNT_AUDIT, NULL, "count audit records");
}

//  Calls fn for each (index, record) of event for message_id until it
//  returns non-zero; returns that index, or -1. fn NULL takes the first.
static int64_t
s_audit_by_message (broker_store_backend_t *self, const uint8_t *message_id, const char *event,
                    broker_record_fn *fn, void *arg, uint8_t **record_p, size_t *size_p)
{
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, message_id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, event);
    PGresult *res = broker_pg_exec (self, BROKER_PG_AUDIT_FIND, &p, "find audit record");
    if (!res)
        return -1;
    int64_t found = -1;
    for (int r = 0; r < PQntuples (res) && found < 0; r++) {
        size_t size;
        const uint8_t *record = broker_pg_get_blob (res, r, 1, &size);
        int64_t index = broker_pg_get_int (res, r, 0);
        if (!fn || fn (arg, index, record, size))
            found = index;
        if (found >= 0 && record_p)
            *record_p = broker_pg_get_dup (res, r, 1, size_p);
    }
    PQclear (res);
    return found;
}

int64_t
broker_pg_audit_find (broker_store_backend_t *self, const uint8_t *message_id, const char *event,
                      uint8_t **record_p, size_t *size_p)
{
    return s_audit_by_message (self, message_id, event, NULL, NULL, record_p, size_p);
}

int64_t
broker_pg_audit_find_each (broker_store_backend_t *self, const uint8_t *message_id,
                           const char *event, broker_record_fn *fn, void *arg)
{
    return s_audit_by_message (self, message_id, event, fn, arg, NULL, NULL);
}

int64_t
broker_pg_audit_each (broker_store_backend_t *self, const char *org, int64_t since,
                      broker_audit_fn *fn, void *arg)
{
    broker_pg_params_t p = {0};
    if (org)
        broker_pg_param_text (&p, org);
    else
        broker_pg_param_null (&p);
    broker_pg_param_int (&p, since);
    PGresult *res = broker_pg_exec (self, BROKER_PG_AUDIT_EACH, &p, "read the audit log");
    if (!res)
        return -1;
    int64_t rows = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        size_t record_size, leaf_size, id_size;
        broker_audit_row_t row = {
            .index = broker_pg_get_int (res, r, 0),
            .time = broker_pg_get_int (res, r, 1),
            .event = broker_pg_get_text (res, r, 2),
            .org = broker_pg_get_text (res, r, 3),
            .record = broker_pg_get_blob (res, r, 4, &record_size),
            .leaf_hash = broker_pg_get_blob (res, r, 5, &leaf_size),
            .message_id = broker_pg_get_blob (res, r, 6, &id_size),
        };
        row.record_size = record_size;
        row.leaf_hash_size = leaf_size;
        row.message_id_size = id_size;
        rows++;
        if (fn (arg, &row))
            break;
    }
    PQclear (res);
    return rows;
}

//  ---------------------------------------------------------------------
//  Tree heads

//  The newest head is locked (SELECT ... FOR UPDATE) before another is
//  added: two brokers can never both add one, and a head that is not
//  above the newest (a second head of one size, with another root or the
//  same) is refused, so the log cannot fork even past the lease
int
broker_pg_tree_head_add (broker_store_backend_t *self, const certbus_tree_head_t *head,
                         const uint8_t *bytes, size_t size)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_HEAD_LOCK, NULL, "lock the audit head");
    if (!res)
        return -1;
    bool below = PQntuples (res) == 1 && (uint64_t) broker_pg_get_int (res, 0, 0) >= head->size;
    uint64_t newest = PQntuples (res) == 1 ? (uint64_t) broker_pg_get_int (res, 0, 0) : 0;
    PQclear (res);
    if (below)
        return certbus_fail (CERTBUS_E_INTERNAL,
                             "database %s: a tree head of size %llu is refused: one of size "
                             "%llu is signed already (the audit log must not fork)",
                             self->name, (unsigned long long) head->size,
                             (unsigned long long) newest);
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) head->size);
    broker_pg_param_int (&p, head->timestamp);
    broker_pg_param_blob (&p, head->root, 32);
    broker_pg_param_blob (&p, bytes, size);
    return broker_pg_run (self, BROKER_PG_HEAD_ADD, &p, "store tree head") < 0 ? -1 : 0;
}

//  Row r of (size, stamp, root, head) as a tree head
static void
s_head_read (const PGresult *res, int r, certbus_tree_head_t *head)
{
    memset (head, 0, sizeof *head);
    head->size = (uint64_t) broker_pg_get_int (res, r, 0);
    head->timestamp = broker_pg_get_int (res, r, 1);
    size_t size;
    const uint8_t *root = broker_pg_get_blob (res, r, 2, &size);
    if (size == 32)
        memcpy (head->root, root, 32);
}

int
broker_pg_tree_head_latest (broker_store_backend_t *self, certbus_tree_head_t *head,
                            uint8_t **bytes_p, size_t *size_p)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_HEAD_LATEST, NULL, "read tree head");
    if (!res)
        return -1;
    int found = 0;
    if (PQntuples (res) == 1 && PQgetlength (res, 0, 2) == 32) {
        s_head_read (res, 0, head);
        if (bytes_p)
            *bytes_p = broker_pg_get_dup (res, 0, 3, size_p);
        found = 1;
    }
    PQclear (res);
    return found;
}

int64_t
broker_pg_tree_heads_each (broker_store_backend_t *self, broker_head_fn *fn, void *arg)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_HEADS_EACH, NULL, "read tree heads");
    if (!res)
        return -1;
    int64_t rows = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        certbus_tree_head_t head;
        s_head_read (res, r, &head);
        size_t size;
        const uint8_t *bytes = broker_pg_get_blob (res, r, 3, &size);
        rows++;
        if (fn (arg, &head, bytes, size))
            break;
    }
    PQclear (res);
    return rows;
}

//  ---------------------------------------------------------------------
//  Certificates and directories

uint64_t
broker_pg_next_serial (broker_store_backend_t *self)
{
    //  At least 1 when the query runs: 0 says it failed
    int64_t serial = broker_pg_int64 (self, BROKER_PG_NEXT_SERIAL, NULL, "next serial");
    return serial > 0 ? (uint64_t) serial : 0;
}

int
broker_pg_cert_insert (broker_store_backend_t *self, const certbus_cert_t *cert, int64_t now)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) cert->serial);
    broker_pg_param_text (&p, cert->org_id);
    broker_pg_param_text (&p, certbus_tier_name (cert->tier));
    broker_pg_param_text (&p, cert->sector);
    broker_pg_param_text (&p, cert->region);
    broker_pg_param_int (&p, cert->not_before);
    broker_pg_param_int (&p, cert->not_after);
    broker_pg_param_blob (&p, cert->bytes, cert->size);
    broker_pg_param_int (&p, now);
    return broker_pg_run (self, BROKER_PG_CERT_INSERT, &p, "insert certificate") < 0 ? -1 : 0;
}

uint64_t
broker_pg_cert_active (broker_store_backend_t *self, const char *org_id)
{
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, org_id);
    PGresult *res = broker_pg_exec (self, BROKER_PG_CERT_ACTIVE, &p, "find certificate");
    uint64_t serial = res && PQntuples (res) ? (uint64_t) broker_pg_get_int (res, 0, 0) : 0;
    PQclear (res);
    return serial;
}

int
broker_pg_cert_revoke (broker_store_backend_t *self, uint64_t serial, const uint8_t *revocation,
                       size_t size, int64_t at, const char *reason)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) serial);
    broker_pg_param_int (&p, at);
    broker_pg_param_blob (&p, revocation, size);
    broker_pg_param_text (&p, reason ? reason : "");
    return broker_pg_run (self, BROKER_PG_CERT_REVOKE, &p, "revoke") < 0 ? -1 : 0;
}

//  Calls fn with each value of the one blob column stmt returns
static int
s_blobs_each (broker_store_backend_t *self, broker_pg_statement_t stmt, broker_blob_fn *fn,
              void *arg)
{
    PGresult *res = broker_pg_exec (self, stmt, NULL, "read");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        size_t size;
        const uint8_t *bytes = broker_pg_get_blob (res, r, 0, &size);
        if (fn (arg, bytes, size))
            break;
    }
    PQclear (res);
    return 0;
}

int
broker_pg_certs_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg)
{
    return s_blobs_each (self, BROKER_PG_CERTS_EACH, fn, arg);
}

int
broker_pg_revocations_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg)
{
    return s_blobs_each (self, BROKER_PG_REVOCATIONS_EACH, fn, arg);
}

int64_t
broker_pg_directory_serial (broker_store_backend_t *self)
{
    return broker_pg_int64 (self, BROKER_PG_DIRECTORY_SERIAL, NULL, "read directory version");
}

int
broker_pg_directory_put (broker_store_backend_t *self, uint64_t serial, int64_t issued_at,
                         const uint8_t *bytes, size_t size)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) serial);
    broker_pg_param_int (&p, issued_at);
    broker_pg_param_blob (&p, bytes, size);
    if (broker_pg_run (self, BROKER_PG_DIRECTORY_PUT, &p, "store directory") < 0)
        return -1;
    //  Only the latest few are kept (see the SQLite store's)
    if (serial > BROKER_DIRECTORIES_KEPT) {
        broker_pg_params_t prune = {0};
        broker_pg_param_int (&prune, (int64_t) (serial - BROKER_DIRECTORIES_KEPT));
        if (broker_pg_run (self, BROKER_PG_DIRECTORY_PRUNE, &prune, "prune old directories") < 0)
            return -1;
    }
    return 0;
}

int
broker_pg_directory_latest (broker_store_backend_t *self, uint8_t **bytes_p, size_t *size_p)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_DIRECTORY_LATEST, NULL, "read directory");
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples (res) == 1) {
        *bytes_p = broker_pg_get_dup (res, 0, 0, size_p);
        rc = 0;
    }
    else
        certbus_fail (CERTBUS_E_NOT_FOUND, "%s holds no directory yet", self->name);
    PQclear (res);
    return rc;
}

//  ---------------------------------------------------------------------
//  Cases and receipts

//  Copies text column col of row r into out (size bytes)
static void
s_text_copy (char *out, size_t size, const PGresult *res, int r, int col)
{
    const char *text = broker_pg_get_text (res, r, col);
    snprintf (out, size, "%s", text ? text : "");
}

//  Row r of (case_id, origin, severity, opened_at, status, updated_at,
//  first_ack_at, resolved_at, tlp) as a case; false when its id is bad
static bool
s_case_read (const PGresult *res, int r, broker_case_t *c)
{
    size_t size;
    const uint8_t *id = broker_pg_get_blob (res, r, 0, &size);
    if (!id || size != CERTBUS_ID_SIZE)
        return false;
    memset (c, 0, sizeof *c);
    memcpy (c->case_id, id, CERTBUS_ID_SIZE);
    s_text_copy (c->origin, sizeof c->origin, res, r, 1);
    s_text_copy (c->severity, sizeof c->severity, res, r, 2);
    c->opened_at = broker_pg_get_int (res, r, 3);
    s_text_copy (c->status, sizeof c->status, res, r, 4);
    c->updated_at = broker_pg_get_int (res, r, 5);
    c->first_ack_at = broker_pg_get_int (res, r, 6);
    c->resolved_at = broker_pg_get_int (res, r, 7);
    s_text_copy (c->tlp, sizeof c->tlp, res, r, 8);
    return true;
}

int
broker_pg_case_get (broker_store_backend_t *self, const uint8_t *case_id, broker_case_t *c)
{
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, case_id, CERTBUS_ID_SIZE);
    PGresult *res = broker_pg_exec (self, BROKER_PG_CASE_GET, &p, "read case");
    if (!res)
        return -1;
    int found = PQntuples (res) == 1 && s_case_read (res, 0, c);
    PQclear (res);
    return found;
}

int
broker_pg_case_put (broker_store_backend_t *self, const broker_case_t *c)
{
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
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_case (digest, &row);
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, c->case_id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, c->origin);
    broker_pg_param_text (&p, c->severity);
    broker_pg_param_int (&p, c->opened_at);
    broker_pg_param_text (&p, c->status);
    broker_pg_param_int (&p, c->updated_at);
    if (c->first_ack_at)
        broker_pg_param_int (&p, c->first_ack_at);
    else
        broker_pg_param_null (&p);
    if (c->resolved_at)
        broker_pg_param_int (&p, c->resolved_at);
    else
        broker_pg_param_null (&p);
    broker_pg_param_text (&p, c->tlp);
    broker_pg_param_blob (&p, digest, sizeof digest);
    return broker_pg_run (self, BROKER_PG_CASE_PUT, &p, "store case") < 0 ? -1 : 0;
}

int
broker_pg_case_member (broker_store_backend_t *self, const uint8_t *case_id, const char *org,
                       bool add)
{
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, case_id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, org);
    if (add) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        broker_digest_case_member (digest, case_id, CERTBUS_ID_SIZE, org);
        broker_pg_param_blob (&p, digest, sizeof digest);
        return broker_pg_run (self, BROKER_PG_MEMBER_ADD, &p, "add case member") < 0 ? -1 : 0;
    }
    PGresult *res = broker_pg_exec (self, BROKER_PG_MEMBER_IS, &p, "read case member");
    int found = res && PQntuples (res) > 0;
    PQclear (res);
    return found;
}

int
broker_pg_case_members (broker_store_backend_t *self, const uint8_t *case_id, char ***orgs_p,
                        size_t *count_p)
{
    *orgs_p = NULL;
    *count_p = 0;
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, case_id, CERTBUS_ID_SIZE);
    PGresult *res = broker_pg_exec (self, BROKER_PG_MEMBERS, &p, "list case members");
    if (!res)
        return -1;
    int rows = PQntuples (res);
    if (rows) {
        *orgs_p = certbus_calloc ((size_t) rows, sizeof (char *));
        for (int r = 0; r < rows; r++) {
            const char *org = broker_pg_get_text (res, r, 0);
            (*orgs_p) [r] = strdup (org ? org : "");
            if (!(*orgs_p) [r])
                abort ();
        }
    }
    *count_p = (size_t) rows;
    PQclear (res);
    return 0;
}

int64_t
broker_pg_cases_each (broker_store_backend_t *self, int64_t since, broker_case_fn *fn, void *arg)
{
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, since);
    PGresult *res = broker_pg_exec (self, BROKER_PG_CASES_EACH, &p, "read cases");
    if (!res)
        return -1;
    int64_t rows = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        broker_case_t c;
        if (!s_case_read (res, r, &c))
            continue;
        rows++;
        if (fn (arg, &c))
            break;
    }
    PQclear (res);
    return rows;
}

int
broker_pg_receipt_add (broker_store_backend_t *self, const uint8_t *message_id,
                       const char *publisher, const char *org)
{
    uint8_t digest [CERTBUS_HASH_SIZE];
    broker_digest_receipt (digest, message_id, CERTBUS_ID_SIZE, publisher, org);
    broker_pg_params_t p = {0};
    broker_pg_param_blob (&p, message_id, CERTBUS_ID_SIZE);
    broker_pg_param_text (&p, publisher);
    broker_pg_param_text (&p, org);
    broker_pg_param_blob (&p, digest, sizeof digest);
    return (int) broker_pg_run (self, BROKER_PG_RECEIPT_ADD, &p, "record receipt");
}

//  ---------------------------------------------------------------------
//  Damaged case rows

//  Receipt marks (m 0) or case participants (m 1): (id, name, name,
//  digest). Returns 1 with *what_p set at the first damaged row, 0, or -1.
static int
s_damaged_mark (broker_store_backend_t *self, int m, char **what_p)
{
    PGresult *res = broker_pg_exec (self, m == 0 ? BROKER_PG_RECEIPTS_ALL : BROKER_PG_MEMBERS_ALL,
                                    NULL, "read case rows");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res) && !*what_p; r++) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        size_t id_size, stored_size;
        const uint8_t *id = broker_pg_get_blob (res, r, 0, &id_size);
        const char *a = broker_pg_get_text (res, r, 1);
        const char *b = broker_pg_get_text (res, r, 2);
        if (m == 0)
            broker_digest_receipt (digest, id, id_size, a, b);
        else
            broker_digest_case_member (digest, id, id_size, a);
        const uint8_t *stored = broker_pg_get_blob (res, r, 3, &stored_size);
        if (!broker_digest_equal (digest, stored, stored_size))
            *what_p = m == 0 ? zsys_sprintf ("the receipt mark of '%s'", b ? b : "?")
                             : zsys_sprintf ("the participant row of '%s'", a ? a : "?");
    }
    PQclear (res);
    return *what_p ? 1 : 0;
}

int
broker_pg_damaged_case_row (broker_store_backend_t *self, char **what_p)
{
    *what_p = NULL;
    for (int m = 0; m < 2; m++) {
        int rc = s_damaged_mark (self, m, what_p);
        if (rc)
            return rc;
    }
    PGresult *res = broker_pg_exec (self, BROKER_PG_CASES_ALL, NULL, "read cases");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res) && !*what_p; r++) {
        size_t id_size, stored_size;
        broker_case_row_t row = {
            .case_id = broker_pg_get_blob (res, r, 0, &id_size),
            .origin = broker_pg_get_text (res, r, 1),
            .severity = broker_pg_get_text (res, r, 2),
            .opened_at = broker_pg_get_int (res, r, 3),
            .status = broker_pg_get_text (res, r, 4),
            .updated_at = broker_pg_get_int (res, r, 5),
            .first_ack_at = broker_pg_get_int (res, r, 6),
            .resolved_at = broker_pg_get_int (res, r, 7),
            .tlp = broker_pg_get_text (res, r, 8),
        };
        row.case_id_size = id_size;
        uint8_t digest [CERTBUS_HASH_SIZE];
        broker_digest_case (digest, &row);
        const uint8_t *stored = broker_pg_get_blob (res, r, 9, &stored_size);
        if (!broker_digest_equal (digest, stored, stored_size))
            *what_p = zsys_sprintf ("the case reported by '%s'", row.origin ? row.origin : "?");
    }
    PQclear (res);
    return *what_p ? 1 : 0;
}

//  The first queue row whose digest no longer matches, or whose message
//  row is gone
int64_t
broker_pg_damaged_queue_row (broker_store_backend_t *self)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_QUEUE_ALL, NULL, "read the queue");
    if (!res)
        return -1;
    int64_t damaged = 0;
    for (int r = 0; r < PQntuples (res) && !damaged; r++) {
        uint8_t digest [CERTBUS_HASH_SIZE];
        const char *recipient = broker_pg_get_text (res, r, 1);
        size_t size, stored_size;
        const uint8_t *wrapped = broker_pg_get_blob (res, r, 4, &size);
        broker_digest_queue (digest, recipient ? recipient : "",
                             (uint64_t) broker_pg_get_int (res, r, 2),
                             (int) broker_pg_get_int (res, r, 3), wrapped, size);
        const uint8_t *stored = broker_pg_get_blob (res, r, 5, &stored_size);
        if (!broker_digest_equal (digest, stored, stored_size))
            damaged = broker_pg_get_int (res, r, 0);
    }
    PQclear (res);
    if (damaged)
        return damaged;
    //  A queue row whose message row is gone would never be delivered
    res = broker_pg_exec (self, BROKER_PG_QUEUE_ORPHAN, NULL, "read the queue");
    if (!res)
        return -1;
    if (PQntuples (res))
        damaged = broker_pg_get_int (res, 0, 0);
    PQclear (res);
    return damaged;
}
