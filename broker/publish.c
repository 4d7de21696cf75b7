/*  publish.c - the publish path: batch receive from the ROUTER, parallel
    signature checks, the staged publish, and flush (commit, then PubAcks)
    SPDX-License-Identifier: MPL-2.0
*/
#include "publish.h"
#include "admission.h"
#include "auditlog.h"
#include "authorize.h"
#include "cases.h"
#include "sessions.h"
#include "stats.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  One publish decision, sent as a PubAck after the batch commits
struct broker_reply_t {
    zframe_t *routing;            //  where the PubAck goes
    certbus_puback_t ack;         //  decided, sent after commit
    uint8_t id [CERTBUS_ID_SIZE]; //  message id (ack.message_id points here)
    char *reason;                 //  owned reason text
    char *rule;                   //  owned rule text
    char **recipients;            //  sessions to wake after commit
    size_t recipient_count;
    char **participants; //  of the message's case, for the PubAck
    size_t participant_count;
    int64_t received_at; //  when the publish arrived, unix ms
    char kind [40];      //  for the metrics
};

broker_publish_t *
broker_publish_new (const broker_config_t *config)
{
    broker_publish_t *self = certbus_calloc (1, sizeof *self);
    int threads = config->verify_threads;
    if (threads < 0) {
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        threads = cores > 1 ? (int) (cores - 1) : 0;
        threads = threads > 8 ? 8 : threads;
    }
    self->verifier = broker_verifier_new (threads);
    self->items = certbus_calloc ((size_t) config->batch, sizeof (broker_item_t));
    self->jobs = certbus_calloc ((size_t) config->batch, sizeof (broker_verify_job_t));
    return self;
}

