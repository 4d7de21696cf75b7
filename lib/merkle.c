/*  merkle.c - RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their checks
    SPDX-License-Identifier: MPL-2.0

    Nothing here recurses: every walk down the tree is a loop bounded by the
    64 bits of a tree size, so hostile sizes cannot exhaust the stack.
*/
#include "certbus.h"
#include "certbus/merkle.h"
#include <sodium.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HASH_SIZE CERTBUS_MERKLE_HASH_SIZE

//  SHA-256 of the empty string: the root of the empty tree.
static const uint8_t s_empty_root [HASH_SIZE] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                                 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                                 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
                                                 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

void
certbus_merkle_leaf_hash (uint8_t out [HASH_SIZE], const uint8_t *data, size_t len)
{
    assert (out);
    assert (data || len == 0);
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, &prefix, 1);
    if (len)
        crypto_hash_sha256_update (&state, data, len);
    crypto_hash_sha256_final (&state, out);
}

void
certbus_merkle_node_hash (uint8_t out [HASH_SIZE], const uint8_t left [HASH_SIZE],
                          const uint8_t right [HASH_SIZE])
{
    assert (out && left && right);
    //  Copied first, so out may alias left or right.
    uint8_t input [1 + 2 * HASH_SIZE];
    input [0] = 0x01;
    memcpy (input + 1, left, HASH_SIZE);
    memcpy (input + 1 + HASH_SIZE, right, HASH_SIZE);
    crypto_hash_sha256 (out, input, sizeof input);
}

static bool
s_is_power_of_two (uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

//  The largest power of two strictly below size (size >= 2): where RFC 6962
//  splits a tree of size leaves into its left and right subtrees.
static uint64_t
s_split (uint64_t size)
{
    assert (size >= 2);
    return (uint64_t) 1 << (63 - __builtin_clzll (size - 1));
}

static unsigned
s_popcount (uint64_t n)
{
    return (unsigned) __builtin_popcountll (n);
}

static bool
s_equal (const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp (a, b, a_len) == 0);
}

//  --------------------------------------------------------------------------
//  Frontier

void
certbus_merkle_frontier_init (certbus_merkle_frontier_t *self)
{
    assert (self);
    memset (self, 0, sizeof *self);
}

//  Appends like a binary counter: the new leaf merges with every subtree of
//  its own size to its left, each merge closing one perfect node.
static void
s_frontier_append (certbus_merkle_frontier_t *self, const uint8_t leaf_hash [HASH_SIZE],
                   certbus_merkle_node_t *nodes, size_t *nodes_count)
{
    assert (self->size != UINT64_MAX);
    uint8_t hash [HASH_SIZE];
    memcpy (hash, leaf_hash, HASH_SIZE);
    uint64_t new_size = self->size + 1;
    size_t count = 0;
    unsigned level = 0;
    while (true) {
        if (nodes) {
            nodes [count].level = level;
            nodes [count].index = (new_size >> level) - 1;
            memcpy (nodes [count].hash, hash, HASH_SIZE);
        }
        count++;
        if (!(self->size & ((uint64_t) 1 << level)))
            break;
        //  Bit level is set: a left sibling of our size waits; merge.
        certbus_merkle_node_hash (hash, self->roots [level], hash);
        memset (self->roots [level], 0, HASH_SIZE);
        level++;
    }
    //  new_size < 2^64, so the carry stopped below level 64.
    assert (level < CERTBUS_MERKLE_MAX_LEVELS);
    memcpy (self->roots [level], hash, HASH_SIZE);
    self->size = new_size;
    if (nodes_count)
        *nodes_count = count;
}

certbus_err_t
certbus_merkle_frontier_append (certbus_merkle_frontier_t *self,
                                const uint8_t leaf_hash [HASH_SIZE],
                                certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS],
                                size_t *nodes_count)
{
    assert (self);
    assert (leaf_hash);
    if (nodes_count)
        *nodes_count = 0;
    if (self->size == UINT64_MAX)
        return certbus_fail (CERTBUS_E_TOO_LARGE, "merkle tree is full: %" PRIu64 " leaves",
                             self->size);
    s_frontier_append (self, leaf_hash, nodes, nodes_count);
    return CERTBUS_OK;
}

