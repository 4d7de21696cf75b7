/*  engine.c - the Council broker's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    One thread owns the ROUTER socket, the database and every session.
    This file is the actor only: start and stop, the loop, and the pipe and
    control commands. Each turn of the loop drains up to `batch` packets,
    checks their signatures in parallel, handles them in order, commits,
    and only then acknowledges (publish.c); then it pumps deliveries
    (sessions.c) and ticks the timers. The concerns, each owning its
    state: admission.c, sessions.c, publish.c (with authorize.c and
    cases.c), auditlog.c, stats.c; context.h is what they share.
*/
#include "engine.h"
#include "admission.h"
#include "auditlog.h"
#include "context.h"
#include "conf.h"
#include "council.h"
#include "publish.h"
#include "sessions.h"
#include "stats.h"
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    broker_config_t config; //  our copy of the settings
    zsock_t *pipe;          //  actor pipe
    zsock_t *control;       //  ipc control socket for the CLI
    char endpoint [256];    //  bound endpoint
    bool terminated;        //  $TERM received
    int64_t next_tick;      //  next heartbeat, unix ms
    int64_t next_expire;    //  next expiry sweep, unix ms
    int64_t renewed_at;     //  the lease last renewed, zclock_mono ms
    char renew_error [256]; //  why the last renewal failed, or ""
    char step_down [512];   //  why we stopped being active, or ""
    char holder [128];      //  our name in the lease: host:pid
    broker_ctx_t ctx;       //  what the concerns share
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
    config->lease_ms = BROKER_DEFAULT_LEASE_MS;
}

//  ---------------------------------------------------------------------
//  Timers

//  Council commands on the other host of a pair cannot reach us over the
//  control socket: a newer directory in the store is loaded here
static void
s_directory_poll (broker_ctx_t *ctx)
{
    int64_t stored = broker_store_directory_serial (ctx->store);
    if (stored > (int64_t) certbus_directory_serial (ctx->admission->directory)
        && broker_admission_load_directory (ctx) != 0)
        zsys_error ("broker: cannot load the new directory: %s", certbus_reason ());
}

static void
s_tick (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    int64_t now = certbus_now_ms ();
    if (now < self->next_tick)
        return;
    self->next_tick = now + self->config.heartbeat_ms;
    //  Council commands (issue, revoke) tell us over the control socket
    //  (DIRECTORY) when they change the directory
    broker_sessions_tick (ctx, now);
    if (ctx->lease.supported)
        s_directory_poll (ctx);
    broker_admission_probe_retired (ctx);
    broker_auditlog_noise_flush (ctx, false);
    broker_auditlog_issue_head (ctx, false);
    if (now >= self->next_expire) {
        //  Once a minute, or sooner when messages live less than minutes
        int64_t every = self->config.expiry_ms / 4;
        self->next_expire = now + (every < 100 ? 100 : every > 60000 ? 60000 : every);
        int removed = broker_store_expire (ctx->store, now);
        if (removed > 0)
            broker_admission_forget_stored (ctx);
        if (removed > 0)
            zsys_info ("broker: expired %d messages", removed);
    }
}

