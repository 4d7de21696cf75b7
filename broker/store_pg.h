/*  store_pg.h - the PostgreSQL store's state, shared by its two files
    SPDX-License-Identifier: MPL-2.0

    Private to store_pg.c and store_pg_rows.c: the backend is one state
    split over two files only to keep each short. Every broker_pg_ row
    function keeps the contract of the store.h function of the same name.

    Every statement is prepared once per connection (again after a
    reconnect), takes its parameters as text (numbers, strings) or binary
    (bytea), and returns its columns in binary: integers are BIGINT (8
    bytes, network order) unless the SQL says otherwise, blobs are raw
    bytes.
*/
#ifndef BROKER_STORE_PG_H_INCLUDED
#define BROKER_STORE_PG_H_INCLUDED

#include "store_impl.h"
#include <czmq.h>
#include <libpq-fe.h>
#include "store_tally.h"

//  The prepared statements, by number (SQL in store_pg.c's s_sql)
typedef enum {
    BROKER_PG_META_SET,
    BROKER_PG_META_GET,
    BROKER_PG_MSG_LOOKUP,
    BROKER_PG_MSG_INSERT,
    BROKER_PG_QUEUE_INSERT,
    BROKER_PG_QUEUE_FETCH,
    BROKER_PG_QUEUE_ACK,
    BROKER_PG_QUEUE_COUNT,
    BROKER_PG_QUEUE_COUNTS,
    BROKER_PG_OLDEST,
    BROKER_PG_EXPIRE,
    BROKER_PG_MSG_BY_SEQ,
    BROKER_PG_ORIGIN_BYTES,
    BROKER_PG_QUEUE_ALL,
    BROKER_PG_QUEUE_ORPHAN,
    BROKER_PG_MSG_ALL,
    BROKER_PG_COUNT_MESSAGES,
    BROKER_PG_COUNT_QUEUE,
    BROKER_PG_COUNT_CERTS,
    BROKER_PG_COUNT_AUDIT,
    BROKER_PG_AUDIT_INSERT,
    BROKER_PG_NODE_PUT,
    BROKER_PG_NODE_GET,
    BROKER_PG_AUDIT_FIND,
    BROKER_PG_AUDIT_EACH,
    BROKER_PG_NEXT_SERIAL,
    BROKER_PG_CERT_INSERT,
    BROKER_PG_CERT_ACTIVE,
    BROKER_PG_CERT_REVOKE,
    BROKER_PG_CERTS_EACH,
    BROKER_PG_REVOCATIONS_EACH,
    BROKER_PG_DIRECTORY_SERIAL,
    BROKER_PG_DIRECTORY_PUT,
    BROKER_PG_DIRECTORY_PRUNE,
    BROKER_PG_DIRECTORY_LATEST,
    BROKER_PG_HEAD_ADD,
    BROKER_PG_HEAD_LATEST,
    BROKER_PG_HEADS_EACH,
    BROKER_PG_CASE_GET,
    BROKER_PG_CASE_PUT,
    BROKER_PG_CASES_EACH,
    BROKER_PG_MEMBER_ADD,
    BROKER_PG_MEMBER_IS,
    BROKER_PG_MEMBERS,
    BROKER_PG_RECEIPT_ADD,
    BROKER_PG_RECEIPTS_ALL,
    BROKER_PG_MEMBERS_ALL,
    BROKER_PG_CASES_ALL,
    BROKER_PG_HEAD_LOCK,
    BROKER_PG_META_ADD,
    BROKER_PG_SEQ_BLOCK,
    //  The lease (store_pg_lease.c); never wrapped in a fenced transaction
    BROKER_PG_LEASE_READ,
    BROKER_PG_LEASE_LOCK,
    BROKER_PG_LEASE_TAKE,
    BROKER_PG_LEASE_RENEW,
    BROKER_PG_LEASE_REBIND,
    BROKER_PG_LEASE_RELEASE,
    BROKER_PG_STATEMENTS //  how many
} broker_pg_statement_t;

