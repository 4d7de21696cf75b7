/*  engine.c - the Council broker's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    One thread owns the ROUTER socket, the database and every session. Each
    turn of the loop drains up to `batch` packets, decides every publish
    inside one transaction, commits, and only then acknowledges (group
    commit: many publishes share one fsync). Deliveries are pumped from the
    database under a credit window per member, so the backlog lives in
    SQLite and never in memory.
*/
#include "engine.h"
#include "council.h"
#include "store.h"
#include "verify.h"
#include "zap.h"
#include <limits.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *org;                       //  member org id, the key
    zframe_t *routing;               //  current ROUTER identity
    bool ready;                      //  said hello
    int window;                      //  credit granted
    uint64_t *inflight;              //  delivery sequences sent, unacked
    int inflight_count;
    bool dirty;                      //  may have deliveries to send
    int64_t last_seen;               //  last packet, unix ms
    uint64_t delivered;              //  deliveries sent in this session
    uint64_t cursor [2];             //  per priority class: the last queue
                                     //  sequence sent in this session
} s_session_t;

typedef struct {
    zframe_t *routing;               //  where the PubAck goes
    Certbus__PubAck ack;             //  decided, sent after commit
    uint8_t id [CERTBUS_ID_SIZE];    //  message id (ack.message_id points here)
    char *reason;                    //  owned reason text
    char *rule;                      //  owned rule text
    char **recipients;               //  sessions to wake after commit
    size_t recipient_count;
    int64_t received_at;             //  when the publish arrived, unix ms
    char kind [40];                  //  for the metrics
} s_reply_t;

#define s_BUCKETS 10
static const double s_bucket_bounds [s_BUCKETS]
    = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

//  A Prometheus histogram with fixed buckets (seconds)
typedef struct {
    uint64_t counts [s_BUCKETS + 1];  //  per bucket, last is +Inf
    uint64_t count;
    double sum;
} s_histogram_t;

static void
s_observe (s_histogram_t *h, double seconds)
{
    int b = 0;
    while (b < s_BUCKETS && seconds > s_bucket_bounds [b])
        b++;
    h->counts [b]++;
    h->count++;
    h->sum += seconds;
}

//  One received message of a batch, decoded before any is handled, so
//  that the signatures of the batch's publishes are checked in parallel
typedef struct {
    zframe_t *routing;
    zframe_t *payload;
    bool extra_frames;               //  more than one packet frame
    const certbus_cert_t *member;    //  the authenticated sender, or NULL
    Certbus__Packet *packet;         //  decoded, or NULL
    certbus_err_t packet_rc;
    char *packet_reason;             //  why not, when not
    certbus_envelope_t *env;         //  a publish's envelope, or NULL
    certbus_err_t env_rc;
    char *env_reason;
} s_item_t;

typedef struct {
    broker_config_t config;          //  our copy of the settings
    zsock_t *pipe;                   //  actor pipe
    zsock_t *router;                 //  members connect here
    zsock_t *control;                //  ipc control socket for the CLI
    zactor_t *zap;                   //  ZAP handler
    broker_store_t *store;
    certbus_identity_t *identity;    //  broker's keys (CURVE, tree heads)
    uint8_t council_key [CERTBUS_KEY_SIZE];
    certbus_directory_t *directory;  //  current signed directory
    certbus_policy_t *policy;        //  current Council policy
    int64_t data_version;            //  of the database, to see CLI writes
    zhashx_t *sessions;              //  org -> s_session_t
    char endpoint [256];             //  bound endpoint
    bool in_txn;                     //  a batch transaction is open
    bool txn_failed;                 //  an insert failed in this batch
    s_reply_t *replies;              //  publish decisions awaiting commit
    size_t reply_count;
    size_t reply_cap;
    int64_t next_tick;               //  timers, unix ms
    int64_t next_expire;
    int64_t audit_time;              //  time for the next audit record, or 0
    int64_t pump_after;              //  no deliveries before this (after a failed batch)
    bool damaged_seen;               //  a damaged message was found (logged once)
    certbus_tree_head_t head;        //  latest signed tree head
    bool have_head;
    bool terminated;
    char last_error [256];
    struct {
        uint64_t received, accepted, rejected, duplicates, deliveries, acks, bad_frames,
            refused_members, commits, sessions_expired, redeliveries;
    } stats;
    zhashx_t *by_kind;               //  kind -> accepted count (uint64 in a pointer)
    zhashx_t *by_reason;             //  error name -> rejected count
    zhashx_t *max_sent;              //  org -> highest delivery sequence sent
    s_histogram_t commit_latency;
    broker_verifier_t *verifier;     //  signature helpers
    s_item_t *items;                 //  the batch being handled
    broker_verify_job_t *jobs;       //  its signature checks
} self_t;

void
broker_config_defaults (broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->bind = BROKER_DEFAULT_BIND;
    config->window = BROKER_DEFAULT_WINDOW;
    config->expiry_ms = BROKER_DEFAULT_EXPIRY_MS;
    config->heartbeat_ms = BROKER_DEFAULT_HEARTBEAT_MS;
    config->peer_timeout_ms = BROKER_DEFAULT_PEER_TIMEOUT_MS;
    config->batch = BROKER_DEFAULT_BATCH;
    config->head_records = BROKER_DEFAULT_HEAD_RECORDS;
    config->head_ms = BROKER_DEFAULT_HEAD_MS;
    config->verify_threads = -1;
}

static void
s_session_destroy (void **item)
{
    s_session_t *session = *item;
    if (!session)
        return;
    free (session->org);
    zframe_destroy (&session->routing);
    free (session->inflight);
    free (session);
    *item = NULL;
}

//  ---------------------------------------------------------------------
//  Directory and admission

static int
s_load_directory (self_t *self)
{
    uint8_t *bytes;
    size_t size;
    if (broker_store_directory_latest (self->store, &bytes, &size))
        return -1;
    certbus_directory_t *dir;
    uint64_t have = self->directory ? certbus_directory_serial (self->directory) : 0;
    certbus_err_t rc = certbus_directory_decode (bytes, size, self->council_key, have, &dir);
    free (bytes);
    if (rc)
        return -1;
    if (self->directory && certbus_directory_serial (dir) == have) {
        certbus_directory_destroy (&dir);
        return 0;
    }
    certbus_directory_destroy (&self->directory);
    self->directory = dir;
    //  The ZAP handler gets the transport keys of every current member
    zmsg_t *keys = zmsg_new ();
    zmsg_addstr (keys, "KEYS");
    int64_t now = certbus_now ();
    for (size_t i = 0; i < certbus_directory_count (dir); i++) {
        const certbus_cert_t *cert = certbus_directory_at (dir, i);
        if (certbus_cert_check_time (cert, now) == CERTBUS_OK)
            zmsg_addmem (keys, cert->curve_key, CERTBUS_KEY_SIZE);
    }
    zmsg_send (&keys, self->zap);
    zsock_wait (self->zap);
    //  Sessions of members no longer admitted are cut off at once
    s_session_t *session = zhashx_first (self->sessions);
    zlist_t *gone = zlist_new ();
    while (session) {
        const certbus_cert_t *cert = certbus_directory_find (dir, session->org);
        if (!cert || certbus_cert_check_time (cert, now) != CERTBUS_OK)
            zlist_append (gone, session);
        session = zhashx_next (self->sessions);
    }
    for (session = zlist_first (gone); session; session = zlist_next (gone)) {
        Certbus__Error error = CERTBUS__ERROR__INIT;
        error.code = CERTBUS_E_REVOKED;
        error.reason = "membership revoked or expired: connection closed by the Council broker";
        Certbus__Packet packet = CERTBUS__PACKET__INIT;
        packet.body_case = CERTBUS__PACKET__BODY_ERROR;
        packet.error = &error;
        certbus_packet_send (self->router, session->routing, &packet);
        zsys_notice ("broker: cut off org=%s reason=revoked", session->org);
        zhashx_delete (self->sessions, session->org);
    }
    zlist_destroy (&gone);
    zsys_info ("broker: directory version %llu, %zu members",
               (unsigned long long) certbus_directory_serial (dir), certbus_directory_count (dir));
    return 0;
}

//  Finds the member behind a frame from its authenticated transport key
//  (the User-Id our ZAP handler set). Checked on every frame, so a
//  revocation takes effect on the very next one.
static const certbus_cert_t *
s_member (self_t *self, zframe_t *frame)
{
    const char *user_id = zframe_meta (frame, "User-Id");
    uint8_t key [CERTBUS_KEY_SIZE];
    if (!user_id || certbus_unhex (user_id, key, sizeof key) != 0)
        return NULL;
    const certbus_cert_t *cert = certbus_directory_find_curve (self->directory, key);
    if (!cert || certbus_directory_revocation (self->directory, cert->serial)
        || certbus_cert_check_time (cert, certbus_now ()) != CERTBUS_OK)
        return NULL;
    return cert;
}

