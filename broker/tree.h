/*  tree.h - the audit log's Merkle tree, kept on top of the store
    SPDX-License-Identifier: MPL-2.0

    The tree numbers and stores each audit record with its leaf hash, and
    stores the perfect subtrees each record completes, so that proofs read
    O(log n) nodes. Its frontier (enough to append and to give the root)
    is kept in memory, loaded from the stored nodes when the tree is made,
    and loaded again when a transaction rolls back, so that a rolled-back
    append is forgotten.
*/
#ifndef BROKER_TREE_H_INCLUDED
#define BROKER_TREE_H_INCLUDED

#include "store.h"

typedef struct broker_tree_t broker_tree_t;

//  Loads the tree of store's audit log. Returns NULL with the reason set
//  when the stored nodes do not match the records. The tree must be
//  destroyed before its store.
broker_tree_t *
    broker_tree_new (broker_store_t *store);

void
    broker_tree_destroy (broker_tree_t **self_p);

//  Appends record as the next leaf, in the caller's transaction: sets its
//  version and index, then stores it, its leaf hash and the nodes it
//  completes. Returns 0, or -1 with the reason set (the caller then rolls
//  back).
int
    broker_tree_append (broker_tree_t *self, Certbus__AuditRecord *record) CERTBUS_WARN_UNUSED;

//  Records in the tree as it stands (in the open transaction).
int64_t
    broker_tree_size (broker_tree_t *self);

//  Root of the tree as it stands (in the open transaction).
void
    broker_tree_root (broker_tree_t *self, uint8_t root [32]);

//  Reads perfect node (level, index): a certbus_merkle_get_node_fn with
//  the tree as ctx.
int
    broker_tree_node (void *ctx, unsigned level, uint64_t index, uint8_t out [32]);

//  Before a tree head is signed: the tree in memory is the stored one (its
//  root recomputed from the stored nodes), reloaded first when a reload
//  failed. Returns 0, or -1 with the reason set.
int
    broker_tree_check (broker_tree_t *self) CERTBUS_WARN_UNUSED;

#endif