struct broker_store_backend_t {
    PGconn *conn;       //  the database session
    char *url;          //  the libpq connection URI it was opened with
    char *name;         //  host:port/dbname, for messages (never a password)
    bool in_tx;         //  between begin and commit or rollback
    bool tx_failed;     //  a statement failed: the server aborted the transaction
    bool committing;    //  COMMIT is under way: a WARNING then is kept in warning
    char warning [256]; //  e.g. "canceling wait for synchronous replication"
    //  Row counts for status and metrics (store_tally.h). They hold only
    //  while this session is the one writer: taking the lease, or a commit
    //  of unknown outcome, makes them be counted again.
    broker_store_tally_t tally;
    //  The lease we hold (store_pg_lease.c): 0 when none. While held,
    //  every commit renews it and fails when it is no longer ours, and a
    //  write outside a transaction runs in a fenced one of its own.
    uint64_t lease_epoch;
    char lease_token [33]; //  this takeover's, in hex
    int64_t lease_ms;
    bool lease_rebind; //  the session changed: the lease names the new one
    bool fenced;       //  the lease was lost: nothing is committed again
    //  Writes whose answer nobody waits for (queue rows, audit rows and
    //  nodes) are sent in libpq's pipeline mode inside a transaction, and
    //  their results collected before the next statement that answers,
    //  or the commit (broker_pg_drain): a batch costs fewer round trips
    int pipelined;         //  statements sent and not yet collected
    size_t pipelined_size; //  about how many bytes they hold
    //  The last acknowledged delivery's message row (QUEUE_ACK answers it),
    //  for the message_by_seq that follows; forgotten when the transaction ends
    PGresult *acked;
    uint64_t acked_seq;
    //  Message sequences taken ahead from the database (never handed out
    //  twice, as the identity's own); used from the front
    int64_t seqs [64];
    int seq_count, seq_next;
};

//  Collects what was sent in pipeline mode and leaves it. Returns 0, or -1
//  with the first failure's reason (the transaction has then failed).
int
    broker_pg_drain (broker_store_backend_t *self);

//  Transactions (store_pg.c), for writes outside one while the lease is held
int
    broker_pg_begin (broker_store_backend_t *self);
int
    broker_pg_commit (broker_store_backend_t *self);
void
    broker_pg_rollback (broker_store_backend_t *self);

//  store_pg_lease.c: the ops of store_impl.h, and the fence each commit
//  runs (0, or -1 with CERTBUS_E_FENCED when the lease is not ours)
int
    broker_pg_lease_take (broker_store_backend_t *self, const char *holder, int64_t lease_ms,
                          broker_lease_t *lease);
int
    broker_pg_lease_read (broker_store_backend_t *self, broker_lease_t *lease);
int
    broker_pg_lease_renew (broker_store_backend_t *self);
void
    broker_pg_lease_release (broker_store_backend_t *self);
int
    broker_pg_lease_fence (broker_store_backend_t *self);
bool
    broker_pg_lease_lost (broker_store_backend_t *self);
//  Session settings a lease holder needs (after each connect)
int
    broker_pg_lease_session (broker_store_backend_t *self);

//  (Re)opens the session to self->url and prepares every statement; with
//  create, makes the database (when the role may) and the schema when
//  absent. Returns 0, or -1 with the reason set. (store_pg_conn.c)
int
    broker_pg_connect (broker_store_backend_t *self, bool create);

//  Sets the reason from res (or the session) and returns -1: the disk
//  full as CERTBUS_E_STORAGE_FULL, everything else CERTBUS_E_IO
int
    broker_pg_fail (broker_store_backend_t *self, const PGresult *res, const char *what);
//  The SQL of a statement
const char *
    broker_pg_sql (broker_pg_statement_t stmt);

//  host:port/dbname of a connection URI, for messages: never its password
//  (a new string)
char *
    broker_pg_url_name (const char *url);

//  Parameters of one statement: text values for numbers and strings,
//  binary for blobs (borrowed; numbers are formatted into text [])
#define BROKER_PG_PARAMS_MAX 12
typedef struct {
    const char *values [BROKER_PG_PARAMS_MAX];
    int lengths [BROKER_PG_PARAMS_MAX];
    int formats [BROKER_PG_PARAMS_MAX]; //  0 text, 1 binary
    char text [BROKER_PG_PARAMS_MAX][24];
    int count;
} broker_pg_params_t;

void
    broker_pg_param_text (broker_pg_params_t *p, const char *value);
void
    broker_pg_param_int (broker_pg_params_t *p, int64_t value);
void
    broker_pg_param_blob (broker_pg_params_t *p, const void *bytes, size_t size);
//  A NULL of the statement's type
void
    broker_pg_param_null (broker_pg_params_t *p);

//  Runs prepared statement stmt with params (may be NULL). Returns its
//  result (the caller PQclears it), or NULL with the reason set ("what"
//  names the action; CERTBUS_E_STORAGE_FULL when the server's disk is
//  full, else CERTBUS_E_IO). Outside a transaction a lost connection is
//  reopened first; inside one, a failure fails the whole transaction.
PGresult *
    broker_pg_exec (broker_store_backend_t *self, broker_pg_statement_t stmt,
                    const broker_pg_params_t *params, const char *what);
