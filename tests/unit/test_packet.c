/*  test_packet.c - unit tests of the typed packet senders: each one sent
    over a real inproc ZeroMQ pair, decoded, and checked field by field
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    zsock_t *out; //  what the senders write on
    zsock_t *in;  //  what the test reads from
} s_pair_t;

static int
s_setup (void **state)
{
    s_pair_t *pair = tu_fixture_new (state, sizeof *pair);
    //  A new endpoint per test: an inproc name is released asynchronously
    static int count = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "@inproc://test-packet-%d", ++count);
    pair->in = zsock_new_pair (endpoint);
    endpoint [0] = '>';
    pair->out = zsock_new_pair (endpoint);
    assert_non_null (pair->in);
    assert_non_null (pair->out);
    zsock_set_rcvtimeo (pair->in, 5000);
    return 0;
}

static int
s_teardown (void **state)
{
    s_pair_t *pair = *state;
    zsock_destroy (&pair->out);
    zsock_destroy (&pair->in);
    free (pair);
    return 0;
}

//  Receives one message of one frame and decodes it as a Packet of the
//  given body case; the caller frees it with certbus_codec_free
static Certbus__Packet *
s_receive (zsock_t *in, Certbus__Packet__BodyCase want)
{
    zmsg_t *msg = zmsg_recv (in);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 1);
    Certbus__Packet *packet = NULL;
    tu_assert_err (certbus_packet_decode (zmsg_first (msg), &packet), CERTBUS_OK);
    zmsg_destroy (&msg);
    assert_int_equal (packet->version, CERTBUS_WIRE_MAJOR);
    assert_int_equal (packet->body_case, want);
    return packet;
}

static void
s_assert_bytes (ProtobufCBinaryData got, const void *want, size_t size)
{
    assert_int_equal (got.len, size);
    if (size)
        assert_memory_equal (got.data, want, size);
}

static void
test_hello (void **state)
{
    s_pair_t *pair = *state;
    assert_int_equal (certbus_packet_send_hello (pair->out, NULL, 64, 7, "certbus-node \xc3\xbc"),
                      0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_HELLO);
    assert_int_equal (packet->hello->credit, 64);
    assert_int_equal (packet->hello->directory_serial, 7);
    assert_string_equal (packet->hello->agent, "certbus-node \xc3\xbc");
    assert_string_equal (certbus_packet_name (packet), "hello");
    certbus_codec_free (packet);
    //  NULL is sent as the empty string
    assert_int_equal (certbus_packet_send_hello (pair->out, NULL, 0, 0, NULL), 0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_HELLO);
    assert_int_equal (packet->hello->credit, 0);
    assert_string_equal (packet->hello->agent, "");
    certbus_codec_free (packet);
}

static void
test_publish (void **state)
{
    s_pair_t *pair = *state;
    uint8_t envelope [300];
    tu_fill (envelope, sizeof envelope, 11);
    assert_int_equal (certbus_packet_send_publish (pair->out, NULL, envelope, sizeof envelope), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PUBLISH);
    s_assert_bytes (packet->publish->envelope, envelope, sizeof envelope);
    certbus_codec_free (packet);
}

static void
test_puback (void **state)
{
    s_pair_t *pair = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    tu_fill (id, sizeof id, 12);
    char *participants [] = {"cert-pk", "org-a", "org-b"};
    certbus_puback_t ack = {.message_id = id,
                            .message_id_size = sizeof id,
                            .status = CERTBUS_PUBACK_REJECTED,
                            .code = CERTBUS_E_POLICY,
                            .reason = "TLP red needs named recipients",
                            .rule = "red-named",
                            .sequence = 1234567890123ULL,
                            .accepted_at = 1700000000123LL,
                            .participants = participants,
                            .participant_count = 3};
    assert_int_equal (certbus_packet_send_puback (pair->out, NULL, &ack), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PUBACK);
    Certbus__PubAck *got = packet->puback;
    s_assert_bytes (got->message_id, id, sizeof id);
    assert_int_equal (got->status, CERTBUS__STATUS__STATUS_REJECTED);
    assert_int_equal (got->code, CERTBUS_E_POLICY);
    assert_string_equal (got->reason, ack.reason);
    assert_string_equal (got->rule, ack.rule);
    assert_int_equal (got->sequence, ack.sequence);
    assert_int_equal (got->accepted_at, ack.accepted_at);
    assert_int_equal (got->n_participants, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal (got->participants [i], participants [i]);
    certbus_codec_free (packet);

    //  The status values are the .proto's
    assert_int_equal (CERTBUS_PUBACK_UNSPECIFIED, CERTBUS__STATUS__STATUS_UNSPECIFIED);
    assert_int_equal (CERTBUS_PUBACK_ACCEPTED, CERTBUS__STATUS__STATUS_ACCEPTED);
    assert_int_equal (CERTBUS_PUBACK_REJECTED, CERTBUS__STATUS__STATUS_REJECTED);
    assert_int_equal (CERTBUS_PUBACK_DUPLICATE, CERTBUS__STATUS__STATUS_DUPLICATE);

    //  No id, no strings, no participants: an accepted ack as the empty case
    certbus_puback_t bare = {.status = CERTBUS_PUBACK_DUPLICATE, .sequence = 5};
    assert_int_equal (certbus_packet_send_puback (pair->out, NULL, &bare), 0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PUBACK);
    assert_int_equal (packet->puback->message_id.len, 0);
    assert_int_equal (packet->puback->status, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (packet->puback->code, 0);
    assert_string_equal (packet->puback->reason, "");
    assert_string_equal (packet->puback->rule, "");
    assert_int_equal (packet->puback->sequence, 5);
    assert_int_equal (packet->puback->n_participants, 0);
    certbus_codec_free (packet);
}

static void
test_deliver (void **state)
{
    s_pair_t *pair = *state;
    uint8_t envelope [500];
    tu_fill (envelope, sizeof envelope, 13);
    char *participants [] = {"org-a", "org-c"};
    certbus_deliver_t deliver = {.sequence = 42,
                                 .envelope = envelope,
                                 .envelope_size = sizeof envelope,
                                 .accepted_at = 1700000000456LL,
                                 .message_sequence = 9001,
                                 .participants = participants,
                                 .participant_count = 2};
    assert_int_equal (certbus_packet_send_deliver (pair->out, NULL, &deliver), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_DELIVER);
    Certbus__Deliver *got = packet->deliver;
    assert_int_equal (got->sequence, 42);
    s_assert_bytes (got->envelope, envelope, sizeof envelope);
    assert_int_equal (got->accepted_at, deliver.accepted_at);
    assert_int_equal (got->message_sequence, 9001);
    assert_int_equal (got->n_participants, 2);
    assert_string_equal (got->participants [0], "org-a");
    assert_string_equal (got->participants [1], "org-c");
    certbus_codec_free (packet);
}

static void
test_deliver_ack (void **state)
{
    s_pair_t *pair = *state;
    const uint64_t sequences [] = {3, 4, 5, 1ULL << 40};
    const uint64_t refused [] = {4};
    assert_int_equal (certbus_packet_send_deliver_ack (pair->out, NULL, sequences, 4, refused, 1),
                      0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_DELIVER_ACK);
    Certbus__DeliverAck *got = packet->deliver_ack;
    assert_int_equal (got->n_sequences, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (got->sequences [i], sequences [i]);
    assert_int_equal (got->refused, 1);
    assert_int_equal (got->n_refused_sequences, 1);
    assert_int_equal (got->refused_sequences [0], 4);
    certbus_codec_free (packet);
    //  Nothing refused
    assert_int_equal (certbus_packet_send_deliver_ack (pair->out, NULL, sequences, 2, NULL, 0), 0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_DELIVER_ACK);
    assert_int_equal (packet->deliver_ack->n_sequences, 2);
    assert_int_equal (packet->deliver_ack->refused, 0);
    assert_int_equal (packet->deliver_ack->n_refused_sequences, 0);
    certbus_codec_free (packet);
}

static void
test_directory_request_and_reply (void **state)
{
    s_pair_t *pair = *state;
    assert_int_equal (certbus_packet_send_directory_request (pair->out, NULL), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_DIRECTORY_REQUEST);
    assert_non_null (packet->directory_request);
    assert_int_equal (packet->directory_request->base.n_unknown_fields, 0);
    certbus_codec_free (packet);

    uint8_t directory [2000];
    tu_fill (directory, sizeof directory, 14);
    assert_int_equal (certbus_packet_send_directory_reply (pair->out, NULL, directory,
                                                           sizeof directory),
                      0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_DIRECTORY_REPLY);
    s_assert_bytes (packet->directory_reply->directory, directory, sizeof directory);
    certbus_codec_free (packet);
}

static void
test_ping_and_pong (void **state)
{
    s_pair_t *pair = *state;
    assert_int_equal (certbus_packet_send_ping (pair->out, NULL, 1700000000789LL, 17), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PING);
    assert_int_equal (packet->ping->time, 1700000000789LL);
    assert_int_equal (packet->ping->directory_serial, 17);
    certbus_codec_free (packet);

    assert_int_equal (certbus_packet_send_pong (pair->out, NULL, -5), 0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PONG);
    assert_int_equal (packet->pong->time, -5);
    certbus_codec_free (packet);
}

static void
test_proof_request (void **state)
{
    s_pair_t *pair = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    tu_fill (id, sizeof id, 15);
    assert_int_equal (certbus_packet_send_proof_request (pair->out, NULL, id, sizeof id, 77), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PROOF_REQUEST);
    s_assert_bytes (packet->proof_request->message_id, id, sizeof id);
    assert_int_equal (packet->proof_request->old_size, 77);
    certbus_codec_free (packet);
}

static void
test_proof_reply (void **state)
{
    s_pair_t *pair = *state;
    uint8_t leaf [120], head [100];
    uint8_t inclusion [3 * CERTBUS_MERKLE_HASH_SIZE], consistency [2 * CERTBUS_MERKLE_HASH_SIZE];
    tu_fill (leaf, sizeof leaf, 16);
    tu_fill (head, sizeof head, 17);
    tu_fill (inclusion, sizeof inclusion, 18);
    tu_fill (consistency, sizeof consistency, 19);
    certbus_proof_reply_t reply = {.leaf_index = 12,
                                   .leaf = leaf,
                                   .leaf_size = sizeof leaf,
                                   .inclusion = inclusion,
                                   .inclusion_count = 3,
                                   .consistency = consistency,
                                   .consistency_count = 2,
                                   .tree_head = head,
                                   .tree_head_size = sizeof head};
    assert_int_equal (certbus_packet_send_proof_reply (pair->out, NULL, &reply), 0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PROOF_REPLY);
    Certbus__ProofReply *got = packet->proof_reply;
    assert_int_equal (got->code, 0);
    assert_string_equal (got->reason, "");
    assert_int_equal (got->leaf_index, 12);
    s_assert_bytes (got->leaf, leaf, sizeof leaf);
    assert_int_equal (got->n_inclusion, 3);
    for (size_t i = 0; i < 3; i++)
        s_assert_bytes (got->inclusion [i], inclusion + CERTBUS_MERKLE_HASH_SIZE * i,
                        CERTBUS_MERKLE_HASH_SIZE);
    assert_int_equal (got->n_consistency, 2);
    for (size_t i = 0; i < 2; i++)
        s_assert_bytes (got->consistency [i], consistency + CERTBUS_MERKLE_HASH_SIZE * i,
                        CERTBUS_MERKLE_HASH_SIZE);
    s_assert_bytes (got->tree_head, head, sizeof head);
    certbus_codec_free (packet);

    //  A refusal carries its code and reason, and no proof
    certbus_proof_reply_t refusal = {.code = CERTBUS_E_NOT_FOUND, .reason = "no such message"};
    assert_int_equal (certbus_packet_send_proof_reply (pair->out, NULL, &refusal), 0);
    packet = s_receive (pair->in, CERTBUS__PACKET__BODY_PROOF_REPLY);
    got = packet->proof_reply;
    assert_int_equal (got->code, CERTBUS_E_NOT_FOUND);
    assert_string_equal (got->reason, "no such message");
    assert_int_equal (got->leaf_index, 0);
    assert_int_equal (got->leaf.len, 0);
    assert_int_equal (got->n_inclusion, 0);
    assert_int_equal (got->n_consistency, 0);
    assert_int_equal (got->tree_head.len, 0);
    certbus_codec_free (packet);
}

static void
test_error (void **state)
{
    s_pair_t *pair = *state;
    assert_int_equal (certbus_packet_send_error (pair->out, NULL, CERTBUS_E_REVOKED,
                                                 "membership revoked"),
                      0);
    Certbus__Packet *packet = s_receive (pair->in, CERTBUS__PACKET__BODY_ERROR);
    assert_int_equal (packet->error->code, CERTBUS_E_REVOKED);
    assert_string_equal (packet->error->reason, "membership revoked");
    certbus_codec_free (packet);
}

//  On a ROUTER, the routing frame goes first and reaches that peer only
static void
test_routing (void **state)
{
    (void) state;
    zsock_t *router = zsock_new_router ("inproc://test-packet-router");
    zsock_t *dealer = zsock_new_dealer (">inproc://test-packet-router");
    assert_non_null (router);
    assert_non_null (dealer);
    zsock_set_rcvtimeo (router, 5000);
    zsock_set_rcvtimeo (dealer, 5000);
    assert_int_equal (certbus_packet_send_ping (dealer, NULL, 1, 0), 0);
    zframe_t *routing = zframe_recv (router);
    assert_non_null (routing);
    assert_true (zsock_rcvmore (router));
    zframe_t *ping = zframe_recv (router);
    zframe_destroy (&ping);
    assert_int_equal (certbus_packet_send_pong (router, routing, 1), 0);
    //  The routing frame is copied, not taken
    assert_non_null (routing);
    Certbus__Packet *packet = s_receive (dealer, CERTBUS__PACKET__BODY_PONG);
    assert_int_equal (packet->pong->time, 1);
    certbus_codec_free (packet);
    zframe_destroy (&routing);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

//  A test that runs on a fresh fixture (s_setup, s_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    const struct CMUnitTest tests [] = {
        s_test (test_hello),
        s_test (test_publish),
        s_test (test_puback),
        s_test (test_deliver),
        s_test (test_deliver_ack),
        s_test (test_directory_request_and_reply),
        s_test (test_ping_and_pong),
        s_test (test_proof_request),
        s_test (test_proof_reply),
        s_test (test_error),
        cmocka_unit_test (test_routing),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
