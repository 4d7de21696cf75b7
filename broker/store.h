/*  store.h - the broker's storage interface: rows in, rows out
    SPDX-License-Identifier: MPL-2.0

    What the broker keeps (messages, queue rows, cases, receipts, the audit
    log and its tree nodes, certificates, directories, tree heads) and
    nothing of how: a backend is chosen by the store URL given to
    broker_store_open, and implements store_impl.h. The store moves rows;
    it does not sign, and the audit tree's frontier lives in tree.h. Row
    digests (digest.h) are computed and checked here, so that a damaged
    row is never served.

    One writer at a time: begin, then the writes, then commit or rollback.
    A write outside a transaction commits on its own.
*/
#ifndef BROKER_STORE_H_INCLUDED
#define BROKER_STORE_H_INCLUDED

#include "certbus.h"

typedef struct broker_store_t broker_store_t;
typedef struct broker_audit_row_t broker_audit_row_t;

//  Layout of the database's rows and digests; see s_schema_check
#define BROKER_SCHEMA 3

//  Signed directories kept in the database (the latest is served)
#define BROKER_DIRECTORIES_KEPT 16

//  One queued delivery, as broker_store_queue_fetch returns it.
typedef struct {
    uint64_t qseq;           //  per-recipient delivery sequence
    uint64_t msg_seq;        //  the message's broker sequence
    int64_t accepted_at;     //  unix milliseconds
    const uint8_t *envelope; //  base envelope, no recipients
    size_t envelope_size;
    const uint8_t *wrapped; //  this recipient's RecipientKey field
    size_t wrapped_size;
    bool damaged;  //  the envelope no longer matches its digest
    bool incident; //  of kind incident (a message of a case)
} broker_delivery_t;

typedef int (broker_delivery_fn) (void *arg, const broker_delivery_t *delivery);
//  True when the row qseq needs no reading (it is in flight already): its
//  digests are then not computed again
typedef bool (broker_delivery_skip_fn) (void *arg, uint64_t qseq);

//  Opens (and with create, makes) the store at url: "sqlite:PATH" or a
//  plain PATH (SQLite), or a libpq connection URI "postgresql://..." or
//  "postgres://..." (PostgreSQL; with create, the database is made when
//  the role may, and the schema when absent). Returns NULL with the
//  reason set; a store whose Council tables (certificates, directories,
//  tree heads, cases) fail their integrity check is refused, and so is an
//  unknown URL scheme.
broker_store_t *
    broker_store_open (const char *url, bool create);

//  The store's name for messages: its URL or path (borrowed).
const char *
    broker_store_name (broker_store_t *self);

//  Checks the integrity of the Council tables, or with full of every page
//  (which reads the whole file: seconds for a large backlog). Returns 0,
//  or -1 with the reason set.
int
    broker_store_check (broker_store_t *self, bool full) CERTBUS_WARN_UNUSED;

void
    broker_store_destroy (broker_store_t **self_p);

//  Transactions. begin takes the write lock now. commit returns 0, or -1
//  with the reason set after rolling back (CERTBUS_E_STORAGE_FULL when the
//  disk is full). Counts (broker_store_counts) follow what was committed.
int
    broker_store_begin (broker_store_t *self) CERTBUS_WARN_UNUSED;
int
    broker_store_commit (broker_store_t *self) CERTBUS_WARN_UNUSED;
void
    broker_store_rollback (broker_store_t *self);

//  Calls fn (arg, committed) at the end of every transaction, after commit
//  (true) or rollback, including the rollback of a failed commit (false),
//  so that state kept beside the store (the audit tree's frontier) can
//  forget what was rolled back. Returns 0, or -1 when too many are set.
typedef void (broker_store_end_fn) (void *arg, bool committed);
int
    broker_store_on_end (broker_store_t *self, broker_store_end_fn *fn, void *arg);
//  Removes what broker_store_on_end (fn, arg) set; call it before the
//  store is destroyed.
void
    broker_store_on_end_cancel (broker_store_t *self, broker_store_end_fn *fn, void *arg);