//  The lease: renewed a few times per lease (every commit renews it as
//  well); lost (another broker took over, or the database could not be
//  reached for a whole lease), the broker steps down
static void
s_lease_check (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    if (!ctx->lease.supported)
        return;
    //  Monotonic: a clock stepped back must not delay a renewal
    int64_t now = zclock_mono ();
    bool lost = broker_store_lease_lost (ctx->store);
    //  The batch a timer opened (noise records) is committed first: its
    //  commit renews the lease, and a renewal never nests in it
    if (!lost && broker_publish_in_txn (ctx)) {
        broker_publish_flush (ctx);
        lost = broker_store_lease_lost (ctx->store);
    }
    if (!lost && now - self->renewed_at > self->config.lease_ms) {
        snprintf (self->step_down, sizeof self->step_down,
                  "the lease could not be renewed for %lld ms (%s): another broker may "
                  "hold it now",
                  (long long) (now - self->renewed_at),
                  *self->renew_error ? self->renew_error : "no answer");
        return;
    }
    if (!lost && now - self->renewed_at >= self->config.lease_ms / 4) {
        if (broker_store_lease_renew (ctx->store) == 0) {
            self->renewed_at = zclock_mono ();
            self->renew_error [0] = 0;
            //  The lease as the database has it now, for status
            broker_lease_t lease;
            if (broker_store_lease_read (ctx->store, &lease) == 0)
                ctx->lease = lease;
        }
        else if (broker_store_lease_lost (ctx->store))
            lost = true;
        else {
            snprintf (self->renew_error, sizeof self->renew_error, "%s", certbus_reason ());
            zsys_warning ("broker: cannot renew the lease: %s", certbus_reason ());
        }
    }
    if (lost)
        snprintf (self->step_down, sizeof self->step_down,
                  "the lease of epoch %llu is no longer ours: another broker took over, or it "
                  "ended while this one was paused; nothing was committed after that",
                  (unsigned long long) ctx->lease.epoch);
}

//  ---------------------------------------------------------------------
//  Router

//  A frame from a transport key that is no current member. A revoked
//  member's frames cost one record, one log line and one answer per
//  interval; the rest are counted
static void
s_handle_stranger (broker_ctx_t *ctx, broker_item_t *item)
{
    ctx->stats->refused_members++;
    const char *user_id = zframe_meta (item->payload, "User-Id");
    char key [80];
    snprintf (key, sizeof key, "key:%.64s", user_id ? user_id : "unknown");
    if (broker_auditlog_noise (ctx, key, "refused", "not a current member", 1)) {
        zsys_notice ("broker: refused frame from key %.16s: not a current member",
                     user_id ? user_id : "?");
        broker_auditlog_append (ctx, "refused", user_id ? user_id : "unknown", NULL, "reject", NULL,
                                "not a current member", 0, NULL, 0);
        broker_send_error (ctx, item->routing, CERTBUS_E_REVOKED,
                           "not a current member of this Council: revoked or expired");
    }
}

//  Hands one member's packet to the concern that handles it
static void
s_dispatch (broker_ctx_t *ctx, broker_item_t *item)
{
    zframe_t *routing = item->routing;
    const certbus_cert_t *member = item->member;
    Certbus__Packet *packet = item->packet;
    broker_session_t *session = broker_sessions_touch (ctx, member->org_id, routing);
    switch (packet->body_case) {
        case CERTBUS__PACKET__BODY_HELLO:
            broker_sessions_hello (ctx, routing, member, packet->hello);
            break;
        case CERTBUS__PACKET__BODY_PUBLISH:
            broker_publish_handle (ctx, routing, member, item);
            break;
        case CERTBUS__PACKET__BODY_DELIVER_ACK:
            broker_sessions_acks (ctx, routing, member, packet->deliver_ack);
            break;
        case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST:
            broker_admission_directory_request (ctx, routing, member);
            break;
        case CERTBUS__PACKET__BODY_PROOF_REQUEST:
            broker_publish_flush (ctx);
            broker_auditlog_proof (ctx, routing, member, packet->proof_request);
            break;
        case CERTBUS__PACKET__BODY_PING:
            broker_sessions_ping (ctx, routing, session != NULL, packet->ping->time);
            break;
        case CERTBUS__PACKET__BODY_PONG:
            if (!session)
                broker_send_error (ctx, routing, CERTBUS_E_PROTOCOL, "no session: send hello");
            break;
        default: {
            char reason [128];
            snprintf (reason, sizeof reason, "a member may not send a %s packet",
                      certbus_packet_name (packet));
            broker_bad_frame (ctx, routing, member, CERTBUS_E_PROTOCOL, reason);
        }
    }
}

