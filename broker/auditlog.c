/*  auditlog.c - the broker's audit log: records, noise aggregation,
    signed tree heads and proofs
    SPDX-License-Identifier: MPL-2.0
*/
#include "auditlog.h"
#include "admission.h"
#include "publish.h"
#include "sessions.h"
#include "stats.h"
#include <stdlib.h>
#include <string.h>

//  Before a broker signs a head (after a takeover, a crash, any start):
//  the tree loaded from the store has the root of the last signed head at
//  that head's size, and extends it (a consistency proof from the stored
//  nodes verifies), so that the log never forks. Returns 0 or -1.
static int
s_head_check (broker_auditlog_t *self, broker_store_t *store)
{
    int64_t size = broker_tree_size (self->tree);
    if (!self->have_head)
        return 0;
    const char *name = broker_store_name (store);
    if ((int64_t) self->head.size > size)
        return certbus_fail (CERTBUS_E_IO,
                             "%s: the last signed tree head covers %llu records but only %lld "
                             "are stored: the audit log was rolled back; run certbus-broker "
                             "audit verify",
                             name, (unsigned long long) self->head.size, (long long) size);
    uint8_t at_head [32], now [32], proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t proof_len = 0;
    broker_tree_root (self->tree, now);
    if (certbus_merkle_tree_root (at_head, self->head.size, broker_store_node_get, store)
        || certbus_merkle_consistency_proof (proof, &proof_len, self->head.size, (uint64_t) size,
                                             broker_store_node_get, store))
        return certbus_fail (CERTBUS_E_IO, "%s: cannot recompute the audit tree: %s", name,
                             certbus_reason ());
    if (memcmp (at_head, self->head.root, 32) != 0
        || certbus_merkle_verify_consistency (self->head.size, (uint64_t) size, proof, proof_len,
                                              self->head.root, 32, now, 32))
        return certbus_fail (CERTBUS_E_IO,
                             "%s: the stored audit tree is not consistent with the last signed "
                             "head (size %llu): refusing to sign another; run certbus-broker "
                             "audit verify",
                             name, (unsigned long long) self->head.size);
    return 0;
}

broker_auditlog_t *
broker_auditlog_new (broker_store_t *store)
{
    broker_auditlog_t *self = certbus_calloc (1, sizeof *self);
    self->tree = broker_tree_new (store);
    if (!self->tree) {
        free (self);
        return NULL;
    }
    int latest = broker_store_tree_head_latest (store, &self->head, NULL, NULL);
    self->have_head = latest == 1;
    if (latest < 0 || s_head_check (self, store)) {
        broker_auditlog_destroy (&self);
        return NULL;
    }
    return self;
}

void
broker_auditlog_destroy (broker_auditlog_t **self_p)
{
    assert (self_p);
    if (*self_p)
        broker_tree_destroy (&(*self_p)->tree);
    free (*self_p);
    *self_p = NULL;
}

void
broker_auditlog_set_time (broker_ctx_t *ctx, int64_t time)
{
    ctx->auditlog->audit_time = time;
}

int64_t
broker_auditlog_size (broker_ctx_t *ctx)
{
    return broker_tree_size (ctx->auditlog->tree);
}

void
broker_auditlog_append (broker_ctx_t *ctx, const char *event, const char *org,
                        const certbus_header_t *header, const char *decision, const char *rule,
                        const char *reason, uint64_t sequence, char **recipients,
                        size_t recipient_count)
{
    if (broker_publish_txn (ctx))
        return;
    certbus_audit_entry_t entry = {.time = ctx->auditlog->audit_time ? ctx->auditlog->audit_time
                                                                     : certbus_now_ms (),
                                   .event = event,
                                   .org = org,
                                   .header = header,
                                   .decision = decision,
                                   .rule = rule,
                                   .reason = reason,
                                   .sequence = sequence,
                                   .recipients = recipients,
                                   .recipient_count = recipient_count};
    ctx->auditlog->audit_time = 0;
    Certbus__AuditRecord record;
    certbus_audit_record_fill (&record, &entry);
    if (broker_tree_append (ctx->auditlog->tree, &record))
        broker_publish_txn_fail (ctx);
}

//  ---------------------------------------------------------------------
//  Noise: refused and bad frames, audited in aggregate

