/*  test_cert.c - unit tests of certbus_cert: tiers, names, enrolment
    requests, Council certificates, validity windows and revocations
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

//  A Council, a member identity and its decoded request, shared by a test
typedef struct {
    certbus_identity_t *council;
    certbus_identity_t *member;
    certbus_request_t *request;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    self->council = certbus_identity_new ();
    self->member = certbus_identity_new ();
    uint8_t *bytes;
    size_t size;
    assert_int_equal (
        certbus_request_make (self->member, "cert-pk", "CERT Pakistan", &bytes, &size), 0);
    self->request = certbus_request_decode (bytes, size);
    free (bytes);
    assert_non_null (self->request);
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = *state;
    certbus_request_destroy (&self->request);
    certbus_identity_destroy (&self->member);
    certbus_identity_destroy (&self->council);
    free (self);
    return 0;
}

//  Issues a certificate for the fixture's request, failing the test if refused
static uint8_t *
s_issue (fixture_t *self, certbus_identity_t *council, uint64_t serial, int64_t not_before,
         int64_t not_after, size_t *size_p)
{
    uint8_t *bytes = NULL;
    if (certbus_cert_issue (council, self->request, serial, CERTBUS_TIER_SECTORAL, "banking",
                            "punjab", not_before, not_after, &bytes, size_p)
        != 0)
        fail_msg ("issue: %s", certbus_reason ());
    return bytes;
}

static void
test_tier_names (void **state)
{
    (void) state;
    const char *names [] = {"national",   "government", "federal",
                            "provincial", "sectoral",   "organization"};
    for (int i = 0; i < 6; i++) {
        certbus_tier_t tier = (certbus_tier_t) (i + 1);
        assert_int_equal (certbus_tier_parse (names [i]), tier);
        assert_string_equal (certbus_tier_name (tier), names [i]);
        assert_non_null (strstr (certbus_tier_list (), names [i]));
    }
    assert_int_equal (certbus_tier_parse ("galactic"), CERTBUS_TIER_NONE);
    assert_int_equal (certbus_tier_parse ("National"), CERTBUS_TIER_NONE);
    assert_int_equal (certbus_tier_parse (""), CERTBUS_TIER_NONE);
    assert_int_equal (certbus_tier_parse (NULL), CERTBUS_TIER_NONE);
    assert_string_equal (certbus_tier_name (CERTBUS_TIER_NONE), "unknown");
    assert_string_equal (certbus_tier_name ((certbus_tier_t) 7), "unknown");
}

static void
test_name_valid (void **state)
{
    (void) state;
    assert_true (certbus_name_valid ("pk-bank-01"));
    assert_true (certbus_name_valid ("0day.team_x"));
    assert_true (certbus_name_valid ("a"));
    assert_false (certbus_name_valid (NULL));
    assert_false (certbus_name_valid (""));
    assert_false (certbus_name_valid ("-lead"));
    assert_false (certbus_name_valid (".hidden"));
    assert_false (certbus_name_valid ("Upper"));
    assert_false (certbus_name_valid ("with space"));
    assert_false (certbus_name_valid ("org:x"));
    assert_false (certbus_name_valid ("caf\xc3\xa9"));
    char name [CERTBUS_MAX_NAME + 2];
    memset (name, 'a', sizeof name);
    name [CERTBUS_MAX_NAME] = 0;
    assert_true (certbus_name_valid (name));
    name [CERTBUS_MAX_NAME] = 'a';
    name [CERTBUS_MAX_NAME + 1] = 0;
    assert_false (certbus_name_valid (name));
}

static void
test_request_round_trip (void **state)
{
    fixture_t *self = *state;
    certbus_request_t *req = self->request;
    assert_string_equal (req->org_id, "cert-pk");
    assert_string_equal (req->name, "CERT Pakistan");
    assert_memory_equal (req->sign_key, certbus_identity_sign_public (self->member),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (req->box_key, certbus_identity_box_public (self->member),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (req->curve_key, certbus_identity_curve_public (self->member),
                         CERTBUS_KEY_SIZE);

    //  The name defaults to the org id
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (self->member, "cert-pk", NULL, &bytes, &size), 0);
    certbus_request_t *plain = certbus_request_decode (bytes, size);
    assert_non_null (plain);
    assert_string_equal (plain->name, "cert-pk");
    certbus_request_destroy (&plain);
    assert_null (plain);
    certbus_request_destroy (&plain);

    //  A flipped bit anywhere in the last 64 bytes (the self-signature) is refused
    bytes [size - 5] ^= 0x10;
    certbus_reason_clear ();
    assert_null (certbus_request_decode (bytes, size));
    assert_non_null (strstr (certbus_reason (), "not signed"));
    bytes [size - 5] ^= 0x10;
    //  Truncated and garbage requests are refused
    assert_null (certbus_request_decode (bytes, size - 1));
    assert_null (certbus_request_decode ((const uint8_t *) "garbage!", 8));
    free (bytes);

    //  Invalid org ids and names are refused when making a request
    bytes = NULL;
    assert_int_equal (certbus_request_make (self->member, "Bad Org", NULL, &bytes, &size), -1);
    assert_int_equal (certbus_request_make (self->member, "", NULL, &bytes, &size), -1);
    assert_int_equal (certbus_request_make (self->member, "ok", "bad \xff name", &bytes, &size),
                      -1);
    assert_null (bytes);
}

static void
test_issue_and_decode (void **state)
{
    fixture_t *self = *state;
    int64_t now = certbus_now ();
    size_t size;
    uint8_t *bytes = s_issue (self, self->council, 42, now - 10, now + 3600, &size);
    certbus_cert_t *cert;
    tu_assert_err (certbus_cert_decode (bytes, size, certbus_identity_sign_public (self->council),
                                        &cert),
                   CERTBUS_OK);
    assert_int_equal (cert->serial, 42);
    assert_string_equal (cert->org_id, "cert-pk");
    assert_string_equal (cert->name, "CERT Pakistan");
    assert_int_equal (cert->tier, CERTBUS_TIER_SECTORAL);
    assert_string_equal (cert->sector, "banking");
    assert_string_equal (cert->region, "punjab");
    assert_memory_equal (cert->sign_key, certbus_identity_sign_public (self->member),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (cert->box_key, certbus_identity_box_public (self->member),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (cert->curve_key, certbus_identity_curve_public (self->member),
                         CERTBUS_KEY_SIZE);
    assert_int_equal (cert->not_before, now - 10);
    assert_int_equal (cert->not_after, now + 3600);
    assert_int_equal (cert->size, size);
    assert_memory_equal (cert->bytes, bytes, size);

    //  A duplicate is equal and independent
    certbus_cert_t *copy = certbus_cert_dup (cert);
    assert_ptr_not_equal (copy->org_id, cert->org_id);
    assert_ptr_not_equal (copy->bytes, cert->bytes);
    assert_string_equal (copy->org_id, cert->org_id);
    assert_string_equal (copy->sector, cert->sector);
    assert_int_equal (copy->serial, cert->serial);
    assert_memory_equal (copy->bytes, cert->bytes, cert->size);
    certbus_cert_destroy (&cert);
    assert_null (cert);
    certbus_cert_destroy (&cert);
    assert_string_equal (copy->region, "punjab");
    certbus_cert_destroy (&copy);

    //  No sector or region
    uint8_t *plain_bytes;
    size_t plain_size;
    assert_int_equal (certbus_cert_issue (self->council, self->request, 43, CERTBUS_TIER_NATIONAL,
                                          NULL, NULL, now, now + 60, &plain_bytes, &plain_size),
                      0);
    tu_assert_err (certbus_cert_decode (plain_bytes, plain_size,
                                        certbus_identity_sign_public (self->council), &cert),
                   CERTBUS_OK);
    assert_string_equal (cert->sector, "");
    assert_string_equal (cert->region, "");
    assert_int_equal (cert->tier, CERTBUS_TIER_NATIONAL);
    certbus_cert_destroy (&cert);
    free (plain_bytes);
    free (bytes);
}

static void
test_issue_refuses_bad_fields (void **state)
{
    fixture_t *self = *state;
    int64_t now = certbus_now ();
    uint8_t *bytes = NULL;
    size_t size;
    certbus_reason_clear ();
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, CERTBUS_TIER_NONE, "",
                                          "", now, now + 60, &bytes, &size),
                      -1);
    assert_non_null (strstr (certbus_reason (), "tier"));
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, (certbus_tier_t) 7, "",
                                          "", now, now + 60, &bytes, &size),
                      -1);
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, CERTBUS_TIER_SECTORAL,
                                          "Bad Sector", "", now, now + 60, &bytes, &size),
                      -1);
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, CERTBUS_TIER_SECTORAL,
                                          "", "bad/region", now, now + 60, &bytes, &size),
                      -1);
    //  Empty and inverted validity windows
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, CERTBUS_TIER_SECTORAL,
                                          "", "", now, now, &bytes, &size),
                      -1);
    assert_int_equal (certbus_cert_issue (self->council, self->request, 1, CERTBUS_TIER_SECTORAL,
                                          "", "", now, now - 1, &bytes, &size),
                      -1);
    assert_null (bytes);
}

static void
test_decode_refuses_other_council (void **state)
{
    fixture_t *self = *state;
    int64_t now = certbus_now ();
    certbus_identity_t *other = certbus_identity_new ();
    size_t size;
    uint8_t *bytes = s_issue (self, other, 1, now - 10, now + 3600, &size);
    certbus_cert_t *cert = (certbus_cert_t *) 1;
    tu_assert_err (certbus_cert_decode (bytes, size, certbus_identity_sign_public (self->council),
                                        &cert),
                   CERTBUS_E_CERT_SIGNATURE);
    assert_null (cert);
    //  It is fine under its own Council
    tu_assert_err (certbus_cert_decode (bytes, size, certbus_identity_sign_public (other), &cert),
                   CERTBUS_OK);
    certbus_cert_destroy (&cert);
    free (bytes);
    certbus_identity_destroy (&other);
}

static void
test_decode_refuses_tampering (void **state)
{
    fixture_t *self = *state;
    const uint8_t *council_key = certbus_identity_sign_public (self->council);
    int64_t now = certbus_now ();
    size_t size;
    uint8_t *bytes = s_issue (self, self->council, 7, now - 10, now + 3600, &size);
    certbus_cert_t *cert = NULL;

    //  A bit flipped inside the region string of the body: still decodes, but
    //  the Council's signature no longer holds
    long at = tu_find (bytes, size, "punjab", 6);
    assert_true (at > 0);
    bytes [at] ^= 0x02;   //  'p' -> 'r'
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert),
                   CERTBUS_E_CERT_SIGNATURE);
    bytes [at] ^= 0x02;

    //  A bit flipped in the signature (the last bytes)
    bytes [size - 1] ^= 0x80;
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert),
                   CERTBUS_E_CERT_SIGNATURE);
    bytes [size - 1] ^= 0x80;

    //  Truncated, garbage, oversized, empty
    tu_assert_err (certbus_cert_decode (bytes, size - 1, council_key, &cert), CERTBUS_E_DECODE);
    tu_assert_err (certbus_cert_decode (bytes, size / 2, council_key, &cert), CERTBUS_E_DECODE);
    const uint8_t garbage [] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    tu_assert_err (certbus_cert_decode (garbage, sizeof garbage, council_key, &cert),
                   CERTBUS_E_DECODE);
    size_t big_size = 64 * 1024 + 1;
    uint8_t *big = calloc (1, big_size);
    assert_non_null (big);
    memcpy (big, bytes, size);
    tu_assert_err (certbus_cert_decode (big, big_size, council_key, &cert), CERTBUS_E_TOO_LARGE);
    free (big);
    tu_assert_err (certbus_cert_decode (bytes, 0, council_key, &cert), CERTBUS_E_DECODE);
    assert_null (cert);

    //  The untouched certificate still decodes
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
    certbus_cert_destroy (&cert);
    free (bytes);
}

static void
test_decode_refuses_unknown_version (void **state)
{
    fixture_t *self = *state;
    const uint8_t *council_key = certbus_identity_sign_public (self->council);
    int64_t now = certbus_now ();
    size_t size;
    uint8_t *bytes = s_issue (self, self->council, 9, now - 10, now + 3600, &size);
    Certbus__Certificate *wire = certbus__certificate__unpack (NULL, size, bytes);
    assert_non_null (wire);
    wire->version = 2;
    size_t v2_size;
    uint8_t *v2 = certbus_codec_encode (wire, &v2_size);
    certbus_cert_t *cert = NULL;
    tu_assert_err (certbus_cert_decode (v2, v2_size, council_key, &cert), CERTBUS_E_VERSION);
    assert_null (cert);
    certbus__certificate__free_unpacked (wire, NULL);
    free (v2);
    free (bytes);
}

static void
test_check_time_window (void **state)
{
    fixture_t *self = *state;
    const uint8_t *council_key = certbus_identity_sign_public (self->council);
    size_t size;
    uint8_t *bytes = s_issue (self, self->council, 3, 1000000, 2000000, &size);
    certbus_cert_t *cert;
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
    tu_assert_err (certbus_cert_check_time (cert, 999999), CERTBUS_E_CERT_NOT_YET_VALID);
    tu_assert_err (certbus_cert_check_time (cert, 1000000), CERTBUS_OK);
    tu_assert_err (certbus_cert_check_time (cert, 1999999), CERTBUS_OK);
    tu_assert_err (certbus_cert_check_time (cert, 2000000), CERTBUS_E_CERT_EXPIRED);
    tu_assert_err (certbus_cert_check_time (cert, certbus_now ()), CERTBUS_E_CERT_EXPIRED);
    certbus_cert_destroy (&cert);
    free (bytes);

    //  Certificates issued with past and future windows decode (the window
    //  is judged separately) and are judged expired / not yet valid now
    int64_t now = certbus_now ();
    bytes = s_issue (self, self->council, 4, now - 7200, now - 3600, &size);
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
    tu_assert_err (certbus_cert_check_time (cert, now), CERTBUS_E_CERT_EXPIRED);
    certbus_cert_destroy (&cert);
    free (bytes);
    bytes = s_issue (self, self->council, 5, now + 3600, now + 7200, &size);
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
    tu_assert_err (certbus_cert_check_time (cert, now), CERTBUS_E_CERT_NOT_YET_VALID);
    certbus_cert_destroy (&cert);
    free (bytes);
}

static void
test_revocation_round_trip (void **state)
{
    fixture_t *self = *state;
    const uint8_t *council_key = certbus_identity_sign_public (self->council);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_revocation_issue (self->council, 17, "cert-pk", 1700000000,
                                                "key compromise", &bytes, &size),
                      0);
    certbus_revocation_t *rev;
    tu_assert_err (certbus_revocation_decode (bytes, size, council_key, &rev), CERTBUS_OK);
    assert_int_equal (rev->serial, 17);
    assert_string_equal (rev->org_id, "cert-pk");
    assert_int_equal (rev->revoked_at, 1700000000);
    assert_string_equal (rev->reason, "key compromise");
    assert_int_equal (rev->size, size);
    assert_memory_equal (rev->bytes, bytes, size);
    certbus_revocation_destroy (&rev);
    assert_null (rev);
    certbus_revocation_destroy (&rev);

    //  Another Council's key, a flipped bit, truncation
    certbus_identity_t *other = certbus_identity_new ();
    tu_assert_err (certbus_revocation_decode (bytes, size, certbus_identity_sign_public (other),
                                              &rev),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    long at = tu_find (bytes, size, "compromise", 10);
    assert_true (at > 0);
    bytes [at] ^= 0x01;
    tu_assert_err (certbus_revocation_decode (bytes, size, council_key, &rev),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    bytes [at] ^= 0x01;
    tu_assert_err (certbus_revocation_decode (bytes, size - 2, council_key, &rev),
                   CERTBUS_E_DECODE);
    assert_null (rev);
    free (bytes);

    //  A reason that is not UTF-8 is refused; no reason is ""
    bytes = NULL;
    assert_int_equal (certbus_revocation_issue (self->council, 17, "cert-pk", 1, "\xc0\x80",
                                                &bytes, &size),
                      -1);
    assert_null (bytes);
    assert_int_equal (certbus_revocation_issue (self->council, 18, "cert-pk", 1, NULL, &bytes,
                                                &size),
                      0);
    tu_assert_err (certbus_revocation_decode (bytes, size, council_key, &rev), CERTBUS_OK);
    assert_string_equal (rev->reason, "");
    certbus_revocation_destroy (&rev);
    free (bytes);
    certbus_identity_destroy (&other);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_tier_names),
        cmocka_unit_test (test_name_valid),
        cmocka_unit_test_setup_teardown (test_request_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_issue_and_decode, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_issue_refuses_bad_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_other_council, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_tampering, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_unknown_version, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_check_time_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revocation_round_trip, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
