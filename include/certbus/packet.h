/*  packet.h - one protobuf Packet per ZeroMQ message, sent and received
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_PACKET_H_INCLUDED
#define CERTBUS_PACKET_H_INCLUDED

#include <czmq.h>
#include "codec.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Sends packet on sock, preceded by a copy of routing when not NULL (for
//  ROUTER sockets). Sets the packet's version. Returns 0 or -1.
int
    certbus_packet_send (zsock_t *sock, zframe_t *routing, Certbus__Packet *packet);

//  Sends a Publish packet carrying envelope (size bytes) on sock, as
//  certbus_packet_send. Returns 0 or -1.
int
    certbus_packet_send_publish (zsock_t *sock, zframe_t *routing, const uint8_t *envelope,
                                 size_t size);

//  Decodes one frame as a Packet, bounded by CERTBUS_MAX_PACKET. On
//  success *packet_p is the caller's (free with certbus_codec_free).
certbus_err_t
    certbus_packet_decode (zframe_t *frame, Certbus__Packet **packet_p) CERTBUS_WARN_UNUSED;

//  The name of a packet's body case, for logs ("publish", "hello", ...).
const char *
    certbus_packet_name (const Certbus__Packet *packet);

#ifdef __cplusplus
}
#endif

#endif
