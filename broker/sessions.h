/*  sessions.h - members' sessions: Hello, credit windows, the delivery
    pump, DeliverAcks, heartbeats and timeouts
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_SESSIONS_H_INCLUDED
#define BROKER_SESSIONS_H_INCLUDED

#include "context.h"

//  One delivery sent and not yet acknowledged
typedef struct {
    uint64_t qseq; //  its delivery sequence
    size_t bytes;  //  its size on the wire
} broker_flight_t;

typedef struct {
    char *org;                 //  member org id, the key
    zframe_t *routing;         //  current ROUTER identity
    bool ready;                //  said hello
    int window;                //  credit granted
    broker_flight_t *inflight; //  deliveries sent, unacked
    int inflight_count;        //  how many of inflight are set
    int64_t inflight_bytes;    //  their bytes: bounded by config.inflight_bytes
    bool blocked;              //  its pipe was full, or its bytes used up
    bool dirty;                //  may have deliveries to send
    int64_t last_seen;         //  last packet, unix ms
    uint64_t delivered;        //  deliveries sent in this session
    uint64_t cursor [2];       //  per priority class: the last queue
                               //  sequence sent in this session
} broker_session_t;

struct broker_sessions_t {
    zhashx_t *table;    //  org -> broker_session_t
    zhashx_t *max_sent; //  org -> highest delivery sequence sent
    int64_t pump_after; //  no deliveries before this (after a failed batch)
    bool damaged_seen;  //  a damaged message was found (logged once)
};

broker_sessions_t *
    broker_sessions_new (void);
void
    broker_sessions_destroy (broker_sessions_t **self_p);

//  The session of org on this connection (its last_seen now refreshed),
//  or NULL when that connection has none.
broker_session_t *
    broker_sessions_touch (broker_ctx_t *ctx, const char *org, zframe_t *routing);

//  Marks org's session, if any, as having deliveries to send.
void
    broker_sessions_wake (broker_ctx_t *ctx, const char *org);

//  No deliveries until the given time (unix ms); then every queue is read
//  again from its start, for acks lost with a failed batch.
void
    broker_sessions_pause (broker_ctx_t *ctx, int64_t until);

//  After a new directory: cuts off the sessions of members no longer
//  admitted (with an Error) and pushes the directory to every other one.
void
    broker_sessions_directory_changed (broker_ctx_t *ctx);

//  Bytes of a session's member's deliveries the broker's pipes may hold
//  now, over all its connections.
int64_t
    broker_sessions_member_bytes (broker_ctx_t *ctx, broker_session_t *session);

//  Handles a Hello: opens a session, or grants credit again.
void
    broker_sessions_hello (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                           Certbus__Hello *hello);

//  Handles a DeliverAck, in the batch's transaction.
void
    broker_sessions_acks (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *member,
                          Certbus__DeliverAck *ack);

//  Answers a member's Ping (session: it has one on this connection) with
//  a Pong, or with an Error when it has no session.
void
    broker_sessions_ping (broker_ctx_t *ctx, zframe_t *routing, bool session, int64_t time);

//  Sends deliveries to every session with credit and work.
void
    broker_sessions_pump (broker_ctx_t *ctx);

//  Once per heartbeat: pings every session and closes those silent for
//  peer_timeout_ms.
void
    broker_sessions_tick (broker_ctx_t *ctx, int64_t now);

//  Packets the broker sends in more than one place. Each returns what
//  certbus_packet_send returns.
int
    broker_send_error (broker_ctx_t *ctx, zframe_t *routing, certbus_err_t code,
                       const char *reason);
int
    broker_send_ping (broker_ctx_t *ctx, zframe_t *routing);

#endif
