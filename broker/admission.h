/*  admission.h - who may talk to the broker: the directory, the policy,
    per-member state (token buckets, connections) and the ZAP keys
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_ADMISSION_H_INCLUDED
#define BROKER_ADMISSION_H_INCLUDED

#include "context.h"
#include "auditlog.h"

//  A connection a member replaced (or whose session ended) while
//  deliveries were in flight on it: libzmq keeps what it queued there until
//  the connection closes, so those bytes stay the member's until a probe
//  finds the connection gone
typedef struct {
    zframe_t *routing; //  the old connection
    int64_t bytes;     //  its deliveries' bytes
} broker_retired_t;

//  What the broker keeps about a member (or, for refused frames, a
//  transport key) beyond its session: quotas and aggregated noise. Made
//  and destroyed here; the concerns that spend a bucket or count bytes
//  update their own fields: publish.c the rate tokens and stored_bytes,
//  sessions.c the hello tokens and the retired connections, auditlog.c
//  the noise.
typedef struct {
    double rate_tokens;                          //  publishes it may still send now
    int64_t rate_at;                             //  when the tokens were counted, unix ms
    double hello_tokens;                         //  hellos it may still send now
    int64_t hello_at;                            //  when those were counted
    double directory_tokens;                     //  directory requests it may still send now
    int64_t directory_at;                        //  when those were counted
    int64_t stored_bytes;                        //  envelope bytes stored for it, when known
    bool stored_known;                           //  stored_bytes is up to date
    broker_noise_t noise;                        //  its refused or bad frames (auditlog.c)
    zframe_t *conns [BROKER_MEMBER_CONNECTIONS]; //  its connections seen alive
    int conn_count;                              //  how many of conns are set
    zlist_t *retired;                            //  broker_retired_t: earlier connections that
                                                 //  still held deliveries when replaced
    int64_t retired_bytes;                       //  their bytes, counted against inflight_bytes
} broker_member_t;

struct broker_admission_t {
    uint8_t council_key [CERTBUS_KEY_SIZE]; //  signs directories
    certbus_directory_t *directory;         //  current signed directory
    certbus_policy_t *policy;               //  current Council policy
    zhashx_t *members;                      //  org (or "key:HEX") -> broker_member_t
    zactor_t *zap;                          //  ZAP handler, fed the members' keys
};

//  Starts the ZAP handler and checks that it answers. Returns NULL with
//  the reason set when it cannot (libzmq would then admit every client).
broker_admission_t *
    broker_admission_new (const uint8_t council_key [CERTBUS_KEY_SIZE]);
void
    broker_admission_destroy (broker_admission_t **self_p);

//  Loads the store's latest directory when it is newer than ours, gives
//  the ZAP handler the members' keys, cuts off sessions of members gone,
//  and pushes the directory to every session. Returns 0 or -1 (reason set).
int
    broker_admission_load_directory (broker_ctx_t *ctx);

//  Loads DIR/policy.zpl. A file that does not parse is refused and the
//  policy in force stays. Returns 0 or -1 (reason set).
int
    broker_admission_load_policy (broker_ctx_t *ctx);

//  The current member behind a frame, from its authenticated transport
//  key, or NULL. Checked on every frame, so a revocation takes effect on
//  the very next one.
const certbus_cert_t *
    broker_admission_find (broker_ctx_t *ctx, zframe_t *frame);

//  The broker's record of a member (or "key:HEX"), made on first use.
broker_member_t *
    broker_admission_member (broker_ctx_t *ctx, const char *key);

//  True when member may use this connection: at most
//  BROKER_MEMBER_CONNECTIONS are open at once.
bool
    broker_admission_connection_admitted (broker_ctx_t *ctx, const certbus_cert_t *member,
                                          zframe_t *routing);

//  Stops counting the bytes of retired connections that are gone.
void
    broker_admission_probe_retired (broker_ctx_t *ctx);

//  Forgets every member's stored-bytes count (counted again on next use),
//  after expiry or a lost batch changed them.
void
    broker_admission_forget_stored (broker_ctx_t *ctx);

//  Answers a DirectoryRequest, within the member's request rate.
void
    broker_admission_directory_request (broker_ctx_t *ctx, zframe_t *routing,
                                        const certbus_cert_t *member);

//  Sends the current directory to one connection.
void
    broker_send_directory (broker_ctx_t *ctx, zframe_t *routing);

//  Takes one token from a bucket that refills at rate per second up to
//  burst. Returns false when the bucket is empty.
bool
    broker_take_token (double *tokens, int64_t *at, double rate, double burst);

#endif
