/*  admission.c - who may talk to the broker: the directory, the policy,
    per-member state (token buckets, connections) and the ZAP keys
    SPDX-License-Identifier: MPL-2.0
*/
#include "admission.h"
#include "council.h"
#include "sessions.h"
#include "stats.h"
#include "zap.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
s_member_destroy (void **item)
{
    broker_member_t *state = *item;
    if (!state)
        return;
    broker_retired_t *retired;
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

broker_admission_t *
broker_admission_new (const uint8_t council_key [CERTBUS_KEY_SIZE])
{
    broker_admission_t *self = certbus_calloc (1, sizeof *self);
    memcpy (self->council_key, council_key, CERTBUS_KEY_SIZE);
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, s_member_destroy);
    //  Fail closed: the ZAP handler must answer before anything binds,
    //  since libzmq admits every CURVE client when none does.
    self->zap = zactor_new (broker_zap_actor, NULL);
    if (!self->zap || broker_zap_selftest () != 0) {
        certbus_fail (CERTBUS_E_INTERNAL,
                      "no working ZAP handler (is another broker running in this process?); "
                      "refusing to start, as libzmq would admit every client");
        broker_admission_destroy (&self);
    }
    return self;
}

void
broker_admission_destroy (broker_admission_t **self_p)
{
    assert (self_p);
    broker_admission_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->members);
    zactor_destroy (&self->zap);
    certbus_directory_destroy (&self->directory);
    certbus_policy_destroy (&self->policy);
    free (self);
    *self_p = NULL;
}

int
broker_admission_load_directory (broker_ctx_t *ctx)
{
    uint8_t *bytes;
    size_t size;
    if (broker_store_directory_latest (ctx->store, &bytes, &size))
        return -1;
    certbus_directory_t *dir;
    broker_admission_t *self = ctx->admission;
    uint64_t have = self->directory ? certbus_directory_serial (self->directory) : 0;
    certbus_err_t rc = certbus_directory_decode (bytes, size, self->council_key, have, &dir);
    free (bytes);
    if (rc)
        return -1;
    if (ctx->admission->directory && certbus_directory_serial (dir) == have) {
        certbus_directory_destroy (&dir);
        return 0;
    }
    certbus_directory_destroy (&ctx->admission->directory);
    ctx->admission->directory = dir;
    //  The ZAP handler gets the transport keys of every current member
    zmsg_t *keys = zmsg_new ();
    zmsg_addstr (keys, "KEYS");
    int64_t now = certbus_now ();
    for (size_t i = 0; i < certbus_directory_count (dir); i++) {
        const certbus_cert_t *cert = certbus_directory_at (dir, i);
        if (certbus_cert_check_time (cert, now) == CERTBUS_OK)
            zmsg_addmem (keys, cert->curve_key, CERTBUS_KEY_SIZE);
    }
    zmsg_send (&keys, ctx->admission->zap);
    zsock_wait (ctx->admission->zap);
    //  Sessions of members no longer admitted are cut off at once, and
    //  every other one gets the new directory
    broker_sessions_directory_changed (ctx);
    zsys_info ("broker: directory version %llu, %zu members",
               (unsigned long long) certbus_directory_serial (dir), certbus_directory_count (dir));
    return 0;
}

//  Finds the member behind a frame from its authenticated transport key
//  (the User-Id our ZAP handler set). Checked on every frame, so a
//  revocation takes effect on the very next one.
const certbus_cert_t *
broker_admission_find (broker_ctx_t *ctx, zframe_t *frame)
{
    const char *user_id = zframe_meta (frame, "User-Id");
    uint8_t key [CERTBUS_KEY_SIZE];
    if (!user_id || certbus_unhex (user_id, key, sizeof key) != 0)
        return NULL;
    const certbus_cert_t *cert = certbus_directory_find_curve (ctx->admission->directory, key);
    if (!cert || certbus_directory_revocation (ctx->admission->directory, cert->serial)
        || certbus_cert_check_time (cert, certbus_now ()) != CERTBUS_OK)
        return NULL;
    return cert;
}