void
certbus_merkle_frontier_root (const certbus_merkle_frontier_t *self, uint8_t out [HASH_SIZE])
{
    assert (self);
    assert (out);
    if (self->size == 0) {
        memcpy (out, s_empty_root, HASH_SIZE);
        return;
    }
    //  The smallest subtree is the rightmost; fold leftwards from it.
    unsigned level = (unsigned) __builtin_ctzll (self->size);
    uint8_t hash [HASH_SIZE];
    memcpy (hash, self->roots [level], HASH_SIZE);
    for (level++; level < CERTBUS_MERKLE_MAX_LEVELS; level++)
        if (self->size & ((uint64_t) 1 << level))
            certbus_merkle_node_hash (hash, self->roots [level], hash);
    memcpy (out, hash, HASH_SIZE);
}

size_t
certbus_merkle_frontier_encode (const certbus_merkle_frontier_t *self,
                                uint8_t out [CERTBUS_MERKLE_FRONTIER_MAX_BYTES])
{
    assert (self);
    assert (out);
    size_t pos = 0;
    out [pos++] = CERTBUS_MERKLE_FRONTIER_VERSION;
    for (int shift = 56; shift >= 0; shift -= 8)
        out [pos++] = (uint8_t) (self->size >> shift);
    for (int level = CERTBUS_MERKLE_MAX_LEVELS - 1; level >= 0; level--)
        if (self->size & ((uint64_t) 1 << level)) {
            memcpy (out + pos, self->roots [level], HASH_SIZE);
            pos += HASH_SIZE;
        }
    return pos;
}

certbus_err_t
certbus_merkle_frontier_decode (certbus_merkle_frontier_t *self, const uint8_t *data, size_t size)
{
    assert (self);
    assert (data || size == 0);
    if (size < 9)
        return certbus_fail (CERTBUS_E_DECODE, "merkle frontier is %zu bytes, shorter than 9",
                             size);
    if (data [0] != CERTBUS_MERKLE_FRONTIER_VERSION)
        return certbus_fail (CERTBUS_E_VERSION, "merkle frontier has version %u, expected %u",
                             data [0], CERTBUS_MERKLE_FRONTIER_VERSION);
    uint64_t tree_size = 0;
    for (size_t i = 1; i < 9; i++)
        tree_size = (tree_size << 8) | data [i];
    size_t expected = 9 + (size_t) s_popcount (tree_size) * HASH_SIZE;
    if (size != expected)
        return certbus_fail (CERTBUS_E_DECODE,
                             "merkle frontier of %" PRIu64 " leaves is %zu bytes, expected %zu",
                             tree_size, size, expected);
    certbus_merkle_frontier_t loaded;
    certbus_merkle_frontier_init (&loaded);
    loaded.size = tree_size;
    size_t pos = 9;
    for (int level = CERTBUS_MERKLE_MAX_LEVELS - 1; level >= 0; level--)
        if (tree_size & ((uint64_t) 1 << level)) {
            memcpy (loaded.roots [level], data + pos, HASH_SIZE);
            pos += HASH_SIZE;
        }
    *self = loaded;
    return CERTBUS_OK;
}

void
certbus_merkle_root (uint8_t out [HASH_SIZE], const uint8_t *leaf_hashes, size_t count)
{
    assert (out);
    assert (leaf_hashes || count == 0);
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    for (size_t i = 0; i < count; i++)
        s_frontier_append (&frontier, leaf_hashes + i * HASH_SIZE, NULL, NULL);
    certbus_merkle_frontier_root (&frontier, out);
}

//  --------------------------------------------------------------------------
//  Reading a node store

//  Calls the reader, turning its failure into a certbus_err_t whose reason
//  names the node.
static certbus_err_t
s_read (certbus_merkle_get_node_fn *get_node, void *ctx, unsigned level, uint64_t index,
        uint8_t out [HASH_SIZE])
{
    int rc = get_node (ctx, level, index, out);
    if (rc == 0)
        return CERTBUS_OK;
    certbus_err_t code = rc > 0 && rc < CERTBUS_E__COUNT ? (certbus_err_t) rc : CERTBUS_E_IO;
    char why [CERTBUS_REASON_MAX];
    snprintf (why, sizeof why, "%s", certbus_reason ());
    return certbus_fail (code, "cannot read merkle node level %u index %" PRIu64 ": %s", level,
                         index, *why ? why : "no reason given");
}

//  MTH of the len >= 1 leaves from start, where start is a multiple of a
//  power of two >= len (true of every subtree in the RFC 6962 split). The
//  range splits into one perfect node per set bit of len, largest first;
//  RFC 6962 hashes them right to left. Reads popcount (len) nodes.
static certbus_err_t
s_range_hash (uint8_t out [HASH_SIZE], uint64_t start, uint64_t len,
              certbus_merkle_get_node_fn *get_node, void *ctx)
{
    assert (len >= 1);
    bool first = true;
    uint8_t node [HASH_SIZE];
    for (unsigned level = 0; level < CERTBUS_MERKLE_MAX_LEVELS; level++) {
        if (!(len & ((uint64_t) 1 << level)))
            continue;
        //  The perfect node for this bit starts after every larger one.
        uint64_t larger = level == 63 ? 0 : len >> (level + 1) << (level + 1);
        uint64_t node_start = start + larger;
        certbus_err_t rc = s_read (get_node, ctx, level, node_start >> level, first ? out : node);
        if (rc)
            return rc;
        if (!first)
            certbus_merkle_node_hash (out, node, out);
        first = false;
    }
    return CERTBUS_OK;
}

