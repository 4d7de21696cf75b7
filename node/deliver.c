/*  deliver.c - the node engine's deliveries: every one is verified and
    decrypted before it is stored, stored before it is acknowledged, and
    deduplicated by id; receipts back to senders; deliveries held for a
    newer directory; the acks a batch owes the broker
    SPDX-License-Identifier: MPL-2.0
*/
#include "engine_self.h"
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Inbox

//  Queues a signed receipt for the message we just stored, back to the
//  member that sent it to us. It travels through the outbox like any
//  publish, in the same transaction as the inbox row.
//  With refused, the receipt says that this node refused the message and
//  why (so the publisher's receipts show it), instead of that it stored it.
static void
s_queue_receipt (self_t *self, const certbus_header_t *header, const char *refused)
{
    const certbus_cert_t *sender = certbus_directory_find (self->ctx->directory, header->origin);
    if (!sender || !self->ctx->receipts || strcmp (header->kind, "receipt") == 0)
        return;
    char audience [CERTBUS_MAX_NAME + 8], id [CERTBUS_ID_STR_SIZE], when [40];
    snprintf (audience, sizeof audience, "org:%s", header->origin);
    certbus_id_format (header->id, id);
    certbus_time_format (certbus_now_ms (), when, sizeof when);
    certbus_sb_t json = {0};
    certbus_sb_printf (&json, "{\"receipt_for\":\"%s\",\"%s\":\"%s\"", id,
                       refused ? "at" : "stored", when);
    if (refused) {
        //  Bounded: the broker takes small receipts only
        char reason [256];
        snprintf (reason, sizeof reason, "%s", refused);
        certbus_sb_printf (&json, ",\"refused\":");
        certbus_sb_json_str (&json, reason);
    }
    certbus_sb_printf (&json, "}");
    const char *body = json.data;
    size_t len = json.len;
    certbus_ref_t ref = {.relation = "receipt-for"};
    memcpy (ref.id, header->id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = "receipt",
                                .tlp = "clear",
                                .audience = audience,
                                .severity = "info",
                                .content_type = "application/json",
                                .refs = &ref,
                                .ref_count = 1};
    char *recipient = (char *) header->origin;
    uint8_t receipt_id [CERTBUS_ID_SIZE], *bytes = NULL;
    size_t size;
    if (certbus_envelope_seal_to (self->ctx->identity, self->ctx->cert, self->ctx->directory, &opts,
                                  &recipient, 1, (const uint8_t *) body, len, receipt_id, &bytes,
                                  &size)
            == CERTBUS_OK
        && node_ctx_queue (self->ctx, bytes, size, NULL, 0) == 0)
        self->receipts_queued++;
    else
        zsys_warning ("node: cannot queue a receipt for %s: %s", id, certbus_reason ());
    free (bytes);
    certbus_sb_free (&json);
}

//  Keeps a receipt for something we published beside the outbox. Returns
//  1 when stored, 0 when malformed (ignored), -1 on error.
static int
s_store_receipt (self_t *self, const certbus_header_t *header, int64_t accepted_at,
                 const uint8_t *payload, size_t payload_size)
{
    int stored = -1;
    if (header->ref_count == 1 && strcmp (header->refs [0].relation, "receipt-for") == 0) {
        //  A receipt that says the recipient's node refused our message
        char refused [256] = "";
        if (payload && payload_size < 4096) {
            char *json = strndup ((const char *) payload, payload_size);
            certbus_json_string (json, "refused", refused, sizeof refused);
            free (json);
        }
        stored = node_store_receipt_add (self->ctx->store, header->refs [0].id, header->origin,
                                         accepted_at, *refused ? refused : NULL)
                     ? -1
                     : 1;
    }
    if (stored < 0)
        zsys_warning ("node: ignored a malformed receipt from %s", header->origin);
    return stored < 0 ? 0 : stored;
}

