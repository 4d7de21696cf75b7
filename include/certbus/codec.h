/*  codec.h - bounded encode and decode of every certbus protobuf message
    SPDX-License-Identifier: MPL-2.0

    The only place that calls protobuf-c's pack and unpack. Hostile bytes are
    capped in size before unpack, and after it every string is checked for
    UTF-8 and length, every repeated field for count, and the top-level
    version for a major version we know. Signed and hashed bytes must be the
    one canonical encoding; unsigned packets may be any valid encoding, as
    other protobuf libraries write them.
*/
#ifndef CERTBUS_CODEC_H_INCLUDED
#define CERTBUS_CODEC_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "util.h"
#include "proto/certbus.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_WIRE_MAJOR 1
#define CERTBUS_MAX_PACKET (24u * 1024 * 1024)    //  one ZeroMQ message
#define CERTBUS_MAX_ENVELOPE (20u * 1024 * 1024)  //  one serialised envelope
#define CERTBUS_MAX_PAYLOAD (16u * 1024 * 1024)   //  one plaintext payload
#define CERTBUS_MAX_RECIPIENTS 10000              //  recipients of one envelope
#define CERTBUS_MAX_MEMBERS 100000                //  certificates in a directory
#define CERTBUS_MAX_DIRECTORY (64u * 1024 * 1024) //  one serialised directory
#define CERTBUS_MAX_STRING 4096                   //  any string field
#define CERTBUS_MAX_NAME 128                      //  ids, kinds, tiers, topics
#define CERTBUS_MAX_REPEATED 200000               //  any repeated field

//  Decodes size bytes as desc's message. Refuses more than max_size bytes,
//  malformed data, strings that are not UTF-8, longer than
//  CERTBUS_MAX_STRING or holding a NUL byte (CERTBUS_E_DECODE), repeated
//  fields longer than max_repeated, a version other than CERTBUS_WIRE_MAJOR,
//  and any encoding but the canonical one (what certbus_codec_encode
//  writes): use it for bytes that are signed or hashed. On success *msg_p
//  is the caller's, to free with certbus_codec_free.
certbus_err_t
    certbus_codec_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                          size_t max_size, size_t max_repeated, void **msg_p) CERTBUS_WARN_UNUSED;

//  As certbus_codec_decode, but accepts any valid encoding (defaults
//  written out, fields repeated or out of order), for unsigned messages
//  such as a Packet.
certbus_err_t
    certbus_codec_decode_unsigned (const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                   size_t size, size_t max_size, size_t max_repeated,
                                   void **msg_p) CERTBUS_WARN_UNUSED;

//  Frees a message returned by certbus_codec_decode. Accepts NULL.
void
    certbus_codec_free (void *msg);

//  A bytes field pointing at size bytes of data (borrowed, not copied):
//  for messages built on the stack around the caller's buffers.
ProtobufCBinaryData
    certbus_codec_bytes (const void *data, size_t size);

//  Serialises a message into a new malloc buffer; never fails.
uint8_t *
    certbus_codec_encode (const void *msg, size_t *size_p);

#ifdef __cplusplus
}
#endif

#endif
