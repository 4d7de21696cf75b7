/*  test_node_acks.c - the node engine against a scripted broker peer: a
    ROUTER socket in this test, with the broker's real CURVE key, that
    speaks the wire protocol packet by packet
    SPDX-License-Identifier: MPL-2.0

    The real broker refuses a deliver-ack that lists more sequences than
    the credit window it granted. A node can hold more acknowledgements
    than that in one batch: deliveries still in its socket from before a
    broker restart plus the new session's window, or deliveries held while
    it fetches a newer directory. The test makes the second case happen on
    purpose: the scripted broker grants a window of 4, sends 10 deliveries
    from a member the node's directory does not know yet, and only then
    answers the node's directory request. Every deliver-ack the node sends
    must list at most 4 sequences, and together they must cover all 10.

    The node folder is made through the node's own init and enroll
    commands, the certificates by the Council functions certbus-broker uses.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "commands.h"
#include "council.h"
#include "../../node/engine.h"   //  the node engine, not the broker one on the include path
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_WINDOW 4                   //  credit the scripted broker grants
#define s_DELIVERIES 10              //  deliveries it sends at once
#define s_WAIT_MS 10000              //  bound on every wait

//  Next packet from the node within the bound, with its routing frame;
//  pings are answered and skipped.
static Certbus__Packet *
s_recv (zsock_t *router, zframe_t **routing_p)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    int64_t deadline = zclock_mono () + s_WAIT_MS;
    Certbus__Packet *packet = NULL;
    while (!packet) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            fail_msg ("no packet from the node within %d ms", s_WAIT_MS);
        zframe_t *routing = zframe_recv (router);
        zframe_t *frame = zframe_recv (router);
        assert_non_null (routing);
        assert_non_null (frame);
        if (certbus_packet_decode (frame, &packet) != CERTBUS_OK)
            fail_msg ("the node sent an undecodable packet: %s", certbus_reason ());
        zframe_destroy (&frame);
        if (packet->body_case == CERTBUS__PACKET__BODY_PING) {
            Certbus__Pong pong = CERTBUS__PONG__INIT;
            pong.time = packet->ping->time;
            Certbus__Packet reply = CERTBUS__PACKET__INIT;
            reply.body_case = CERTBUS__PACKET__BODY_PONG;
            reply.pong = &pong;
            assert_int_equal (certbus_packet_send (router, routing, &reply), 0);
            certbus_codec_free (packet);
            packet = NULL;
        }
        zframe_destroy (routing_p);
        *routing_p = routing;
    }
    zpoller_destroy (&poller);
    return packet;
}

//  Issues a certificate for a request file; returns the decoded certificate
static certbus_cert_t *
s_issue (const char *dir, const char *tier, const char *sector, const char *request_path,
         const char *cert_path, const uint8_t *council_key)
{
    if (council_issue (dir, tier, sector, sector ? "punjab" : NULL, 30, request_path, cert_path))
        fail_msg ("council_issue: %s", certbus_reason ());
    size_t size;
    uint8_t *bytes = tu_read_file (cert_path, &size);
    certbus_cert_t *cert = NULL;
    assert_int_equal (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
    free (bytes);
    return cert;
}

static void
test_acks_fit_the_granted_window (void **state)
{
    (void) state;
    char *dir = tu_tmpdir_new ();
    if (council_init (dir))
        fail_msg ("council_init: %s", certbus_reason ());
    uint8_t council_key [CERTBUS_KEY_SIZE];
    char *council_pub = tu_path (dir, COUNCIL_PUB);
    char *broker_pub = tu_path (dir, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (council_pub, council_key, NULL), 0);

    //  The scripted broker: the broker's own CURVE key, no ZAP handler
    char *broker_secret = tu_path (dir, BROKER_SECRET);
    certbus_identity_t *broker = certbus_identity_load (broker_secret);
    assert_non_null (broker);
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey_bin (router, certbus_identity_curve_secret (broker));
    zsock_set_linger (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);

    //  The node, made and enrolled through its own commands
    char *node_dir = tu_path (dir, "bank");
    node_args_t args = {.dir = node_dir, .org = "bank", .name = "Bank"};
    assert_int_equal (node_cmd_init (&args), 0);
    char *request = tu_path (node_dir, "request");
    char *node_cert = tu_path (dir, "bank.cert");
    certbus_cert_t *bank = s_issue (dir, "organization", "banking", request, node_cert,
                                    council_key);
    //  The node's directory knows only itself
    char *dir_v1 = tu_path (dir, "v1.cbd");
    assert_int_equal (council_directory (dir, dir_v1), 0);
    args = (node_args_t) {.dir = node_dir,
                          .cert = node_cert,
                          .broker = endpoint,
                          .council = council_pub,
                          .broker_key = broker_pub,
                          .directory = dir_v1};
    assert_int_equal (node_cmd_enroll (&args), 0);

    //  A sender enrolled afterwards, and the directory that has both
    certbus_identity_t *alpha = certbus_identity_new ();
    assert_non_null (alpha);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (alpha, "alpha", "Alpha CERT", &bytes, &size), 0);
    char *alpha_request = tu_path (dir, "alpha.req");
    char *alpha_cert_path = tu_path (dir, "alpha.cert");
    assert_int_equal (certbus_file_write (alpha_request, bytes, size, 0600), 0);
    free (bytes);
    certbus_cert_t *alpha_cert = s_issue (dir, "national", NULL, alpha_request, alpha_cert_path,
                                          council_key);
    char *dir_v2 = tu_path (dir, "v2.cbd");
    assert_int_equal (council_directory (dir, dir_v2), 0);
    size_t v2_size;
    uint8_t *v2 = tu_read_file (dir_v2, &v2_size);
    certbus_directory_t *directory = NULL;
    assert_int_equal (certbus_directory_decode (v2, v2_size, council_key, 0, &directory),
                      CERTBUS_OK);

    node_config_t config;
    node_config_defaults (&config);
    config.dir = node_dir;
    assert_true (config.credit > s_DELIVERIES);
    zactor_t *node = zactor_new (node_engine_actor, &config);
    assert_non_null (node);
    char *ready = zstr_recv (node);
    assert_non_null (ready);
    if (strncmp (ready, "READY", 5) != 0)
        fail_msg ("node did not start: %s", ready);
    zstr_free (&ready);

    //  Hello, answered with a window of 4 and the directory version 1
    zframe_t *routing = NULL;
    Certbus__Packet *packet = s_recv (router, &routing);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_HELLO);
    certbus_codec_free (packet);
    Certbus__Hello welcome = CERTBUS__HELLO__INIT;
    welcome.credit = s_WINDOW;
    welcome.directory_serial = 1;
    welcome.agent = "test_node_acks";
    Certbus__Packet reply = CERTBUS__PACKET__INIT;
    reply.body_case = CERTBUS__PACKET__BODY_HELLO;
    reply.hello = &welcome;
    assert_int_equal (certbus_packet_send (router, routing, &reply), 0);

    //  Ten deliveries from alpha, unknown to the node's directory
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:bank",
                                .topic = "acks",
                                .severity = "low",
                                .content_type = "text/plain"};
    for (int i = 0; i < s_DELIVERIES; i++) {
        char text [32];
        snprintf (text, sizeof text, "message %d", i);
        uint8_t id [CERTBUS_ID_SIZE];
        assert_int_equal (certbus_envelope_seal (alpha, alpha_cert, directory, &opts,
                                                 (const uint8_t *) text, strlen (text), id,
                                                 &bytes, &size),
                          CERTBUS_OK);
        Certbus__Deliver deliver = CERTBUS__DELIVER__INIT;
        deliver.sequence = 100 + (uint64_t) i;
        deliver.message_sequence = 1 + (uint64_t) i;
        deliver.accepted_at = certbus_now_ms ();
        deliver.envelope.data = bytes;
        deliver.envelope.len = size;
        Certbus__Packet out = CERTBUS__PACKET__INIT;
        out.body_case = CERTBUS__PACKET__BODY_DELIVER;
        out.deliver = &deliver;
        assert_int_equal (certbus_packet_send (router, routing, &out), 0);
        free (bytes);
    }

    //  The node asks for a newer directory and acknowledges nothing yet;
    //  a ping round trip proves it has taken in all ten.
    bool asked = false;
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = 4242;
    Certbus__Packet out = CERTBUS__PACKET__INIT;
    out.body_case = CERTBUS__PACKET__BODY_PING;
    out.ping = &ping;
    assert_int_equal (certbus_packet_send (router, routing, &out), 0);
    for (bool ponged = false; !ponged;) {
        packet = s_recv (router, &routing);
        if (packet->body_case == CERTBUS__PACKET__BODY_DIRECTORY_REQUEST)
            asked = true;
        else if (packet->body_case == CERTBUS__PACKET__BODY_PONG)
            ponged = packet->pong->time == 4242;
        else if (packet->body_case == CERTBUS__PACKET__BODY_DELIVER_ACK)
            fail_msg ("the node acknowledged deliveries it could not verify yet");
        certbus_codec_free (packet);
    }
    assert_true (asked);

    Certbus__DirectoryReply dir_reply = CERTBUS__DIRECTORY_REPLY__INIT;
    dir_reply.directory.data = v2;
    dir_reply.directory.len = v2_size;
    out = (Certbus__Packet) CERTBUS__PACKET__INIT;
    out.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REPLY;
    out.directory_reply = &dir_reply;
    assert_int_equal (certbus_packet_send (router, routing, &out), 0);

    //  Now every delivery is verified, stored and acknowledged, in acks
    //  no longer than the window
    bool seen [s_DELIVERIES] = {false};
    int acked = 0, acks = 0;
    while (acked < s_DELIVERIES) {
        packet = s_recv (router, &routing);
        if (packet->body_case == CERTBUS__PACKET__BODY_DELIVER_ACK) {
            Certbus__DeliverAck *ack = packet->deliver_ack;
            acks++;
            assert_int_equal (ack->refused, 0);
            if (ack->n_sequences > s_WINDOW)
                fail_msg ("a deliver-ack lists %zu sequences; the window granted is %d",
                          ack->n_sequences, s_WINDOW);
            for (size_t i = 0; i < ack->n_sequences; i++) {
                uint64_t seq = ack->sequences [i];
                assert_true (seq >= 100 && seq < 100 + s_DELIVERIES);
                assert_false (seen [seq - 100]);
                seen [seq - 100] = true;
                acked++;
            }
        }
        certbus_codec_free (packet);
    }
    print_message ("10 held deliveries acknowledged in %d deliver-acks (window %d)\n", acks,
                   s_WINDOW);
    assert_true (acks >= (s_DELIVERIES + s_WINDOW - 1) / s_WINDOW);

    zactor_destroy (&node);
    zframe_destroy (&routing);
    zsock_destroy (&router);
    certbus_directory_destroy (&directory);
    certbus_cert_destroy (&alpha_cert);
    certbus_cert_destroy (&bank);
    certbus_identity_destroy (&alpha);
    certbus_identity_destroy (&broker);
    free (v2);
    free (dir_v1);
    free (dir_v2);
    free (alpha_request);
    free (alpha_cert_path);
    free (request);
    free (node_cert);
    free (node_dir);
    free (broker_secret);
    free (council_pub);
    free (broker_pub);
    tu_tmpdir_remove (&dir);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_acks_fit_the_granted_window),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
