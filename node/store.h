/*  store.h - the node's storage: outbox, inbox, directory; all its SQL
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_STORE_H_INCLUDED
#define NODE_STORE_H_INCLUDED

#include "certbus.h"

typedef struct node_store_t node_store_t;

//  One inbox row. Strings and blobs are borrowed from the store's cursor
//  and valid only inside the callback.
typedef struct {
    int64_t n; //  local order of arrival
    uint8_t id [CERTBUS_ID_SIZE];
    const char *origin, *kind, *tlp, *topic, *severity, *type, *audience, *forwarders;
    int64_t created, accepted_at, received_at; //  unix ms
    uint64_t broker_seq, msg_seq;
    const uint8_t *payload;
    size_t size;
    const uint8_t *envelope; //  as delivered (our key only)
    size_t envelope_size;
    const uint8_t *note; //  a forwarder's note, or NULL
    size_t note_size;
} node_message_t;

typedef int (node_message_fn) (void *arg, const node_message_t *message);

//  The state of an outbox row
typedef enum {
    NODE_OUTBOX_PENDING,  //  no final answer from the broker yet
    NODE_OUTBOX_ACCEPTED, //  the broker stored it (or had it already)
    NODE_OUTBOX_REJECTED  //  the broker refused it for good
} node_outbox_state_t;

//  One outbox row.
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE];
    const uint8_t *envelope;
    size_t envelope_size;
    node_outbox_state_t state;
    int attempts;
    int64_t last_sent;
} node_outgoing_t;

typedef int (node_outgoing_fn) (void *arg, const node_outgoing_t *outgoing);

node_store_t *
    node_store_open (const char *path);
void
    node_store_destroy (node_store_t **self_p);

//  Transactions around a batch of deliveries (one fsync for many).
int
    node_store_begin (node_store_t *self) CERTBUS_WARN_UNUSED;
int
    node_store_commit (node_store_t *self) CERTBUS_WARN_UNUSED;
void
    node_store_rollback (node_store_t *self);
//  True inside a transaction.
bool
    node_store_in_txn (node_store_t *self);
//  With durable false, the next commits do not wait for the disk
//  (synchronous=NORMAL); true (the default) makes them wait again. For
//  writes that only pace work, such as "sent" marks: in WAL mode the next
//  durable commit carries them to disk in order, and a lost one costs one
//  more resend. Call outside a transaction.
void
    node_store_set_durable (node_store_t *self, bool durable);

//  The directory the node holds (verified by the caller), or -1 when none.
int
    node_store_directory_get (node_store_t *self, uint8_t **bytes_p, size_t *size_p);
int
    node_store_directory_set (node_store_t *self, const uint8_t *bytes,
                              size_t size) CERTBUS_WARN_UNUSED;

//  Outbox.
//  recipients: the ids sealed to, one per line, for receipts.
//  payload: kept only for incident messages (their case thread).
int
    node_store_outbox_add (node_store_t *self, const certbus_header_t *header,
                           const uint8_t *envelope, size_t size, const char *recipients,
                           const uint8_t *payload, size_t payload_size) CERTBUS_WARN_UNUSED;
//  The envelope of a message we published (new buffer). Returns 1, 0, -1.
int
    node_store_outbox_envelope (node_store_t *self, const uint8_t *id, uint8_t **bytes_p,
                                size_t *size_p);
//  The envelope as delivered of the message whose original id (or id) is
//  orig_id (new buffer). Returns 1, 0, -1.
int
    node_store_inbox_envelope (node_store_t *self, const uint8_t *orig_id, uint8_t **bytes_p,
                               size_t *size_p);

//  The case an incident message belongs to (the case it updates, or its own
//  id for a report), or NULL.
const uint8_t *
    node_case_of (const certbus_header_t *header);
//  As node_case_of, for a message filed under orig_id (the original's id
//  of a forwarded one, or NULL): a forwarded report's case is its original.
const uint8_t *
    node_case_of_filed (const certbus_header_t *header, const uint8_t *orig_id);

//  One message of a case thread (borrowed strings).
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE]; //  the original message id
    const char *origin, *status, *assign, *kind, *forwarders, *audience, *severity, *topic, *tlp,
        *type;
    int64_t created;     //  signed creation time, unix ms (shown, orders nothing)
    uint64_t seq;        //  broker message sequence; 0 while not accepted
    int64_t accepted_at; //  broker accept time, unix ms; 0 while not accepted
    bool own;            //  from our outbox: we published it
    const uint8_t *payload;
    size_t size;
} node_thread_entry_t;

typedef int (node_thread_fn) (void *arg, const node_thread_entry_t *entry);
typedef int (node_case_fn) (void *arg, const uint8_t *case_id);

//  Calls fn for every message of a case, in the shared order (the broker's
//  sequence, then its accept time; not yet accepted last). Returns rows.
int
    node_store_case_thread (node_store_t *self, const uint8_t *case_id, const char *own_org,
                            node_thread_fn *fn, void *arg);
//  The case's participants as the broker last told us (for the message of
//  the highest broker sequence seq seen so far): a comma list of org ids.
//  set keeps the stored list when it came with a higher seq.
int
    node_store_case_participants_set (node_store_t *self, const uint8_t *case_id, uint64_t seq,
                                      const char *participants) CERTBUS_WARN_UNUSED;
//  The cached list (new string), or NULL when the broker never sent one.
char *
    node_store_case_participants (node_store_t *self, const uint8_t *case_id);
//  The case of outbox row id. Returns 1 (case_id filled), 0 (not a case
//  message, or no such row), -1 on error.
int
    node_store_outbox_case (node_store_t *self, const uint8_t *id,
                            uint8_t case_id [CERTBUS_ID_SIZE]);
//  Calls fn for every case this node takes part in.
int
    node_store_cases (node_store_t *self, node_case_fn *fn, void *arg);
int
    node_store_outbox_result (node_store_t *self, const uint8_t *id, node_outbox_state_t state,
                              uint32_t code, const char *reason, const char *rule, uint64_t seq,
                              int64_t accepted_at);
//  Calls fn for pending rows last sent before sent_before (unix ms).
int
    node_store_outbox_pending (node_store_t *self, int64_t sent_before, int limit,
                               node_outgoing_fn *fn, void *arg);
//  Calls fn for the outbox row id when it is still pending. Returns 1 when
//  it was, 0 when not, -1 on error.
int
    node_store_outbox_one (node_store_t *self, const uint8_t *id, node_outgoing_fn *fn, void *arg);
int
    node_store_outbox_sent (node_store_t *self, const uint8_t *id, int64_t now);
int64_t
    node_store_outbox_count (node_store_t *self, node_outbox_state_t state);
//  The state, code, reason and rule of an outbox row (strings new).
//  Returns 1 when the row exists, 0 when not, -1 on error.
int
    node_store_outbox_get (node_store_t *self, const uint8_t *id, node_outbox_state_t *state_p,
                           uint32_t *code_p, char **reason_p, char **rule_p);

//  Inbox. add returns 1 when stored, 0 when the id was already there.
int
    node_store_inbox_add (node_store_t *self, const certbus_header_t *header,
                          const char *forwarders, const uint8_t *payload, size_t size,
                          const uint8_t *envelope, size_t envelope_size, int64_t accepted_at,
                          uint64_t broker_seq, uint64_t msg_seq, const uint8_t *note,
                          size_t note_size, const uint8_t *orig_id);
//  Calls fn for inbox rows with n > after, in order; kind may be NULL.
int
    node_store_inbox_list (node_store_t *self, int64_t after, const char *kind, int limit,
                           node_message_fn *fn, void *arg);
//  Calls fn for the message id. Returns 1 found, 0 not, -1 error.
int
    node_store_inbox_get (node_store_t *self, const uint8_t *id, node_message_fn *fn, void *arg);
int64_t
    node_store_inbox_count (node_store_t *self);
int64_t
    node_store_inbox_last (node_store_t *self);

//  Receipts for messages we published.
//  refused: NULL when org stored the message, else why its node refused it
typedef void (node_receipt_fn) (void *arg, const char *org, int64_t received_at,
                                const char *refused);
int
    node_store_receipt_add (node_store_t *self, const uint8_t *message_id, const char *org,
                            int64_t received_at, const char *refused);
//  For our message message_id: *recipients_p (new string, one id per line)
//  and fn for each receipt. Returns 1, or 0 when we did not publish it.
int
    node_store_receipts (node_store_t *self, const uint8_t *message_id, char **recipients_p,
                         node_receipt_fn *fn, void *arg);

//  Binary settings (the last tree head seen).
int
    node_store_blob_set (node_store_t *self, const char *key, const uint8_t *bytes, size_t size);
int
    node_store_blob_get (node_store_t *self, const char *key, uint8_t **bytes_p, size_t *size_p);

//  Key-value settings (cursor, last error).
int
    node_store_meta_set (node_store_t *self, const char *key, const char *value);
char *
    node_store_meta_get (node_store_t *self, const char *key);

#endif
