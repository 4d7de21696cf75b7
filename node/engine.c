/*  engine.c - the node service's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    Owns the link to the broker (the session: hello, ping, reconnects),
    the outbox resend loop and the directory's freshness. Deliveries are
    in deliver.c, the control socket in engine_control.c; the state they
    share is in engine_self.h.
*/
#include "engine_self.h"
#include "link.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

uint64_t
node_engine_directory_have (self_t *self)
{
    return self->ctx->directory ? certbus_directory_serial (self->ctx->directory) : 0;
}

//  True when our directory is older than one the broker announced, and
//  the grace time to fetch it has run out
bool
node_engine_directory_stale (self_t *self)
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
    bool behind = node_engine_directory_have (self) < self->directory_known;
    if (!behind)
        self->behind_since = 0;
    else if (!self->behind_since)
        self->behind_since = certbus_now_ms ();
}

static void
s_hello (self_t *self)
{
    uint64_t serial = self->ctx->directory ? certbus_directory_serial (self->ctx->directory) : 0;
    certbus_packet_send_hello (self->dealer, NULL, (uint32_t) self->config.credit, serial,
                               "certbus-node " CERTBUS_VERSION);
}

//  ---------------------------------------------------------------------
//  The session: one dealer, to one endpoint at a time
//
//  A node may list several endpoints of one broker identity (a broker
//  pair: the active one serves, the standby does not bind). It starts with
//  the first of its list each time it starts, stays on the one that
//  answers, and when that one refuses, drops the connection, gives no
//  welcome within the patience or falls silent past the peer timeout, it
//  moves to the next one of the list, wrapping around. A refusal or a drop
//  is seen at once (a watch on the dealer) rather than at the next tick.
//  The first round goes without a pause; then, while a standby takes over
//  (about a second), each move waits s_ROUND_PAUSE_MS, and after
//  s_FAST_ROUNDS unanswered rounds a little longer at each round, up to
//  s_ROUND_PAUSE_MAX_MS, so that a node whose brokers are all down does
//  not spin. With a single endpoint there is no watch and the node
//  reconnects to it, as always.

#define s_ROUND_PAUSE_MS 100      //  pause before a move after the first round
#define s_FAST_ROUNDS 10          //  rounds at that pause, then it grows
#define s_ROUND_PAUSE_MAX_MS 1000 //  up to this

//  The endpoint the dealer dials (borrowed)
static const char *
s_endpoint (self_t *self)
{
    return node_endpoints_at (self->ctx->endpoints, self->current);
}

static size_t
s_endpoint_count (self_t *self)
{
    return node_endpoints_count (self->ctx->endpoints);
}

static void
s_connect (self_t *self)
{
    if (self->dealer) {
        zpoller_remove (self->poller, self->dealer);
        if (self->watch)
            zpoller_remove (self->poller, self->watch);
        node_link_unwatch (&self->watch, self->dealer);
        zsock_destroy (&self->dealer);
        self->stats.reconnects++;
    }
    self->connected = false;
    self->move_at = 0;
    //  Never block the engine: a full or absent connection fails the send
    node_link_opts_t opts = {.send_timeout_ms = 0,
                             .heartbeat_ms = self->config.heartbeat_ms,
                             .peer_timeout_ms = self->config.peer_timeout_ms};
    zsock_t **watch_p = s_endpoint_count (self) > 1 ? &self->watch : NULL;
    if (node_link_open (&self->dealer, watch_p, self->ctx, s_endpoint (self), &opts) != 0)
        snprintf (self->last_error, sizeof self->last_error, "cannot connect to %s",
                  s_endpoint (self));
    zpoller_add (self->poller, self->dealer);
    if (self->watch)
        zpoller_add (self->poller, self->watch);
    self->last_rx = self->connect_at = certbus_now_ms ();
    s_hello (self);
}