bool
broker_auditlog_noise (broker_ctx_t *ctx, const char *key, const char *event, const char *reason,
                       int burst)
{
    broker_noise_t *noise = &broker_admission_member (ctx, key)->noise;
    int64_t now = certbus_now_ms ();
    if (now - noise->since >= ctx->config->noise_interval_ms && noise->more == 0) {
        noise->since = now;
        noise->count = 0;
    }
    snprintf (noise->event, sizeof noise->event, "%s", event);
    snprintf (noise->reason, sizeof noise->reason, "%s", reason);
    if (noise->count++ < burst)
        return true;
    noise->more++;
    ctx->stats->noise_aggregated++;
    return false;
}

void
broker_auditlog_noise_flush (broker_ctx_t *ctx, bool all)
{
    int64_t now = certbus_now_ms ();
    zhashx_t *members = ctx->admission->members;
    for (broker_member_t *state = zhashx_first (members); state; state = zhashx_next (members)) {
        broker_noise_t *noise = &state->noise;
        if (noise->more == 0 || (!all && now - noise->since < ctx->config->noise_interval_ms))
            continue;
        const char *key = zhashx_cursor (members);
        char reason [400];
        snprintf (reason, sizeof reason,
                  "%lld more %s frames in %lld ms, not audited one by one; the last: %s",
                  (long long) noise->more, noise->event, (long long) (now - noise->since),
                  noise->reason);
        zsys_notice ("broker: org=%s %s", key, reason);
        broker_auditlog_append (ctx, "suppressed", key, NULL, "reject", NULL, reason, 0, NULL, 0);
        noise->more = 0;
        noise->count = 0;
        noise->since = now;
    }
}

void
broker_bad_frame (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                  certbus_err_t code, const char *reason)
{
    ctx->stats->bad_frames++;
    //  A member's garbage is answered (its own client may need the reason)
    //  but audited and logged one by one only up to the burst
    broker_send_error (ctx, routing, code, reason);
    if (!broker_auditlog_noise (ctx, member->org_id, "bad-packet", reason,
                                ctx->config->noise_burst))
        return;
    zsys_notice ("broker: bad packet org=%s code=%s reason=\"%s\"", member->org_id,
                 certbus_err_name (code), reason);
    broker_auditlog_append (ctx, "bad-packet", member->org_id, NULL, "reject", NULL, reason, 0,
                            NULL, 0);
}

//  ---------------------------------------------------------------------
//  Finding the parties of a message

//  The publish record of message id that names org as a recipient (or,
//  with or_publisher, as its publisher), and whether org itself published
//  a message of that id
typedef struct {
    const char *org;
    bool or_publisher;            //  the publisher is a party too
    Certbus__AuditRecord *record; //  the one that names org, or NULL
    uint8_t *bytes;               //  with want_bytes: a copy of its bytes
    size_t size;
    bool want_bytes;
    bool own; //  org published a message of that id
} s_find_t;

static int
s_find_party (void *arg, int64_t index, const uint8_t *bytes, size_t size)
{
    (void) index;
    s_find_t *find = arg;
    Certbus__AuditRecord *record = NULL;
    if (certbus_codec_decode (&certbus__audit_record__descriptor, bytes, size, CERTBUS_MAX_PACKET,
                              CERTBUS_MAX_REPEATED, (void **) &record))
        return 0;
    bool publisher = strcmp (record->org, find->org) == 0;
    find->own = find->own || publisher;
    bool party = find->or_publisher && publisher;
    for (size_t i = 0; i < record->n_recipients && !party; i++)
        party = strcmp (record->recipients [i], find->org) == 0;
    if (!party) {
        certbus_codec_free (record);
        return 0;
    }
    find->record = record;
    if (find->want_bytes) {
        find->bytes = certbus_malloc (size ? size : 1);
        memcpy (find->bytes, bytes, size);
        find->size = size;
    }
    return 1;
}

Certbus__AuditRecord *
broker_auditlog_delivered_to (broker_ctx_t *ctx, const uint8_t *id, const char *org, bool *own_p)
{
    s_find_t find = {.org = org};
    broker_store_audit_find_each (ctx->store, id, "publish", s_find_party, &find);
    if (own_p)
        *own_p = find.own;
    return find.record;
}

//  ---------------------------------------------------------------------
//  Tree heads and proofs

