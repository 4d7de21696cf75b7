/*  engine.c - the node service's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    Owns the DEALER connection to the broker (CURVE), the outbox resend
    loop, and the inbox: every delivery is verified and decrypted before it
    is stored, stored before it is acknowledged, and deduplicated by id.
*/
#include "engine.h"
#include "context.h"
#include "link.h"
#include "outcome.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    zframe_t *routing;               //  CLI client waiting on the control socket
    uint8_t id [CERTBUS_ID_SIZE];    //  outbox row it waits for
    int64_t deadline;                //  unix ms, then answer "queued"
} s_waiter_t;

//  One delivery from the broker, as s_deliver takes it (borrowed)
typedef struct {
    uint64_t sequence;               //  broker delivery sequence
    uint64_t message_sequence;       //  broker message sequence
    int64_t accepted_at;             //  broker accept time, unix ms
    const uint8_t *envelope;
    size_t size;
    const char *participants;        //  the case's participants (comma list), or NULL
} s_delivery_t;

typedef struct {
    uint64_t sequence;               //  broker delivery sequence
    uint64_t message_sequence;
    int64_t accepted_at;
    zchunk_t *envelope;              //  held until a newer directory arrives
    char *participants;              //  as s_delivery_t, or NULL
} s_held_t;

typedef struct {
    node_config_t config;
    zsock_t *pipe;
    zsock_t *dealer;                 //  to the broker
    zsock_t *control;                //  CLI requests
    zpoller_t *poller;
    node_ctx_t *ctx;
    bool connected;                  //  the broker answered our hello
    int ack_window;                  //  most sequences one deliver-ack may list
    int64_t last_rx;                 //  last packet from the broker
    int64_t connect_at;              //  when the socket was last (re)made
    int64_t next_tick;
    int64_t next_resend;
    zlist_t *waiters;                //  s_waiter_t
    zlist_t *held;                   //  s_held_t, awaiting a directory
    int receipts_queued;             //  receipts added in this batch
    bool directory_requested;
    int64_t directory_asked_at;      //  when we last asked for the directory
    uint64_t directory_known;        //  the highest version the broker announced
    int64_t behind_since;            //  when we learned ours is older; 0 when it is not
    bool terminated;
    char last_error [256];
    struct {
        uint64_t delivered, duplicates, refused, published, rejected, reconnects;
        uint64_t held_stale;         //  deliveries held for a stale directory
    } stats;
} self_t;

void
node_config_defaults (node_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
    config->peer_timeout_ms = NODE_DEFAULT_PEER_TIMEOUT_MS;
    config->resend_ms = NODE_DEFAULT_RESEND_MS;
    config->credit = NODE_DEFAULT_CREDIT;
    config->directory_grace_ms = NODE_DEFAULT_DIRECTORY_GRACE_MS;
}

//  ---------------------------------------------------------------------
//  Directory freshness: a node that knows a newer directory exists (a
//  revocation, say) and cannot fetch it opens nothing after a grace time

static uint64_t
s_directory_have (self_t *self)
{
    return self->ctx->directory ? certbus_directory_serial (self->ctx->directory) : 0;
}

//  True when our directory is older than one the broker announced, and
//  the grace time to fetch it has run out
static bool
s_directory_stale (self_t *self)
{
    return self->behind_since
           && certbus_now_ms () - self->behind_since >= self->config.directory_grace_ms;
}

//  Notes the version the broker says it holds; persists a higher one, so
//  that the CLI (open) refuses too while the daemon is down
static void
s_directory_learn (self_t *self, uint64_t serial)
{
    if (serial > self->directory_known) {
        self->directory_known = serial;
        char text [32];
        snprintf (text, sizeof text, "%llu", (unsigned long long) serial);
        if (node_store_meta_set (self->ctx->store, NODE_META_DIRECTORY_KNOWN, text))
            zsys_warning ("node: %s", certbus_reason ());
    }
    bool behind = s_directory_have (self) < self->directory_known;
    if (!behind)
        self->behind_since = 0;
    else if (!self->behind_since)
        self->behind_since = certbus_now_ms ();
}

static void
s_send (self_t *self, Certbus__Packet *packet)
{
    node_link_send (self->dealer, packet);
}

static void
s_hello (self_t *self)
{
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.credit = (uint32_t) self->config.credit;
    hello.directory_serial
        = self->ctx->directory ? certbus_directory_serial (self->ctx->directory) : 0;
    hello.agent = "certbus-node " CERTBUS_VERSION;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    s_send (self, &packet);
}

