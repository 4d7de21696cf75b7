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

    A second test checks the node's side of session expiry: told by the
    broker that its session expired (Error session-expired), a node that
    thinks it is connected says Hello again on the same connection, at
    once, while an Error with another code makes it say nothing.

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
#include "../../node/engine.h" //  the node engine, not the broker one on the include path
#include "testutil.h"
#include "wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_WINDOW 4      //  credit the scripted broker grants
#define s_DELIVERIES 10 //  deliveries it sends at once
#define s_WAIT_MS 10000 //  bound on every wait

//  Next packet from the node within the bound, with its routing frame;
//  pings are answered and skipped.
static Certbus__Packet *
s_recv (zsock_t *router, zframe_t **routing_p)
{
    return tw_router_recv (router, routing_p, s_WAIT_MS);
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

//  What every test starts from: a Council, the scripted broker bound on
//  loopback, and a node folder enrolled with a directory that knows only
//  the node itself. The node engine is started by the test.
typedef struct {
    char *dir; //  the Council folder
    uint8_t council_key [CERTBUS_KEY_SIZE];
    char *council_pub;
    char *broker_pub;
    char *broker_secret;
    certbus_identity_t *broker; //  the broker's keys, for the scripted peer
    zsock_t *router;            //  the scripted broker
    char endpoint [64];
    char *node_dir;
    char *request; //  the node's certificate request
    char *node_cert;
    certbus_cert_t *bank; //  the node's certificate
    char *dir_v1;         //  the directory the node was enrolled with
    zactor_t *node;       //  the node engine; NULL until started
    zframe_t *routing;    //  the node's connection, as last seen
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    fx->dir = tu_tmpdir_new ();
    char *dir = fx->dir;
    if (council_init (dir, "sqlite:"))
        fail_msg ("council_init: %s", certbus_reason ());
    fx->council_pub = tu_path (dir, COUNCIL_PUB);
    fx->broker_pub = tu_path (dir, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (fx->council_pub, fx->council_key, NULL), 0);

    //  The scripted broker: the broker's own CURVE key, no ZAP handler
    fx->broker_secret = tu_path (dir, BROKER_SECRET);
    fx->broker = certbus_identity_load (fx->broker_secret);
    assert_non_null (fx->broker);
    fx->router = tw_router_new (fx->broker, fx->endpoint, sizeof fx->endpoint);

    //  The node, made and enrolled through its own commands
    fx->node_dir = tu_path (dir, "bank");
    node_args_t args = {.dir = fx->node_dir, .org = "bank", .name = "Bank"};
    assert_int_equal (node_cmd_init (&args), 0);
    fx->request = tu_path (fx->node_dir, "request");
    fx->node_cert = tu_path (dir, "bank.cert");
    fx->bank = s_issue (dir, "organization", "banking", fx->request, fx->node_cert,
                        fx->council_key);
    //  The node's directory knows only itself
    fx->dir_v1 = tu_path (dir, "v1.cbd");
    assert_int_equal (council_directory (dir, fx->dir_v1), 0);
    args = (node_args_t){.dir = fx->node_dir,
                         .cert = fx->node_cert,
                         .broker = fx->endpoint,
                         .council = fx->council_pub,
                         .broker_key = fx->broker_pub,
                         .directory = fx->dir_v1};
    assert_int_equal (node_cmd_enroll (&args), 0);
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    if (!fx)
        return 0;
    zactor_destroy (&fx->node);
    zframe_destroy (&fx->routing);
    zsock_destroy (&fx->router);
    certbus_cert_destroy (&fx->bank);
    certbus_identity_destroy (&fx->broker);
    free (fx->dir_v1);
    free (fx->request);
    free (fx->node_cert);
    free (fx->node_dir);
    free (fx->broker_secret);
    free (fx->council_pub);
    free (fx->broker_pub);
    tu_tmpdir_remove (&fx->dir);
    free (fx);
    *state = NULL;
    return 0;
}

//  Starts the node engine with config (on the fixture's node folder)
static void
s_node_start (s_fixture_t *fx, node_config_t *config)
{
    config->dir = fx->node_dir;
    fx->node = zactor_new (node_engine_actor, config);
    tw_node_ready (fx->node);
}

//  Answers the node's Hello with a welcome granting credit, announcing
//  the broker's directory version serial
static void
s_send_welcome (s_fixture_t *fx, uint32_t credit, uint64_t serial)
{
    assert_int_equal (certbus_packet_send_hello (fx->router, fx->routing, credit, serial,
                                                 "test_node_acks"),
                      0);
}

//  Ten deliveries from alpha, unknown to the node's directory
static void
s_send_deliveries (s_fixture_t *fx, certbus_identity_t *alpha, certbus_cert_t *alpha_cert,
                   certbus_directory_t *directory)
{
    uint8_t *bytes;
    size_t size;
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
                                                 (const uint8_t *) text, strlen (text), id, &bytes,
                                                 &size),
                          CERTBUS_OK);
        certbus_deliver_t deliver = {.sequence = 100 + (uint64_t) i,
                                     .message_sequence = 1 + (uint64_t) i,
                                     .accepted_at = certbus_now_ms (),
                                     .envelope = bytes,
                                     .envelope_size = size};
        assert_int_equal (certbus_packet_send_deliver (fx->router, fx->routing, &deliver), 0);
        free (bytes);
    }
}

