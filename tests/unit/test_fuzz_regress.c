/*  test_fuzz_regress.c - regression tests for what the fuzz harnesses in
    tests/fuzz found; each input is also a seed in tests/fuzz/corpus/
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

//  ---------------------------------------------------------------------------
//  fuzz_packet, corpus fuzz_packet/regress-field-zero: protobuf-c refuses
//  field number 0 only when its tag is one byte. Spelt in two (0x82 0x00)
//  it was kept as an unknown field, and re-encoding wrote the one-byte tag
//  (0x02) that decoding then refuses: a packet or envelope we accepted
//  could not be forwarded or cut down for its recipients. The codec now
//  refuses field 0 at any depth.

static certbus_err_t
s_decode_packet (const uint8_t *bytes, size_t size, Certbus__Packet **packet_p)
{
    return certbus_codec_decode (&certbus__packet__descriptor, bytes, size, CERTBUS_MAX_PACKET,
                                 CERTBUS_MAX_REPEATED, (void **) packet_p);
}

static void
test_field_zero_refused (void **state)
{
    (void) state;
    //  version 1, directory_reply { unknown field 14 = 10 }, field 0 (two-byte tag) = "\x83"
    static const uint8_t found [] = {0x08, 0x01, 0x82, 0x01, 0x02, 0x70,
                                     0x0a, 0x82, 0x00, 0x01, 0x83};
    //  version 1, hello { field 0 (two-byte tag) = "\x83" }: nested
    static const uint8_t nested [] = {0x08, 0x01, 0x52, 0x04, 0x82, 0x00, 0x01, 0x83};
    //  version 1, ping {}, field 0 as a varint with a three-byte tag
    static const uint8_t three [] = {0x08, 0x01, 0x8a, 0x01, 0x00, 0x80, 0x80, 0x00, 0x05};
    Certbus__Packet *packet = NULL;
    tu_assert_err (s_decode_packet (found, sizeof found, &packet), CERTBUS_E_DECODE);
    assert_null (packet);
    assert_non_null (strstr (certbus_reason (), "numbered 0"));
    tu_assert_err (s_decode_packet (nested, sizeof nested, &packet), CERTBUS_E_DECODE);
    assert_null (packet);
    tu_assert_err (s_decode_packet (three, sizeof three, &packet), CERTBUS_E_DECODE);
    assert_null (packet);
}

//  Other unknown fields still pass (a newer peer may send them) and survive
//  a re-encode, so that forwarding keeps working.
static void
test_unknown_field_round_trips (void **state)
{
    (void) state;
    //  version 1, ping { time 5 }, unknown field 99 = 7 (two-byte tag)
    static const uint8_t bytes [] = {0x08, 0x01, 0x8a, 0x01, 0x02, 0x08, 0x05, 0x98, 0x06, 0x07};
    Certbus__Packet *packet = NULL;
    tu_assert_err (s_decode_packet (bytes, sizeof bytes, &packet), CERTBUS_OK);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_PING);
    assert_int_equal (packet->ping->time, 5);
    size_t size;
    uint8_t *again = certbus_codec_encode (packet, &size);
    assert_int_equal (size, sizeof bytes);
    assert_memory_equal (again, bytes, size);
    Certbus__Packet *decoded = NULL;
    tu_assert_err (s_decode_packet (again, size, &decoded), CERTBUS_OK);
    certbus_codec_free (decoded);
    free (again);
    certbus_codec_free (packet);
}

//  The same through an envelope: before the fix the broker accepted it,
//  and every copy cut down for a recipient failed to decode.
static void
test_envelope_with_field_zero_refused (void **state)
{
    (void) state;
    tu_council_t *council = tu_council_new ();
    tu_member_t *sender = tu_council_enrol_simple (council, "cert-national");
    tu_council_enrol_simple (council, "bank-01");
    certbus_directory_t *dir = tu_council_publish (council);
    certbus_seal_opts_t opts = {.kind = "advisory", .tlp = "amber", .audience = "org:bank-01"};
    uint8_t id [CERTBUS_ID_SIZE];
    uint8_t *bytes;
    size_t size;
    tu_assert_err (certbus_envelope_seal (sender->identity, sender->cert, dir, &opts,
                                          (const uint8_t *) "payload", 7, id, &bytes, &size),
                   CERTBUS_OK);
    certbus_envelope_t *env = NULL;
    tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    certbus_envelope_destroy (&env);

    //  Field 0, length-delimited, empty, with a two-byte tag
    uint8_t *bad = malloc (size + 3);
    assert_non_null (bad);
    memcpy (bad, bytes, size);
    memcpy (bad + size, "\x82\x00\x00", 3);
    tu_assert_err (certbus_envelope_decode (bad, size + 3, &env), CERTBUS_E_DECODE);
    assert_null (env);
    free (bad);
    free (bytes);
    tu_council_destroy (&council);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_field_zero_refused),
        cmocka_unit_test (test_unknown_field_round_trips),
        cmocka_unit_test (test_envelope_with_field_zero_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