//  ---------------------------------------------------------------------
//  Sending

static void
s_send_error (self_t *self, zframe_t *routing, certbus_err_t code, const char *reason)
{
    Certbus__Error error = CERTBUS__ERROR__INIT;
    error.code = code;
    error.reason = (char *) reason;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_ERROR;
    packet.error = &error;
    certbus_packet_send (self->router, routing, &packet);
}

static void
s_send_directory (self_t *self, zframe_t *routing)
{
    Certbus__DirectoryReply reply = CERTBUS__DIRECTORY_REPLY__INIT;
    size_t size;
    reply.directory.data = (uint8_t *) certbus_directory_bytes (self->directory, &size);
    reply.directory.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REPLY;
    packet.directory_reply = &reply;
    certbus_packet_send (self->router, routing, &packet);
}

//  ---------------------------------------------------------------------
//  Transactions and audit

static int
s_txn (self_t *self)
{
    if (self->in_txn)
        return self->txn_failed ? -1 : 0;
    if (broker_store_begin (self->store)) {
        snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
        return -1;
    }
    self->in_txn = true;
    self->txn_failed = false;
    return 0;
}

static void
s_audit (self_t *self, const char *event, const char *org, const certbus_header_t *header,
         const char *decision, const char *rule, const char *reason, uint64_t sequence,
         char **recipients, size_t recipient_count)
{
    if (s_txn (self))
        return;
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.time = self->audit_time ? self->audit_time : certbus_now_ms ();
    self->audit_time = 0;
    record.event = (char *) event;
    record.org = (char *) org;
    if (header) {
        record.message_id.data = (uint8_t *) header->id;
        record.message_id.len = CERTBUS_ID_SIZE;
        record.kind = header->kind;
        record.tlp = header->tlp;
        record.audience = header->audience;
        record.ciphertext_hash.data = (uint8_t *) header->ciphertext_hash;
        record.ciphertext_hash.len = CERTBUS_HASH_SIZE;
        record.severity = header->severity;
        record.case_status = header->case_status;
        for (size_t i = 0; i < header->ref_count; i++)
            if (strcmp (header->refs [i].relation, "updates") == 0) {
                record.case_id.data = (uint8_t *) header->refs [i].id;
                record.case_id.len = CERTBUS_ID_SIZE;
            }
    }
    record.decision = (char *) (decision ? decision : "");
    record.rule = (char *) (rule ? rule : "");
    record.reason = (char *) (reason ? reason : "");
    record.sequence = sequence;
    record.recipients = recipients;
    record.n_recipients = recipient_count;
    if (broker_store_audit_append (self->store, &record)) {
        self->txn_failed = true;
        snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
    }
}

//  ---------------------------------------------------------------------
//  Publish

static s_reply_t *
s_reply_new (self_t *self, zframe_t *routing)
{
    if (self->reply_count == self->reply_cap) {
        self->reply_cap = self->reply_cap ? self->reply_cap * 2 : 64;
        self->replies = realloc (self->replies, self->reply_cap * sizeof (s_reply_t));
        if (!self->replies)
            abort ();
    }
    s_reply_t *reply = &self->replies [self->reply_count++];
    memset (reply, 0, sizeof *reply);
    certbus__pub_ack__init (&reply->ack);
    reply->routing = zframe_dup (routing);
    reply->received_at = certbus_now_ms ();
    return reply;
}

static void
s_reject (self_t *self, s_reply_t *reply, const char *org, const certbus_header_t *header,
          certbus_err_t code, const char *reason, const char *rule)
{
    reply->ack.status = CERTBUS__STATUS__STATUS_REJECTED;
    reply->ack.code = code;
    reply->reason = strdup (reason);
    reply->rule = strdup (rule ? rule : "");
    self->stats.rejected++;
    const char *name = certbus_err_name (code);
    zhashx_update (self->by_reason, name,
                   (void *) ((uintptr_t) zhashx_lookup (self->by_reason, name) + 1));
    char id [CERTBUS_ID_STR_SIZE] = "-";
    if (header)
        certbus_id_format (header->id, id);
    zsys_notice ("broker: rejected publish org=%s id=%s code=%s reason=\"%s\"%s%s", org, id,
                 certbus_err_name (code), reason, rule ? " rule=" : "", rule ? rule : "");
    s_audit (self, "reject", org, header, "reject", rule, reason, 0, NULL, 0);
}

//  The Council policy decides whether this sender may send this kind, at
//  this TLP, to this audience. Returns 0 to allow; the rule that decided is
//  written to *rule_p.
static int
s_policy_allows (self_t *self, const certbus_cert_t *sender, const certbus_header_t *header,
                 certbus_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    certbus_audience_t *audience = certbus_audience_parse (header->audience);
    if (!audience) {
        snprintf (decision->rule, sizeof decision->rule, "%s", CERTBUS_POLICY_DEFAULT_DENY);
        snprintf (decision->reason, sizeof decision->reason, "%s", certbus_reason ());
        return -1;
    }
    if (!self->policy) {
        snprintf (decision->rule, sizeof decision->rule, "%s", CERTBUS_POLICY_DEFAULT_DENY);
        snprintf (decision->reason, sizeof decision->reason,
                  "the broker has no policy loaded: everything is refused");
    }
    else
        certbus_policy_decide (self->policy, sender, header->kind, header->tlp,
                               header->case_status, audience, self->directory, decision);
    certbus_audience_destroy (&audience);
    return decision->allowed ? 0 : -1;
}

#define s_RULE_RECEIPT "receipt-to-publisher"