//  The lease of a broker pair: exactly one broker of those sharing a store
//  is active (writes); the others wait. A backend without leases (SQLite:
//  one host) reports supported false, and its one broker is always active.
typedef struct {
    bool supported;     //  the store has a lease at all
    uint64_t epoch;     //  grows at each takeover; 0 before the first
    char holder [128];  //  who holds it (host:pid), "" before the first
    int64_t expires_at; //  unix ms, by the database's clock
    int64_t now;        //  the database's clock when read, unix ms
    bool holder_alive;  //  the holder's database session is still open
} broker_lease_t;

//  Takes the lease for holder, for lease_ms, when it has ended or its
//  holder's database session is gone (a killed broker). Returns 1 when
//  taken (lease is then ours, with the new epoch), 0 when another holds it
//  (lease says who, until when), -1 on error. From then on, every commit of
//  this store renews the lease and checks it is still ours (the fencing
//  token): when another broker took over, or the lease ended while we were
//  paused, the commit fails with CERTBUS_E_FENCED and nothing is stored.
int
    broker_store_lease_take (broker_store_t *self, const char *holder, int64_t lease_ms,
                             broker_lease_t *lease) CERTBUS_WARN_UNUSED;
//  Reads the lease. Returns 0, or -1 with the reason set.
int
    broker_store_lease_read (broker_store_t *self, broker_lease_t *lease) CERTBUS_WARN_UNUSED;
//  Renews the lease we hold, in a transaction of its own. Returns 0, or -1
//  (CERTBUS_E_FENCED when it is no longer ours).
int
    broker_store_lease_renew (broker_store_t *self) CERTBUS_WARN_UNUSED;
//  True once a commit found the lease was no longer ours (fenced).
bool
    broker_store_lease_lost (broker_store_t *self);
//  Ends the lease we hold now, so that a standby takes over at once.
void
    broker_store_lease_release (broker_store_t *self);

//  Key-value settings.
int
    broker_store_meta_set (broker_store_t *self, const char *key, const char *value);
char *
    broker_store_meta_get (broker_store_t *self, const char *key);

//  Council: certificates, revocations and the signed directory.
uint64_t
    broker_store_next_serial (broker_store_t *self);
int
    broker_store_cert_insert (broker_store_t *self, const certbus_cert_t *cert, int64_t now);
//  Returns the serial of org's current unrevoked certificate, or 0.
uint64_t
    broker_store_cert_active (broker_store_t *self, const char *org_id);
int
    broker_store_cert_revoke (broker_store_t *self, uint64_t serial, const uint8_t *revocation,
                              size_t size, int64_t at, const char *reason);
//  Calls fn (arg, bytes, size) with each unrevoked certificate, by org id,
//  or with each revocation, in serial order; fn returns non-zero to stop.
//  Returns 0, or -1 with the reason set.
typedef int (broker_blob_fn) (void *arg, const uint8_t *bytes, size_t size);
int
    broker_store_certs_each (broker_store_t *self, broker_blob_fn *fn, void *arg);
int
    broker_store_revocations_each (broker_store_t *self, broker_blob_fn *fn, void *arg);
//  The version of the newest directory, 0 when none, -1 on error.
int64_t
    broker_store_directory_serial (broker_store_t *self);
//  Stores directory version serial (signed bytes), and forgets all but
//  the BROKER_DIRECTORIES_KEPT newest. Returns 0 or -1.
int
    broker_store_directory_put (broker_store_t *self, uint64_t serial, int64_t issued_at,
                                const uint8_t *bytes, size_t size) CERTBUS_WARN_UNUSED;
//  The newest directory, as a new buffer. Returns 0, or -1 when none.
int
    broker_store_directory_latest (broker_store_t *self, uint8_t **bytes_p,
                                   size_t *size_p) CERTBUS_WARN_UNUSED;

//  Messages. lookup returns 1 and fills seq/accepted_at when id is known.
//  Deduplication is keyed by (origin, id): another member's id is not a
//  duplicate of ours, and the broker never says whether it exists.
int
    broker_store_message_lookup (broker_store_t *self, const char *origin, const uint8_t *id,
                                 uint64_t *seq_p, int64_t *accepted_at_p);
int
    broker_store_message_insert (broker_store_t *self, const certbus_header_t *header,
                                 const uint8_t *base, size_t base_size, int64_t accepted_at,
                                 int64_t expires_at, uint32_t recipients,
                                 uint64_t *seq_p) CERTBUS_WARN_UNUSED;