//  Loads DIR/policy.zpl. A file that does not parse is refused and the
//  policy in force stays.
int
broker_admission_load_policy (broker_ctx_t *ctx)
{
    char *path = council_path (ctx->config->dir, BROKER_POLICY);
    certbus_policy_t *policy = certbus_policy_load (path);
    free (path);
    if (!policy)
        return -1;
    certbus_policy_destroy (&ctx->admission->policy);
    ctx->admission->policy = policy;
    zsys_info ("broker: policy loaded, %zu rules, default deny", certbus_policy_rules (policy));
    return 0;
}

void
broker_send_directory (broker_ctx_t *ctx, zframe_t *routing)
{
    size_t size;
    const uint8_t *bytes = certbus_directory_bytes (ctx->admission->directory, &size);
    certbus_packet_send_directory_reply (ctx->router, routing, bytes, size);
}

//  The broker's record of a member (or of a transport key), made on first use
broker_member_t *
broker_admission_member (broker_ctx_t *ctx, const char *key)
{
    broker_member_t *state = zhashx_lookup (ctx->admission->members, key);
    if (!state) {
        state = certbus_calloc (1, sizeof *state);
        int64_t now = certbus_now_ms ();
        state->rate_tokens = ctx->config->quota_burst;
        state->hello_tokens = BROKER_HELLO_BURST;
        state->directory_tokens = BROKER_DIRECTORY_BURST;
        state->rate_at = state->hello_at = state->directory_at = state->noise.since = now;
        zhashx_insert (ctx->admission->members, key, state);
    }
    return state;
}

//  Takes one token from a bucket that refills at rate per second up to
//  burst. Returns false when the bucket is empty.
bool
broker_take_token (double *tokens, int64_t *at, double rate, double burst)
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

//  Pings every retired connection (a mandatory ROUTER answers EHOSTUNREACH
//  for one that is gone) and stops counting the bytes of those gone
void
broker_admission_probe_retired (broker_ctx_t *ctx)
{
    for (broker_member_t *state = zhashx_first (ctx->admission->members); state;
         state = zhashx_next (ctx->admission->members)) {
        if (!state->retired)
            continue;
        broker_retired_t *retired = zlist_first (state->retired);
        while (retired) {
            broker_retired_t *next = zlist_next (state->retired);
            if (broker_send_ping (ctx, retired->routing) != 0 && zmq_errno () == EHOSTUNREACH) {
                state->retired_bytes -= retired->bytes;
                zlist_remove (state->retired, retired);
                zframe_destroy (&retired->routing);
                free (retired);
            }
            retired = next;
        }
    }
}

void
broker_admission_forget_stored (broker_ctx_t *ctx)
{
    for (broker_member_t *state = zhashx_first (ctx->admission->members); state;
         state = zhashx_next (ctx->admission->members))
        state->stored_known = false;
}

//  A member may hold at most BROKER_MEMBER_CONNECTIONS connections: each
//  one's pipe holds packets the broker queued for it, so their number
//  bounds the memory one member can hold. A frame from one more
//  connection first has the known ones probed (a mandatory ROUTER answers
//  EHOSTUNREACH for one that is gone), and is dropped when all of them
//  are still open.
bool
broker_admission_connection_admitted (broker_ctx_t *ctx, const certbus_cert_t *member,
                                      zframe_t *routing)
{
    broker_member_t *state = broker_admission_member (ctx, member->org_id);
    for (int i = 0; i < state->conn_count; i++)
        if (zframe_eq (state->conns [i], routing))
            return true;
    if (state->conn_count == BROKER_MEMBER_CONNECTIONS) {
        for (int i = 0; i < state->conn_count;) {
            if (broker_send_ping (ctx, state->conns [i]) != 0 && zmq_errno () == EHOSTUNREACH) {
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

//  A directory is large and a request small: requests are rate-limited,
//  so they cannot fill the broker's pipes (a node asks again after two
//  heartbeats, and every change is pushed)
void
broker_admission_directory_request (broker_ctx_t *ctx, zframe_t *routing,
                                    const certbus_cert_t *member)
{
    broker_member_t *state = broker_admission_member (ctx, member->org_id);
    if (broker_take_token (&state->directory_tokens, &state->directory_at, BROKER_DIRECTORY_RATE,
                           BROKER_DIRECTORY_BURST))
        broker_send_directory (ctx, routing);
    else
        ctx->stats->directory_requests_ignored++;
}
