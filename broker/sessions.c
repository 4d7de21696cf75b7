/*  sessions.c - members' sessions: Hello, credit windows, the delivery
    pump, DeliverAcks, heartbeats and timeouts
    SPDX-License-Identifier: MPL-2.0

    Deliveries are pumped from the database under a credit window per
    member, so the backlog lives in the store and never in memory.
*/
#include "sessions.h"
#include "admission.h"
#include "auditlog.h"
#include "cases.h"
#include "publish.h"
#include "stats.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
s_session_destroy (void **item)
{
    broker_session_t *session = *item;
    if (!session)
        return;
    free (session->org);
    zframe_destroy (&session->routing);
    free (session->inflight);
    free (session);
    *item = NULL;
}

broker_sessions_t *
broker_sessions_new (void)
{
    broker_sessions_t *self = certbus_calloc (1, sizeof *self);
    self->table = zhashx_new ();
    zhashx_set_destructor (self->table, s_session_destroy);
    self->max_sent = zhashx_new ();
    return self;
}

void
broker_sessions_destroy (broker_sessions_t **self_p)
{
    assert (self_p);
    broker_sessions_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->table);
    zhashx_destroy (&self->max_sent);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Packets

int
broker_send_error (broker_ctx_t *ctx, zframe_t *routing, certbus_err_t code, const char *reason)
{
    return certbus_packet_send_error (ctx->router, routing, code, reason);
}

int
broker_send_ping (broker_ctx_t *ctx, zframe_t *routing)
{
    return certbus_packet_send_ping (ctx->router, routing, certbus_now_ms (),
                                     certbus_directory_serial (ctx->admission->directory));
}

static int
s_send_pong (broker_ctx_t *ctx, zframe_t *routing, int64_t time)
{
    return certbus_packet_send_pong (ctx->router, routing, time);
}

static int
s_send_hello (broker_ctx_t *ctx, zframe_t *routing, int window)
{
    return certbus_packet_send_hello (ctx->router, routing, (uint32_t) window,
                                      certbus_directory_serial (ctx->admission->directory),
                                      "certbus-broker " CERTBUS_VERSION);
}

//  Sends one stored delivery: its envelope is the stored base envelope
//  followed by the recipient's wrapped key
static int
s_send_deliver (broker_ctx_t *ctx, zframe_t *routing, const broker_delivery_t *delivery)
{
    size_t size = delivery->envelope_size + delivery->wrapped_size;
    uint8_t *bytes = certbus_malloc (size ? size : 1);
    memcpy (bytes, delivery->envelope, delivery->envelope_size);
    memcpy (bytes + delivery->envelope_size, delivery->wrapped, delivery->wrapped_size);
    certbus_deliver_t deliver = {.sequence = delivery->qseq,
                                 .envelope = bytes,
                                 .envelope_size = size,
                                 .accepted_at = delivery->accepted_at,
                                 .message_sequence = delivery->msg_seq};
    char **participants = NULL;
    if (delivery->incident)
        participants = broker_cases_participants (ctx, bytes, size, &deliver.participant_count);
    deliver.participants = participants;
    int sent = certbus_packet_send_deliver (ctx->router, routing, &deliver);
    certbus_strv_free (participants, deliver.participant_count);
    free (bytes);
    return sent;
}

//  ---------------------------------------------------------------------
//  The sessions table

broker_session_t *
broker_sessions_touch (broker_ctx_t *ctx, const char *org, zframe_t *routing)
{
    broker_session_t *session = zhashx_lookup (ctx->sessions->table, org);
    if (!session || !zframe_eq (session->routing, routing))
        return NULL;
    session->last_seen = certbus_now_ms ();
    return session;
}

void
broker_sessions_wake (broker_ctx_t *ctx, const char *org)
{
    broker_session_t *session = zhashx_lookup (ctx->sessions->table, org);
    if (session)
        session->dirty = true;
}

void
broker_sessions_pause (broker_ctx_t *ctx, int64_t until)
{
    ctx->sessions->pump_after = until;
}

//  Keeps the bytes in flight on session's connection counted, as the
//  connection is replaced or the session ends
static void
s_retire (broker_ctx_t *ctx, broker_session_t *session)
{
    if (!session->routing || session->inflight_bytes <= 0)
        return;
    broker_member_t *state = broker_admission_member (ctx, session->org);
    if (!state->retired)
        state->retired = zlist_new ();
    broker_retired_t *retired = certbus_calloc (1, sizeof *retired);
    retired->routing = zframe_dup (session->routing);
    retired->bytes = session->inflight_bytes;
    zlist_append (state->retired, retired);
    state->retired_bytes += retired->bytes;
    session->inflight_bytes = 0;
}

