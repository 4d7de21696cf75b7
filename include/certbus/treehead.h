/*  treehead.h - signed tree heads of the broker's audit log
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_TREEHEAD_H_INCLUDED
#define CERTBUS_TREEHEAD_H_INCLUDED

#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t size;     //  records covered
    int64_t timestamp; //  unix milliseconds
    uint8_t root [32]; //  RFC 6962 root of those records
} certbus_tree_head_t;

//  Signs a tree head with the broker's Ed25519 key. Returns the serialised
//  TreeHead in a new buffer.
uint8_t *
    certbus_tree_head_sign (certbus_identity_t *broker, const certbus_tree_head_t *head,
                            size_t *size_p);

//  Decodes a serialised TreeHead and checks its signature against the
//  broker's public key.
certbus_err_t
    certbus_tree_head_verify (const uint8_t *bytes, size_t size, const uint8_t *broker_key,
                              certbus_tree_head_t *head) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
