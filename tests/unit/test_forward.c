/*  test_forward.c - unit tests of certbus_forward: wrapping a received
    message for a new recipient and opening the chain, with every refusal
    SPDX-License-Identifier: MPL-2.0

    The national CERT sends an advisory to bank-01, which forwards it to the
    banking sector's CERT. The refusals: TLP red and amber+strict never
    travel further (wrap refuses them; a hand-made forward of one is refused
    on open), a forward carries exactly one `forwards` reference and it
    names the message inside, nobody forwards its own message (directly or
    through a chain), and the TLP stays the same all the way down.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char s_advisory [] = "{\"document\":{\"title\":\"patch now\"}}";

//  A Council of a national CERT, a bank and its sectoral CERT, for every
//  test (the group state)
static int
s_setup (void **state)
{
    tu_council_t *council = tu_council_new ();
    int64_t nb = (int64_t) time (NULL) - 3600, na = nb + 86400;
    tu_council_enrol (council, "cert-national", CERTBUS_TIER_NATIONAL, "", "", nb, na);
    tu_council_enrol (council, "bank-01", CERTBUS_TIER_ORGANIZATION, "banking", "punjab", nb, na);
    tu_council_enrol (council, "cert-banking", CERTBUS_TIER_SECTORAL, "banking", "", nb, na);
    assert_non_null (tu_council_publish (council));
    *state = council;
    return 0;
}

//  Seals payload from member from to member to (and to from itself, with
//  self_copy, as a sender's own copy) at tlp, with an optional reference; content_type NULL for a
//  plain advisory. Returns new envelope bytes.
static uint8_t *
s_seal (tu_council_t *council, const char *from, const char *to, const char *tlp,
        const certbus_ref_t *ref, const char *content_type, bool self_copy, const uint8_t *payload,
        size_t size, size_t *size_p)
{
    tu_member_t *sender = tu_council_member (council, from);
    char audience [64];
    snprintf (audience, sizeof audience, "org:%s", to);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = tlp,
                                .audience = audience,
                                .content_type = content_type,
                                .refs = ref,
                                .ref_count = ref ? 1 : 0};
    char *recipients [] = {(char *) to, (char *) from};
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    certbus_err_t rc = certbus_envelope_seal_to (sender->identity, sender->cert, council->dir,
                                                 &opts, recipients, self_copy ? 2 : 1, payload,
                                                 size, id, &bytes, size_p);
    if (rc != CERTBUS_OK)
        fail_msg ("seal from %s to %s at %s: %s", from, to, tlp, certbus_reason ());
    return bytes;
}

//  Opens bytes as member as: returns the verified envelope and its payload.
static certbus_envelope_t *
s_open (tu_council_t *council, const uint8_t *bytes, size_t size, const char *as,
        uint8_t **payload_p, size_t *size_p)
{
    tu_member_t *member = tu_council_member (council, as);
    certbus_envelope_t *env = NULL;
    certbus_err_t rc = certbus_envelope_open (bytes, size, council->dir, member->identity, as,
                                              (int64_t) time (NULL), &env, payload_p, size_p);
    if (rc != CERTBUS_OK)
        fail_msg ("%s cannot open: %s", as, certbus_reason ());
    return env;
}

//  A `forwards` reference to the message in bytes
static certbus_ref_t
s_forwards_ref (const uint8_t *bytes, size_t size)
{
    certbus_envelope_t *env = NULL;
    assert_int_equal (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    certbus_ref_t ref = {.relation = "forwards"};
    memcpy (ref.id, certbus_envelope_header (env)->id, CERTBUS_ID_SIZE);
    certbus_envelope_destroy (&env);
    return ref;
}

//  The forward payload member as makes of the envelope in bytes, with
//  certbus_forward_wrap (which must accept it)
static uint8_t *
s_wrap (tu_council_t *council, const uint8_t *bytes, size_t size, const char *as, const char *note,
        size_t *size_p)
{
    tu_member_t *member = tu_council_member (council, as);
    uint8_t *payload = NULL, *plain = NULL;
    size_t plain_size;
    certbus_envelope_t *env = s_open (council, bytes, size, as, &plain, &plain_size);
    free (plain);
    certbus_err_t rc = certbus_forward_wrap (env, member->identity, as, (const uint8_t *) note,
                                             note ? strlen (note) : 0, note ? "text/plain" : NULL,
                                             &payload, size_p);
    if (rc != CERTBUS_OK)
        fail_msg ("%s cannot wrap: %s", as, certbus_reason ());
    certbus_envelope_destroy (&env);
    return payload;
}

//  Seals payload as a forward from from to to at tlp, with ref (or none),
//  then opens it as to and the chain inside it. Returns what
//  certbus_forward_open returned; *out_p gets the result (or NULL).
static certbus_err_t
s_forward_and_open (tu_council_t *council, const char *from, const char *to, const char *tlp,
                    const certbus_ref_t *ref, const uint8_t *payload, size_t size,
                    certbus_forwarded_t **out_p)
{
    size_t outer_size, inner_size;
    uint8_t *outer_bytes = s_seal (council, from, to, tlp, ref, CERTBUS_FORWARD_TYPE, false,
                                   payload, size, &outer_size);
    uint8_t *inner = NULL;
    certbus_envelope_t *outer = s_open (council, outer_bytes, outer_size, to, &inner, &inner_size);
    assert_int_equal (inner_size, size);
    certbus_err_t rc = certbus_forward_open (council->dir, outer, inner, inner_size, out_p);
    if (rc != CERTBUS_OK)
        assert_null (*out_p);
    certbus_envelope_destroy (&outer);
    free (inner);
    free (outer_bytes);
    return rc;
}

//  ---------------------------------------------------------------------------

//  bank-01 forwards the national CERT's amber advisory, with a note; the
//  sectoral CERT gets the original, its origin and the note
static void
test_good_path (void **state)
{
    tu_council_t *council = *state;
    size_t size, payload_size;
    uint8_t *original = s_seal (council, "cert-national", "bank-01", "amber", NULL, NULL, false,
                                (const uint8_t *) s_advisory, strlen (s_advisory), &size);
    uint8_t *payload = s_wrap (council, original, size, "bank-01", "seen here too", &payload_size);
    certbus_ref_t ref = s_forwards_ref (original, size);
    certbus_forwarded_t *out = NULL;
    tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", "amber", &ref, payload,
                                       payload_size, &out),
                   CERTBUS_OK);
    assert_string_equal (out->forwarders, "bank-01");
    assert_string_equal (certbus_envelope_header (out->origin)->origin, "cert-national");
    assert_string_equal (certbus_envelope_header (out->origin)->tlp, "amber");
    assert_memory_equal (certbus_envelope_header (out->origin)->id, ref.id, CERTBUS_ID_SIZE);
    assert_int_equal (out->size, strlen (s_advisory));
    assert_memory_equal (out->payload, s_advisory, out->size);
    assert_int_equal (out->note_size, strlen ("seen here too"));
    assert_memory_equal (out->note, "seen here too", out->note_size);
    certbus_forwarded_destroy (&out);
    certbus_forwarded_destroy (&out); //  safe twice
    free (payload);

    //  Without a note, at TLP clear and green too
    const char *tlps [] = {"clear", "green"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *msg = s_seal (council, "cert-national", "bank-01", tlps [i], NULL, NULL, false,
                               (const uint8_t *) s_advisory, strlen (s_advisory), &size);
        payload = s_wrap (council, msg, size, "bank-01", NULL, &payload_size);
        ref = s_forwards_ref (msg, size);
        tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", tlps [i], &ref,
                                           payload, payload_size, &out),
                       CERTBUS_OK);
        assert_string_equal (out->forwarders, "bank-01");
        assert_int_equal (out->note_size, 0);
        assert_memory_equal (out->payload, s_advisory, out->size);
        certbus_forwarded_destroy (&out);
        free (payload);
        free (msg);
    }
    free (original);
}

//  Wrap refuses TLP red and amber+strict, which never travel further
static void
test_wrap_refuses_red_and_amber_strict (void **state)
{
    tu_council_t *council = *state;
    const char *tlps [] = {"red", "amber+strict"};
    tu_member_t *bank = tu_council_member (council, "bank-01");
    for (size_t i = 0; i < 2; i++) {
        size_t size, plain_size, payload_size = 0;
        uint8_t *msg = s_seal (council, "cert-national", "bank-01", tlps [i], NULL, NULL, false,
                               (const uint8_t *) s_advisory, strlen (s_advisory), &size);
        uint8_t *plain = NULL, *payload = NULL;
        certbus_envelope_t *env = s_open (council, msg, size, "bank-01", &plain, &plain_size);
        tu_assert_err (certbus_forward_wrap (env, bank->identity, "bank-01", NULL, 0, NULL,
                                             &payload, &payload_size),
                       CERTBUS_E_TLP);
        assert_null (payload);
        certbus_envelope_destroy (&env);
        free (plain);
        free (msg);
    }
}

//  A forward of a red or amber+strict message made by hand (as a member's
//  own client could) is refused on open
static void
test_open_refuses_red_and_amber_strict (void **state)
{
    tu_council_t *council = *state;
    const char *tlps [] = {"red", "amber+strict"};
    tu_member_t *bank = tu_council_member (council, "bank-01");
    for (size_t i = 0; i < 2; i++) {
        size_t size, payload_size;
        uint8_t *msg = s_seal (council, "cert-national", "bank-01", tlps [i], NULL, NULL, false,
                               (const uint8_t *) s_advisory, strlen (s_advisory), &size);
        uint8_t *payload = tu_forward_payload (msg, size, bank->identity, "bank-01", &payload_size);
        certbus_ref_t ref = s_forwards_ref (msg, size);
        certbus_forwarded_t *out = NULL;
        tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", tlps [i], &ref,
                                           payload, payload_size, &out),
                       CERTBUS_E_TLP);
        free (payload);
        free (msg);
    }
}

//  A forward must carry exactly one `forwards` reference, to the message
//  it carries
static void
test_open_refuses_bad_reference (void **state)
{
    tu_council_t *council = *state;
    size_t size, other_size, payload_size;
    uint8_t *msg = s_seal (council, "cert-national", "bank-01", "amber", NULL, NULL, false,
                           (const uint8_t *) s_advisory, strlen (s_advisory), &size);
    uint8_t *other = s_seal (council, "cert-national", "bank-01", "amber", NULL, NULL, false,
                             (const uint8_t *) s_advisory, strlen (s_advisory), &other_size);
    uint8_t *payload = s_wrap (council, msg, size, "bank-01", NULL, &payload_size);
    certbus_forwarded_t *out = NULL;
    //  no reference at all
    tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", "amber", NULL, payload,
                                       payload_size, &out),
                   CERTBUS_E_FIELD);
    //  a reference to another message
    certbus_ref_t ref = s_forwards_ref (other, other_size);
    tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", "amber", &ref, payload,
                                       payload_size, &out),
                   CERTBUS_E_FIELD);
    free (payload);
    free (other);
    free (msg);
}

//  The origin may not forward its own message, nor a forward of it
static void
test_open_refuses_own_message (void **state)
{
    tu_council_t *council = *state;
    size_t size, payload_size, hop_size, hop_payload_size;
    //  the national CERT keeps a copy of its message and forwards it itself
    uint8_t *msg = s_seal (council, "cert-national", "bank-01", "amber", NULL, NULL, true,
                           (const uint8_t *) s_advisory, strlen (s_advisory), &size);
    uint8_t *payload = s_wrap (council, msg, size, "cert-national", NULL, &payload_size);
    certbus_ref_t ref = s_forwards_ref (msg, size);
    certbus_forwarded_t *out = NULL;
    tu_assert_err (s_forward_and_open (council, "cert-national", "cert-banking", "amber", &ref,
                                       payload, payload_size, &out),
                   CERTBUS_E_POLICY);
    assert_non_null (strstr (certbus_reason (), "forwarded its own message"));
    free (payload);

    //  bank-01 forwards it back to the national CERT, which forwards that on
    payload = s_wrap (council, msg, size, "bank-01", NULL, &payload_size);
    uint8_t *hop = s_seal (council, "bank-01", "cert-national", "amber", &ref, CERTBUS_FORWARD_TYPE,
                           false, payload, payload_size, &hop_size);
    uint8_t *hop_payload = s_wrap (council, hop, hop_size, "cert-national", NULL,
                                   &hop_payload_size);
    certbus_ref_t hop_ref = s_forwards_ref (hop, hop_size);
    tu_assert_err (s_forward_and_open (council, "cert-national", "cert-banking", "amber", &hop_ref,
                                       hop_payload, hop_payload_size, &out),
                   CERTBUS_E_POLICY);
    assert_non_null (strstr (certbus_reason (), "through a forward chain"));
    //  the same chain forwarded by someone else opens, naming both forwarders
    free (hop_payload);
    free (hop);
    hop = s_seal (council, "bank-01", "cert-banking", "amber", &ref, CERTBUS_FORWARD_TYPE, false,
                  payload, payload_size, &hop_size);
    hop_payload = s_wrap (council, hop, hop_size, "cert-banking", NULL, &hop_payload_size);
    hop_ref = s_forwards_ref (hop, hop_size);
    tu_assert_err (s_forward_and_open (council, "cert-banking", "bank-01", "amber", &hop_ref,
                                       hop_payload, hop_payload_size, &out),
                   CERTBUS_OK);
    assert_string_equal (out->forwarders, "bank-01,cert-banking");
    assert_string_equal (certbus_envelope_header (out->origin)->origin, "cert-national");
    certbus_forwarded_destroy (&out);
    free (hop_payload);
    free (hop);
    free (payload);
    free (msg);
}

//  A forward keeps the original's TLP, and only a forward opens as one
static void
test_open_refuses_tlp_change_and_plain (void **state)
{
    tu_council_t *council = *state;
    size_t size, payload_size;
    uint8_t *msg = s_seal (council, "cert-national", "bank-01", "amber", NULL, NULL, false,
                           (const uint8_t *) s_advisory, strlen (s_advisory), &size);
    uint8_t *payload = s_wrap (council, msg, size, "bank-01", NULL, &payload_size);
    certbus_ref_t ref = s_forwards_ref (msg, size);
    certbus_forwarded_t *out = NULL;
    tu_assert_err (s_forward_and_open (council, "bank-01", "cert-banking", "green", &ref, payload,
                                       payload_size, &out),
                   CERTBUS_E_TLP);

    //  a message that is not a forward
    size_t plain_size;
    uint8_t *plain = NULL;
    certbus_envelope_t *env = s_open (council, msg, size, "bank-01", &plain, &plain_size);
    tu_assert_err (certbus_forward_open (council->dir, env, plain, plain_size, &out),
                   CERTBUS_E_FIELD);
    assert_null (out);
    certbus_envelope_destroy (&env);
    free (plain);
    free (payload);
    free (msg);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_good_path),
        cmocka_unit_test (test_wrap_refuses_red_and_amber_strict),
        cmocka_unit_test (test_open_refuses_red_and_amber_strict),
        cmocka_unit_test (test_open_refuses_bad_reference),
        cmocka_unit_test (test_open_refuses_own_message),
        cmocka_unit_test (test_open_refuses_tlp_change_and_plain),
    };
    return cmocka_run_group_tests (tests, s_setup, tu_council_teardown);
}