//  Connects again: to the next endpoint of the list when there are
//  several, else to the same one. why says what the current one did
//  ("unreachable", "silent"); each move of the first round is logged, then
//  one line says that none answers, until one welcomes us again.
static void
s_move (self_t *self, const char *why)
{
    size_t count = s_endpoint_count (self);
    if (count > 1) {
        const char *from = s_endpoint (self);
        self->current = (self->current + 1) % count;
        self->moves++;
        if (self->moves < count)
            zsys_notice ("node: broker at %s %s: trying %s", from, why, s_endpoint (self));
        else if (self->moves == count)
            zsys_warning ("node: broker at %s %s: no endpoint of the %zu answers; trying them "
                          "in turn",
                          from, why, count);
    }
    s_connect (self);
}

//  How long the next move waits, by the rounds of moves gone unanswered
static int64_t
s_move_pause (self_t *self)
{
    int64_t rounds = (int64_t) (self->moves / s_endpoint_count (self));
    if (rounds == 0)
        return 0;
    if (rounds <= s_FAST_ROUNDS)
        return s_ROUND_PAUSE_MS;
    int64_t pause = s_ROUND_PAUSE_MS * (rounds - s_FAST_ROUNDS + 1);
    return pause < s_ROUND_PAUSE_MAX_MS ? pause : s_ROUND_PAUSE_MAX_MS;
}

//  Reads the dealer's connection events: a refusal or a drop makes a
//  move due, at once in the first round, later in the next ones; a
//  completed handshake cancels it
static void
s_handle_watch (self_t *self)
{
    for (int n = 0; n < 64 && self->watch && (zsock_events (self->watch) & ZMQ_POLLIN); n++) {
        node_link_event_t event = node_link_event (self->watch);
        if (event == NODE_LINK_UP)
            self->move_at = 0;
        else if (event == NODE_LINK_DOWN && !self->move_at)
            self->move_at = certbus_now_ms () + s_move_pause (self);
    }
}

//  ---------------------------------------------------------------------
//  Outbox

int
node_engine_resend_one (void *arg, const node_outgoing_t *outgoing)
{
    self_t *self = arg;
    if (certbus_packet_send_publish (self->dealer, NULL, outgoing->envelope,
                                     outgoing->envelope_size)
        != 0)
        return 1; //  socket full or not connected: stop for now
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
    node_store_outbox_pending (self->ctx->store, sent_before, limit, node_engine_resend_one, self);
    if (own_txn && node_store_commit (self->ctx->store) != 0)
        zsys_warning ("node: %s", certbus_reason ());
    if (!node_store_in_txn (self->ctx->store))
        node_store_set_durable (self->ctx->store, true);
}

//  ---------------------------------------------------------------------
//  What the broker says of our publishes

void
node_engine_keep_participants (self_t *self, const uint8_t *case_id, uint64_t seq, const char *list)
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
            node_engine_keep_participants (self, case_id, ack->sequence, list);
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
    node_engine_answer_waiters (self, false);
}

//  ---------------------------------------------------------------------
//  Directory

static void
s_request_directory (self_t *self)
{
    if (self->directory_requested)
        return;
    self->directory_requested = true;
    self->directory_asked_at = certbus_now_ms ();
    certbus_packet_send_directory_request (self->dealer, NULL);
}

static void
s_handle_directory (self_t *self, Certbus__DirectoryReply *reply, node_acks_t *acks)
{
    self->directory_requested = false;
    certbus_err_t rc = node_ctx_set_directory (self->ctx, reply->directory.data,
                                               reply->directory.len);
    if (rc == CERTBUS_OK)
        zsys_info ("node: directory version %llu",
                   (unsigned long long) certbus_directory_serial (self->ctx->directory));
    else if (rc != CERTBUS_E_DIRECTORY_OLD) {
        snprintf (self->last_error, sizeof self->last_error, "directory refused: %s",
                  certbus_reason ());
        zsys_warning ("node: directory refused: %s", certbus_reason ());
    }
    //  A directory the Council signed is proof that its version exists
    s_directory_learn (self, node_engine_directory_have (self));
    if (!self->behind_since && strncmp (self->last_error, "directory ", 10) == 0)
        self->last_error [0] = 0;
    //  Held deliveries get their last chance with the newest directory,
    //  unless ours is still older than one the broker announced
    node_deliver_retry_held (self, false, acks);
}

//  ---------------------------------------------------------------------
//  Broker packets

