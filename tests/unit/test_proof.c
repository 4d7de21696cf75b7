/*  test_proof.c - certbus_proof_verify: a whole ProofReply against the
    broker's key, known answers and the ways a proof can lie
    SPDX-License-Identifier: MPL-2.0

    A small real log is built here: publish records encoded as the broker
    encodes them, appended to a Merkle frontier whose perfect nodes fill an
    in-memory store, heads signed with a broker identity of the test's own.
    The RFC 6962 reference tree gives known roots, and the shared corpus
    (transparency-dev/merkle's proof vectors, when present) runs through the
    path checks that a ProofReply's repeated hashes go through.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "certbus.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH CERTBUS_MERKLE_HASH_SIZE
#define LOG_MAX 16 //  records in the test log
#define LEVELS 5

//  The test log: records, their encodings, and the perfect nodes
typedef struct {
    uint8_t ids [LOG_MAX][CERTBUS_ID_SIZE];
    uint8_t *leaves [LOG_MAX]; //  encoded AuditRecords
    size_t leaf_sizes [LOG_MAX];
    size_t size;
    uint8_t nodes [LEVELS][LOG_MAX][HASH];
    certbus_merkle_frontier_t frontier;
    certbus_identity_t *broker;
} log_t;

//  A ProofReply under construction, with storage for its fields
typedef struct {
    Certbus__ProofReply reply;
    ProtobufCBinaryData inclusion [CERTBUS_MERKLE_PROOF_MAX];
    ProtobufCBinaryData consistency [CERTBUS_MERKLE_PROOF_MAX];
    uint8_t inclusion_bytes [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    uint8_t consistency_bytes [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    uint8_t *leaf; //  a copy the test may tamper with
    uint8_t *head; //  serialised signed TreeHead
    size_t head_size;
} proof_t;

static int
s_get_node (void *ctx, unsigned level, uint64_t index, uint8_t out [HASH])
{
    log_t *log = ctx;
    if (level >= LEVELS || index >= LOG_MAX)
        return certbus_fail (CERTBUS_E_NOT_FOUND, "no node %u/%llu", level,
                             (unsigned long long) index);
    memcpy (out, log->nodes [level][index], HASH);
    return 0;
}

//  Appends one record of event by org about a fresh message id
static void
s_log_append (log_t *log, const char *event, const char *org)
{
    assert_true (log->size < LOG_MAX);
    size_t i = log->size;
    certbus_uuid7 (log->ids [i]);
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.version = 1;
    record.index = i;
    record.time = 1700000000000 + (int64_t) i;
    record.event = (char *) event;
    record.org = (char *) org;
    record.message_id.data = log->ids [i];
    record.message_id.len = CERTBUS_ID_SIZE;
    record.kind = "advisory";
    record.tlp = "green";
    record.decision = "accept";
    log->leaf_sizes [i] = certbus__audit_record__get_packed_size (&record);
    log->leaves [i] = malloc (log->leaf_sizes [i]);
    assert_non_null (log->leaves [i]);
    certbus__audit_record__pack (&record, log->leaves [i]);
    uint8_t leaf [HASH];
    certbus_merkle_leaf_hash (leaf, log->leaves [i], log->leaf_sizes [i]);
    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
    size_t count = 0;
    assert_int_equal (certbus_merkle_frontier_append (&log->frontier, leaf, nodes, &count), 0);
    for (size_t n = 0; n < count; n++) {
        assert_true (nodes [n].level < LEVELS);
        memcpy (log->nodes [nodes [n].level][nodes [n].index], nodes [n].hash, HASH);
    }
    log->size++;
}

static void
s_log_init (log_t *log, size_t size)
{
    memset (log, 0, sizeof *log);
    certbus_merkle_frontier_init (&log->frontier);
    log->broker = certbus_identity_new ();
    for (size_t i = 0; i < size; i++)
        s_log_append (log, i % 3 == 2 ? "deliver" : "publish", i % 2 ? "pk-bank-01" : "cert-nl");
}

static void
s_log_free (log_t *log)
{
    for (size_t i = 0; i < log->size; i++)
        free (log->leaves [i]);
    certbus_identity_destroy (&log->broker);
}

//  The head of the first size records, signed by signer
static uint8_t *
s_head_sign (log_t *log, size_t size, certbus_identity_t *signer, certbus_tree_head_t *head,
             size_t *bytes_size)
{
    head->size = size;
    head->timestamp = 1700000000000 + (int64_t) size;
    assert_int_equal (certbus_merkle_tree_root (head->root, size, s_get_node, log), 0);
    uint8_t *bytes = certbus_tree_head_sign (signer, head, bytes_size);
    assert_non_null (bytes);
    return bytes;
}

static void
s_split (const uint8_t *bytes, size_t len, ProtobufCBinaryData *out, size_t *count)
{
    *count = len / HASH;
    for (size_t i = 0; i < *count; i++) {
        out [i].data = (uint8_t *) bytes + i * HASH;
        out [i].len = HASH;
    }
}

//  The log's inclusion path of record index in the tree of tree_size (with
//  consistency: its path from the tree of the first index records), made
//  into bytes and split into path as a ProofReply carries it. Returns the
//  number of hashes.
static size_t
s_path (log_t *log, bool consistency, uint64_t index, uint64_t tree_size,
        uint8_t bytes [CERTBUS_MERKLE_PROOF_MAX_BYTES],
        ProtobufCBinaryData path [CERTBUS_MERKLE_PROOF_MAX])
{
    size_t len = 0, count = 0;
    if (consistency)
        assert_int_equal (certbus_merkle_consistency_proof (bytes, &len, index, tree_size,
                                                            s_get_node, log),
                          0);
    else
        assert_int_equal (certbus_merkle_inclusion_proof (bytes, &len, index, tree_size, s_get_node,
                                                          log),
                          0);
    s_split (bytes, len, path, &count);
    return count;
}

//  A ProofReply for record index in the log's head of tree_size, with a
//  consistency path from old_size (0 for none), as the broker answers
static void
s_proof_new (proof_t *proof, log_t *log, uint64_t index, size_t tree_size, size_t old_size)
{
    memset (proof, 0, sizeof *proof);
    certbus__proof_reply__init (&proof->reply);
    Certbus__ProofReply *reply = &proof->reply;
    reply->leaf_index = index;
    proof->leaf = tu_dup (log->leaves [index], log->leaf_sizes [index]);
    reply->leaf.data = proof->leaf;
    reply->leaf.len = log->leaf_sizes [index];
    reply->n_inclusion = s_path (log, false, index, tree_size, proof->inclusion_bytes,
                                 proof->inclusion);
    reply->inclusion = proof->inclusion;
    if (old_size) {
        reply->n_consistency = s_path (log, true, old_size, tree_size, proof->consistency_bytes,
                                       proof->consistency);
        reply->consistency = proof->consistency;
    }
    certbus_tree_head_t head;
    proof->head = s_head_sign (log, tree_size, log->broker, &head, &proof->head_size);
    reply->tree_head.data = proof->head;
    reply->tree_head.len = proof->head_size;
}

static void
s_proof_free (proof_t *proof)
{
    free (proof->leaf);
    free (proof->head);
}

static const uint8_t *
s_broker_key (log_t *log)
{
    return certbus_identity_sign_public (log->broker);
}

//  Verifies and checks the failed step; returns the error code
static certbus_err_t
s_verify (log_t *log, proof_t *proof, uint64_t index, const certbus_tree_head_t *old,
          certbus_proof_step_t want)
{
    certbus_proof_result_t result;
    certbus_err_t rc = certbus_proof_verify (&proof->reply, s_broker_key (log), log->ids [index],
                                             old, &result);
    if (result.failed != want)
        print_error ("step %d, expected %d: %s\n", result.failed, want, certbus_reason ());
    assert_int_equal (result.failed, want);
    assert_int_equal (rc == CERTBUS_OK, want == CERTBUS_PROOF_OK);
    return rc;
}

//  Makes the ProofReply of s_proof_new and checks that it fails at want
//  (CERTBUS_PROOF_OK: that it verifies) against old
static void
s_expect_proof (log_t *log, uint64_t index, size_t tree_size, size_t old_size,
                const certbus_tree_head_t *old, certbus_proof_step_t want)
{
    proof_t proof;
    s_proof_new (&proof, log, index, tree_size, old_size);
    s_verify (log, &proof, index, old, want);
    s_proof_free (&proof);
}

//  --------------------------------------------------------------------------
//  Known answers: the RFC 6962 reference tree

//  Every leaf of every prefix of the reference tree proves against the
//  published root of that prefix, and every prefix is consistent with
//  every longer one, through the ProofReply path checks
static void
test_rfc_known_answers (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    certbus_merkle_frontier_init (&log->frontier);
    uint8_t leaves [8][HASH];
    for (size_t i = 0; i < 8; i++) {
        uint8_t data [16];
        size_t len = strlen (tu_rfc6962_leaves [i]) / 2;
        if (len)
            assert_int_equal (certbus_unhex (tu_rfc6962_leaves [i], data, len), 0);
        certbus_merkle_leaf_hash (leaves [i], len ? data : NULL, len);
        certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
        size_t count = 0;
        assert_int_equal (certbus_merkle_frontier_append (&log->frontier, leaves [i], nodes,
                                                          &count),
                          0);
        for (size_t n = 0; n < count; n++)
            memcpy (log->nodes [nodes [n].level][nodes [n].index], nodes [n].hash, HASH);
    }
    certbus_tree_head_t heads [8];
    for (size_t size = 1; size <= 8; size++) {
        heads [size - 1].size = size;
        assert_int_equal (certbus_unhex (tu_rfc6962_roots [size], heads [size - 1].root, HASH), 0);
    }
    size_t checked = 0;
    for (size_t size = 1; size <= 8; size++) {
        uint8_t bytes [CERTBUS_MERKLE_PROOF_MAX_BYTES];
        ProtobufCBinaryData path [CERTBUS_MERKLE_PROOF_MAX];
        for (size_t i = 0; i < size; i++) {
            size_t count = s_path (log, false, i, size, bytes, path);
            tu_assert_err (certbus_proof_verify_inclusion (leaves [i], i, &heads [size - 1], path,
                                                           count),
                           CERTBUS_OK);
            //  and not as any other leaf
            tu_assert_err (certbus_proof_verify_inclusion (leaves [(i + 1) % 8], i,
                                                           &heads [size - 1], path, count),
                           CERTBUS_E_DECODE);
            checked++;
        }
        for (size_t old = 1; old < size; old++) {
            size_t count = s_path (log, true, old, size, bytes, path);
            tu_assert_err (certbus_proof_verify_consistency (&heads [old - 1], &heads [size - 1],
                                                             path, count),
                           CERTBUS_OK);
            checked++;
        }
    }
    printf ("RFC 6962 reference tree: %zu inclusion and consistency proofs verified\n", checked);
    free (log);
}

//  --------------------------------------------------------------------------
//  A ProofReply from a small real log

static void
test_verify_reply (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 11);
    //  Every publish record of the log proves, in every head that holds it
    size_t proved = 0;
    for (size_t size = 1; size <= log->size; size++)
        for (size_t i = 0; i < size; i++) {
            if (i % 3 == 2)
                continue; //  a deliver record: not a publish
            proof_t proof;
            s_proof_new (&proof, log, i, size, 0);
            certbus_proof_result_t result;
            tu_assert_err (certbus_proof_verify (&proof.reply, s_broker_key (log), log->ids [i],
                                                 NULL, &result),
                           CERTBUS_OK);
            assert_int_equal (result.failed, CERTBUS_PROOF_OK);
            assert_int_equal (result.index, i);
            assert_int_equal (result.head.size, size);
            assert_string_equal (result.origin, i % 2 ? "pk-bank-01" : "cert-nl");
            s_proof_free (&proof);
            proved++;
        }
    printf ("small log: %zu ProofReplies verified\n", proved);
    s_log_free (log);
    free (log);
}

static void
test_verify_with_old_head (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 11);
    for (size_t old_size = 1; old_size <= 11; old_size++) {
        certbus_tree_head_t old;
        size_t old_bytes_size;
        free (s_head_sign (log, old_size, log->broker, &old, &old_bytes_size));
        s_expect_proof (log, 4, 11, old_size, &old, CERTBUS_PROOF_OK);
    }
    s_log_free (log);
    free (log);
}

//  --------------------------------------------------------------------------
//  Tampered replies

static void
test_tampered_leaf (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 9);
    //  Any flipped bit of the record: it no longer decodes, names another
    //  message, or (say, a changed org) fails the inclusion proof
    size_t size = log->leaf_sizes [3];
    size_t inclusion = 0;
    for (size_t bit = 0; bit < size * 8; bit++) {
        proof_t proof;
        s_proof_new (&proof, log, 3, 9, 0);
        proof.leaf [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        certbus_proof_result_t result;
        assert_int_not_equal (certbus_proof_verify (&proof.reply, s_broker_key (log), log->ids [3],
                                                    NULL, &result),
                              CERTBUS_OK);
        assert_int_not_equal (result.failed, CERTBUS_PROOF_OK);
        if (result.failed == CERTBUS_PROOF_INCLUSION)
            inclusion++;
        s_proof_free (&proof);
    }
    assert_true (inclusion > 0);
    //  A flipped bit of the inclusion path
    proof_t proof;
    s_proof_new (&proof, log, 3, 9, 0);
    proof.inclusion_bytes [5] ^= 0x10;
    tu_assert_err (s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_INCLUSION), CERTBUS_E_DECODE);
    s_proof_free (&proof);
    //  A path entry that is not 32 bytes
    s_proof_new (&proof, log, 3, 9, 0);
    proof.inclusion [0].len = 31;
    tu_assert_err (s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_INCLUSION), CERTBUS_E_FIELD);
    s_proof_free (&proof);
    //  A path with one hash left off
    s_proof_new (&proof, log, 3, 9, 0);
    proof.reply.n_inclusion--;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_INCLUSION);
    s_proof_free (&proof);
    s_log_free (log);
    free (log);
}

static void
test_wrong_index (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 9);
    //  The reply claims another index than the record holds
    proof_t proof;
    s_proof_new (&proof, log, 3, 9, 0);
    proof.reply.leaf_index = 4;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_OTHER_RECORD);
    s_proof_free (&proof);
    //  The record and index of one message, asked about another
    s_proof_new (&proof, log, 4, 9, 0);
    certbus_proof_result_t result;
    assert_int_not_equal (certbus_proof_verify (&proof.reply, s_broker_key (log), log->ids [3],
                                                NULL, &result),
                          CERTBUS_OK);
    assert_int_equal (result.failed, CERTBUS_PROOF_OTHER_RECORD);
    s_proof_free (&proof);
    //  A record that is not a publish (record 5 is a deliver)
    s_expect_proof (log, 5, 9, 0, NULL, CERTBUS_PROOF_OTHER_RECORD);
    //  The right record with the path of its neighbour
    proof_t other;
    s_proof_new (&proof, log, 3, 9, 0);
    s_proof_new (&other, log, 4, 9, 0);
    proof.reply.inclusion = other.inclusion;
    proof.reply.n_inclusion = other.reply.n_inclusion;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_INCLUSION);
    s_proof_free (&other);
    s_proof_free (&proof);
    //  A leaf that is no AuditRecord at all
    s_proof_new (&proof, log, 3, 9, 0);
    proof.reply.leaf.len = 3;
    proof.leaf [0] = 0xff;
    proof.leaf [1] = 0xff;
    proof.leaf [2] = 0xff;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_RECORD);
    s_proof_free (&proof);
    s_log_free (log);
    free (log);
}

static void
test_wrong_head_signature (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 9);
    //  Signed by someone else
    certbus_identity_t *other = certbus_identity_new ();
    proof_t proof;
    s_proof_new (&proof, log, 3, 9, 0);
    free (proof.head);
    certbus_tree_head_t head;
    proof.head = s_head_sign (log, 9, other, &head, &proof.head_size);
    proof.reply.tree_head.data = proof.head;
    proof.reply.tree_head.len = proof.head_size;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_HEAD);
    s_proof_free (&proof);
    certbus_identity_destroy (&other);
    //  Any flipped bit of the signed head
    s_proof_new (&proof, log, 3, 9, 0);
    for (size_t bit = 0; bit < proof.head_size * 8; bit++) {
        proof.head [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_HEAD);
        proof.head [bit / 8] ^= (uint8_t) (1u << (bit % 8));
    }
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_OK);
    //  No head at all
    proof.reply.tree_head.len = 0;
    s_verify (log, &proof, 3, NULL, CERTBUS_PROOF_HEAD);
    s_proof_free (&proof);
    s_log_free (log);
    free (log);
}

static void
test_old_head_refusals (void **state)
{
    (void) state;
    log_t *log = calloc (1, sizeof *log);
    assert_non_null (log);
    s_log_init (log, 12);
    certbus_tree_head_t old;
    size_t old_size;
    //  A head smaller than one seen before: the log was rolled back
    free (s_head_sign (log, 12, log->broker, &old, &old_size));
    s_expect_proof (log, 3, 9, 0, &old, CERTBUS_PROOF_ROLLED_BACK);
    //  A flipped bit of the consistency path
    free (s_head_sign (log, 5, log->broker, &old, &old_size));
    proof_t proof;
    s_proof_new (&proof, log, 3, 12, 5);
    s_verify (log, &proof, 3, &old, CERTBUS_PROOF_OK);
    proof.consistency_bytes [40] ^= 0x01;
    s_verify (log, &proof, 3, &old, CERTBUS_PROOF_CONSISTENCY);
    s_proof_free (&proof);
    //  An old head whose root the new head does not extend (a forked log)
    old.root [0] ^= 0x80;
    s_expect_proof (log, 3, 12, 5, &old, CERTBUS_PROOF_CONSISTENCY);
    //  No consistency path at all
    free (s_head_sign (log, 5, log->broker, &old, &old_size));
    s_expect_proof (log, 3, 12, 0, &old, CERTBUS_PROOF_CONSISTENCY);
    s_log_free (log);
    free (log);
}

//  --------------------------------------------------------------------------
//  The shared corpus, through the ProofReply path checks

//  Verifies one vector as a ProofReply's path checks would; a vector whose
//  hashes a ProofReply cannot carry is unfit
static bool
s_check_vector (const tu_merkle_vector_t *vec, bool inclusion, certbus_err_t *rc_p, void *arg)
{
    (void) arg;
    ProtobufCBinaryData path [TU_VEC_MAX_PROOF];
    for (size_t p = 0; p < vec->proof_count; p++) {
        path [p].data = (uint8_t *) vec->proof [p].data;
        path [p].len = vec->proof [p].len;
    }
    //  A tree head holds a 32-byte root and a record hashes to 32
    //  bytes: a vector with another length cannot be put in a
    //  ProofReply at all (test_merkle checks those against lib/merkle)
    bool fits = inclusion ? vec->root.len == HASH && vec->leaf_hash.len == HASH
                          : vec->root1.len == HASH && vec->root2.len == HASH;
    if (!fits)
        return false;
    certbus_tree_head_t head = {0}, old = {0};
    if (inclusion) {
        head.size = vec->tree_size;
        memcpy (head.root, vec->root.data, HASH);
        *rc_p = certbus_proof_verify_inclusion (vec->leaf_hash.data, vec->leaf_index, &head, path,
                                                vec->proof_count);
    }
    else {
        old.size = vec->size1;
        memcpy (old.root, vec->root1.data, HASH);
        head.size = vec->size2;
        memcpy (head.root, vec->root2.data, HASH);
        *rc_p = certbus_proof_verify_consistency (&old, &head, path, vec->proof_count);
    }
    return true;
}

//  One corpus folder, the test's state ("inclusion" or "consistency")
static void
test_corpus (void **state)
{
    const char *kind = *state;
    tu_merkle_tally_t tally;
    tu_merkle_corpus_run (kind, s_check_vector, NULL, &tally);
    printf ("proof corpus %s: %zu vector files in %s, %zu with hashes a ProofReply cannot "
            "carry, %zu accepted, %zu disagreements\n",
            kind, tally.files, tally.dir, tally.unfit, tally.accepted, tally.wrong);
    assert_true (tally.files > 0);
    assert_true (tally.accepted > 0);
    assert_int_equal (tally.wrong, 0);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rfc_known_answers),
        cmocka_unit_test (test_verify_reply),
        cmocka_unit_test (test_verify_with_old_head),
        cmocka_unit_test (test_tampered_leaf),
        cmocka_unit_test (test_wrong_index),
        cmocka_unit_test (test_wrong_head_signature),
        cmocka_unit_test (test_old_head_refusals),
        tu_unit_test_case ("test_corpus_inclusion", test_corpus, "inclusion"),
        tu_unit_test_case ("test_corpus_consistency", test_corpus, "consistency"),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
