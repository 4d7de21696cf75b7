/*  merkle.h - RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their checks
    SPDX-License-Identifier: MPL-2.0

    Pure functions for the audit log: no storage, no allocation. Hashes are
    SHA-256; a leaf hash is SHA-256 (0x00 || data), an interior node hash is
    SHA-256 (0x01 || left || right), and the tree over n leaves is the MTH of
    RFC 6962 section 2.1 (the empty tree hashes to SHA-256 of nothing).

    A "perfect node" (level, index) is the root of the perfect subtree over
    the 2^level leaves starting at leaf index * 2^level: level 0 holds the
    leaf hashes themselves. Perfect nodes never change once complete, so a
    store that keeps every one of them (as the frontier reports them on
    append) can answer any proof for any past tree size. Every function that
    reads the store does O(log n) reads: at most 2 * 64 + 1 of them.

    A proof is the concatenation of its 32-byte hashes, in RFC 9162 order
    (from the leaf, or the old tree, upwards). A caller that receives a proof
    as a list of byte strings (protobuf `repeated bytes`) must refuse any
    element that is not exactly 32 bytes before joining them.
*/
#ifndef CERTBUS_MERKLE_H_INCLUDED
#define CERTBUS_MERKLE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_MERKLE_HASH_SIZE 32  //  SHA-256
#define CERTBUS_MERKLE_MAX_LEVELS 64 //  a tree has at most 2^64 - 1 leaves
#define CERTBUS_MERKLE_PROOF_MAX 65  //  hashes in the longest proof
#define CERTBUS_MERKLE_PROOF_MAX_BYTES (CERTBUS_MERKLE_PROOF_MAX * CERTBUS_MERKLE_HASH_SIZE)
//  Serialised frontier: version byte, size (8 bytes), up to 64 hashes.
#define CERTBUS_MERKLE_FRONTIER_MAX_BYTES \
    (1 + 8 + CERTBUS_MERKLE_MAX_LEVELS * CERTBUS_MERKLE_HASH_SIZE)
#define CERTBUS_MERKLE_FRONTIER_VERSION 1

//  The compact range of a tree of `size` leaves: the roots of the perfect
//  subtrees it splits into, one per set bit of size. A plain value the
//  caller owns (about 2 KiB); start it with certbus_merkle_frontier_init.
typedef struct {
    uint64_t size; //  leaves appended so far
    uint8_t roots [CERTBUS_MERKLE_MAX_LEVELS][CERTBUS_MERKLE_HASH_SIZE];
    //  roots [j]: perfect subtree of 2^j leaves,
    //  valid when bit j of size is set, else zero
} certbus_merkle_frontier_t;

//  A perfect node that became complete on append, for the store to keep.
typedef struct {
    unsigned level; //  0 for the leaf itself
    uint64_t index; //  covers leaves [index << level, (index + 1) << level)
    uint8_t hash [CERTBUS_MERKLE_HASH_SIZE];
} certbus_merkle_node_t;

//  Reads the perfect node (level, index) from the caller's store into out.
//  Returns 0, or a certbus_err_t code (CERTBUS_E_IO, CERTBUS_E_NOT_FOUND...)
//  after setting the reason with certbus_fail; the proof functions return
//  that code with the node's position added to the reason. Any other
//  non-zero value is reported as CERTBUS_E_IO.
typedef int (certbus_merkle_get_node_fn) (void *ctx, unsigned level, uint64_t index,
                                          uint8_t out [CERTBUS_MERKLE_HASH_SIZE]);

//  Hashes a leaf: SHA-256 (0x00 || data). data may be NULL when len is 0.
void
    certbus_merkle_leaf_hash (uint8_t out [CERTBUS_MERKLE_HASH_SIZE], const uint8_t *data,
                              size_t len);

//  Hashes an interior node: SHA-256 (0x01 || left || right). out may alias
//  left or right.
void
    certbus_merkle_node_hash (uint8_t out [CERTBUS_MERKLE_HASH_SIZE],
                              const uint8_t left [CERTBUS_MERKLE_HASH_SIZE],
                              const uint8_t right [CERTBUS_MERKLE_HASH_SIZE]);

//  Root (MTH) of count leaf hashes stored back to back in leaf_hashes
//  (count * 32 bytes). Iterative, O(count) time, O(log count) memory.
void
    certbus_merkle_root (uint8_t out [CERTBUS_MERKLE_HASH_SIZE], const uint8_t *leaf_hashes,
                         size_t count);

//  Makes self the frontier of the empty tree.
void
    certbus_merkle_frontier_init (certbus_merkle_frontier_t *self);

//  Appends one leaf hash (leaf number self->size) in O(log n). When nodes is
//  not NULL, fills nodes [0 .. *nodes_count - 1] with the perfect nodes this
//  append completed, lowest level first: the leaf itself at level 0, then
//  one per level it closed (at most CERTBUS_MERKLE_MAX_LEVELS in all).
//  Returns CERTBUS_E_TOO_LARGE, leaving self unchanged, if the tree already
//  holds 2^64 - 1 leaves.
certbus_err_t
    certbus_merkle_frontier_append (certbus_merkle_frontier_t *self,
                                    const uint8_t leaf_hash [CERTBUS_MERKLE_HASH_SIZE],
                                    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS],
                                    size_t *nodes_count) CERTBUS_WARN_UNUSED;

