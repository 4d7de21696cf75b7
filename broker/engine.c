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
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

//  One delivery sent and not yet acknowledged
typedef struct {
    uint64_t qseq;                   //  its delivery sequence
    size_t bytes;                    //  its size on the wire
} s_flight_t;

typedef struct {
    char *org;                       //  member org id, the key
    zframe_t *routing;               //  current ROUTER identity
    bool ready;                      //  said hello
    int window;                      //  credit granted
    s_flight_t *inflight;            //  deliveries sent, unacked
    int inflight_count;
    int64_t inflight_bytes;          //  their bytes: bounded by config.inflight_bytes
    bool blocked;                    //  its pipe was full, or its bytes used up
    bool dirty;                      //  may have deliveries to send
    int64_t last_seen;               //  last packet, unix ms
    uint64_t delivered;              //  deliveries sent in this session
    uint64_t cursor [2];             //  per priority class: the last queue
                                     //  sequence sent in this session
} s_session_t;

//  What the broker keeps about a member (or, for refused frames, a
//  transport key) beyond its session: quotas and aggregated noise
typedef struct {
    double rate_tokens;              //  publishes it may still send now
    int64_t rate_at;                 //  when the tokens were counted, unix ms
    double hello_tokens;             //  hellos it may still send now
    int64_t hello_at;
    double directory_tokens;         //  directory requests it may still send now
    int64_t directory_at;
    int64_t stored_bytes;            //  envelope bytes stored for it, when known
    bool stored_known;
    int noise;                       //  bad or refused frames in this interval
    int64_t noise_since;             //  the interval's start, unix ms
    int64_t noise_more;              //  of them, not audited one by one
    char noise_event [16];           //  their audit event
    char noise_reason [160];         //  the last one's reason
    zframe_t *conns [BROKER_MEMBER_CONNECTIONS];  //  its connections seen alive
    int conn_count;
    zlist_t *retired;                //  s_retired_t: earlier connections that still
                                     //  held deliveries when they were replaced
    int64_t retired_bytes;           //  their bytes, counted against inflight_bytes
} s_member_t;

//  A connection a member replaced (or whose session ended) while
//  deliveries were in flight on it: libzmq keeps what it queued there until
//  the connection closes, so those bytes stay the member's until a probe
//  finds the connection gone
typedef struct {
    zframe_t *routing;
    int64_t bytes;
} s_retired_t;

static void
s_member_destroy (void **item)
{
    s_member_t *state = *item;
    if (!state)
        return;
    s_retired_t *retired;
    while (state->retired && (retired = zlist_pop (state->retired))) {
        zframe_destroy (&retired->routing);
        free (retired);
    }
    zlist_destroy (&state->retired);
    for (int i = 0; i < state->conn_count; i++)
        zframe_destroy (&state->conns [i]);
    free (state);
    *item = NULL;
}

typedef struct {
    zframe_t *routing;               //  where the PubAck goes
    Certbus__PubAck ack;             //  decided, sent after commit
    uint8_t id [CERTBUS_ID_SIZE];    //  message id (ack.message_id points here)
    char *reason;                    //  owned reason text
    char *rule;                      //  owned rule text
    char **recipients;               //  sessions to wake after commit
    size_t recipient_count;
    char **participants;             //  of the message's case, for the PubAck
    size_t participant_count;
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
    bool over_rate;                  //  a publish beyond its member's rate quota
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
            refused_members, commits, sessions_expired, redeliveries, quota_refusals,
            hellos_ignored, noise_aggregated, send_blocked, refused_deliveries,
            directory_pushes, directory_requests_ignored, connections_refused;
        int64_t inflight_bytes_max;  //  the most any member ever had in flight
    } stats;
    zhashx_t *members;               //  org (or "key:HEX") -> s_member_t
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
    config->created_skew_ms = BROKER_DEFAULT_CREATED_SKEW_MS;
    config->inflight_bytes = BROKER_DEFAULT_INFLIGHT_BYTES;
    config->quota_bytes = BROKER_DEFAULT_QUOTA_BYTES;
    config->quota_rate = BROKER_DEFAULT_QUOTA_RATE;
    config->quota_burst = BROKER_DEFAULT_QUOTA_BURST;
    config->receipt_max = BROKER_DEFAULT_RECEIPT_MAX;
    config->noise_burst = BROKER_DEFAULT_NOISE_BURST;
    config->noise_interval_ms = BROKER_DEFAULT_NOISE_INTERVAL_MS;
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

static s_member_t *s_member_state (self_t *self, const char *key);
static void s_retire (self_t *self, s_session_t *session);
static void s_send_directory (self_t *self, zframe_t *routing);
static void s_free_item (void **item);
static bool s_take_token (double *tokens, int64_t *at, double rate, double burst);

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
        s_retire (self, session);
        zhashx_delete (self->sessions, session->org);
    }
    zlist_destroy (&gone);
    //  Every connected node gets the new directory at once, so that a
    //  revocation takes effect on members' own checks too (Ping carries
    //  the serial as well, for a push that was lost)
    for (session = zhashx_first (self->sessions); session;
         session = zhashx_next (self->sessions))
        if (session->ready) {
            s_send_directory (self, session->routing);
            self->stats.directory_pushes++;
        }
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

//  ---------------------------------------------------------------------
//  Noise: refused and bad frames, audited in aggregate

//  Audits one refused or bad frame of key (a member's org, or "key:HEX"
//  for a transport key that is no member). The first `burst` of an
//  interval are audited and logged one by one; the rest are only counted,
//  and s_noise_flush writes one record for them. Returns true when this
//  one is audited one by one (and so may be answered and logged).
static bool
s_noise (self_t *self, const char *key, const char *event, const char *reason, int burst)
{
    s_member_t *state = s_member_state (self, key);
    int64_t now = certbus_now_ms ();
    if (now - state->noise_since >= self->config.noise_interval_ms && state->noise_more == 0) {
        state->noise_since = now;
        state->noise = 0;
    }
    snprintf (state->noise_event, sizeof state->noise_event, "%s", event);
    snprintf (state->noise_reason, sizeof state->noise_reason, "%s", reason);
    if (state->noise++ < burst)
        return true;
    state->noise_more++;
    self->stats.noise_aggregated++;
    return false;
}

//  One audit record and one log line per key for the frames s_noise only
//  counted in an interval that has ended
static void
s_noise_flush (self_t *self, bool all)
{
    int64_t now = certbus_now_ms ();
    for (s_member_t *state = zhashx_first (self->members); state;
         state = zhashx_next (self->members)) {
        if (state->noise_more == 0
            || (!all && now - state->noise_since < self->config.noise_interval_ms))
            continue;
        const char *key = zhashx_cursor (self->members);
        char reason [400];
        snprintf (reason, sizeof reason,
                  "%lld more %s frames in %lld ms, not audited one by one; the last: %s",
                  (long long) state->noise_more, state->noise_event,
                  (long long) (now - state->noise_since), state->noise_reason);
        zsys_notice ("broker: org=%s %s", key, reason);
        s_audit (self, "suppressed", key, NULL, "reject", NULL, reason, 0, NULL, 0);
        state->noise_more = 0;
        state->noise = 0;
        state->noise_since = now;
    }
}

