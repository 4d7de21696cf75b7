/*  engine_self.h - the node engine's state, shared by the files of the
    actor (private to node/engine.c, node/deliver.c, node/engine_control.c)
    SPDX-License-Identifier: MPL-2.0

    engine.c         the actor: the loop, the broker session, the outbox
    deliver.c        deliveries: verify, open, store, receipts, acks, held
    engine_control.c the control socket and the status JSON
*/
#ifndef NODE_ENGINE_SELF_H_INCLUDED
#define NODE_ENGINE_SELF_H_INCLUDED

#include "engine.h"
#include "context.h"
#include "outcome.h"

typedef struct {
    zframe_t *routing;            //  CLI client waiting on the control socket
    uint8_t id [CERTBUS_ID_SIZE]; //  outbox row it waits for
    int64_t deadline;             //  unix ms, then answer "queued"
} node_waiter_t;

//  One delivery from the broker, as node_deliver takes it (borrowed)
typedef struct {
    uint64_t sequence;         //  broker delivery sequence
    uint64_t message_sequence; //  broker message sequence
    int64_t accepted_at;       //  broker accept time, unix ms
    const uint8_t *envelope;
    size_t size;
    const char *participants; //  the case's participants (comma list), or NULL
} node_delivery_t;

typedef struct {
    uint64_t sequence; //  broker delivery sequence
    uint64_t message_sequence;
    int64_t accepted_at;
    zchunk_t *envelope; //  held until a newer directory arrives
    char *participants; //  as node_delivery_t, or NULL
} node_held_t;

typedef struct {
    node_config_t config;
    zsock_t *pipe;
    zsock_t *dealer;  //  to the broker
    zsock_t *watch;   //  the dealer's connection events; NULL with one endpoint
    zsock_t *control; //  CLI requests
    zpoller_t *poller;
    node_ctx_t *ctx;
    bool connected;     //  the broker answered our hello
    size_t current;     //  the endpoint (of ctx->endpoints) the dealer dials
    size_t moves;       //  moves to another endpoint since the last welcome
    int64_t move_at;    //  when the due move to the next endpoint is; 0: none
    int ack_window;     //  most sequences one deliver-ack may list
    int64_t last_rx;    //  last packet from the broker
    int64_t connect_at; //  when the socket was last (re)made
    int64_t next_tick;
    int64_t next_resend;
    zlist_t *waiters;    //  node_waiter_t
    zlist_t *held;       //  node_held_t, awaiting a directory
    int receipts_queued; //  receipts added in this batch
    bool directory_requested;
    int64_t directory_asked_at; //  when we last asked for the directory
    uint64_t directory_known;   //  the highest version the broker announced
    int64_t behind_since;       //  when we learned ours is older; 0 when it is not
    bool terminated;
    char last_error [256];
    struct {
        uint64_t delivered, duplicates, refused, published, rejected, reconnects;
        uint64_t held_stale; //  deliveries held for a stale directory
    } stats;
} self_t;

//  What one batch of broker packets owes the broker, sent once the batch
//  is committed: deliver-acks, then the pongs of the pings in the batch,
//  so that a pong tells the broker everything before its ping is handled
typedef struct {
    uint64_t *sequences;
    size_t count;
    size_t cap;
    int refused;
    uint64_t *refused_seqs; //  which of them were refused
    size_t refused_count, refused_cap;
    int64_t pongs [16]; //  ping times to answer
    size_t pong_count;
} node_acks_t;

//  engine.c: the session and the directory

//  The version of the directory we hold, 0 for none.
uint64_t
    node_engine_directory_have (self_t *self);

//  True when our directory is older than one the broker announced, and
//  the grace time to fetch it has run out.
bool
    node_engine_directory_stale (self_t *self);

//  Keeps the broker's participant list of a case (when case_id and list
//  are given); logs a failure.
void
    node_engine_keep_participants (self_t *self, const uint8_t *case_id, uint64_t seq,
                                   const char *list);

//  node_outgoing_fn: sends one outbox row and marks it sent. Returns 1
//  when the link is full or down (stop), else 0.
int
    node_engine_resend_one (void *arg, const node_outgoing_t *outgoing);

//  deliver.c: deliveries and what the batch owes the broker

//  Verifies, decrypts and stores one delivery. Returns 1 to acknowledge
//  it, 2 to acknowledge it as refused (and counts it in *refused), 0 to
//  hold it (for a newer directory), -1 when it could not be stored.
int
    node_deliver (self_t *self, const node_delivery_t *delivery, bool may_hold, int *refused);

//  Holds a delivery that cannot be opened yet, unacknowledged (bounded).
void
    node_deliver_hold (self_t *self, const node_delivery_t *delivery);

//  Offers the held deliveries to node_deliver again, adding what it settles
//  to acks; those it still holds stay, in order.
void
    node_deliver_retry_held (self_t *self, bool may_hold, node_acks_t *acks);

void
    node_acks_add (node_acks_t *acks, uint64_t sequence);
void
    node_acks_refused (node_acks_t *acks, uint64_t sequence);

//  Sends the deliver-acks (in chunks of the granted window), then the
//  pongs, and empties acks.
void
    node_acks_send (self_t *self, node_acks_t *acks);

//  engine_control.c: the control socket

//  Answers the CLI clients waiting for an outbox row that has settled or
//  whose wait ran out (all of them with expire_all).
void
    node_engine_answer_waiters (self_t *self, bool expire_all);

//  The status JSON (a new string).
char *
    node_engine_status_json (self_t *self);

//  Handles a batch of control requests (QUEUE, SEND, STATUS).
void
    node_engine_handle_control (self_t *self);

#endif
