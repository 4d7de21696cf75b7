/*  fuzz_merkle.c - libFuzzer harness: hostile sizes, indices, hashes and
    proofs for both Merkle proof verifiers, and for the stored frontier
    SPDX-License-Identifier: MPL-2.0

    Input: a mode byte, two 64-bit big-endian numbers a and b, then bytes
    cut into up to two 32-byte hashes and a proof (whatever is left).

      mode bit 0      a and b keep only their low 8 bits (small trees)
      mode bit 1      (bit 0 clear) a and b keep only their low 32 bits
      mode bits 2-6   when bit 2 is set, the second hash is cut to
                      (mode >> 3) bytes (0 to 31)
      mode bit 7      generate: build a tree of b % 300 + 1 leaves, make
                      real proofs for leaf a and old size a with the
                      library, and check that they verify, and that a
                      flipped bit (at the byte the hash data picks) fails

    Without bit 7 the verifiers get the raw numbers and bytes, as a member
    does from a broker's proof reply: inclusion (hash 1 as leaf, hash 2 as
    root, leaf a of b leaves) and consistency (a to b leaves, hash 1 and
    hash 2 as roots); the rest of the input also goes to the frontier
    decoder. They must fail cleanly, never crash.
*/
#include "certbus.h"
#include "certbus/merkle.h"
#include <stdlib.h>
#include <string.h>

#define H CERTBUS_MERKLE_HASH_SIZE
#define s_GEN_MAX 300 //  leaves in a generated tree

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static uint64_t
s_be64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p [i];
    return v;
}

//  A node store in memory: level l holds the perfect nodes of 2^l leaves.
typedef struct {
    uint64_t size;
    uint8_t *levels [10]; //  2^9 > s_GEN_MAX
} s_store_t;

static int
s_get_node (void *ctx, unsigned level, uint64_t index, uint8_t out [H])
{
    s_store_t *store = ctx;
    if (level >= 10 || index >= (store->size >> level))
        return certbus_fail (CERTBUS_E_NOT_FOUND, "no node %u/%llu", level,
                             (unsigned long long) index);
    memcpy (out, store->levels [level] + index * H, H);
    return 0;
}

static void
s_verify_raw (uint8_t mode, uint64_t a, uint64_t b, const uint8_t *rest, size_t rest_size)
{
    const uint8_t *h1 = rest;
    size_t h1_len = rest_size < H ? rest_size : H;
    const uint8_t *h2 = h1 + h1_len;
    size_t h2_len = rest_size - h1_len < H ? rest_size - h1_len : H;
    const uint8_t *proof = h2 + h2_len;
    size_t proof_len = rest_size - h1_len - h2_len;
    if (mode & 0x04) {
        //  A short second hash; what it leaves behind joins the proof
        size_t cut = (size_t) (mode >> 3) & 31;
        if (cut < h2_len) {
            proof = h2 + cut;
            proof_len += h2_len - cut;
            h2_len = cut;
        }
    }
    certbus_err_t rc = certbus_merkle_verify_inclusion (h1, h1_len, a, b, proof, proof_len, h2,
                                                        h2_len);
    if (rc != CERTBUS_OK && rc != CERTBUS_E_FIELD && rc != CERTBUS_E_DECODE)
        __builtin_trap ();
    rc = certbus_merkle_verify_consistency (a, b, proof, proof_len, h1, h1_len, h2, h2_len);
    if (rc != CERTBUS_OK && rc != CERTBUS_E_FIELD && rc != CERTBUS_E_DECODE)
        __builtin_trap ();

    certbus_merkle_frontier_t frontier;
    if (certbus_merkle_frontier_decode (&frontier, rest, rest_size) == CERTBUS_OK) {
        uint8_t out [CERTBUS_MERKLE_FRONTIER_MAX_BYTES];
        size_t out_size = certbus_merkle_frontier_encode (&frontier, out);
        if (out_size != rest_size || memcmp (out, rest, rest_size) != 0)
            __builtin_trap ();
        uint8_t root [H];
        certbus_merkle_frontier_root (&frontier, root);
    }
}

