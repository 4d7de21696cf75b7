/*  pgtool.h - what the PostgreSQL store tools share: checks, a message,
    an audit record, a server that ends every session
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef PGTOOL_H_INCLUDED
#define PGTOOL_H_INCLUDED

#include "certbus.h"
#include "store.h"
#include "tree.h"

//  Prints "ok: what" or "FAIL: what" and the reason, and counts failures
void
    pgtool_check (bool ok, const char *what);
//  Failures counted so far
int
    pgtool_failures (void);

//  Ends every other session on url's database, as a server restart or a
//  failover does. True when it ended at least one.
bool
    pgtool_kill_sessions (const char *url);

//  Writes one message from alpha for bravo and its queue row, in store's
//  open transaction (or on their own); with keep_id the message has id,
//  else a new id is written there. True when both rows are written.
bool
    pgtool_write_message (broker_store_t *store, uint8_t id [CERTBUS_ID_SIZE], bool keep_id);

//  True when alpha's message id is stored
bool
    pgtool_known (broker_store_t *store, const uint8_t id [CERTBUS_ID_SIZE]);

//  Appends an audit record (about message id, or a new one when NULL)
bool
    pgtool_audit (broker_tree_t *tree, const uint8_t *id);

#endif