static void
s_connect (self_t *self)
{
    if (self->dealer) {
        zpoller_remove (self->poller, self->dealer);
        zsock_destroy (&self->dealer);
        self->stats.reconnects++;
    }
    self->connected = false;
    //  Never block the engine: a full or absent connection fails the send
    node_link_opts_t opts = {.send_timeout_ms = 0,
                             .heartbeat_ms = self->config.heartbeat_ms,
                             .peer_timeout_ms = self->config.peer_timeout_ms};
    if (node_link_open (&self->dealer, self->ctx, &opts) != 0)
        snprintf (self->last_error, sizeof self->last_error, "cannot connect to %s",
                  self->ctx->endpoint);
    zpoller_add (self->poller, self->dealer);
    self->last_rx = self->connect_at = certbus_now_ms ();
    s_hello (self);
}

//  ---------------------------------------------------------------------
//  Outbox

static int
s_resend_one (void *arg, const node_outgoing_t *outgoing)
{
    self_t *self = arg;
    if (certbus_packet_send_publish (self->dealer, NULL, outgoing->envelope,
                                     outgoing->envelope_size)
        != 0)
        return 1;   //  socket full or not connected: stop for now
    node_store_outbox_sent (self->ctx->store, outgoing->id, certbus_now_ms ());
    return 0;
}

//  Sends pending outbox rows last sent before sent_before, at most limit
//  of them, so a large outbox cannot stall deliveries for long.
static void
s_resend (self_t *self, int64_t sent_before, int limit)
{
    if (!self->connected)
        return;
    //  One transaction for the "sent" marks, which need no fsync: they
    //  pace resends only
    bool own_txn = !node_store_in_txn (self->ctx->store);
    if (own_txn) {
        node_store_set_durable (self->ctx->store, false);
        own_txn = node_store_begin (self->ctx->store) == 0;
    }
    node_store_outbox_pending (self->ctx->store, sent_before, limit, s_resend_one, self);
    if (own_txn && node_store_commit (self->ctx->store) != 0)
        zsys_warning ("node: %s", certbus_reason ());
    if (!node_store_in_txn (self->ctx->store))
        node_store_set_durable (self->ctx->store, true);
}

//  Answers a control request with an outcome: state, code, reason, rule
static void
s_answer (self_t *self, zframe_t **routing_p, node_outcome_t outcome, uint32_t code,
          const char *reason, const char *rule)
{
    zframe_send (routing_p, self->control, ZFRAME_MORE);
    zstr_sendm (self->control, node_outcome_name (outcome));
    zstr_sendfm (self->control, "%u", code);
    zstr_sendm (self->control, reason ? reason : "");
    zstr_send (self->control, rule ? rule : "");
}

static void
s_answer_waiters (self_t *self, bool expire_all)
{
    int64_t now = certbus_now_ms ();
    s_waiter_t *waiter = zlist_first (self->waiters);
    while (waiter) {
        node_outbox_state_t state = NODE_OUTBOX_PENDING;
        char *reason = NULL, *rule = NULL;
        uint32_t code = 0;
        int found = node_store_outbox_get (self->ctx->store, waiter->id, &state, &code, &reason,
                                           &rule);
        bool done = found == 1 && state != NODE_OUTBOX_PENDING;
        node_outcome_t outcome = node_outcome_from_outbox (state);
        if (!done && (expire_all || now >= waiter->deadline)) {
            outcome = found == 1 ? NODE_OUTCOME_QUEUED : NODE_OUTCOME_ERROR;
            free (reason);
            reason = strdup (self->connected ? "no answer from the broker yet"
                                             : "no broker reachable");
            done = true;
        }
        s_waiter_t *next = zlist_next (self->waiters);
        if (done) {
            s_answer (self, &waiter->routing, outcome, code, reason, rule);
            zlist_remove (self->waiters, waiter);
            free (waiter);
        }
        free (reason);
        free (rule);
        waiter = next;
    }
}

//  Keeps the broker's participant list of the delivery's case (when it
//  names only valid org ids)
static void
s_keep_participants (self_t *self, const uint8_t *case_id, uint64_t seq, const char *list)
{
    if (!case_id || !list || !*list)
        return;
    int rc = node_store_case_participants_set (self->ctx->store, case_id, seq, list);
    if (rc)
        zsys_warning ("node: %s", certbus_reason ());
}

