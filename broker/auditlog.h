/*  auditlog.h - the broker's audit log: records, noise aggregation,
    signed tree heads and proofs
    SPDX-License-Identifier: MPL-2.0

    Every call that writes runs in the batch's transaction (publish.h,
    broker_publish_txn) except tree heads, which are signed and stored in
    a transaction of their own between batches.
*/
#ifndef BROKER_AUDITLOG_H_INCLUDED
#define BROKER_AUDITLOG_H_INCLUDED

#include "context.h"
#include "tree.h"

//  Refused and bad frames of one key in the current interval
typedef struct {
    int count;         //  bad or refused frames in this interval
    int64_t since;     //  the interval's start, unix ms
    int64_t more;      //  of them, not audited one by one
    char event [16];   //  their audit event
    char reason [160]; //  the last one's reason
} broker_noise_t;

struct broker_auditlog_t {
    broker_tree_t *tree;      //  the Merkle tree over the records
    certbus_tree_head_t head; //  latest signed tree head
    bool have_head;           //  head is set
    int64_t audit_time;       //  time for the next audit record, or 0
};

//  Loads the audit tree and reads the latest tree head from the store.
//  Returns NULL with the reason set when the tree does not load.
broker_auditlog_t *
    broker_auditlog_new (broker_store_t *store);
void
    broker_auditlog_destroy (broker_auditlog_t **self_p);

//  Appends one audit record in the batch's transaction; a failure fails
//  the batch (and is kept in ctx->last_error).
void
    broker_auditlog_append (broker_ctx_t *ctx, const char *event, const char *org,
                            const certbus_header_t *header, const char *decision, const char *rule,
                            const char *reason, uint64_t sequence, char **recipients,
                            size_t recipient_count);

//  The next record appended gets this time (unix ms) instead of now.
void
    broker_auditlog_set_time (broker_ctx_t *ctx, int64_t time);

//  Records in the audit log, or -1.
int64_t
    broker_auditlog_size (broker_ctx_t *ctx);

//  Audits one refused or bad frame of key (a member's org, or "key:HEX"
//  for a transport key that is no member). The first `burst` of an
//  interval are audited one by one; the rest are only counted, and
//  broker_auditlog_noise_flush writes one record for them. Returns true
//  when this one is audited one by one (and so may be answered and logged).
bool
    broker_auditlog_noise (broker_ctx_t *ctx, const char *key, const char *event,
                           const char *reason, int burst);

//  One record and one log line per key for the frames only counted in an
//  interval that has ended (all: in every interval).
void
    broker_auditlog_noise_flush (broker_ctx_t *ctx, bool all);

//  Answers a member's bad packet with an Error, counts it, and audits it
//  (aggregated as noise).
void
    broker_bad_frame (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                      certbus_err_t code, const char *reason);

//  The publish record of message id that names org as a recipient, or
//  NULL (caller frees with certbus_codec_free); *own_p, when given, is
//  set when org itself published a message of that id.
Certbus__AuditRecord *
    broker_auditlog_delivered_to (broker_ctx_t *ctx, const uint8_t *id, const char *org,
                                  bool *own_p);

//  Signs and stores a tree head when due (or forced). Returns 0 or -1.
int
    broker_auditlog_issue_head (broker_ctx_t *ctx, bool force);

//  Answers a ProofRequest with a ProofReply.
void
    broker_auditlog_proof (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                           Certbus__ProofRequest *request);

#endif