//  Runs stmt and returns the number of rows it changed, or -1.
int64_t
    broker_pg_run (broker_store_backend_t *self, broker_pg_statement_t stmt,
                   const broker_pg_params_t *params, const char *what);
//  Runs stmt, a query of one integer, and returns it (0 when NULL), or -1.
int64_t
    broker_pg_int64 (broker_store_backend_t *self, broker_pg_statement_t stmt,
                     const broker_pg_params_t *params, const char *what);

//  Column readers of a binary result: an integer of 1, 2, 4 or 8 bytes
//  (0 when NULL), a string (NULL when NULL), a blob and its size (NULL
//  and 0 when NULL), and a malloc copy of a blob (at least one byte).
int64_t
    broker_pg_get_int (const PGresult *res, int row, int col);
const char *
    broker_pg_get_text (const PGresult *res, int row, int col);
const uint8_t *
    broker_pg_get_blob (const PGresult *res, int row, int col, size_t *size_p);
uint8_t *
    broker_pg_get_dup (const PGresult *res, int row, int col, size_t *size_p);

//  store_pg_rows.c: the audit log, the Council's rows, cases
int
    broker_pg_node_get (broker_store_backend_t *self, unsigned level, uint64_t index,
                        uint8_t out [32]);
int
    broker_pg_node_put (broker_store_backend_t *self, unsigned level, uint64_t index,
                        const uint8_t hash [32]);
int
    broker_pg_audit_put (broker_store_backend_t *self, const broker_audit_row_t *row);
int64_t
    broker_pg_audit_count (broker_store_backend_t *self);
int64_t
    broker_pg_audit_find (broker_store_backend_t *self, const uint8_t *message_id,
                          const char *event, uint8_t **record_p, size_t *size_p);
int64_t
    broker_pg_audit_find_each (broker_store_backend_t *self, const uint8_t *message_id,
                               const char *event, broker_record_fn *fn, void *arg);
int64_t
    broker_pg_audit_each (broker_store_backend_t *self, const char *org, int64_t since,
                          broker_audit_fn *fn, void *arg);
int
    broker_pg_tree_head_add (broker_store_backend_t *self, const certbus_tree_head_t *head,
                             const uint8_t *bytes, size_t size);
int
    broker_pg_tree_head_latest (broker_store_backend_t *self, certbus_tree_head_t *head,
                                uint8_t **bytes_p, size_t *size_p);
int64_t
    broker_pg_tree_heads_each (broker_store_backend_t *self, broker_head_fn *fn, void *arg);
uint64_t
    broker_pg_next_serial (broker_store_backend_t *self);
int
    broker_pg_cert_insert (broker_store_backend_t *self, const certbus_cert_t *cert, int64_t now);
uint64_t
    broker_pg_cert_active (broker_store_backend_t *self, const char *org_id);
int
    broker_pg_cert_revoke (broker_store_backend_t *self, uint64_t serial, const uint8_t *revocation,
                           size_t size, int64_t at, const char *reason);
int
    broker_pg_certs_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
int
    broker_pg_revocations_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
int64_t
    broker_pg_directory_serial (broker_store_backend_t *self);
int
    broker_pg_directory_put (broker_store_backend_t *self, uint64_t serial, int64_t issued_at,
                             const uint8_t *bytes, size_t size);
int
    broker_pg_directory_latest (broker_store_backend_t *self, uint8_t **bytes_p, size_t *size_p);
int
    broker_pg_case_get (broker_store_backend_t *self, const uint8_t *case_id, broker_case_t *c);
int
    broker_pg_case_put (broker_store_backend_t *self, const broker_case_t *c);
int
    broker_pg_case_member (broker_store_backend_t *self, const uint8_t *case_id, const char *org,
                           bool add);
int
    broker_pg_case_members (broker_store_backend_t *self, const uint8_t *case_id, char ***orgs_p,
                            size_t *count_p);
int64_t
    broker_pg_cases_each (broker_store_backend_t *self, int64_t since, broker_case_fn *fn,
                          void *arg);
int
    broker_pg_receipt_add (broker_store_backend_t *self, const uint8_t *message_id,
                           const char *publisher, const char *org);
int
    broker_pg_damaged_case_row (broker_store_backend_t *self, char **what_p);
int64_t
    broker_pg_damaged_queue_row (broker_store_backend_t *self);

#endif
