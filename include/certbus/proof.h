/*  proof.h - verifying the broker's audit proofs: that the publish of a
    message is a record of the signed log, and that the log only grew
    SPDX-License-Identifier: MPL-2.0

    Pure functions on top of certbus_merkle_verify_*: a member checks a
    ProofReply against the broker's signing key and, when it has seen one,
    the older tree head it kept.
*/
#ifndef CERTBUS_PROOF_H_INCLUDED
#define CERTBUS_PROOF_H_INCLUDED

#include "codec.h"
#include "treehead.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The check of a ProofReply that failed, first to last
typedef enum {
    CERTBUS_PROOF_OK = 0,       //  every check held
    CERTBUS_PROOF_HEAD,         //  the tree head does not decode or verify
    CERTBUS_PROOF_RECORD,       //  the leaf does not decode as an AuditRecord
    CERTBUS_PROOF_OTHER_RECORD, //  the record is not the publish of the message, at its index
    CERTBUS_PROOF_INCLUSION,    //  the inclusion path does not lead to the head's root
    CERTBUS_PROOF_ROLLED_BACK,  //  the head is smaller than the older head
    CERTBUS_PROOF_CONSISTENCY   //  the head does not extend the older head
} certbus_proof_step_t;

//  What a verified (or refused) ProofReply says
typedef struct {
    certbus_proof_step_t failed;        //  CERTBUS_PROOF_OK, or the check that failed
    certbus_tree_head_t head;           //  the signed head proved against (once it verified)
    uint64_t index;                     //  the record's index in the log
    char origin [CERTBUS_MAX_NAME + 1]; //  the org whose publish it records
} certbus_proof_result_t;

//  Verifies a ProofReply for message_id: its tree head is signed by
//  broker_key (the broker's Ed25519 key); its leaf is the AuditRecord of
//  the publish of message_id at leaf_index; the inclusion path leads from
//  that leaf to the head's root; and, with old_head (NULL for none), the
//  head is no smaller than old_head and the consistency path proves that
//  it extends it. The reply's code and reason are the caller's to check
//  first. Returns CERTBUS_OK, or the error of the first check that failed
//  with the reason set and result->failed naming the check.
certbus_err_t
    certbus_proof_verify (const Certbus__ProofReply *reply, const uint8_t *broker_key,
                          const uint8_t *message_id, const certbus_tree_head_t *old_head,
                          certbus_proof_result_t *result) CERTBUS_WARN_UNUSED;

//  Verifies that leaf_hash (32 bytes) is leaf leaf_index of the tree that
//  head signs, along path: count hashes as a ProofReply carries them, each
//  32 bytes. Returns CERTBUS_OK; CERTBUS_E_FIELD for a path entry that is
//  not 32 bytes, a path too long, or an index outside the tree; or
//  CERTBUS_E_DECODE when the path does not lead to the head's root.
certbus_err_t
    certbus_proof_verify_inclusion (const uint8_t *leaf_hash, uint64_t leaf_index,
                                    const certbus_tree_head_t *head,
                                    const ProtobufCBinaryData *path,
                                    size_t count) CERTBUS_WARN_UNUSED;

//  Verifies that the tree head signs extends the tree old_head signs,
//  along path (as certbus_proof_verify_inclusion takes it). Returns
//  CERTBUS_OK, or the error of certbus_merkle_verify_consistency, or
//  CERTBUS_E_FIELD for a malformed path.
certbus_err_t
    certbus_proof_verify_consistency (const certbus_tree_head_t *old_head,
                                      const certbus_tree_head_t *head,
                                      const ProtobufCBinaryData *path,
                                      size_t count) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