certbus_err_t
certbus_merkle_tree_root (uint8_t out [HASH_SIZE], uint64_t tree_size,
                          certbus_merkle_get_node_fn *get_node, void *ctx)
{
    assert (out);
    assert (get_node);
    if (tree_size == 0) {
        memcpy (out, s_empty_root, HASH_SIZE);
        return CERTBUS_OK;
    }
    uint8_t hash [HASH_SIZE];
    certbus_err_t rc = s_range_hash (hash, 0, tree_size, get_node, ctx);
    if (rc == CERTBUS_OK)
        memcpy (out, hash, HASH_SIZE);
    return rc;
}

certbus_err_t
certbus_merkle_frontier_from_nodes (certbus_merkle_frontier_t *self, uint64_t tree_size,
                                    certbus_merkle_get_node_fn *get_node, void *ctx)
{
    assert (self);
    assert (get_node);
    certbus_merkle_frontier_t loaded;
    certbus_merkle_frontier_init (&loaded);
    loaded.size = tree_size;
    uint64_t start = 0;
    for (int level = CERTBUS_MERKLE_MAX_LEVELS - 1; level >= 0; level--) {
        if (!(tree_size & ((uint64_t) 1 << level)))
            continue;
        certbus_err_t rc = s_read (get_node, ctx, (unsigned) level, start >> level,
                                   loaded.roots [level]);
        if (rc)
            return rc;
        start += (uint64_t) 1 << level;
    }
    *self = loaded;
    return CERTBUS_OK;
}

//  Reverses the order of count hashes in place: proofs are gathered from the
//  root down, and sent from the leaf up.
static void
s_reverse (uint8_t *hashes, size_t count)
{
    uint8_t swap [HASH_SIZE];
    for (size_t i = 0; i < count / 2; i++) {
        uint8_t *a = hashes + i * HASH_SIZE;
        uint8_t *b = hashes + (count - 1 - i) * HASH_SIZE;
        memcpy (swap, a, HASH_SIZE);
        memcpy (a, b, HASH_SIZE);
        memcpy (b, swap, HASH_SIZE);
    }
}

//  One step of a proof's walk from the root down: the range of size
//  leaves at start splits at k; the walk goes on in the left part (when
//  left) or the right one, and sibling gets the hash of the other part.
static certbus_err_t
s_descend (uint8_t *sibling, uint64_t *start, uint64_t *size, uint64_t k, bool left,
           certbus_merkle_get_node_fn *get_node, void *ctx)
{
    if (left) {
        certbus_err_t rc = s_range_hash (sibling, *start + k, *size - k, get_node, ctx);
        *size = k;
        return rc;
    }
    certbus_err_t rc = s_range_hash (sibling, *start, k, get_node, ctx);
    *start += k;
    *size -= k;
    return rc;
}

//  PATH (m, D[n]) of RFC 6962 2.1.1, walked from the root down. At most one
//  sibling is a non-perfect range (the right one, at the first step to the
//  left); every other sibling is one perfect node, so the walk reads at most
//  64 + 63 nodes.
certbus_err_t
certbus_merkle_inclusion_proof (uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES], size_t *proof_len,
                                uint64_t leaf_index, uint64_t tree_size,
                                certbus_merkle_get_node_fn *get_node, void *ctx)
{
    assert (proof && proof_len);
    assert (get_node);
    *proof_len = 0;
    if (leaf_index >= tree_size)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle leaf index %" PRIu64 " is outside a tree of %" PRIu64
                             " leaves",
                             leaf_index, tree_size);
    size_t count = 0;
    uint64_t start = 0;
    uint64_t size = tree_size;
    while (size > 1) {
        assert (count < CERTBUS_MERKLE_MAX_LEVELS);
        uint64_t k = s_split (size);
        certbus_err_t rc = s_descend (proof + count++ * HASH_SIZE, &start, &size, k,
                                      leaf_index - start < k, get_node, ctx);
        if (rc)
            return rc;
    }
    s_reverse (proof, count);
    *proof_len = count * HASH_SIZE;
    return CERTBUS_OK;
}

