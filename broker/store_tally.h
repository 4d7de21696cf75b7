/*  store_tally.h - row counts a store backend keeps in memory
    SPDX-License-Identifier: MPL-2.0

    Private to the backends. COUNT (*) over a backlog of a million rows
    blocks the engine for seconds, so a backend counts its rows once (on
    first use, or after it lost track: an expiry that cascades, a commit of
    unknown outcome, another broker writing), then moves the counts with
    its own committed inserts and acknowledgements. Moves inside a
    transaction are kept apart until it commits or rolls back.
*/
#ifndef BROKER_STORE_TALLY_H_INCLUDED
#define BROKER_STORE_TALLY_H_INCLUDED

#include "certbus.h"
#include <czmq.h>

//  One recipient's queue depth
typedef struct {
    int64_t depth; //  committed queue rows
    int64_t delta; //  change in the open transaction
    bool touched;
} broker_store_depth_t;

typedef struct {
    bool valid;                     //  the counts below are known
    zhashx_t *depths;               //  recipient -> broker_store_depth_t
    broker_store_depth_t **touched; //  entries with a delta in this transaction
    size_t touched_count, touched_cap;
    int64_t messages, messages_delta;
    int64_t audits, audits_delta; //  audit records, as messages
} broker_store_tally_t;

void
    broker_store_tally_init (broker_store_tally_t *self);
void
    broker_store_tally_fini (broker_store_tally_t *self);

//  Before the backend counts again: forgets every count
void
    broker_store_tally_reset (broker_store_tally_t *self);
//  While it counts: recipient's committed depth
void
    broker_store_tally_set_depth (broker_store_tally_t *self, const char *recipient, int64_t depth);
//  Once it counted: the counts are known
void
    broker_store_tally_loaded (broker_store_tally_t *self, int64_t messages, int64_t audits);

//  A queue row added (delta 1) or removed (-1) for recipient, a message or
//  an audit record added; in_tx says whether a transaction is open
void
    broker_store_tally_move (broker_store_tally_t *self, bool in_tx, const char *recipient,
                             int64_t delta);
void
    broker_store_tally_message (broker_store_tally_t *self, bool in_tx);
void
    broker_store_tally_audit (broker_store_tally_t *self, bool in_tx);

//  At the end of a transaction: its moves count when it committed
void
    broker_store_tally_settle (broker_store_tally_t *self, bool committed);

//  recipient's committed depth; every recipient's summed
int64_t
    broker_store_tally_depth (broker_store_tally_t *self, const char *recipient);
int64_t
    broker_store_tally_queued (broker_store_tally_t *self);

#endif
