/*  outcome.h - what became of a publish: the broker's PubAck read once
    into an enum, and the names the CLI and the control socket print
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_OUTCOME_H_INCLUDED
#define NODE_OUTCOME_H_INCLUDED

#include "certbus.h"
#include "store.h"

typedef enum {
    NODE_OUTCOME_QUEUED,    //  in the outbox without a final answer; resent
    NODE_OUTCOME_ACCEPTED,  //  the broker stored it
    NODE_OUTCOME_DUPLICATE, //  the broker had stored it already
    NODE_OUTCOME_REJECTED,  //  refused for good
    NODE_OUTCOME_ERROR      //  not even in the outbox
} node_outcome_t;

//  The outcome a PubAck reports. A refusal for want of storage (full, I/O)
//  or with a status other than rejected is QUEUED: the row stays pending
//  and is sent again.
node_outcome_t
    node_puback_outcome (const Certbus__PubAck *ack);

//  True for ACCEPTED and DUPLICATE.
bool
    node_outcome_accepted (node_outcome_t outcome);

//  The outbox state a final outcome leaves: accepted (for a duplicate
//  too) or rejected; pending for the others.
node_outbox_state_t
    node_outcome_outbox_state (node_outcome_t outcome);

//  The outcome of an outbox row in state: QUEUED while pending.
node_outcome_t
    node_outcome_from_outbox (node_outbox_state_t state);

//  Its name on the control socket: "queued", "accepted", "duplicate",
//  "rejected", "error".
const char *
    node_outcome_name (node_outcome_t outcome);

//  The outcome named name; an unknown name reads as QUEUED.
node_outcome_t
    node_outcome_from_name (const char *name);

#endif
