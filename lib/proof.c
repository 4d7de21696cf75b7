/*  proof.c - verifying the broker's audit proofs
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <string.h>

//  Joins a repeated bytes field of 32-byte hashes into one path buffer.
//  Returns CERTBUS_OK, or CERTBUS_E_FIELD when a hash is not 32 bytes or
//  there are too many, with a reason naming which path ("inclusion").
static certbus_err_t
s_path_join (const char *which, const ProtobufCBinaryData *hashes, size_t count,
             uint8_t path [CERTBUS_MERKLE_PROOF_MAX_BYTES], size_t *path_len)
{
    *path_len = 0;
    size_t i = 0;
    if (count <= CERTBUS_MERKLE_PROOF_MAX)
        for (; i < count && hashes [i].len == CERTBUS_MERKLE_HASH_SIZE; i++) {
            memcpy (path + *path_len, hashes [i].data, CERTBUS_MERKLE_HASH_SIZE);
            *path_len += CERTBUS_MERKLE_HASH_SIZE;
        }
    if (i < count)
        return certbus_fail (CERTBUS_E_FIELD,
                             "%s path: %zu hashes, not all of 32 bytes or more than %d", which,
                             count, CERTBUS_MERKLE_PROOF_MAX);
    return CERTBUS_OK;
}

//  Checks that the leaf is the AuditRecord of the publish of message_id
//  at the reply's index, and keeps its origin
static certbus_err_t
s_check_record (const Certbus__ProofReply *reply, const uint8_t *message_id,
                certbus_proof_result_t *result)
{
    Certbus__AuditRecord *record = NULL;
    certbus_err_t rc = certbus_codec_decode (&certbus__audit_record__descriptor, reply->leaf.data,
                                             reply->leaf.len, CERTBUS_MAX_PACKET,
                                             CERTBUS_MAX_REPEATED, (void **) &record);
    if (rc) {
        result->failed = CERTBUS_PROOF_RECORD;
        return rc;
    }
    bool matches = record->message_id.len == CERTBUS_ID_SIZE
                   && memcmp (record->message_id.data, message_id, CERTBUS_ID_SIZE) == 0
                   && streq (record->event, "publish") && record->index == reply->leaf_index;
    snprintf (result->origin, sizeof result->origin, "%s", record->org);
    certbus_codec_free (record);
    if (!matches) {
        result->failed = CERTBUS_PROOF_OTHER_RECORD;
        return certbus_fail (CERTBUS_E_FIELD,
                             "the audit record is not the publish of this "
                             "message at index %llu",
                             (unsigned long long) reply->leaf_index);
    }
    return CERTBUS_OK;
}

certbus_err_t
certbus_proof_verify_inclusion (const uint8_t *leaf_hash, uint64_t leaf_index,
                                const certbus_tree_head_t *head, const ProtobufCBinaryData *path,
                                size_t count)
{
    assert (leaf_hash);
    assert (head);
    uint8_t joined [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t joined_len;
    certbus_err_t rc = s_path_join ("inclusion", path, count, joined, &joined_len);
    if (rc)
        return rc;
    return certbus_merkle_verify_inclusion (leaf_hash, CERTBUS_MERKLE_HASH_SIZE, leaf_index,
                                            head->size, joined, joined_len, head->root,
                                            sizeof head->root);
}

certbus_err_t
certbus_proof_verify_consistency (const certbus_tree_head_t *old_head,
                                  const certbus_tree_head_t *head, const ProtobufCBinaryData *path,
                                  size_t count)
{
    assert (old_head);
    assert (head);
    uint8_t joined [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t joined_len;
    certbus_err_t rc = s_path_join ("consistency", path, count, joined, &joined_len);
    if (rc)
        return rc;
    return certbus_merkle_verify_consistency (old_head->size, head->size, joined, joined_len,
                                              old_head->root, sizeof old_head->root, head->root,
                                              sizeof head->root);
}

certbus_err_t
certbus_proof_verify (const Certbus__ProofReply *reply, const uint8_t *broker_key,
                      const uint8_t *message_id, const certbus_tree_head_t *old_head,
                      certbus_proof_result_t *result)
{
    assert (reply);
    assert (broker_key);
    assert (message_id);
    assert (result);
    memset (result, 0, sizeof *result);
    result->index = reply->leaf_index;
    certbus_err_t rc = certbus_tree_head_verify (reply->tree_head.data, reply->tree_head.len,
                                                 broker_key, &result->head);
    if (rc) {
        memset (&result->head, 0, sizeof result->head);
        result->failed = CERTBUS_PROOF_HEAD;
        return rc;
    }
    rc = s_check_record (reply, message_id, result);
    if (rc)
        return rc;
    uint8_t leaf [CERTBUS_MERKLE_HASH_SIZE];
    certbus_merkle_leaf_hash (leaf, reply->leaf.data, reply->leaf.len);
    rc = certbus_proof_verify_inclusion (leaf, reply->leaf_index, &result->head, reply->inclusion,
                                         reply->n_inclusion);
    if (rc) {
        result->failed = CERTBUS_PROOF_INCLUSION;
        return rc;
    }
    if (!old_head)
        return CERTBUS_OK;
    if (result->head.size < old_head->size) {
        result->failed = CERTBUS_PROOF_ROLLED_BACK;
        return certbus_fail (CERTBUS_E_FIELD,
                             "the tree head (size %llu) is older than one "
                             "already seen (size %llu)",
                             (unsigned long long) result->head.size,
                             (unsigned long long) old_head->size);
    }
    rc = certbus_proof_verify_consistency (old_head, &result->head, reply->consistency,
                                           reply->n_consistency);
    if (rc)
        result->failed = CERTBUS_PROOF_CONSISTENCY;
    return rc;
}