static void
s_handle_packet (self_t *self, Certbus__Packet *packet, node_acks_t *acks)
{
    self->last_rx = certbus_now_ms ();
    switch (packet->body_case) {
        case CERTBUS__PACKET__BODY_HELLO:
            if (!self->connected)
                zsys_info ("node: connected to %s (broker directory %llu)", s_endpoint (self),
                           (unsigned long long) packet->hello->directory_serial);
            self->connected = true;
            self->moves = 0;
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
            char *participants = deliver->n_participants
                                     ? node_participants_join (deliver->participants,
                                                               deliver->n_participants)
                                     : NULL;
            node_delivery_t delivery = {deliver->sequence,     deliver->message_sequence,
                                        deliver->accepted_at,  deliver->envelope.data,
                                        deliver->envelope.len, participants};
            int rc = node_deliver (self, &delivery, true, &acks->refused);
            if (rc >= 1)
                node_acks_add (acks, deliver->sequence);
            if (rc == 2)
                node_acks_refused (acks, deliver->sequence);
            else if (rc == 0) {
                node_deliver_hold (self, &delivery);
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
            if ((packet->error->code == CERTBUS_E_PROTOCOL
                 || packet->error->code == CERTBUS_E_SESSION_EXPIRED)
                && self->connected) {
                //  The broker lost our session (it restarted) or expired it
                //  (we were silent past its peer timeout): say hello again
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
    node_acks_t acks = {0};
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
        acks.count = 0; //  nothing acknowledged; the pongs still go
        acks.refused = 0;
    }
    node_acks_send (self, &acks);
    if (!failed && self->receipts_queued) {
        self->receipts_queued = 0;
        s_resend (self, 1, 1000); //  rows never sent yet
    }
}

static void
s_tick (self_t *self)
{
    int64_t now = certbus_now_ms ();
    node_engine_answer_waiters (self, false);
    if (self->move_at && now >= self->move_at) {
        s_move (self, "unreachable");
        return;
    }
    if (now < self->next_tick)
        return;
    self->next_tick = now + self->config.heartbeat_ms;
    //  A refused handshake (say, our certificate reached the broker a moment
    //  after we first knocked) is retried on a fresh socket, with backoff
    int64_t patience = 2 * self->config.heartbeat_ms * (1 + (int64_t) self->stats.reconnects % 4);
    if (!self->connected && now - self->connect_at > patience) {
        s_move (self, "unreachable");
        return;
    }
    if (now - self->last_rx > self->config.peer_timeout_ms) {
        if (self->connected && s_endpoint_count (self) == 1)
            zsys_notice ("node: broker silent for %lld ms: reconnecting",
                         (long long) (now - self->last_rx));
        s_move (self, self->connected ? "silent" : "unreachable");
        return;
    }
    if (!self->connected)
        s_hello (self);
    else
        certbus_packet_send_ping (self->dealer, NULL, now, 0);
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
    self_t *self = certbus_calloc (1, sizeof *self);
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
                    char *json = node_engine_status_json (self);
                    zstr_send (pipe, json);
                    free (json);
                }
                else
                    zstr_send (pipe, "error");
                zstr_free (&command);
            }
            else if (which == self->control)
                node_engine_handle_control (self);
            if (zsock_events (self->dealer) & ZMQ_POLLIN)
                s_handle_dealer (self);
            if (self->watch)
                s_handle_watch (self);
            s_tick (self);
            if (zpoller_terminated (self->poller))
                break;
        }
        node_engine_answer_waiters (self, true);
        zpoller_destroy (&self->poller);
    }
    free (endpoint);
    node_held_t *held;
    while ((held = zlist_pop (self->held))) {
        zchunk_destroy (&held->envelope);
        free (held->participants);
        free (held);
    }
    zlist_destroy (&self->held);
    node_waiter_t *waiter;
    while ((waiter = zlist_pop (self->waiters))) {
        zframe_destroy (&waiter->routing);
        free (waiter);
    }
    zlist_destroy (&self->waiters);
    node_link_unwatch (&self->watch, self->dealer);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->control);
    node_ctx_destroy (&self->ctx);
    free (self);
}
