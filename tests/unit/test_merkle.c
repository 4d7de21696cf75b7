/*  test_merkle.c - Merkle hashing, frontier, proofs: vectors and cross-checks
    SPDX-License-Identifier: MPL-2.0

    Known answers come from RFC 6962's test tree as Certificate Transparency
    publishes it (transparency-dev/merkle testonly/constants.go); the shared
    corpus holds transparency-dev/merkle's proof vectors. The cross-check
    compares the library with a separate, recursive reading of RFC 6962's
    definitions (MTH, PATH, PROOF) written here on top of raw SHA-256.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "certbus.h"
#include "certbus/merkle.h"
#include "testutil.h"
#include <sodium.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HASH 32

//  --------------------------------------------------------------------------
//  Reference: RFC 6962 section 2.1 read literally, recursion and all (only
//  ever on the small trees built here).

static void
r_leaf (uint8_t out [HASH], const uint8_t *data, size_t len)
{
    uint8_t buf [64];
    assert_true (len < sizeof buf);
    buf [0] = 0x00;
    if (len)
        memcpy (buf + 1, data, len);
    crypto_hash_sha256 (out, buf, 1 + len);
}

static void
r_node (uint8_t out [HASH], const uint8_t *left, const uint8_t *right)
{
    uint8_t buf [1 + 2 * HASH];
    buf [0] = 0x01;
    memcpy (buf + 1, left, HASH);
    memcpy (buf + 1 + HASH, right, HASH);
    crypto_hash_sha256 (out, buf, sizeof buf);
}

static size_t
r_split (size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

//  MTH (D[n]) of n leaf hashes stored back to back.
static void
r_mth (uint8_t out [HASH], const uint8_t *leaves, size_t n)
{
    if (n == 0) {
        crypto_hash_sha256 (out, (const uint8_t *) "", 0);
        return;
    }
    if (n == 1) {
        memcpy (out, leaves, HASH);
        return;
    }
    size_t k = r_split (n);
    uint8_t left [HASH], right [HASH];
    r_mth (left, leaves, k);
    r_mth (right, leaves + k * HASH, n - k);
    r_node (out, left, right);
}

//  PATH (m, D[n]); appends to out, returns the number of hashes.
static size_t
r_path (uint8_t *out, size_t m, const uint8_t *leaves, size_t n)
{
    if (n <= 1)
        return 0;
    size_t k = r_split (n);
    size_t count;
    if (m < k) {
        count = r_path (out, m, leaves, k);
        r_mth (out + count * HASH, leaves + k * HASH, n - k);
    }
    else {
        count = r_path (out, m - k, leaves + k * HASH, n - k);
        r_mth (out + count * HASH, leaves, k);
    }
    return count + 1;
}

//  SUBPROOF (m, D[n], b); appends to out, returns the number of hashes.
static size_t
r_subproof (uint8_t *out, size_t m, const uint8_t *leaves, size_t n, bool b)
{
    if (m == n) {
        if (b)
            return 0;
        r_mth (out, leaves, n);
        return 1;
    }
    size_t k = r_split (n);
    size_t count;
    if (m <= k) {
        count = r_subproof (out, m, leaves, k, b);
        r_mth (out + count * HASH, leaves + k * HASH, n - k);
    }
    else {
        count = r_subproof (out, m - k, leaves + k * HASH, n - k, false);
        r_mth (out + count * HASH, leaves, k);
    }
    return count + 1;
}

static void
s_unhex (const char *hex, uint8_t *out, size_t len)
{
    if (len)
        assert_int_equal (certbus_unhex (hex, out, len), 0);
}

//  Appends leaf n - 1 of leaves to frontier and checks that it completes as
//  many nodes as a tree of n leaves gains (one per trailing zero bit of n,
//  and the leaf); returns that count, with the nodes in nodes
static size_t
s_append_leaf (certbus_merkle_frontier_t *frontier, const uint8_t *leaves, size_t n,
               certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS])
{
    size_t count = 99;
    assert_int_equal (certbus_merkle_frontier_append (frontier, leaves + (n - 1) * HASH, nodes,
                                                      &count),
                      CERTBUS_OK);
    assert_int_equal (count, 1 + (size_t) __builtin_ctzll (n));
    return count;
}

//  --------------------------------------------------------------------------
//  Known answers

//  Every perfect node of the 8-leaf tree: s_rfc_nodes [level][index].
static const char *s_rfc_nodes [4][8]
    = {{"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
       {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
       {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
       {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"}};

static void
s_rfc_leaf_hashes (uint8_t leaves [8 * HASH])
{
    for (size_t i = 0; i < 8; i++) {
        uint8_t data [16];
        size_t len = strlen (tu_rfc6962_leaves [i]) / 2;
        s_unhex (tu_rfc6962_leaves [i], data, len);
        certbus_merkle_leaf_hash (leaves + i * HASH, len ? data : NULL, len);
    }
}

static void
test_hash_known_answers (void **state)
{
    (void) state;
    uint8_t leaves [8 * HASH], want [HASH], got [HASH];
    s_rfc_leaf_hashes (leaves);
    for (size_t i = 0; i < 8; i++) {
        s_unhex (s_rfc_nodes [0][i], want, HASH);
        assert_memory_equal (leaves + i * HASH, want, HASH);
    }
    //  Interior nodes from their children, including with out aliasing an input.
    for (unsigned level = 1; level < 4; level++)
        for (size_t index = 0; index < (8u >> level); index++) {
            uint8_t left [HASH], right [HASH];
            s_unhex (s_rfc_nodes [level - 1][2 * index], left, HASH);
            s_unhex (s_rfc_nodes [level - 1][2 * index + 1], right, HASH);
            s_unhex (s_rfc_nodes [level][index], want, HASH);
            certbus_merkle_node_hash (got, left, right);
            assert_memory_equal (got, want, HASH);
            certbus_merkle_node_hash (left, left, right);
            assert_memory_equal (left, want, HASH);
        }
}

static void
test_root_known_answers (void **state)
{
    (void) state;
    uint8_t leaves [8 * HASH], want [HASH], got [HASH];
    s_rfc_leaf_hashes (leaves);
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    certbus_merkle_frontier_root (&frontier, got);
    s_unhex (tu_rfc6962_roots [0], want, HASH);
    assert_memory_equal (got, want, HASH);
    certbus_merkle_root (got, NULL, 0);
    assert_memory_equal (got, want, HASH);

    for (size_t n = 1; n <= 8; n++) {
        s_unhex (tu_rfc6962_roots [n], want, HASH);
        certbus_merkle_root (got, leaves, n);
        assert_memory_equal (got, want, HASH);
        r_mth (got, leaves, n);
        assert_memory_equal (got, want, HASH);

        //  Append leaf n - 1: the nodes it completes are the RFC tree's.
        certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
        size_t count = s_append_leaf (&frontier, leaves, n, nodes);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal (nodes [i].level, i);
            assert_int_equal (nodes [i].index, (n >> i) - 1);
            s_unhex (s_rfc_nodes [i][nodes [i].index], want, HASH);
            assert_memory_equal (nodes [i].hash, want, HASH);
        }
        assert_int_equal (frontier.size, n);
        certbus_merkle_frontier_root (&frontier, got);
        s_unhex (tu_rfc6962_roots [n], want, HASH);
        assert_memory_equal (got, want, HASH);
    }
}

static void
test_frontier_encoding (void **state)
{
    (void) state;
    uint8_t leaves [8 * HASH];
    s_rfc_leaf_hashes (leaves);
    certbus_merkle_frontier_t frontier, loaded;
    certbus_merkle_frontier_init (&frontier);
    uint8_t bytes [CERTBUS_MERKLE_FRONTIER_MAX_BYTES];

    size_t len = certbus_merkle_frontier_encode (&frontier, bytes);
    assert_int_equal (len, 9);
    assert_int_equal (bytes [0], CERTBUS_MERKLE_FRONTIER_VERSION);
    memset (&loaded, 0xaa, sizeof loaded);
    assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, len), CERTBUS_OK);
    assert_memory_equal (&loaded, &frontier, sizeof frontier);

    for (size_t n = 1; n <= 8; n++) {
        assert_int_equal (certbus_merkle_frontier_append (&frontier, leaves + (n - 1) * HASH, NULL,
                                                          NULL),
                          CERTBUS_OK);
        len = certbus_merkle_frontier_encode (&frontier, bytes);
        assert_int_equal (len, 9 + HASH * (size_t) __builtin_popcountll (n));
        assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, len), CERTBUS_OK);
        assert_memory_equal (&loaded, &frontier, sizeof frontier);
        if (n == 7) {
            //  Compact range of 7 leaves: nodes (2,0), (1,2), (0,6).
            uint8_t want [9 + 3 * HASH] = {1, 0, 0, 0, 0, 0, 0, 0, 7};
            s_unhex (s_rfc_nodes [2][0], want + 9, HASH);
            s_unhex (s_rfc_nodes [1][2], want + 9 + HASH, HASH);
            s_unhex (s_rfc_nodes [0][6], want + 9 + 2 * HASH, HASH);
            assert_int_equal (len, sizeof want);
            assert_memory_equal (bytes, want, sizeof want);

            //  Refused encodings leave the target untouched.
            certbus_merkle_frontier_t before = loaded;
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, len - 1),
                              CERTBUS_E_DECODE);
            uint8_t longer [sizeof want + 1];
            memcpy (longer, want, sizeof want);
            longer [sizeof want] = 0;
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, longer, sizeof longer),
                              CERTBUS_E_DECODE);
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, 8), CERTBUS_E_DECODE);
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, NULL, 0), CERTBUS_E_DECODE);
            bytes [0] = 2;
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, len),
                              CERTBUS_E_VERSION);
            assert_non_null (strstr (certbus_reason (), "version"));
            bytes [0] = 1;
            bytes [8] = 6; //  size 6 needs two hashes, not three
            assert_int_equal (certbus_merkle_frontier_decode (&loaded, bytes, len),
                              CERTBUS_E_DECODE);
            assert_memory_equal (&loaded, &before, sizeof before);
        }
    }
}

//  --------------------------------------------------------------------------
//  In-memory node store, filled from what appends report

#define STORE_LEVELS 10
#define STORE_WIDTH 272

typedef struct {
    uint8_t hash [STORE_LEVELS][STORE_WIDTH][HASH];
    bool present [STORE_LEVELS][STORE_WIDTH];
    size_t stored; //  nodes held
    size_t reads;  //  get_node calls since last reset
} store_t;

static int
s_store_get (void *ctx, unsigned level, uint64_t index, uint8_t out [HASH])
{
    store_t *store = ctx;
    store->reads++;
    if (level >= STORE_LEVELS || index >= STORE_WIDTH || !store->present [level][index])
        return certbus_fail (CERTBUS_E_NOT_FOUND, "no node %u/%" PRIu64, level, index);
    memcpy (out, store->hash [level][index], HASH);
    return 0;
}

static int
s_failing_get (void *ctx, unsigned level, uint64_t index, uint8_t out [HASH])
{
    (void) level;
    (void) index;
    (void) out;
    int rc = *(int *) ctx;
    if (rc > 0)
        certbus_fail ((certbus_err_t) rc, "disk on fire");
    else
        certbus_reason_clear ();
    return rc;
}

static unsigned
s_ceil_log2 (uint64_t n)
{
    return n <= 1 ? 0 : 64 - (unsigned) __builtin_clzll (n - 1);
}

//  A proof made for one claim must fail for every other claim we can make
//  up about it: each of its hashes with a bit flipped, one hash too few or
//  too many, another leaf, another size (with that size's true root).
typedef struct {
    const uint8_t *leaves;   //  leaf hashes
    uint8_t (*roots) [HASH]; //  roots [s]: true root of the first s leaves
    size_t max_size;         //  roots known for sizes 0 .. max_size
    size_t rejected;         //  mutated proofs refused
} world_t;

//  Flips one bit of each hash of a copy of proof in turn (which bit, from
//  salt_i, salt_m, m and n) and checks that the flipped proof is refused:
//  as world w's inclusion proof of leaf m in the tree of n leaves, or with
//  consistency, as its proof that the tree of m leaves is in that of n.
static void
s_flip_each_hash (world_t *w, bool consistency, size_t m, size_t n, const uint8_t *proof,
                  size_t proof_len, size_t salt_i, size_t salt_m)
{
    uint8_t copy [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    memcpy (copy, proof, proof_len);
    for (size_t i = 0; i < proof_len / HASH; i++) {
        size_t bit = (i * salt_i + m * salt_m + n) % 256;
        copy [i * HASH + bit / 8] ^= (uint8_t) (1 << (bit % 8));
        certbus_err_t rc
            = consistency ? certbus_merkle_verify_consistency (m, n, copy, proof_len, w->roots [m],
                                                               HASH, w->roots [n], HASH)
                          : certbus_merkle_verify_inclusion (w->leaves + m * HASH, HASH, m, n, copy,
                                                             proof_len, w->roots [n], HASH);
        assert_int_equal (rc, CERTBUS_E_DECODE);
        copy [i * HASH + bit / 8] ^= (uint8_t) (1 << (bit % 8));
        w->rejected++;
    }
}

static void
s_inclusion_mutants (world_t *w, size_t m, size_t n, const uint8_t *proof, size_t proof_len)
{
    const uint8_t *leaf = w->leaves + m * HASH;
    s_flip_each_hash (w, false, m, n, proof, proof_len, 37, 11);
    uint8_t bad [HASH];
    memcpy (bad, leaf, HASH);
    bad [(m + n) % HASH] ^= 0x80;
    assert_int_equal (certbus_merkle_verify_inclusion (bad, HASH, m, n, proof, proof_len,
                                                       w->roots [n], HASH),
                      CERTBUS_E_DECODE);
    memcpy (bad, w->roots [n], HASH);
    bad [m % HASH] ^= 0x01;
    assert_int_equal (certbus_merkle_verify_inclusion (leaf, HASH, m, n, proof, proof_len, bad,
                                                       HASH),
                      CERTBUS_E_DECODE);
    w->rejected += 2;
    //  One hash too few, one too many.
    if (proof_len) {
        assert_int_equal (certbus_merkle_verify_inclusion (leaf, HASH, m, n, proof,
                                                           proof_len - HASH, w->roots [n], HASH),
                          CERTBUS_E_FIELD);
        w->rejected++;
    }
    uint8_t copy [CERTBUS_MERKLE_PROOF_MAX_BYTES + HASH];
    memcpy (copy, proof, proof_len);
    memcpy (copy + proof_len, leaf, HASH);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf, HASH, m, n, copy, proof_len + HASH,
                                                       w->roots [n], HASH),
                      CERTBUS_E_FIELD);
    w->rejected++;
    //  Another index in the same tree.
    size_t others [] = {m ^ 1, m + 1, m - 1, n - 1 - m, m / 2};
    for (size_t i = 0; i < sizeof others / sizeof others [0]; i++) {
        size_t other = others [i];
        if (other == m || other >= n)
            continue;
        assert_int_not_equal (certbus_merkle_verify_inclusion (leaf, HASH, other, n, proof,
                                                               proof_len, w->roots [n], HASH),
                              CERTBUS_OK);
        w->rejected++;
    }
    //  Another tree size, with the root that size really has.
    size_t sizes [] = {n - 1, n + 1, 2 * n, m + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++) {
        size_t size = sizes [i];
        if (size == n || size <= m || size > w->max_size)
            continue;
        assert_int_not_equal (certbus_merkle_verify_inclusion (leaf, HASH, m, size, proof,
                                                               proof_len, w->roots [size], HASH),
                              CERTBUS_OK);
        w->rejected++;
    }
    //  A size beyond the index is refused before any hashing.
    assert_int_equal (certbus_merkle_verify_inclusion (leaf, HASH, n, n, proof, proof_len,
                                                       w->roots [n], HASH),
                      CERTBUS_E_FIELD);
    w->rejected++;
}

static void
s_consistency_mutants (world_t *w, size_t m, size_t n, const uint8_t *proof, size_t proof_len)
{
    uint8_t *root1 = w->roots [m];
    uint8_t *root2 = w->roots [n];
    //  A true root of another size stands in for a wrong one.
    uint8_t *other1 = w->roots [m > 1 ? m - 1 : m + 1];
    if (m == n) {
        assert_int_equal (proof_len, 0);
        assert_int_equal (certbus_merkle_verify_consistency (m, n, NULL, 0, root1, HASH, other1,
                                                             HASH),
                          CERTBUS_E_DECODE);
        assert_int_equal (certbus_merkle_verify_consistency (m, n, root1, HASH, root1, HASH, root2,
                                                             HASH),
                          CERTBUS_E_FIELD);
        w->rejected += 2;
        return;
    }
    s_flip_each_hash (w, true, m, n, proof, proof_len, 41, 13);
    assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, root2, HASH, root1,
                                                         HASH),
                      CERTBUS_E_DECODE);
    assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, other1, HASH,
                                                         root2, HASH),
                      CERTBUS_E_DECODE);
    assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, root1, HASH,
                                                         w->roots [n - 1], HASH),
                      CERTBUS_E_DECODE);
    assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len - HASH, root1, HASH,
                                                         root2, HASH),
                      CERTBUS_E_FIELD);
    uint8_t copy [CERTBUS_MERKLE_PROOF_MAX_BYTES + HASH];
    memcpy (copy, proof, proof_len);
    memcpy (copy + proof_len, root2, HASH);
    assert_int_equal (certbus_merkle_verify_consistency (m, n, copy, proof_len + HASH, root1, HASH,
                                                         root2, HASH),
                      CERTBUS_E_FIELD);
    w->rejected += 5;
    //  Other sizes, each with its true root.
    size_t olds [] = {m - 1, m + 1, m * 2, m / 2};
    for (size_t i = 0; i < sizeof olds / sizeof olds [0]; i++) {
        size_t old = olds [i];
        if (old == m || old == 0 || old > n)
            continue;
        assert_int_not_equal (certbus_merkle_verify_consistency (old, n, proof, proof_len,
                                                                 w->roots [old], HASH, root2, HASH),
                              CERTBUS_OK);
        w->rejected++;
    }
    size_t news [] = {n - 1, n + 1, n * 2};
    for (size_t i = 0; i < sizeof news / sizeof news [0]; i++) {
        size_t size = news [i];
        if (size == n || size < m || size > w->max_size)
            continue;
        assert_int_not_equal (certbus_merkle_verify_consistency (m, size, proof, proof_len, root1,
                                                                 HASH, w->roots [size], HASH),
                              CERTBUS_OK);
        w->rejected++;
    }
}

static void
test_cross_check (void **state)
{
    (void) state;
    enum { MAX = 130, ROOTS = 2 * MAX + 2 };
    uint8_t *leaves = malloc ((size_t) ROOTS * HASH);
    uint8_t (*roots) [HASH] = malloc ((size_t) ROOTS * HASH);
    store_t *store = calloc (1, sizeof *store);
    assert_true (leaves && roots && store);
    for (size_t i = 0; i < ROOTS; i++) {
        uint8_t data [12] = {'l', 'e', 'a', 'f'};
        for (size_t b = 0; b < 8; b++)
            data [4 + b] = (uint8_t) (i >> (8 * b));
        r_leaf (leaves + i * HASH, data, sizeof data);
    }
    for (size_t s = 0; s < ROOTS; s++)
        r_mth (roots [s], leaves, s);
    world_t world = {leaves, roots, ROOTS - 1, 0};

    certbus_merkle_frontier_t frontier, rebuilt;
    certbus_merkle_frontier_init (&frontier);
    size_t inclusion_proofs = 0, consistency_proofs = 0, max_reads = 0;
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES], want [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    uint8_t got [HASH];
    for (size_t n = 1; n <= MAX; n++) {
        //  Append leaf n - 1 and keep every node it completes.
        certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
        size_t count = s_append_leaf (&frontier, leaves, n, nodes);
        for (size_t i = 0; i < count; i++) {
            unsigned level = nodes [i].level;
            uint64_t index = nodes [i].index;
            assert_true (level < STORE_LEVELS && index < STORE_WIDTH);
            assert_false (store->present [level][index]);
            assert_int_equal ((index + 1) << level, n);
            r_mth (got, leaves + (index << level) * HASH, (size_t) 1 << level);
            assert_memory_equal (nodes [i].hash, got, HASH);
            memcpy (store->hash [level][index], nodes [i].hash, HASH);
            store->present [level][index] = true;
            store->stored++;
        }
        assert_int_equal (store->stored, 2 * n - (size_t) __builtin_popcountll (n));

        //  Four ways to the root, all equal to the recursive MTH.
        certbus_merkle_frontier_root (&frontier, got);
        assert_memory_equal (got, roots [n], HASH);
        certbus_merkle_root (got, leaves, n);
        assert_memory_equal (got, roots [n], HASH);
        store->reads = 0;
        assert_int_equal (certbus_merkle_tree_root (got, n, s_store_get, store), CERTBUS_OK);
        assert_memory_equal (got, roots [n], HASH);
        assert_int_equal (store->reads, (size_t) __builtin_popcountll (n));
        assert_int_equal (certbus_merkle_frontier_from_nodes (&rebuilt, n, s_store_get, store),
                          CERTBUS_OK);
        assert_memory_equal (&rebuilt, &frontier, sizeof frontier);
        uint8_t bytes [CERTBUS_MERKLE_FRONTIER_MAX_BYTES];
        size_t len = certbus_merkle_frontier_encode (&frontier, bytes);
        memset (&rebuilt, 0x55, sizeof rebuilt);
        assert_int_equal (certbus_merkle_frontier_decode (&rebuilt, bytes, len), CERTBUS_OK);
        assert_memory_equal (&rebuilt, &frontier, sizeof frontier);

        size_t read_bound = 2 * s_ceil_log2 (n) + 1;
        for (size_t m = 0; m < n; m++) {
            size_t proof_len = 0;
            store->reads = 0;
            assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, m, n, s_store_get,
                                                              store),
                              CERTBUS_OK);
            assert_true (store->reads <= read_bound);
            if (store->reads > max_reads)
                max_reads = store->reads;
            size_t want_count = r_path (want, m, leaves, n);
            assert_int_equal (proof_len, want_count * HASH);
            if (proof_len)
                assert_memory_equal (proof, want, proof_len);
            assert_int_equal (certbus_merkle_verify_inclusion (leaves + m * HASH, HASH, m, n, proof,
                                                               proof_len, roots [n], HASH),
                              CERTBUS_OK);
            s_inclusion_mutants (&world, m, n, proof, proof_len);
            inclusion_proofs++;
        }
        for (size_t m = 1; m <= n; m++) {
            size_t proof_len = 99;
            store->reads = 0;
            assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, m, n,
                                                                s_store_get, store),
                              CERTBUS_OK);
            assert_true (store->reads <= read_bound);
            if (store->reads > max_reads)
                max_reads = store->reads;
            size_t want_count = r_subproof (want, m, leaves, n, true);
            assert_int_equal (proof_len, want_count * HASH);
            if (proof_len)
                assert_memory_equal (proof, want, proof_len);
            assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, roots [m],
                                                                 HASH, roots [n], HASH),
                              CERTBUS_OK);
            s_consistency_mutants (&world, m, n, proof, proof_len);
            consistency_proofs++;
        }
    }
    printf ("merkle cross-check: sizes 1..%d, %zu inclusion and %zu consistency proofs match "
            "RFC 6962 and verify, %zu mutated proofs rejected, at most %zu node reads per "
            "proof\n",
            MAX, inclusion_proofs, consistency_proofs, world.rejected, max_reads);
    free (store);
    free (roots);
    free (leaves);
}

//  --------------------------------------------------------------------------
//  Giant trees: when every leaf is the same, the perfect node at level j is
//  the same for every index, so a true tree of up to 2^64 - 1 leaves fits in
//  64 hashes. It exercises the 64-level edges: longest proofs, last carry.

typedef struct {
    uint8_t level_hash [CERTBUS_MERKLE_MAX_LEVELS][HASH];
    uint64_t size; //  nodes beyond this tree size are refused
    size_t reads;
} giant_t;

static int
s_giant_get (void *ctx, unsigned level, uint64_t index, uint8_t out [HASH])
{
    giant_t *giant = ctx;
    giant->reads++;
    if (level >= CERTBUS_MERKLE_MAX_LEVELS || index >= giant->size >> level)
        return certbus_fail (CERTBUS_E_NOT_FOUND, "node %u/%" PRIu64 " is not complete", level,
                             index);
    memcpy (out, giant->level_hash [level], HASH);
    return 0;
}

//  Root of n identical leaves: fold the perfect subtrees, smallest first.
static void
s_giant_root (const giant_t *giant, uint64_t n, uint8_t out [HASH])
{
    bool first = true;
    for (unsigned level = 0; level < 64; level++) {
        if (!(n & ((uint64_t) 1 << level)))
            continue;
        if (first)
            memcpy (out, giant->level_hash [level], HASH);
        else
            r_node (out, giant->level_hash [level], out);
        first = false;
    }
}

static void
test_giant_trees (void **state)
{
    (void) state;
    giant_t giant;
    certbus_merkle_leaf_hash (giant.level_hash [0], (const uint8_t *) "same", 4);
    for (unsigned level = 1; level < 64; level++)
        r_node (giant.level_hash [level], giant.level_hash [level - 1],
                giant.level_hash [level - 1]);

    const uint64_t top = (uint64_t) 1 << 63;
    const uint64_t sizes [] = {1,
                               2,
                               3,
                               5,
                               (1ull << 32) + 1,
                               top - 1,
                               top,
                               top + 1,
                               UINT64_MAX - 1,
                               UINT64_MAX,
                               0x9e3779b97f4a7c15ull,
                               0x00000fffffffffffull};
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    uint8_t root [HASH], root1 [HASH], got [HASH];
    size_t checked = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes [0]; s++) {
        uint64_t n = sizes [s];
        giant.size = n;
        s_giant_root (&giant, n, root);
        assert_int_equal (certbus_merkle_tree_root (got, n, s_giant_get, &giant), CERTBUS_OK);
        assert_memory_equal (got, root, HASH);
        certbus_merkle_frontier_t frontier;
        assert_int_equal (certbus_merkle_frontier_from_nodes (&frontier, n, s_giant_get, &giant),
                          CERTBUS_OK);
        certbus_merkle_frontier_root (&frontier, got);
        assert_memory_equal (got, root, HASH);

        uint64_t indices [] = {0, 1, n / 2, n / 3, n - 2, n - 1, n ^ 0x5555};
        for (size_t i = 0; i < sizeof indices / sizeof indices [0]; i++) {
            uint64_t m = indices [i];
            if (m >= n)
                continue;
            size_t proof_len = 0;
            giant.reads = 0;
            assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, m, n, s_giant_get,
                                                              &giant),
                              CERTBUS_OK);
            assert_true (giant.reads <= 2 * 64 + 1);
            assert_true (proof_len <= 64 * HASH);
            assert_int_equal (certbus_merkle_verify_inclusion (giant.level_hash [0], HASH, m, n,
                                                               proof, proof_len, root, HASH),
                              CERTBUS_OK);
            if (proof_len) {
                proof [proof_len - 1] ^= 0x10;
                assert_int_equal (certbus_merkle_verify_inclusion (giant.level_hash [0], HASH, m, n,
                                                                   proof, proof_len, root, HASH),
                                  CERTBUS_E_DECODE);
            }
            checked++;
        }
        uint64_t olds [] = {1, 2, n / 2, n - 1, n, top - 1, (n / 3) | 1};
        for (size_t i = 0; i < sizeof olds / sizeof olds [0]; i++) {
            uint64_t m = olds [i];
            if (m == 0 || m > n)
                continue;
            s_giant_root (&giant, m, root1);
            size_t proof_len = 0;
            giant.reads = 0;
            assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, m, n,
                                                                s_giant_get, &giant),
                              CERTBUS_OK);
            assert_true (giant.reads <= 2 * 64 + 1);
            assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, root1,
                                                                 HASH, root, HASH),
                              CERTBUS_OK);
            if (proof_len) {
                proof [0] ^= 0x01;
                assert_int_equal (certbus_merkle_verify_consistency (m, n, proof, proof_len, root1,
                                                                     HASH, root, HASH),
                                  CERTBUS_E_DECODE);
            }
            checked++;
        }
    }
    //  The longest proofs: 64 hashes for inclusion, 65 for consistency.
    size_t proof_len = 0;
    giant.size = UINT64_MAX;
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 0, UINT64_MAX, s_giant_get,
                                                      &giant),
                      CERTBUS_OK);
    assert_int_equal (proof_len, 64 * HASH);
    assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, top - 1, UINT64_MAX,
                                                        s_giant_get, &giant),
                      CERTBUS_OK);
    assert_int_equal (proof_len, CERTBUS_MERKLE_PROOF_MAX_BYTES);
    s_giant_root (&giant, top - 1, root1);
    s_giant_root (&giant, UINT64_MAX, root);
    assert_int_equal (certbus_merkle_verify_consistency (top - 1, UINT64_MAX, proof, proof_len,
                                                         root1, HASH, root, HASH),
                      CERTBUS_OK);

    //  The last carry: leaf 2^63 - 1 completes one node on each of 64 levels.
    uint8_t bytes [CERTBUS_MERKLE_FRONTIER_MAX_BYTES] = {1,    0x7f, 0xff, 0xff, 0xff,
                                                         0xff, 0xff, 0xff, 0xff};
    for (int level = 62; level >= 0; level--)
        memcpy (bytes + 9 + (size_t) (62 - level) * HASH, giant.level_hash [level], HASH);
    certbus_merkle_frontier_t frontier;
    assert_int_equal (certbus_merkle_frontier_decode (&frontier, bytes, 9 + 63 * HASH), CERTBUS_OK);
    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
    size_t count = 0;
    assert_int_equal (certbus_merkle_frontier_append (&frontier, giant.level_hash [0], nodes,
                                                      &count),
                      CERTBUS_OK);
    assert_int_equal (count, 64);
    assert_int_equal (nodes [63].level, 63);
    assert_int_equal (nodes [63].index, 0);
    assert_memory_equal (nodes [63].hash, giant.level_hash [63], HASH);
    certbus_merkle_frontier_root (&frontier, got);
    assert_memory_equal (got, giant.level_hash [63], HASH);

    //  A full tree takes no more leaves and stays as it was.
    size_t len = certbus_merkle_frontier_encode (&frontier, bytes);
    assert_int_equal (len, 9 + HASH);
    bytes [1] = bytes [2] = bytes [3] = bytes [4] = 0xff;
    bytes [5] = bytes [6] = bytes [7] = bytes [8] = 0xff;
    assert_int_equal (certbus_merkle_frontier_decode (&frontier, bytes, 9 + HASH),
                      CERTBUS_E_DECODE);
    for (int level = 63; level >= 0; level--)
        memcpy (bytes + 9 + (size_t) (63 - level) * HASH, giant.level_hash [level], HASH);
    assert_int_equal (certbus_merkle_frontier_decode (&frontier, bytes, 9 + 64 * HASH), CERTBUS_OK);
    assert_int_equal (frontier.size, UINT64_MAX);
    certbus_merkle_frontier_t before = frontier;
    count = 7;
    assert_int_equal (certbus_merkle_frontier_append (&frontier, giant.level_hash [0], nodes,
                                                      &count),
                      CERTBUS_E_TOO_LARGE);
    assert_int_equal (count, 0);
    assert_memory_equal (&frontier, &before, sizeof before);
    certbus_merkle_frontier_root (&frontier, got);
    s_giant_root (&giant, UINT64_MAX, root);
    assert_memory_equal (got, root, HASH);
    printf ("merkle giant trees: %zu proofs up to 2^64 - 1 leaves verified\n", checked);
}

//  --------------------------------------------------------------------------
//  Bad arguments and failing stores

static void
test_refusals (void **state)
{
    (void) state;
    uint8_t leaves [8 * HASH], root [HASH], root7 [HASH];
    s_rfc_leaf_hashes (leaves);
    certbus_merkle_root (root, leaves, 8);
    certbus_merkle_root (root7, leaves, 7);
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t proof_len = 99;
    int rc = 0;

    //  Generation outside the tree.
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 8, 8, s_failing_get, &rc),
                      CERTBUS_E_FIELD);
    assert_int_equal (proof_len, 0);
    assert_non_null (strstr (certbus_reason (), "outside"));
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 0, 0, s_failing_get, &rc),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, 0, 8, s_failing_get,
                                                        &rc),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, 9, 8, s_failing_get,
                                                        &rc),
                      CERTBUS_E_FIELD);

    //  A failing store: its code comes back, the reason names the node.
    rc = CERTBUS_E_IO;
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 3, 8, s_failing_get, &rc),
                      CERTBUS_E_IO);
    assert_non_null (strstr (certbus_reason (), "disk on fire"));
    assert_non_null (strstr (certbus_reason (), "level"));
    rc = CERTBUS_E_NOT_FOUND;
    assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, 3, 8, s_failing_get,
                                                        &rc),
                      CERTBUS_E_NOT_FOUND);
    uint8_t got [HASH];
    assert_int_equal (certbus_merkle_tree_root (got, 5, s_failing_get, &rc), CERTBUS_E_NOT_FOUND);
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    assert_int_equal (certbus_merkle_frontier_from_nodes (&frontier, 5, s_failing_get, &rc),
                      CERTBUS_E_NOT_FOUND);
    assert_int_equal (frontier.size, 0);
    rc = -1;
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 3, 8, s_failing_get, &rc),
                      CERTBUS_E_IO);
    assert_non_null (strstr (certbus_reason (), "no reason given"));
    rc = 1000;
    assert_int_equal (certbus_merkle_tree_root (got, 5, s_failing_get, &rc), CERTBUS_E_IO);

    //  Verification of malformed claims. Leaf 5 of 8 has a 3-hash proof.
    uint8_t good [3 * HASH];
    s_unhex (s_rfc_nodes [0][4], good, HASH);
    s_unhex (s_rfc_nodes [1][3], good + HASH, HASH);
    s_unhex (s_rfc_nodes [2][0], good + 2 * HASH, HASH);
    const uint8_t *leaf5 = leaves + 5 * HASH;
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good, root,
                                                       HASH),
                      CERTBUS_OK);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH - 1, 5, 8, good, sizeof good,
                                                       root, HASH),
                      CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "leaf hash is 31 bytes"));
    assert_int_equal (certbus_merkle_verify_inclusion (NULL, 0, 5, 8, good, sizeof good, root,
                                                       HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good, root,
                                                       HASH + 1),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good, NULL,
                                                       0),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good - 1,
                                                       root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 8, 8, good, sizeof good, root,
                                                       HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 0, NULL, 0, root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, UINT64_MAX, good,
                                                       sizeof good, root, HASH),
                      CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "needs 64"));
    //  Every bit of every proof hash, of the leaf and of the root matters.
    size_t flips = 0;
    for (size_t bit = 0; bit < sizeof good * 8; bit++) {
        good [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good,
                                                           root, HASH),
                          CERTBUS_E_DECODE);
        good [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        flips++;
    }
    for (size_t bit = 0; bit < HASH * 8; bit++) {
        uint8_t bad [HASH];
        memcpy (bad, leaf5, HASH);
        bad [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert_int_equal (certbus_merkle_verify_inclusion (bad, HASH, 5, 8, good, sizeof good, root,
                                                           HASH),
                          CERTBUS_E_DECODE);
        memcpy (bad, root, HASH);
        bad [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 8, good, sizeof good,
                                                           bad, HASH),
                          CERTBUS_E_DECODE);
        flips += 2;
    }
    assert_non_null (strstr (certbus_reason (), "does not lead to the root"));
    //  Wrong index, or a size whose true root we give: refused.
    for (uint64_t index = 0; index < 8; index++)
        if (index != 5)
            assert_int_not_equal (certbus_merkle_verify_inclusion (leaf5, HASH, index, 8, good,
                                                                   sizeof good, root, HASH),
                                  CERTBUS_OK);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 7, good, sizeof good, root7,
                                                       HASH),
                      CERTBUS_E_DECODE);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 5, 6, good, sizeof good, root7,
                                                       HASH),
                      CERTBUS_E_FIELD);

    //  Consistency: 4 -> 8 is the single node (2, 1); the old root is implied.
    uint8_t root4 [HASH], one [HASH];
    certbus_merkle_root (root4, leaves, 4);
    s_unhex (s_rfc_nodes [2][1], one, HASH);
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH, root4, HASH, root, HASH),
                      CERTBUS_OK);
    for (size_t bit = 0; bit < HASH * 8; bit++) {
        one [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH, root4, HASH, root,
                                                             HASH),
                          CERTBUS_E_DECODE);
        one [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        flips++;
    }
    //  With a power-of-two old size the old root is the proof's first hash,
    //  so a wrong one shows as a wrong new root.
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH, root, HASH, root, HASH),
                      CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "new root"));
    //  6 -> 8 is nodes (1, 2), (1, 3), (2, 0); here the old root is checked.
    uint8_t six [3 * HASH], root6 [HASH];
    certbus_merkle_root (root6, leaves, 6);
    s_unhex (s_rfc_nodes [1][2], six, HASH);
    s_unhex (s_rfc_nodes [1][3], six + HASH, HASH);
    s_unhex (s_rfc_nodes [2][0], six + 2 * HASH, HASH);
    assert_int_equal (certbus_merkle_verify_consistency (6, 8, six, sizeof six, root6, HASH, root,
                                                         HASH),
                      CERTBUS_OK);
    assert_int_equal (certbus_merkle_verify_consistency (6, 8, six, sizeof six, root7, HASH, root,
                                                         HASH),
                      CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "old root"));
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH, root4, HASH, root4, HASH),
                      CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "new root"));
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, NULL, 0, root4, HASH, root, HASH),
                      CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "empty"));
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH, root4, HASH - 1, root,
                                                         HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_consistency (4, 8, one, HASH - 1, root4, HASH, root,
                                                         HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_consistency (0, 8, NULL, 0, root4, HASH, root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_consistency (0, 0, NULL, 0, root, HASH, root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_consistency (8, 4, one, HASH, root, HASH, root4, HASH),
                      CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "shrink"));
    assert_int_equal (certbus_merkle_verify_consistency (8, 8, NULL, 0, root, HASH, root, HASH),
                      CERTBUS_OK);
    assert_int_equal (certbus_merkle_verify_consistency (8, 8, one, HASH, root, HASH, root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_consistency (8, 8, NULL, 0, root, HASH, root, HASH - 1),
                      CERTBUS_E_DECODE);
    //  An absurdly long proof is refused by its length alone.
    uint8_t *huge = calloc (1000, HASH);
    assert_non_null (huge);
    assert_int_equal (certbus_merkle_verify_consistency (3, UINT64_MAX, huge, 1000 * HASH, root,
                                                         HASH, root, HASH),
                      CERTBUS_E_FIELD);
    assert_int_equal (certbus_merkle_verify_inclusion (leaf5, HASH, 3, UINT64_MAX, huge,
                                                       1000 * HASH, root, HASH),
                      CERTBUS_E_FIELD);
    free (huge);
    printf ("merkle refusals: %zu single-bit flips of proofs, leaves and roots rejected\n", flips);
}

//  --------------------------------------------------------------------------
//  Shared corpus: transparency-dev/merkle testdata, one JSON object a file

//  Joins the proof entries as certbus carries them, 32 bytes each. Like the
//  wire decoder must, refuses an entry of any other length (the corpus's
//  "garbage" entries are empty strings, which joining would silently drop).
static bool
s_join_proof (const tu_merkle_vector_t *vec, uint8_t *out, size_t *out_len)
{
    *out_len = 0;
    for (size_t i = 0; i < vec->proof_count; i++) {
        if (vec->proof [i].len != HASH)
            return false;
        memcpy (out + *out_len, vec->proof [i].data, HASH);
        *out_len += HASH;
    }
    return true;
}

//  Verifies one vector with lib/merkle; arg counts the proofs refused
//  while joining
static bool
s_check_vector (const tu_merkle_vector_t *vec, bool inclusion, certbus_err_t *rc_p, void *arg)
{
    size_t *rejected_joining = arg;
    uint8_t proof [TU_VEC_MAX_PROOF * HASH];
    size_t proof_len = 0;
    if (!s_join_proof (vec, proof, &proof_len)) {
        *rc_p = CERTBUS_E_FIELD;
        (*rejected_joining)++;
    }
    else if (inclusion)
        *rc_p = certbus_merkle_verify_inclusion (vec->leaf_hash.data, vec->leaf_hash.len,
                                                 vec->leaf_index, vec->tree_size, proof, proof_len,
                                                 vec->root.data, vec->root.len);
    else
        *rc_p = certbus_merkle_verify_consistency (vec->size1, vec->size2, proof, proof_len,
                                                   vec->root1.data, vec->root1.len, vec->root2.data,
                                                   vec->root2.len);
    return true;
}

//  One corpus folder, the test's state ("inclusion" or "consistency")
static void
test_corpus (void **state)
{
    const char *kind = *state;
    size_t rejected_joining = 0;
    tu_merkle_tally_t tally;
    tu_merkle_corpus_run (kind, s_check_vector, &rejected_joining, &tally);
    printf ("merkle corpus %s: %zu vector files checked in %s, %zu accepted, %zu rejected "
            "(%zu of them for a proof entry that is not 32 bytes), %zu disagreements\n",
            kind, tally.files, tally.dir, tally.accepted, tally.rejected, rejected_joining,
            tally.wrong);
    assert_true (tally.files > 0);
    assert_int_equal (tally.wrong, 0);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_hash_known_answers),
        cmocka_unit_test (test_root_known_answers),
        cmocka_unit_test (test_frontier_encoding),
        cmocka_unit_test (test_cross_check),
        cmocka_unit_test (test_giant_trees),
        cmocka_unit_test (test_refusals),
        tu_unit_test_case ("test_corpus_inclusion", test_corpus, "inclusion"),
        tu_unit_test_case ("test_corpus_consistency", test_corpus, "consistency"),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