static int
s_receipt_allowed (self_t *self, const certbus_cert_t *sender, const certbus_header_t *header,
                   certbus_envelope_t *env, certbus_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    snprintf (decision->rule, sizeof decision->rule, "%s", s_RULE_RECEIPT);
    if (header->ref_count != 1 || strcmp (header->refs [0].relation, "receipt-for") != 0) {
        snprintf (decision->reason, sizeof decision->reason,
                  "a receipt must reference exactly one message (receipt-for)");
        return -1;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    Certbus__AuditRecord *record = NULL;
    int rc = -1;
    if (broker_store_audit_find (self->store, header->refs [0].id, "publish", &bytes, &size) < 0
        || certbus_codec_decode (&certbus__audit_record__descriptor, bytes, size,
                                 CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED, (void **) &record)) {
        snprintf (decision->reason, sizeof decision->reason,
                  "a receipt for a message the broker never accepted");
        goto cleanup;
    }
    bool was_recipient = false;
    for (size_t i = 0; i < record->n_recipients && !was_recipient; i++)
        was_recipient = strcmp (record->recipients [i], sender->org_id) == 0;
    char audience [CERTBUS_MAX_NAME + 8];
    snprintf (audience, sizeof audience, "org:%s", record->org);
    if (!was_recipient)
        snprintf (decision->reason, sizeof decision->reason,
                  "'%s' was not a recipient of the message it acknowledges", sender->org_id);
    else if (strcmp (header->audience, audience) != 0 || certbus_envelope_recipients (env) != 1
             || strcmp (certbus_envelope_recipient (env, 0), record->org) != 0)
        snprintf (decision->reason, sizeof decision->reason,
                  "a receipt goes only to the original publisher (%s)", audience);
    else {
        decision->allowed = true;
        rc = 0;
    }
cleanup:
    certbus_codec_free (record);
    free (bytes);
    return rc;
}

//  Loads DIR/policy.zpl. A file that does not parse is refused and the
//  policy in force stays.
static int
s_load_policy (self_t *self)
{
    char *path = council_path (self->config.dir, BROKER_POLICY);
    certbus_policy_t *policy = certbus_policy_load (path);
    free (path);
    if (!policy)
        return -1;
    certbus_policy_destroy (&self->policy);
    self->policy = policy;
    zsys_info ("broker: policy loaded, %zu rules, default deny", certbus_policy_rules (policy));
    return 0;
}

static int
s_strcmp_p (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
s_handle_publish (self_t *self, zframe_t *routing, const certbus_cert_t *sender,
                  s_item_t *item)
{
    s_reply_t *reply = s_reply_new (self, routing);
    certbus_envelope_t *env = item->env;   //  decoded with the batch; ours now
    item->env = NULL;
    char **allowed = NULL;
    size_t allowed_count = 0;
    char **queued = NULL;
    size_t queued_count = 0;
    const char *org = sender->org_id;
    certbus_err_t rc = item->env_rc;
    if (rc || !env) {
        s_reject (self, reply, org, NULL, rc ? rc : CERTBUS_E_INTERNAL,
                  item->env_reason ? item->env_reason : "envelope not decoded", NULL);
        goto cleanup;
    }
    const certbus_header_t *header = certbus_envelope_header (env);
    snprintf (reply->kind, sizeof reply->kind, "%s", header->kind);
    memcpy (reply->id, header->id, CERTBUS_ID_SIZE);
    //  message_id.data is pointed at reply->id in s_flush: the replies
    //  array may move while the batch grows
    reply->ack.message_id.len = CERTBUS_ID_SIZE;
    if (strcmp (header->origin, org) != 0 || header->origin_serial != sender->serial) {
        char reason [300];
        snprintf (reason, sizeof reason,
                  "envelope claims origin '%s' (certificate %llu) but was sent by member '%s' "
                  "(certificate %llu)",
                  header->origin, (unsigned long long) header->origin_serial, org,
                  (unsigned long long) sender->serial);
        s_reject (self, reply, org, header, CERTBUS_E_ORIGIN_MISMATCH, reason, NULL);
        goto cleanup;
    }
    rc = certbus_envelope_verify (env, self->directory, certbus_now (), NULL);
    if (rc) {
        s_reject (self, reply, org, header, rc, certbus_reason (), NULL);
        goto cleanup;
    }
    if (!certbus_envelope_complete (env)) {
        s_reject (self, reply, org, header, CERTBUS_E_RECIPIENTS_HASH,
                  "a publish must carry every recipient the envelope was sealed to", NULL);
        goto cleanup;
    }
    //  Duplicates get the original acknowledgement, never a second copy
    uint64_t seq;
    int64_t accepted_at;
    if (s_txn (self) == 0
        && broker_store_message_lookup (self->store, header->id, &seq, &accepted_at) == 1) {
        reply->ack.status = CERTBUS__STATUS__STATUS_DUPLICATE;
        reply->ack.sequence = seq;
        reply->ack.accepted_at = accepted_at;
        self->stats.duplicates++;
        goto cleanup;
    }
    //  TLP amber+strict may not travel further than its first recipients
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, "forwards") == 0
            && strcmp (header->tlp, "amber+strict") == 0) {
            s_reject (self, reply, org, header, CERTBUS_E_TLP,
                      "TLP amber+strict may not be forwarded", "tlp-amber-strict");
            goto cleanup;
        }
    certbus_decision_t decision;
    if (strcmp (header->kind, "receipt") == 0) {
        //  Receipts need no policy rule: they go back to the publisher of a
        //  message the sender really received, and nowhere else.
        if (s_receipt_allowed (self, sender, header, env, &decision) != 0) {
            s_reject (self, reply, org, header, CERTBUS_E_POLICY, decision.reason,
                      decision.rule);
            goto cleanup;
        }
    }
    else if (s_policy_allows (self, sender, header, &decision) != 0) {
        s_reject (self, reply, org, header, CERTBUS_E_POLICY, decision.reason, decision.rule);
        goto cleanup;
    }
    const char *rule = decision.rule;
    //  Incident updates: only participants of a known case may add to it
    const uint8_t *updates = NULL;
    bool forwarded = false;
    for (size_t i = 0; i < header->ref_count; i++) {
        if (strcmp (header->refs [i].relation, "updates") == 0)
            updates = header->refs [i].id;
        if (strcmp (header->refs [i].relation, "forwards") == 0)
            forwarded = true;
    }
    broker_case_t kase;
    bool is_incident = strcmp (header->kind, "incident") == 0;
    if (is_incident && updates) {
        char case_text [CERTBUS_ID_STR_SIZE], reason [300];
        certbus_id_format (updates, case_text);
        if (s_txn (self) || broker_store_case_get (self->store, updates, &kase) != 1) {
            snprintf (reason, sizeof reason, "case %s is not known to the broker", case_text);
            s_reject (self, reply, org, header, CERTBUS_E_NOT_FOUND, reason, NULL);
            goto cleanup;
        }
        if (broker_store_case_member (self->store, updates, org, false) != 1) {
            snprintf (reason, sizeof reason, "'%s' is not a participant of case %s", org,
                      case_text);
            s_reject (self, reply, org, header, CERTBUS_E_POLICY, reason, "case-participants");
            goto cleanup;
        }
    }
    //  Every recipient must be within what the signed audience resolves to
    //  here; members revoked since the sender's directory are dropped.
    rc = certbus_audience_resolve (header->audience, header->tlp, self->directory, org,
                                   certbus_now (), &allowed, &allowed_count);
    if (rc && rc != CERTBUS_E_AUDIENCE_EMPTY) {
        s_reject (self, reply, org, header, rc, certbus_reason (), NULL);
        goto cleanup;
    }
    size_t total = certbus_envelope_recipients (env);
    queued = calloc (total + 1, sizeof (char *));
    if (!queued)
        abort ();
    for (size_t i = 0; i < total; i++) {
        const char *recipient = certbus_envelope_recipient (env, i);
        if (strcmp (recipient, org) == 0)
            continue;   //  the sender's own copy: sealed for it, never queued
        const char *key = recipient;
        bool inside = allowed
                      && bsearch (&key, allowed, allowed_count, sizeof (char *), s_strcmp_p);
        if (!inside) {
            const certbus_cert_t *cert = certbus_directory_find (self->directory, recipient);
            if (!cert) {
                zsys_info ("broker: dropped recipient %s of publish from %s: not a current "
                           "member",
                           recipient, org);
                continue;
            }
            char reason [300];
            snprintf (reason, sizeof reason, "recipient '%s' is outside the audience '%s'",
                      recipient, header->audience);
            s_reject (self, reply, org, header, CERTBUS_E_RECIPIENTS, reason, NULL);
            goto cleanup;
        }
        queued [queued_count++] = (char *) recipient;
    }
    if (queued_count == 0) {
        s_reject (self, reply, org, header, CERTBUS_E_AUDIENCE_EMPTY,
                  "no recipient of this envelope is a current member", NULL);
        goto cleanup;
    }
    if (s_txn (self))
        goto cleanup;
    size_t base_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    int64_t now = certbus_now_ms ();
    int priority = strcmp (header->severity, "critical") == 0 ? 1 : 0;
    int failed = broker_store_message_insert (self->store, header, base, base_size, now,
                                              now + self->config.expiry_ms,
                                              (uint32_t) queued_count, &seq);
    free (base);
    for (size_t i = 0; !failed && i < total; i++) {
        const char *recipient = certbus_envelope_recipient (env, i);
        bool is_queued = false;
        for (size_t j = 0; j < queued_count && !is_queued; j++)
            is_queued = queued [j] == recipient;
        if (!is_queued)
            continue;
        size_t wrapped_size;
        uint8_t *wrapped = certbus_envelope_recipient_bytes (env, i, &wrapped_size);
        failed = broker_store_queue_insert (self->store, recipient, seq, priority, wrapped,
                                            wrapped_size);
        free (wrapped);
    }
    if (failed) {
        self->txn_failed = true;
        snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
        goto cleanup;
    }
    if (is_incident && !failed) {
        //  The case, from the signed header: who takes part, its status,
        //  and the times the Council's report is made of
        static const char *acknowledging [] = {"acknowledged", "investigating", "contained",
                                               "resolved", "closed"};
        if (!updates) {
            memset (&kase, 0, sizeof kase);
            memcpy (kase.case_id, header->id, CERTBUS_ID_SIZE);
            snprintf (kase.origin, sizeof kase.origin, "%s", org);
            snprintf (kase.severity, sizeof kase.severity, "%s", header->severity);
            snprintf (kase.status, sizeof kase.status, "%s",
                      *header->case_status ? header->case_status : "reported");
            kase.opened_at = kase.updated_at = now;
        }
        else if (!forwarded && *header->case_status) {
            snprintf (kase.status, sizeof kase.status, "%s", header->case_status);
            kase.updated_at = now;
            for (size_t i = 0; i < 5 && !kase.first_ack_at; i++)
                if (strcmp (header->case_status, acknowledging [i]) == 0
                    && strcmp (org, kase.origin) != 0)
                    kase.first_ack_at = now;
            if (!kase.resolved_at
                && (strcmp (header->case_status, "resolved") == 0
                    || strcmp (header->case_status, "closed") == 0))
                kase.resolved_at = now;
        }
        failed = broker_store_case_put (self->store, &kase)
                 || broker_store_case_member (self->store, kase.case_id, org, true);
        for (size_t i = 0; !failed && i < queued_count; i++)
            failed = broker_store_case_member (self->store, kase.case_id, queued [i], true);
        if (failed) {
            self->txn_failed = true;
            snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
            goto cleanup;
        }
    }
    self->audit_time = now;
    s_audit (self, strcmp (header->kind, "receipt") == 0 ? "receipt" : "publish", org, header,
             "accept", rule, "", seq, queued, queued_count);
    reply->ack.status = CERTBUS__STATUS__STATUS_ACCEPTED;
    reply->ack.sequence = seq;
    reply->ack.accepted_at = now;
    reply->rule = strdup (rule);
    reply->recipients = calloc (queued_count, sizeof (char *));
    for (size_t i = 0; i < queued_count; i++)
        reply->recipients [i] = strdup (queued [i]);
    reply->recipient_count = queued_count;
cleanup:
    free (queued);
    certbus_strv_free (allowed, allowed_count);
    certbus_envelope_destroy (&env);
}

