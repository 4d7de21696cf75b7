/*  packet.h - one protobuf Packet per ZeroMQ message, sent and received
    SPDX-License-Identifier: MPL-2.0

    Every packet the bus carries has a typed sender here, taking plain C
    types: the engines never fill protobuf-c structs. Each sender sends one
    ZeroMQ message on sock, preceded by a copy of routing when routing is
    not NULL (for ROUTER sockets), sets the packet's version, and returns 0,
    or -1 with zmq_errno () telling why (EHOSTUNREACH, EAGAIN). Strings
    given as NULL are sent empty. Nothing passed in is kept or freed.
*/
#ifndef CERTBUS_PACKET_H_INCLUDED
#define CERTBUS_PACKET_H_INCLUDED

#include <czmq.h>
#include "codec.h"

#ifdef __cplusplus
extern "C" {
#endif

//  How the broker answered a Publish (the Status enum of the .proto)
typedef enum {
    CERTBUS_PUBACK_UNSPECIFIED = 0, //  decided nothing (never sent as such)
    CERTBUS_PUBACK_ACCEPTED = 1,    //  stored and routed
    CERTBUS_PUBACK_REJECTED = 2,    //  refused; code and reason say why
    CERTBUS_PUBACK_DUPLICATE = 3    //  accepted earlier: same sequence and time
} certbus_puback_status_t;

//  A PubAck, the broker's answer to one Publish
typedef struct {
    const uint8_t *message_id;      //  the envelope's id, or NULL when unknown
    size_t message_id_size;         //  CERTBUS_ID_SIZE, or 0
    certbus_puback_status_t status; //  accepted, rejected or duplicate
    certbus_err_t code;             //  why it was rejected, else CERTBUS_OK
    const char *reason;             //  for the operator, or NULL
    const char *rule;               //  the policy rule that decided, or NULL
    uint64_t sequence;              //  the broker's message sequence
    int64_t accepted_at;            //  unix milliseconds
    char *const *participants;      //  a case's participants, sorted
    size_t participant_count;       //  0 outside an incident case
} certbus_puback_t;

//  A Deliver, one queued message for one recipient
typedef struct {
    uint64_t sequence;       //  per-recipient delivery sequence
    const uint8_t *envelope; //  serialised Envelope, the recipient's key only
    size_t envelope_size;
    int64_t accepted_at;       //  unix milliseconds
    uint64_t message_sequence; //  the broker's message sequence
    char *const *participants; //  a case's participants, sorted
    size_t participant_count;  //  0 outside an incident case
} certbus_deliver_t;

//  A ProofReply: an audit record and the proofs that tie it to a tree head
typedef struct {
    certbus_err_t code;  //  CERTBUS_OK, or why there is no proof
    const char *reason;  //  when code is set, or NULL
    uint64_t leaf_index; //  the record's index in the log
    const uint8_t *leaf; //  the audit record bytes
    size_t leaf_size;
    const uint8_t *inclusion; //  inclusion_count hashes of 32 bytes, end to end
    size_t inclusion_count;
    const uint8_t *consistency; //  consistency_count hashes of 32 bytes
    size_t consistency_count;
    const uint8_t *tree_head; //  serialised TreeHead
    size_t tree_head_size;
} certbus_proof_reply_t;

//  Sends packet as it stands (see the file comment). Prefer a typed sender.
int
    certbus_packet_send (zsock_t *sock, zframe_t *routing, Certbus__Packet *packet);

//  Sends a Hello: from a node, the deliveries it accepts in flight and the
//  directory version it holds; from the broker, the window it granted and
//  its directory version. agent names the software.
int
    certbus_packet_send_hello (zsock_t *sock, zframe_t *routing, uint32_t credit,
                               uint64_t directory_serial, const char *agent);

//  Sends a Publish packet carrying envelope (size bytes).
int
    certbus_packet_send_publish (zsock_t *sock, zframe_t *routing, const uint8_t *envelope,
                                 size_t size);

//  Sends a PubAck.
int
    certbus_packet_send_puback (zsock_t *sock, zframe_t *routing, const certbus_puback_t *ack);

//  Sends a Deliver.
int
    certbus_packet_send_deliver (zsock_t *sock, zframe_t *routing,
                                 const certbus_deliver_t *deliver);

//  Sends a DeliverAck of count sequences, of which the refused_count in
//  refused failed verification (each of them is also in sequences).
int
    certbus_packet_send_deliver_ack (zsock_t *sock, zframe_t *routing, const uint64_t *sequences,
                                     size_t count, const uint64_t *refused, size_t refused_count);

//  Sends a DirectoryRequest: the broker answers with its directory.
int
    certbus_packet_send_directory_request (zsock_t *sock, zframe_t *routing);

//  Sends a DirectoryReply carrying a serialised Directory of size bytes.
int
    certbus_packet_send_directory_reply (zsock_t *sock, zframe_t *routing, const uint8_t *directory,
                                         size_t size);

//  Sends a Ping at time (unix milliseconds); the broker adds its directory
//  version, a node sends 0.
int
    certbus_packet_send_ping (zsock_t *sock, zframe_t *routing, int64_t time,
                              uint64_t directory_serial);

//  Sends a Pong echoing the time of the Ping it answers.
int
    certbus_packet_send_pong (zsock_t *sock, zframe_t *routing, int64_t time);

//  Sends a ProofRequest for the message id (id_size bytes), with a
//  consistency proof from a tree of old_size records (0 for none).
int
    certbus_packet_send_proof_request (zsock_t *sock, zframe_t *routing, const uint8_t *message_id,
                                       size_t id_size, uint64_t old_size);

//  Sends a ProofReply.
int
    certbus_packet_send_proof_reply (zsock_t *sock, zframe_t *routing,
                                     const certbus_proof_reply_t *reply);

//  Sends an Error with code and reason.
int
    certbus_packet_send_error (zsock_t *sock, zframe_t *routing, certbus_err_t code,
                               const char *reason);

//  Decodes one frame as a Packet, in any valid protobuf encoding, bounded
//  by CERTBUS_MAX_PACKET. On success *packet_p is the caller's (free with
//  certbus_codec_free).
certbus_err_t
    certbus_packet_decode (zframe_t *frame, Certbus__Packet **packet_p) CERTBUS_WARN_UNUSED;

//  The name of a packet's body case, for logs ("publish", "hello", ...).
const char *
    certbus_packet_name (const Certbus__Packet *packet);

#ifdef __cplusplus
}
#endif

#endif