static void
s_handle_puback (self_t *self, Certbus__PubAck *ack)
{
    if (ack->message_id.len != CERTBUS_ID_SIZE)
        return;
    node_outcome_t outcome = node_puback_outcome (ack);
    if (outcome == NODE_OUTCOME_QUEUED) {
        //  The broker could not store it: it stays pending and is resent
        snprintf (self->last_error, sizeof self->last_error, "broker: %s", ack->reason);
        return;
    }
    node_store_outbox_result (self->ctx->store, ack->message_id.data,
                              node_outcome_outbox_state (outcome), ack->code, ack->reason,
                              ack->rule, ack->sequence, ack->accepted_at);
    if (node_outcome_accepted (outcome) && ack->n_participants) {
        char *list = node_participants_join (ack->participants, ack->n_participants);
        uint8_t case_id [CERTBUS_ID_SIZE];
        if (list && node_store_outbox_case (self->ctx->store, ack->message_id.data, case_id) == 1)
            s_keep_participants (self, case_id, ack->sequence, list);
        free (list);
    }
    char id [CERTBUS_ID_STR_SIZE];
    certbus_id_format (ack->message_id.data, id);
    if (outcome == NODE_OUTCOME_REJECTED) {
        self->stats.rejected++;
        char *reason = certbus_term_escape (ack->reason), *rule = certbus_term_escape (ack->rule);
        zsys_notice ("node: publish %s rejected: %s (%s)%s%s", id, reason,
                     certbus_err_name (ack->code), *rule ? " rule=" : "", rule);
        free (reason);
        free (rule);
    }
    else
        self->stats.published++;
    s_answer_waiters (self, false);
}

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
    if (certbus_envelope_seal_to (self->ctx->identity, self->ctx->cert, self->ctx->directory,
                                  &opts, &recipient, 1, (const uint8_t *) body, len,
                                  receipt_id, &bytes, &size)
            == CERTBUS_OK
        && node_ctx_queue (self->ctx, bytes, size, NULL, 0) == 0)
        self->receipts_queued++;
    else
        zsys_warning ("node: cannot queue a receipt for %s: %s", id, certbus_reason ());
    free (bytes);
    certbus_sb_free (&json);
}

