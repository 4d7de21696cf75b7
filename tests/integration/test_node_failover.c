/*  test_node_failover.c - a node with two broker endpoints (a broker pair)
    against scripted brokers: ROUTER sockets in this test with the broker's
    real CURVE key, which speak the wire protocol packet by packet
    SPDX-License-Identifier: MPL-2.0

    The node is enrolled with "tcp://127.0.0.1:P1,tcp://127.0.0.1:P2"
    through its own init and enroll commands. Nothing listens on P1 at
    first (as a standby broker, which does not bind), so the node must
    move on to P2 and say Hello there. Then the broker on P2 goes away
    with a publish of the node still unacknowledged, and a broker binds
    P1: the node must reach P1, say Hello and send the same message (same
    id) again. The one-shot dial of the CLI paths must likewise get past
    P1 to P2. Enroll must refuse lists that are not a list of endpoints,
    each with a reason that says what is wrong.

    Nothing sleeps: every wait is a bounded receive on a socket.
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
#include "../../node/link.h"
#include "testutil.h"
#include "wire.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define s_WAIT_MS 10000 //  bound on every wait (a failure, never a timing assertion)

typedef struct {
    char *dir; //  the Council folder
    uint8_t council_key [CERTBUS_KEY_SIZE];
    char *council_pub;
    char *broker_pub;
    char *broker_secret;
    certbus_identity_t *broker; //  the broker's keys, for the scripted peers
    char first [64];            //  P1: nothing listens there at first
    zsock_t *router;            //  the scripted broker on P2, then on P1
    char second [64];           //  P2
    char list [160];            //  "P1,P2", as enrolled
    char *node_dir;
    char *request;
    char *node_cert;
    certbus_cert_t *bank; //  the node's certificate
    char *dir_v1;         //  the directory the node was enrolled with
    zactor_t *node;       //  the node engine; NULL until started
    zframe_t *routing;    //  the node's connection, as last seen
} s_fixture_t;

//  A loopback port that nothing listens on: bound by the kernel's choice,
//  then closed (a socket that never accepted leaves nothing behind)
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal (getsockname (fd, (struct sockaddr *) &addr, &len), 0);
    close (fd);
    return ntohs (addr.sin_port);
}

//  A scripted broker as tw_router_new makes one, bound on endpoint
static zsock_t *
s_router_at (certbus_identity_t *broker, const char *endpoint)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey_bin (router, certbus_identity_curve_secret (broker));
    zsock_set_linger (router, 0);
    if (zsock_bind (router, "%s", endpoint) < 0)
        fail_msg ("cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
    return router;
}

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    fx->dir = tu_tmpdir_new ();
    if (council_init (fx->dir, "sqlite:"))
        fail_msg ("council_init: %s", certbus_reason ());
    fx->council_pub = tu_path (fx->dir, COUNCIL_PUB);
    fx->broker_pub = tu_path (fx->dir, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (fx->council_pub, fx->council_key, NULL), 0);
    fx->broker_secret = tu_path (fx->dir, BROKER_SECRET);
    fx->broker = certbus_identity_load (fx->broker_secret);
    assert_non_null (fx->broker);
    snprintf (fx->first, sizeof fx->first, "tcp://127.0.0.1:%d", s_free_port ());
    fx->router = tw_router_new (fx->broker, fx->second, sizeof fx->second);
    snprintf (fx->list, sizeof fx->list, "%s,%s", fx->first, fx->second);

    fx->node_dir = tu_path (fx->dir, "bank");
    node_args_t args = {.dir = fx->node_dir, .org = "bank", .name = "Bank"};
    assert_int_equal (node_cmd_init (&args), 0);
    fx->request = tu_path (fx->node_dir, "request");
    fx->node_cert = tu_path (fx->dir, "bank.cert");
    if (council_issue (fx->dir, "organization", "banking", "punjab", 30, fx->request,
                       fx->node_cert))
        fail_msg ("council_issue: %s", certbus_reason ());
    size_t size;
    uint8_t *bytes = tu_read_file (fx->node_cert, &size);
    assert_int_equal (certbus_cert_decode (bytes, size, fx->council_key, &fx->bank), CERTBUS_OK);
    free (bytes);
    //  A second member, for the node to write to
    certbus_identity_t *alpha = certbus_identity_new ();
    assert_int_equal (certbus_request_make (alpha, "alpha", "Alpha CERT", &bytes, &size), 0);
    char *alpha_request = tu_path (fx->dir, "alpha.req");
    char *alpha_cert = tu_path (fx->dir, "alpha.cert");
    assert_int_equal (certbus_file_write (alpha_request, bytes, size, 0600), 0);
    free (bytes);
    if (council_issue (fx->dir, "national", NULL, NULL, 30, alpha_request, alpha_cert))
        fail_msg ("council_issue: %s", certbus_reason ());
    free (alpha_request);
    free (alpha_cert);
    certbus_identity_destroy (&alpha);
    fx->dir_v1 = tu_path (fx->dir, "v1.cbd");
    assert_int_equal (council_directory (fx->dir, fx->dir_v1), 0);
    args = (node_args_t){.dir = fx->node_dir,
                         .cert = fx->node_cert,
                         .broker = fx->list,
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

static void
s_node_start (s_fixture_t *fx)
{
    node_config_t config;
    node_config_defaults (&config);
    config.dir = fx->node_dir;
    fx->node = zactor_new (node_engine_actor, &config);
    tw_node_ready (fx->node);
}

//  The next packet from the node on the current scripted broker, which
//  must be of body case want
static Certbus__Packet *
s_expect (s_fixture_t *fx, Certbus__Packet__BodyCase want)
{
    Certbus__Packet *packet = tw_router_recv (fx->router, &fx->routing, s_WAIT_MS);
    if (packet->body_case != want)
        fail_msg ("the node sent a %s packet where one of case %d was expected",
                  certbus_packet_name (packet), (int) want);
    return packet;
}

//  Waits for the node's Hello on the current scripted broker and welcomes it
static void
s_hello_and_welcome (s_fixture_t *fx)
{
    Certbus__Packet *packet = s_expect (fx, CERTBUS__PACKET__BODY_HELLO);
    uint64_t serial = packet->hello->directory_serial;
    certbus_codec_free (packet);
    assert_int_equal (certbus_packet_send_hello (fx->router, fx->routing, 16, serial,
                                                 "test_node_failover"),
                      0);
}

//  The node engine's status JSON (caller frees)
static char *
s_status (s_fixture_t *fx)
{
    zstr_send (fx->node, "STATUS");
    char *json = zstr_recv (fx->node);
    assert_non_null (json);
    return json;
}

//  Puts a message from the node to alpha into its outbox, as publish
//  does before the daemon sends it; returns its id in id
static void
s_queue_message (s_fixture_t *fx, uint8_t id [CERTBUS_ID_SIZE])
{
    char *path = tu_path (fx->node_dir, "node.secret");
    certbus_identity_t *identity = certbus_identity_load (path);
    free (path);
    assert_non_null (identity);
    certbus_directory_t *directory = tu_directory_read (fx->dir_v1, fx->council_key);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:alpha",
                                .topic = "failover",
                                .severity = "low",
                                .content_type = "text/plain"};
    const char *text = "resend me on the other broker";
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_envelope_seal (identity, fx->bank, directory, &opts,
                                             (const uint8_t *) text, strlen (text), id, &bytes,
                                             &size),
                      CERTBUS_OK);
    node_ctx_t *ctx = node_ctx_open (fx->node_dir, true);
    assert_non_null (ctx);
    assert_int_equal (node_ctx_queue (ctx, bytes, size, (const uint8_t *) text, strlen (text)), 0);
    node_ctx_destroy (&ctx);
    free (bytes);
    certbus_directory_destroy (&directory);
    certbus_identity_destroy (&identity);
}

//  Waits for the node to publish the envelope with id (deliver-acks,
//  directory requests and the like on the way are skipped)
static void
s_expect_publish_of (s_fixture_t *fx, const uint8_t *id)
{
    for (int n = 0; n < 32; n++) {
        Certbus__Packet *packet = tw_router_recv (fx->router, &fx->routing, s_WAIT_MS);
        if (packet->body_case == CERTBUS__PACKET__BODY_PUBLISH) {
            certbus_envelope_t *env = NULL;
            assert_int_equal (certbus_envelope_decode (packet->publish->envelope.data,
                                                       packet->publish->envelope.len, &env),
                              CERTBUS_OK);
            bool same = memcmp (certbus_envelope_header (env)->id, id, CERTBUS_ID_SIZE) == 0;
            certbus_envelope_destroy (&env);
            certbus_codec_free (packet);
            if (!same)
                fail_msg ("the node published a message it never queued");
            return;
        }
        certbus_codec_free (packet);
    }
    fail_msg ("the node did not publish its queued message");
}

//  Case 1: nothing listens on the first endpoint; the node moves on to
//  the second and says Hello there
static void
test_moves_past_an_endpoint_that_refuses (void **state)
{
    s_fixture_t *fx = *state;
    s_node_start (fx);
    s_hello_and_welcome (fx);
    //  A Ping round trip: the welcome has been taken in
    assert_int_equal (certbus_packet_send_ping (fx->router, fx->routing, 7001, 0), 0);
    for (bool ponged = false; !ponged;) {
        Certbus__Packet *packet = tw_router_recv (fx->router, &fx->routing, s_WAIT_MS);
        ponged = packet->body_case == CERTBUS__PACKET__BODY_PONG && packet->pong->time == 7001;
        certbus_codec_free (packet);
    }
    char *json = s_status (fx);
    char broker [200], current [100];
    certbus_json_string (json, "broker", broker, sizeof broker);
    certbus_json_string (json, "broker_current", current, sizeof current);
    assert_string_equal (broker, fx->list);
    assert_string_equal (current, fx->second);
    assert_non_null (strstr (json, "\"connected\":true"));
    zstr_free (&json);
}

//  Case 2: the broker on the second endpoint goes away with a publish
//  unacknowledged; a broker binds the first one. The node reaches it,
//  says Hello, and sends the same message again; acknowledged there, it
//  leaves the outbox.
static void
test_outbox_resent_on_the_other_endpoint (void **state)
{
    s_fixture_t *fx = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    s_queue_message (fx, id);
    s_node_start (fx);
    s_hello_and_welcome (fx);
    s_expect_publish_of (fx, id);

    //  The broker on P2 is gone (its connection drops), one serves P1
    zsock_destroy (&fx->router);
    zframe_destroy (&fx->routing);
    fx->router = s_router_at (fx->broker, fx->first);
    s_hello_and_welcome (fx);
    s_expect_publish_of (fx, id);

    certbus_puback_t ack = {.message_id = id,
                            .message_id_size = CERTBUS_ID_SIZE,
                            .status = CERTBUS_PUBACK_ACCEPTED,
                            .sequence = 1,
                            .accepted_at = certbus_now_ms ()};
    assert_int_equal (certbus_packet_send_puback (fx->router, fx->routing, &ack), 0);
    //  A Ping round trip: the node has handled the ack before its Pong
    assert_int_equal (certbus_packet_send_ping (fx->router, fx->routing, 7002, 0), 0);
    for (bool ponged = false; !ponged;) {
        Certbus__Packet *packet = tw_router_recv (fx->router, &fx->routing, s_WAIT_MS);
        ponged = packet->body_case == CERTBUS__PACKET__BODY_PONG && packet->pong->time == 7002;
        certbus_codec_free (packet);
    }
    char *json = s_status (fx);
    char current [100];
    certbus_json_string (json, "broker_current", current, sizeof current);
    assert_string_equal (current, fx->first);
    assert_int_equal (certbus_json_number (json, "outbox_pending"), 0);
    zstr_free (&json);
}

//  The CLI's one-shot dial (publish without a daemon, audit prove) gets
//  past the endpoint that refuses to the one that completes the handshake
static void
test_one_shot_dial_tries_each_endpoint (void **state)
{
    s_fixture_t *fx = *state;
    node_ctx_t *ctx = node_ctx_open (fx->node_dir, true);
    assert_non_null (ctx);
    zsock_t *link = NULL;
    node_link_opts_t opts = {.send_timeout_ms = 1000};
    assert_int_equal (node_link_dial (&link, ctx, &opts, certbus_now_ms () + s_WAIT_MS), 0);
    assert_int_equal (certbus_packet_send_hello (link, NULL, 0, 0, "one-shot"), 0);
    Certbus__Packet *packet = s_expect (fx, CERTBUS__PACKET__BODY_HELLO);
    assert_string_equal (packet->hello->agent, "one-shot");
    certbus_codec_free (packet);
    zsock_destroy (&link);

    //  With no broker at all, it gives up at its deadline, saying where
    //  it looked
    zsock_destroy (&fx->router);
    assert_int_equal (node_link_dial (&link, ctx, &opts, certbus_now_ms () + 1000), -1);
    assert_null (link);
    assert_non_null (strstr (certbus_reason (), "no broker reachable at"));
    assert_non_null (strstr (certbus_reason (), fx->second));
    node_ctx_destroy (&ctx);
}

//  Enrolls the node folder with broker list; returns the exit code
static int
s_enroll (s_fixture_t *fx, const char *list)
{
    node_args_t args = {.dir = fx->node_dir,
                        .cert = fx->node_cert,
                        .broker = list,
                        .council = fx->council_pub,
                        .broker_key = fx->broker_pub};
    return node_cmd_enroll (&args);
}

//  Case 3: enroll refuses what is not a list of 1..8 distinct endpoints,
//  says why, and keeps the list it had
static void
test_enroll_refuses_bad_lists (void **state)
{
    s_fixture_t *fx = *state;
    char nine [400] = "";
    for (int i = 0; i < 9; i++)
        snprintf (nine + strlen (nine), sizeof nine - strlen (nine), "%stcp://127.0.0.1:%d",
                  i ? "," : "", 7000 + i);
    struct {
        const char *list;
        const char *reason; //  what the refusal must say
    } bad [] = {
        {"tcp://a:1,,tcp://b:2", "endpoint 2 of the list is empty"},
        {"http://x", "must start with tcp:// or ipc://"},
        {nine, "more than 8 broker endpoints"},
        {"tcp://a:1,tcp://b:2,tcp://a:1", "'tcp://a:1' is listed twice"},
        {"tcp://a:1, tcp://b:2", "holds a space"},
        {"tcp://a:1,", "endpoint 2 of the list is empty"},
        {"", "no broker endpoint"},
        {"tcp://", "names no address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        certbus_reason_clear ();
        if (s_enroll (fx, bad [i].list) == 0)
            fail_msg ("enroll accepted the broker list '%s'", bad [i].list);
        if (!strstr (certbus_reason (), bad [i].reason))
            fail_msg ("enroll refused '%s' saying '%s', not '%s'", bad [i].list, certbus_reason (),
                      bad [i].reason);
    }
    //  The node still holds the list it was enrolled with
    node_ctx_t *ctx = node_ctx_open (fx->node_dir, true);
    assert_non_null (ctx);
    assert_string_equal (ctx->endpoint, fx->list);
    assert_int_equal (node_endpoints_count (ctx->endpoints), 2);
    node_ctx_destroy (&ctx);
    //  Eight endpoints, ipc among them, are a list; so is one
    char eight [400] = "ipc:///tmp/certbus-test-failover.ipc";
    for (int i = 1; i < 8; i++)
        snprintf (eight + strlen (eight), sizeof eight - strlen (eight), ",tcp://127.0.0.1:%d",
                  7000 + i);
    assert_int_equal (s_enroll (fx, eight), 0);
    assert_int_equal (s_enroll (fx, fx->second), 0);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_moves_past_an_endpoint_that_refuses, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_outbox_resent_on_the_other_endpoint, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_one_shot_dial_tries_each_endpoint, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_enroll_refuses_bad_lists, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