//  Files an opened message in the inbox (a forward under its origin, with
//  the chain) and sends its receipt. Returns 1 when stored, 0 for a
//  duplicate, -1 on error.
static int
s_store_message (self_t *self, const node_delivery_t *delivery, const certbus_header_t *header,
                 const certbus_forwarded_t *forwarded, const uint8_t *payload, size_t payload_size)
{
    char id [CERTBUS_ID_STR_SIZE];
    certbus_id_format (header->id, id);
    certbus_header_t filed = *header;
    const uint8_t *content = payload;
    size_t content_size = payload_size;
    if (forwarded) {
        const certbus_header_t *origin = certbus_envelope_header (forwarded->origin);
        filed = *origin;
        filed.audience = header->audience;
        content = forwarded->payload;
        content_size = forwarded->size;
    }
    //  Filed under the envelope's id, with the original's id beside it
    certbus_header_t row = filed;
    memcpy (row.id, header->id, CERTBUS_ID_SIZE);
    int stored
        = node_store_inbox_add (self->ctx->store, &row, forwarded ? forwarded->forwarders : NULL,
                                content, content_size, delivery->envelope, delivery->size,
                                delivery->accepted_at, delivery->sequence,
                                delivery->message_sequence, forwarded ? forwarded->note : NULL,
                                forwarded ? forwarded->note_size : 0, filed.id);
    if (stored >= 0)
        node_engine_keep_participants (self, node_case_of_filed (&row, filed.id),
                                       delivery->message_sequence, delivery->participants);
    if (stored == 1) {
        self->stats.delivered++;
        char *kind = certbus_term_escape (filed.kind);
        char *origin = certbus_term_escape (filed.origin);
        char *via = certbus_term_escape (forwarded ? forwarded->forwarders : "");
        zsys_info ("node: received %s id=%s origin=%s%s%s tlp=%s size=%zu", kind, id, origin,
                   forwarded ? " via " : "", via, filed.tlp, content_size);
        free (kind);
        free (origin);
        free (via);
        s_queue_receipt (self, header, NULL);
    }
    else if (stored == 0)
        self->stats.duplicates++;
    return stored;
}

//  Verifies, decrypts and stores one delivery. Returns 1 to acknowledge
//  it, 2 to acknowledge it as refused, 0 to hold it (for a newer
//  directory), -1 when it could not be stored.
//  While our directory is stale, every delivery is held: nothing is opened
//  with keys that a revocation may have withdrawn.
int
node_deliver (self_t *self, const node_delivery_t *delivery, bool may_hold, int *refused)
{
    uint64_t sequence = delivery->sequence;
    int64_t accepted_at = delivery->accepted_at;
    const uint8_t *bytes = delivery->envelope;
    size_t size = delivery->size;
    if (node_engine_directory_stale (self)) {
        if (self->stats.held_stale++ == 0)
            zsys_warning ("node: directory %llu is older than version %llu, which the broker "
                          "announced, and the newer one could not be fetched: holding deliveries",
                          (unsigned long long) node_engine_directory_have (self),
                          (unsigned long long) self->directory_known);
        return 0;
    }
    certbus_envelope_t *env = NULL;
    certbus_forwarded_t *forwarded = NULL;
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    certbus_err_t rc = CERTBUS_E_UNKNOWN_ORIGIN;
    if (self->ctx->directory)
        rc = certbus_envelope_open (bytes, size, self->ctx->directory, self->ctx->identity,
                                    self->ctx->org, accepted_at / 1000, &env, &payload,
                                    &payload_size);
    const certbus_header_t *header = env ? certbus_envelope_header (env) : NULL;
    if (rc == CERTBUS_OK && strcmp (header->content_type, CERTBUS_FORWARD_TYPE) == 0)
        rc = certbus_forward_open (self->ctx->directory, env, payload, payload_size, &forwarded);
    if (rc == CERTBUS_E_UNKNOWN_ORIGIN && may_hold) {
        certbus_envelope_destroy (&env);
        free (payload);
        return 0;
    }
    if (rc) {
        //  Refused, logged, never stored; acknowledged as refused so it is
        //  not resent, and the broker audits it as refused; the sender's
        //  receipts show it when we can still tell the sender
        (*refused)++;
        self->stats.refused++;
        char *reason = certbus_term_escape (certbus_reason ());
        if (header)
            s_queue_receipt (self, header, reason);
        snprintf (self->last_error, sizeof self->last_error, "refused delivery %llu: %s",
                  (unsigned long long) sequence, reason);
        zsys_warning ("node: refused delivery seq=%llu code=%s reason=\"%s\"",
                      (unsigned long long) sequence, certbus_err_name (rc), reason);
        free (reason);
        certbus_envelope_destroy (&env);
        free (payload);
        return 2;
    }
    int stored = strcmp (header->kind, "receipt") == 0
                     ? s_store_receipt (self, header, accepted_at, payload, payload_size)
                     : s_store_message (self, delivery, header, forwarded, payload, payload_size);
    certbus_forwarded_destroy (&forwarded);
    free (payload);
    certbus_envelope_destroy (&env);
    return stored >= 0 ? 1 : -1;
}

