/*  engine.h - the node service's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    Start with zactor_new (node_engine_actor, &config); the actor then sends
    "READY" or "ERROR reason" on its pipe.

    Pipe commands (each answered with one string):
        STATUS   -> JSON object
        $TERM    end the actor

    Control socket (ROUTER at ipc://DIR/node.ctl), for the CLI:
        QUEUE id envelope payload wait_ms
                          put a sealed envelope into the outbox, then as SEND
        SEND id wait_ms   send outbox row id now; answer when the broker
                          acknowledges it or after wait_ms:
                          state, code, reason, rule (state is a
                          node_outcome_name: accepted, rejected, queued, error)
        STATUS            -> JSON object
*/
#ifndef NODE_ENGINE_H_INCLUDED
#define NODE_ENGINE_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *dir;        //  the node folder (enrolled)
    int heartbeat_ms;       //  ping interval
    int peer_timeout_ms;    //  broker silence before reconnecting
    int resend_ms;          //  outbox resend interval
    int credit;             //  deliveries in flight we accept
    int directory_grace_ms; //  after learning that a newer directory exists,
                            //  how long we may still open with ours
} node_config_t;

#define NODE_DEFAULT_HEARTBEAT_MS 1000
#define NODE_DEFAULT_PEER_TIMEOUT_MS 5000
#define NODE_DEFAULT_RESEND_MS 3000
#define NODE_DEFAULT_CREDIT 64
#define NODE_DEFAULT_DIRECTORY_GRACE_MS 10000

void
    node_config_defaults (node_config_t *config);

void
    node_engine_actor (zsock_t *pipe, void *args);

#endif
