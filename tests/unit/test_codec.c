/*  test_codec.c - unit tests of certbus_codec: bounded decode of hostile
    bytes (size caps, UTF-8, repeated counts, major version)
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

//  Encodes msg and decodes it as desc with the given limits; returns the
//  code and frees whatever was decoded
static certbus_err_t
s_round (const void *msg, const ProtobufCMessageDescriptor *desc, size_t max_size,
         size_t max_repeated)
{
    size_t size;
    uint8_t *bytes = certbus_codec_encode (msg, &size);
    void *out = (void *) 1;
    certbus_err_t rc = certbus_codec_decode (desc, bytes, size, max_size, max_repeated, &out);
    if (rc == CERTBUS_OK)
        assert_non_null (out);
    else
        assert_null (out);
    certbus_codec_free (out);
    free (bytes);
    return rc;
}

static void
test_round_trip (void **state)
{
    (void) state;
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.credit = 64;
    hello.directory_serial = 7;
    hello.agent = "certbus-node/0.1 \xc3\xbc\xe2\x9c\x93"; //  UTF-8 is fine
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (&packet, &size);
    assert_non_null (bytes);
    assert_true (size > 0);
    assert_int_equal (size, protobuf_c_message_get_packed_size (&packet.base));

    Certbus__Packet *out = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__packet__descriptor, bytes, size,
                                         CERTBUS_MAX_PACKET, 16, (void **) &out),
                   CERTBUS_OK);
    assert_non_null (out);
    assert_int_equal (out->version, CERTBUS_WIRE_MAJOR);
    assert_int_equal (out->body_case, CERTBUS__PACKET__BODY_HELLO);
    assert_int_equal (out->hello->credit, 64);
    assert_int_equal (out->hello->directory_serial, 7);
    assert_string_equal (out->hello->agent, hello.agent);
    certbus_codec_free (out);
    certbus_codec_free (NULL);
    free (bytes);

    //  An empty message encodes to nothing, still in a buffer of its own
    Certbus__Ping ping = CERTBUS__PING__INIT;
    bytes = certbus_codec_encode (&ping, &size);
    assert_non_null (bytes);
    assert_int_equal (size, 0);
    free (bytes);
}

static void
test_invalid_utf8_refused (void **state)
{
    (void) state;
    const char *bad [] = {
        "\xff",             //  never valid
        "abc\x80",          //  lone continuation byte
        "\xc3",             //  truncated sequence
        "\xc0\xaf",         //  overlong '/'
        "\xe0\x80\xaf",     //  overlong, three bytes
        "\xed\xa0\x80",     //  UTF-16 surrogate
        "\xf4\x90\x80\x80", //  past U+10FFFF
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        //  A top-level string
        Certbus__RequestBody body = CERTBUS__REQUEST_BODY__INIT;
        body.version = CERTBUS_WIRE_MAJOR;
        body.org_id = (char *) bad [i];
        tu_assert_err (s_round (&body, &certbus__request_body__descriptor, 4096, 16),
                       CERTBUS_E_FIELD);

        //  A string in a nested message
        Certbus__PubAck ack = CERTBUS__PUB_ACK__INIT;
        ack.reason = (char *) bad [i];
        Certbus__Packet packet = CERTBUS__PACKET__INIT;
        packet.version = CERTBUS_WIRE_MAJOR;
        packet.body_case = CERTBUS__PACKET__BODY_PUBACK;
        packet.puback = &ack;
        tu_assert_err (s_round (&packet, &certbus__packet__descriptor, 4096, 16), CERTBUS_E_FIELD);

        //  A repeated string
        char *recipients [] = {"cert-pk", (char *) bad [i]};
        Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
        record.version = CERTBUS_WIRE_MAJOR;
        record.n_recipients = 2;
        record.recipients = recipients;
        tu_assert_err (s_round (&record, &certbus__audit_record__descriptor, 4096, 16),
                       CERTBUS_E_FIELD);
        //  The reason names the message and the field
        assert_non_null (strstr (certbus_reason (), "recipients"));
    }

    //  A string in a repeated message (an envelope's recipient list)
    Certbus__RecipientKey key = CERTBUS__RECIPIENT_KEY__INIT;
    key.org_id = "\xfe\xfe";
    Certbus__RecipientKey *keys [] = {&key};
    Certbus__Envelope env = CERTBUS__ENVELOPE__INIT;
    env.version = CERTBUS_WIRE_MAJOR;
    env.n_recipients = 1;
    env.recipients = keys;
    tu_assert_err (s_round (&env, &certbus__envelope__descriptor, 4096, 16), CERTBUS_E_FIELD);

    //  Valid multi-byte text of every length passes
    Certbus__RequestBody good = CERTBUS__REQUEST_BODY__INIT;
    good.version = CERTBUS_WIRE_MAJOR;
    good.name = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92"; //  é € 🔒
    tu_assert_err (s_round (&good, &certbus__request_body__descriptor, 4096, 16), CERTBUS_OK);
}

static void
test_long_string_refused (void **state)
{
    (void) state;
    char *text = malloc (CERTBUS_MAX_STRING + 2);
    assert_non_null (text);
    memset (text, 'a', CERTBUS_MAX_STRING + 1);
    text [CERTBUS_MAX_STRING] = 0;
    Certbus__RevocationBody body = CERTBUS__REVOCATION_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.reason = text;
    tu_assert_err (s_round (&body, &certbus__revocation_body__descriptor, 1u << 20, 16),
                   CERTBUS_OK);
    text [CERTBUS_MAX_STRING] = 'a';
    text [CERTBUS_MAX_STRING + 1] = 0;
    tu_assert_err (s_round (&body, &certbus__revocation_body__descriptor, 1u << 20, 16),
                   CERTBUS_E_FIELD);
    free (text);
}

static void
test_repeated_count_capped (void **state)
{
    (void) state;
    //  A packed repeated scalar
    uint64_t sequences [17];
    for (int i = 0; i < 17; i++)
        sequences [i] = (uint64_t) i + 1;
    Certbus__DeliverAck ack = CERTBUS__DELIVER_ACK__INIT;
    ack.sequences = sequences;
    ack.n_sequences = 16;
    tu_assert_err (s_round (&ack, &certbus__deliver_ack__descriptor, 4096, 16), CERTBUS_OK);
    ack.n_sequences = 17;
    tu_assert_err (s_round (&ack, &certbus__deliver_ack__descriptor, 4096, 16),
                   CERTBUS_E_TOO_LARGE);
    assert_non_null (strstr (certbus_reason (), "sequences"));

    //  Repeated strings
    char *names [5] = {"a", "b", "c", "d", "e"};
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.version = CERTBUS_WIRE_MAJOR;
    record.recipients = names;
    record.n_recipients = 5;
    tu_assert_err (s_round (&record, &certbus__audit_record__descriptor, 4096, 5), CERTBUS_OK);
    tu_assert_err (s_round (&record, &certbus__audit_record__descriptor, 4096, 4),
                   CERTBUS_E_TOO_LARGE);

    //  Repeated messages, and repeated fields nested inside a message
    Certbus__RecipientKey key = CERTBUS__RECIPIENT_KEY__INIT;
    key.org_id = "cert-pk";
    Certbus__RecipientKey *keys [3] = {&key, &key, &key};
    Certbus__Envelope env = CERTBUS__ENVELOPE__INIT;
    env.version = CERTBUS_WIRE_MAJOR;
    env.recipients = keys;
    env.n_recipients = 3;
    tu_assert_err (s_round (&env, &certbus__envelope__descriptor, 4096, 3), CERTBUS_OK);
    tu_assert_err (s_round (&env, &certbus__envelope__descriptor, 4096, 2), CERTBUS_E_TOO_LARGE);

    Certbus__ProofReply reply = CERTBUS__PROOF_REPLY__INIT;
    ProtobufCBinaryData hashes [4]
        = {{1, (uint8_t *) "a"}, {1, (uint8_t *) "b"}, {1, (uint8_t *) "c"}, {1, (uint8_t *) "d"}};
    reply.inclusion = hashes;
    reply.n_inclusion = 4;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REPLY;
    packet.proof_reply = &reply;
    tu_assert_err (s_round (&packet, &certbus__packet__descriptor, 4096, 4), CERTBUS_OK);
    tu_assert_err (s_round (&packet, &certbus__packet__descriptor, 4096, 3), CERTBUS_E_TOO_LARGE);
}

static void
test_size_cap (void **state)
{
    (void) state;
    uint8_t blob [300];
    tu_fill (blob, sizeof blob, 7);
    Certbus__Envelope env = CERTBUS__ENVELOPE__INIT;
    env.version = CERTBUS_WIRE_MAJOR;
    env.ciphertext.data = blob;
    env.ciphertext.len = sizeof blob;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (&env, &size);
    void *out = NULL;
    //  Exactly at the cap decodes; one byte less of cap refuses before unpack
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, bytes, size, size, 16,
                                         &out),
                   CERTBUS_OK);
    certbus_codec_free (out);
    out = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, bytes, size, size - 1, 16,
                                         &out),
                   CERTBUS_E_TOO_LARGE);
    assert_null (out);
    free (bytes);

    //  The real limits, with real buffers one byte over
    size_t big_size = CERTBUS_MAX_PACKET + 1;
    uint8_t *big = calloc (1, big_size);
    assert_non_null (big);
    tu_assert_err (certbus_codec_decode (&certbus__packet__descriptor, big, big_size,
                                         CERTBUS_MAX_PACKET, 16, &out),
                   CERTBUS_E_TOO_LARGE);
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, big,
                                         CERTBUS_MAX_ENVELOPE + 1, CERTBUS_MAX_ENVELOPE, 16, &out),
                   CERTBUS_E_TOO_LARGE);
    free (big);
    assert_null (out);
}

static void
test_version_refused (void **state)
{
    (void) state;
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = 99;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    uint32_t versions [] = {0, 2, 3, 0xffffffffu};
    for (size_t i = 0; i < sizeof versions / sizeof versions [0]; i++) {
        packet.version = versions [i];
        tu_assert_err (s_round (&packet, &certbus__packet__descriptor, 4096, 16),
                       CERTBUS_E_VERSION);
    }
    packet.version = CERTBUS_WIRE_MAJOR;
    tu_assert_err (s_round (&packet, &certbus__packet__descriptor, 4096, 16), CERTBUS_OK);

    //  Every versioned message, e.g. an Envelope and a certificate body
    Certbus__Envelope env = CERTBUS__ENVELOPE__INIT;
    env.signature.data = (uint8_t *) "sig";
    env.signature.len = 3;
    env.version = 2;
    tu_assert_err (s_round (&env, &certbus__envelope__descriptor, 4096, 16), CERTBUS_E_VERSION);
    assert_non_null (strstr (certbus_reason (), "version 2"));
    env.version = 0;
    tu_assert_err (s_round (&env, &certbus__envelope__descriptor, 4096, 16), CERTBUS_E_VERSION);
    Certbus__CertificateBody body = CERTBUS__CERTIFICATE_BODY__INIT;
    body.serial = 1;
    body.version = 2;
    tu_assert_err (s_round (&body, &certbus__certificate_body__descriptor, 4096, 16),
                   CERTBUS_E_VERSION);

    //  Messages without a version field are not judged by one
    Certbus__Ping bare = CERTBUS__PING__INIT;
    bare.time = 5;
    tu_assert_err (s_round (&bare, &certbus__ping__descriptor, 4096, 16), CERTBUS_OK);
}

static void
test_garbage_and_truncation (void **state)
{
    (void) state;
    void *out = NULL;
    //  Nothing at all
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, (const uint8_t *) "", 0,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, NULL, 10, 4096, 16, &out),
                   CERTBUS_E_DECODE);
    //  A varint that never ends, an invalid wire type, text
    const uint8_t endless [] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, endless, sizeof endless,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    const uint8_t wire_type_7 [] = {0x0f, 0x01};
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, wire_type_7,
                                         sizeof wire_type_7, 4096, 16, &out),
                   CERTBUS_E_DECODE);
    //  A length prefix that claims more than there is
    const uint8_t overlong [] = {0x08, 0x01, 0x12, 0x7f, 'a', 'b'};
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, overlong, sizeof overlong,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    assert_null (out);

    //  Every strict prefix of a message that ends inside a field fails
    Certbus__RevocationBody body = CERTBUS__REVOCATION_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.reason = "a reason that is long enough to cut";
    size_t size;
    uint8_t *bytes = certbus_codec_encode (&body, &size);
    //  The reason is the last field: cutting anywhere inside it is malformed
    long at = tu_find (bytes, size, "a reason", 8);
    assert_true (at > 0);
    for (size_t cut = (size_t) at; cut < size; cut++)
        tu_assert_err (certbus_codec_decode (&certbus__revocation_body__descriptor, bytes, cut,
                                             4096, 16, &out),
                       CERTBUS_E_DECODE);
    assert_null (out);
    tu_assert_err (certbus_codec_decode (&certbus__revocation_body__descriptor, bytes, size, 4096,
                                         16, &out),
                   CERTBUS_OK);
    certbus_codec_free (out);
    free (bytes);
}

//  Decodes bytes as a Packet the way the daemons do
static certbus_err_t
s_packet (const uint8_t *bytes, size_t size)
{
    zframe_t *frame = zframe_new (bytes, size);
    Certbus__Packet *packet = (Certbus__Packet *) 1;
    certbus_err_t rc = certbus_packet_decode (frame, &packet);
    if (rc == CERTBUS_OK)
        assert_non_null (packet);
    certbus_codec_free (rc == CERTBUS_OK ? packet : NULL);
    zframe_destroy (&frame);
    return rc;
}

//  Another protobuf library may write fields that hold defaults, repeat a
//  field or order fields otherwise: an unsigned packet decodes all the same
static void
test_packet_any_encoding (void **state)
{
    (void) state;
    //  version 1, ping { time = 0, directory_serial = 0 }: both written out
    static const uint8_t defaults [] = {0x08, 0x01, 0x8a, 0x01, 0x04, 0x08, 0x00, 0x10, 0x00};
    tu_assert_err (s_packet (defaults, sizeof defaults), CERTBUS_OK);
    //  ping { time = 5 } before the version, and the version written twice
    static const uint8_t reordered [] = {0x8a, 0x01, 0x02, 0x08, 0x05, 0x08, 0x01, 0x08, 0x01};
    tu_assert_err (s_packet (reordered, sizeof reordered), CERTBUS_OK);
    //  hello { agent = "" } written out, credit as a two-byte varint of 1
    static const uint8_t hello [] = {0x08, 0x01, 0x52, 0x05, 0x22, 0x00, 0x10, 0x81, 0x00};
    zframe_t *frame = zframe_new (hello, sizeof hello);
    Certbus__Packet *packet = NULL;
    tu_assert_err (certbus_packet_decode (frame, &packet), CERTBUS_OK);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_HELLO);
    assert_int_equal (packet->hello->credit, 1);
    assert_string_equal (packet->hello->agent, "");
    certbus_codec_free (packet);
    zframe_destroy (&frame);
    //  The strict decoder, for signed and hashed bytes, refuses all three
    void *out = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__packet__descriptor, defaults, sizeof defaults,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    tu_assert_err (certbus_codec_decode (&certbus__packet__descriptor, reordered, sizeof reordered,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    tu_assert_err (certbus_codec_decode (&certbus__packet__descriptor, hello, sizeof hello, 4096,
                                         16, &out),
                   CERTBUS_E_DECODE);
    assert_null (out);
    //  Still refused in any encoding: a wrong version, field number 0
    static const uint8_t version_2 [] = {0x08, 0x02, 0x8a, 0x01, 0x00};
    tu_assert_err (s_packet (version_2, sizeof version_2), CERTBUS_E_VERSION);
    static const uint8_t field_zero [] = {0x08, 0x01, 0x8a, 0x01, 0x00, 0x82, 0x00, 0x01, 0x83};
    tu_assert_err (s_packet (field_zero, sizeof field_zero), CERTBUS_E_DECODE);
}

//  A NUL inside a string would be read shorter than it was sent or signed:
//  refused by a walk of the string fields, in any encoding, at any depth
static void
test_nul_in_string_refused (void **state)
{
    (void) state;
    //  version 1, error { reason = "ab\0cd" }
    static const uint8_t nested [] = {0x08, 0x01, 0xaa, 0x01, 0x07, 0x12,
                                      0x05, 'a',  'b',  0x00, 'c',  'd'};
    tu_assert_err (s_packet (nested, sizeof nested), CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "reason"));
    assert_non_null (strstr (certbus_reason (), "NUL"));
    //  A repeated string: puback { participants = "a", "b\0" }
    static const uint8_t repeated [] = {0x08, 0x01, 0x62, 0x07, 0x42, 0x01,
                                        'a',  0x42, 0x02, 'b',  0x00};
    tu_assert_err (s_packet (repeated, sizeof repeated), CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "participants"));
    //  A string in a repeated message: envelope { recipients { org_id = "\0" } }
    static const uint8_t deep [] = {0x08, 0x01, 0x2a, 0x03, 0x0a, 0x01, 0x00};
    void *out = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__envelope__descriptor, deep, sizeof deep, 4096,
                                         16, &out),
                   CERTBUS_E_DECODE);
    assert_non_null (strstr (certbus_reason (), "org_id"));
    //  A NUL in bytes is only data
    static const uint8_t in_bytes [] = {0x08, 0x01, 0x5a, 0x04, 0x0a, 0x02, 0x00, 0x00};
    tu_assert_err (s_packet (in_bytes, sizeof in_bytes), CERTBUS_OK);
    //  A top-level string of a signed body
    static const uint8_t body [] = {0x08, 0x01, 0x12, 0x03, 'o', 0x00, 'k'};
    tu_assert_err (certbus_codec_decode (&certbus__request_body__descriptor, body, sizeof body,
                                         4096, 16, &out),
                   CERTBUS_E_DECODE);
    assert_null (out);
}

//  The one signed wrapper: the bytes it writes are those the four classes
//  wrote by hand before it (version, body, signature over domain, 0x00,
//  body), and it hands back the body only under a good signature
static const certbus_signed_type_t s_head_type = {&certbus__tree_head__descriptor,
                                                  "certbus-tree-head-v1", 4096, CERTBUS_E_SIGNATURE,
                                                  "not signed by that key"};

//  A serialised TreeHeadBody of 9 records, its root filled from seed 21
static uint8_t *
s_head_body (uint8_t root [32], size_t *size_p)
{
    Certbus__TreeHeadBody head = CERTBUS__TREE_HEAD_BODY__INIT;
    head.version = CERTBUS_WIRE_MAJOR;
    head.tree_size = 9;
    head.timestamp = 1700000000000LL;
    tu_fill (root, 32, 21);
    head.root_hash.data = root;
    head.root_hash.len = 32;
    return certbus_codec_encode (&head, size_p);
}

static void
test_signed_wrap (void **state)
{
    (void) state;
    certbus_identity_t *signer = certbus_identity_new ();
    certbus_identity_t *other = certbus_identity_new ();
    const certbus_signed_type_t type = s_head_type;
    uint8_t root [32];
    size_t body_size, size;
    uint8_t *body = s_head_body (root, &body_size);
    uint8_t *bytes = certbus_signed_wrap (&type, body, body_size,
                                          certbus_identity_sign_secret (signer), &size);
    //  As written by hand
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, "certbus-tree-head-v1", body, body_size,
                  certbus_identity_sign_secret (signer));
    Certbus__TreeHead by_hand = CERTBUS__TREE_HEAD__INIT;
    by_hand.version = CERTBUS_WIRE_MAJOR;
    by_hand.body = (ProtobufCBinaryData){body_size, body};
    by_hand.signature = (ProtobufCBinaryData){sizeof sig, sig};
    size_t hand_size;
    uint8_t *hand = certbus_codec_encode (&by_hand, &hand_size);
    assert_int_equal (size, hand_size);
    assert_memory_equal (bytes, hand, size);
    //  The four wrappers share the layout, so all four write these bytes
    const ProtobufCMessageDescriptor *wrappers []
        = {&certbus__certificate__descriptor, &certbus__revocation__descriptor,
           &certbus__directory__descriptor, &certbus__tree_head__descriptor};
    for (size_t i = 0; i < 4; i++) {
        certbus_signed_type_t each = type;
        each.wrapper = wrappers [i];
        size_t each_size;
        uint8_t *each_bytes = certbus_signed_wrap (&each, body, body_size,
                                                   certbus_identity_sign_secret (signer),
                                                   &each_size);
        assert_int_equal (each_size, hand_size);
        assert_memory_equal (each_bytes, hand, hand_size);
        free (each_bytes);
    }
    free (hand);
    //  And the tree head class reads it
    certbus_tree_head_t read;
    tu_assert_err (certbus_tree_head_verify (bytes, size, certbus_identity_sign_public (signer),
                                             &read),
                   CERTBUS_OK);
    assert_int_equal (read.size, 9);
    assert_memory_equal (read.root, root, sizeof root);

    uint8_t *out = (uint8_t *) 1;
    size_t out_size = 1;
    tu_assert_err (certbus_signed_unwrap (&type, bytes, size, certbus_identity_sign_public (signer),
                                          &out, &out_size),
                   CERTBUS_OK);
    assert_int_equal (out_size, body_size);
    assert_memory_equal (out, body, body_size);
    free (out);
    //  Another key, another domain: the type's code and reason, no body
    tu_assert_err (certbus_signed_unwrap (&type, bytes, size, certbus_identity_sign_public (other),
                                          &out, &out_size),
                   CERTBUS_E_SIGNATURE);
    assert_string_equal (certbus_reason (), "not signed by that key");
    assert_null (out);
    assert_int_equal (out_size, 0);
    const certbus_signed_type_t cert_type = {&certbus__certificate__descriptor,
                                             "certbus-certificate-v1", 4096,
                                             CERTBUS_E_CERT_SIGNATURE, "certificate is not signed"};
    tu_assert_err (certbus_signed_unwrap (&cert_type, bytes, size,
                                          certbus_identity_sign_public (signer), &out, &out_size),
                   CERTBUS_E_CERT_SIGNATURE);
    //  Bigger than the type allows
    const certbus_signed_type_t small = {&certbus__tree_head__descriptor, "certbus-tree-head-v1",
                                         16, CERTBUS_E_SIGNATURE, "no"};
    tu_assert_err (certbus_signed_unwrap (&small, bytes, size,
                                          certbus_identity_sign_public (signer), &out, &out_size),
                   CERTBUS_E_TOO_LARGE);
    free (bytes);
    free (body);
    certbus_identity_destroy (&signer);
    certbus_identity_destroy (&other);
}

//  A body or a wrapper in a redundant encoding, however well signed, is
//  refused by the class reading it: signed bytes have one encoding
static void
test_signed_canonical (void **state)
{
    (void) state;
    certbus_identity_t *signer = certbus_identity_new ();
    const certbus_signed_type_t type = s_head_type;
    uint8_t root [32];
    size_t body_size, size;
    uint8_t *body = s_head_body (root, &body_size);
    certbus_tree_head_t read;
    uint8_t *out = NULL;
    size_t out_size = 0;
    uint8_t *padded = malloc (body_size + 2);
    assert_non_null (padded);
    memcpy (padded, body, body_size);
    padded [body_size] = 0x10; //  tree_size = 9 again
    padded [body_size + 1] = 0x09;
    uint8_t *bytes = certbus_signed_wrap (&type, padded, body_size + 2,
                                          certbus_identity_sign_secret (signer), &size);
    tu_assert_err (certbus_tree_head_verify (bytes, size, certbus_identity_sign_public (signer),
                                             &read),
                   CERTBUS_E_DECODE);
    free (bytes);
    free (padded);
    //  So is a wrapper in a redundant encoding (its version written twice)
    bytes = certbus_signed_wrap (&type, body, body_size, certbus_identity_sign_secret (signer),
                                 &size);
    uint8_t *twice = malloc (size + 2);
    assert_non_null (twice);
    memcpy (twice, bytes, size);
    twice [size] = 0x08;
    twice [size + 1] = 0x01;
    tu_assert_err (certbus_tree_head_verify (twice, size + 2, certbus_identity_sign_public (signer),
                                             &read),
                   CERTBUS_E_DECODE);
    tu_assert_err (certbus_signed_unwrap (&type, twice, size + 2,
                                          certbus_identity_sign_public (signer), &out, &out_size),
                   CERTBUS_E_DECODE);
    free (twice);
    free (bytes);
    free (body);
    certbus_identity_destroy (&signer);
}

static void
test_utf8_valid (void **state)
{
    (void) state;
    assert_true (certbus_utf8_valid ("", 0));
    assert_true (certbus_utf8_valid ("plain ascii", 64));
    assert_true (certbus_utf8_valid ("\xc3\xa9", 2));
    assert_false (certbus_utf8_valid ("\xc3\xa9", 1)); //  longer than allowed
    assert_true (certbus_utf8_valid ("\xf0\x9f\x94\x92", 4));
    assert_true (certbus_utf8_valid ("\xef\xbf\xbf", 3));     //  U+FFFF
    assert_true (certbus_utf8_valid ("\xf4\x8f\xbf\xbf", 4)); //  U+10FFFF
    assert_false (certbus_utf8_valid ("abcd", 3));
    assert_false (certbus_utf8_valid ("\xc1\xbf", 8));
    assert_false (certbus_utf8_valid ("\xf8\x88\x80\x80\x80", 8));
    assert_false (certbus_utf8_valid ("\xe2\x82", 8));
    assert_false (certbus_utf8_valid ("\xed\xbf\xbf", 8));
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_invalid_utf8_refused),
        cmocka_unit_test (test_long_string_refused),
        cmocka_unit_test (test_repeated_count_capped),
        cmocka_unit_test (test_size_cap),
        cmocka_unit_test (test_version_refused),
        cmocka_unit_test (test_garbage_and_truncation),
        cmocka_unit_test (test_packet_any_encoding),
        cmocka_unit_test (test_nul_in_string_refused),
        cmocka_unit_test (test_signed_wrap),
        cmocka_unit_test (test_signed_canonical),
        cmocka_unit_test (test_utf8_valid),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