int
    broker_store_queue_insert (broker_store_t *self, const char *recipient, uint64_t msg_seq,
                               int priority, const uint8_t *wrapped,
                               size_t wrapped_size) CERTBUS_WARN_UNUSED;
//  Calls fn for up to limit queued deliveries of recipient of the given
//  priority (1 critical, 0 the rest) with a queue sequence above after, in
//  sequence order; stops early when fn returns non-zero. Rows skip (may be
//  NULL) names are passed over unread. Returns rows seen, or -1.
int
    broker_store_queue_fetch (broker_store_t *self, const char *recipient, int priority,
                              uint64_t after, int limit, broker_delivery_skip_fn *skip,
                              broker_delivery_fn *fn, void *arg) CERTBUS_WARN_UNUSED;
//  Removes a delivered row. Returns 1 when it was there, 0 when not.
int
    broker_store_queue_ack (broker_store_t *self, const char *recipient, uint64_t qseq,
                            uint64_t *msg_seq_p);
//  Rows still queued for recipient, and the oldest one's accept time.
int64_t
    broker_store_queue_depth (broker_store_t *self, const char *recipient, int64_t *oldest_p);
//  Deletes messages past their expiry with their queue rows. Returns the
//  number of messages removed, or -1.
int
    broker_store_expire (broker_store_t *self, int64_t now_ms);

//  Audit records and the audit tree's stored nodes. tree.h keeps the tree
//  on top of these: audit_put stores record row->index (the caller
//  numbers them from 0, one after another), node_put the hash of perfect
//  subtree (level, index). Both return 0 or -1 with the reason set.
int
    broker_store_audit_put (broker_store_t *self,
                            const broker_audit_row_t *row) CERTBUS_WARN_UNUSED;
int
    broker_store_node_put (broker_store_t *self, unsigned level, uint64_t index,
                           const uint8_t hash [32]) CERTBUS_WARN_UNUSED;
//  The number of audit records stored, or -1 with the reason set.
int64_t
    broker_store_audit_count (broker_store_t *self);
//  Reads node (level, index): a certbus_merkle_get_node_fn with the store
//  as ctx. Returns 0, or -1 with CERTBUS_E_NOT_FOUND when it is missing.
int
    broker_store_node_get (void *ctx, unsigned level, uint64_t index, uint8_t out [32]);

//  The index of the first audit record of event for message_id, or -1;
//  with record_p, the record's bytes in a new buffer.
int64_t
    broker_store_audit_find (broker_store_t *self, const uint8_t *message_id, const char *event,
                             uint8_t **record_p, size_t *size_p);

//  Calls fn (arg, index, record bytes) for each audit record of event for
//  message_id, in index order, until fn returns non-zero; returns the
//  index of that record, or -1 when fn accepted none.
typedef int (broker_record_fn) (void *arg, int64_t index, const uint8_t *record, size_t size);
int64_t
    broker_store_audit_find_each (broker_store_t *self, const uint8_t *message_id,
                                  const char *event, broker_record_fn *fn, void *arg);

//  Tree heads. latest returns 1 and fills head (and a copy of its signed
//  bytes when bytes_p is not NULL) when there is one, 0 when none.
int
    broker_store_tree_head_add (broker_store_t *self, const certbus_tree_head_t *head,
                                const uint8_t *bytes, size_t size) CERTBUS_WARN_UNUSED;
int
    broker_store_tree_head_latest (broker_store_t *self, certbus_tree_head_t *head,
                                   uint8_t **bytes_p, size_t *size_p);

//  One audit row as broker_store_audit_each hands it over, and as
//  broker_store_audit_put takes it (borrowed).
struct broker_audit_row_t {
    int64_t index;
    int64_t time; //  unix ms
    const char *event;
    const char *org;
    const uint8_t *record;
    size_t record_size;
    const uint8_t *leaf_hash;
    size_t leaf_hash_size;
    const uint8_t *message_id; //  NULL when the record names none
    size_t message_id_size;
};

typedef int (broker_audit_fn) (void *arg, const broker_audit_row_t *row);

//  Calls fn for every audit row in index order, optionally only those of
//  org and at or after since (unix ms; 0 for all). fn returns non-zero to
//  stop. Returns rows seen, or -1.
int64_t
    broker_store_audit_each (broker_store_t *self, const char *org, int64_t since,
                             broker_audit_fn *fn, void *arg);

