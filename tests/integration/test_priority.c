/*  test_priority.c - critical messages overtake a queued backlog
    SPDX-License-Identifier: MPL-2.0

    A recipient is offline while 10,000 low-severity messages queue for it;
    a critical alert published afterwards must be in the first delivery
    window when it reconnects, and routine traffic must still flow in that
    window (the rule: up to three quarters of a window's free slots go to
    critical messages, the rest to the others).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "council.h"
#include "engine.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define s_BACKLOG 10000
#define s_WINDOW 64

typedef struct {
    certbus_identity_t *identity;
    certbus_cert_t *cert;
} s_member_t;

static char *
s_path (const char *dir, const char *name)
{
    return zsys_sprintf ("%s/%s", dir, name);
}

static void
s_enrol (const char *dir, const char *org, const uint8_t *council_key, s_member_t *member)
{
    member->identity = certbus_identity_new ();
    uint8_t *request;
    size_t size;
    assert_int_equal (certbus_request_make (member->identity, org, org, &request, &size), 0);
    char *request_path = s_path (dir, "request"), *cert_path = s_path (dir, "cert");
    assert_int_equal (certbus_file_write (request_path, request, size, 0600), 0);
    free (request);
    assert_int_equal (council_issue (dir, "national", NULL, NULL, 30, request_path, cert_path),
                      0);
    uint8_t *bytes;
    assert_int_equal (certbus_file_read (cert_path, 65536, &bytes, &size), 0);
    assert_int_equal (certbus_cert_decode (bytes, size, council_key, &member->cert), CERTBUS_OK);
    free (bytes);
    zstr_free (&request_path);
    zstr_free (&cert_path);
}

static zsock_t *
s_connect (const char *endpoint, const uint8_t *broker_curve, s_member_t *member)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey_bin (sock, broker_curve);
    zsock_set_curve_publickey_bin (sock, certbus_identity_curve_public (member->identity));
    zsock_set_curve_secretkey_bin (sock, certbus_identity_curve_secret (member->identity));
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 20000);
    zsock_set_sndhwm (sock, 0);
    assert_int_equal (zsock_connect (sock, "%s", endpoint), 0);
    return sock;
}

//  Receives packets until one of the wanted kind arrives (bounded by the
//  socket's receive timeout).
static Certbus__Packet *
s_expect (zsock_t *sock, Certbus__Packet__BodyCase want)
{
    while (true) {
        zframe_t *frame = zframe_recv (sock);
        assert_non_null (frame);
        Certbus__Packet *packet = NULL;
        assert_int_equal (certbus_packet_decode (frame, &packet), CERTBUS_OK);
        zframe_destroy (&frame);
        if (packet->body_case == want)
            return packet;
        certbus_codec_free (packet);
    }
}

static void
s_publish (zsock_t *sock, s_member_t *from, certbus_directory_t *dir, const char *to,
           const char *severity, uint8_t id [CERTBUS_ID_SIZE])
{
    certbus_seal_opts_t opts = {.kind = "alert", .tlp = "green", .audience = to,
                                .severity = severity, .content_type = "text/plain"};
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_envelope_seal (from->identity, from->cert, dir, &opts,
                                             (const uint8_t *) severity, strlen (severity), id,
                                             &bytes, &size),
                      CERTBUS_OK);
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope.data = bytes;
    publish.envelope.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    assert_int_equal (certbus_packet_send (sock, NULL, &packet), 0);
    free (bytes);
}

static void
test_critical_overtakes_backlog (void **state)
{
    (void) state;
    char dir [] = "/tmp/certbus-priority.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char *dir_path = s_path (dir, "council");
    assert_int_equal (council_init (dir_path), 0);
    uint8_t council_key [CERTBUS_KEY_SIZE], broker_curve [CERTBUS_KEY_SIZE];
    char *pub = s_path (dir_path, COUNCIL_PUB);
    assert_int_equal (certbus_pubfile_read (pub, council_key, NULL), 0);
    zstr_free (&pub);
    pub = s_path (dir_path, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (pub, NULL, broker_curve), 0);
    zstr_free (&pub);
    s_member_t sender, recipient;
    s_enrol (dir_path, "sender", council_key, &sender);
    s_enrol (dir_path, "recipient", council_key, &recipient);
    char *dir_file = s_path (dir, "directory");
    assert_int_equal (council_directory (dir_path, dir_file), 0);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_file_read (dir_file, CERTBUS_MAX_DIRECTORY, &bytes, &size), 0);
    certbus_directory_t *directory;
    assert_int_equal (certbus_directory_decode (bytes, size, council_key, 0, &directory),
                      CERTBUS_OK);
    free (bytes);

    broker_config_t config;
    broker_config_defaults (&config);
    config.dir = dir_path;
    config.bind = "tcp://127.0.0.1:*";
    config.window = s_WINDOW;
    zactor_t *broker = zactor_new (broker_engine_actor, &config);
    char *ready = zstr_recv (broker);
    assert_non_null (ready);
    assert_memory_equal (ready, "READY ", 6);
    zsock_t *out = s_connect (ready + 6, broker_curve, &sender);

    //  The backlog, then one critical alert, all acknowledged as accepted
    uint8_t id [CERTBUS_ID_SIZE], critical [CERTBUS_ID_SIZE];
    for (int i = 0; i < s_BACKLOG; i++)
        s_publish (out, &sender, directory, "org:recipient", "low", id);
    for (int i = 0; i < s_BACKLOG; i++) {
        Certbus__Packet *ack = s_expect (out, CERTBUS__PACKET__BODY_PUBACK);
        assert_int_equal (ack->puback->status, CERTBUS__STATUS__STATUS_ACCEPTED);
        certbus_codec_free (ack);
    }
    s_publish (out, &sender, directory, "org:recipient", "critical", critical);
    Certbus__Packet *ack = s_expect (out, CERTBUS__PACKET__BODY_PUBACK);
    assert_int_equal (ack->puback->status, CERTBUS__STATUS__STATUS_ACCEPTED);
    certbus_codec_free (ack);

    //  The recipient comes online: its first window
    zsock_t *in = s_connect (ready + 6, broker_curve, &recipient);
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    assert_int_equal (certbus_packet_send (in, NULL, &packet), 0);
    int critical_at = -1, routine = 0;
    for (int i = 0; i < s_WINDOW; i++) {
        Certbus__Packet *deliver = s_expect (in, CERTBUS__PACKET__BODY_DELIVER);
        certbus_envelope_t *env = NULL;
        uint8_t *payload;
        size_t payload_size;
        assert_int_equal (certbus_envelope_open (deliver->deliver->envelope.data,
                                                 deliver->deliver->envelope.len, directory,
                                                 recipient.identity, "recipient", certbus_now (),
                                                 &env, &payload, &payload_size),
                          CERTBUS_OK);
        if (memcmp (certbus_envelope_header (env)->id, critical, CERTBUS_ID_SIZE) == 0)
            critical_at = i;
        else
            routine++;
        free (payload);
        certbus_envelope_destroy (&env);
        certbus_codec_free (deliver);
    }
    printf ("critical alert delivered at position %d of the first window of %d "
            "(behind %d queued routine messages)\n",
            critical_at + 1, s_WINDOW, s_BACKLOG);
    assert_true (critical_at >= 0);
    assert_int_equal (routine, s_WINDOW - 1);

    zsock_destroy (&in);
    zsock_destroy (&out);
    zstr_free (&ready);
    zactor_destroy (&broker);
    certbus_directory_destroy (&directory);
    certbus_identity_destroy (&sender.identity);
    certbus_identity_destroy (&recipient.identity);
    certbus_cert_destroy (&sender.cert);
    certbus_cert_destroy (&recipient.cert);
    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    assert_int_equal (system (command), 0);
    zstr_free (&command);
    zstr_free (&dir_file);
    zstr_free (&dir_path);
}

int
main (void)
{
    certbus_init ();
    zsys_set_logstream (stderr);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_critical_overtakes_backlog),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