//  Handles one received message, in the order they arrived
static void
s_handle_item (broker_ctx_t *ctx, broker_item_t *item)
{
    zframe_t *routing = item->routing;
    const certbus_cert_t *member = item->member;
    if (!member)
        s_handle_stranger (ctx, item);
    else if (!broker_admission_connection_admitted (ctx, member, routing)) {
        ctx->stats->connections_refused++;
        if (broker_auditlog_noise (ctx, member->org_id, "refused", "too many open connections",
                                   ctx->config->noise_burst)) {
            zsys_notice ("broker: org=%s has %d connections open: frame of another dropped",
                         member->org_id, BROKER_MEMBER_CONNECTIONS);
            broker_auditlog_append (ctx, "refused", member->org_id, NULL, "reject", NULL,
                                    "too many open connections", 0, NULL, 0);
        }
    }
    else if (item->extra_frames)
        broker_bad_frame (ctx, routing, member, CERTBUS_E_PROTOCOL,
                          "one packet per message: extra frames refused");
    else if (item->packet_rc || !item->packet)
        broker_bad_frame (ctx, routing, member,
                          item->packet_rc ? item->packet_rc : CERTBUS_E_PROTOCOL,
                          item->packet_reason ? item->packet_reason : "undecodable packet");
    else
        s_dispatch (ctx, item);
    broker_item_clear (item);
}

//  One turn of the loop over what the ROUTER holds
static void
s_handle_router (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    broker_item_t *items = ctx->publish->items;
    int count = 0;
    for (int n = 0; n < self->config.batch && (zsock_events (ctx->router) & ZMQ_POLLIN); n++)
        if (broker_publish_recv (ctx, &items [count]) == 0)
            count++;
    broker_publish_verify (ctx, count);
    for (int i = 0; i < count; i++)
        s_handle_item (ctx, &items [i]);
    broker_publish_flush (ctx);
    broker_sessions_pump (ctx);
}

//  ---------------------------------------------------------------------
//  Commands

//  Loads the directory the Council commands (issue, revoke) stored
static char *
s_command_directory (broker_ctx_t *ctx)
{
    broker_publish_flush (ctx);
    if (broker_admission_load_directory (ctx) != 0) {
        zsys_error ("broker: cannot load the new directory: %s", certbus_reason ());
        return zsys_sprintf ("ERROR %s", certbus_reason ());
    }
    return zsys_sprintf ("OK directory=%llu",
                         (unsigned long long) certbus_directory_serial (ctx->admission->directory));
}

static char *
s_command_reload (broker_ctx_t *ctx)
{
    broker_publish_flush (ctx);
    if (broker_admission_load_policy (ctx) != 0) {
        zsys_error ("broker: new policy refused, the old one stays: %s", certbus_reason ());
        return zsys_sprintf ("ERROR policy refused, the old one stays in force: %s",
                             certbus_reason ());
    }
    if (broker_admission_load_directory (ctx) != 0)
        return zsys_sprintf ("ERROR %s", certbus_reason ());
    return zsys_sprintf ("OK directory=%llu policy=%zu rules",
                         (unsigned long long) certbus_directory_serial (ctx->admission->directory),
                         certbus_policy_rules (ctx->admission->policy));
}