void
broker_sessions_directory_changed (broker_ctx_t *ctx)
{
    certbus_directory_t *dir = ctx->admission->directory;
    int64_t now = certbus_now ();
    broker_session_t *session = zhashx_first (ctx->sessions->table);
    zlist_t *gone = zlist_new ();
    while (session) {
        const certbus_cert_t *cert = certbus_directory_find (dir, session->org);
        if (!cert || certbus_cert_check_time (cert, now) != CERTBUS_OK)
            zlist_append (gone, session);
        session = zhashx_next (ctx->sessions->table);
    }
    for (session = zlist_first (gone); session; session = zlist_next (gone)) {
        broker_send_error (ctx, session->routing, CERTBUS_E_REVOKED,
                           "membership revoked or expired: connection closed by the Council "
                           "broker");
        zsys_notice ("broker: cut off org=%s reason=revoked", session->org);
        s_retire (ctx, session);
        zhashx_delete (ctx->sessions->table, session->org);
    }
    zlist_destroy (&gone);
    //  Every connected node gets the new directory at once, so that a
    //  revocation takes effect on members' own checks too (Ping carries
    //  the serial as well, for a push that was lost)
    for (session = zhashx_first (ctx->sessions->table); session;
         session = zhashx_next (ctx->sessions->table))
        if (session->ready) {
            broker_send_directory (ctx, session->routing);
            ctx->stats->directory_pushes++;
        }
}

//  Bytes of a member's deliveries the broker's pipes may hold now
int64_t
broker_sessions_member_bytes (broker_ctx_t *ctx, broker_session_t *session)
{
    broker_member_t *state = zhashx_lookup (ctx->admission->members, session->org);
    return session->inflight_bytes + (state ? state->retired_bytes : 0);
}

//  Hello opens a session, or on the connection that already has one only
//  grants credit again: what is in flight on that connection stays in
//  flight and is never sent twice. A new connection takes the session
//  over, and what was in flight on the old one is delivered again. Hellos
//  are rate-limited per member: a flood of them costs nothing.
void
broker_sessions_hello (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                       Certbus__Hello *hello)
{
    broker_member_t *state = broker_admission_member (ctx, member->org_id);
    if (!broker_take_token (&state->hello_tokens, &state->hello_at, BROKER_HELLO_RATE,
                            BROKER_HELLO_BURST)) {
        ctx->stats->hellos_ignored++;
        return;
    }
    broker_session_t *session = zhashx_lookup (ctx->sessions->table, member->org_id);
    if (!session) {
        session = certbus_calloc (1, sizeof *session);
        session->org = strdup (member->org_id);
        session->inflight = calloc ((size_t) ctx->config->window, sizeof (broker_flight_t));
        if (!session->org || !session->inflight)
            abort ();
        zhashx_insert (ctx->sessions->table, session->org, session);
    }
    bool same = session->ready && session->routing && zframe_eq (session->routing, routing);
    if (!same) {
        s_retire (ctx, session);
        zframe_destroy (&session->routing);
        session->routing = zframe_dup (routing);
        //  Whatever was in flight on an earlier connection is delivered again
        session->inflight_count = 0;
        session->inflight_bytes = 0;
        session->cursor [0] = session->cursor [1] = 0;
        session->delivered = 0;
    }
    session->ready = true;
    session->dirty = true;
    session->window = ctx->config->window;
    if (hello->credit > 0 && (int) hello->credit < session->window)
        session->window = (int) hello->credit;
    session->last_seen = certbus_now_ms ();
    zsys_info ("broker: hello org=%s window=%d directory=%llu%s", member->org_id, session->window,
               (unsigned long long) hello->directory_serial, same ? " (same connection)" : "");
    s_send_hello (ctx, routing, session->window);
    if (hello->directory_serial < certbus_directory_serial (ctx->admission->directory))
        broker_send_directory (ctx, routing);
}

