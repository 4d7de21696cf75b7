/*  outcome.c - what became of a publish
    SPDX-License-Identifier: MPL-2.0
*/
#include "outcome.h"
#include <string.h>

static const char *s_names [] = {"queued", "accepted", "duplicate", "rejected", "error"};

node_outcome_t
node_puback_outcome (const Certbus__PubAck *ack)
{
    assert (ack);
    if (ack->status == CERTBUS__STATUS__STATUS_ACCEPTED)
        return NODE_OUTCOME_ACCEPTED;
    if (ack->status == CERTBUS__STATUS__STATUS_DUPLICATE)
        return NODE_OUTCOME_DUPLICATE;
    //  What the broker could not store (full, failed, fenced, unknown
    //  outcome) stays in the outbox to be sent again
    if (ack->code == CERTBUS_E_STORAGE_FULL || ack->code == CERTBUS_E_IO
        || ack->code == CERTBUS_E_FENCED || ack->code == CERTBUS_E_OUTCOME_UNKNOWN
        || ack->status != CERTBUS__STATUS__STATUS_REJECTED)
        return NODE_OUTCOME_QUEUED;
    return NODE_OUTCOME_REJECTED;
}

bool
node_outcome_accepted (node_outcome_t outcome)
{
    return outcome == NODE_OUTCOME_ACCEPTED || outcome == NODE_OUTCOME_DUPLICATE;
}

node_outbox_state_t
node_outcome_outbox_state (node_outcome_t outcome)
{
    if (node_outcome_accepted (outcome))
        return NODE_OUTBOX_ACCEPTED;
    return outcome == NODE_OUTCOME_REJECTED ? NODE_OUTBOX_REJECTED : NODE_OUTBOX_PENDING;
}

node_outcome_t
node_outcome_from_outbox (node_outbox_state_t state)
{
    return state == NODE_OUTBOX_ACCEPTED   ? NODE_OUTCOME_ACCEPTED
           : state == NODE_OUTBOX_REJECTED ? NODE_OUTCOME_REJECTED
                                           : NODE_OUTCOME_QUEUED;
}

const char *
node_outcome_name (node_outcome_t outcome)
{
    assert ((size_t) outcome < sizeof s_names / sizeof s_names [0]);
    return s_names [outcome];
}

node_outcome_t
node_outcome_from_name (const char *name)
{
    int i = certbus_str_index (name, s_names, sizeof s_names / sizeof s_names [0]);
    return i >= 0 ? (node_outcome_t) i : NODE_OUTCOME_QUEUED;
}
