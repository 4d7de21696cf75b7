/*  packet.c - one protobuf Packet per ZeroMQ message, sent and received
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <errno.h>
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

//  The senders below build the packet on the stack, pointing into the
//  caller's buffers: nothing is copied but the packed message.

static char *
s_text (const char *text)
{
    return (char *) (text ? text : "");
}

//  Sends body (a message of the Packet's oneof, named by body_case, which
//  is also its field number) in a Packet of its own: the oneof's members
//  share one pointer slot, found by the field descriptor
static int
s_send_body (zsock_t *sock, zframe_t *routing, Certbus__Packet__BodyCase body_case, void *body)
{
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    const ProtobufCFieldDescriptor *field
        = protobuf_c_message_descriptor_get_field (&certbus__packet__descriptor, body_case);
    assert (field && field->type == PROTOBUF_C_TYPE_MESSAGE);
    packet.body_case = body_case;
    *(void **) ((uint8_t *) &packet + field->offset) = body;
    return certbus_packet_send (sock, routing, &packet);
}

int
certbus_packet_send_hello (zsock_t *sock, zframe_t *routing, uint32_t credit,
                           uint64_t directory_serial, const char *agent)
{
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.credit = credit;
    hello.directory_serial = directory_serial;
    hello.agent = s_text (agent);
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_HELLO, &hello);
}

int
certbus_packet_send_publish (zsock_t *sock, zframe_t *routing, const uint8_t *envelope, size_t size)
{
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope = certbus_codec_bytes (envelope, size);
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_PUBLISH, &publish);
}

int
certbus_packet_send_puback (zsock_t *sock, zframe_t *routing, const certbus_puback_t *ack)
{
    assert (ack);
    Certbus__PubAck puback = CERTBUS__PUB_ACK__INIT;
    puback.message_id = certbus_codec_bytes (ack->message_id,
                                             ack->message_id ? ack->message_id_size : 0);
    puback.status = (Certbus__Status) ack->status;
    puback.code = (uint32_t) ack->code;
    puback.reason = s_text (ack->reason);
    puback.rule = s_text (ack->rule);
    puback.sequence = ack->sequence;
    puback.accepted_at = ack->accepted_at;
    puback.participants = (char **) ack->participants;
    puback.n_participants = ack->participant_count;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_PUBACK, &puback);
}

int
certbus_packet_send_deliver (zsock_t *sock, zframe_t *routing, const certbus_deliver_t *deliver)
{
    assert (deliver);
    Certbus__Deliver body = CERTBUS__DELIVER__INIT;
    body.sequence = deliver->sequence;
    body.envelope = certbus_codec_bytes (deliver->envelope, deliver->envelope_size);
    body.accepted_at = deliver->accepted_at;
    body.message_sequence = deliver->message_sequence;
    body.participants = (char **) deliver->participants;
    body.n_participants = deliver->participant_count;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_DELIVER, &body);
}

int
certbus_packet_send_deliver_ack (zsock_t *sock, zframe_t *routing, const uint64_t *sequences,
                                 size_t count, const uint64_t *refused, size_t refused_count)
{
    Certbus__DeliverAck ack = CERTBUS__DELIVER_ACK__INIT;
    ack.sequences = (uint64_t *) sequences;
    ack.n_sequences = count;
    ack.refused = (uint32_t) refused_count;
    ack.refused_sequences = (uint64_t *) refused;
    ack.n_refused_sequences = refused_count;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_DELIVER_ACK, &ack);
}

int
certbus_packet_send_directory_request (zsock_t *sock, zframe_t *routing)
{
    Certbus__DirectoryRequest request = CERTBUS__DIRECTORY_REQUEST__INIT;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_DIRECTORY_REQUEST, &request);
}

int
certbus_packet_send_directory_reply (zsock_t *sock, zframe_t *routing, const uint8_t *directory,
                                     size_t size)
{
    Certbus__DirectoryReply reply = CERTBUS__DIRECTORY_REPLY__INIT;
    reply.directory = certbus_codec_bytes (directory, size);
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_DIRECTORY_REPLY, &reply);
}

int
certbus_packet_send_ping (zsock_t *sock, zframe_t *routing, int64_t time, uint64_t directory_serial)
{
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = time;
    ping.directory_serial = directory_serial;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_PING, &ping);
}

int
certbus_packet_send_pong (zsock_t *sock, zframe_t *routing, int64_t time)
{
    Certbus__Pong pong = CERTBUS__PONG__INIT;
    pong.time = time;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_PONG, &pong);
}

int
certbus_packet_send_proof_request (zsock_t *sock, zframe_t *routing, const uint8_t *message_id,
                                   size_t id_size, uint64_t old_size)
{
    Certbus__ProofRequest request = CERTBUS__PROOF_REQUEST__INIT;
    request.message_id = certbus_codec_bytes (message_id, message_id ? id_size : 0);
    request.old_size = old_size;
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_PROOF_REQUEST, &request);
}

//  Points count items at the 32-byte hashes laid end to end in hashes
static ProtobufCBinaryData *
s_hash_items (const uint8_t *hashes, size_t count)
{
    ProtobufCBinaryData *items = certbus_calloc (count + 1, sizeof *items);
    for (size_t i = 0; i < count; i++) {
        items [i] = certbus_codec_bytes (hashes + CERTBUS_MERKLE_HASH_SIZE * i,
                                         CERTBUS_MERKLE_HASH_SIZE);
    }
    return items;
}

int
certbus_packet_send_proof_reply (zsock_t *sock, zframe_t *routing,
                                 const certbus_proof_reply_t *reply)
{
    assert (reply);
    Certbus__ProofReply body = CERTBUS__PROOF_REPLY__INIT;
    body.code = (uint32_t) reply->code;
    body.reason = s_text (reply->reason);
    body.leaf_index = reply->leaf_index;
    body.leaf = certbus_codec_bytes (reply->leaf, reply->leaf_size);
    body.inclusion = s_hash_items (reply->inclusion, reply->inclusion_count);
    body.n_inclusion = reply->inclusion_count;
    body.consistency = s_hash_items (reply->consistency, reply->consistency_count);
    body.n_consistency = reply->consistency_count;
    body.tree_head = certbus_codec_bytes (reply->tree_head, reply->tree_head_size);
    int rc = s_send_body (sock, routing, CERTBUS__PACKET__BODY_PROOF_REPLY, &body);
    int saved = errno; //  the caller reads zmq_errno () after us
    free (body.inclusion);
    free (body.consistency);
    errno = saved;
    return rc;
}

int
certbus_packet_send_error (zsock_t *sock, zframe_t *routing, certbus_err_t code, const char *reason)
{
    Certbus__Error error = CERTBUS__ERROR__INIT;
    error.code = (uint32_t) code;
    error.reason = s_text (reason);
    return s_send_body (sock, routing, CERTBUS__PACKET__BODY_ERROR, &error);
}

certbus_err_t
certbus_packet_decode (zframe_t *frame, Certbus__Packet **packet_p)
{
    //  A packet is not signed: any valid encoding will do
    certbus_err_t rc = certbus_codec_decode_unsigned (&certbus__packet__descriptor,
                                                      zframe_data (frame), zframe_size (frame),
                                                      CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED,
                                                      (void **) packet_p);
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
        case CERTBUS__PACKET__BODY_HELLO:
            return "hello";
        case CERTBUS__PACKET__BODY_PUBLISH:
            return "publish";
        case CERTBUS__PACKET__BODY_PUBACK:
            return "puback";
        case CERTBUS__PACKET__BODY_DELIVER:
            return "deliver";
        case CERTBUS__PACKET__BODY_DELIVER_ACK:
            return "deliver-ack";
        case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST:
            return "directory-request";
        case CERTBUS__PACKET__BODY_DIRECTORY_REPLY:
            return "directory-reply";
        case CERTBUS__PACKET__BODY_PING:
            return "ping";
        case CERTBUS__PACKET__BODY_PONG:
            return "pong";
        case CERTBUS__PACKET__BODY_PROOF_REQUEST:
            return "proof-request";
        case CERTBUS__PACKET__BODY_PROOF_REPLY:
            return "proof-reply";
        case CERTBUS__PACKET__BODY_ERROR:
            return "error";
        default:
            return "none";
    }
}