//  ---------------------------------------------------------------------
//  Publish

//  What a stage of the publish path decided against a message
typedef struct {
    certbus_err_t code;
    char rule [256];
    char reason [512];
} s_verdict_t;

static int
s_refuse (s_verdict_t *verdict, certbus_err_t code, const char *rule, const char *format, ...)
    CERTBUS_PRINTF (4, 5);

static int
s_refuse (s_verdict_t *verdict, certbus_err_t code, const char *rule, const char *format, ...)
{
    verdict->code = code;
    snprintf (verdict->rule, sizeof verdict->rule, "%s", rule ? rule : "");
    va_list args;
    va_start (args, format);
    vsnprintf (verdict->reason, sizeof verdict->reason, format, args);
    va_end (args);
    return -1;
}

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
    if (code == CERTBUS_E_QUOTA)
        self->stats.quota_refusals++;
    const char *name = certbus_err_name (code);
    zhashx_update (self->by_reason, name,
                   (void *) ((uintptr_t) zhashx_lookup (self->by_reason, name) + 1));
    if (!s_noise (self, org, "refused-publish", reason, self->config.noise_burst))
        return;
    char id [CERTBUS_ID_STR_SIZE] = "-";
    if (header)
        certbus_id_format (header->id, id);
    zsys_notice ("broker: rejected publish org=%s id=%s code=%s reason=\"%s\"%s%s", org, id,
                 certbus_err_name (code), reason, rule && *rule ? " rule=" : "",
                 rule ? rule : "");
    s_audit (self, "reject", org, header, "reject", rule, reason, 0, NULL, 0);
}

static int
s_tlp_rank (const char *tlp)
{
    static const char *order [] = {"clear", "green", "amber", "amber+strict", "red"};
    for (int i = 0; i < 5; i++)
        if (strcmp (tlp, order [i]) == 0)
            return i;
    return 5;   //  decode admits no other
}

static bool
s_tlp_travels_no_further (const char *tlp)
{
    return strcmp (tlp, "red") == 0 || strcmp (tlp, "amber+strict") == 0;
}

static const uint8_t *
s_reference (const certbus_header_t *header, const char *relation, size_t *count_p)
{
    const uint8_t *id = NULL;
    size_t count = 0;
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, relation) == 0) {
            id = header->refs [i].id;
            count++;
        }
    if (count_p)
        *count_p = count;
    return id;
}

//  Stage 1, authenticate: the sender is the envelope's origin, its
//  certificate holds, its signature verifies, the envelope carries every
//  recipient it was sealed to, and its signed creation time does not lie
//  ahead of ours (an old one is fine: outboxes wait while we are down, and
//  nothing orders by it)
static int
s_authenticate (self_t *self, const certbus_cert_t *sender, certbus_envelope_t *env,
                s_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    if (strcmp (header->origin, sender->org_id) != 0 || header->origin_serial != sender->serial)
        return s_refuse (verdict, CERTBUS_E_ORIGIN_MISMATCH, NULL,
                         "envelope claims origin '%s' (certificate %llu) but was sent by member "
                         "'%s' (certificate %llu)",
                         header->origin, (unsigned long long) header->origin_serial,
                         sender->org_id, (unsigned long long) sender->serial);
    certbus_err_t rc = certbus_envelope_verify (env, self->directory, certbus_now (), NULL);
    if (rc)
        return s_refuse (verdict, rc, NULL, "%s", certbus_reason ());
    if (!certbus_envelope_complete (env))
        return s_refuse (verdict, CERTBUS_E_RECIPIENTS_HASH, NULL,
                         "a publish must carry every recipient the envelope was sealed to");
    int64_t ahead = header->created - certbus_now_ms ();
    if (ahead > self->config.created_skew_ms)
        return s_refuse (verdict, CERTBUS_E_CLOCK, "created-skew",
                         "the signed creation time lies %lld s ahead of the broker's clock "
                         "(at most %lld s allowed): check the sender's clock",
                         (long long) (ahead / 1000),
                         (long long) (self->config.created_skew_ms / 1000));
    return 0;
}

//  Stage 2, quotas: envelope bytes stored, per member (the rate was
//  spent as the batch was read: s_router_recv)
static int
s_quota_allows (self_t *self, const certbus_cert_t *sender, size_t bytes, s_verdict_t *verdict)
{
    s_member_t *state = s_member_state (self, sender->org_id);
    if (self->config.quota_bytes > 0) {
        if (!state->stored_known) {
            int64_t stored = broker_store_origin_bytes (self->store, sender->org_id);
            if (stored < 0)
                return s_refuse (verdict, CERTBUS_E_IO, NULL, "%s", certbus_reason ());
            state->stored_bytes = stored;
            state->stored_known = true;
        }
        if (state->stored_bytes + (int64_t) bytes > self->config.quota_bytes)
            return s_refuse (verdict, CERTBUS_E_QUOTA, "quota-bytes",
                             "storage quota used up: at most %lld bytes stored per member, "
                             "%lld stored now; publish again when older messages expire",
                             (long long) self->config.quota_bytes,
                             (long long) state->stored_bytes);
    }
    return 0;
}

//  The publish record of message id that names org as a recipient (or,
//  with or_publisher, as its publisher), and whether org itself published
//  a message of that id
typedef struct {
    const char *org;
    bool or_publisher;               //  the publisher is a party too
    Certbus__AuditRecord *record;    //  the one that names org, or NULL
    uint8_t *bytes;                  //  with want_bytes: a copy of its bytes
    size_t size;
    bool want_bytes;
    bool own;                        //  org published a message of that id
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
        find->bytes = malloc (size ? size : 1);
        if (!find->bytes)
            abort ();
        memcpy (find->bytes, bytes, size);
        find->size = size;
    }
    return 1;
}

static Certbus__AuditRecord *
s_delivered_to (self_t *self, const uint8_t *id, const char *org, bool *own_p)
{
    s_find_t find = {.org = org};
    broker_store_audit_find_each (self->store, id, "publish", s_find_party, &find);
    if (own_p)
        *own_p = find.own;
    return find.record;
}

#define s_RULE_RECEIPT "receipt-to-publisher"
#define s_RULE_FORWARD "forward"
#define s_RULE_CASE "case-participants"