//  Builds a tree of b % s_GEN_MAX + 1 leaves in a node store, checks that
//  the three ways to its root agree, then makes real inclusion and
//  consistency proofs: each must verify, and fail once one bit is flipped.
static void
s_generate (uint64_t a, uint64_t b, const uint8_t *rest, size_t rest_size)
{
    uint64_t n = b % s_GEN_MAX + 1;
    uint64_t pick = rest_size ? rest [0] : 0;
    s_store_t store = {.size = n};
    for (unsigned l = 0; l < 10; l++)
        store.levels [l] = calloc ((size_t) (n >> l) + 1, H);
    uint8_t *leaves = malloc ((size_t) n * H);
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t leaf [8 + 16];
        memset (leaf, 0, sizeof leaf);
        for (int k = 0; k < 8; k++)
            leaf [k] = (uint8_t) (i >> (8 * k));
        memcpy (leaf + 8, rest, rest_size < 16 ? rest_size : 16);
        certbus_merkle_leaf_hash (leaves + i * H, leaf, sizeof leaf);
        certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
        size_t count;
        if (certbus_merkle_frontier_append (&frontier, leaves + i * H, nodes, &count))
            __builtin_trap ();
        for (size_t k = 0; k < count; k++) {
            if (nodes [k].level >= 10 || nodes [k].index >= (n >> nodes [k].level))
                __builtin_trap ();
            memcpy (store.levels [nodes [k].level] + nodes [k].index * H, nodes [k].hash, H);
        }
    }
    uint8_t root [H], root2 [H], root3 [H];
    certbus_merkle_frontier_root (&frontier, root);
    certbus_merkle_root (root2, leaves, (size_t) n);
    if (certbus_merkle_tree_root (root3, n, s_get_node, &store) || memcmp (root, root2, H) != 0
        || memcmp (root, root3, H) != 0)
        __builtin_trap ();
    certbus_merkle_frontier_t rebuilt;
    if (certbus_merkle_frontier_from_nodes (&rebuilt, n, s_get_node, &store)
        || memcmp (&rebuilt, &frontier, sizeof rebuilt) != 0)
        __builtin_trap ();

    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t proof_len;
    uint64_t index = a % n;
    if (certbus_merkle_inclusion_proof (proof, &proof_len, index, n, s_get_node, &store)
        || certbus_merkle_verify_inclusion (leaves + index * H, H, index, n, proof, proof_len, root,
                                            H))
        __builtin_trap ();
    if (proof_len) {
        proof [pick % proof_len] ^= (uint8_t) (1u << (pick % 8));
        if (certbus_merkle_verify_inclusion (leaves + index * H, H, index, n, proof, proof_len,
                                             root, H)
            != CERTBUS_E_DECODE)
            __builtin_trap ();
    }

    uint64_t old_size = a % n + 1;
    uint8_t old_root [H];
    if (certbus_merkle_tree_root (old_root, old_size, s_get_node, &store)
        || certbus_merkle_consistency_proof (proof, &proof_len, old_size, n, s_get_node, &store)
        || certbus_merkle_verify_consistency (old_size, n, proof, proof_len, old_root, H, root, H))
        __builtin_trap ();
    if (proof_len) {
        proof [pick % proof_len] ^= (uint8_t) (1u << (pick % 8));
        if (certbus_merkle_verify_consistency (old_size, n, proof, proof_len, old_root, H, root, H)
            != CERTBUS_E_DECODE)
            __builtin_trap ();
    }
    free (leaves);
    for (unsigned l = 0; l < 10; l++)
        free (store.levels [l]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 17)
        return 0;
    uint8_t mode = data [0];
    uint64_t a = s_be64 (data + 1);
    uint64_t b = s_be64 (data + 9);
    if (mode & 0x01) {
        a &= 0xff;
        b &= 0xff;
    }
    else if (mode & 0x02) {
        a &= 0xffffffff;
        b &= 0xffffffff;
    }
    if (mode & 0x80)
        s_generate (a, b, data + 17, size - 17);
    else
        s_verify_raw (mode, a, b, data + 17, size - 17);
    return 0;
}