//  Root of the frontier's tree, in O(log n) hashes.
void
    certbus_merkle_frontier_root (const certbus_merkle_frontier_t *self,
                                  uint8_t out [CERTBUS_MERKLE_HASH_SIZE]);

//  Serialises the frontier for storage: a version byte, the size as 8 bytes
//  big-endian, then the subtree roots from the highest level down. Returns
//  the number of bytes written (9 + 32 * popcount (size)).
size_t
    certbus_merkle_frontier_encode (const certbus_merkle_frontier_t *self,
                                    uint8_t out [CERTBUS_MERKLE_FRONTIER_MAX_BYTES]);

//  Loads a frontier written by certbus_merkle_frontier_encode. Returns
//  CERTBUS_E_VERSION for an unknown version, CERTBUS_E_DECODE for a length
//  that does not match the size; on failure self is left unchanged.
certbus_err_t
    certbus_merkle_frontier_decode (certbus_merkle_frontier_t *self, const uint8_t *data,
                                    size_t size) CERTBUS_WARN_UNUSED;

//  Rebuilds the frontier of a tree of tree_size leaves from a node store,
//  reading popcount (tree_size) nodes; used to recover or cross-check the
//  stored frontier. Returns the reader's code on failure, self unchanged.
certbus_err_t
    certbus_merkle_frontier_from_nodes (certbus_merkle_frontier_t *self, uint64_t tree_size,
                                        certbus_merkle_get_node_fn *get_node,
                                        void *ctx) CERTBUS_WARN_UNUSED;

//  Root of the tree made of the first tree_size leaves of a node store, so
//  any past tree head can be recomputed; reads popcount (tree_size) nodes.
//  Returns the reader's code on failure.
certbus_err_t
    certbus_merkle_tree_root (uint8_t out [CERTBUS_MERKLE_HASH_SIZE], uint64_t tree_size,
                              certbus_merkle_get_node_fn *get_node, void *ctx) CERTBUS_WARN_UNUSED;

//  Writes the inclusion proof (RFC 9162 2.1.3.1) of leaf leaf_index in the
//  tree of tree_size leaves into proof, and its length in bytes into
//  *proof_len. Returns CERTBUS_E_FIELD unless leaf_index < tree_size, or the
//  reader's code on failure.
certbus_err_t
    certbus_merkle_inclusion_proof (uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES],
                                    size_t *proof_len, uint64_t leaf_index, uint64_t tree_size,
                                    certbus_merkle_get_node_fn *get_node,
                                    void *ctx) CERTBUS_WARN_UNUSED;

//  Writes the consistency proof (RFC 9162 2.1.4.1) between the trees of
//  size1 and size2 leaves into proof, and its length in bytes into
//  *proof_len; it is empty when the sizes are equal. Returns CERTBUS_E_FIELD
//  unless 0 < size1 <= size2, or the reader's code on failure.
certbus_err_t
    certbus_merkle_consistency_proof (uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES],
                                      size_t *proof_len, uint64_t size1, uint64_t size2,
                                      certbus_merkle_get_node_fn *get_node,
                                      void *ctx) CERTBUS_WARN_UNUSED;

//  Verifies that leaf_hash is leaf leaf_index of the tree of tree_size
//  leaves whose root is root, as RFC 9162 section 2.1.3.2. Every buffer
//  comes with its length in bytes, as received. Returns CERTBUS_OK;
//  CERTBUS_E_FIELD for an index outside the tree, a hash that is not 32
//  bytes, or a proof of the wrong length for this index and size; or
//  CERTBUS_E_DECODE when the proof does not lead to root.
certbus_err_t
    certbus_merkle_verify_inclusion (const uint8_t *leaf_hash, size_t leaf_hash_len,
                                     uint64_t leaf_index, uint64_t tree_size, const uint8_t *proof,
                                     size_t proof_len, const uint8_t *root,
                                     size_t root_len) CERTBUS_WARN_UNUSED;

//  Verifies that the tree of size2 leaves with root root2 extends the tree
//  of size1 leaves with root root1, as RFC 9162 section 2.1.4.2 (which asks
//  for 0 < size1 < size2). For size1 == size2 the proof must be empty and
//  the roots equal as opaque byte strings, whatever their length. Returns CERTBUS_OK; CERTBUS_E_FIELD for
//  size1 == 0, size1 > size2, a root that is not 32 bytes, or a proof of the
//  wrong length for these sizes; or CERTBUS_E_DECODE when the proof does not
//  lead to root1 or to root2 (the reason says which).
certbus_err_t
    certbus_merkle_verify_consistency (uint64_t size1, uint64_t size2, const uint8_t *proof,
                                       size_t proof_len, const uint8_t *root1, size_t root1_len,
                                       const uint8_t *root2, size_t root2_len) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
