/*  packet.c - one protobuf Packet per ZeroMQ message, sent and received
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdlib.h>

int
certbus_packet_send (zsock_t *sock, zframe_t *routing, Certbus__Packet *packet)
{
    packet->version = CERTBUS_WIRE_MAJOR;
    size_t size = protobuf_c_message_get_packed_size (&packet->base);
    zframe_t *frame = zframe_new (NULL, size);
    protobuf_c_message_pack (&packet->base, zframe_data (frame));
    if (routing) {
        zframe_t *copy = zframe_dup (routing);
        if (zframe_send (&copy, sock, ZFRAME_MORE) != 0) {
            zframe_destroy (&copy);
            zframe_destroy (&frame);
            return -1;
        }
    }
    if (zframe_send (&frame, sock, 0) != 0) {
        zframe_destroy (&frame);
        return -1;
    }
    return 0;
}

int
certbus_packet_send_publish (zsock_t *sock, zframe_t *routing, const uint8_t *envelope,
                             size_t size)
{
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope.data = (uint8_t *) envelope;
    publish.envelope.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    return certbus_packet_send (sock, routing, &packet);
}

certbus_err_t
certbus_packet_decode (zframe_t *frame, Certbus__Packet **packet_p)
{
    //  A packet is not signed: any valid encoding will do
    certbus_err_t rc = certbus_codec_decode_unsigned (
        &certbus__packet__descriptor, zframe_data (frame), zframe_size (frame),
        CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED, (void **) packet_p);
    if (rc == CERTBUS_OK && (*packet_p)->body_case == CERTBUS__PACKET__BODY__NOT_SET) {
        certbus_codec_free (*packet_p);
        *packet_p = NULL;
        rc = certbus_fail (CERTBUS_E_PROTOCOL, "packet has no body");
    }
    return rc;
}

const char *
certbus_packet_name (const Certbus__Packet *packet)
{
    switch (packet->body_case) {
        case CERTBUS__PACKET__BODY_HELLO: return "hello";
        case CERTBUS__PACKET__BODY_PUBLISH: return "publish";
        case CERTBUS__PACKET__BODY_PUBACK: return "puback";
        case CERTBUS__PACKET__BODY_DELIVER: return "deliver";
        case CERTBUS__PACKET__BODY_DELIVER_ACK: return "deliver-ack";
        case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST: return "directory-request";
        case CERTBUS__PACKET__BODY_DIRECTORY_REPLY: return "directory-reply";
        case CERTBUS__PACKET__BODY_PING: return "ping";
        case CERTBUS__PACKET__BODY_PONG: return "pong";
        case CERTBUS__PACKET__BODY_PROOF_REQUEST: return "proof-request";
        case CERTBUS__PACKET__BODY_PROOF_REPLY: return "proof-reply";
        case CERTBUS__PACKET__BODY_ERROR: return "error";
        default: return "none";
    }
}