//  A receipt goes back to the publisher of a message the sender really
//  received, and nowhere else; it is small
static int
s_receipt_allowed (self_t *self, const certbus_cert_t *sender, const certbus_header_t *header,
                   certbus_envelope_t *env, size_t size, s_verdict_t *verdict)
{
    size_t count;
    const uint8_t *target = s_reference (header, "receipt-for", &count);
    if (count != 1 || header->ref_count != 1)
        return s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_RECEIPT,
                         "a receipt must reference exactly one message (receipt-for)");
    if ((int64_t) size > self->config.receipt_max)
        return s_refuse (verdict, CERTBUS_E_TOO_LARGE, s_RULE_RECEIPT,
                         "a receipt may be at most %lld bytes; this one is %zu",
                         (long long) self->config.receipt_max, size);
    Certbus__AuditRecord *record = s_delivered_to (self, target, sender->org_id, NULL);
    if (!record)
        return s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_RECEIPT,
                         "'%s' was not a recipient of the message it acknowledges",
                         sender->org_id);
    char audience [CERTBUS_MAX_NAME + 8];
    snprintf (audience, sizeof audience, "org:%s", record->org);
    int rc = 0;
    if (strcmp (header->audience, audience) != 0 || certbus_envelope_recipients (env) != 1
        || strcmp (certbus_envelope_recipient (env, 0), record->org) != 0)
        rc = s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_RECEIPT,
                       "a receipt goes only to the original publisher (%s)", audience);
    certbus_codec_free (record);
    return rc;
}

//  A forward is anything of the forward content type or with a forwards
//  reference: exactly one reference, to a message the broker delivered to
//  the forwarder, never the forwarder's own, never TLP red or
//  amber+strict, at the TLP of the original
static int
s_forward_allowed (self_t *self, const certbus_cert_t *sender, const certbus_header_t *header,
                   certbus_envelope_t *env, s_verdict_t *verdict)
{
    size_t count;
    const uint8_t *target = s_reference (header, "forwards", &count);
    bool typed = strcmp (header->content_type, CERTBUS_FORWARD_TYPE) == 0;
    if (!typed && count == 0)
        return 0;
    if (count != 1 || !typed)
        return s_refuse (verdict, CERTBUS_E_FIELD, s_RULE_FORWARD,
                         "a forward is of type %s and carries exactly one forwards reference",
                         CERTBUS_FORWARD_TYPE);
    if (s_tlp_travels_no_further (header->tlp))
        return s_refuse (verdict, CERTBUS_E_TLP, "tlp-no-further",
                         "TLP %s may not be forwarded: the originator must send a new message",
                         header->tlp);
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (target, text);
    bool own = false;
    Certbus__AuditRecord *record = s_delivered_to (self, target, sender->org_id, &own);
    if (!record)
        return own ? s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_FORWARD,
                               "a member may not forward its own message %s: publish it anew",
                               text)
                   : s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_FORWARD,
                               "message %s was never delivered to '%s'", text, sender->org_id);
    int rc = 0;
    if (strcmp (record->org, sender->org_id) == 0)
        rc = s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_FORWARD,
                       "a member may not forward its own message %s: publish it anew", text);
    else if (s_tlp_travels_no_further (record->tlp))
        rc = s_refuse (verdict, CERTBUS_E_TLP, "tlp-no-further",
                       "message %s is TLP %s and may not be forwarded", text, record->tlp);
    else if (strcmp (record->tlp, header->tlp) != 0)
        rc = s_refuse (verdict, CERTBUS_E_TLP, s_RULE_FORWARD,
                       "forwarded as TLP %s but message %s is TLP %s", header->tlp, text,
                       record->tlp);
    certbus_codec_free (record);
    if (rc || header->encrypted)
        return rc;
    //  A clear forward can be read here: its inner message must be the one
    //  it references
    size_t size;
    const uint8_t *payload = certbus_envelope_ciphertext (env, &size);
    Certbus__Forward *forward = NULL;
    Certbus__EnvelopeHeader *inner = NULL;
    if (certbus_codec_decode (&certbus__forward__descriptor, payload, size, CERTBUS_MAX_PAYLOAD,
                              16, (void **) &forward)
        || certbus_codec_decode (&certbus__envelope_header__descriptor, forward->header.data,
                                 forward->header.len, CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED,
                                 (void **) &inner)
        || inner->id.len != CERTBUS_ID_SIZE || memcmp (inner->id.data, target, CERTBUS_ID_SIZE))
        rc = s_refuse (verdict, CERTBUS_E_FIELD, s_RULE_FORWARD,
                       "the forwarded message is not the one the forwards reference names (%s)",
                       text);
    certbus_codec_free (inner);
    certbus_codec_free (forward);
    return rc;
}

//  A message that references a case, of whatever kind, comes from one of
//  its participants and never lowers its TLP; a report opens a new case
static int
s_case_allowed (self_t *self, const certbus_cert_t *sender, const certbus_header_t *header,
                broker_case_t *kase, bool *is_case_p, s_verdict_t *verdict)
{
    const uint8_t *updates = s_reference (header, "updates", NULL);
    *is_case_p = updates || strcmp (header->kind, "incident") == 0;
    if (!*is_case_p)
        return 0;
    const uint8_t *case_id = updates ? updates : header->id;
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (case_id, text);
    int known = broker_store_case_get (self->store, case_id, kase);
    if (known < 0)
        return s_refuse (verdict, CERTBUS_E_IO, NULL, "%s", certbus_reason ());
    if (!updates) {
        if (known)
            //  Another member's message id: it cannot take that case over
            return s_refuse (verdict, CERTBUS_E_FIELD, s_RULE_CASE,
                             "a report must open a new case: seal it again with a new id");
        return 0;
    }
    if (!known || broker_store_case_member (self->store, case_id, sender->org_id, false) != 1)
        //  One answer for both, so that case ids cannot be probed
        return s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_CASE,
                         "'%s' is not a participant of case %s", sender->org_id, text);
    if (s_tlp_rank (header->tlp) < s_tlp_rank (kase->tlp))
        return s_refuse (verdict, CERTBUS_E_TLP, s_RULE_CASE,
                         "case %s is TLP %s: an update may not be TLP %s", text, kase->tlp,
                         header->tlp);
    return 0;
}

//  Stage 3, authorize: receipts by their own rule, everything else by the
//  Council policy; then the forward and case rules. Each decides alone.
static int
s_authorize (self_t *self, const certbus_cert_t *sender, certbus_envelope_t *env, size_t size,
             broker_case_t *kase, bool *is_case_p, s_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    *is_case_p = false;
    if (strcmp (header->kind, "receipt") == 0) {
        if (s_receipt_allowed (self, sender, header, env, size, verdict))
            return -1;
        snprintf (verdict->rule, sizeof verdict->rule, "%s", s_RULE_RECEIPT);
    }
    else {
        certbus_decision_t decision;
        if (s_policy_allows (self, sender, header, &decision) != 0)
            return s_refuse (verdict, CERTBUS_E_POLICY, decision.rule, "%s", decision.reason);
        snprintf (verdict->rule, sizeof verdict->rule, "%s", decision.rule);
    }
    char rule [sizeof verdict->rule];
    snprintf (rule, sizeof rule, "%s", verdict->rule);
    if (s_forward_allowed (self, sender, header, env, verdict)
        || s_case_allowed (self, sender, header, kase, is_case_p, verdict))
        return -1;
    snprintf (verdict->rule, sizeof verdict->rule, "%s", rule);
    return 0;
}