//  Handles a command from the pipe or the control socket; returns the
//  reply text (caller frees).
static char *
s_command (self_t *self, const char *command)
{
    if (!self->ctx.active) {
        if (streq (command, "STATS"))
            return broker_stats_standby_json (&self->ctx);
        if (streq (command, "METRICS"))
            return broker_stats_standby_metrics (&self->ctx);
        if (streq (command, "ENDPOINT"))
            return strdup ("");
        return strdup ("OK standby: another broker of the pair is active; nothing to do here");
    }
    if (streq (command, "STATS"))
        return broker_stats_json (&self->ctx, self->endpoint);
    if (streq (command, "METRICS"))
        return broker_stats_metrics (&self->ctx);
    if (streq (command, "ENDPOINT"))
        return strdup (self->endpoint);
    if (streq (command, "RELOAD"))
        return s_command_reload (&self->ctx);
    if (streq (command, "DIRECTORY"))
        return s_command_directory (&self->ctx);
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

//  The broker's keys and its database (open already), checked
static int
s_open (self_t *self, uint8_t council_key [CERTBUS_KEY_SIZE])
{
    broker_ctx_t *ctx = &self->ctx;
    char *path = council_path (self->config.dir, BROKER_SECRET);
    ctx->identity = certbus_identity_load (path);
    free (path);
    if (!ctx->identity)
        return -1;
    path = council_path (self->config.dir, COUNCIL_PUB);
    int rc = certbus_pubfile_read (path, council_key, NULL);
    free (path);
    if (rc)
        return -1;
    if (!ctx->store)
        return -1;
    //  After a crash (or a first start) every page is checked before
    //  anything is served; after a clean stop the Council tables suffice,
    //  so a large backlog does not slow every restart.
    char *clean = broker_store_meta_get (ctx->store, "clean_stop");
    bool full = !clean || strcmp (clean, "1") != 0 || self->config.full_check;
    free (clean);
    if (full && !ctx->lease.supported)
        zsys_info ("broker: checking every page of the database (last stop was not clean)");
    if (broker_store_check (ctx->store, full)
        || broker_store_meta_set (ctx->store, "clean_stop", "0"))
        return -1;
    return 0;
}

//  The ROUTER members connect to
static int
s_bind (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    ctx->router = zsock_new (ZMQ_ROUTER);
    zsock_t *router = ctx->router;
    zsock_set_zap_domain (router, "certbus");
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey_bin (router, certbus_identity_curve_secret (ctx->identity));
    zsock_set_curve_publickey_bin (router, certbus_identity_curve_public (ctx->identity));
    zsock_set_maxmsgsize (router, CERTBUS_MAX_PACKET);
    //  A member's pipe holds its window of deliveries (at most
    //  inflight_bytes) and a bounded number of small packets: a full pipe
    //  fails the send (mandatory, never blocking) and stops the pump, so a
    //  member that never reads costs the broker a bounded number of bytes
    zsock_set_router_mandatory (router, 1);
    zsock_set_sndtimeo (router, 0);
    zsock_set_sndhwm (router, self->config.window + BROKER_SNDHWM_SLACK);
    zsock_set_rcvhwm (router, 100000);
    zsock_set_linger (router, 0);
    zsock_set_heartbeat_ivl (router, self->config.heartbeat_ms);
    zsock_set_heartbeat_timeout (router, self->config.peer_timeout_ms);
    if (zsock_bind (router, "%s", self->config.bind) < 0) {
        certbus_fail (CERTBUS_E_IO, "cannot bind %s: %s", self->config.bind,
                      zmq_strerror (zmq_errno ()));
        return -1;
    }
    char *endpoint = zsock_last_endpoint (router);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint ? endpoint : self->config.bind);
    zstr_free (&endpoint);
    return 0;
}

