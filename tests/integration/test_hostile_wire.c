/*  test_hostile_wire.c - hostile input from enrolled members against a live
    broker: garbage, truncation, packets out of order, frames above the
    limit, multi-frame messages, oversized recipient lists, invalid UTF-8 in
    every signed header string, replays across a restart, envelopes of
    revoked members and forged origins
    SPDX-License-Identifier: MPL-2.0

    The broker engine runs in-process on the fixture of tests/lib/wire.h
    (as in test_broker_wire.c) and each test talks to it over real CURVE
    DEALER sockets with hand-built bytes. Every case asserts the exact
    Error or PubAck code the broker answers, that the broker keeps serving
    (a Ping/Pong barrier or a good publish after it), that every refused
    publish and every bad packet left an audit row, and at the end that a
    good member still round-trips a publish to another member and that
    `audit verify` holds.

    Nothing here sleeps to let things settle (see wire.h): positive
    outcomes are awaited with bounded polls, "nothing arrives" is proven
    with a Ping/Pong barrier on the same connection (or a
    DirectoryRequest/Reply before Hello), and only a cut connection (where
    no round trip is possible) is watched with a bounded quiet poll.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "audit.h"
#include "council.h"
#include "testutil.h"
#include "wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_LONG_WAIT_MS 60000 //  bound on waits behind a very large packet
//  The domain lib/envelope.c signs envelope headers under; the tests that
//  rewrite a header re-sign it exactly as a member would.
#define s_DOMAIN_ENVELOPE "certbus-envelope-v1"

static int
s_setup (void **state)
{
    //  Every refused publish and bad packet is audited one by one here, as
    //  a Council may configure for forensics; the default aggregates a
    //  flood (test_malicious_member shows that)
    tw_options_t options = {.agent = "test_hostile_wire", .noise_burst = 1 << 30};
    return tw_setup (state, &options);
}

//  ---------------------------------------------------------------------------
//  Audit rows, read from the broker's database as an operator would

//  ---------------------------------------------------------------------------
//  Session-less requests

//  A session-less barrier: DirectoryRequest is served before Hello, in
//  order, so its reply proves the broker read everything sent before it.
static void
s_directory_barrier (zsock_t *client)
{
    assert_int_equal (certbus_packet_send_directory_request (client, NULL), 0);
    Certbus__Packet *packet = tw_expect (client, CERTBUS__PACKET__BODY_DIRECTORY_REPLY);
    assert_true (packet->directory_reply->directory.len > 0);
    certbus_codec_free (packet);
}

//  ---------------------------------------------------------------------------
//  Envelopes, rewritten

//  What s_resign changes
typedef struct {
    const char *field; //  a string field of the header, or NULL
    const char *value;
    uint64_t serial; //  origin_serial, or 0 to keep it
} s_resign_t;

static void
s_resign_edit (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    (void) env;
    s_resign_t *edit = arg;
    if (edit->field) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name (
            &certbus__envelope_header__descriptor, edit->field);
        if (!fd || fd->type != PROTOBUF_C_TYPE_STRING)
            fail_msg ("EnvelopeHeader has no string field %s", edit->field);
        tu_set_str ((char **) ((uint8_t *) hdr + fd->offset), edit->value);
    }
    if (edit->serial)
        hdr->origin_serial = edit->serial;
}

//  Rewrites the signed header of an envelope and re-signs it with signer's
//  key, as a member (or an impostor holding that key) could: string field
//  `field` (NULL: none) becomes value, and origin_serial becomes serial
//  (0: kept). Everything else travels unchanged. Returns new bytes.
static uint8_t *
s_resign (tw_fixture_t *fx, const uint8_t *bytes, size_t size, int signer, const char *field,
          const char *value, uint64_t serial, size_t *size_p)
{
    s_resign_t edit = {field, value, serial};
    return tu_envelope_resign (bytes, size,
                               certbus_identity_sign_secret (fx->members [signer].identity),
                               s_resign_edit, &edit, false, size_p);
}

//  The envelope with its recipient list replaced by count generated
//  entries (sorted, unique names m0000000..., a 48-byte key each);
//  first_name, when not NULL, replaces the first entry's name.
static uint8_t *
s_with_recipients (const uint8_t *bytes, size_t size, size_t count, const char *first_name,
                   size_t *size_p)
{
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (env);
    Certbus__RecipientKey *keys = calloc (count, sizeof *keys);
    Certbus__RecipientKey **ptrs = calloc (count, sizeof *ptrs);
    char *names = calloc (count, 16);
    uint8_t wrapped [CERTBUS_WRAPPED_KEY_SIZE];
    memset (wrapped, 0x5a, sizeof wrapped);
    assert_true (keys && ptrs && names);
    for (size_t i = 0; i < count; i++) {
        certbus__recipient_key__init (&keys [i]);
        snprintf (names + 16 * i, 16, "m%07zu", i);
        keys [i].org_id = names + 16 * i;
        keys [i].wrapped_key.data = wrapped;
        keys [i].wrapped_key.len = sizeof wrapped;
        ptrs [i] = &keys [i];
    }
    if (first_name && count)
        keys [0].org_id = (char *) first_name;
    size_t saved_count = env->n_recipients;
    Certbus__RecipientKey **saved = env->recipients;
    env->n_recipients = count;
    env->recipients = ptrs;
    uint8_t *out = certbus_codec_encode (env, size_p);
    env->n_recipients = saved_count;
    env->recipients = saved;
    certbus__envelope__free_unpacked (env, NULL);
    free (keys);
    free (ptrs);
    free (names);
    return out;
}

//  End offsets of the top-level fields of a protobuf message (wire types 0
//  and 2 only, as an Envelope has); returns how many.
static size_t
s_field_ends (const uint8_t *bytes, size_t size, size_t *ends, size_t max)
{
    size_t at = 0, count = 0;
    while (at < size && count < max) {
        uint64_t tag = 0;
        for (int shift = 0; at < size; shift += 7) {
            tag |= (uint64_t) (bytes [at] & 0x7f) << shift;
            if (!(bytes [at++] & 0x80))
                break;
        }
        uint64_t value = 0;
        for (int shift = 0; at < size; shift += 7) {
            value |= (uint64_t) (bytes [at] & 0x7f) << shift;
            if (!(bytes [at++] & 0x80))
                break;
        }
        if ((tag & 7) == 2)
            at += value;
        else
            assert_int_equal (tag & 7, 0);
        ends [count++] = at;
    }
    assert_int_equal (at, size);
    return count;
}

//  ---------------------------------------------------------------------------
//  The good path, checked after every hostile case

//  Member from publishes to member to over fresh connections; to receives
//  it (after anything queued for it before), opens it and acknowledges.
static void
s_good_roundtrip (tw_fixture_t *fx, int from, int to)
{
    zsock_t *receiver = tw_session (fx, to);
    zsock_t *sender = tw_client (fx, fx->members [from].identity);
    char audience [64], text [64];
    snprintf (audience, sizeof audience, "org:%s", fx->members [to].org);
    snprintf (text, sizeof text, "good traffic from %s to %s", fx->members [from].org,
              fx->members [to].org);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, from, audience, text, id, &size);
    tw_send_publish (sender, envelope, size);
    tw_expect_accepted (sender, id);
    free (envelope);
    bool found = false;
    for (int i = 0; i < 4 * TW_WINDOW && !found; i++) {
        Certbus__Packet *packet = tw_expect (receiver, CERTBUS__PACKET__BODY_DELIVER);
        Certbus__Deliver *deliver = packet->deliver;
        certbus_envelope_t *env = NULL;
        if (certbus_envelope_decode (deliver->envelope.data, deliver->envelope.len, &env)
                == CERTBUS_OK
            && memcmp (certbus_envelope_header (env)->id, id, CERTBUS_ID_SIZE) == 0) {
            tw_open (fx, to, deliver->envelope.data, deliver->envelope.len, id, text);
            found = true;
        }
        certbus_envelope_destroy (&env);
        uint64_t sequence = deliver->sequence;
        tw_send_acks (receiver, &sequence, 1);
        certbus_codec_free (packet);
    }
    assert_true (found);
    tw_barrier (fx, receiver, NULL);
}

//  The broker's own verifier recomputes the audit log and its signed heads.
static void
s_audit_verifies (tw_fixture_t *fx)
{
    char *json = tw_stats (fx);
    zstr_free (&json);
    if (audit_verify (fx->dir) != 0)
        fail_msg ("certbus-broker audit verify fails on %s", fx->dir);
}

//  The end of every case: a good member still round-trips a publish to
//  another (from, to) and the audit log verifies
static void
s_still_serves (tw_fixture_t *fx, int from, int to)
{
    s_good_roundtrip (fx, from, to);
    s_audit_verifies (fx);
}

//  Every publish so far was refused (rejected of them), each refusal is
//  audited, and the broker stored no message
static void
s_assert_all_rejected (tw_fixture_t *fx, int64_t rejected)
{
    assert_int_equal (tw_stat (fx, "rejected"), rejected);
    assert_int_equal (tw_audit_count (fx, "reject"), rejected);
    assert_int_equal (tw_stat (fx, "messages"), 0);
}

//  A Ping packet of time at wire version (0: none), encoded as it stands;
//  the caller frees it
static uint8_t *
s_encoded_ping (int64_t time, uint32_t version, size_t *size_p)
{
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = time;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = version;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    return certbus_codec_encode (&packet, size_p);
}

//  Known bugs, reported to the lead: a test that finds one calls s_xfail,
//  which reports the test as skipped ("expected to fail") rather than
//  failed, so that `make check` stays usable until the fix lands. Once
//  fixed, the same test passes. CERTBUS_STRICT_XFAIL=1 makes them fail.
static void
s_xfail (const char *bug)
{
    if (getenv ("CERTBUS_STRICT_XFAIL") && streq (getenv ("CERTBUS_STRICT_XFAIL"), "1"))
        fail_msg ("BUG: %s", bug);
    print_message ("EXPECTED FAILURE (known bug): %s\n", bug);
    skip ();
}

//  ---------------------------------------------------------------------------
//  1. Garbage: every frame that is no packet gets an exact Error

static void
test_garbage (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    int64_t bad = 0;

    //  An endless varint
    uint8_t ff [24];
    memset (ff, 0xff, sizeof ff);
    tw_send_raw (alpha, ff, sizeof ff);
    tw_expect_error (alpha, CERTBUS_E_DECODE, "malformed or truncated");
    bad++;
    //  One zero byte: field number 0
    tw_send_raw (alpha, "", 1);
    tw_expect_error (alpha, CERTBUS_E_DECODE, NULL);
    bad++;
    //  Somebody speaking HTTP: 'G' is field 8 with wire type 7
    const char *http = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    tw_send_raw (alpha, http, strlen (http));
    tw_expect_error (alpha, CERTBUS_E_DECODE, NULL);
    bad++;
    //  Field number 0 spelt as a two-byte tag (protobuf-c keeps it as an
    //  unknown field; the codec refuses it)
    const uint8_t zero_tag [] = {0x08, 0x01, 0x80, 0x00, 0x01};
    tw_send_raw (alpha, zero_tag, sizeof zero_tag);
    tw_expect_error (alpha, CERTBUS_E_DECODE, "numbered 0");
    bad++;
    //  A well-formed Ping of major version 2, and one with no version
    size_t packed_size;
    for (uint32_t version = 0; version <= 2; version += 2) {
        uint8_t *packed = s_encoded_ping (1, version, &packed_size);
        tw_send_raw (alpha, packed, packed_size);
        tw_expect_error (alpha, CERTBUS_E_VERSION, "major version");
        free (packed);
        bad++;
    }
    //  Only an unknown field (number 99, varint) besides the version
    const uint8_t unknown [] = {0x08, 0x01, 0x98, 0x06, 0x2a};
    tw_send_raw (alpha, unknown, sizeof unknown);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, "no body");
    bad++;
    //  A Hello whose agent string is not UTF-8
    assert_int_equal (certbus_packet_send_hello (alpha, NULL, 0, 0, "agent \xc3\x28"), 0);
    tw_expect_error (alpha, CERTBUS_E_FIELD, "Hello.agent");
    bad++;
    //  A DeliverAck with one item more than any repeated field may hold
    size_t many = CERTBUS_MAX_REPEATED + 1;
    uint64_t *sequences = calloc (many, sizeof (uint64_t));
    assert_non_null (sequences);
    for (size_t i = 0; i < many; i++)
        sequences [i] = 1000000 + i;
    tw_send_acks (alpha, sequences, many);
    tw_expect_error (alpha, CERTBUS_E_TOO_LARGE, "more than");
    bad++;
    //  ...and exactly at the decoder's limit: far more than any credit
    //  window, refused without walking the list, acknowledging nothing
    int64_t acks = tw_stat (fx, "acks");
    double start = tu_clock_ms ();
    tw_send_acks (alpha, sequences, CERTBUS_MAX_REPEATED);
    tw_expect_error (alpha, CERTBUS_E_TOO_LARGE, "credit window");
    bad++;
    tw_barrier (fx, alpha, NULL);
    print_message ("a DeliverAck of %d never-delivered sequences took the broker %.0f ms\n",
                   CERTBUS_MAX_REPEATED, tu_clock_ms () - start);
    assert_int_equal (tw_stat (fx, "acks"), acks);
    free (sequences);
    //  Pseudo-random frames of many sizes: each gets a decode-family Error,
    //  none crashes the broker or reaches a handler
    int64_t random_errors = 0;
    for (uint32_t seed = 1; seed <= 64; seed++) {
        size_t size = 1 + (seed * 7919u) % 5000;
        uint8_t *bytes = malloc (size);
        assert_non_null (bytes);
        tu_fill (bytes, size, seed);
        tw_send_raw (alpha, bytes, size);
        free (bytes);
        Certbus__Packet *reply = tw_recv (alpha, TW_WAIT_MS);
        if (!reply)
            fail_msg ("no answer to %zu random bytes (seed %u)", size, seed);
        if (reply->body_case == CERTBUS__PACKET__BODY_ERROR) {
            uint32_t code = reply->error->code;
            if (code != CERTBUS_E_DECODE && code != CERTBUS_E_VERSION && code != CERTBUS_E_FIELD
                && code != CERTBUS_E_PROTOCOL && code != CERTBUS_E_TOO_LARGE)
                fail_msg ("random bytes (seed %u) got error %s", seed,
                          certbus_err_name ((certbus_err_t) code));
            random_errors++;
        }
        else
            fail_msg ("random bytes (seed %u) got a %s packet", seed, certbus_packet_name (reply));
        certbus_codec_free (reply);
    }
    bad += random_errors;

    //  Still served, every bad packet counted and audited
    tw_barrier (fx, alpha, NULL);
    assert_int_equal (tw_stat (fx, "bad_packets"), bad);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), bad);
    assert_int_equal (tw_stat (fx, "accepted"), 0);
    s_still_serves (fx, TW_ALPHA, TW_BRAVO);
}

//  ---------------------------------------------------------------------------
//  2. Truncation: a Publish packet cut anywhere, and an envelope cut
//  anywhere inside a well-formed Publish

static void
test_truncated (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "cut me anywhere", id, &size);
    size_t packed_size;
    uint8_t *packed = tw_publish_packet (envelope, size, &packed_size);

    //  The packet cut in half
    tw_send_raw (alpha, packed, packed_size / 2);
    tw_expect_error (alpha, CERTBUS_E_DECODE, "malformed or truncated");
    int64_t bad = 1;
    //  ...and at every other length: only "08 01" (the version alone) is a
    //  whole packet, with no body
    for (size_t cut = 1; cut < packed_size; cut++) {
        if (cut == packed_size / 2)
            continue;
        tw_send_raw (alpha, packed, cut);
        if (cut == 2)
            tw_expect_error (alpha, CERTBUS_E_PROTOCOL, "no body");
        else
            tw_expect_error (alpha, CERTBUS_E_DECODE, NULL);
        bad++;
    }
    assert_int_equal (tw_stat (fx, "bad_packets"), bad);
    assert_int_equal (tw_stat (fx, "received"), bad + 1); //  and the hello

    //  The envelope cut in half inside a whole Publish: refused, no id
    tw_send_publish (alpha, envelope, size / 2);
    tw_expect_reject (alpha, NULL, CERTBUS_E_DECODE, "Envelope is malformed or truncated");
    int64_t rejected = 1;
    //  ...and at every other length. At a field boundary the prefix is a
    //  well-formed Envelope missing its later fields, and the broker names
    //  what is missing; anywhere else it is truncated protobuf.
    size_t ends [8];
    size_t fields = s_field_ends (envelope, size, ends, 8);
    assert_int_equal (fields, 5); //  version, header, signature, ciphertext, recipients
    for (size_t cut = 0; cut < size; cut++) {
        if (cut == size / 2)
            continue;
        certbus_err_t want = CERTBUS_E_DECODE;
        if (cut == ends [1])
            want = CERTBUS_E_FIELD; //  no signature
        else if (cut == ends [2])
            want = CERTBUS_E_CIPHERTEXT_HASH; //  no ciphertext
        else if (cut == ends [3])
            want = CERTBUS_E_RECIPIENTS_HASH; //  no recipient
        tw_send_publish (alpha, envelope, cut);
        Certbus__Packet *reply = tw_expect (alpha, CERTBUS__PACKET__BODY_PUBACK);
        Certbus__PubAck *ack = reply->puback;
        if (ack->status != CERTBUS__STATUS__STATUS_REJECTED || ack->code != (uint32_t) want)
            fail_msg ("envelope cut at %zu of %zu: wanted rejection %s, got status %d %s: %s", cut,
                      size, certbus_err_name (want), (int) ack->status,
                      certbus_err_name ((certbus_err_t) ack->code), ack->reason);
        certbus_codec_free (reply);
        rejected++;
    }
    s_assert_all_rejected (fx, rejected);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), bad);

    //  The whole envelope is accepted: not a duplicate, nothing half-stored
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    free (packed);
    free (envelope);
    s_still_serves (fx, TW_CHARLIE, TW_BRAVO);
}

//  ---------------------------------------------------------------------------
//  3. Every packet type out of order

//  One packet of each type only the broker may send, in a fixed order.
static void
s_send_broker_only (tw_fixture_t *fx, zsock_t *client, const uint8_t *envelope, size_t size)
{
    certbus_deliver_t deliver = {.sequence = 1, .envelope = envelope, .envelope_size = size};
    assert_int_equal (certbus_packet_send_deliver (client, NULL, &deliver), 0);

    uint8_t id [CERTBUS_ID_SIZE];
    certbus_uuid7 (id);
    certbus_puback_t puback
        = {.message_id = id, .message_id_size = sizeof id, .status = CERTBUS_PUBACK_ACCEPTED};
    assert_int_equal (certbus_packet_send_puback (client, NULL, &puback), 0);

    size_t dir_size;
    const uint8_t *directory = certbus_directory_bytes (fx->directory, &dir_size);
    assert_int_equal (certbus_packet_send_directory_reply (client, NULL, directory, dir_size), 0);

    certbus_proof_reply_t proof = {.code = CERTBUS_OK};
    assert_int_equal (certbus_packet_send_proof_reply (client, NULL, &proof), 0);

    assert_int_equal (certbus_packet_send_error (client, NULL, CERTBUS_E_INTERNAL,
                                                 "a member pretending to be the broker"),
                      0);
}

static void
s_expect_broker_only_refused (zsock_t *client)
{
    static const char *names [] = {"deliver", "puback", "directory-reply", "proof-reply", "error"};
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        char text [64];
        snprintf (text, sizeof text, "may not send a %s packet", names [i]);
        tw_expect_error (client, CERTBUS_E_PROTOCOL, text);
    }
}

static void
test_out_of_order (void **state)
{
    tw_fixture_t *fx = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "out of order", id, &size);
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);

    //  Before Hello. Packets only the broker sends: refused, audited.
    s_send_broker_only (fx, alpha, envelope, size);
    s_expect_broker_only_refused (alpha);
    //  Pong and Ping need a session
    assert_int_equal (certbus_packet_send_pong (alpha, NULL, 7), 0);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, "no session: send hello");
    tw_send_ping (alpha, 8);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, "no session: send hello");
    //  A DeliverAck of sequences never delivered: no answer, no effect
    uint64_t sequences [] = {1, 2, 3, 1000};
    tw_send_acks (alpha, sequences, 4);
    //  A ProofRequest for an unknown message: served, NOT_FOUND
    uint8_t unknown [CERTBUS_ID_SIZE];
    certbus_uuid7 (unknown);
    assert_int_equal (certbus_packet_send_proof_request (alpha, NULL, unknown, sizeof unknown, 0),
                      0);
    Certbus__Packet *reply = tw_expect (alpha, CERTBUS__PACKET__BODY_PROOF_REPLY);
    assert_int_equal (reply->proof_reply->code, CERTBUS_E_NOT_FOUND);
    certbus_codec_free (reply);
    //  DirectoryRequest is served before Hello, and proves nothing else
    //  came back for the DeliverAck
    s_directory_barrier (alpha);
    assert_int_equal (tw_stat (fx, "acks"), 0);
    //  A Publish before Hello is judged like any other
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    assert_int_equal (tw_stat (fx, "bad_packets"), 5);

    //  After Hello: the broker's packets are still refused; a Pong is fine;
    //  a second Hello gets a second welcome
    tw_send_hello (fx, alpha, 0);
    assert_int_equal (tw_expect_welcome (fx, alpha), TW_WINDOW);
    s_send_broker_only (fx, alpha, envelope, size);
    s_expect_broker_only_refused (alpha);
    assert_int_equal (certbus_packet_send_pong (alpha, NULL, 7), 0);
    tw_send_hello (fx, alpha, 4);
    assert_int_equal (tw_expect_welcome (fx, alpha), 4);
    tw_barrier (fx, alpha, NULL);
    assert_int_equal (tw_stat (fx, "bad_packets"), 10);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), 10);
    free (envelope);

    //  bravo gets alpha's message exactly once, then good traffic flows
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    reply = tw_expect (bravo, CERTBUS__PACKET__BODY_DELIVER);
    tw_open (fx, TW_BRAVO, reply->deliver->envelope.data, reply->deliver->envelope.len, id,
             "out of order");
    uint64_t sequence = reply->deliver->sequence;
    certbus_codec_free (reply);
    tw_send_acks (bravo, &sequence, 1);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_stat (fx, "acks"), 1);
    s_still_serves (fx, TW_CHARLIE, TW_ALPHA);
}

//  ---------------------------------------------------------------------------
//  4. An acknowledgement for a delivery the broker never sent

static void
test_ack_before_delivery (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "never sent yet", id, &size);
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    free (envelope);
    assert_int_equal (tw_stat (fx, "queued"), 1);

    //  bravo, without Hello (so nothing was ever delivered to it), guesses
    //  the delivery sequences and acknowledges them
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    uint64_t guesses [8];
    for (size_t i = 0; i < 8; i++)
        guesses [i] = i + 1;
    tw_send_acks (bravo, guesses, 8);
    s_directory_barrier (bravo);
    int64_t queued = tw_stat (fx, "queued");
    int64_t delivered_rows = tw_audit_count (fx, "deliver");
    print_message ("after an ack of never-delivered sequences: queued %lld, acks %lld, "
                   "'deliver' audit rows %lld\n",
                   (long long) queued, (long long) tw_stat (fx, "acks"),
                   (long long) delivered_rows);
    //  The broker never sent that delivery: it must stay queued, and the
    //  audit log must not say it was delivered
    tw_send_hello (fx, bravo, 0);
    assert_int_equal (tw_expect_welcome (fx, bravo), TW_WINDOW);
    size_t deliveries = tw_barrier_count (fx, bravo);
    if (queued != 1 || delivered_rows != 0 || deliveries != 1) {
        char bug [300];
        snprintf (bug, sizeof bug,
                  "broker/engine.c s_handle_acks: an acknowledgement of a delivery that was "
                  "never sent removed it: queued %lld (want 1), 'deliver' audit rows %lld "
                  "(want 0), deliveries after hello %zu (want 1)",
                  (long long) queued, (long long) delivered_rows, deliveries);
        s_xfail (bug);
    }
    s_good_roundtrip (fx, TW_CHARLIE, TW_ALPHA);
}

//  ---------------------------------------------------------------------------
//  5. Frames above the configured maximum

//  Waits (bounded) for event on a zmonitor actor; true when it came.
static bool
s_await_event (zactor_t *monitor, const char *event, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (monitor, NULL);
    bool seen = false;
    while (!seen) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
        zmsg_t *msg = zmsg_recv (monitor);
        if (!msg)
            break;
        char *name = zmsg_popstr (msg);
        seen = name && streq (name, event);
        zstr_free (&name);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return seen;
}

static void
test_oversized_frames (void **state)
{
    tw_fixture_t *fx = *state;
    //  A frame just under the limit reaches the broker: a Publish whose
    //  envelope is above CERTBUS_MAX_ENVELOPE is refused on decode
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    size_t big = CERTBUS_MAX_PACKET - 1024;
    uint8_t *bytes = calloc (1, CERTBUS_MAX_PACKET + 1);
    assert_non_null (bytes);
    tw_send_publish (alpha, bytes, big);
    tw_expect_reject_within (alpha, NULL, CERTBUS_E_TOO_LARGE, "exceeds the limit", s_LONG_WAIT_MS);
    tw_barrier (fx, alpha, NULL);
    int64_t received = tw_stat (fx, "received");

    //  A frame one byte above CERTBUS_MAX_PACKET: libzmq (ZMQ_MAXMSGSIZE on
    //  the ROUTER) drops the connection; nothing reaches the broker's code
    zsock_t *cut = tw_client_new (fx, fx->members [TW_ALPHA].identity);
    zsock_set_reconnect_ivl (cut, 60000); //  stay cut while we watch
    zactor_t *monitor = zactor_new (zmonitor, cut);
    assert_non_null (monitor);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_SUCCEEDED", NULL);
    zstr_sendx (monitor, "LISTEN", "DISCONNECTED", NULL);
    zstr_sendx (monitor, "START", NULL);
    zsock_wait (monitor);
    assert_int_equal (zsock_connect (cut, "%s", fx->endpoint), 0);
    tw_send_hello (fx, cut, 0);
    assert_int_equal (tw_expect_welcome (fx, cut), TW_WINDOW);
    received++;
    tw_send_raw (cut, bytes, CERTBUS_MAX_PACKET + 1);
    if (!s_await_event (monitor, "DISCONNECTED", s_LONG_WAIT_MS))
        fail_msg ("the broker kept the connection after a frame of %u bytes",
                  CERTBUS_MAX_PACKET + 1);
    Certbus__Packet *reply = tw_recv (cut, TW_QUIET_MS);
    if (reply)
        fail_msg ("a frame above the limit got a %s packet", certbus_packet_name (reply));
    zactor_destroy (&monitor);
    free (bytes);
    assert_int_equal (tw_stat (fx, "received"), received);
    assert_int_equal (tw_stat (fx, "bad_packets"), 0);

    //  A fresh connection of the same member is served
    zsock_t *again = tw_session (fx, TW_ALPHA);
    tw_barrier (fx, again, NULL);
    assert_int_equal (tw_stat (fx, "rejected"), 1);
    assert_int_equal (tw_audit_count (fx, "reject"), 1);
    s_still_serves (fx, TW_ALPHA, TW_BRAVO);
}

//  ---------------------------------------------------------------------------
//  6. Multi-frame messages

static void
test_multi_frame (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "one frame only", id, &size);
    size_t packed_size;
    uint8_t *packed = tw_publish_packet (envelope, size, &packed_size);
    const char *text = "one packet per message: extra frames refused";

    //  A good Publish followed by one, then two more frames
    const void *two [] = {packed, "extra"};
    size_t two_sizes [] = {packed_size, 5};
    tw_send_frames (alpha, two, two_sizes, 2);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    const void *three [] = {packed, "", ""};
    size_t three_sizes [] = {packed_size, 0, 0};
    tw_send_frames (alpha, three, three_sizes, 3);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  An empty frame, then the Publish
    const void *empty_first [] = {"", packed};
    size_t empty_first_sizes [] = {0, packed_size};
    tw_send_frames (alpha, empty_first, empty_first_sizes, 2);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  The same Publish 64 times in one message
    const void *many [64];
    size_t many_sizes [64];
    for (int i = 0; i < 64; i++) {
        many [i] = packed;
        many_sizes [i] = packed_size;
    }
    tw_send_frames (alpha, many, many_sizes, 64);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  A Ping with a second frame is not answered as a Ping
    size_t ping_size;
    uint8_t *ping_bytes = s_encoded_ping (99, CERTBUS_WIRE_MAJOR, &ping_size);
    const void *ping_two [] = {ping_bytes, ping_bytes};
    size_t ping_two_sizes [] = {ping_size, ping_size};
    tw_send_frames (alpha, ping_two, ping_two_sizes, 2);
    tw_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    free (ping_bytes);

    tw_barrier (fx, alpha, NULL);
    assert_int_equal (tw_stat (fx, "bad_packets"), 5);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), 5);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    //  None of them was half-processed: the envelope is new to the broker
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    free (packed);
    free (envelope);
    s_still_serves (fx, TW_BRAVO, TW_CHARLIE);
}

//  ---------------------------------------------------------------------------
//  7. Recipient lists above CERTBUS_MAX_RECIPIENTS

static void
test_too_many_recipients (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "to far too many", id, &size);

    //  100,000 recipients (about 6 MB)
    size_t big_size;
    uint8_t *big = s_with_recipients (envelope, size, 100000, NULL, &big_size);
    print_message ("an envelope with 100,000 recipients: %zu bytes\n", big_size);
    tw_send_publish (alpha, big, big_size);
    tw_expect_reject_within (alpha, NULL, CERTBUS_E_TOO_LARGE, "100000 items", s_LONG_WAIT_MS);
    free (big);
    //  One above the limit
    big = s_with_recipients (envelope, size, CERTBUS_MAX_RECIPIENTS + 1, NULL, &big_size);
    tw_send_publish (alpha, big, big_size);
    tw_expect_reject (alpha, NULL, CERTBUS_E_TOO_LARGE, "10001 items");
    free (big);
    //  Exactly at the limit, but the signed header says one recipient
    big = s_with_recipients (envelope, size, CERTBUS_MAX_RECIPIENTS, NULL, &big_size);
    tw_send_publish (alpha, big, big_size);
    tw_expect_reject (alpha, NULL, CERTBUS_E_RECIPIENTS_HASH, "carries 10000 recipients");
    free (big);
    //  One recipient, the right count, but not the one signed for
    big = s_with_recipients (envelope, size, 1, NULL, &big_size);
    tw_send_publish (alpha, big, big_size);
    tw_expect_reject (alpha, id, CERTBUS_E_RECIPIENTS_HASH, NULL);
    free (big);
    s_assert_all_rejected (fx, 4);

    //  The envelope as sealed is accepted
    tw_send_publish (alpha, envelope, size);
    tw_expect_accepted (alpha, id);
    free (envelope);
    s_still_serves (fx, TW_CHARLIE, TW_BRAVO);
}

//  ---------------------------------------------------------------------------
//  8. Invalid UTF-8 in every string of the signed header, re-signed by the
//  member, so that the UTF-8 is the only thing wrong

static void
test_invalid_utf8 (void **state)
{
    tw_fixture_t *fx = *state;
    static const char *fields [] = {"origin",   "kind",         "topic",       "tlp",   "severity",
                                    "audience", "content_type", "case_status", "assign"};
    //  A bad continuation byte, a lone lead byte, an overlong '/', a
    //  surrogate, a byte that never occurs, and a code point past U+10FFFF
    static const char *bad [] = {"x\xc3\x28",    "\xe2\x82", "\xc0\xaf",
                                 "\xed\xa0\x80", "ok\xff",   "\xf4\x90\x80\x80"};
    const size_t field_count = sizeof fields / sizeof fields [0];
    const size_t bad_count = sizeof bad / sizeof bad [0];
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    int64_t rejected = 0;
    for (size_t i = 0; i < field_count; i++) {
        //  Each field gets two of the bad sequences, in turn
        for (size_t j = 0; j < 2; j++) {
            const char *value = bad [(2 * i + j) % bad_count];
            uint8_t id [CERTBUS_ID_SIZE];
            size_t size, forged_size;
            uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:charlie", "utf-8", id, &size);
            uint8_t *forged = s_resign (fx, envelope, size, TW_ALPHA, fields [i], value, 0,
                                        &forged_size);
            char text [64];
            snprintf (text, sizeof text, "EnvelopeHeader.%s is not valid UTF-8", fields [i]);
            tw_send_publish (alpha, forged, forged_size);
            tw_expect_reject (alpha, NULL, CERTBUS_E_FIELD, text);
            rejected++;
            free (forged);
            free (envelope);
        }
    }
    //  Valid UTF-8 but longer than any string may be
    char *long_topic = malloc (CERTBUS_MAX_STRING + 2);
    assert_non_null (long_topic);
    memset (long_topic, 't', CERTBUS_MAX_STRING + 1);
    long_topic [CERTBUS_MAX_STRING + 1] = 0;
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:charlie", "utf-8", id, &size);
    uint8_t *forged = s_resign (fx, envelope, size, TW_ALPHA, "topic", long_topic, 0, &forged_size);
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_reject (alpha, NULL, CERTBUS_E_FIELD, "EnvelopeHeader.topic");
    rejected++;
    free (forged);
    free (long_topic);
    //  A recipient name that is not UTF-8 (beside the header, unsigned)
    forged = s_with_recipients (envelope, size, 1, "charlie\xc3\x28", &forged_size);
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_reject (alpha, NULL, CERTBUS_E_FIELD, "RecipientKey.org_id");
    rejected++;
    free (forged);
    s_assert_all_rejected (fx, rejected);

    //  Control: the same re-signing with every field left as it was gives an
    //  envelope the broker accepts, so only the UTF-8 was wrong above
    forged = s_resign (fx, envelope, size, TW_ALPHA, "topic", TW_TOPIC, 0, &forged_size);
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_accepted (alpha, id);
    free (forged);
    free (envelope);
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    Certbus__Packet *reply = tw_expect (charlie, CERTBUS__PACKET__BODY_DELIVER);
    tw_open (fx, TW_CHARLIE, reply->deliver->envelope.data, reply->deliver->envelope.len, id,
             "utf-8");
    uint64_t sequence = reply->deliver->sequence;
    certbus_codec_free (reply);
    tw_send_acks (charlie, &sequence, 1);
    assert_int_equal (tw_barrier_count (fx, charlie), 0);
    s_still_serves (fx, TW_BRAVO, TW_ALPHA);
}

//  ---------------------------------------------------------------------------
//  9. A NUL inside a header string, re-signed by the member

static void
test_embedded_nul (void **state)
{
    tw_fixture_t *fx = *state;
    //  protobuf-c turns a string into a C string: an embedded NUL ends it.
    //  The bytes signed say "org:charlie<NUL>,all" while every C reader
    //  sees "org:charlie". Bytes with a NUL are not a string certbus can
    //  show or judge: the broker must refuse them (certbus_utf8_valid
    //  promises "no NUL").
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:charlie", "nul", id, &size);
    //  s_resign packs with strlen: splice the NUL in by hand instead
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, envelope);
    assert_non_null (env);
    long at = tu_find (env->header.data, env->header.len, "org:charlie", 11);
    assert_true (at > 0);
    //  The audience field is tag, one-byte length, bytes: rebuild the
    //  header with the value grown by NUL ",all" and the length to match.
    const char suffix [] = {'\0', ',', 'a', 'l', 'l'};
    size_t header_size = env->header.len + sizeof suffix;
    uint8_t *header = malloc (header_size);
    assert_non_null (header);
    size_t value_end = (size_t) at + 11;
    assert_int_equal (env->header.data [at - 1], 11); //  one-byte length
    memcpy (header, env->header.data, value_end);
    header [at - 1] = (uint8_t) (11 + sizeof suffix);
    memcpy (header + value_end, suffix, sizeof suffix);
    memcpy (header + value_end + sizeof suffix, env->header.data + value_end,
            env->header.len - value_end);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_ENVELOPE, header, header_size,
                  certbus_identity_sign_secret (fx->members [TW_ALPHA].identity));
    ProtobufCBinaryData old_header = env->header, old_sig = env->signature;
    env->header.data = header;
    env->header.len = header_size;
    env->signature.data = sig;
    env->signature.len = sizeof sig;
    size_t forged_size;
    uint8_t *forged = certbus_codec_encode (env, &forged_size);
    env->header = old_header;
    env->signature = old_sig;
    certbus__envelope__free_unpacked (env, NULL);
    free (header);
    tw_send_publish (alpha, forged, forged_size);
    Certbus__Packet *reply = tw_expect (alpha, CERTBUS__PACKET__BODY_PUBACK);
    Certbus__PubAck *ack = reply->puback;
    int status = (int) ack->status;
    uint32_t code = ack->code;
    print_message ("a header string with an embedded NUL: status %d code %s reason \"%s\"\n",
                   status, certbus_err_name ((certbus_err_t) code), ack->reason);
    certbus_codec_free (reply);
    free (forged);
    free (envelope);
    //  A NUL makes the string re-encode shorter: refused as not canonical
    if (status != CERTBUS__STATUS__STATUS_REJECTED || code != CERTBUS_E_DECODE) {
        char bug [300];
        snprintf (bug, sizeof bug,
                  "lib/codec.c s_check: a header string with an embedded NUL was not refused "
                  "with 'decode' (status %d, code %s): the signed bytes say more than the "
                  "string the broker judged and stored",
                  status, certbus_err_name ((certbus_err_t) code));
        s_xfail (bug);
    }
    s_good_roundtrip (fx, TW_BRAVO, TW_CHARLIE);
}

//  ---------------------------------------------------------------------------
//  10. An old envelope replayed after a broker restart

static void
test_replay_after_restart (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:bravo", "say it once", id, &size);
    tw_send_publish (alpha, envelope, size);
    Certbus__Packet *first = tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    uint64_t sequence = first->puback->sequence;
    int64_t accepted_at = first->puback->accepted_at;
    certbus_codec_free (first);

    //  Stop the engine and start a new one on the same folder
    tw_broker_stop (fx);
    if (tw_broker_start (fx) != 0)
        fail_msg ("the broker did not restart");
    assert_int_equal (tw_stat (fx, "messages"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 1);

    //  The same bytes again: the original acknowledgement, nothing new
    alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    tw_send_publish (alpha, envelope, size);
    Certbus__Packet *second = tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (second->puback->sequence, sequence);
    assert_int_equal (second->puback->accepted_at, accepted_at);
    certbus_codec_free (second);
    assert_int_equal (tw_stat (fx, "duplicates"), 1);
    assert_int_equal (tw_stat (fx, "messages"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 1);

    //  bravo gets it exactly once
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    Certbus__Packet *packet = tw_expect (bravo, CERTBUS__PACKET__BODY_DELIVER);
    assert_int_equal (packet->deliver->message_sequence, sequence);
    tw_open (fx, TW_BRAVO, packet->deliver->envelope.data, packet->deliver->envelope.len, id,
             "say it once");
    uint64_t delivery = packet->deliver->sequence;
    certbus_codec_free (packet);
    assert_int_equal (tw_barrier_count (fx, bravo), 0);
    tw_send_acks (bravo, &delivery, 1);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_stat (fx, "queued"), 0);

    //  Restart once more, now that it was delivered: still a duplicate, and
    //  bravo sees no second copy
    tw_broker_stop (fx);
    if (tw_broker_start (fx) != 0)
        fail_msg ("the broker did not restart");
    alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    tw_send_publish (alpha, envelope, size);
    second = tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (second->puback->sequence, sequence);
    certbus_codec_free (second);
    bravo = tw_session (fx, TW_BRAVO);
    assert_int_equal (tw_barrier_count (fx, bravo), 0);
    assert_int_equal (tw_stat (fx, "messages"), 1);
    assert_int_equal (tw_stat (fx, "queued"), 0);
    assert_int_equal (tw_audit_count (fx, "publish"), 1);
    assert_int_equal (tw_audit_count (fx, "deliver"), 1);
    free (envelope);
    s_still_serves (fx, TW_ALPHA, TW_BRAVO);
}

//  ---------------------------------------------------------------------------
//  11. The envelope of a revoked member

static void
test_revoked_origin (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:charlie", "sealed before revocation", id,
                                 &size);
    if (council_revoke (fx->dir, "alpha", "hostile test"))
        fail_msg ("council_revoke: %s", certbus_reason ());
    //  The broker sees the Council's write on its next tick and cuts alpha off
    tw_expect_error (alpha, CERTBUS_E_REVOKED, "revoked");
    tw_refresh_directory (fx); //  the other members' view

    //  bravo relays alpha's envelope: not its own
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    tw_send_publish (bravo, envelope, size);
    tw_expect_reject (bravo, id, CERTBUS_E_ORIGIN_MISMATCH, "alpha");
    //  alpha itself, on its old connection: refused as revoked
    tw_send_publish (alpha, envelope, size);
    tw_expect_error (alpha, CERTBUS_E_REVOKED, "not a current member");
    //  ...and on a new one ZAP refuses the handshake: no answer at all
    int64_t received = tw_stat (fx, "received");
    zsock_t *again = tw_client (fx, fx->members [TW_ALPHA].identity);
    tw_send_publish (again, envelope, size);
    Certbus__Packet *reply = tw_recv (again, TW_QUIET_MS);
    if (reply)
        fail_msg ("a revoked member reconnected and got a %s packet", certbus_packet_name (reply));
    assert_int_equal (tw_stat (fx, "received"), received);

    assert_int_equal (tw_stat (fx, "accepted"), 0);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    assert_int_equal (tw_audit_count (fx, "reject"), 1);
    assert_int_equal (tw_audit_count (fx, "refused"), 1);
    //  charlie receives nothing
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    assert_int_equal (tw_barrier_count (fx, charlie), 0);
    free (envelope);
    s_still_serves (fx, TW_BRAVO, TW_CHARLIE);
}

//  ---------------------------------------------------------------------------
//  12. A forged origin: the header claims bravo, alpha's key signed it

static void
test_forged_origin (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *envelope = tw_seal (fx, TW_ALPHA, "org:charlie", "forged", id, &size);
    uint64_t bravo_serial = fx->members [TW_BRAVO].cert->serial;
    uint8_t *forged = s_resign (fx, envelope, size, TW_ALPHA, "origin", "bravo", bravo_serial,
                                &forged_size);

    //  Sent by alpha: the claimed origin is not the sender
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_reject (alpha, id, CERTBUS_E_ORIGIN_MISMATCH, "claims origin 'bravo'");
    //  Sent by bravo: the origin matches the sender, the signature does not
    tw_send_publish (bravo, forged, forged_size);
    tw_expect_reject (bravo, id, CERTBUS_E_SIGNATURE, "bravo");
    free (forged);
    //  alpha's own name with bravo's certificate serial
    forged = s_resign (fx, envelope, size, TW_ALPHA, NULL, NULL, bravo_serial, &forged_size);
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_reject (alpha, id, CERTBUS_E_ORIGIN_MISMATCH, "certificate");
    free (forged);
    //  bravo's name and serial, alpha's signature, but over the original
    //  header: the signature is over other bytes
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, envelope);
    assert_non_null (env);
    size_t claimed_size;
    uint8_t *claimed = s_resign (fx, envelope, size, TW_BRAVO, "origin", "bravo", bravo_serial,
                                 &claimed_size);
    Certbus__Envelope *claimed_env = certbus__envelope__unpack (NULL, claimed_size, claimed);
    assert_non_null (claimed_env);
    ProtobufCBinaryData keep = claimed_env->signature;
    claimed_env->signature = env->signature; //  alpha's signature of alpha's header
    forged = certbus_codec_encode (claimed_env, &forged_size);
    claimed_env->signature = keep;
    certbus__envelope__free_unpacked (claimed_env, NULL);
    certbus__envelope__free_unpacked (env, NULL);
    tw_send_publish (bravo, forged, forged_size);
    tw_expect_reject (bravo, id, CERTBUS_E_SIGNATURE, NULL);
    free (forged);
    s_assert_all_rejected (fx, 4);

    //  Control: bravo's honest re-signature of the claimed header is its
    //  own message, and is accepted from bravo
    tw_send_publish (bravo, claimed, claimed_size);
    tw_expect_accepted (bravo, id);
    free (claimed);
    free (envelope);
    s_still_serves (fx, TW_ALPHA, TW_CHARLIE);
}

//  An optional argument picks tests by name (e.g. "test_replay*"), or skips
//  one ("-test_x"): see tw_main_init.
int
main (int argc, char *argv [])
{
    tw_main_init (argc, argv);
    const struct CMUnitTest tests [] = {
        TW_TEST (test_garbage),
        TW_TEST (test_truncated),
        TW_TEST (test_out_of_order),
        TW_TEST (test_ack_before_delivery),
        TW_TEST (test_oversized_frames),
        TW_TEST (test_multi_frame),
        TW_TEST (test_too_many_recipients),
        TW_TEST (test_invalid_utf8),
        TW_TEST (test_embedded_nul),
        TW_TEST (test_replay_after_restart),
        TW_TEST (test_revoked_origin),
        TW_TEST (test_forged_origin),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