//  True when org was ever a member: it has a revocation in the directory
static bool
s_former_member (self_t *self, const char *org)
{
    for (size_t i = 0; i < certbus_directory_revocation_count (self->directory); i++) {
        const certbus_revocation_t *revocation
            = certbus_directory_revocation_at (self->directory, i);
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
s_route (self_t *self, const certbus_cert_t *sender, certbus_envelope_t *env, char ***queued_p,
         size_t *queued_count_p, s_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    const char *org = sender->org_id;
    char **allowed = NULL;
    size_t allowed_count = 0;
    certbus_err_t rc = certbus_audience_resolve (header->audience, header->tlp, self->directory,
                                                 org, certbus_now (), &allowed, &allowed_count);
    if (rc && rc != CERTBUS_E_AUDIENCE_EMPTY)
        return s_refuse (verdict, rc, NULL, "%s", certbus_reason ());
    size_t total = certbus_envelope_recipients (env);
    char **queued = calloc (total + 1, sizeof (char *));
    if (!queued)
        abort ();
    size_t queued_count = 0;
    int result = 0;
    for (size_t i = 0; i < total && result == 0; i++) {
        const char *recipient = certbus_envelope_recipient (env, i);
        if (strcmp (recipient, org) == 0)
            continue;   //  the sender's own copy: sealed for it, never queued
        const char *key = recipient;
        if (allowed && bsearch (&key, allowed, allowed_count, sizeof (char *), s_strcmp_p))
            queued [queued_count++] = (char *) recipient;
        else if (certbus_directory_find (self->directory, recipient))
            result = s_refuse (verdict, CERTBUS_E_RECIPIENTS, NULL,
                               "recipient '%s' is outside the audience '%s'", recipient,
                               header->audience);
        else if (!s_former_member (self, recipient))
            result = s_refuse (verdict, CERTBUS_E_RECIPIENTS, NULL,
                               "recipient '%s' is not a member of this Council", recipient);
    }
    if (result == 0 && queued_count == 0)
        result = s_refuse (verdict, CERTBUS_E_AUDIENCE_EMPTY, NULL,
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
s_store (self_t *self, const certbus_cert_t *sender, certbus_envelope_t *env, char **queued,
         size_t queued_count, bool is_case, broker_case_t *kase, int64_t now, uint64_t *seq_p,
         s_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    const char *org = sender->org_id;
    if (strcmp (header->kind, "receipt") == 0) {
        int added = broker_store_receipt_add (self->store, s_reference (header, "receipt-for", NULL),
                                              certbus_envelope_recipient (env, 0), org);
        if (added < 0)
            return -1;
        if (added == 0) {
            s_refuse (verdict, CERTBUS_E_POLICY, s_RULE_RECEIPT,
                      "'%s' already sent a receipt for that message: one per recipient", org);
            return 1;
        }
    }
    size_t base_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    int priority = strcmp (header->severity, "critical") == 0 ? 1 : 0;
    int failed = broker_store_message_insert (self->store, header, base, base_size, now,
                                              now + self->config.expiry_ms,
                                              (uint32_t) queued_count, seq_p);
    free (base);
    size_t total = certbus_envelope_recipients (env);
    for (size_t i = 0, q = 0; !failed && i < total && q < queued_count; i++) {
        if (certbus_envelope_recipient (env, i) != queued [q])
            continue;   //  queued holds the recipients' own names, in order
        size_t wrapped_size;
        uint8_t *wrapped = certbus_envelope_recipient_bytes (env, i, &wrapped_size);
        failed = broker_store_queue_insert (self->store, queued [q], *seq_p, priority, wrapped,
                                            wrapped_size);
        free (wrapped);
        q++;
    }
    s_member_t *state = s_member_state (self, org);
    if (!failed)
        state->stored_bytes += (int64_t) base_size;
    if (failed || !is_case)
        return failed ? -1 : 0;
    //  The case, from the signed header and the broker's own record: who
    //  takes part (the senders and the recipients it delivered to, never
    //  an audience string), its status, and the report's times
    static const char *acknowledging [] = {"acknowledged", "investigating", "contained",
                                           "resolved", "closed"};
    bool forwarded = s_reference (header, "forwards", NULL) != NULL;
    if (!s_reference (header, "updates", NULL)) {
        memset (kase, 0, sizeof *kase);
        memcpy (kase->case_id, header->id, CERTBUS_ID_SIZE);
        snprintf (kase->origin, sizeof kase->origin, "%s", org);
        snprintf (kase->severity, sizeof kase->severity, "%s", header->severity);
        snprintf (kase->tlp, sizeof kase->tlp, "%s", header->tlp);
        snprintf (kase->status, sizeof kase->status, "%s",
                  *header->case_status ? header->case_status : "reported");
        kase->opened_at = kase->updated_at = now;
    }
    else if (!forwarded && *header->case_status) {
        snprintf (kase->status, sizeof kase->status, "%s", header->case_status);
        kase->updated_at = now;
        for (size_t i = 0; i < 5 && !kase->first_ack_at; i++)
            if (strcmp (header->case_status, acknowledging [i]) == 0
                && strcmp (org, kase->origin) != 0)
                kase->first_ack_at = now;
        if (!kase->resolved_at
            && (strcmp (header->case_status, "resolved") == 0
                || strcmp (header->case_status, "closed") == 0))
            kase->resolved_at = now;
    }
    failed = broker_store_case_put (self->store, kase)
             || broker_store_case_member (self->store, kase->case_id, org, true);
    for (size_t i = 0; !failed && i < queued_count; i++)
        failed = broker_store_case_member (self->store, kase->case_id, queued [i], true);
    return failed ? -1 : 0;
}

//  Decides one publish of the batch. The contract: the batch's transaction
//  is open (s_txn) from the first stage that reads the store until s_flush
//  commits it, and only then is the decision (reply) sent; every
//  acceptance is stored in that transaction or the whole batch is refused.
//  The envelope was decoded with the batch (item->env) and is owned here
//  from the start, whatever the outcome.
static void
s_handle_publish (self_t *self, zframe_t *routing, const certbus_cert_t *sender,
                  s_item_t *item)
{
    s_reply_t *reply = s_reply_new (self, routing);
    certbus_envelope_t *env = item->env;
    item->env = NULL;
    const char *org = sender->org_id;
    char **queued = NULL;
    size_t queued_count = 0;
    s_verdict_t verdict = {0};
    const certbus_header_t *header = env ? certbus_envelope_header (env) : NULL;
    if (item->env_rc || !env) {
        s_refuse (&verdict, item->env_rc ? item->env_rc : CERTBUS_E_INTERNAL, NULL, "%s",
                  item->env_reason ? item->env_reason : "envelope not decoded");
        goto refuse;
    }
    snprintf (reply->kind, sizeof reply->kind, "%s", header->kind);
    memcpy (reply->id, header->id, CERTBUS_ID_SIZE);
    //  message_id.data is pointed at reply->id in s_flush: the replies
    //  array may move while the batch grows
    reply->ack.message_id.len = CERTBUS_ID_SIZE;
    size_t size = item->packet->publish->envelope.len;
    if (item->over_rate) {
        //  Refused before it is authenticated: its header is the sender's
        //  claim, so the audit names no message
        s_refuse (&verdict, CERTBUS_E_QUOTA, "quota-rate",
                  "publish rate quota used up: at most %d messages per second (bursts of %d) "
                  "per member; publish again later",
                  self->config.quota_rate, self->config.quota_burst);
        header = NULL;
        goto refuse;
    }
    if (s_authenticate (self, sender, env, &verdict))
        goto refuse;
    if (s_txn (self))
        goto cleanup;
    //  A duplicate (of this origin's own message) gets the original
    //  acknowledgement, never a second copy
    uint64_t seq;
    int64_t accepted_at;
    if (broker_store_message_lookup (self->store, org, header->id, &seq, &accepted_at) == 1) {
        reply->ack.status = CERTBUS__STATUS__STATUS_DUPLICATE;
        reply->ack.sequence = seq;
        reply->ack.accepted_at = accepted_at;
        self->stats.duplicates++;
        goto cleanup;
    }
    //  Another member's id is no duplicate of ours, and which ids exist is
    //  never said; but an id of a message the sender received is refused,
    //  so that no copy can shadow the original at the nodes that hold it
    Certbus__AuditRecord *received = s_delivered_to (self, header->id, org, NULL);
    if (received) {
        certbus_codec_free (received);
        s_refuse (&verdict, CERTBUS_E_FIELD, NULL,
                  "the message id is that of a message delivered to '%s': seal a new message",
                  org);
        goto refuse;
    }
    broker_case_t kase;
    bool is_case = false;
    if (s_quota_allows (self, sender, size, &verdict)
        || s_authorize (self, sender, env, size, &kase, &is_case, &verdict)
        || s_route (self, sender, env, &queued, &queued_count, &verdict))
        goto refuse;
    int64_t now = certbus_now_ms ();
    char rule [sizeof verdict.rule];
    snprintf (rule, sizeof rule, "%s", verdict.rule);
    int stored = s_store (self, sender, env, queued, queued_count, is_case, &kase, now, &seq,
                          &verdict);
    if (stored < 0) {
        self->txn_failed = true;
        snprintf (self->last_error, sizeof self->last_error, "%s", certbus_reason ());
        goto cleanup;
    }
    if (stored > 0)
        goto refuse;
    //  Stage 6, accept: the audit record, then the reply for s_flush
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
    if (is_case
        && broker_store_case_members (self->store, kase.case_id, &reply->participants,
                                      &reply->participant_count)
               != 0)
        reply->participant_count = 0;
    goto cleanup;
refuse:
    s_reject (self, reply, org, header, verdict.code, verdict.reason,
              *verdict.rule ? verdict.rule : NULL);
cleanup:
    free (queued);
    certbus_envelope_destroy (&env);
}

//  The metric label of a kind: the Council's list of kinds, and `other`
//  for any kind a member made up, so that the label set stays bounded
static const char *
s_metric_kind (const char *kind)
{
    static const char *known [] = {"incident", "advisory", "alert", "receipt", "report",
                                   "indicator", "vulnerability", "notice"};
    for (size_t i = 0; i < sizeof known / sizeof known [0]; i++)
        if (strcmp (kind, known [i]) == 0)
            return known [i];
    return "other";
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
            const char *kind = s_metric_kind (reply->kind);
            zhashx_update (self->by_kind, kind,
                           (void *) ((uintptr_t) zhashx_lookup (self->by_kind, kind) + 1));
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
        reply->ack.participants = reply->participants;
        reply->ack.n_participants = reply->participant_count;
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
        certbus_strv_free (reply->participants, reply->participant_count);
    }
    self->reply_count = 0;
    if (!ok)
        //  Stored-bytes counts moved with the lost batch: count them again
        for (s_member_t *state = zhashx_first (self->members); state;
             state = zhashx_next (self->members))
            state->stored_known = false;
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

//  The broker's record of a member (or of a transport key), made on first use
static s_member_t *
s_member_state (self_t *self, const char *key)
{
    s_member_t *state = zhashx_lookup (self->members, key);
    if (!state) {
        state = calloc (1, sizeof *state);
        if (!state)
            abort ();
        int64_t now = certbus_now_ms ();
        state->rate_tokens = self->config.quota_burst;
        state->hello_tokens = BROKER_HELLO_BURST;
        state->directory_tokens = BROKER_DIRECTORY_BURST;
        state->rate_at = state->hello_at = state->directory_at = state->noise_since = now;
        zhashx_insert (self->members, key, state);
    }
    return state;
}

//  Takes one token from a bucket that refills at rate per second up to
//  burst. Returns false when the bucket is empty.
static bool
s_take_token (double *tokens, int64_t *at, double rate, double burst)
{
    int64_t now = certbus_now_ms ();
    *tokens += (double) (now - *at) * rate / 1000.0;
    if (*tokens > burst)
        *tokens = burst;
    *at = now;
    if (*tokens < 1.0)
        return false;
    *tokens -= 1.0;
    return true;
}

//  Keeps the bytes in flight on session's connection counted, as the
//  connection is replaced or the session ends
static void
s_retire (self_t *self, s_session_t *session)
{
    if (!session->routing || session->inflight_bytes <= 0)
        return;
    s_member_t *state = s_member_state (self, session->org);
    if (!state->retired)
        state->retired = zlist_new ();
    s_retired_t *retired = calloc (1, sizeof *retired);
    if (!retired)
        abort ();
    retired->routing = zframe_dup (session->routing);
    retired->bytes = session->inflight_bytes;
    zlist_append (state->retired, retired);
    state->retired_bytes += retired->bytes;
    session->inflight_bytes = 0;
}

//  Pings every retired connection (a mandatory ROUTER answers EHOSTUNREACH
//  for one that is gone) and stops counting the bytes of those gone
static void
s_probe_retired (self_t *self)
{
    for (s_member_t *state = zhashx_first (self->members); state;
         state = zhashx_next (self->members)) {
        if (!state->retired)
            continue;
        s_retired_t *retired = zlist_first (state->retired);
        while (retired) {
            s_retired_t *next = zlist_next (state->retired);
            Certbus__Ping ping = CERTBUS__PING__INIT;
            ping.time = certbus_now_ms ();
            ping.directory_serial = certbus_directory_serial (self->directory);
            Certbus__Packet packet = CERTBUS__PACKET__INIT;
            packet.body_case = CERTBUS__PACKET__BODY_PING;
            packet.ping = &ping;
            if (certbus_packet_send (self->router, retired->routing, &packet) != 0
                && zmq_errno () == EHOSTUNREACH) {
                state->retired_bytes -= retired->bytes;
                zlist_remove (state->retired, retired);
                zframe_destroy (&retired->routing);
                free (retired);
            }
            retired = next;
        }
    }
}

//  Bytes of a member's deliveries the broker's pipes may hold now
static int64_t
s_member_bytes (self_t *self, s_session_t *session)
{
    s_member_t *state = zhashx_lookup (self->members, session->org);
    return session->inflight_bytes + (state ? state->retired_bytes : 0);
}

//  Hello opens a session, or on the connection that already has one only
//  grants credit again: what is in flight on that connection stays in
//  flight and is never sent twice. A new connection takes the session
//  over, and what was in flight on the old one is delivered again. Hellos
//  are rate-limited per member: a flood of them costs nothing.
static void
s_handle_hello (self_t *self, zframe_t *routing, const certbus_cert_t *member, Certbus__Hello *hello)
{
    s_member_t *state = s_member_state (self, member->org_id);
    if (!s_take_token (&state->hello_tokens, &state->hello_at, BROKER_HELLO_RATE,
                       BROKER_HELLO_BURST)) {
        self->stats.hellos_ignored++;
        return;
    }
    s_session_t *session = zhashx_lookup (self->sessions, member->org_id);
    if (!session) {
        session = calloc (1, sizeof *session);
        if (!session)
            abort ();
        session->org = strdup (member->org_id);
        session->inflight = calloc ((size_t) self->config.window, sizeof (s_flight_t));
        if (!session->org || !session->inflight)
            abort ();
        zhashx_insert (self->sessions, session->org, session);
    }
    bool same = session->ready && session->routing && zframe_eq (session->routing, routing);
    if (!same) {
        s_retire (self, session);
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
    session->window = self->config.window;
    if (hello->credit > 0 && (int) hello->credit < session->window)
        session->window = (int) hello->credit;
    session->last_seen = certbus_now_ms ();
    zsys_info ("broker: hello org=%s window=%d directory=%llu%s", member->org_id,
               session->window, (unsigned long long) hello->directory_serial,
               same ? " (same connection)" : "");
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
    if (ack->n_refused_sequences > (size_t) session->window) {
        s_bad_frame (self, routing, member, CERTBUS_E_TOO_LARGE,
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
        int found = broker_store_queue_ack (self->store, member->org_id, qseq, &msg_seq);
        if (found < 0) {
            self->txn_failed = true;
            return;
        }
        self->stats.acks += (uint64_t) found;
        certbus_header_t delivered;
        if (found && broker_store_message_by_seq (self->store, msg_seq, &delivered) == 1) {
            delivered.case_status = "";
            //  Deliveries the node refused (its verification failed) are
            //  audited as refused, never as delivered
            bool was_refused = false;
            for (size_t r = 0; r < ack->n_refused_sequences && !was_refused; r++)
                was_refused = ack->refused_sequences [r] == qseq;
            if (was_refused)
                self->stats.refused_deliveries++;
            s_audit (self, was_refused ? "refused-delivery" : "deliver", member->org_id,
                     &delivered, was_refused ? "refused" : "delivered", NULL,
                     was_refused ? "the recipient's node refused it (verification failed)" : "",
                     qseq, NULL, 0);
            broker_store_header_free (&delivered);
        }
        session->inflight_bytes -= (int64_t) session->inflight [slot].bytes;
        session->inflight [slot] = session->inflight [--session->inflight_count];
        session->dirty = true;
    }
}

typedef struct {
    self_t *self;
    s_session_t *session;
    int priority;                    //  the class being pumped
    int room;                        //  deliveries we may still send
    bool blocked;                    //  the member's pipe is full, or bytes are used up
} s_pump_t;

//  The participants of the case a stored envelope belongs to, for its
//  delivery: NULL when it belongs to none.
static char **
s_case_participants (self_t *self, const uint8_t *envelope, size_t size, size_t *count_p)
{
    *count_p = 0;
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (envelope, size, &env) != CERTBUS_OK)
        return NULL;
    const certbus_header_t *header = certbus_envelope_header (env);
    const uint8_t *case_id = NULL;
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, "updates") == 0)
            case_id = header->refs [i].id;
    if (!case_id && strcmp (header->kind, "incident") == 0)
        case_id = header->id;
    char **orgs = NULL;
    if (case_id && broker_store_case_members (self->store, case_id, &orgs, count_p) != 0)
        orgs = NULL;
    certbus_envelope_destroy (&env);
    return orgs;
}

//  A row already in flight is passed over before its digests are
//  computed: each stored row is checked once per read, not again in every
//  pump that meets it
static bool
s_pump_skip (void *arg, uint64_t qseq)
{
    s_pump_t *pump = arg;
    s_session_t *session = pump->session;
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
    s_session_t *session = pump->session;
    self_t *self = pump->self;
    if (delivery->damaged) {
        //  Never served: it stays queued for an operator to see
        session->cursor [pump->priority] = delivery->qseq;
        if (!self->damaged_seen) {
            zsys_error ("broker: message %llu is damaged in the database (its digest does not "
                        "match); it is not delivered: restore the database from a backup",
                        (unsigned long long) delivery->msg_seq);
            snprintf (self->last_error, sizeof self->last_error,
                      "message %llu is damaged in the database", (unsigned long long) delivery->msg_seq);
        }
        self->damaged_seen = true;
        return 0;
    }
    size_t size = delivery->envelope_size + delivery->wrapped_size;
    //  Bytes in flight are bounded per member, over all its connections:
    //  one delivery always goes when nothing else is held (so a large
    //  message cannot stall its queue), more only within the cap
    int64_t held = s_member_bytes (self, session);
    if (held > 0 && held + (int64_t) size > self->config.inflight_bytes) {
        pump->blocked = true;
        return 1;
    }
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
    if (delivery->incident)
        deliver.participants
            = s_case_participants (self, bytes, size, &deliver.n_participants);
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER;
    packet.deliver = &deliver;
    //  The socket's send high-water mark is near the window and the ROUTER
    //  is mandatory: a member whose pipe is full stops the pump here,
    //  instead of growing the broker's memory
    int sent = certbus_packet_send (self->router, session->routing, &packet);
    certbus_strv_free (deliver.participants, deliver.n_participants);
    free (bytes);
    if (sent != 0) {
        //  Mandatory ROUTER: EHOSTUNREACH when the member's connection is
        //  gone (it must say Hello again), EAGAIN when its pipe is full
        if (zmq_errno () == EHOSTUNREACH)
            session->ready = false;
        self->stats.send_blocked++;
        pump->blocked = true;
        return 1;
    }
    session->cursor [pump->priority] = delivery->qseq;
    session->inflight [session->inflight_count].qseq = delivery->qseq;
    session->inflight [session->inflight_count].bytes = size;
    session->inflight_count++;
    session->inflight_bytes += (int64_t) size;
    if (s_member_bytes (self, session) > self->stats.inflight_bytes_max)
        self->stats.inflight_bytes_max = s_member_bytes (self, session);
    session->delivered++;
    self->stats.deliveries++;
    uint64_t max_sent = (uint64_t) (uintptr_t) zhashx_lookup (self->max_sent, session->org);
    if (delivery->qseq <= max_sent)
        self->stats.redeliveries++;
    else
        zhashx_update (self->max_sent, session->org, (void *) (uintptr_t) delivery->qseq);
    return --pump->room > 0 ? 0 : 1;
}

//  Sends up to room deliveries of one priority class to a session.
//  Returns true when that class has nothing more to send.
static bool
s_pump_class (self_t *self, s_session_t *session, int priority, int room, bool *blocked)
{
    if (room <= 0 || *blocked)
        return false;
    s_pump_t pump = {self, session, priority, room, false};
    int limit = room;
    int rows = broker_store_queue_fetch (self->store, session->org, priority,
                                         session->cursor [priority], limit, s_pump_skip,
                                         s_pump_one, &pump);
    *blocked = pump.blocked;
    //  Exhausted only when the rows ran out before the room did
    return rows >= 0 && rows < limit && pump.room > 0 && !pump.blocked;
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
            bool blocked = false;
            int room = session->window - session->inflight_count;
            int critical_room = room - room / 4;
            bool critical_done = s_pump_class (self, session, 1, critical_room, &blocked);
            bool routine_done = s_pump_class (self, session, 0,
                                              session->window - session->inflight_count,
                                              &blocked);
            if (!critical_done)
                critical_done = s_pump_class (self, session, 1,
                                              session->window - session->inflight_count,
                                              &blocked);
            //  A blocked session waits for an ack or the next tick
            if ((critical_done && routine_done) || blocked) {
                session->dirty = false;
                session->blocked = blocked;
            }
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
s_handle_proof (self_t *self, zframe_t *routing, const certbus_cert_t *member,
                Certbus__ProofRequest *request)
{
    Certbus__ProofReply reply = CERTBUS__PROOF_REPLY__INIT;
    uint8_t *record = NULL, *head_bytes = NULL;
    size_t record_size = 0, head_size = 0;
    uint8_t inclusion [CERTBUS_MERKLE_PROOF_MAX_BYTES], consistency [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t inclusion_len = 0, consistency_len = 0;
    ProtobufCBinaryData inclusion_items [CERTBUS_MERKLE_PROOF_MAX],
        consistency_items [CERTBUS_MERKLE_PROOF_MAX];
    int64_t index = -1;
    //  Only the publisher and the recipients of a message learn its
    //  record (its recipient list): anyone else gets the answer a message
    //  that does not exist gets
    s_find_t find = {.org = member->org_id, .or_publisher = true, .want_bytes = true};
    if (request->message_id.len == CERTBUS_ID_SIZE)
        index = broker_store_audit_find_each (self->store, request->message_id.data, "publish",
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
        if (session->blocked) {
            session->blocked = false;
            session->dirty = true;   //  try its pipe again
        }
        if (now - session->last_seen > self->config.peer_timeout_ms)
            zlist_append (gone, session->org);
        else {
            Certbus__Ping ping = CERTBUS__PING__INIT;
            ping.time = now;
            ping.directory_serial = certbus_directory_serial (self->directory);
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
        s_session_t *expired = zhashx_lookup (self->sessions, org);
        if (expired)
            s_retire (self, expired);
        zhashx_delete (self->sessions, org);
    }
    zlist_destroy (&gone);
    s_probe_retired (self);
    s_noise_flush (self, false);
    s_issue_head (self, false);
    if (now >= self->next_expire) {
        //  Once a minute, or sooner when messages live less than minutes
        int64_t every = self->config.expiry_ms / 4;
        self->next_expire = now + (every < 100 ? 100 : every > 60000 ? 60000 : every);
        int removed = broker_store_expire (self->store, now);
        if (removed > 0)
            for (s_member_t *state = zhashx_first (self->members); state;
                 state = zhashx_next (self->members))
                state->stored_known = false;
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
    //  A member's garbage is answered (its own client may need the reason)
    //  but audited and logged one by one only up to the burst
    s_send_error (self, routing, code, reason);
    if (!s_noise (self, member->org_id, "bad-packet", reason, self->config.noise_burst))
        return;
    zsys_notice ("broker: bad packet org=%s code=%s reason=\"%s\"", member->org_id,
                 certbus_err_name (code), reason);
    s_audit (self, "bad-packet", member->org_id, NULL, "reject", NULL, reason, 0, NULL, 0);
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
        //  The rate quota is spent here, before any signature is checked:
        //  a member publishing beyond it costs no verification. Receipts
        //  answer what others sent (one per message, small) and do not
        //  spend it, or a flood sent to a member would spend it for it.
        else if (self->config.quota_rate > 0
                 && strcmp (certbus_envelope_header (item->env)->kind, "receipt") != 0) {
            s_member_t *state = s_member_state (self, item->member->org_id);
            item->over_rate = !s_take_token (&state->rate_tokens, &state->rate_at,
                                             self->config.quota_rate, self->config.quota_burst);
        }
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
        if (!item->env || item->over_rate)
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

//  A member may hold at most BROKER_MEMBER_CONNECTIONS connections: each
//  one's pipe holds packets the broker queued for it, so their number
//  bounds the memory one member can hold. A frame from one more
//  connection first has the known ones probed (a mandatory ROUTER answers
//  EHOSTUNREACH for one that is gone), and is dropped when all of them
//  are still open.
static bool
s_connection_admitted (self_t *self, const certbus_cert_t *member, zframe_t *routing)
{
    s_member_t *state = s_member_state (self, member->org_id);
    for (int i = 0; i < state->conn_count; i++)
        if (zframe_eq (state->conns [i], routing))
            return true;
    int64_t now = certbus_now_ms ();
    if (state->conn_count == BROKER_MEMBER_CONNECTIONS) {
        for (int i = 0; i < state->conn_count;) {
            Certbus__Ping ping = CERTBUS__PING__INIT;
            ping.time = now;
            ping.directory_serial = certbus_directory_serial (self->directory);
            Certbus__Packet packet = CERTBUS__PACKET__INIT;
            packet.body_case = CERTBUS__PACKET__BODY_PING;
            packet.ping = &ping;
            if (certbus_packet_send (self->router, state->conns [i], &packet) != 0
                && zmq_errno () == EHOSTUNREACH) {
                zframe_destroy (&state->conns [i]);
                state->conns [i] = state->conns [--state->conn_count];
            }
            else
                i++;
        }
    }
    if (state->conn_count == BROKER_MEMBER_CONNECTIONS)
        return false;
    state->conns [state->conn_count++] = zframe_dup (routing);
    return true;
}

//  Handles one received message, in the order they arrived
static void
s_handle_item (self_t *self, s_item_t *item)
{
    zframe_t *routing = item->routing;
    zframe_t *payload = item->payload;
    const certbus_cert_t *member = item->member;
    if (!member) {
        //  A revoked member's frames cost one record, one log line and one
        //  answer per interval; the rest are counted
        self->stats.refused_members++;
        const char *user_id = zframe_meta (payload, "User-Id");
        char key [80];
        snprintf (key, sizeof key, "key:%.64s", user_id ? user_id : "unknown");
        if (s_noise (self, key, "refused", "not a current member", 1)) {
            zsys_notice ("broker: refused frame from key %.16s: not a current member",
                         user_id ? user_id : "?");
            s_audit (self, "refused", user_id ? user_id : "unknown", NULL, "reject", NULL,
                     "not a current member", 0, NULL, 0);
            s_send_error (self, routing, CERTBUS_E_REVOKED,
                          "not a current member of this Council: revoked or expired");
        }
        goto cleanup;
    }
    if (!s_connection_admitted (self, member, routing)) {
        self->stats.connections_refused++;
        if (s_noise (self, member->org_id, "refused", "too many open connections",
                     self->config.noise_burst)) {
            zsys_notice ("broker: org=%s has %d connections open: frame of another dropped",
                         member->org_id, BROKER_MEMBER_CONNECTIONS);
            s_audit (self, "refused", member->org_id, NULL, "reject", NULL,
                     "too many open connections", 0, NULL, 0);
        }
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
        case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST: {
            //  A directory is large and a request small: requests are
            //  rate-limited, so they cannot fill the broker's pipes (a node
            //  asks again after two heartbeats, and every change is pushed)
            s_member_t *state = s_member_state (self, member->org_id);
            if (s_take_token (&state->directory_tokens, &state->directory_at,
                              BROKER_DIRECTORY_RATE, BROKER_DIRECTORY_BURST))
                s_send_directory (self, routing);
            else
                self->stats.directory_requests_ignored++;
            break;
        }
        case CERTBUS__PACKET__BODY_PROOF_REQUEST:
            s_flush (self);
            s_handle_proof (self, routing, member, packet->proof_request);
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
    certbus_sb_printf (&sb, "{\"endpoint\":");
    certbus_sb_json_str (&sb, self->endpoint);
    certbus_sb_printf (&sb,
                       ",\"directory\":%llu,\"members\":%zu,"
                       "\"received\":%llu,\"accepted\":%llu,\"rejected\":%llu,"
                       "\"duplicates\":%llu,\"deliveries\":%llu,\"acks\":%llu,"
                       "\"bad_packets\":%llu,\"refused_frames\":%llu,\"commits\":%llu,"
                       "\"audit_size\":%lld,\"messages\":%lld,\"queued\":%lld,"
                       "\"window\":%d,\"tree_head_size\":%llu,\"tree_head_time\":%lld,"
                       "\"policy_rules\":%zu,\"quota_refusals\":%llu,\"hellos_ignored\":%llu,"
                       "\"noise_aggregated\":%llu,\"send_blocked\":%llu,"
                       "\"refused_deliveries\":%llu,\"directory_pushes\":%llu,"
                       "\"directory_requests_ignored\":%llu,\"connections_refused\":%llu,"
                       "\"inflight_bytes_max\":%lld,\"inflight_bytes_cap\":%lld,\"last_error\":",
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
                       self->policy ? certbus_policy_rules (self->policy) : 0,
                       (unsigned long long) self->stats.quota_refusals,
                       (unsigned long long) self->stats.hellos_ignored,
                       (unsigned long long) self->stats.noise_aggregated,
                       (unsigned long long) self->stats.send_blocked,
                       (unsigned long long) self->stats.refused_deliveries,
                       (unsigned long long) self->stats.directory_pushes,
                       (unsigned long long) self->stats.directory_requests_ignored,
                       (unsigned long long) self->stats.connections_refused,
                       (long long) self->stats.inflight_bytes_max,
                       (long long) self->config.inflight_bytes);
    certbus_sb_json_str (&sb, self->last_error);
    certbus_sb_printf (&sb, ",\"sessions\":[");
    s_session_t *session = zhashx_first (self->sessions);
    bool first = true;
    while (session) {
        const certbus_cert_t *cert = certbus_directory_find (self->directory, session->org);
        int64_t oldest = 0;
        int64_t depth = broker_store_queue_depth (self->store, session->org, &oldest);
        certbus_sb_printf (&sb, "%s{\"org\":", first ? "" : ",");
        certbus_sb_json_str (&sb, session->org);
        certbus_sb_printf (&sb, ",\"tier\":");
        certbus_sb_json_str (&sb, cert ? certbus_tier_name (cert->tier) : "unknown");
        certbus_sb_printf (&sb,
                           ",\"ready\":%s,\"inflight\":%d,"
                           "\"inflight_bytes\":%lld,\"member_bytes\":%lld,"
                           "\"window\":%d,\"delivered\":%llu,\"queued\":%lld,"
                           "\"idle_ms\":%lld}",
                           session->ready ? "true" : "false", session->inflight_count,
                           (long long) session->inflight_bytes,
                           (long long) s_member_bytes (self, session),
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
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, s_member_destroy);
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
    //  A member's pipe holds its window of deliveries (at most
    //  inflight_bytes) and a bounded number of small packets: a full pipe
    //  fails the send (mandatory, never blocking) and stops the pump, so a
    //  member that never reads costs the broker a bounded number of bytes
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_sndtimeo (self->router, 0);
    zsock_set_sndhwm (self->router, self->config.window + BROKER_SNDHWM_SLACK);
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
        //  Only the broker's user may command it, whatever the umask (the
        //  folder is 0700 as well)
        else if (chmod (ctl, 0600) != 0) {
            zsys_error ("broker: cannot make %s private: %s", ctl, strerror (errno));
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
    zhashx_destroy (&self->members);
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