//  Commits the batch, then answers every publish in it. A failed commit
//  turns every acceptance into a rejection: nothing unsaved is acknowledged.
static void
s_flush (self_t *self)
{
    bool ok = true;
    if (self->in_txn) {
        if (self->txn_failed) {
            broker_store_rollback (self->store);
            ok = false;
        }
        else if (broker_store_commit (self->store)) {
            snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
            ok = false;
        }
        else
            self->stats.commits++;
        self->in_txn = false;
        self->txn_failed = false;
    }
    bool full = strstr (self->last_error, "full") != NULL;
    for (size_t i = 0; i < self->reply_count; i++) {
        s_reply_t *reply = &self->replies [i];
        if (!ok && reply->ack.status != CERTBUS__STATUS__STATUS_REJECTED) {
            reply->ack.status = CERTBUS__STATUS__STATUS_REJECTED;
            reply->ack.code = full ? CERTBUS_E_STORAGE_FULL : CERTBUS_E_IO;
            free (reply->reason);
            char reason [400];
            snprintf (reason, sizeof reason,
                      "the broker could not store the message (%s); nothing was accepted, "
                      "publish again later",
                      self->last_error);
            reply->reason = strdup (reason);
            zsys_error ("broker: batch not stored: %s", self->last_error);
        }
        else if (reply->ack.status == CERTBUS__STATUS__STATUS_ACCEPTED) {
            self->stats.accepted++;
            zhashx_update (self->by_kind, reply->kind,
                           (void *) ((uintptr_t) zhashx_lookup (self->by_kind, reply->kind) + 1));
            s_observe (&self->commit_latency,
                       (double) (certbus_now_ms () - reply->received_at) / 1000.0);
            for (size_t j = 0; j < reply->recipient_count; j++) {
                s_session_t *session = zhashx_lookup (self->sessions, reply->recipients [j]);
                if (session)
                    session->dirty = true;
            }
        }
        if (reply->ack.message_id.len)
            reply->ack.message_id.data = reply->id;
        if (reply->ack.status == CERTBUS__STATUS__STATUS_UNSPECIFIED) {
            //  Decided nothing (the transaction could not start): refuse
            reply->ack.status = CERTBUS__STATUS__STATUS_REJECTED;
            reply->ack.code = CERTBUS_E_IO;
            free (reply->reason);
            reply->reason = zsys_sprintf ("the broker could not store the message (%s); "
                                          "publish again later",
                                          self->last_error);
        }
        reply->ack.reason = reply->reason ? reply->reason : "";
        reply->ack.rule = reply->rule ? reply->rule : "";
        Certbus__Packet packet = CERTBUS__PACKET__INIT;
        packet.body_case = CERTBUS__PACKET__BODY_PUBACK;
        packet.puback = &reply->ack;
        certbus_packet_send (self->router, reply->routing, &packet);
        zframe_destroy (&reply->routing);
        free (reply->reason);
        free (reply->rule);
        certbus_strv_free (reply->recipients, reply->recipient_count);
    }
    self->reply_count = 0;
    if (!ok)
        //  Acknowledgements in the failed batch were lost too: those
        //  deliveries go out again, but only after a pause, so a full disk
        //  does not turn into a resend storm
        self->pump_after = certbus_now_ms () + 1000;
}

static void
s_bad_frame (self_t *self, zframe_t *routing, const certbus_cert_t *member, certbus_err_t code,
             const char *reason);

//  ---------------------------------------------------------------------
//  Sessions and delivery

static void
s_handle_hello (self_t *self, zframe_t *routing, const certbus_cert_t *member, Certbus__Hello *hello)
{
    s_session_t *session = zhashx_lookup (self->sessions, member->org_id);
    if (!session) {
        session = calloc (1, sizeof *session);
        if (!session)
            abort ();
        session->org = strdup (member->org_id);
        session->inflight = calloc ((size_t) self->config.window, sizeof (uint64_t));
        zhashx_insert (self->sessions, session->org, session);
    }
    zframe_destroy (&session->routing);
    session->routing = zframe_dup (routing);
    session->ready = true;
    session->dirty = true;
    //  Whatever was in flight in an earlier session is delivered again
    session->inflight_count = 0;
    session->cursor [0] = session->cursor [1] = 0;
    session->window = self->config.window;
    if (hello->credit > 0 && (int) hello->credit < session->window)
        session->window = (int) hello->credit;
    session->last_seen = certbus_now_ms ();
    session->delivered = 0;
    zsys_info ("broker: hello org=%s window=%d directory=%llu", member->org_id, session->window,
               (unsigned long long) hello->directory_serial);
    Certbus__Hello welcome = CERTBUS__HELLO__INIT;
    welcome.credit = (uint32_t) session->window;
    welcome.directory_serial = certbus_directory_serial (self->directory);
    welcome.agent = "certbus-broker " CERTBUS_VERSION;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &welcome;
    certbus_packet_send (self->router, routing, &packet);
    if (hello->directory_serial < certbus_directory_serial (self->directory))
        s_send_directory (self, routing);
}

static void
s_handle_acks (self_t *self, zframe_t *routing, const certbus_cert_t *member,
               Certbus__DeliverAck *ack)
{
    //  Only deliveries in flight in this session can be acknowledged: an
    //  ack for anything else (never sent, or sent in an earlier session)
    //  is ignored, and the message is delivered again and acknowledged then.
    s_session_t *session = zhashx_lookup (self->sessions, member->org_id);
    if (!session || !session->ready || !zframe_eq (session->routing, routing))
        return;
    if (ack->n_sequences > (size_t) session->window) {
        s_bad_frame (self, routing, member, CERTBUS_E_TOO_LARGE,
                     "a deliver-ack may not list more sequences than the credit window");
        return;
    }
    if (s_txn (self))
        return;
    for (size_t i = 0; i < ack->n_sequences; i++) {
        uint64_t qseq = ack->sequences [i];
        bool in_flight = false;
        for (int j = 0; j < session->inflight_count && !in_flight; j++)
            in_flight = session->inflight [j] == qseq;
        if (!in_flight)
            continue;
        uint64_t msg_seq = 0;
        int found = broker_store_queue_ack (self->store, member->org_id, qseq, &msg_seq);
        if (found < 0) {
            self->txn_failed = true;
            return;
        }
        self->stats.acks += (uint64_t) found;
        certbus_header_t delivered;
        if (found && broker_store_message_by_seq (self->store, msg_seq, &delivered) == 1) {
            delivered.case_status = "";
            s_audit (self, "deliver", member->org_id, &delivered, "delivered", NULL, "", qseq,
                     NULL, 0);
            broker_store_header_free (&delivered);
        }
        for (int j = 0; j < session->inflight_count; j++)
            if (session->inflight [j] == qseq) {
                session->inflight [j] = session->inflight [--session->inflight_count];
                break;
            }
        session->dirty = true;
    }
}

typedef struct {
    self_t *self;
    s_session_t *session;
    int priority;                    //  the class being pumped
    int room;                        //  deliveries we may still send
} s_pump_t;