//  PROOF (m, D[n]) of RFC 6962 2.1.2, walked from the root down. As for
//  inclusion, only the first step to the left yields a non-perfect range;
//  at most 64 siblings plus the old subtree's own root: 65 hashes.
certbus_err_t
certbus_merkle_consistency_proof (uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES], size_t *proof_len,
                                  uint64_t size1, uint64_t size2,
                                  certbus_merkle_get_node_fn *get_node, void *ctx)
{
    assert (proof && proof_len);
    assert (get_node);
    *proof_len = 0;
    if (size1 == 0 || size1 > size2)
        return certbus_fail (CERTBUS_E_FIELD,
                             "no merkle consistency proof from %" PRIu64 " to %" PRIu64
                             " leaves: needs 0 < size1 <= size2",
                             size1, size2);
    size_t count = 0;
    uint64_t start = 0;
    uint64_t size = size2;
    uint64_t m = size1;
    bool whole = true; //  the RFC's b: old tree is a whole subtree
    certbus_err_t rc = CERTBUS_OK;
    while (m != size && rc == CERTBUS_OK) {
        assert (count < CERTBUS_MERKLE_MAX_LEVELS);
        uint64_t k = s_split (size);
        bool left = m <= k;
        rc = s_descend (proof + count++ * HASH_SIZE, &start, &size, k, left, get_node, ctx);
        if (!left) {
            m -= k;
            whole = false;
        }
    }
    if (rc == CERTBUS_OK && !whole && count > 0)
        rc = s_range_hash (proof + count++ * HASH_SIZE, start, size, get_node, ctx);
    if (rc)
        return rc;
    s_reverse (proof, count);
    *proof_len = count * HASH_SIZE;
    return CERTBUS_OK;
}

//  --------------------------------------------------------------------------
//  Verification, as RFC 9162 2.1.3.2 and 2.1.4.2 word it

//  One step of the RFC's walk up the tree, shared by the length check and
//  the hashing loop so that they cannot disagree. Returns true when the
//  proof hash is the left input of this step's node, false when it is the
//  right one.
static bool
s_step (uint64_t *fn, uint64_t *sn)
{
    bool left = (*fn & 1) || *fn == *sn;
    if (left && !(*fn & 1))
        while (!(*fn & 1) && *fn != 0) {
            *fn >>= 1;
            *sn >>= 1;
        }
    *fn >>= 1;
    *sn >>= 1;
    return left;
}

//  How many proof hashes the walk from (fn, sn) consumes before sn reaches
//  0: at most 64, since every step shifts sn.
static size_t
s_path_length (uint64_t fn, uint64_t sn)
{
    size_t count = 0;
    while (sn != 0) {
        s_step (&fn, &sn);
        count++;
    }
    return count;
}

certbus_err_t
certbus_merkle_verify_inclusion (const uint8_t *leaf_hash, size_t leaf_hash_len,
                                 uint64_t leaf_index, uint64_t tree_size, const uint8_t *proof,
                                 size_t proof_len, const uint8_t *root, size_t root_len)
{
    assert (leaf_hash || leaf_hash_len == 0);
    assert (proof || proof_len == 0);
    assert (root || root_len == 0);
    if (leaf_index >= tree_size)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle leaf index %" PRIu64 " is outside a tree of %" PRIu64
                             " leaves",
                             leaf_index, tree_size);
    if (leaf_hash_len != HASH_SIZE)
        return certbus_fail (CERTBUS_E_FIELD, "merkle leaf hash is %zu bytes, expected %d",
                             leaf_hash_len, HASH_SIZE);
    if (root_len != HASH_SIZE)
        return certbus_fail (CERTBUS_E_FIELD, "merkle root is %zu bytes, expected %d", root_len,
                             HASH_SIZE);
    if (proof_len % HASH_SIZE)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle inclusion proof is %zu bytes, not a multiple of %d", proof_len,
                             HASH_SIZE);
    size_t count = proof_len / HASH_SIZE;
    size_t expected = s_path_length (leaf_index, tree_size - 1);
    if (count != expected)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle inclusion proof has %zu hashes, leaf %" PRIu64 " of %" PRIu64
                             " needs %zu",
                             count, leaf_index, tree_size, expected);

    //  RFC 9162 2.1.3.2, step by step.
    uint64_t fn = leaf_index;
    uint64_t sn = tree_size - 1;
    uint8_t r [HASH_SIZE];
    memcpy (r, leaf_hash, HASH_SIZE);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = proof + i * HASH_SIZE;
        if (sn == 0)
            return certbus_fail (CERTBUS_E_FIELD, "merkle inclusion proof is too long");
        if (s_step (&fn, &sn))
            certbus_merkle_node_hash (r, p, r);
        else
            certbus_merkle_node_hash (r, r, p);
    }
    if (sn != 0)
        return certbus_fail (CERTBUS_E_FIELD, "merkle inclusion proof is too short");
    if (!s_equal (r, HASH_SIZE, root, root_len))
        return certbus_fail (CERTBUS_E_DECODE,
                             "merkle inclusion proof of leaf %" PRIu64 " in %" PRIu64
                             " leaves does not lead to the root",
                             leaf_index, tree_size);
    return CERTBUS_OK;
}