void
broker_sessions_acks (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                      Certbus__DeliverAck *ack)
{
    //  Only deliveries in flight in this session can be acknowledged: an
    //  ack for anything else (never sent, or sent in an earlier session)
    //  is ignored, and the message is delivered again and acknowledged then.
    broker_session_t *session = zhashx_lookup (ctx->sessions->table, member->org_id);
    if (!session || !session->ready || !zframe_eq (session->routing, routing))
        return;
    if (ack->n_sequences > (size_t) session->window) {
        broker_bad_frame (ctx, routing, member, CERTBUS_E_TOO_LARGE,
                          "a deliver-ack may not list more sequences than the credit window");
        return;
    }
    if (broker_publish_txn (ctx))
        return;
    if (ack->n_refused_sequences > (size_t) session->window) {
        broker_bad_frame (ctx, routing, member, CERTBUS_E_TOO_LARGE,
                          "a deliver-ack may not refuse more sequences than the credit window");
        return;
    }
    for (size_t i = 0; i < ack->n_sequences; i++) {
        uint64_t qseq = ack->sequences [i];
        int slot = -1;
        for (int j = 0; j < session->inflight_count && slot < 0; j++)
            if (session->inflight [j].qseq == qseq)
                slot = j;
        if (slot < 0)
            continue;
        uint64_t msg_seq = 0;
        int found = broker_store_queue_ack (ctx->store, member->org_id, qseq, &msg_seq);
        if (found < 0) {
            ctx->publish->txn_failed = true;
            return;
        }
        ctx->stats->acks += (uint64_t) found;
        certbus_header_t delivered;
        if (found && broker_store_message_by_seq (ctx->store, msg_seq, &delivered) == 1) {
            delivered.case_status = "";
            //  Deliveries the node refused (its verification failed) are
            //  audited as refused, never as delivered
            bool was_refused = false;
            for (size_t r = 0; r < ack->n_refused_sequences && !was_refused; r++)
                was_refused = ack->refused_sequences [r] == qseq;
            if (was_refused)
                ctx->stats->refused_deliveries++;
            broker_auditlog_append (ctx, was_refused ? "refused-delivery" : "deliver",
                                    member->org_id, &delivered,
                                    was_refused ? "refused" : "delivered", NULL,
                                    was_refused
                                        ? "the recipient's node refused it (verification failed)"
                                        : "",
                                    qseq, NULL, 0);
            broker_store_header_free (&delivered);
        }
        session->inflight_bytes -= (int64_t) session->inflight [slot].bytes;
        session->inflight [slot] = session->inflight [--session->inflight_count];
        session->dirty = true;
    }
}

typedef struct {
    broker_ctx_t *ctx;
    broker_session_t *session;
    int priority; //  the class being pumped
    int room;     //  deliveries we may still send
    bool blocked; //  the member's pipe is full, or bytes are used up
} s_pump_t;

//  A row already in flight is passed over before its digests are
//  computed: each stored row is checked once per read, not again in every
//  pump that meets it
static bool
s_pump_skip (void *arg, uint64_t qseq)
{
    s_pump_t *pump = arg;
    broker_session_t *session = pump->session;
    for (int i = 0; i < session->inflight_count; i++)
        if (session->inflight [i].qseq == qseq) {
            session->cursor [pump->priority] = qseq;
            return true;
        }
    return false;
}

static int
s_pump_one (void *arg, const broker_delivery_t *delivery)
{
    s_pump_t *pump = arg;
    broker_session_t *session = pump->session;
    broker_ctx_t *ctx = pump->ctx;
    if (delivery->damaged) {
        //  Never served: it stays queued for an operator to see
        session->cursor [pump->priority] = delivery->qseq;
        if (!ctx->sessions->damaged_seen) {
            zsys_error ("broker: message %llu is damaged in the database (its digest does not "
                        "match); it is not delivered: restore the database from a backup",
                        (unsigned long long) delivery->msg_seq);
            snprintf (ctx->last_error, sizeof ctx->last_error,
                      "message %llu is damaged in the database",
                      (unsigned long long) delivery->msg_seq);
        }
        ctx->sessions->damaged_seen = true;
        return 0;
    }
    size_t size = delivery->envelope_size + delivery->wrapped_size;
    //  Bytes in flight are bounded per member, over all its connections:
    //  one delivery always goes when nothing else is held (so a large
    //  message cannot stall its queue), more only within the cap
    int64_t held = broker_sessions_member_bytes (ctx, session);
    if (held > 0 && held + (int64_t) size > ctx->config->inflight_bytes) {
        pump->blocked = true;
        return 1;
    }
    int sent = s_send_deliver (ctx, session->routing, delivery);
    if (sent != 0) {
        //  Mandatory ROUTER: EHOSTUNREACH when the member's connection is
        //  gone (it must say Hello again), EAGAIN when its pipe is full
        if (zmq_errno () == EHOSTUNREACH)
            session->ready = false;
        ctx->stats->send_blocked++;
        pump->blocked = true;
        return 1;
    }
    session->cursor [pump->priority] = delivery->qseq;
    session->inflight [session->inflight_count].qseq = delivery->qseq;
    session->inflight [session->inflight_count].bytes = size;
    session->inflight_count++;
    session->inflight_bytes += (int64_t) size;
    if (broker_sessions_member_bytes (ctx, session) > ctx->stats->inflight_bytes_max)
        ctx->stats->inflight_bytes_max = broker_sessions_member_bytes (ctx, session);
    session->delivered++;
    ctx->stats->deliveries++;
    zhashx_t *max_sent_by_org = ctx->sessions->max_sent;
    uint64_t max_sent = (uint64_t) (uintptr_t) zhashx_lookup (max_sent_by_org, session->org);
    if (delivery->qseq <= max_sent)
        ctx->stats->redeliveries++;
    else
        zhashx_update (max_sent_by_org, session->org, (void *) (uintptr_t) delivery->qseq);
    return --pump->room > 0 ? 0 : 1;
}

