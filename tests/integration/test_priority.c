/*  test_priority.c - critical messages overtake a queued backlog
    SPDX-License-Identifier: MPL-2.0

    A recipient is offline while 10,000 low-severity messages queue for it;
    a critical alert published afterwards must be in the first delivery
    window when it reconnects, and routine traffic must still flow in that
    window (the rule: up to three quarters of a window's free slots go to
    critical messages, the rest to the others).

    The broker runs in-process on the fixture of tests/lib/wire.h, with a
    window of s_WINDOW: alpha sends, bravo receives.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_BACKLOG 10000
#define s_WINDOW 64
#define s_RECV_MS 20000 //  bound on each packet behind the backlog

static int
s_setup (void **state)
{
    tw_options_t options = {.agent = "test_priority", .window = s_WINDOW};
    return tw_setup (state, &options);
}

//  Publishes an alert of severity (which is also its text) from alpha to
//  bravo over sock; its id goes to id.
static void
s_publish (tw_fixture_t *fx, zsock_t *sock, const char *severity, uint8_t id [CERTBUS_ID_SIZE])
{
    certbus_seal_opts_t opts = {.kind = "alert",
                                .tlp = "green",
                                .audience = "org:bravo",
                                .severity = severity,
                                .content_type = "text/plain"};
    size_t size;
    uint8_t *bytes = tw_seal_with (fx, TW_ALPHA, &opts, severity, id, &size);
    tw_send_publish (sock, bytes, size);
    free (bytes);
}

static void
test_critical_overtakes_backlog (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *out = tw_client_new (fx, fx->members [TW_ALPHA].identity);
    zsock_set_sndhwm (out, 0); //  the whole backlog may wait in the socket
    assert_int_equal (zsock_connect (out, "%s", fx->endpoint), 0);

    //  The backlog, then one critical alert, all acknowledged as accepted
    uint8_t id [CERTBUS_ID_SIZE], critical [CERTBUS_ID_SIZE];
    for (int i = 0; i < s_BACKLOG; i++)
        s_publish (fx, out, "low", id);
    for (int i = 0; i < s_BACKLOG; i++) {
        Certbus__Packet *ack = tw_expect_within (out, CERTBUS__PACKET__BODY_PUBACK, s_RECV_MS);
        assert_int_equal (ack->puback->status, CERTBUS__STATUS__STATUS_ACCEPTED);
        certbus_codec_free (ack);
    }
    s_publish (fx, out, "critical", critical);
    Certbus__Packet *ack = tw_expect_puback_within (out, critical, CERTBUS__STATUS__STATUS_ACCEPTED,
                                                    s_RECV_MS);
    certbus_codec_free (ack);

    //  The recipient comes online: its first window
    zsock_t *in = tw_session (fx, TW_BRAVO);
    tw_member_t *recipient = &fx->members [TW_BRAVO];
    int critical_at = -1, routine = 0;
    for (int i = 0; i < s_WINDOW; i++) {
        Certbus__Packet *deliver = tw_expect_within (in, CERTBUS__PACKET__BODY_DELIVER, s_RECV_MS);
        certbus_envelope_t *env = NULL;
        uint8_t *payload;
        size_t payload_size;
        assert_int_equal (certbus_envelope_open (deliver->deliver->envelope.data,
                                                 deliver->deliver->envelope.len, fx->directory,
                                                 recipient->identity, recipient->org,
                                                 certbus_now (), &env, &payload, &payload_size),
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
}

int
main (void)
{
    certbus_init ();
    zsys_set_logstream (stderr);
    const struct CMUnitTest tests [] = {
        TW_TEST (test_critical_overtakes_backlog),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