//  Appends value to the growable array at *array_p of *count_p values
//  (room for *cap_p), which starts at first_cap
static void
s_append (uint64_t **array_p, size_t *count_p, size_t *cap_p, size_t first_cap, uint64_t value)
{
    if (*count_p == *cap_p) {
        *cap_p = *cap_p ? *cap_p * 2 : first_cap;
        *array_p = certbus_realloc (*array_p, *cap_p, sizeof (uint64_t));
    }
    (*array_p) [(*count_p)++] = value;
}

void
node_acks_add (node_acks_t *acks, uint64_t sequence)
{
    s_append (&acks->sequences, &acks->count, &acks->cap, 64, sequence);
}

void
node_acks_refused (node_acks_t *acks, uint64_t sequence)
{
    s_append (&acks->refused_seqs, &acks->refused_count, &acks->refused_cap, 16, sequence);
}

void
node_acks_send (self_t *self, node_acks_t *acks)
{
    //  One batch can hold more deliveries than the broker's window (what
    //  was in flight before a reconnect, plus the new session's window, plus
    //  held deliveries), and the broker refuses an ack longer than the
    //  window: so the acks go in chunks of at most the window it granted.
    size_t chunk = self->ack_window > 0 ? (size_t) self->ack_window : NODE_DEFAULT_CREDIT;
    for (size_t at = 0; at < acks->count; at += chunk) {
        const uint64_t *seqs = acks->sequences + at;
        size_t count = acks->count - at < chunk ? acks->count - at : chunk;
        //  The refused ones of this chunk, named
        uint64_t *named = certbus_calloc (count, sizeof (uint64_t));
        size_t named_count = 0;
        for (size_t i = 0; i < count; i++)
            for (size_t r = 0; r < acks->refused_count; r++)
                if (acks->refused_seqs [r] == seqs [i]) {
                    named [named_count++] = seqs [i];
                    break;
                }
        certbus_packet_send_deliver_ack (self->dealer, NULL, seqs, count, named, named_count);
        free (named);
    }
    for (size_t i = 0; i < acks->pong_count; i++)
        certbus_packet_send_pong (self->dealer, NULL, acks->pongs [i]);
    free (acks->sequences);
    free (acks->refused_seqs);
    memset (acks, 0, sizeof *acks);
}

//  Offers the held deliveries to node_deliver again (after a directory
//  arrived); those it still holds stay, in order
void
node_deliver_retry_held (self_t *self, bool may_hold, node_acks_t *acks)
{
    zlist_t *still = zlist_new ();
    node_held_t *held;
    while ((held = zlist_pop (self->held))) {
        node_delivery_t delivery = {held->sequence,
                                    held->message_sequence,
                                    held->accepted_at,
                                    zchunk_data (held->envelope),
                                    zchunk_size (held->envelope),
                                    held->participants};
        int rc = node_deliver (self, &delivery, may_hold, &acks->refused);
        if (rc == 0) {
            zlist_append (still, held);
            continue;
        }
        if (rc >= 1)
            node_acks_add (acks, held->sequence);
        if (rc == 2)
            node_acks_refused (acks, held->sequence);
        zchunk_destroy (&held->envelope);
        free (held->participants);
        free (held);
    }
    zlist_destroy (&self->held);
    self->held = still;
}

//  Holds a delivery that cannot be opened yet, unacknowledged. The broker
//  sends at most its window before an ack, so the list stays small; past a
//  bound (a node held through reconnects) a delivery is dropped, still
//  unacknowledged, and the broker sends it again on the next session.
void
node_deliver_hold (self_t *self, const node_delivery_t *delivery)
{
    if (zlist_size (self->held) >= (size_t) self->config.credit * 4)
        return;
    node_held_t *held = certbus_calloc (1, sizeof *held);
    held->sequence = delivery->sequence;
    held->message_sequence = delivery->message_sequence;
    held->accepted_at = delivery->accepted_at;
    held->envelope = zchunk_new (delivery->envelope, delivery->size);
    held->participants = delivery->participants ? strdup (delivery->participants) : NULL;
    zlist_append (self->held, held);
}
