/*  tree.c - the audit log's Merkle tree, kept on top of the store
    SPDX-License-Identifier: MPL-2.0
*/
#include "tree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct broker_tree_t {
    broker_store_t *store;              //  holds the records and nodes, not ours
    int64_t size;                       //  records in the audit log
    certbus_merkle_frontier_t frontier; //  of the audit tree, in memory
    bool stale;                         //  a reload failed: size and frontier are not to be used
};

//  Reads the frontier again from the stored records and nodes, into self
//  only when both read: otherwise the tree is stale until a reload works
static int
s_load (broker_tree_t *self)
{
    int64_t size = broker_store_audit_count (self->store);
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    int rc = size < 0 ? -1 : 0;
    if (rc == 0 && size > 0
        && certbus_merkle_frontier_from_nodes (&frontier, (uint64_t) size, broker_store_node_get,
                                               self->store)) {
        char reason [CERTBUS_REASON_MAX];
        snprintf (reason, sizeof reason, "%s", certbus_reason ());
        rc = certbus_fail (CERTBUS_E_IO,
                           "%s: the audit tree does not match its %lld records (%s); run "
                           "certbus-broker audit verify",
                           broker_store_name (self->store), (long long) size, reason);
    }
    self->stale = rc != 0;
    if (rc == 0) {
        self->size = size;
        self->frontier = frontier;
    }
    return rc;
}

//  At the end of a transaction: a rolled-back append is forgotten
static void
s_on_end (void *arg, bool committed)
{
    broker_tree_t *self = arg;
    if (!committed)
        s_load (self);
}

broker_tree_t *
broker_tree_new (broker_store_t *store)
{
    assert (store);
    broker_tree_t *self = certbus_calloc (1, sizeof *self);
    self->store = store;
    if (s_load (self) || broker_store_on_end (store, s_on_end, self)) {
        free (self);
        return NULL;
    }
    return self;
}

void
broker_tree_destroy (broker_tree_t **self_p)
{
    assert (self_p);
    broker_tree_t *self = *self_p;
    if (!self)
        return;
    broker_store_on_end_cancel (self->store, s_on_end, self);
    free (self);
    *self_p = NULL;
}

int
broker_tree_append (broker_tree_t *self, Certbus__AuditRecord *record)
{
    assert (self);
    assert (record);
    //  After a rolled-back batch whose reload failed (the database was
    //  gone): nothing is appended to a tree that may not be the stored one
    if (self->stale && s_load (self))
        return -1;
    record->version = CERTBUS_WIRE_MAJOR;
    record->index = (uint64_t) self->size;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (record, &size);
    uint8_t leaf [CERTBUS_HASH_SIZE];
    certbus_merkle_leaf_hash (leaf, bytes, size);
    broker_audit_row_t row = {
        .index = self->size,
        .time = record->time,
        .event = record->event,
        .org = record->org,
        .record = bytes,
        .record_size = size,
        .leaf_hash = leaf,
        .leaf_hash_size = sizeof leaf,
        .message_id = record->message_id.len ? record->message_id.data : NULL,
        .message_id_size = record->message_id.len,
    };
    int rc = broker_store_audit_put (self->store, &row);
    free (bytes);
    //  The perfect subtrees this record completes are stored with it, so
    //  that proofs later read O(log n) nodes.
    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
    size_t node_count = 0;
    if (rc == 0 && certbus_merkle_frontier_append (&self->frontier, leaf, nodes, &node_count))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < node_count; i++)
        rc = broker_store_node_put (self->store, nodes [i].level, nodes [i].index, nodes [i].hash);
    if (rc == 0)
        self->size++;
    return rc;
}

int64_t
broker_tree_size (broker_tree_t *self)
{
    assert (self);
    return self->size;
}

void
broker_tree_root (broker_tree_t *self, uint8_t root [32])
{
    assert (self);
    certbus_merkle_frontier_root (&self->frontier, root);
}

int
broker_tree_node (void *ctx, unsigned level, uint64_t index, uint8_t out [32])
{
    broker_tree_t *self = ctx;
    assert (self);
    return broker_store_node_get (self->store, level, index, out);
}

int
broker_tree_check (broker_tree_t *self)
{
    assert (self);
    if (self->stale && s_load (self))
        return -1;
    if (self->size == 0)
        return 0;
    uint8_t stored [32], ours [32];
    certbus_merkle_frontier_root (&self->frontier, ours);
    if (certbus_merkle_tree_root (stored, (uint64_t) self->size, broker_store_node_get,
                                  self->store))
        return certbus_fail (CERTBUS_E_IO, "%s: cannot read the audit tree: %s",
                             broker_store_name (self->store), certbus_reason ());
    if (memcmp (stored, ours, 32) != 0) {
        self->stale = true;
        return certbus_fail (CERTBUS_E_IO,
                             "%s: the audit tree in memory is not the stored one (%lld records): "
                             "no tree head is signed; run certbus-broker audit verify",
                             broker_store_name (self->store), (long long) self->size);
    }
    return 0;
}
