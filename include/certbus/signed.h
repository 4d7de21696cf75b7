/*  signed.h - the signed wrapper of certificates, revocations, directories
    and tree heads
    SPDX-License-Identifier: MPL-2.0

    Four messages share one layout: version (1), body (2), the serialised
    body exactly as signed, and signature (3), an Ed25519 signature over
    domain || 0x00 || body (certbus_sign). This module writes that wrapper
    and checks it; each class keeps its own body and its own domain.
*/
#ifndef CERTBUS_SIGNED_H_INCLUDED
#define CERTBUS_SIGNED_H_INCLUDED

#include "codec.h"

#ifdef __cplusplus
extern "C" {
#endif

//  What differs between the signed types: a constant per type, kept by the
//  class that owns the body.
typedef struct {
    const ProtobufCMessageDescriptor *wrapper; //  Certificate, Revocation, Directory, TreeHead
    const char *domain;                        //  signature domain, "certbus-certificate-v1"
    size_t max_size;                           //  bound on the serialised wrapper
    certbus_err_t refused;                     //  the code a bad signature fails with
    const char *refusal;                       //  and its reason
} certbus_signed_type_t;

//  Signs domain || 0x00 || body with secret_key (64-byte Ed25519 secret)
//  and returns the serialised wrapper of type->wrapper, version
//  CERTBUS_WIRE_MAJOR, in a new malloc buffer of *size_p bytes. Never fails.
uint8_t *
    certbus_signed_wrap (const certbus_signed_type_t *type, const uint8_t *body, size_t body_size,
                         const uint8_t *secret_key, size_t *size_p);

//  Decodes size bytes as type->wrapper (canonical, at most type->max_size)
//  and checks its signature by public_key (32 bytes). On success *body_p is
//  the signed body, a malloc buffer of *body_size_p bytes for the caller to
//  free (it may be NULL when the body is empty). Fails with the codec's code, or with
//  type->refused when the signature does not verify; then *body_p is NULL.
certbus_err_t
    certbus_signed_unwrap (const certbus_signed_type_t *type, const uint8_t *bytes, size_t size,
                           const uint8_t *public_key, uint8_t **body_p,
                           size_t *body_size_p) CERTBUS_WARN_UNUSED;

//  Serialises body (a protobuf-c message, the type's body) and wraps it as
//  certbus_signed_wrap does. Never fails.
uint8_t *
    certbus_signed_wrap_message (const certbus_signed_type_t *type, const void *body,
                                 const uint8_t *secret_key, size_t *size_p);

//  certbus_signed_unwrap, then decodes the signed body as body_desc
//  (certbus_codec_decode with max_size and max_repeated). On success
//  *body_p is the caller's, to free with certbus_codec_free; on failure it
//  is NULL, and the code is the first step's that failed.
certbus_err_t
    certbus_signed_open (const certbus_signed_type_t *type, const uint8_t *bytes, size_t size,
                         const uint8_t *public_key, const ProtobufCMessageDescriptor *body_desc,
                         size_t max_size, size_t max_repeated, void **body_p) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