certbus_err_t
certbus_merkle_verify_consistency (uint64_t size1, uint64_t size2, const uint8_t *proof,
                                   size_t proof_len, const uint8_t *root1, size_t root1_len,
                                   const uint8_t *root2, size_t root2_len)
{
    assert (proof || proof_len == 0);
    assert (root1 || root1_len == 0);
    assert (root2 || root2_len == 0);
    if (size1 == 0)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle consistency from an empty tree proves nothing");
    if (size1 > size2)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle tree cannot shrink from %" PRIu64 " to %" PRIu64 " leaves",
                             size1, size2);
    if (size1 == size2) {
        //  Outside the RFC's 0 < first < second: equal trees need no proof,
        //  only equal roots, compared as the opaque bytes they are.
        if (proof_len != 0)
            return certbus_fail (CERTBUS_E_FIELD,
                                 "merkle consistency proof between equal sizes must be empty");
        if (!s_equal (root1, root1_len, root2, root2_len))
            return certbus_fail (CERTBUS_E_DECODE,
                                 "merkle trees of %" PRIu64 " leaves have different roots", size1);
        return CERTBUS_OK;
    }
    if (root1_len != HASH_SIZE || root2_len != HASH_SIZE)
        return certbus_fail (CERTBUS_E_FIELD, "merkle roots are %zu and %zu bytes, expected %d",
                             root1_len, root2_len, HASH_SIZE);
    if (proof_len % HASH_SIZE)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle consistency proof is %zu bytes, not a multiple of %d",
                             proof_len, HASH_SIZE);
    size_t count = proof_len / HASH_SIZE;

    //  RFC 9162 2.1.4.2. Step 1: an empty proof fails.
    if (count == 0)
        return certbus_fail (CERTBUS_E_FIELD, "merkle consistency proof is empty");
    //  Step 2: when size1 is a power of two the old root is the proof's
    //  implicit first hash; element (i) below reads the path with it.
    size_t prepend = s_is_power_of_two (size1) ? 1 : 0;
#define ELEMENT(i) ((i) < prepend ? root1 : proof + ((i) -prepend) * HASH_SIZE)
    //  Steps 3 and 4.
    uint64_t fn = size1 - 1;
    uint64_t sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    size_t total = count + prepend;
    size_t expected = 1 + s_path_length (fn, sn);
    if (total != expected)
        return certbus_fail (CERTBUS_E_FIELD,
                             "merkle consistency proof has %zu hashes, %" PRIu64 " to %" PRIu64
                             " leaves needs %zu",
                             count, size1, size2, expected - prepend);
    //  Step 5.
    uint8_t fr [HASH_SIZE];
    uint8_t sr [HASH_SIZE];
    memcpy (fr, ELEMENT (0), HASH_SIZE);
    memcpy (sr, ELEMENT (0), HASH_SIZE);
    //  Step 6.
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = ELEMENT (i);
        if (sn == 0)
            return certbus_fail (CERTBUS_E_FIELD, "merkle consistency proof is too long");
        if (s_step (&fn, &sn)) {
            certbus_merkle_node_hash (fr, c, fr);
            certbus_merkle_node_hash (sr, c, sr);
        }
        else
            certbus_merkle_node_hash (sr, sr, c);
    }
#undef ELEMENT
    //  Step 7.
    if (sn != 0)
        return certbus_fail (CERTBUS_E_FIELD, "merkle consistency proof is too short");
    if (!s_equal (fr, HASH_SIZE, root1, root1_len))
        return certbus_fail (CERTBUS_E_DECODE,
                             "merkle consistency proof does not lead to the old root (%" PRIu64
                             " leaves)",
                             size1);
    if (!s_equal (sr, HASH_SIZE, root2, root2_len))
        return certbus_fail (CERTBUS_E_DECODE,
                             "merkle consistency proof does not lead to the new root (%" PRIu64
                             " leaves)",
                             size2);
    return CERTBUS_OK;
}