//  One stored tree head (borrowed bytes).
typedef int (broker_head_fn) (void *arg, const certbus_tree_head_t *head, const uint8_t *bytes,
                              size_t size);

//  Calls fn for every stored tree head in size order. Returns heads seen.
int64_t
    broker_store_tree_heads_each (broker_store_t *self, broker_head_fn *fn, void *arg);

//  An incident case as the broker tracks it (from the signed headers).
typedef struct {
    uint8_t case_id [CERTBUS_ID_SIZE];  //  the report's message id
    char origin [CERTBUS_MAX_NAME + 1]; //  the reporter
    char severity [16];                 //  the report's
    char tlp [16];                      //  the report's: no update may go lower
    char status [32];                   //  latest status
    int64_t opened_at;                  //  report accepted, unix ms
    int64_t updated_at;
    int64_t first_ack_at; //  first acknowledgement by another member, or 0
    int64_t resolved_at;  //  first resolved/closed, or 0
} broker_case_t;

typedef int (broker_case_fn) (void *arg, const broker_case_t *c);

//  Returns 1 and fills c when the case is known, 0 when not, -1 on error.
int
    broker_store_case_get (broker_store_t *self, const uint8_t *case_id, broker_case_t *c);
int
    broker_store_case_put (broker_store_t *self, const broker_case_t *c) CERTBUS_WARN_UNUSED;
//  With add, makes org a participant (0 or -1); without, returns 1 when it
//  is one, 0 when not.
int
    broker_store_case_member (broker_store_t *self, const uint8_t *case_id, const char *org,
                              bool add);
//  The participants of a case, sorted (a new list of new strings: free
//  with certbus_strv_free). Returns 0 or -1.
int
    broker_store_case_members (broker_store_t *self, const uint8_t *case_id, char ***orgs_p,
                               size_t *count_p);
//  Records the receipt of org for publisher's message_id: 1 when new, 0
//  when org had already sent one, -1 on error.
int
    broker_store_receipt_add (broker_store_t *self, const uint8_t *message_id,
                              const char *publisher, const char *org);
//  Bytes of the envelopes stored for origin (its storage quota).
int64_t
    broker_store_origin_bytes (broker_store_t *self, const char *origin);
//  Calls fn for every case opened at or after since (unix ms).
int64_t
    broker_store_cases_each (broker_store_t *self, int64_t since, broker_case_fn *fn, void *arg);

//  The stored fields of message seq (strings new; free with
//  broker_store_header_free). Returns 1 when found.
int
    broker_store_message_by_seq (broker_store_t *self, uint64_t seq, certbus_header_t *header);
void
    broker_store_header_free (certbus_header_t *header);

//  Calls fn (arg, recipient, depth, oldest accepted_at) for each member
//  with queued deliveries.
typedef void (broker_depth_fn) (void *arg, const char *recipient, int64_t depth, int64_t oldest);
int
    broker_store_queue_depths (broker_store_t *self, broker_depth_fn *fn, void *arg);

//  The sequence of the first stored message whose row (envelope and every
//  column beside it) no longer matches its digest, 0 when none, -1 on error.
int64_t
    broker_store_damaged_message (broker_store_t *self);
//  The same for queued deliveries (recipient, message, priority, key), and
//  for a queued delivery whose message row is gone.
int64_t
    broker_store_damaged_queue_row (broker_store_t *self);

//  1 when a row of a case, of its participants or of the receipt marks no
//  longer matches its digest (*what_p, new, names it), 0 when none, -1 on
//  error.
int
    broker_store_damaged_case_row (broker_store_t *self, char **what_p);

//  Row counts for status and metrics.
typedef struct {
    int64_t messages;     //  messages stored
    int64_t queued;       //  deliveries queued, all members
    int64_t certificates; //  certificates issued, revoked or not
    int64_t audit;        //  audit records
} broker_counts_t;

//  Fills counts of committed rows; called inside a transaction it may
//  also count that transaction's rows. Cheap enough for every status
//  request and metrics scrape. Returns 0, or -1 with the reason set.
int
    broker_store_counts (broker_store_t *self, broker_counts_t *counts);

#endif
