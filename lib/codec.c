/*  codec.c - bounded encode and decode of every certbus protobuf message
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

//  Walks every field of msg by its descriptor: protobuf-c checks wire
//  structure only, not what the strings hold or how many items arrived.
static certbus_err_t
s_check (const ProtobufCMessage *msg, size_t max_repeated, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (depth > 4)
        return certbus_fail (CERTBUS_E_DECODE, "%s nests too deeply", desc->name);
    //  protobuf-c refuses field number 0 only in a one-byte tag; spelt in
    //  more bytes it becomes an unknown field that re-encodes as a tag it
    //  then refuses, so a message we accept could not be forwarded.
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields [i].tag == 0)
            return certbus_fail (CERTBUS_E_DECODE, "%s has a field numbered 0", desc->name);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields [i];
        const uint8_t *base = (const uint8_t *) msg;
        //  Members of a oneof share storage: look only at the one that is set
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            && *(const uint32_t *) (base + field->quantifier_offset) != field->id)
            continue;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *) (base + field->quantifier_offset);
            if (count > max_repeated)
                return certbus_fail (CERTBUS_E_TOO_LARGE, "%s.%s has %zu items, more than %zu",
                                     desc->name, field->name, count, max_repeated);
            void *const *items = *(void *const *const *) (base + field->offset);
            for (size_t j = 0; j < count; j++) {
                if (field->type == PROTOBUF_C_TYPE_STRING) {
                    const char *s = ((const char *const *) items) [j];
                    if (s && !certbus_utf8_valid (s, CERTBUS_MAX_STRING))
                        return certbus_fail (CERTBUS_E_FIELD,
                                             "%s.%s is not valid UTF-8 of at most %d bytes",
                                             desc->name, field->name, CERTBUS_MAX_STRING);
                }
                else if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
                    certbus_err_t rc = s_check (items [j], max_repeated, depth + 1);
                    if (rc)
                        return rc;
                }
            }
        }
        else if (field->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = *(const char *const *) (base + field->offset);
            if (s && !certbus_utf8_valid (s, CERTBUS_MAX_STRING))
                return certbus_fail (CERTBUS_E_FIELD,
                                     "%s.%s is not valid UTF-8 of at most %d bytes", desc->name,
                                     field->name, CERTBUS_MAX_STRING);
        }
        else if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) (base + field->offset);
            if (sub) {
                certbus_err_t rc = s_check (sub, max_repeated, depth + 1);
                if (rc)
                    return rc;
            }
        }
    }
    return CERTBUS_OK;
}

//  Reads one varint at *p, not past end. Returns false when it runs past
//  end or past ten bytes.
static bool
s_varint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

//  Walks the wire bytes of one message of type desc and refuses a NUL byte
//  inside any field the descriptor calls a string, at any depth.
//  protobuf-c hands strings over as C strings: one with a NUL inside would
//  be read shorter than it was sent or signed. protobuf-c has unpacked
//  these bytes already, so they are well formed; every bound is checked
//  again all the same.
static certbus_err_t
s_check_nul (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size, int depth)
{
    if (depth > 8)
        return certbus_fail (CERTBUS_E_DECODE, "%s nests too deeply", desc->name);
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        uint64_t tag, skip;
        if (!s_varint (&p, end, &tag))
            return certbus_fail (CERTBUS_E_DECODE, "%s has a malformed tag", desc->name);
        switch (tag & 7) {
            case 0:
                if (!s_varint (&p, end, &skip))
                    return certbus_fail (CERTBUS_E_DECODE, "%s has a malformed varint", desc->name);
                continue;
            case 1:
                skip = 8;
                break;
            case 5:
                skip = 4;
                break;
            case 2: {
                if (!s_varint (&p, end, &skip) || skip > (uint64_t) (end - p))
                    return certbus_fail (CERTBUS_E_DECODE, "%s has a truncated field", desc->name);
                const ProtobufCFieldDescriptor *field
                    = (tag >> 3) <= UINT32_MAX
                          ? protobuf_c_message_descriptor_get_field (desc, (unsigned) (tag >> 3))
                          : NULL;
                if (field && field->type == PROTOBUF_C_TYPE_STRING && memchr (p, 0, skip))
                    return certbus_fail (CERTBUS_E_DECODE, "%s.%s holds a NUL byte", desc->name,
                                         field->name);
                if (field && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                    certbus_err_t rc = s_check_nul (field->descriptor, p, skip, depth + 1);
                    if (rc)
                        return rc;
                }
                break;
            }
            default:
                return certbus_fail (CERTBUS_E_DECODE, "%s has an unknown wire type", desc->name);
        }
        if (skip > (uint64_t) (end - p))
            return certbus_fail (CERTBUS_E_DECODE, "%s has a truncated field", desc->name);
        p += skip;
    }
    return CERTBUS_OK;
}

//  The decoder behind both entry points; canonical asks that the bytes be
//  exactly what certbus_codec_encode writes for the decoded message.
static certbus_err_t
s_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size, size_t max_size,
          size_t max_repeated, bool canonical, void **msg_p)
{
    assert (desc);
    assert (msg_p);
    *msg_p = NULL;
    const char *name = desc->short_name;
    if (size > max_size)
        return certbus_fail (CERTBUS_E_TOO_LARGE, "%s of %zu bytes exceeds the limit of %zu", name,
                             size, max_size);
    if (size == 0 || !data)
        return certbus_fail (CERTBUS_E_DECODE, "%s is empty", name);
    ProtobufCMessage *msg = protobuf_c_message_unpack (desc, NULL, size, data);
    if (!msg)
        return certbus_fail (CERTBUS_E_DECODE, "%s is malformed or truncated", name);
    certbus_err_t rc = s_check_nul (desc, data, size, 0);
    if (rc == CERTBUS_OK)
        rc = s_check (msg, max_repeated, 0);
    if (rc == CERTBUS_OK) {
        const ProtobufCFieldDescriptor *version
            = protobuf_c_message_descriptor_get_field_by_name (desc, "version");
        if (version && version->type == PROTOBUF_C_TYPE_UINT32) {
            uint32_t v = *(const uint32_t *) ((const uint8_t *) msg + version->offset);
            if (v != CERTBUS_WIRE_MAJOR)
                rc = certbus_fail (CERTBUS_E_VERSION,
                                   "%s has major version %u; this build knows version %d", name, v,
                                   CERTBUS_WIRE_MAJOR);
        }
    }
    //  Signed and hashed bytes have one encoding: a default written out, a
    //  field repeated or out of order re-encodes to other bytes, so what was
    //  signed would not be what a re-encoder forwards.
    if (rc == CERTBUS_OK && canonical && protobuf_c_message_get_packed_size (msg) != size)
        rc = certbus_fail (CERTBUS_E_DECODE, "%s is not canonically encoded (a redundant encoding)",
                           name);
    if (rc != CERTBUS_OK) {
        protobuf_c_message_free_unpacked (msg, NULL);
        return rc;
    }
    *msg_p = msg;
    return CERTBUS_OK;
}

certbus_err_t
certbus_codec_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                      size_t max_size, size_t max_repeated, void **msg_p)
{
    return s_decode (desc, data, size, max_size, max_repeated, true, msg_p);
}

certbus_err_t
certbus_codec_decode_unsigned (const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                               size_t size, size_t max_size, size_t max_repeated, void **msg_p)
{
    return s_decode (desc, data, size, max_size, max_repeated, false, msg_p);
}

void
certbus_codec_free (void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked (msg, NULL);
}

uint8_t *
certbus_codec_encode (const void *msg, size_t *size_p)
{
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = certbus_malloc (size ? size : 1);
    protobuf_c_message_pack (msg, buf);
    *size_p = size;
    return buf;
}

ProtobufCBinaryData
certbus_codec_bytes (const void *data, size_t size)
{
    ProtobufCBinaryData bytes = {size, (uint8_t *) data};
    return bytes;
}