static int
s_pump_one (void *arg, const broker_delivery_t *delivery)
{
    s_pump_t *pump = arg;
    s_session_t *session = pump->session;
    session->cursor [pump->priority] = delivery->qseq;
    for (int i = 0; i < session->inflight_count; i++)
        if (session->inflight [i] == delivery->qseq)
            return 0;
    if (delivery->damaged) {
        //  Never served: it stays queued for an operator to see
        if (!pump->self->damaged_seen) {
            zsys_error ("broker: message %llu is damaged in the database (its digest does not "
                        "match); it is not delivered: restore the database from a backup",
                        (unsigned long long) delivery->msg_seq);
            snprintf (pump->self->last_error, sizeof pump->self->last_error,
                      "message %llu is damaged in the database", (unsigned long long) delivery->msg_seq);
        }
        pump->self->damaged_seen = true;
        return 0;
    }
    size_t size = delivery->envelope_size + delivery->wrapped_size;
    uint8_t *bytes = malloc (size ? size : 1);
    if (!bytes)
        abort ();
    memcpy (bytes, delivery->envelope, delivery->envelope_size);
    memcpy (bytes + delivery->envelope_size, delivery->wrapped, delivery->wrapped_size);
    Certbus__Deliver deliver = CERTBUS__DELIVER__INIT;
    deliver.sequence = delivery->qseq;
    deliver.envelope.data = bytes;
    deliver.envelope.len = size;
    deliver.accepted_at = delivery->accepted_at;
    deliver.message_sequence = delivery->msg_seq;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER;
    packet.deliver = &deliver;
    certbus_packet_send (pump->self->router, session->routing, &packet);
    free (bytes);
    session->inflight [session->inflight_count++] = delivery->qseq;
    session->delivered++;
    pump->self->stats.deliveries++;
    uint64_t max_sent = (uint64_t) (uintptr_t) zhashx_lookup (pump->self->max_sent, session->org);
    if (delivery->qseq <= max_sent)
        pump->self->stats.redeliveries++;
    else
        zhashx_update (pump->self->max_sent, session->org, (void *) (uintptr_t) delivery->qseq);
    return --pump->room > 0 ? 0 : 1;
}

//  Sends up to room deliveries of one priority class to a session.
//  Returns true when that class has nothing more to send.
static bool
s_pump_class (self_t *self, s_session_t *session, int priority, int room)
{
    if (room <= 0)
        return false;
    s_pump_t pump = {self, session, priority, room};
    int limit = room;
    int rows = broker_store_queue_fetch (self->store, session->org, priority,
                                         session->cursor [priority], limit, s_pump_one, &pump);
    //  Exhausted only when the rows ran out before the room did
    return rows >= 0 && rows < limit && pump.room > 0;
}

//  The delivery rule: within each member's queue, critical messages go
//  first. Of each window's free slots, up to three quarters go to the
//  oldest critical messages and the rest to the oldest other messages; a
//  slot one class cannot use goes to the other. A flood of critical
//  alerts slows routine traffic but never stops it.
static void
s_pump (self_t *self)
{
    if (self->pump_after) {
        if (certbus_now_ms () < self->pump_after)
            return;
        self->pump_after = 0;
        //  Acks lost with the failed batch left rows behind the cursors
        for (s_session_t *s = zhashx_first (self->sessions); s; s = zhashx_next (self->sessions)) {
            s->dirty = true;
            s->cursor [0] = s->cursor [1] = 0;
        }
    }
    s_session_t *session = zhashx_first (self->sessions);
    while (session) {
        if (session->ready && session->dirty && session->inflight_count < session->window) {
            int room = session->window - session->inflight_count;
            int critical_room = room - room / 4;
            bool critical_done = s_pump_class (self, session, 1, critical_room);
            bool routine_done = s_pump_class (self, session, 0,
                                              session->window - session->inflight_count);
            if (!critical_done)
                critical_done = s_pump_class (self, session, 1,
                                              session->window - session->inflight_count);
            if (critical_done && routine_done)
                session->dirty = false;
        }
        session = zhashx_next (self->sessions);
    }
}

//  Signs and stores a tree head over the whole audit log when it has grown
//  by head_records, when head_ms has passed since the last head, or when
//  forced (a proof needs one). Timestamps strictly increase.
static int
s_issue_head (self_t *self, bool force)
{
    int64_t size = broker_store_audit_size (self->store);
    if (size <= 0 || (self->have_head && (uint64_t) size == self->head.size))
        return 0;
    int64_t now = certbus_now_ms ();
    bool due = force || !self->have_head
               || (uint64_t) size - self->head.size >= (uint64_t) self->config.head_records
               || now - self->head.timestamp >= self->config.head_ms;
    if (!due || self->in_txn)
        return 0;
    certbus_tree_head_t head;
    head.size = (uint64_t) size;
    head.timestamp = self->have_head && now <= self->head.timestamp ? self->head.timestamp + 1
                                                                     : now;
    broker_store_audit_root (self->store, head.root);
    size_t bytes_size;
    uint8_t *bytes = certbus_tree_head_sign (self->identity, &head, &bytes_size);
    int rc = -1;
    if (broker_store_begin (self->store) == 0) {
        if (broker_store_tree_head_add (self->store, &head, bytes, bytes_size) == 0
            && broker_store_commit (self->store) == 0)
            rc = 0;
        else
            broker_store_rollback (self->store);
    }
    free (bytes);
    if (rc == 0) {
        self->head = head;
        self->have_head = true;
    }
    else
        snprintf (self->last_error, sizeof self->last_error, "tree head: %s",
                  certbus_reason ());
    return rc;
}

static void
s_handle_proof (self_t *self, zframe_t *routing, Certbus__ProofRequest *request)
{
    Certbus__ProofReply reply = CERTBUS__PROOF_REPLY__INIT;
    uint8_t *record = NULL, *head_bytes = NULL;
    size_t record_size = 0, head_size = 0;
    uint8_t inclusion [CERTBUS_MERKLE_PROOF_MAX_BYTES], consistency [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t inclusion_len = 0, consistency_len = 0;
    ProtobufCBinaryData inclusion_items [CERTBUS_MERKLE_PROOF_MAX],
        consistency_items [CERTBUS_MERKLE_PROOF_MAX];
    int64_t index = -1;
    if (request->message_id.len == CERTBUS_ID_SIZE)
        index = broker_store_audit_find (self->store, request->message_id.data, "publish",
                                         &record, &record_size);
    if (index < 0) {
        reply.code = CERTBUS_E_NOT_FOUND;
        reply.reason = "no accepted publish of that message in the audit log";
        goto send;
    }
    if (!self->have_head || self->head.size <= (uint64_t) index)
        s_issue_head (self, true);
    certbus_tree_head_t head;
    if (broker_store_tree_head_latest (self->store, &head, &head_bytes, &head_size) != 1
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
                                        broker_store_audit_node, self->store)
        || (request->old_size > 0
            && certbus_merkle_consistency_proof (consistency, &consistency_len,
                                                 request->old_size, head.size,
                                                 broker_store_audit_node, self->store))) {
        reply.code = CERTBUS_E_IO;
        reply.reason = (char *) certbus_reason ();
        goto send;
    }
    reply.leaf_index = (uint64_t) index;
    reply.leaf.data = record;
    reply.leaf.len = record_size;
    reply.tree_head.data = head_bytes;
    reply.tree_head.len = head_size;
    reply.n_inclusion = inclusion_len / 32;
    reply.inclusion = inclusion_items;
    for (size_t i = 0; i < reply.n_inclusion; i++) {
        inclusion_items [i].data = inclusion + 32 * i;
        inclusion_items [i].len = 32;
    }
    reply.n_consistency = consistency_len / 32;
    reply.consistency = consistency_items;
    for (size_t i = 0; i < reply.n_consistency; i++) {
        consistency_items [i].data = consistency + 32 * i;
        consistency_items [i].len = 32;
    }
send:;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REPLY;
    packet.proof_reply = &reply;
    certbus_packet_send (self->router, routing, &packet);
    free (record);
    free (head_bytes);
}

static void
s_tick (self_t *self)
{
    int64_t now = certbus_now_ms ();
    if (now < self->next_tick)
        return;
    self->next_tick = now + self->config.heartbeat_ms;
    //  Council commands (issue, revoke) write the same database
    int64_t version = broker_store_data_version (self->store);
    if (version != self->data_version) {
        self->data_version = version;
        if (s_load_directory (self))
            zsys_error ("broker: cannot load the new directory: %s", certbus_reason ());
    }
    zlist_t *gone = zlist_new ();
    s_session_t *session = zhashx_first (self->sessions);
    while (session) {
        if (now - session->last_seen > self->config.peer_timeout_ms)
            zlist_append (gone, session->org);
        else {
            Certbus__Ping ping = CERTBUS__PING__INIT;
            ping.time = now;
            Certbus__Packet packet = CERTBUS__PACKET__INIT;
            packet.body_case = CERTBUS__PACKET__BODY_PING;
            packet.ping = &ping;
            certbus_packet_send (self->router, session->routing, &packet);
        }
        session = zhashx_next (self->sessions);
    }
    for (char *org = zlist_first (gone); org; org = zlist_next (gone)) {
        zsys_notice ("broker: org=%s silent for %d ms: session closed", org,
                     self->config.peer_timeout_ms);
        self->stats.sessions_expired++;
        zhashx_delete (self->sessions, org);
    }
    zlist_destroy (&gone);
    s_issue_head (self, false);
    if (now >= self->next_expire) {
        //  Once a minute, or sooner when messages live less than minutes
        int64_t every = self->config.expiry_ms / 4;
        self->next_expire = now + (every < 100 ? 100 : every > 60000 ? 60000 : every);
        int removed = broker_store_expire (self->store, now);
        if (removed > 0)
            zsys_info ("broker: expired %d messages", removed);
    }
}

