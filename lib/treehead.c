/*  treehead.c - signed tree heads of the broker's audit log
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_TREE_HEAD "certbus-tree-head-v1"

static const certbus_signed_type_t s_tree_head_type
    = {&certbus__tree_head__descriptor, s_DOMAIN_TREE_HEAD, 4096, CERTBUS_E_SIGNATURE,
       "tree head is not signed by the broker's key"};

uint8_t *
certbus_tree_head_sign (certbus_identity_t *broker, const certbus_tree_head_t *head, size_t *size_p)
{
    Certbus__TreeHeadBody body = CERTBUS__TREE_HEAD_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.tree_size = head->size;
    body.timestamp = head->timestamp;
    body.root_hash = certbus_codec_bytes (head->root, sizeof head->root);
    return certbus_signed_wrap_message (&s_tree_head_type, &body,
                                        certbus_identity_sign_secret (broker), size_p);
}

certbus_err_t
certbus_tree_head_verify (const uint8_t *bytes, size_t size, const uint8_t *broker_key,
                          certbus_tree_head_t *head)
{
    Certbus__TreeHeadBody *body = NULL;
    certbus_err_t rc = certbus_signed_open (&s_tree_head_type, bytes, size, broker_key,
                                            &certbus__tree_head_body__descriptor, 4096, 4,
                                            (void **) &body);
    if (rc)
        return rc;
    if (body->root_hash.len != sizeof head->root) {
        rc = certbus_fail (CERTBUS_E_FIELD, "tree head root is not 32 bytes");
        goto cleanup;
    }
    head->size = body->tree_size;
    head->timestamp = body->timestamp;
    memcpy (head->root, body->root_hash.data, sizeof head->root);
cleanup:
    certbus_codec_free (body);
    return rc;
}