//  Verifies, decrypts and stores one delivery. Returns 1 to acknowledge
//  it, 2 to acknowledge it as refused, 0 to hold it (for a newer
//  directory), -1 when it could not be stored.
//  While our directory is stale, every delivery is held: nothing is opened
//  with keys that a revocation may have withdrawn.
static int
s_deliver (self_t *self, const s_delivery_t *delivery, bool may_hold, int *refused)
{
    uint64_t sequence = delivery->sequence;
    int64_t accepted_at = delivery->accepted_at;
    const uint8_t *bytes = delivery->envelope;
    size_t size = delivery->size;
    if (s_directory_stale (self)) {
        if (self->stats.held_stale++ == 0)
            zsys_warning ("node: directory %llu is older than version %llu, which the broker "
                          "announced, and the newer one could not be fetched: holding deliveries",
                          (unsigned long long) s_directory_have (self),
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
    int stored;
    char id [CERTBUS_ID_STR_SIZE];
    certbus_id_format (header->id, id);
    if (strcmp (header->kind, "receipt") == 0) {
        //  A receipt for something we published: kept beside the outbox
        stored = -1;
        if (header->ref_count == 1 && strcmp (header->refs [0].relation, "receipt-for") == 0)
        {
            //  A receipt that says the recipient's node refused our message
            char refused [256] = "";
            if (payload && payload_size < 4096) {
                char *json = strndup ((const char *) payload, payload_size);
                certbus_json_string (json, "refused", refused, sizeof refused);
                free (json);
            }
            stored = node_store_receipt_add (self->ctx->store, header->refs [0].id,
                                             header->origin, accepted_at,
                                             *refused ? refused : NULL)
                         ? -1
                         : 1;
        }
        if (stored < 0)
            zsys_warning ("node: ignored a malformed receipt from %s", header->origin);
        stored = stored < 0 ? 0 : stored;
    }
    else {
        //  A forwarded message is filed under its origin, with the chain
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
        stored = node_store_inbox_add (self->ctx->store, &row,
                                       forwarded ? forwarded->forwarders : NULL, content,
                                       content_size, bytes, size, accepted_at, sequence,
                                       delivery->message_sequence,
                                       forwarded ? forwarded->note : NULL,
                                       forwarded ? forwarded->note_size : 0, filed.id);
        if (stored >= 0)
            s_keep_participants (self, node_case_of_filed (&row, filed.id),
                                 delivery->message_sequence, delivery->participants);
        if (stored == 1) {
            self->stats.delivered++;
            char *kind = certbus_term_escape (filed.kind);
            char *origin = certbus_term_escape (filed.origin);
            char *via = certbus_term_escape (forwarded ? forwarded->forwarders : "");
            zsys_info ("node: received %s id=%s origin=%s%s%s tlp=%s size=%zu", kind, id,
                       origin, forwarded ? " via " : "", via, filed.tlp, content_size);
            free (kind);
            free (origin);
            free (via);
            s_queue_receipt (self, header, NULL);
        }
        else if (stored == 0)
            self->stats.duplicates++;
    }
    certbus_forwarded_destroy (&forwarded);
    free (payload);
    certbus_envelope_destroy (&env);
    return stored >= 0 ? 1 : -1;
}

//  What one batch of broker packets owes the broker, sent once the batch
//  is committed: deliver-acks, then the pongs of the pings in the batch,
//  so that a pong tells the broker everything before its ping is handled
typedef struct {
    uint64_t *sequences;
    size_t count;
    size_t cap;
    int refused;
    uint64_t *refused_seqs;          //  which of them were refused
    size_t refused_count, refused_cap;
    int64_t pongs [16];              //  ping times to answer
    size_t pong_count;
} s_acks_t;

static void
s_ack_add (s_acks_t *acks, uint64_t sequence)
{
    if (acks->count == acks->cap) {
        acks->cap = acks->cap ? acks->cap * 2 : 64;
        acks->sequences = realloc (acks->sequences, acks->cap * sizeof (uint64_t));
        if (!acks->sequences)
            abort ();
    }
    acks->sequences [acks->count++] = sequence;
}

static void
s_refused_add (s_acks_t *acks, uint64_t sequence)
{
    if (acks->refused_count == acks->refused_cap) {
        acks->refused_cap = acks->refused_cap ? acks->refused_cap * 2 : 16;
        acks->refused_seqs = realloc (acks->refused_seqs, acks->refused_cap * sizeof (uint64_t));
        if (!acks->refused_seqs)
            abort ();
    }
    acks->refused_seqs [acks->refused_count++] = sequence;
}

static void
s_acks_send (self_t *self, s_acks_t *acks)
{
    //  One batch can hold more deliveries than the broker's window (what
    //  was in flight before a reconnect, plus the new session's window, plus
    //  held deliveries), and the broker refuses an ack longer than the
    //  window: so the acks go in chunks of at most the window it granted.
    size_t chunk = self->ack_window > 0 ? (size_t) self->ack_window : NODE_DEFAULT_CREDIT;
    for (size_t at = 0; at < acks->count; at += chunk) {
        Certbus__DeliverAck ack = CERTBUS__DELIVER_ACK__INIT;
        ack.sequences = acks->sequences + at;
        ack.n_sequences = acks->count - at < chunk ? acks->count - at : chunk;
        //  The refused ones of this chunk, named
        uint64_t *named = calloc (ack.n_sequences, sizeof (uint64_t));
        if (!named)
            abort ();
        for (size_t i = 0; i < ack.n_sequences; i++)
            for (size_t r = 0; r < acks->refused_count; r++)
                if (acks->refused_seqs [r] == ack.sequences [i]) {
                    named [ack.n_refused_sequences++] = ack.sequences [i];
                    break;
                }
        ack.refused_sequences = named;
        ack.refused = (uint32_t) ack.n_refused_sequences;
        Certbus__Packet packet = CERTBUS__PACKET__INIT;
        packet.body_case = CERTBUS__PACKET__BODY_DELIVER_ACK;
        packet.deliver_ack = &ack;
        s_send (self, &packet);
        free (named);
    }
    for (size_t i = 0; i < acks->pong_count; i++) {
        Certbus__Pong pong = CERTBUS__PONG__INIT;
        pong.time = acks->pongs [i];
        Certbus__Packet reply = CERTBUS__PACKET__INIT;
        reply.body_case = CERTBUS__PACKET__BODY_PONG;
        reply.pong = &pong;
        s_send (self, &reply);
    }
    free (acks->sequences);
    free (acks->refused_seqs);
    memset (acks, 0, sizeof *acks);
}

static void
s_request_directory (self_t *self)
{
    if (self->directory_requested)
        return;
    self->directory_requested = true;
    self->directory_asked_at = certbus_now_ms ();
    Certbus__DirectoryRequest request = CERTBUS__DIRECTORY_REQUEST__INIT;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REQUEST;
    packet.directory_request = &request;
    s_send (self, &packet);
}

//  Offers the held deliveries to s_deliver again (after a directory
//  arrived); those it still holds stay, in order
static void
s_retry_held (self_t *self, bool may_hold, s_acks_t *acks)
{
    zlist_t *still = zlist_new ();
    s_held_t *held;
    while ((held = zlist_pop (self->held))) {
        s_delivery_t delivery = {held->sequence, held->message_sequence, held->accepted_at,
                                 zchunk_data (held->envelope), zchunk_size (held->envelope),
                                 held->participants};
        int rc = s_deliver (self, &delivery, may_hold, &acks->refused);
        if (rc == 0) {
            zlist_append (still, held);
            continue;
        }
        if (rc >= 1)
            s_ack_add (acks, held->sequence);
        if (rc == 2)
            s_refused_add (acks, held->sequence);
        zchunk_destroy (&held->envelope);
        free (held->participants);
        free (held);
    }
    zlist_destroy (&self->held);
    self->held = still;
}

static void
s_handle_directory (self_t *self, Certbus__DirectoryReply *reply, s_acks_t *acks)
{
    self->directory_requested = false;
    certbus_err_t rc
        = node_ctx_set_directory (self->ctx, reply->directory.data, reply->directory.len);
    if (rc == CERTBUS_OK)
        zsys_info ("node: directory version %llu",
                   (unsigned long long) certbus_directory_serial (self->ctx->directory));
    else if (rc != CERTBUS_E_DIRECTORY_OLD) {
        snprintf (self->last_error, sizeof self->last_error, "directory refused: %s",
                  certbus_reason ());
        zsys_warning ("node: directory refused: %s", certbus_reason ());
    }
    //  A directory the Council signed is proof that its version exists
    s_directory_learn (self, s_directory_have (self));
    if (!self->behind_since && strncmp (self->last_error, "directory ", 10) == 0)
        self->last_error [0] = 0;
    //  Held deliveries get their last chance with the newest directory,
    //  unless ours is still older than one the broker announced
    s_retry_held (self, false, acks);
}

//  Holds a delivery that cannot be opened yet, unacknowledged. The broker
//  sends at most its window before an ack, so the list stays small; past a
//  bound (a node held through reconnects) a delivery is dropped, still
//  unacknowledged, and the broker sends it again on the next session.
static void
s_hold (self_t *self, const s_delivery_t *delivery)
{
    if (zlist_size (self->held) >= (size_t) self->config.credit * 4)
        return;
    s_held_t *held = calloc (1, sizeof *held);
    if (!held)
        abort ();
    held->sequence = delivery->sequence;
    held->message_sequence = delivery->message_sequence;
    held->accepted_at = delivery->accepted_at;
    held->envelope = zchunk_new (delivery->envelope, delivery->size);
    held->participants = delivery->participants ? strdup (delivery->participants) : NULL;
    zlist_append (self->held, held);
}

//  ---------------------------------------------------------------------
//  Broker packets

static void
s_handle_packet (self_t *self, Certbus__Packet *packet, s_acks_t *acks)
{
    self->last_rx = certbus_now_ms ();
    switch (packet->body_case) {
        case CERTBUS__PACKET__BODY_HELLO:
            if (!self->connected)
                zsys_info ("node: connected to %s (broker directory %llu)", self->ctx->endpoint,
                           (unsigned long long) packet->hello->directory_serial);
            self->connected = true;
            self->last_error [0] = 0;
            self->ack_window = self->config.credit;
            if (packet->hello->credit > 0 && (int) packet->hello->credit < self->ack_window)
                self->ack_window = (int) packet->hello->credit;
            s_directory_learn (self, packet->hello->directory_serial);
            if (!self->ctx->directory || self->behind_since)
                s_request_directory (self);
            s_resend (self, INT64_MAX, 5000);
            break;
        case CERTBUS__PACKET__BODY_PUBACK:
            s_handle_puback (self, packet->puback);
            break;
        case CERTBUS__PACKET__BODY_DELIVER: {
            Certbus__Deliver *deliver = packet->deliver;
            char *participants
                = deliver->n_participants
                      ? node_participants_join (deliver->participants, deliver->n_participants)
                      : NULL;
            s_delivery_t delivery = {deliver->sequence,      deliver->message_sequence,
                                     deliver->accepted_at,   deliver->envelope.data,
                                     deliver->envelope.len, participants};
            int rc = s_deliver (self, &delivery, true, &acks->refused);
            if (rc >= 1)
                s_ack_add (acks, deliver->sequence);
            if (rc == 2)
                s_refused_add (acks, deliver->sequence);
            else if (rc == 0) {
                s_hold (self, &delivery);
                s_request_directory (self);
            }
            free (participants);
            break;
        }
        case CERTBUS__PACKET__BODY_DIRECTORY_REPLY:
            s_handle_directory (self, packet->directory_reply, acks);
            break;
        case CERTBUS__PACKET__BODY_PING: {
            //  The broker announces its directory version: a revocation
            //  reaches us even when its pushed directory did not
            s_directory_learn (self, packet->ping->directory_serial);
            if (self->behind_since)
                s_request_directory (self);
            if (acks->pong_count < sizeof acks->pongs / sizeof acks->pongs [0])
                acks->pongs [acks->pong_count++] = packet->ping->time;
            break;
        }
        case CERTBUS__PACKET__BODY_PONG:
            break;
        case CERTBUS__PACKET__BODY_ERROR: {
            char *reason = certbus_term_escape (packet->error->reason);
            snprintf (self->last_error, sizeof self->last_error, "broker: %s", reason);
            if (packet->error->code == CERTBUS_E_PROTOCOL && self->connected) {
                //  The broker lost our session (it restarted): say hello again
                self->connected = false;
                s_hello (self);
            }
            else if (packet->error->code == CERTBUS_E_REVOKED) {
                self->connected = false;
                zsys_error ("node: the broker refused us: %s", reason);
            }
            else
                zsys_warning ("node: broker error: %s", reason);
            free (reason);
            break;
        }
        default:
            zsys_warning ("node: unexpected %s packet from the broker",
                          certbus_packet_name (packet));
    }
}

static void
s_handle_dealer (self_t *self)
{
    s_acks_t acks = {0};
    bool in_txn = node_store_begin (self->ctx->store) == 0;
    for (int n = 0; n < 256 && (zsock_events (self->dealer) & ZMQ_POLLIN); n++) {
        zframe_t *frame = zframe_recv (self->dealer);
        if (!frame)
            break;
        Certbus__Packet *packet = NULL;
        if (certbus_packet_decode (frame, &packet) == CERTBUS_OK)
            s_handle_packet (self, packet, &acks);
        else
            zsys_warning ("node: bad packet from the broker: %s", certbus_reason ());
        certbus_codec_free (packet);
        zframe_destroy (&frame);
    }
    //  Acknowledge only what is committed
    bool failed = in_txn && node_store_commit (self->ctx->store) != 0;
    if (failed) {
        snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
        zsys_error ("node: cannot store deliveries: %s", certbus_reason ());
        acks.count = 0;     //  nothing acknowledged; the pongs still go
        acks.refused = 0;
    }
    s_acks_send (self, &acks);
    if (!failed && self->receipts_queued) {
        self->receipts_queued = 0;
        s_resend (self, 1, 1000);   //  rows never sent yet
    }
}

//  ---------------------------------------------------------------------
//  Control and status

static char *
s_status_json (self_t *self)
{
    if (s_directory_stale (self))
        snprintf (self->last_error, sizeof self->last_error,
                  "directory %llu is older than version %llu, which the broker announced, and "
                  "the newer one could not be fetched: deliveries are held",
                  (unsigned long long) s_directory_have (self),
                  (unsigned long long) self->directory_known);
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb, "{\"org\":");
    certbus_sb_json_str (&sb, self->ctx->org);
    certbus_sb_printf (&sb, ",\"running\":true,\"broker\":");
    certbus_sb_json_str (&sb, self->ctx->endpoint);
    certbus_sb_printf (
        &sb,
        ",\"connected\":%s,\"broker_silent_ms\":%lld,\"directory\":%llu,"
        "\"outbox_pending\":%lld,\"outbox_rejected\":%lld,\"inbox\":%lld,\"delivered\":%llu,"
        "\"duplicates\":%llu,\"refused\":%llu,\"published\":%llu,\"reconnects\":%llu,"
        "\"held\":%zu,\"directory_known\":%llu,\"directory_stale\":%s,\"last_error\":",
        self->connected ? "true" : "false", (long long) (certbus_now_ms () - self->last_rx),
        (unsigned long long) (self->ctx->directory
                                  ? certbus_directory_serial (self->ctx->directory)
                                  : 0),
        (long long) node_store_outbox_count (self->ctx->store, NODE_OUTBOX_PENDING),
        (long long) node_store_outbox_count (self->ctx->store, NODE_OUTBOX_REJECTED),
        (long long) node_store_inbox_count (self->ctx->store),
        (unsigned long long) self->stats.delivered, (unsigned long long) self->stats.duplicates,
        (unsigned long long) self->stats.refused, (unsigned long long) self->stats.published,
        (unsigned long long) self->stats.reconnects, zlist_size (self->held),
        (unsigned long long) self->directory_known, s_directory_stale (self) ? "true" : "false");
    certbus_sb_json_str (&sb, self->last_error);
    certbus_sb_printf (&sb, "}");
    return sb.data;
}

//  A SEND or QUEUE request of a control batch
typedef struct {
    zframe_t *routing;
    uint8_t id [CERTBUS_ID_SIZE];
    int wait_ms;
    bool queue;                      //  QUEUE: its envelope went into the outbox
} s_request_t;

#define s_CONTROL_BATCH 256

//  Handles a batch of control requests. QUEUE hands over a sealed
//  envelope: the daemon, the only writer while it runs, puts the batch's
//  envelopes into the outbox in one transaction (one fsync for many
//  publishers), and only once that is durable sends them and starts
//  waiting for the broker's answers. SEND does the same for an envelope
//  already in the outbox.
static void
s_handle_control (self_t *self)
{
    s_request_t *requests = calloc (s_CONTROL_BATCH, sizeof (s_request_t));
    if (!requests)
        abort ();
    size_t count = 0;
    bool in_txn = false;
    for (int n = 0; n < s_CONTROL_BATCH && (zsock_events (self->control) & ZMQ_POLLIN); n++) {
        zmsg_t *msg = zmsg_recv (self->control);
        if (!msg)
            break;
        zframe_t *routing = zmsg_pop (msg);
        char *command = zmsg_popstr (msg);
        bool queue = command && streq (command, "QUEUE") && zmsg_size (msg) == 4;
        bool send = command && streq (command, "SEND") && zmsg_size (msg) == 2;
        zframe_t *id = (queue || send) ? zmsg_pop (msg) : NULL;
        if (id && zframe_size (id) == CERTBUS_ID_SIZE) {
            int rc = 0;
            if (queue) {
                zframe_t *envelope = zmsg_pop (msg), *payload = zmsg_pop (msg);
                if (!in_txn)
                    in_txn = node_store_begin (self->ctx->store) == 0;
                rc = node_ctx_queue (self->ctx, zframe_data (envelope), zframe_size (envelope),
                                     zframe_size (payload) ? zframe_data (payload) : NULL,
                                     zframe_size (payload));
                zframe_destroy (&envelope);
                zframe_destroy (&payload);
            }
            char *wait = zmsg_popstr (msg);
            if (rc != 0)
                s_answer (self, &routing, NODE_OUTCOME_ERROR, CERTBUS_E_IO, certbus_reason (), NULL);
            else {
                s_request_t *request = &requests [count++];
                request->routing = routing;
                routing = NULL;
                memcpy (request->id, zframe_data (id), CERTBUS_ID_SIZE);
                request->wait_ms = wait ? atoi (wait) : 0;
                request->queue = queue;
            }
            zstr_free (&wait);
        }
        else if (command && streq (command, "STATUS")) {
            char *json = s_status_json (self);
            zframe_send (&routing, self->control, ZFRAME_MORE);
            zstr_send (self->control, json);
            free (json);
        }
        else {
            zframe_send (&routing, self->control, ZFRAME_MORE);
            zstr_send (self->control, "error");
        }
        zframe_destroy (&id);
        zframe_destroy (&routing);
        zstr_free (&command);
        zmsg_destroy (&msg);
    }
    bool committed = !in_txn || node_store_commit (self->ctx->store) == 0;
    for (size_t i = 0; i < count; i++) {
        s_request_t *request = &requests [i];
        if (request->queue && !committed) {
            //  Nothing of the batch reached the outbox
            s_answer (self, &request->routing, NODE_OUTCOME_ERROR, CERTBUS_E_IO, certbus_reason (), NULL);
            continue;
        }
        s_waiter_t *waiter = calloc (1, sizeof *waiter);
        if (!waiter)
            abort ();
        waiter->routing = request->routing;
        memcpy (waiter->id, request->id, CERTBUS_ID_SIZE);
        waiter->deadline = certbus_now_ms () + request->wait_ms;
        zlist_append (self->waiters, waiter);
        if (self->connected) {
            //  a lone "sent" mark: it paces resends only, so it needs no
            //  fsync, and a lost one merely means one more resend
            node_store_set_durable (self->ctx->store, false);
            node_store_outbox_one (self->ctx->store, waiter->id, s_resend_one, self);
            node_store_set_durable (self->ctx->store, true);
        }
    }
    free (requests);
    s_answer_waiters (self, false);
}

static void
s_tick (self_t *self)
{
    int64_t now = certbus_now_ms ();
    s_answer_waiters (self, false);
    if (now < self->next_tick)
        return;
    self->next_tick = now + self->config.heartbeat_ms;
    //  A refused handshake (say, our certificate reached the broker a moment
    //  after we first knocked) is retried on a fresh socket, with backoff
    int64_t patience = 2 * self->config.heartbeat_ms * (1 + (int64_t) self->stats.reconnects % 4);
    if (!self->connected && now - self->connect_at > patience) {
        s_connect (self);
        return;
    }
    if (now - self->last_rx > self->config.peer_timeout_ms) {
        if (self->connected)
            zsys_notice ("node: broker silent for %lld ms: reconnecting",
                         (long long) (now - self->last_rx));
        s_connect (self);
        return;
    }
    if (!self->connected)
        s_hello (self);
    else {
        Certbus__Ping ping = CERTBUS__PING__INIT;
        ping.time = now;
        Certbus__Packet packet = CERTBUS__PACKET__INIT;
        packet.body_case = CERTBUS__PACKET__BODY_PING;
        packet.ping = &ping;
        s_send (self, &packet);
    }
    if (now >= self->next_resend) {
        self->next_resend = now + self->config.resend_ms;
        s_resend (self, now - self->config.resend_ms, 2000);
    }
    //  A directory request that got no answer is asked again
    if (self->directory_requested && now - self->directory_asked_at > 2 * self->config.heartbeat_ms)
        self->directory_requested = false;
    if ((zlist_size (self->held) || self->behind_since) && !self->directory_requested
        && self->connected)
        s_request_directory (self);
}

void
node_engine_actor (zsock_t *pipe, void *args)
{
    certbus_init ();
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->pipe = pipe;
    self->config = *(node_config_t *) args;
    self->waiters = zlist_new ();
    self->held = zlist_new ();
    zsock_signal (pipe, 0);
    self->ctx = node_ctx_open (self->config.dir, true);
    char *endpoint = self->ctx ? node_control_endpoint (self->config.dir) : NULL;
    if (self->ctx && endpoint) {
        self->control = zsock_new (ZMQ_ROUTER);
        char *path = node_path (self->config.dir, NODE_CONTROL);
        if (zsock_bind (self->control, "%s", endpoint) != 0) {
            certbus_fail (CERTBUS_E_EXISTS,
                          "cannot bind %s: is certbus-node run already running here?", endpoint);
            zsock_destroy (&self->control);
        }
        //  Only our own user may talk to the daemon, whatever the umask
        //  (the folder is 0700 too, which covers the moment before this)
        else if (chmod (path, 0600) != 0) {
            certbus_fail (CERTBUS_E_IO, "cannot restrict %s to mode 0600", path);
            zsock_destroy (&self->control);
        }
        free (path);
        char *known = node_store_meta_get (self->ctx->store, NODE_META_DIRECTORY_KNOWN);
        s_directory_learn (self, known ? strtoull (known, NULL, 10) : 0);
        free (known);
    }
    else if (self->ctx)
        certbus_fail (CERTBUS_E_IO, "folder path too long for a control socket");
    if (!self->ctx || !self->control) {
        zstr_sendf (pipe, "ERROR %s", certbus_reason ());
        char *command = zstr_recv (pipe);
        zstr_free (&command);
    }
    else {
        self->poller = zpoller_new (pipe, self->control, NULL);
        s_connect (self);
        zsys_info ("node: %s (%s) running, broker %s", self->ctx->org,
                   certbus_identity_fingerprint (self->ctx->identity), self->ctx->endpoint);
        zstr_send (pipe, "READY");
        while (!self->terminated) {
            void *which = zpoller_wait (self->poller, 100);
            if (which == pipe) {
                char *command = zstr_recv (pipe);
                if (!command || streq (command, "$TERM"))
                    self->terminated = true;
                else if (streq (command, "STATUS")) {
                    char *json = s_status_json (self);
                    zstr_send (pipe, json);
                    free (json);
                }
                else
                    zstr_send (pipe, "error");
                zstr_free (&command);
            }
            else if (which == self->control)
                s_handle_control (self);
            if (zsock_events (self->dealer) & ZMQ_POLLIN)
                s_handle_dealer (self);
            s_tick (self);
            if (zpoller_terminated (self->poller))
                break;
        }
        s_answer_waiters (self, true);
        zpoller_destroy (&self->poller);
    }
    free (endpoint);
    s_held_t *held;
    while ((held = zlist_pop (self->held))) {
        zchunk_destroy (&held->envelope);
        free (held->participants);
        free (held);
    }
    zlist_destroy (&self->held);
    s_waiter_t *waiter;
    while ((waiter = zlist_pop (self->waiters))) {
        zframe_destroy (&waiter->routing);
        free (waiter);
    }
    zlist_destroy (&self->waiters);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->control);
    node_ctx_destroy (&self->ctx);
    free (self);
}