void
broker_publish_destroy (broker_publish_t **self_p)
{
    assert (self_p);
    broker_publish_t *self = *self_p;
    if (!self)
        return;
    free (self->replies);
    broker_verifier_destroy (&self->verifier);
    free (self->items);
    free (self->jobs);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  The batch's transaction

//  Keeps the reason and the code of the store's last failure
static void
s_keep_error (broker_ctx_t *ctx)
{
    snprintf (ctx->last_error, sizeof ctx->last_error, "%s", certbus_reason ());
    ctx->publish->error_code = certbus_reason_code ();
}

int
broker_publish_txn (broker_ctx_t *ctx)
{
    if (ctx->publish->in_txn)
        return ctx->publish->txn_failed ? -1 : 0;
    if (broker_store_begin (ctx->store)) {
        s_keep_error (ctx);
        return -1;
    }
    ctx->publish->in_txn = true;
    ctx->publish->txn_failed = false;
    return 0;
}

void
broker_publish_txn_fail (broker_ctx_t *ctx)
{
    ctx->publish->txn_failed = true;
    s_keep_error (ctx);
}

bool
broker_publish_in_txn (broker_ctx_t *ctx)
{
    return ctx->publish->in_txn;
}

//  ---------------------------------------------------------------------
//  Decisions

int
broker_refuse (broker_verdict_t *verdict, certbus_err_t code, const char *rule, const char *format,
               ...)
{
    verdict->code = code;
    snprintf (verdict->rule, sizeof verdict->rule, "%s", rule ? rule : "");
    va_list args;
    va_start (args, format);
    vsnprintf (verdict->reason, sizeof verdict->reason, format, args);
    va_end (args);
    return -1;
}

static broker_reply_t *
s_reply_new (broker_ctx_t *ctx, zframe_t *routing)
{
    if (ctx->publish->reply_count == ctx->publish->reply_cap) {
        ctx->publish->reply_cap = ctx->publish->reply_cap ? ctx->publish->reply_cap * 2 : 64;
        ctx->publish->replies = certbus_realloc (ctx->publish->replies, ctx->publish->reply_cap,
                                                 sizeof (broker_reply_t));
    }
    broker_reply_t *reply = &ctx->publish->replies [ctx->publish->reply_count++];
    memset (reply, 0, sizeof *reply);
    reply->routing = zframe_dup (routing);
    reply->received_at = certbus_now_ms ();
    return reply;
}

static void
s_reject (broker_ctx_t *ctx, broker_reply_t *reply, const char *org, const certbus_header_t *header,
          certbus_err_t code, const char *reason, const char *rule)
{
    reply->ack.status = CERTBUS_PUBACK_REJECTED;
    reply->ack.code = code;
    reply->reason = strdup (reason);
    reply->rule = strdup (rule ? rule : "");
    broker_stats_rejected (ctx->stats, code);
    if (!broker_auditlog_noise (ctx, org, "refused-publish", reason, ctx->config->noise_burst))
        return;
    char id [CERTBUS_ID_STR_SIZE] = "-";
    if (header)
        certbus_id_format (header->id, id);
    zsys_notice ("broker: rejected publish org=%s id=%s code=%s reason=\"%s\"%s%s", org, id,
                 certbus_err_name (code), reason, rule && *rule ? " rule=" : "", rule ? rule : "");
    broker_auditlog_append (ctx, "reject", org, header, "reject", rule, reason, 0, NULL, 0);
}

static int
s_strcmp_p (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  ---------------------------------------------------------------------
//  The stages

//  Stage 1, authenticate: the sender is the envelope's origin, its
//  certificate holds, its signature verifies, the envelope carries every
//  recipient it was sealed to, and its signed creation time does not lie
//  ahead of ours (an old one is fine: outboxes wait while we are down, and
//  nothing orders by it)
static int
s_authenticate (broker_ctx_t *ctx, const certbus_cert_t *sender, certbus_envelope_t *env,
                broker_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    if (strcmp (header->origin, sender->org_id) != 0 || header->origin_serial != sender->serial)
        return broker_refuse (
            verdict, CERTBUS_E_ORIGIN_MISMATCH, NULL,
            "envelope claims origin '%s' (certificate %llu) but was sent by member "
            "'%s' (certificate %llu)",
            header->origin, (unsigned long long) header->origin_serial, sender->org_id,
            (unsigned long long) sender->serial);
    certbus_err_t rc = certbus_envelope_verify (env, ctx->admission->directory, certbus_now (),
                                                NULL);
    if (rc)
        return broker_refuse (verdict, rc, NULL, "%s", certbus_reason ());
    if (!certbus_envelope_complete (env))
        return broker_refuse (verdict, CERTBUS_E_RECIPIENTS_HASH, NULL,
                              "a publish must carry every recipient the envelope was sealed to");
    int64_t ahead = header->created - certbus_now_ms ();
    if (ahead > ctx->config->created_skew_ms)
        return broker_refuse (verdict, CERTBUS_E_CLOCK, "created-skew",
                              "the signed creation time lies %lld s ahead of the broker's clock "
                              "(at most %lld s allowed): check the sender's clock",
                              (long long) (ahead / 1000),
                              (long long) (ctx->config->created_skew_ms / 1000));
    return 0;
}

//  Part of stage 3, the storage quota: envelope bytes stored, per member (the rate was
//  spent as the batch was read: broker_publish_recv)
static int
s_quota_allows (broker_ctx_t *ctx, const certbus_cert_t *sender, size_t bytes,
                broker_verdict_t *verdict)
{
    broker_member_t *state = broker_admission_member (ctx, sender->org_id);
    if (ctx->config->quota_bytes > 0) {
        if (!state->stored_known) {
            int64_t stored = broker_store_origin_bytes (ctx->store, sender->org_id);
            if (stored < 0)
                return broker_refuse (verdict, CERTBUS_E_IO, NULL, "%s", certbus_reason ());
            state->stored_bytes = stored;
            state->stored_known = true;
        }
        if (state->stored_bytes + (int64_t) bytes > ctx->config->quota_bytes)
            return broker_refuse (verdict, CERTBUS_E_QUOTA, "quota-bytes",
                                  "storage quota used up: at most %lld bytes stored per member, "
                                  "%lld stored now; publish again when older messages expire",
                                  (long long) ctx->config->quota_bytes,
                                  (long long) state->stored_bytes);
    }
    return 0;
}

//  True when org was ever a member: it has a revocation in the directory
static bool
s_former_member (broker_ctx_t *ctx, const char *org)
{
    for (size_t i = 0; i < certbus_directory_revocation_count (ctx->admission->directory); i++) {
        const certbus_revocation_t *revocation
            = certbus_directory_revocation_at (ctx->admission->directory, i);
        if (revocation && strcmp (revocation->org_id, org) == 0)
            return true;
    }
    return false;
}

//  Stage 4, route: every recipient must be within what the signed
//  audience resolves to here. Members revoked since the sender's directory
//  are dropped; names the Council never knew are refused. *queued_p gets
//  borrowed names.
static int
s_route (broker_ctx_t *ctx, const certbus_cert_t *sender, certbus_envelope_t *env, char ***queued_p,
         size_t *queued_count_p, broker_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    const char *org = sender->org_id;
    char **allowed = NULL;
    size_t allowed_count = 0;
    certbus_err_t rc = certbus_audience_resolve (header->audience, header->tlp,
                                                 ctx->admission->directory, org, certbus_now (),
                                                 &allowed, &allowed_count);
    if (rc && rc != CERTBUS_E_AUDIENCE_EMPTY)
        return broker_refuse (verdict, rc, NULL, "%s", certbus_reason ());
    size_t total = certbus_envelope_recipients (env);
    char **queued = certbus_calloc (total + 1, sizeof (char *));
    size_t queued_count = 0;
    int result = 0;
    for (size_t i = 0; i < total && result == 0; i++) {
        const char *recipient = certbus_envelope_recipient (env, i);
        if (strcmp (recipient, org) == 0)
            continue; //  the sender's own copy: sealed for it, never queued
        const char *key = recipient;
        if (allowed && bsearch (&key, allowed, allowed_count, sizeof (char *), s_strcmp_p))
            queued [queued_count++] = (char *) recipient;
        else if (certbus_directory_find (ctx->admission->directory, recipient))
            result = broker_refuse (verdict, CERTBUS_E_RECIPIENTS, NULL,
                                    "recipient '%s' is outside the audience '%s'", recipient,
                                    header->audience);
        else if (!s_former_member (ctx, recipient))
            result = broker_refuse (verdict, CERTBUS_E_RECIPIENTS, NULL,
                                    "recipient '%s' is not a member of this Council", recipient);
    }
    if (result == 0 && queued_count == 0)
        result = broker_refuse (verdict, CERTBUS_E_AUDIENCE_EMPTY, NULL,
                                "no recipient of this envelope is a current member");
    certbus_strv_free (allowed, allowed_count);
    if (result) {
        free (queued);
        return -1;
    }
    *queued_p = queued;
    *queued_count_p = queued_count;
    return 0;
}

//  Stage 5, store: the message, one queue row per recipient, the case and
//  its participants, the receipt mark, in the batch's transaction.
//  Returns 0, 1 when a rule found at store time refuses it (verdict set),
//  or -1 when the store failed (the whole batch is then refused).
static int
s_store (broker_ctx_t *ctx, const certbus_cert_t *sender, certbus_envelope_t *env, char **queued,
         size_t queued_count, bool is_case, broker_case_t *kase, int64_t now, uint64_t *seq_p,
         broker_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    const char *org = sender->org_id;
    if (strcmp (header->kind, "receipt") == 0) {
        int added = broker_store_receipt_add (ctx->store,
                                              broker_reference (header, "receipt-for", NULL),
                                              certbus_envelope_recipient (env, 0), org);
        if (added < 0)
            return -1;
        if (added == 0) {
            broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_RECEIPT,
                           "'%s' already sent a receipt for that message: one per recipient", org);
            return 1;
        }
    }
    size_t base_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    int priority = strcmp (header->severity, "critical") == 0 ? 1 : 0;
    int failed = broker_store_message_insert (ctx->store, header, base, base_size, now,
                                              now + ctx->config->expiry_ms, (uint32_t) queued_count,
                                              seq_p);
    free (base);
    size_t total = certbus_envelope_recipients (env);
    for (size_t i = 0, q = 0; !failed && i < total && q < queued_count; i++) {
        if (certbus_envelope_recipient (env, i) != queued [q])
            continue; //  queued holds the recipients' own names, in order
        size_t wrapped_size;
        uint8_t *wrapped = certbus_envelope_recipient_bytes (env, i, &wrapped_size);
        failed = broker_store_queue_insert (ctx->store, queued [q], *seq_p, priority, wrapped,
                                            wrapped_size);
        free (wrapped);
        q++;
    }
    broker_member_t *state = broker_admission_member (ctx, org);
    if (!failed)
        state->stored_bytes += (int64_t) base_size;
    if (failed || !is_case)
        return failed ? -1 : 0;
    return broker_cases_store (ctx, header, org, queued, queued_count, kase, now);
}

//  One publish as it goes through the stages
typedef struct {
    const certbus_cert_t *sender;   //  the authenticated member
    certbus_envelope_t *env;        //  the envelope, owned by the publish path
    const certbus_header_t *header; //  env's signed header; NULL when not trusted
    size_t size;                    //  the envelope's bytes
    broker_reply_t *reply;          //  the decision, sent by flush
    char **queued;                  //  recipients to queue for (names borrowed from env)
    size_t queued_count;            //  how many
    broker_case_t kase;             //  the message's case, when is_case
    bool is_case;                   //  it opens or updates a case
    uint64_t seq;                   //  its message sequence, once stored
    int64_t now;                    //  when it was accepted, unix ms
    char rule [256];                //  the rule that allowed it
    broker_verdict_t verdict;       //  why not, when refused
} s_publish_t;

//  What a stage decided
typedef enum {
    s_NEXT,    //  go on to the next stage
    s_REFUSED, //  refused: verdict says why
    s_ANSWERED //  the reply is decided (a duplicate), or the
               //  batch failed and flush refuses it
} s_step_t;

//  Stage 0, received: the envelope decoded, and the sender within its
//  rate quota (spent as the batch was read: broker_publish_recv)
static s_step_t
s_received (broker_ctx_t *ctx, broker_item_t *item, s_publish_t *pub)
{
    if (item->env_rc || !pub->env) {
        broker_refuse (&pub->verdict, item->env_rc ? item->env_rc : CERTBUS_E_INTERNAL, NULL, "%s",
                       item->env_reason ? item->env_reason : "envelope not decoded");
        return s_REFUSED;
    }
    broker_reply_t *reply = pub->reply;
    snprintf (reply->kind, sizeof reply->kind, "%s", pub->header->kind);
    memcpy (reply->id, pub->header->id, CERTBUS_ID_SIZE);
    //  message_id is pointed at reply->id in flush: the replies array
    //  may move while the batch grows
    reply->ack.message_id_size = CERTBUS_ID_SIZE;
    pub->size = item->packet->publish->envelope.len;
    if (item->over_rate) {
        //  Refused before it is authenticated: its header is the sender's
        //  claim, so the audit names no message
        broker_refuse (&pub->verdict, CERTBUS_E_QUOTA, "quota-rate",
                       "publish rate quota used up: at most %d messages per second (bursts of "
                       "%d) per member; publish again later",
                       ctx->config->quota_rate, ctx->config->quota_burst);
        pub->header = NULL;
        return s_REFUSED;
    }
    return s_NEXT;
}

//  Stage 2, deduplicate: opens the batch's transaction; a duplicate (of
//  this origin's own message) gets the original acknowledgement, never a
//  second copy
static s_step_t
s_deduplicate (broker_ctx_t *ctx, s_publish_t *pub)
{
    if (broker_publish_txn (ctx))
        return s_ANSWERED;
    uint64_t seq;
    int64_t accepted_at;
    if (broker_store_message_lookup (ctx->store, pub->sender->org_id, pub->header->id, &seq,
                                     &accepted_at)
        == 1) {
        pub->reply->ack.status = CERTBUS_PUBACK_DUPLICATE;
        pub->reply->ack.sequence = seq;
        pub->reply->ack.accepted_at = accepted_at;
        ctx->stats->duplicates++;
        return s_ANSWERED;
    }
    return s_NEXT;
}

//  Stage 3, authorize: the id, the storage quota, then the rules
//  (authorize.c), each deciding alone
static s_step_t
s_authorize (broker_ctx_t *ctx, s_publish_t *pub)
{
    const char *org = pub->sender->org_id;
    //  Another member's id is no duplicate of ours, and which ids exist is
    //  never said; but an id of a message the sender received is refused,
    //  so that no copy can shadow the original at the nodes that hold it
    Certbus__AuditRecord *received = broker_auditlog_delivered_to (ctx, pub->header->id, org, NULL);
    if (received) {
        certbus_codec_free (received);
        broker_refuse (&pub->verdict, CERTBUS_E_FIELD, NULL,
                       "the message id is that of a message delivered to '%s': seal a new "
                       "message",
                       org);
        return s_REFUSED;
    }
    if (s_quota_allows (ctx, pub->sender, pub->size, &pub->verdict)
        || broker_authorize (ctx, pub->sender, pub->env, pub->size, &pub->kase, &pub->is_case,
                             &pub->verdict))
        return s_REFUSED;
    snprintf (pub->rule, sizeof pub->rule, "%s", pub->verdict.rule);
    return s_NEXT;
}

//  Stage 6, accept: the audit record, then the reply for flush
static void
s_accept (broker_ctx_t *ctx, s_publish_t *pub)
{
    broker_reply_t *reply = pub->reply;
    const certbus_header_t *header = pub->header;
    broker_auditlog_set_time (ctx, pub->now);
    broker_auditlog_append (ctx, strcmp (header->kind, "receipt") == 0 ? "receipt" : "publish",
                            pub->sender->org_id, header, "accept", pub->rule, "", pub->seq,
                            pub->queued, pub->queued_count);
    reply->ack.status = CERTBUS_PUBACK_ACCEPTED;
    reply->ack.sequence = pub->seq;
    reply->ack.accepted_at = pub->now;
    reply->rule = strdup (pub->rule);
    reply->recipients = calloc (pub->queued_count, sizeof (char *));
    for (size_t i = 0; i < pub->queued_count; i++)
        reply->recipients [i] = strdup (pub->queued [i]);
    reply->recipient_count = pub->queued_count;
    if (pub->is_case
        && broker_store_case_members (ctx->store, pub->kase.case_id, &reply->participants,
                                      &reply->participant_count)
               != 0)
        reply->participant_count = 0;
}

//  Decides one publish of the batch: received, authenticate, deduplicate,
//  authorize, route, store, accept; the first stage that refuses decides.
//
//  The transaction: the batch's one store transaction is opened by the
//  deduplicate stage (broker_publish_txn: the first stage that reads the
//  store) and stays open for the rest of the batch; broker_publish_flush
//  commits it, and only then is any decision (reply) sent. Every
//  acceptance is stored in that transaction, or the whole batch is
//  refused (a failed write marks it failed; flush rolls it back).
//
//  The envelope: decoded with the batch (item->env), it is taken from the
//  item here and owned by this function from its first line, whatever the
//  outcome; the stages only borrow it (queued names point into it), and
//  it is destroyed before this returns. Nothing of it outlives the call:
//  the reply copies what flush needs.
void
broker_publish_handle (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *sender,
                       broker_item_t *item)
{
    s_publish_t pub = {.sender = sender, .env = item->env};
    item->env = NULL;
    pub.header = pub.env ? certbus_envelope_header (pub.env) : NULL;
    pub.reply = s_reply_new (ctx, routing);
    s_step_t step = s_received (ctx, item, &pub);
    if (step == s_NEXT)
        step = s_authenticate (ctx, sender, pub.env, &pub.verdict) ? s_REFUSED : s_NEXT;
    if (step == s_NEXT)
        step = s_deduplicate (ctx, &pub);
    if (step == s_NEXT)
        step = s_authorize (ctx, &pub);
    if (step == s_NEXT)
        step = s_route (ctx, sender, pub.env, &pub.queued, &pub.queued_count, &pub.verdict)
                   ? s_REFUSED
                   : s_NEXT;
    if (step == s_NEXT) {
        pub.now = certbus_now_ms ();
        int stored = s_store (ctx, sender, pub.env, pub.queued, pub.queued_count, pub.is_case,
                              &pub.kase, pub.now, &pub.seq, &pub.verdict);
        if (stored < 0)
            broker_publish_txn_fail (ctx);
        step = stored < 0 ? s_ANSWERED : stored > 0 ? s_REFUSED : s_NEXT;
    }
    if (step == s_NEXT)
        s_accept (ctx, &pub);
    else if (step == s_REFUSED)
        s_reject (ctx, pub.reply, sender->org_id, pub.header, pub.verdict.code, pub.verdict.reason,
                  *pub.verdict.rule ? pub.verdict.rule : NULL);
    free (pub.queued);
    certbus_envelope_destroy (&pub.env);
}

//  ---------------------------------------------------------------------
//  Flush

//  Completes one decision and sends it as a PubAck
static void
s_send_puback (broker_ctx_t *ctx, broker_reply_t *reply)
{
    if (reply->ack.message_id_size)
        reply->ack.message_id = reply->id;
    if (reply->ack.status == CERTBUS_PUBACK_UNSPECIFIED) {
        //  Decided nothing (the transaction could not start): refuse
        reply->ack.status = CERTBUS_PUBACK_REJECTED;
        reply->ack.code = CERTBUS_E_IO;
        free (reply->reason);
        reply->reason = zsys_sprintf ("the broker could not store the message (%s); "
                                      "publish again later",
                                      ctx->last_error);
    }
    reply->ack.participants = reply->participants;
    reply->ack.participant_count = reply->participant_count;
    reply->ack.reason = reply->reason;
    reply->ack.rule = reply->rule;
    certbus_packet_send_puback (ctx->router, reply->routing, &reply->ack);
    zframe_destroy (&reply->routing);
    free (reply->reason);
    free (reply->rule);
    certbus_strv_free (reply->recipients, reply->recipient_count);
    certbus_strv_free (reply->participants, reply->participant_count);
}

//  Commits the batch, then answers every publish in it. A failed commit
//  turns every acceptance into a rejection: nothing unsaved is acknowledged.
void
broker_publish_flush (broker_ctx_t *ctx)
{
    broker_publish_t *self = ctx->publish;
    bool ok = true;
    if (self->in_txn) {
        if (self->txn_failed) {
            broker_store_rollback (ctx->store);
            ok = false;
        }
        else if (broker_store_commit (ctx->store)) {
            s_keep_error (ctx);
            ok = false;
        }
        else
            ctx->stats->commits++;
        self->in_txn = false;
        self->txn_failed = false;
    }
    //  The code travels with the failure (certbus_reason_code), never read
    //  back from the reason's words
    bool full = self->error_code == CERTBUS_E_STORAGE_FULL;
    for (size_t i = 0; i < self->reply_count; i++) {
        broker_reply_t *reply = &self->replies [i];
        //  A batch whose transaction failed decided nothing for good: a
        //  refusal may rest on a read the failure spoiled (a receipt's
        //  "was it delivered to you?"), and its audit record is gone with
        //  the rest, so every answer says send it again
        if (!ok) {
            reply->ack.status = CERTBUS_PUBACK_REJECTED;
            reply->ack.code = full ? CERTBUS_E_STORAGE_FULL : CERTBUS_E_IO;
            free (reply->reason);
            char reason [400];
            snprintf (reason, sizeof reason,
                      "the broker could not store the message (%s); nothing was accepted, "
                      "publish again later",
                      ctx->last_error);
            reply->reason = strdup (reason);
            zsys_error ("broker: batch not stored: %s", ctx->last_error);
        }
        else if (reply->ack.status == CERTBUS_PUBACK_ACCEPTED) {
            broker_stats_accepted (ctx->stats, reply->kind,
                                   (double) (certbus_now_ms () - reply->received_at) / 1000.0);
            for (size_t j = 0; j < reply->recipient_count; j++)
                broker_sessions_wake (ctx, reply->recipients [j]);
        }
        s_send_puback (ctx, reply);
    }
    self->reply_count = 0;
    if (!ok) {
        //  Stored-bytes counts moved with the lost batch: count them again
        broker_admission_forget_stored (ctx);
        //  Acknowledgements in the failed batch were lost too: those
        //  deliveries go out again, but only after a pause, so a full disk
        //  does not turn into a resend storm
        broker_sessions_pause (ctx, certbus_now_ms () + 1000);
    }
}

//  ---------------------------------------------------------------------
//  Batch receive and signature checks

//  Receives one message into item and decodes what can be decoded before
//  the batch is handled. Returns -1 when there was nothing usable.
int
broker_publish_recv (broker_ctx_t *ctx, broker_item_t *item)
{
    memset (item, 0, sizeof *item);
    zmsg_t *msg = zmsg_recv (ctx->router);
    if (!msg)
        return -1;
    ctx->stats->received++;
    item->routing = zmsg_pop (msg);
    item->payload = zmsg_pop (msg);
    item->extra_frames = zmsg_size (msg) > 0;
    zmsg_destroy (&msg);
    if (!item->routing || !item->payload) {
        zframe_destroy (&item->routing);
        zframe_destroy (&item->payload);
        return -1;
    }
    item->member = broker_admission_find (ctx, item->payload);
    if (!item->member || item->extra_frames)
        return 0;
    item->packet_rc = certbus_packet_decode (item->payload, &item->packet);
    if (item->packet_rc) {
        item->packet_reason = strdup (certbus_reason ());
        return 0;
    }
    if (item->packet->body_case == CERTBUS__PACKET__BODY_PUBLISH) {
        Certbus__Publish *publish = item->packet->publish;
        item->env_rc = certbus_envelope_decode (publish->envelope.data, publish->envelope.len,
                                                &item->env);
        if (item->env_rc)
            item->env_reason = strdup (certbus_reason ());
        //  The rate quota is spent here, before any signature is checked:
        //  a member publishing beyond it costs no verification. Receipts
        //  answer what others sent (one per message, small) and do not
        //  spend it, or a flood sent to a member would spend it for it.
        else if (ctx->config->quota_rate > 0
                 && strcmp (certbus_envelope_header (item->env)->kind, "receipt") != 0) {
            broker_member_t *state = broker_admission_member (ctx, item->member->org_id);
            item->over_rate = !broker_take_token (&state->rate_tokens, &state->rate_at,
                                                  ctx->config->quota_rate,
                                                  ctx->config->quota_burst);
        }
    }
    return 0;
}

//  Checks the signatures of the batch's publishes on every core. Each
//  origin's key is looked up here, on the engine's thread; whatever the
//  directory says against a publish is found again, and reported, when
//  certbus_envelope_verify runs as the publish is handled.
void
broker_publish_verify (broker_ctx_t *ctx, int count)
{
    size_t jobs = 0;
    for (int i = 0; i < count; i++) {
        broker_item_t *item = &ctx->publish->items [i];
        if (!item->env || item->over_rate)
            continue;
        const certbus_header_t *header = certbus_envelope_header (item->env);
        const certbus_cert_t *cert = certbus_directory_find (ctx->admission->directory,
                                                             header->origin);
        if (!cert || cert->serial != header->origin_serial)
            continue;
        ctx->publish->jobs [jobs].env = item->env;
        ctx->publish->jobs [jobs].sign_key = cert->sign_key;
        jobs++;
    }
    broker_verifier_run (ctx->publish->verifier, ctx->publish->jobs, jobs);
}

void
broker_item_clear (broker_item_t *item)
{
    zframe_destroy (&item->routing);
    zframe_destroy (&item->payload);
    certbus_codec_free (item->packet);
    item->packet = NULL;
    certbus_envelope_destroy (&item->env);
    free (item->packet_reason);
    free (item->env_reason);
    item->packet_reason = item->env_reason = NULL;
}
