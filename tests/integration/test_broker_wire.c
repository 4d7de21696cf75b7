/*  test_broker_wire.c - wire-level tests of the Council broker: the engine
    runs in-process as an actor on an ephemeral port and the tests talk to
    it over real CURVE DEALER sockets with hand-built packets
    SPDX-License-Identifier: MPL-2.0

    The fixture (a fresh folder, a Council with members alpha, bravo and
    charlie, one broker engine per test) and the method are those of
    tests/lib/wire.h: nothing here sleeps to let things settle; positive
    outcomes are awaited with bounded polls and "nothing more arrives" is
    proven with a Ping/Pong barrier on the same connection. Only the tests
    of refused connections (where no round trip is possible) use a bounded
    quiet poll, and assert nothing about timing.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "council.h"
#include "wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_BACKLOG 200          //  messages published to the slow consumer
#define s_SHORT_EXPIRY_MS 2000 //  message lifetime in the expiry test
#define s_PEER_TIMEOUT_MS 400  //  session silence limit in the session expiry test

static int
s_setup (void **state)
{
    tw_options_t options = {.agent = "test_broker_wire"};
    return tw_setup (state, &options);
}

static int
s_setup_short_expiry (void **state)
{
    tw_options_t options = {.agent = "test_broker_wire", .expiry_ms = s_SHORT_EXPIRY_MS};
    return tw_setup (state, &options);
}

static int
s_setup_short_peer_timeout (void **state)
{
    tw_options_t options = {.agent = "test_broker_wire", .peer_timeout_ms = s_PEER_TIMEOUT_MS};
    return tw_setup (state, &options);
}

//  ---------------------------------------------------------------------------
//  1. A CURVE key the Council never signed cannot reach the broker

static void
test_unknown_key_refused (void **state)
{
    tw_fixture_t *fx = *state;
    int64_t received = tw_stat (fx, "received");
    int64_t refused = tw_stat (fx, "refused_frames");

    certbus_identity_t *stranger = certbus_identity_new ();
    zsock_t *client = tw_client (fx, stranger);
    tw_send_hello (fx, client, 0);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "from a stranger", id, &size);
    tw_send_publish (client, envelope, size);
    Certbus__Packet *reply = tw_recv (client, TW_QUIET_MS);
    if (reply)
        fail_msg ("a stranger got a %s packet from the broker", certbus_packet_name (reply));
    //  Nothing reached the handlers: ZAP refused the handshake
    assert_int_equal (tw_stat (fx, "received"), received);
    assert_int_equal (tw_stat (fx, "refused_frames"), refused);
    assert_int_equal (tw_stat (fx, "accepted"), 0);

    //  Control: the broker serves a member over the same endpoint, and
    //  counts exactly its one frame
    tw_session (fx, TW_ALPHA);
    assert_int_equal (tw_stat (fx, "received"), received + 1);
    free (envelope);
    certbus_identity_destroy (&stranger);
}

//  ---------------------------------------------------------------------------
//  2. A member revoked while connected is cut off at once

static void
test_revoked_while_connected (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *client = tw_session (fx, TW_ALPHA);
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), TW_WINDOW);
    //  Sealed while alpha is still a member, so the envelope itself is good
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "after revocation", id, &size);

    if (council_revoke (fx->dir, "alpha", "test"))
        fail_msg ("council_revoke: %s", certbus_reason ());
    //  The broker sees the Council's write on its next tick and cuts alpha off
    tw_expect_error (client, CERTBUS_E_REVOKED, NULL);
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), -1);

    //  The next frame on the old connection is refused, never accepted
    tw_send_publish (client, envelope, size);
    Certbus__Packet *reply = tw_recv (client, TW_WAIT_MS);
    if (reply) {
        if (reply->body_case == CERTBUS__PACKET__BODY_PUBACK)
            fail_msg ("a revoked member's publish got a PubAck with status %d",
                      (int) reply->puback->status);
        assert_int_equal (reply->body_case, CERTBUS__PACKET__BODY_ERROR);
        assert_int_equal (reply->error->code, CERTBUS_E_REVOKED);
        certbus_codec_free (reply);
    }
    assert_int_equal (tw_stat (fx, "accepted"), 0);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    assert_int_equal (tw_stat (fx, "queued"), 0);

    //  A new connection with the revoked keys is refused by ZAP: no answer,
    //  and no frame reaches the handlers
    int64_t received = tw_stat (fx, "received");
    zsock_t *again = tw_client (fx, fx->members [TW_ALPHA].identity);
    tw_send_hello (fx, again, 0);
    tw_send_publish (again, envelope, size);
    reply = tw_recv (again, TW_QUIET_MS);
    if (reply)
        fail_msg ("a revoked member reconnected and got a %s packet", certbus_packet_name (reply));
    assert_int_equal (tw_stat (fx, "received"), received);
    assert_int_equal (tw_stat (fx, "accepted"), 0);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  3. An envelope signed by another member is refused

static void
test_origin_mismatch (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    //  Sealed and signed by bravo, sent over alpha's connection
    uint8_t *envelope = tw_seal (fx, TW_BRAVO, "org:charlie", "not mine", id, &size);
    tw_send_publish (alpha, envelope, size);
    //  Refused with a non-empty reason that names the real origin
    tw_expect_reject (alpha, id, CERTBUS_E_ORIGIN_MISMATCH, "bravo");
    assert_int_equal (tw_stat (fx, "rejected"), 1);
    assert_int_equal (tw_stat (fx, "accepted"), 0);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    assert_int_equal (tw_stat (fx, "queued"), 0);

    //  Control: the very same bytes from their real origin are accepted, so
    //  the refusal above was about the sender alone
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    tw_send_publish (bravo, envelope, size);
    tw_expect_accepted (bravo, id);
    assert_int_equal (tw_stat (fx, "accepted"), 1);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  4. A slow consumer holds exactly its window in flight; the backlog stays
//  in the database

static void
test_slow_consumer (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);

    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    static uint8_t ids [s_BACKLOG][CERTBUS_ID_SIZE];
    static char texts [s_BACKLOG][32];
    static uint8_t *envelopes [s_BACKLOG];
    static size_t sizes [s_BACKLOG];
    for (int i = 0; i < s_BACKLOG; i++) {
        snprintf (texts [i], sizeof texts [i], "backlog message %d", i);
        envelopes [i] = tw_seal (fx, TW_ALPHA, "org:charlie", texts [i], ids [i], &sizes [i]);
    }
    //  Sent in one burst, so that the broker decides many publishes in one
    //  batch (one transaction, one group commit)
    for (int i = 0; i < s_BACKLOG; i++) {
        tw_send_publish (alpha, envelopes [i], sizes [i]);
        free (envelopes [i]);
        envelopes [i] = NULL;
    }
    uint64_t last_sequence = 0;
    for (int i = 0; i < s_BACKLOG; i++) {
        uint64_t sequence = tw_expect_accepted (alpha, ids [i]);
        assert_true (sequence > last_sequence);
        last_sequence = sequence;
    }
    assert_int_equal (tw_stat (fx, "accepted"), s_BACKLOG);

    //  Charlie never acknowledges: exactly one window is in flight
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (charlie, inbox, TW_WINDOW);
    tw_barrier (fx, charlie, inbox);
    assert_int_equal (inbox->count, TW_WINDOW);
    assert_int_equal (tw_stat (fx, "deliveries"), TW_WINDOW);
    assert_int_equal (tw_session_stat (fx, "charlie", "inflight"), TW_WINDOW);
    assert_int_equal (tw_session_stat (fx, "charlie", "window"), TW_WINDOW);
    assert_int_equal (tw_session_stat (fx, "charlie", "queued"), s_BACKLOG);
    assert_int_equal (tw_stat (fx, "queued"), s_BACKLOG);
    assert_int_equal (tw_stat (fx, "messages"), s_BACKLOG);

    //  Each acknowledged window is refilled with the next one, in order,
    //  until the backlog is drained
    size_t next = 0; //  index of the next message we expect
    uint64_t last_delivery = 0;
    int64_t acked = 0;
    while (true) {
        for (size_t i = 0; i < inbox->count; i++, next++) {
            assert_true (inbox->sequences [i] > last_delivery);
            last_delivery = inbox->sequences [i];
            tw_open (fx, TW_CHARLIE, inbox->envelopes [i], inbox->sizes [i], ids [next],
                     texts [next]);
        }
        tw_send_acks (charlie, inbox->sequences, inbox->count);
        acked += (int64_t) inbox->count;
        tw_inbox_purge (inbox);
        size_t want = s_BACKLOG - next < TW_WINDOW ? s_BACKLOG - next : TW_WINDOW;
        tw_await_deliveries (charlie, inbox, want);
        tw_barrier (fx, charlie, inbox);
        assert_int_equal (inbox->count, want);
        assert_int_equal (tw_stat (fx, "acks"), acked);
        assert_int_equal (tw_stat (fx, "deliveries"), acked + (int64_t) want);
        assert_int_equal (tw_session_stat (fx, "charlie", "inflight"), want);
        assert_int_equal (tw_session_stat (fx, "charlie", "queued"), s_BACKLOG - acked);
        if (want == 0)
            break;
    }
    assert_int_equal (next, s_BACKLOG);
    assert_int_equal (tw_stat (fx, "deliveries"), s_BACKLOG);
    assert_int_equal (tw_stat (fx, "queued"), 0);
    tw_inbox_destroy (&inbox);
}

//  ---------------------------------------------------------------------------
//  5. The same envelope twice: one message, one delivery, the same sequence

static void
test_duplicate_publish (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *bravo = tw_session (fx, TW_BRAVO);

    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "say it once", id, &size);
    tw_send_publish (alpha, envelope, size);
    tw_send_publish (alpha, envelope, size);
    Certbus__Packet *first_packet = tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    Certbus__Packet *second_packet = tw_expect_puback (alpha, id,
                                                       CERTBUS__STATUS__STATUS_DUPLICATE);
    Certbus__PubAck *first = first_packet->puback, *second = second_packet->puback;
    assert_true (first->sequence > 0);
    assert_int_equal (second->sequence, first->sequence);
    assert_int_equal (second->accepted_at, first->accepted_at);
    uint64_t sequence = first->sequence;
    certbus_codec_free (first_packet);
    certbus_codec_free (second_packet);

    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (bravo, inbox, 1);
    tw_barrier (fx, bravo, inbox);
    assert_int_equal (inbox->count, 1);
    assert_int_equal (inbox->message_sequences [0], sequence);
    tw_open (fx, TW_BRAVO, inbox->envelopes [0], inbox->sizes [0], id, "say it once");
    assert_int_equal (tw_stat (fx, "accepted"), 1);
    assert_int_equal (tw_stat (fx, "duplicates"), 1);
    assert_int_equal (tw_stat (fx, "messages"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 1);
    assert_int_equal (tw_stat (fx, "deliveries"), 1);

    //  Once delivered and acknowledged, a replay is still a duplicate and
    //  queues nothing
    tw_send_acks (bravo, inbox->sequences, 1);
    tw_inbox_purge (inbox);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_stat (fx, "acks"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 0);
    tw_send_publish (alpha, envelope, size);
    Certbus__Packet *third_packet = tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (third_packet->puback->sequence, sequence);
    certbus_codec_free (third_packet);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_stat (fx, "deliveries"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 0);
    assert_int_equal (tw_stat (fx, "duplicates"), 2);
    tw_inbox_destroy (&inbox);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  6. Bad frames from a member get exact errors; the member is still served

static void
test_bad_frames (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "after the garbage", id, &size);

    //  Garbage: an endless varint is no protobuf
    uint8_t garbage [24];
    memset (garbage, 0xff, sizeof garbage);
    tw_send_raw (alpha, garbage, sizeof garbage);
    tw_expect_error (alpha, CERTBUS_E_DECODE, NULL);

    //  An empty frame
    tw_send_raw (alpha, "", 0);
    tw_expect_error (alpha, CERTBUS_E_DECODE, NULL);

    //  Two frames, the first a valid Publish of our envelope: refused whole
    size_t packed_size;
    uint8_t *packed = tw_publish_packet (envelope, size, &packed_size);
    const void *frames [] = {packed, "extra"};
    size_t frame_sizes [] = {packed_size, 5};
    tw_send_frames (alpha, frames, frame_sizes, 2);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, NULL);
    free (packed);

    //  A packet with no body
    Certbus__Packet empty = CERTBUS__PACKET__INIT;
    empty.version = CERTBUS_WIRE_MAJOR;
    packed = certbus_codec_encode (&empty, &packed_size);
    tw_send_raw (alpha, packed, packed_size);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, NULL);
    free (packed);
    assert_int_equal (tw_stat (fx, "bad_packets"), 4);

    //  The same member's good publish is accepted: not a duplicate, so the
    //  two-frame Publish above was not half-processed
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    assert_int_equal (tw_stat (fx, "accepted"), 1);
    assert_int_equal (tw_stat (fx, "messages"), 1);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  7. Expiry: messages nobody fetched in their lifetime are removed, with
//     their queued deliveries; the counts in STATS follow; service goes on

static void
test_expiry (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    for (int i = 0; i < 3; i++) {
        uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo,org:charlie", "short-lived", id,
                                     &size);
        tw_send_publish (alpha, envelope, size);
        tw_expect_accepted (alpha, id);
        free (envelope);
    }
    assert_int_equal (tw_stat (fx, "messages"), 3);
    assert_int_equal (tw_stat (fx, "queued"), 6);

    //  Nobody connects; the broker's tick removes them once they expire
    int64_t deadline = zclock_mono () + s_SHORT_EXPIRY_MS + TW_WAIT_MS;
    while (tw_stat (fx, "messages") > 0 && zclock_mono () < deadline)
        zclock_sleep (50);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    assert_int_equal (tw_stat (fx, "queued"), 0);

    //  Bravo connects later and is sent nothing
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_barrier (fx, bravo, inbox);
    assert_int_equal (inbox->count, 0);

    //  A new message still goes through, and the counts move with it
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "fresh", id, &size);
    tw_send_publish (alpha, envelope, size);
    free (envelope);
    tw_expect_accepted (alpha, id);
    tw_await_deliveries (bravo, inbox, 1);
    tw_open (fx, TW_BRAVO, inbox->envelopes [0], inbox->sizes [0], id, "fresh");
    assert_int_equal (tw_session_stat (fx, "bravo", "queued"), 1);
    tw_send_acks (bravo, inbox->sequences, inbox->count);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_session_stat (fx, "bravo", "queued"), 0);
    assert_int_equal (tw_stat (fx, "queued"), 0);
    tw_inbox_destroy (&inbox);
}

//  ---------------------------------------------------------------------------
//  8. A session silent past the peer timeout is closed and the member told
//     so; the connection then has no session until it says Hello again

static void
test_session_expiry (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    int64_t hello_at = zclock_mono ();
    tw_send_hello (fx, alpha, 0);
    assert_int_equal (tw_expect_welcome (fx, alpha), TW_WINDOW);
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), TW_WINDOW);

    //  Alpha stays silent (the broker's heartbeat Pings go unanswered, and
    //  tw_recv skips them): the broker's tick closes the session and says
    //  so on the connection, no earlier than the peer timeout after our Hello
    tw_expect_error (alpha, CERTBUS_E_SESSION_EXPIRED, NULL);
    int64_t silent = zclock_mono () - hello_at;
    if (silent < s_PEER_TIMEOUT_MS)
        fail_msg ("session expired after %lld ms of silence; the peer timeout is %d ms",
                  (long long) silent, s_PEER_TIMEOUT_MS);
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), -1);

    //  The connection is still up but has no session: a Ping is refused
    tw_send_ping (alpha, 7001);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, "no session");
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), -1);

    //  Hello on the same connection opens the session again, and it serves
    tw_send_hello (fx, alpha, 0);
    assert_int_equal (tw_expect_welcome (fx, alpha), TW_WINDOW);
    assert_int_equal (tw_session_stat (fx, "alpha", "window"), TW_WINDOW);
    tw_send_ping (alpha, 7002);
    Certbus__Packet *pong = tw_expect (alpha, CERTBUS__PACKET__BODY_PONG);
    assert_int_equal (pong->pong->time, 7002);
    certbus_codec_free (pong);
}

//  An optional argument picks tests by name (e.g. "test_slow*"), or skips
//  one ("-test_x"): see tw_main_init.
int
main (int argc, char *argv [])
{
    tw_main_init (argc, argv);
    const struct CMUnitTest tests [] = {
        TW_TEST (test_unknown_key_refused),
        TW_TEST (test_revoked_while_connected),
        TW_TEST (test_origin_mismatch),
        TW_TEST (test_slow_consumer),
        TW_TEST (test_duplicate_publish),
        TW_TEST (test_bad_frames),
        TW_TEST_WITH (test_expiry, s_setup_short_expiry),
        TW_TEST_WITH (test_session_expiry, s_setup_short_peer_timeout),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