//  The control socket for the CLI, when the folder allows one
static void
s_control_open (self_t *self)
{
    char *real = realpath (self->config.dir, NULL);
    if (real) {
        self->control = zsock_new (ZMQ_ROUTER);
        char *ctl = council_path (real, BROKER_CONTROL);
        zsock_bind (self->control, "%s", BROKER_CONTROL_INPROC);
        if (zsock_bind (self->control, "ipc://%s", ctl) < 0) {
            zsys_warning ("broker: no control socket at %s: %s", ctl, zmq_strerror (zmq_errno ()));
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
}

static int
s_start (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    ctx->config = &self->config;
    uint8_t council_key [CERTBUS_KEY_SIZE];
    if (s_open (self, council_key))
        return -1;
    ctx->publish = broker_publish_new (&self->config);
    ctx->sessions = broker_sessions_new ();
    ctx->stats = broker_stats_new ();
    ctx->admission = broker_admission_new (council_key);
    if (!ctx->admission)
        return -1;
    if (broker_admission_load_directory (ctx))
        return -1;
    ctx->auditlog = broker_auditlog_new (ctx->store);
    if (!ctx->auditlog)
        return -1;
    if (broker_admission_load_policy (ctx)) {
        char reason [CERTBUS_REASON_MAX];
        snprintf (reason, sizeof reason, "%s", certbus_reason ());
        certbus_fail (CERTBUS_E_FIELD, "cannot load the policy: %s", reason);
        return -1;
    }
    if (s_bind (self))
        return -1;
    return 0;
}

//  Ends the active broker's state; the control socket and the pipe stay
static void
s_stop (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    zsock_destroy (&ctx->router);
    broker_sessions_destroy (&ctx->sessions);
    broker_stats_destroy (&ctx->stats);
    broker_admission_destroy (&ctx->admission);
    broker_auditlog_destroy (&ctx->auditlog);
    broker_store_destroy (&ctx->store);
    certbus_identity_destroy (&ctx->identity);
    broker_publish_destroy (&ctx->publish);
    ctx->active = false;
    self->endpoint [0] = 0;
}

//  The loop: poll, drain a batch, check signatures in parallel, handle,
//  commit then acknowledge, pump, tick; until $TERM or the lease is lost
static void
s_serve (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    zpoller_t *poller = zpoller_new (self->pipe, ctx->router, NULL);
    if (self->control)
        zpoller_add (poller, self->control);
    //  A turn at least four times per lease, so that it is renewed in time
    int wait = (int) self->config.heartbeat_ms / 2 + 1;
    if (ctx->lease.supported && wait > self->config.lease_ms / 8)
        wait = (int) (self->config.lease_ms / 8) + 1;
    while (!self->terminated && !*self->step_down) {
        void *which = zpoller_wait (poller, wait);
        //  A broker that wakes past its lease (paused, starved) steps down
        //  before it handles what queued up meanwhile
        s_lease_check (self);
        if (*self->step_down)
            break;
        if (which == self->pipe)
            s_handle_pipe (self);
        else if (which == self->control && self->control)
            s_handle_control (self);
        s_handle_router (self);
        s_lease_check (self);
        if (!*self->step_down)
            s_tick (self);
        if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    if (*self->step_down) {
        //  Nothing more may be written: what is unacknowledged is resent
        //  by the nodes to the broker that holds the lease now
        zsys_error ("broker: stepping down: %s", self->step_down);
        return;
    }
    broker_publish_flush (ctx);
    if (broker_store_meta_set (ctx->store, "clean_stop", "1") != 0)
        zsys_warning ("broker: cannot record the clean stop: %s", certbus_reason ());
    //  A standby takes over at once rather than when the lease ends
    broker_store_lease_release (ctx->store);
    zsys_info ("broker: stopped");
}

//  Waits up to ms for the pipe or the control socket, answering them
static void
s_wait (self_t *self, int ms)
{
    zpoller_t *poller = zpoller_new (self->pipe, NULL);
    if (self->control)
        zpoller_add (poller, self->control);
    int64_t until = certbus_now_ms () + ms;
    while (!self->terminated && certbus_now_ms () < until) {
        void *which = zpoller_wait (poller, (int) (until - certbus_now_ms ()) + 1);
        if (which == self->pipe)
            s_handle_pipe (self);
        else if (which && which == self->control)
            s_handle_control (self);
        else if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
}

//  Waits as a standby until this broker holds the store's lease (at once
//  on a store without leases). Returns 0 when it does, -1 when terminated
static int
s_standby (self_t *self)
{
    broker_ctx_t *ctx = &self->ctx;
    bool announced = false;
    int64_t warned_at = 0;
    while (!self->terminated) {
        if (!ctx->store)
            ctx->store = broker_conf_store_open (self->config.dir);
        int rc = ctx->store ? broker_store_lease_take (ctx->store, self->holder,
                                                       self->config.lease_ms, &ctx->lease)
                            : -1;
        if (rc == 1) {
            if (ctx->lease.epoch > 1)
                ctx->failovers++;
            self->renewed_at = zclock_mono ();
            return 0;
        }
        if (rc < 0 && certbus_now_ms () - warned_at > 10000) {
            warned_at = certbus_now_ms ();
            zsys_warning ("broker: standby: cannot reach the store: %s", certbus_reason ());
            broker_store_destroy (&ctx->store);
        }
        else if (rc == 0 && !announced) {
            announced = true;
            char until [40];
            certbus_time_format (ctx->lease.expires_at, until, sizeof until);
            zsys_info ("broker: standby: the lease is held by %s (epoch %llu) until %s",
                       ctx->lease.holder, (unsigned long long) ctx->lease.epoch, until);
            zstr_sendf (self->pipe, "STANDBY lease held by %s (epoch %llu) until %s",
                        ctx->lease.holder, (unsigned long long) ctx->lease.epoch, until);
        }
        s_wait (self, BROKER_STANDBY_POLL_MS);
    }
    return -1;
}

void
broker_engine_actor (zsock_t *pipe, void *args)
{
    certbus_init ();
    self_t *self = certbus_calloc (1, sizeof *self);
    self->pipe = pipe;
    self->config = *(broker_config_t *) args;
    char host [64] = "localhost";
    gethostname (host, sizeof host - 1);
    snprintf (self->holder, sizeof self->holder, "%s:%d", host, (int) getpid ());
    zsock_signal (pipe, 0);
    s_control_open (self);
    //  A folder that is no broker's, or a store refused at open, is fatal;
    //  later, a store that cannot be reached is waited for
    self->ctx.store = broker_conf_store_open (self->config.dir);
    bool fatal = !self->ctx.store;
    if (fatal)
        zstr_sendf (pipe, "FATAL %s", certbus_reason ());
    while (!self->terminated && !fatal) {
        self->step_down [0] = 0;
        if (s_standby (self))
            break;
        if (s_start (self) != 0) {
            certbus_err_t code = certbus_reason_code ();
            bool transient = self->ctx.lease.supported
                             && (code == CERTBUS_E_FENCED || code == CERTBUS_E_IO
                                 || code == CERTBUS_E_OUTCOME_UNKNOWN);
            if (transient) {
                //  Of a pair, a start cut short by the database (unreachable,
                //  or the lease lost meanwhile) waits as a standby again
                snprintf (self->step_down, sizeof self->step_down, "could not start: %s",
                          certbus_reason ());
                zsys_error ("broker: %s", self->step_down);
                zstr_sendf (pipe, "DOWN %s", self->step_down);
                broker_store_lease_release (self->ctx.store);
                s_stop (self);
                s_wait (self, 1000);
                continue;
            }
            //  A broker that cannot start (a damaged store, a bad policy)
            //  gives the lease back and says why
            zstr_sendf (pipe, "FATAL %s", certbus_reason ());
            broker_store_lease_release (self->ctx.store);
            fatal = true;
        }
        else {
            self->ctx.active = true;
            zsys_info ("broker: serving %s as %s, window %d, %d signature helper threads, "
                       "lease epoch %llu",
                       self->endpoint, certbus_identity_fingerprint (self->ctx.identity),
                       self->config.window, broker_verifier_threads (self->ctx.publish->verifier),
                       (unsigned long long) self->ctx.lease.epoch);
            zstr_sendf (pipe, "READY %s", self->endpoint);
            s_serve (self);
            if (*self->step_down)
                zstr_sendf (pipe, "DOWN %s", self->step_down);
        }
        s_stop (self);
    }
    //  After FATAL the daemon destroys us: wait for $TERM
    while (fatal && !self->terminated) {
        char *command = zstr_recv (pipe);
        self->terminated = !command || streq (command, "$TERM");
        if (!self->terminated)
            zstr_send (pipe, "ERROR the broker did not start");
        zstr_free (&command);
    }
    broker_store_destroy (&self->ctx.store); //  a standby's, when stopped waiting
    zsock_destroy (&self->control);
    free (self);
}
