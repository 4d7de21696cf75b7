/*  codec.h - bounded encode and decode of every certbus protobuf message
    SPDX-License-Identifier: MPL-2.0

    The only place that calls protobuf-c's pack and unpack. Hostile bytes are
    capped in size before unpack, and after it every string is checked for
    UTF-8 and length, every repeated field for count, and the top-level
    version for a major version we know.
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
#define CERTBUS_MAX_PACKET (24u * 1024 * 1024)     //  one ZeroMQ message
#define CERTBUS_MAX_ENVELOPE (20u * 1024 * 1024)   //  one serialised envelope
#define CERTBUS_MAX_PAYLOAD (16u * 1024 * 1024)    //  one plaintext payload
#define CERTBUS_MAX_RECIPIENTS 10000               //  recipients of one envelope
#define CERTBUS_MAX_MEMBERS 100000                 //  certificates in a directory
#define CERTBUS_MAX_DIRECTORY (64u * 1024 * 1024)  //  one serialised directory
#define CERTBUS_MAX_STRING 4096                    //  any string field
#define CERTBUS_MAX_NAME 128                       //  ids, kinds, tiers, topics
#define CERTBUS_MAX_REPEATED 200000                //  any repeated field

//  Decodes size bytes as desc's message. Refuses more than max_size bytes,
//  malformed data, strings that are not UTF-8 or longer than
//  CERTBUS_MAX_STRING, repeated fields longer than max_repeated, and a
//  version other than CERTBUS_WIRE_MAJOR. On success *msg_p is the caller's,
//  to free with certbus_codec_free.
certbus_err_t
    certbus_codec_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                          size_t max_size, size_t max_repeated, void **msg_p) CERTBUS_WARN_UNUSED;

//  Frees a message returned by certbus_codec_decode. Accepts NULL.
void
    certbus_codec_free (void *msg);

//  Serialises a message into a new malloc buffer; never fails.
uint8_t *
    certbus_codec_encode (const void *msg, size_t *size_p);

#ifdef __cplusplus
}
#endif

#endif
