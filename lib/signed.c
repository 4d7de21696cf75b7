/*  signed.c - the signed wrapper of certificates, revocations, directories
    and tree heads
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

//  The wrapper's field called name, which must have the given type: the
//  four wrapper messages are laid out alike, and a fifth that is not would
//  be a programmer error
static const ProtobufCFieldDescriptor *
s_field (const ProtobufCMessageDescriptor *desc, const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name (desc,
                                                                                             name);
    assert (field && field->type == type && field->label != PROTOBUF_C_LABEL_REPEATED);
    return field;
}

static ProtobufCBinaryData *
s_bytes (ProtobufCMessage *msg, const char *name)
{
    const ProtobufCFieldDescriptor *field = s_field (msg->descriptor, name, PROTOBUF_C_TYPE_BYTES);
    return (ProtobufCBinaryData *) ((uint8_t *) msg + field->offset);
}

uint8_t *
certbus_signed_wrap (const certbus_signed_type_t *type, const uint8_t *body, size_t body_size,
                     const uint8_t *secret_key, size_t *size_p)
{
    assert (type && type->wrapper && type->domain);
    assert (secret_key);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, type->domain, body, body_size, secret_key);
    ProtobufCMessage *msg = certbus_calloc (1, type->wrapper->sizeof_message);
    protobuf_c_message_init (type->wrapper, msg);
    const ProtobufCFieldDescriptor *version = s_field (type->wrapper, "version",
                                                       PROTOBUF_C_TYPE_UINT32);
    *(uint32_t *) ((uint8_t *) msg + version->offset) = CERTBUS_WIRE_MAJOR;
    ProtobufCBinaryData *body_field = s_bytes (msg, "body");
    body_field->data = (uint8_t *) body;
    body_field->len = body_size;
    ProtobufCBinaryData *sig_field = s_bytes (msg, "signature");
    sig_field->data = sig;
    sig_field->len = sizeof sig;
    uint8_t *bytes = certbus_codec_encode (msg, size_p);
    free (msg); //  borrowed its buffers only
    return bytes;
}

certbus_err_t
certbus_signed_unwrap (const certbus_signed_type_t *type, const uint8_t *bytes, size_t size,
                       const uint8_t *public_key, uint8_t **body_p, size_t *body_size_p)
{
    assert (type && type->wrapper && type->domain);
    assert (body_p && body_size_p);
    *body_p = NULL;
    *body_size_p = 0;
    ProtobufCMessage *msg = NULL;
    certbus_err_t rc = certbus_codec_decode (type->wrapper, bytes, size, type->max_size, 16,
                                             (void **) &msg);
    if (rc)
        return rc;
    ProtobufCBinaryData *body = s_bytes (msg, "body");
    const ProtobufCBinaryData *sig = s_bytes (msg, "signature");
    if (!certbus_verify (sig->data, sig->len, type->domain, body->data, body->len, public_key,
                         CERTBUS_KEY_SIZE))
        rc = certbus_fail (type->refused, "%s", type->refusal);
    else {
        //  The unpacked body is a malloc buffer of its own: hand it over
        //  rather than copy a directory of many megabytes
        *body_p = body->data;
        *body_size_p = body->len;
        body->data = NULL;
        body->len = 0;
    }
    certbus_codec_free (msg);
    return rc;
}

uint8_t *
certbus_signed_wrap_message (const certbus_signed_type_t *type, const void *body,
                             const uint8_t *secret_key, size_t *size_p)
{
    size_t body_size;
    uint8_t *body_bytes = certbus_codec_encode (body, &body_size);
    uint8_t *bytes = certbus_signed_wrap (type, body_bytes, body_size, secret_key, size_p);
    free (body_bytes);
    return bytes;
}

certbus_err_t
certbus_signed_open (const certbus_signed_type_t *type, const uint8_t *bytes, size_t size,
                     const uint8_t *public_key, const ProtobufCMessageDescriptor *body_desc,
                     size_t max_size, size_t max_repeated, void **body_p)
{
    *body_p = NULL;
    uint8_t *body = NULL;
    size_t body_size = 0;
    certbus_err_t rc = certbus_signed_unwrap (type, bytes, size, public_key, &body, &body_size);
    if (rc == CERTBUS_OK)
        rc = certbus_codec_decode (body_desc, body, body_size, max_size, max_repeated, body_p);
    free (body);
    return rc;
}