//  by head_records, when head_ms has passed since the last head, or when
//  forced (a proof needs one). Timestamps strictly increase.
int
broker_auditlog_issue_head (broker_ctx_t *ctx, bool force)
{
    broker_auditlog_t *self = ctx->auditlog;
    int64_t size = broker_auditlog_size (ctx);
    if (size <= 0 || (self->have_head && (uint64_t) size == self->head.size))
        return 0;
    int64_t now = certbus_now_ms ();
    bool due = force || !self->have_head
               || (uint64_t) size - self->head.size >= (uint64_t) ctx->config->head_records
               || now - self->head.timestamp >= ctx->config->head_ms;
    if (!due || broker_publish_in_txn (ctx))
        return 0;
    if (broker_tree_check (self->tree)) {
        snprintf (ctx->last_error, sizeof ctx->last_error, "tree head: %s", certbus_reason ());
        zsys_error ("broker: %s", ctx->last_error);
        return -1;
    }
    size = broker_auditlog_size (ctx); //  as reloaded, when it was
    certbus_tree_head_t head;
    head.size = (uint64_t) size;
    head.timestamp = self->have_head && now <= self->head.timestamp ? self->head.timestamp + 1
                                                                    : now;
    broker_tree_root (self->tree, head.root);
    size_t bytes_size;
    uint8_t *bytes = certbus_tree_head_sign (ctx->identity, &head, &bytes_size);
    int rc = -1;
    if (broker_store_begin (ctx->store) == 0) {
        if (broker_store_tree_head_add (ctx->store, &head, bytes, bytes_size) == 0
            && broker_store_commit (ctx->store) == 0)
            rc = 0;
        else
            broker_store_rollback (ctx->store);
    }
    free (bytes);
    if (rc == 0) {
        self->head = head;
        self->have_head = true;
    }
    else
        snprintf (ctx->last_error, sizeof ctx->last_error, "tree head: %s", certbus_reason ());
    return rc;
}

void
broker_auditlog_proof (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                       Certbus__ProofRequest *request)
{
    certbus_proof_reply_t reply = {0};
    uint8_t *record = NULL, *head_bytes = NULL;
    size_t record_size = 0, head_size = 0;
    uint8_t inclusion [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    uint8_t consistency [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t inclusion_len = 0, consistency_len = 0;
    int64_t index = -1;
    //  Only the publisher and the recipients of a message learn its
    //  record (its recipient list): anyone else gets the answer a message
    //  that does not exist gets
    s_find_t find = {.org = member->org_id, .or_publisher = true, .want_bytes = true};
    if (request->message_id.len == CERTBUS_ID_SIZE)
        index = broker_store_audit_find_each (ctx->store, request->message_id.data, "publish",
                                              s_find_party, &find);
    certbus_codec_free (find.record);
    record = find.bytes;
    record_size = find.size;
    if (index < 0) {
        reply.code = CERTBUS_E_NOT_FOUND;
        reply.reason = "no accepted publish of that message in the audit log that you took "
                       "part in";
        goto send;
    }
    if (!ctx->auditlog->have_head || ctx->auditlog->head.size <= (uint64_t) index)
        broker_auditlog_issue_head (ctx, true);
    certbus_tree_head_t head;
    if (broker_store_tree_head_latest (ctx->store, &head, &head_bytes, &head_size) != 1
        || head.size <= (uint64_t) index) {
        reply.code = CERTBUS_E_INTERNAL;
        reply.reason = "no tree head covers that record yet";
        goto send;
    }
    //  A member holding a larger head than ours gets no consistency proof:
    //  it must see for itself that this log was rolled back.
    if (request->old_size > head.size)
        request->old_size = 0;
    if (certbus_merkle_inclusion_proof (inclusion, &inclusion_len, (uint64_t) index, head.size,
                                        broker_store_node_get, ctx->store)
        || (request->old_size > 0
            && certbus_merkle_consistency_proof (consistency, &consistency_len, request->old_size,
                                                 head.size, broker_store_node_get, ctx->store))) {
        reply.code = CERTBUS_E_IO;
        reply.reason = certbus_reason ();
        goto send;
    }
    reply.leaf_index = (uint64_t) index;
    reply.leaf = record;
    reply.leaf_size = record_size;
    reply.tree_head = head_bytes;
    reply.tree_head_size = head_size;
    reply.inclusion = inclusion;
    reply.inclusion_count = inclusion_len / 32;
    reply.consistency = consistency;
    reply.consistency_count = consistency_len / 32;
send:
    certbus_packet_send_proof_reply (ctx->router, routing, &reply);
    free (record);
    free (head_bytes);
}