//  Sends up to room deliveries of one priority class to a session.
//  Returns true when that class has nothing more to send.
static bool
s_pump_class (broker_ctx_t *ctx, broker_session_t *session, int priority, int room, bool *blocked)
{
    if (room <= 0 || *blocked)
        return false;
    s_pump_t pump = {ctx, session, priority, room, false};
    int limit = room;
    int rows = broker_store_queue_fetch (ctx->store, session->org, priority,
                                         session->cursor [priority], limit, s_pump_skip, s_pump_one,
                                         &pump);
    *blocked = pump.blocked;
    //  Exhausted only when the rows ran out before the room did
    return rows >= 0 && rows < limit && pump.room > 0 && !pump.blocked;
}

//  The delivery rule: within each member's queue, critical messages go
//  first. Of each window's free slots, up to three quarters go to the
//  oldest critical messages and the rest to the oldest other messages; a
//  slot one class cannot use goes to the other. A flood of critical
//  alerts slows routine traffic but never stops it.
void
broker_sessions_pump (broker_ctx_t *ctx)
{
    if (ctx->sessions->pump_after) {
        if (certbus_now_ms () < ctx->sessions->pump_after)
            return;
        ctx->sessions->pump_after = 0;
        //  Acks lost with the failed batch left rows behind the cursors
        zhashx_t *table = ctx->sessions->table;
        for (broker_session_t *s = zhashx_first (table); s; s = zhashx_next (table)) {
            s->dirty = true;
            s->cursor [0] = s->cursor [1] = 0;
        }
    }
    broker_session_t *session = zhashx_first (ctx->sessions->table);
    while (session) {
        if (session->ready && session->dirty && session->inflight_count < session->window) {
            bool blocked = false;
            int room = session->window - session->inflight_count;
            int critical_room = room - room / 4;
            bool critical_done = s_pump_class (ctx, session, 1, critical_room, &blocked);
            bool routine_done = s_pump_class (ctx, session, 0,
                                              session->window - session->inflight_count, &blocked);
            if (!critical_done)
                critical_done = s_pump_class (ctx, session, 1,
                                              session->window - session->inflight_count, &blocked);
            //  A blocked session waits for an ack or the next tick
            if ((critical_done && routine_done) || blocked) {
                session->dirty = false;
                session->blocked = blocked;
            }
        }
        session = zhashx_next (ctx->sessions->table);
    }
}

void
broker_sessions_ping (broker_ctx_t *ctx, zframe_t *routing, bool session, int64_t time)
{
    if (session)
        s_send_pong (ctx, routing, time);
    else
        broker_send_error (ctx, routing, CERTBUS_E_PROTOCOL, "no session: send hello");
}

//  A session silent for peer_timeout_ms is closed, and told so with a
//  session-expired Error on its connection (a member whose packets were
//  only delayed then says Hello again; one whose connection is gone never
//  sees it). A packet that later arrives on a connection without a
//  session gets the "no session: send hello" protocol Error, as before.
void
broker_sessions_tick (broker_ctx_t *ctx, int64_t now)
{
    zlist_t *gone = zlist_new ();
    broker_session_t *session = zhashx_first (ctx->sessions->table);
    while (session) {
        if (session->blocked) {
            session->blocked = false;
            session->dirty = true; //  try its pipe again
        }
        if (now - session->last_seen > ctx->config->peer_timeout_ms)
            zlist_append (gone, session->org);
        else
            broker_send_ping (ctx, session->routing);
        session = zhashx_next (ctx->sessions->table);
    }
    for (char *org = zlist_first (gone); org; org = zlist_next (gone)) {
        zsys_notice ("broker: org=%s silent for %d ms: session closed", org,
                     ctx->config->peer_timeout_ms);
        ctx->stats->sessions_expired++;
        broker_session_t *expired = zhashx_lookup (ctx->sessions->table, org);
        if (expired) {
            broker_send_error (ctx, expired->routing, CERTBUS_E_SESSION_EXPIRED,
                               "session expired: say Hello again");
            s_retire (ctx, expired);
        }
        zhashx_delete (ctx->sessions->table, org);
    }
    zlist_destroy (&gone);
}