//  ---------------------------------------------------------------------
//  Router

static void
s_bad_frame (self_t *self, zframe_t *routing, const certbus_cert_t *member, certbus_err_t code,
             const char *reason)
{
    self->stats.bad_frames++;
    zsys_notice ("broker: bad packet org=%s code=%s reason=\"%s\"", member->org_id,
                 certbus_err_name (code), reason);
    s_audit (self, "bad-packet", member->org_id, NULL, "reject", NULL, reason, 0, NULL, 0);
    s_send_error (self, routing, code, reason);
}

//  Receives one message into item and decodes what can be decoded before
//  the batch is handled. Returns -1 when there was nothing usable.
static int
s_router_recv (self_t *self, s_item_t *item)
{
    memset (item, 0, sizeof *item);
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return -1;
    self->stats.received++;
    item->routing = zmsg_pop (msg);
    item->payload = zmsg_pop (msg);
    item->extra_frames = zmsg_size (msg) > 0;
    zmsg_destroy (&msg);
    if (!item->routing || !item->payload) {
        zframe_destroy (&item->routing);
        zframe_destroy (&item->payload);
        return -1;
    }
    item->member = s_member (self, item->payload);
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
    }
    return 0;
}

//  Checks the signatures of the batch's publishes on every core. Each
//  origin's key is looked up here, on the engine's thread; whatever the
//  directory says against a publish is found again, and reported, when
//  certbus_envelope_verify runs as the publish is handled.
static void
s_check_signatures (self_t *self, int count)
{
    size_t jobs = 0;
    for (int i = 0; i < count; i++) {
        s_item_t *item = &self->items [i];
        if (!item->env)
            continue;
        const certbus_header_t *header = certbus_envelope_header (item->env);
        const certbus_cert_t *cert = certbus_directory_find (self->directory, header->origin);
        if (!cert || cert->serial != header->origin_serial)
            continue;
        self->jobs [jobs].env = item->env;
        self->jobs [jobs].sign_key = cert->sign_key;
        jobs++;
    }
    broker_verifier_run (self->verifier, self->jobs, jobs);
}

static void
s_item_clear (s_item_t *item)
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

//  Handles one received message, in the order they arrived
static void
s_handle_item (self_t *self, s_item_t *item)
{
    zframe_t *routing = item->routing;
    zframe_t *payload = item->payload;
    const certbus_cert_t *member = item->member;
    if (!member) {
        self->stats.refused_members++;
        const char *user_id = zframe_meta (payload, "User-Id");
        zsys_notice ("broker: refused frame from key %.16s: not a current member",
                     user_id ? user_id : "?");
        s_audit (self, "refused", user_id ? user_id : "unknown", NULL, "reject", NULL,
                 "not a current member", 0, NULL, 0);
        s_send_error (self, routing, CERTBUS_E_REVOKED,
                      "not a current member of this Council: revoked or expired");
        goto cleanup;
    }
    if (item->extra_frames) {
        s_bad_frame (self, routing, member, CERTBUS_E_PROTOCOL,
                     "one packet per message: extra frames refused");
        goto cleanup;
    }
    Certbus__Packet *packet = item->packet;
    if (item->packet_rc || !packet) {
        s_bad_frame (self, routing, member, item->packet_rc ? item->packet_rc : CERTBUS_E_PROTOCOL,
                     item->packet_reason ? item->packet_reason : "undecodable packet");
        goto cleanup;
    }
    s_session_t *session = zhashx_lookup (self->sessions, member->org_id);
    if (session && zframe_eq (session->routing, routing))
        session->last_seen = certbus_now_ms ();
    else
        session = NULL;
    switch (packet->body_case) {
        case CERTBUS__PACKET__BODY_HELLO:
            s_handle_hello (self, routing, member, packet->hello);
            break;
        case CERTBUS__PACKET__BODY_PUBLISH:
            s_handle_publish (self, routing, member, item);
            break;
        case CERTBUS__PACKET__BODY_DELIVER_ACK:
            s_handle_acks (self, routing, member, packet->deliver_ack);
            break;
        case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST:
            s_send_directory (self, routing);
            break;
        case CERTBUS__PACKET__BODY_PROOF_REQUEST:
            s_flush (self);
            s_handle_proof (self, routing, packet->proof_request);
            break;
        case CERTBUS__PACKET__BODY_PING:
            if (session) {
                Certbus__Pong pong = CERTBUS__PONG__INIT;
                pong.time = packet->ping->time;
                Certbus__Packet reply = CERTBUS__PACKET__INIT;
                reply.body_case = CERTBUS__PACKET__BODY_PONG;
                reply.pong = &pong;
                certbus_packet_send (self->router, routing, &reply);
            }
            else
                s_send_error (self, routing, CERTBUS_E_PROTOCOL, "no session: send hello");
            break;
        case CERTBUS__PACKET__BODY_PONG:
            if (!session)
                s_send_error (self, routing, CERTBUS_E_PROTOCOL, "no session: send hello");
            break;
        default: {
            char reason [128];
            snprintf (reason, sizeof reason, "a member may not send a %s packet",
                      certbus_packet_name (packet));
            s_bad_frame (self, routing, member, CERTBUS_E_PROTOCOL, reason);
        }
    }
cleanup:
    s_item_clear (item);
}

//  ---------------------------------------------------------------------
//  Commands

static char *
s_stats_json (self_t *self)
{
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb,
                       "{\"endpoint\":\"%s\",\"directory\":%llu,\"members\":%zu,"
                       "\"received\":%llu,\"accepted\":%llu,\"rejected\":%llu,"
                       "\"duplicates\":%llu,\"deliveries\":%llu,\"acks\":%llu,"
                       "\"bad_packets\":%llu,\"refused_frames\":%llu,\"commits\":%llu,"
                       "\"audit_size\":%lld,\"messages\":%lld,\"queued\":%lld,"
                       "\"window\":%d,\"tree_head_size\":%llu,\"tree_head_time\":%lld,"
                       "\"policy_rules\":%zu,\"last_error\":",
                       self->endpoint,
                       (unsigned long long) certbus_directory_serial (self->directory),
                       certbus_directory_count (self->directory),
                       (unsigned long long) self->stats.received,
                       (unsigned long long) self->stats.accepted,
                       (unsigned long long) self->stats.rejected,
                       (unsigned long long) self->stats.duplicates,
                       (unsigned long long) self->stats.deliveries,
                       (unsigned long long) self->stats.acks,
                       (unsigned long long) self->stats.bad_frames,
                       (unsigned long long) self->stats.refused_members,
                       (unsigned long long) self->stats.commits,
                       (long long) broker_store_audit_size (self->store),
                       (long long) broker_store_count (self->store, "messages"),
                       (long long) broker_store_count (self->store, "queue"), self->config.window,
                       (unsigned long long) (self->have_head ? self->head.size : 0),
                       (long long) (self->have_head ? self->head.timestamp : 0),
                       self->policy ? certbus_policy_rules (self->policy) : 0);
    certbus_sb_json_str (&sb, self->last_error);
    certbus_sb_printf (&sb, ",\"sessions\":[");
    s_session_t *session = zhashx_first (self->sessions);
    bool first = true;
    while (session) {
        const certbus_cert_t *cert = certbus_directory_find (self->directory, session->org);
        int64_t oldest = 0;
        int64_t depth = broker_store_queue_depth (self->store, session->org, &oldest);
        certbus_sb_printf (&sb,
                           "%s{\"org\":\"%s\",\"tier\":\"%s\",\"ready\":%s,\"inflight\":%d,"
                           "\"window\":%d,\"delivered\":%llu,\"queued\":%lld,"
                           "\"idle_ms\":%lld}",
                           first ? "" : ",", session->org,
                           cert ? certbus_tier_name (cert->tier) : "unknown",
                           session->ready ? "true" : "false", session->inflight_count,
                           session->window, (unsigned long long) session->delivered,
                           (long long) depth,
                           (long long) (certbus_now_ms () - session->last_seen));
        first = false;
        session = zhashx_next (self->sessions);
    }
    certbus_sb_printf (&sb, "]}");
    return sb.data;
}