//  Now every delivery is verified, stored and acknowledged, in acks
//  no longer than the window
static void
s_await_acks (s_fixture_t *fx)
{
    bool seen [s_DELIVERIES] = {false};
    int acked = 0, acks = 0;
    while (acked < s_DELIVERIES) {
        Certbus__Packet *packet = s_recv (fx->router, &fx->routing);
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
}

static void
test_acks_fit_the_granted_window (void **state)
{
    s_fixture_t *fx = *state;
    char *dir = fx->dir;
    const uint8_t *council_key = fx->council_key;
    zsock_t *router = fx->router;

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
    assert_true (config.credit > s_DELIVERIES);
    s_node_start (fx, &config);

    //  Hello, answered with a window of 4 and the directory version 1
    Certbus__Packet *packet = s_recv (router, &fx->routing);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_HELLO);
    certbus_codec_free (packet);
    s_send_welcome (fx, s_WINDOW, 1);

    s_send_deliveries (fx, alpha, alpha_cert, directory);

    //  The node asks for a newer directory and acknowledges nothing yet;
    //  a ping round trip proves it has taken in all ten.
    bool asked = false;
    assert_int_equal (certbus_packet_send_ping (router, fx->routing, 4242, 0), 0);
    for (bool ponged = false; !ponged;) {
        packet = s_recv (router, &fx->routing);
        if (packet->body_case == CERTBUS__PACKET__BODY_DIRECTORY_REQUEST)
            asked = true;
        else if (packet->body_case == CERTBUS__PACKET__BODY_PONG)
            ponged = packet->pong->time == 4242;
        else if (packet->body_case == CERTBUS__PACKET__BODY_DELIVER_ACK)
            fail_msg ("the node acknowledged deliveries it could not verify yet");
        certbus_codec_free (packet);
    }
    assert_true (asked);

    assert_int_equal (certbus_packet_send_directory_reply (router, fx->routing, v2, v2_size), 0);

    s_await_acks (fx);
    certbus_directory_destroy (&directory);
    certbus_cert_destroy (&alpha_cert);
    certbus_identity_destroy (&alpha);
    free (v2);
    free (dir_v2);
    free (alpha_request);
    free (alpha_cert_path);
}

//  Sends the node an Error with code, then a Ping with token; returns
//  whether the node said Hello before it answered that Ping, and fails the
//  test if that Hello came on another connection than the one it was on
static bool
s_hello_before_pong (s_fixture_t *fx, certbus_err_t code, int64_t token, uint64_t serial)
{
    zframe_t *connection = zframe_dup (fx->routing);
    assert_int_equal (certbus_packet_send_error (fx->router, fx->routing, code,
                                                 certbus_err_text (code)),
                      0);
    assert_int_equal (certbus_packet_send_ping (fx->router, fx->routing, token, serial), 0);
    bool hello = false;
    for (bool ponged = false; !ponged;) {
        Certbus__Packet *packet = s_recv (fx->router, &fx->routing);
        if (packet->body_case == CERTBUS__PACKET__BODY_HELLO) {
            if (!zframe_eq (fx->routing, connection))
                fail_msg ("after error %s the node said Hello on a new connection",
                          certbus_err_name (code));
            hello = true;
        }
        else if (packet->body_case == CERTBUS__PACKET__BODY_PONG)
            ponged = packet->pong->time == token;
        certbus_codec_free (packet);
    }
    zframe_destroy (&connection);
    return hello;
}

static void
test_hello_again_after_session_expired (void **state)
{
    s_fixture_t *fx = *state;
    node_config_t config;
    node_config_defaults (&config);
    s_node_start (fx, &config);

    //  The node connects; we welcome it with the directory version it has
    Certbus__Packet *packet = s_recv (fx->router, &fx->routing);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_HELLO);
    uint64_t serial = packet->hello->directory_serial;
    certbus_codec_free (packet);
    s_send_welcome (fx, s_WINDOW, serial);

    //  Control: an Error about something else leaves the session alone
    if (s_hello_before_pong (fx, CERTBUS_E_QUOTA, 5001, serial))
        fail_msg ("the node said Hello again after a quota error");

    //  Session expired: the node says Hello again at once, on the same
    //  connection, before it answers the Ping that followed the Error (a
    //  Hello from its tick or a reconnect would not come that way)
    if (!s_hello_before_pong (fx, CERTBUS_E_SESSION_EXPIRED, 5002, serial))
        fail_msg ("the node answered a Ping after session-expired without saying Hello");

    //  Welcomed again, it is connected: it neither says Hello once more
    //  nor drops the connection
    s_send_welcome (fx, s_WINDOW, serial);
    if (s_hello_before_pong (fx, CERTBUS_E_QUOTA, 5003, serial))
        fail_msg ("the node said Hello again after it was welcomed back");
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_acks_fit_the_granted_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hello_again_after_session_expired, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
