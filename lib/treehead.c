/*  treehead.c - signed tree heads of the broker's audit log
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_TREE_HEAD "certbus-tree-head-v1"

uint8_t *
certbus_tree_head_sign (certbus_identity_t *broker, const certbus_tree_head_t *head,
                        size_t *size_p)
{
    Certbus__TreeHeadBody body = CERTBUS__TREE_HEAD_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.tree_size = head->size;
    body.timestamp = head->timestamp;
    body.root_hash.data = (uint8_t *) head->root;
    body.root_hash.len = sizeof head->root;
    size_t body_size;
    uint8_t *body_bytes = certbus_codec_encode (&body, &body_size);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_TREE_HEAD, body_bytes, body_size,
                  certbus_identity_sign_secret (broker));
    Certbus__TreeHead signed_head = CERTBUS__TREE_HEAD__INIT;
    signed_head.version = CERTBUS_WIRE_MAJOR;
    signed_head.body.data = body_bytes;
    signed_head.body.len = body_size;
    signed_head.signature.data = sig;
    signed_head.signature.len = sizeof sig;
    uint8_t *bytes = certbus_codec_encode (&signed_head, size_p);
    free (body_bytes);
    return bytes;
}

certbus_err_t
certbus_tree_head_verify (const uint8_t *bytes, size_t size, const uint8_t *broker_key,
                          certbus_tree_head_t *head)
{
    Certbus__TreeHead *signed_head = NULL;
    Certbus__TreeHeadBody *body = NULL;
    certbus_err_t rc = certbus_codec_decode (&certbus__tree_head__descriptor, bytes, size, 4096,
                                             4, (void **) &signed_head);
    if (rc)
        return rc;
    if (!certbus_verify (signed_head->signature.data, signed_head->signature.len,
                         s_DOMAIN_TREE_HEAD, signed_head->body.data, signed_head->body.len,
                         broker_key, CERTBUS_KEY_SIZE)) {
        rc = certbus_fail (CERTBUS_E_SIGNATURE, "tree head is not signed by the broker's key");
        goto cleanup;
    }
    rc = certbus_codec_decode (&certbus__tree_head_body__descriptor, signed_head->body.data,
                               signed_head->body.len, 4096, 4, (void **) &body);
    if (rc)
        goto cleanup;
    if (body->root_hash.len != sizeof head->root) {
        rc = certbus_fail (CERTBUS_E_FIELD, "tree head root is not 32 bytes");
        goto cleanup;
    }
    head->size = body->tree_size;
    head->timestamp = body->timestamp;
    memcpy (head->root, body->root_hash.data, sizeof head->root);
cleanup:
    certbus_codec_free (body);
    certbus_codec_free (signed_head);
    return rc;
}