static void
s_metric_histogram (certbus_sb_t *sb, const char *name, const char *labels,
                    const s_histogram_t *h)
{
    uint64_t cumulative = 0;
    for (int b = 0; b <= s_BUCKETS; b++) {
        cumulative += h->counts [b];
        if (b < s_BUCKETS)
            certbus_sb_printf (sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                               *labels ? "," : "", s_bucket_bounds [b],
                               (unsigned long long) cumulative);
        else
            certbus_sb_printf (sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                               *labels ? "," : "", (unsigned long long) cumulative);
    }
    if (*labels)
        certbus_sb_printf (sb, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, h->sum,
                           name, labels, (unsigned long long) h->count);
    else
        certbus_sb_printf (sb, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
                           (unsigned long long) h->count);
}

static void
s_metric_depth (void *arg, const char *recipient, int64_t depth, int64_t oldest)
{
    certbus_sb_t *sb = arg;
    certbus_sb_printf (sb, "certbus_queue_depth{member=\"%s\"} %lld\n", recipient,
                       (long long) depth);
    certbus_sb_printf (sb, "certbus_queue_oldest_age_seconds{member=\"%s\"} %.3f\n", recipient,
                       depth > 0 ? (double) (certbus_now_ms () - oldest) / 1000.0 : 0.0);
}

//  Response-time histograms of incident cases, by reporter tier and severity
typedef struct {
    self_t *self;
    zhashx_t *ack;                   //  "tier|severity" -> s_histogram_t
    zhashx_t *resolve;
} s_case_metrics_t;

static int
s_metric_case (void *arg, const broker_case_t *c)
{
    s_case_metrics_t *m = arg;
    const certbus_cert_t *cert = certbus_directory_find (m->self->directory, c->origin);
    char key [96];
    snprintf (key, sizeof key, "%s|%s", cert ? certbus_tier_name (cert->tier) : "unknown",
              c->severity);
    for (int pass = 0; pass < 2; pass++) {
        zhashx_t *table = pass ? m->resolve : m->ack;
        int64_t at = pass ? c->resolved_at : c->first_ack_at;
        s_histogram_t *h = zhashx_lookup (table, key);
        if (!h) {
            h = calloc (1, sizeof *h);
            if (!h)
                abort ();
            zhashx_insert (table, key, h);
        }
        if (at)
            s_observe (h, (double) (at - c->opened_at) / 1000.0);
    }
    return 0;
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static char *
s_metrics_text (self_t *self)
{
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb, "# HELP certbus_build_info certbus build\n# TYPE certbus_build_info gauge\n"
                            "certbus_build_info{version=\"%s\"} 1\n",
                       CERTBUS_VERSION);
    certbus_sb_printf (&sb, "# HELP certbus_messages_received_total Publishes accepted, by kind\n"
                            "# TYPE certbus_messages_received_total counter\n");
    for (void *v = zhashx_first (self->by_kind); v; v = zhashx_next (self->by_kind))
        certbus_sb_printf (&sb, "certbus_messages_received_total{kind=\"%s\"} %llu\n",
                           (const char *) zhashx_cursor (self->by_kind),
                           (unsigned long long) (uintptr_t) v);
    certbus_sb_printf (&sb, "# HELP certbus_publishes_total Publish decisions\n"
                            "# TYPE certbus_publishes_total counter\n"
                            "certbus_publishes_total{decision=\"accept\",reason=\"\"} %llu\n"
                            "certbus_publishes_total{decision=\"duplicate\",reason=\"\"} %llu\n",
                       (unsigned long long) self->stats.accepted,
                       (unsigned long long) self->stats.duplicates);
    for (void *v = zhashx_first (self->by_reason); v; v = zhashx_next (self->by_reason))
        certbus_sb_printf (&sb, "certbus_publishes_total{decision=\"reject\",reason=\"%s\"} %llu\n",
                           (const char *) zhashx_cursor (self->by_reason),
                           (unsigned long long) (uintptr_t) v);
    certbus_sb_printf (&sb,
                       "# HELP certbus_packets_received_total Packets from members\n"
                       "# TYPE certbus_packets_received_total counter\n"
                       "certbus_packets_received_total %llu\n"
                       "# HELP certbus_bad_packets_total Malformed or unexpected packets\n"
                       "# TYPE certbus_bad_packets_total counter\n"
                       "certbus_bad_packets_total %llu\n"
                       "# HELP certbus_refused_frames_total Frames from non-members\n"
                       "# TYPE certbus_refused_frames_total counter\n"
                       "certbus_refused_frames_total %llu\n"
                       "# HELP certbus_deliveries_total Deliveries sent\n"
                       "# TYPE certbus_deliveries_total counter\n"
                       "certbus_deliveries_total %llu\n"
                       "# HELP certbus_redeliveries_total Deliveries sent again\n"
                       "# TYPE certbus_redeliveries_total counter\n"
                       "certbus_redeliveries_total %llu\n"
                       "# HELP certbus_delivery_acks_total Deliveries acknowledged\n"
                       "# TYPE certbus_delivery_acks_total counter\n"
                       "certbus_delivery_acks_total %llu\n"
                       "# HELP certbus_commits_total Database transactions committed\n"
                       "# TYPE certbus_commits_total counter\n"
                       "certbus_commits_total %llu\n",
                       (unsigned long long) self->stats.received,
                       (unsigned long long) self->stats.bad_frames,
                       (unsigned long long) self->stats.refused_members,
                       (unsigned long long) self->stats.deliveries,
                       (unsigned long long) self->stats.redeliveries,
                       (unsigned long long) self->stats.acks,
                       (unsigned long long) self->stats.commits);
    certbus_sb_printf (&sb, "# HELP certbus_queue_depth Deliveries waiting, per member\n"
                            "# TYPE certbus_queue_depth gauge\n"
                            "# HELP certbus_queue_oldest_age_seconds Age of the oldest waiting "
                            "delivery, per member\n"
                            "# TYPE certbus_queue_oldest_age_seconds gauge\n");
    broker_store_queue_depths (self->store, s_metric_depth, &sb);
    certbus_sb_printf (&sb, "# HELP certbus_members_connected Members with a session, by tier\n"
                            "# TYPE certbus_members_connected gauge\n");
    for (int tier = CERTBUS_TIER_NATIONAL; tier <= CERTBUS_TIER_ORGANIZATION; tier++) {
        int connected = 0;
        for (s_session_t *session = zhashx_first (self->sessions); session;
             session = zhashx_next (self->sessions)) {
            const certbus_cert_t *cert = certbus_directory_find (self->directory, session->org);
            if (session->ready && cert && (int) cert->tier == tier)
                connected++;
        }
        certbus_sb_printf (&sb, "certbus_members_connected{tier=\"%s\"} %d\n",
                           certbus_tier_name ((certbus_tier_t) tier), connected);
    }
    certbus_sb_printf (&sb, "# HELP certbus_members Current members in the directory\n"
                            "# TYPE certbus_members gauge\ncertbus_members %zu\n"
                            "# HELP certbus_directory_version Directory version served\n"
                            "# TYPE certbus_directory_version gauge\ncertbus_directory_version %llu\n",
                       certbus_directory_count (self->directory),
                       (unsigned long long) certbus_directory_serial (self->directory));
    certbus_sb_printf (&sb, "# HELP certbus_publish_commit_seconds From publish received to "
                            "durably committed\n# TYPE certbus_publish_commit_seconds histogram\n");
    s_metric_histogram (&sb, "certbus_publish_commit_seconds", "", &self->commit_latency);
    certbus_sb_printf (&sb, "# HELP certbus_audit_tree_size Records in the audit log\n"
                            "# TYPE certbus_audit_tree_size gauge\ncertbus_audit_tree_size %lld\n"
                            "# HELP certbus_audit_tree_head_size Records under the newest signed "
                            "tree head\n# TYPE certbus_audit_tree_head_size gauge\n"
                            "certbus_audit_tree_head_size %llu\n",
                       (long long) broker_store_audit_size (self->store),
                       (unsigned long long) (self->have_head ? self->head.size : 0));
    s_case_metrics_t cases = {self, zhashx_new (), zhashx_new ()};
    zhashx_set_destructor (cases.ack, s_free_item);
    zhashx_set_destructor (cases.resolve, s_free_item);
    broker_store_cases_each (self->store, 0, s_metric_case, &cases);
    const char *names [2] = {"certbus_case_ack_seconds", "certbus_case_resolve_seconds"};
    const char *helps [2] = {"Time from incident report to first acknowledgement",
                             "Time from incident report to resolution"};
    for (int pass = 0; pass < 2; pass++) {
        zhashx_t *table = pass ? cases.resolve : cases.ack;
        certbus_sb_printf (&sb, "# HELP %s %s\n# TYPE %s histogram\n", names [pass],
                           helps [pass], names [pass]);
        for (s_histogram_t *h = zhashx_first (table); h; h = zhashx_next (table)) {
            char key [96], labels [128];
            snprintf (key, sizeof key, "%s", (const char *) zhashx_cursor (table));
            char *bar = strchr (key, '|');
            *bar = 0;
            snprintf (labels, sizeof labels, "tier=\"%s\",severity=\"%s\"", key, bar + 1);
            s_metric_histogram (&sb, names [pass], labels, h);
        }
    }
    zhashx_destroy (&cases.ack);
    zhashx_destroy (&cases.resolve);
    return sb.data;
}

//  Handles a command from the pipe or the control socket; returns the
//  reply text (caller frees).
static char *
s_command (self_t *self, const char *command)
{
    if (streq (command, "STATS"))
        return s_stats_json (self);
    if (streq (command, "METRICS"))
        return s_metrics_text (self);
    if (streq (command, "ENDPOINT"))
        return strdup (self->endpoint);
    if (streq (command, "RELOAD")) {
        s_flush (self);
        if (s_load_policy (self) != 0) {
            zsys_error ("broker: new policy refused, the old one stays: %s", certbus_reason ());
            return zsys_sprintf ("ERROR policy refused, the old one stays in force: %s",
                                 certbus_reason ());
        }
        if (s_load_directory (self) != 0)
            return zsys_sprintf ("ERROR %s", certbus_reason ());
        return zsys_sprintf ("OK directory=%llu policy=%zu rules",
                             (unsigned long long) certbus_directory_serial (self->directory),
                             certbus_policy_rules (self->policy));
    }
    return zsys_sprintf ("ERROR unknown command %s", command);
}

static void
s_handle_pipe (self_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else {
        char *reply = s_command (self, command);
        zstr_send (self->pipe, reply);
        free (reply);
    }
    zstr_free (&command);
}

static void
s_handle_control (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->control);
    if (!msg)
        return;
    zframe_t *routing = zmsg_pop (msg);
    char *command = zmsg_popstr (msg);
    char *reply = s_command (self, command ? command : "");
    zframe_send (&routing, self->control, ZFRAME_MORE);
    zstr_send (self->control, reply);
    free (reply);
    zstr_free (&command);
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------------
//  Start and stop

static int
s_start (self_t *self)
{
    char *path = council_path (self->config.dir, BROKER_SECRET);
    self->identity = certbus_identity_load (path);
    free (path);
    if (!self->identity)
        return -1;
    path = council_path (self->config.dir, COUNCIL_PUB);
    int rc = certbus_pubfile_read (path, self->council_key, NULL);
    free (path);
    if (rc)
        return -1;
    path = council_path (self->config.dir, BROKER_DB);
    self->store = broker_store_open (path, false);
    free (path);
    if (!self->store)
        return -1;
    //  After a crash (or a first start) every page is checked before
    //  anything is served; after a clean stop the Council tables suffice,
    //  so a large backlog does not slow every restart.
    char *clean = broker_store_meta_get (self->store, "clean_stop");
    bool full = !clean || strcmp (clean, "1") != 0 || self->config.full_check;
    free (clean);
    if (full)
        zsys_info ("broker: checking every page of the database (last stop was not clean)");
    if (broker_store_check (self->store, full)
        || broker_store_meta_set (self->store, "clean_stop", "0"))
        return -1;
    int threads = self->config.verify_threads;
    if (threads < 0) {
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        threads = cores > 1 ? (int) (cores - 1) : 0;
        threads = threads > 8 ? 8 : threads;
    }
    self->verifier = broker_verifier_new (threads);
    self->items = calloc ((size_t) self->config.batch, sizeof (s_item_t));
    self->jobs = calloc ((size_t) self->config.batch, sizeof (broker_verify_job_t));
    if (!self->items || !self->jobs)
        abort ();
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, s_session_destroy);
    self->by_kind = zhashx_new ();
    self->by_reason = zhashx_new ();
    self->max_sent = zhashx_new ();
    //  Fail closed: the ZAP handler must answer before anything binds,
    //  since libzmq admits every CURVE client when none does.
    self->zap = zactor_new (broker_zap_actor, NULL);
    if (!self->zap || broker_zap_selftest () != 0) {
        certbus_fail (CERTBUS_E_INTERNAL,
                      "no working ZAP handler (is another broker running in this process?); "
                      "refusing to start, as libzmq would admit every client");
        return -1;
    }
    self->data_version = broker_store_data_version (self->store);
    if (s_load_directory (self))
        return -1;
    self->have_head
        = broker_store_tree_head_latest (self->store, &self->head, NULL, NULL) == 1;
    if (s_load_policy (self)) {
        char reason [CERTBUS_REASON_MAX];
        snprintf (reason, sizeof reason, "%s", certbus_reason ());
        certbus_fail (CERTBUS_E_FIELD, "cannot load the policy: %s", reason);
        return -1;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_zap_domain (self->router, "certbus");
    zsock_set_curve_server (self->router, 1);
    zsock_set_curve_secretkey_bin (self->router, certbus_identity_curve_secret (self->identity));
    zsock_set_curve_publickey_bin (self->router, certbus_identity_curve_public (self->identity));
    zsock_set_maxmsgsize (self->router, CERTBUS_MAX_PACKET);
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    zsock_set_linger (self->router, 0);
    zsock_set_heartbeat_ivl (self->router, self->config.heartbeat_ms);
    zsock_set_heartbeat_timeout (self->router, self->config.peer_timeout_ms);
    if (zsock_bind (self->router, "%s", self->config.bind) < 0) {
        certbus_fail (CERTBUS_E_IO, "cannot bind %s: %s", self->config.bind,
                      zmq_strerror (zmq_errno ()));
        return -1;
    }
    char *endpoint = zsock_last_endpoint (self->router);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint ? endpoint : self->config.bind);
    zstr_free (&endpoint);
    char *real = realpath (self->config.dir, NULL);
    if (real) {
        self->control = zsock_new (ZMQ_ROUTER);
        char *ctl = council_path (real, BROKER_CONTROL);
        zsock_bind (self->control, "%s", BROKER_CONTROL_INPROC);
        if (zsock_bind (self->control, "ipc://%s", ctl) < 0) {
            zsys_warning ("broker: no control socket at %s: %s", ctl,
                          zmq_strerror (zmq_errno ()));
            zsock_destroy (&self->control);
        }
        free (ctl);
        free (real);
    }
    return 0;
}

void
broker_engine_actor (zsock_t *pipe, void *args)
{
    certbus_init ();
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->pipe = pipe;
    self->config = *(broker_config_t *) args;
    zsock_signal (pipe, 0);
    if (s_start (self) != 0) {
        zstr_sendf (pipe, "ERROR %s", certbus_reason ());
        char *command = zstr_recv (pipe);
        zstr_free (&command);
    }
    else {
        zsys_info ("broker: serving %s as %s, window %d, %d signature helper threads",
                   self->endpoint, certbus_identity_fingerprint (self->identity),
                   self->config.window, broker_verifier_threads (self->verifier));
        zstr_sendf (pipe, "READY %s", self->endpoint);
        zpoller_t *poller = zpoller_new (pipe, self->router, NULL);
        if (self->control)
            zpoller_add (poller, self->control);
        while (!self->terminated) {
            void *which = zpoller_wait (poller, self->config.heartbeat_ms / 2 + 1);
            if (which == pipe)
                s_handle_pipe (self);
            else if (which == self->control && self->control)
                s_handle_control (self);
            int count = 0;
            for (int n = 0; n < self->config.batch && (zsock_events (self->router) & ZMQ_POLLIN);
                 n++)
                if (s_router_recv (self, &self->items [count]) == 0)
                    count++;
            s_check_signatures (self, count);
            for (int i = 0; i < count; i++)
                s_handle_item (self, &self->items [i]);
            s_flush (self);
            s_pump (self);
            s_tick (self);
            if (zpoller_terminated (poller))
                break;
        }
        s_flush (self);
        if (broker_store_meta_set (self->store, "clean_stop", "1") != 0)
            zsys_warning ("broker: cannot record the clean stop: %s", certbus_reason ());
        zpoller_destroy (&poller);
        zsys_info ("broker: stopped");
    }
    zsock_destroy (&self->router);
    zsock_destroy (&self->control);
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->by_kind);
    zhashx_destroy (&self->by_reason);
    zhashx_destroy (&self->max_sent);
    zactor_destroy (&self->zap);
    certbus_directory_destroy (&self->directory);
    certbus_policy_destroy (&self->policy);
    broker_store_destroy (&self->store);
    certbus_identity_destroy (&self->identity);
    free (self->replies);
    broker_verifier_destroy (&self->verifier);
    free (self->items);
    free (self->jobs);
    free (self);
}
