/*  test_directory.c - unit tests of certbus_directory: build, decode,
    look-ups, revocations, versions and origin checks
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

//  A Council with members enrolled out of org order, one revoked, one
//  expired and one not yet valid
static int
s_setup (void **state)
{
    tu_council_t *council = tu_council_new ();
    int64_t now = certbus_now ();
    tu_council_enrol (council, "pk-bank-02", CERTBUS_TIER_ORGANIZATION, "banking", "sindh",
                      now - 60, now + 3600);
    tu_council_enrol (council, "cert-pk", CERTBUS_TIER_NATIONAL, "", "", now - 60, now + 3600);
    tu_council_enrol (council, "pk-bank-01", CERTBUS_TIER_ORGANIZATION, "banking", "punjab",
                      now - 60, now + 3600);
    tu_council_enrol (council, "old-team", CERTBUS_TIER_FEDERAL, "", "", now - 7200, now - 3600);
    tu_council_enrol (council, "new-team", CERTBUS_TIER_FEDERAL, "", "", now + 3600, now + 7200);
    tu_council_enrol (council, "gone", CERTBUS_TIER_SECTORAL, "energy", "", now - 60, now + 3600);
    tu_council_revoke (council, "gone", "key compromise");
    tu_council_publish (council);
    *state = council;
    return 0;
}

static void
test_decode_lists_and_finds (void **state)
{
    tu_council_t *council = *state;
    certbus_directory_t *dir = council->dir;
    assert_int_equal (certbus_directory_serial (dir), 1);
    int64_t issued = certbus_directory_issued_at (dir);
    assert_true (issued <= certbus_now () && issued >= certbus_now () - 60);

    //  Every certificate, in org order
    const char *sorted [] = {"cert-pk", "gone", "new-team", "old-team", "pk-bank-01", "pk-bank-02"};
    assert_int_equal (certbus_directory_count (dir), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal (certbus_directory_at (dir, i)->org_id, sorted [i]);
    assert_null (certbus_directory_at (dir, 6));

    //  Look-ups by org, serial and transport key
    tu_member_t *bank = tu_council_member (council, "pk-bank-01");
    const certbus_cert_t *cert = certbus_directory_find (dir, "pk-bank-01");
    assert_non_null (cert);
    assert_int_equal (cert->serial, bank->serial);
    assert_string_equal (cert->region, "punjab");
    assert_memory_equal (cert->bytes, bank->cert_bytes, bank->cert_size);
    assert_ptr_equal (certbus_directory_find_serial (dir, bank->serial), cert);
    assert_ptr_equal (certbus_directory_find_curve (dir,
                                                    certbus_identity_curve_public (bank->identity)),
                      cert);
    assert_null (certbus_directory_find (dir, "nobody"));
    assert_null (certbus_directory_find (dir, NULL));
    assert_null (certbus_directory_find_serial (dir, 999));
    uint8_t unknown_key [CERTBUS_KEY_SIZE] = {1, 2, 3};
    assert_null (certbus_directory_find_curve (dir, unknown_key));

    //  The bytes are the signed directory as received
    size_t size;
    const uint8_t *bytes = certbus_directory_bytes (dir, &size);
    assert_int_equal (size, council->dir_size);
    assert_memory_equal (bytes, council->dir_bytes, size);
}

static void
test_revocations (void **state)
{
    tu_council_t *council = *state;
    certbus_directory_t *dir = council->dir;
    tu_member_t *gone = tu_council_member (council, "gone");
    assert_int_equal (certbus_directory_revocation_count (dir), 1);
    const certbus_revocation_t *rev = certbus_directory_revocation_at (dir, 0);
    assert_non_null (rev);
    assert_int_equal (rev->serial, gone->serial);
    assert_string_equal (rev->org_id, "gone");
    assert_string_equal (rev->reason, "key compromise");
    assert_ptr_equal (certbus_directory_revocation (dir, gone->serial), rev);
    assert_null (certbus_directory_revocation_at (dir, 1));
    assert_null (
        certbus_directory_revocation (dir, tu_council_member (council, "cert-pk")->serial));
}

static void
test_check_origin (void **state)
{
    tu_council_t *council = *state;
    certbus_directory_t *dir = council->dir;
    int64_t now = certbus_now ();
    const certbus_cert_t *cert = NULL;
    tu_member_t *m = tu_council_member (council, "cert-pk");
    tu_assert_err (certbus_directory_check_origin (dir, "cert-pk", m->serial, now, &cert),
                   CERTBUS_OK);
    assert_non_null (cert);
    assert_string_equal (cert->org_id, "cert-pk");

    m = tu_council_member (council, "gone");
    tu_assert_err (certbus_directory_check_origin (dir, "gone", m->serial, now, &cert),
                   CERTBUS_E_REVOKED);
    assert_null (cert);
    assert_non_null (strstr (certbus_reason (), "key compromise"));

    tu_assert_err (certbus_directory_check_origin (dir, "stranger", 77, now, &cert),
                   CERTBUS_E_UNKNOWN_ORIGIN);
    //  A known org with another certificate's serial
    m = tu_council_member (council, "pk-bank-01");
    tu_assert_err (certbus_directory_check_origin (
                       dir, "pk-bank-01", tu_council_member (council, "pk-bank-02")->serial, now,
                       &cert),
                   CERTBUS_E_UNKNOWN_ORIGIN);

    m = tu_council_member (council, "old-team");
    tu_assert_err (certbus_directory_check_origin (dir, "old-team", m->serial, now, &cert),
                   CERTBUS_E_CERT_EXPIRED);
    //  ... but it was valid when it was valid
    tu_assert_err (certbus_directory_check_origin (dir, "old-team", m->serial, now - 5000, &cert),
                   CERTBUS_OK);

    m = tu_council_member (council, "new-team");
    tu_assert_err (certbus_directory_check_origin (dir, "new-team", m->serial, now, &cert),
                   CERTBUS_E_CERT_NOT_YET_VALID);
    tu_assert_err (certbus_directory_check_origin (dir, "new-team", m->serial, now + 5000, &cert),
                   CERTBUS_OK);
}

static void
test_signed_by_another_key (void **state)
{
    tu_council_t *council = *state;
    certbus_identity_t *other = certbus_identity_new ();
    certbus_directory_t *dir = (certbus_directory_t *) 1;
    tu_assert_err (certbus_directory_decode (council->dir_bytes, council->dir_size,
                                             certbus_identity_sign_public (other), 0, &dir),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    assert_null (dir);

    //  The same certificates signed into a directory by another key
    uint8_t *certs [1] = {tu_council_member (council, "cert-pk")->cert_bytes};
    size_t sizes [1] = {tu_council_member (council, "cert-pk")->cert_size};
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_directory_build (other, 50, certs, sizes, 1, NULL, NULL, 0, &bytes,
                                               &size),
                      0);
    tu_assert_err (certbus_directory_decode (bytes, size,
                                             certbus_identity_sign_public (council->council), 0,
                                             &dir),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    //  Under the other key the signature holds, but the certificate inside
    //  is not that key's
    tu_assert_err (certbus_directory_decode (bytes, size, certbus_identity_sign_public (other), 0,
                                             &dir),
                   CERTBUS_E_CERT_SIGNATURE);
    assert_null (dir);
    free (bytes);
    certbus_identity_destroy (&other);
}

//  Builds directory version serial of these certificates and revocations,
//  signed with the Council's key, and decodes it against that key; a
//  directory that does not decode comes back NULL. Returns the decode's code.
static certbus_err_t
s_build_and_decode (tu_council_t *council, uint64_t serial, uint8_t **certs, size_t *sizes,
                    size_t count, uint8_t **revs, size_t *rev_sizes, size_t rev_count)
{
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_directory_build (council->council, serial, certs, sizes, count, revs,
                                               rev_sizes, rev_count, &bytes, &size),
                      0);
    certbus_directory_t *dir = NULL;
    certbus_err_t rc = certbus_directory_decode (bytes, size,
                                                 certbus_identity_sign_public (council->council), 0,
                                                 &dir);
    if (rc)
        assert_null (dir);
    certbus_directory_destroy (&dir);
    free (bytes);
    return rc;
}

static void
test_foreign_certificate_inside (void **state)
{
    tu_council_t *council = *state;
    //  Our Council signs a directory that lists a certificate of another
    //  Council: every certificate is verified on its own
    tu_council_t *foreign = tu_council_new ();
    tu_member_t *stranger = tu_council_enrol_simple (foreign, "stranger");
    uint8_t *certs [2] = {tu_council_member (council, "cert-pk")->cert_bytes, stranger->cert_bytes};
    size_t sizes [2] = {tu_council_member (council, "cert-pk")->cert_size, stranger->cert_size};
    tu_assert_err (s_build_and_decode (council, 9, certs, sizes, 2, NULL, NULL, 0),
                   CERTBUS_E_CERT_SIGNATURE);

    //  Likewise a revocation signed by another Council
    uint8_t *rev;
    size_t rev_size;
    assert_int_equal (certbus_revocation_issue (foreign->council, 1, "cert-pk", 1, "x", &rev,
                                                &rev_size),
                      0);
    tu_assert_err (s_build_and_decode (council, 9, certs, sizes, 1, &rev, &rev_size, 1),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    free (rev);
    tu_council_destroy (&foreign);
}

static void
test_older_directory_refused (void **state)
{
    tu_council_t *council = *state;
    const uint8_t *key = certbus_identity_sign_public (council->council);
    //  Publish versions 2 and 3; keep a copy of version 2
    tu_council_publish (council);
    uint8_t *v2 = tu_dup (council->dir_bytes, council->dir_size);
    size_t v2_size = council->dir_size;
    tu_council_publish (council);
    assert_int_equal (certbus_directory_serial (council->dir), 3);

    certbus_directory_t *dir = NULL;
    tu_assert_err (certbus_directory_decode (v2, v2_size, key, 3, &dir), CERTBUS_E_DIRECTORY_OLD);
    assert_null (dir);
    tu_assert_err (certbus_directory_decode (v2, v2_size, key, 2, &dir), CERTBUS_OK);
    assert_int_equal (certbus_directory_serial (dir), 2);
    certbus_directory_destroy (&dir);
    tu_assert_err (certbus_directory_decode (council->dir_bytes, council->dir_size, key, 3, &dir),
                   CERTBUS_OK);
    assert_int_equal (certbus_directory_serial (dir), 3);
    certbus_directory_destroy (&dir);
    assert_null (dir);
    certbus_directory_destroy (&dir);
    free (v2);
}

static void
test_tampered_and_malformed (void **state)
{
    tu_council_t *council = *state;
    const uint8_t *key = certbus_identity_sign_public (council->council);
    uint8_t *bytes = tu_dup (council->dir_bytes, council->dir_size);
    size_t size = council->dir_size;
    certbus_directory_t *dir = NULL;

    //  A bit flipped in an org id inside the signed body
    long at = tu_find (bytes, size, "pk-bank-02", 10);
    assert_true (at > 0);
    bytes [at + 9] ^= 0x01; //  "pk-bank-03"
    tu_assert_err (certbus_directory_decode (bytes, size, key, 0, &dir),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    bytes [at + 9] ^= 0x01;
    //  In the signature
    bytes [size - 3] ^= 0x04;
    tu_assert_err (certbus_directory_decode (bytes, size, key, 0, &dir),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    bytes [size - 3] ^= 0x04;

    tu_assert_err (certbus_directory_decode (bytes, size - 1, key, 0, &dir), CERTBUS_E_DECODE);
    tu_assert_err (certbus_directory_decode (bytes, size / 2, key, 0, &dir), CERTBUS_E_DECODE);
    const char *garbage = "this is not a directory";
    tu_assert_err (certbus_directory_decode ((const uint8_t *) garbage, strlen (garbage), key, 0,
                                             &dir),
                   CERTBUS_E_DECODE);
    tu_assert_err (certbus_directory_decode (bytes, 0, key, 0, &dir), CERTBUS_E_DECODE);
    size_t big_size = CERTBUS_MAX_DIRECTORY + 1;
    uint8_t *big = calloc (1, big_size);
    assert_non_null (big);
    memcpy (big, bytes, size);
    tu_assert_err (certbus_directory_decode (big, big_size, key, 0, &dir), CERTBUS_E_TOO_LARGE);
    free (big);
    assert_null (dir);

    //  Unknown major version of the outer Directory
    Certbus__Directory *wire = certbus__directory__unpack (NULL, size, bytes);
    assert_non_null (wire);
    wire->version = 2;
    size_t v2_size;
    uint8_t *v2 = certbus_codec_encode (wire, &v2_size);
    tu_assert_err (certbus_directory_decode (v2, v2_size, key, 0, &dir), CERTBUS_E_VERSION);
    certbus__directory__free_unpacked (wire, NULL);
    free (v2);
    free (bytes);

    //  Garbage certificate bytes cannot be built into a directory
    uint8_t junk [] = {0xff, 0xff, 0xff};
    uint8_t *certs [1] = {junk};
    size_t sizes [1] = {sizeof junk};
    uint8_t *out = NULL;
    assert_int_equal (certbus_directory_build (council->council, 1, certs, sizes, 1, NULL, NULL, 0,
                                               &out, &size),
                      -1);
    assert_null (out);
}

static void
test_duplicate_org_refused (void **state)
{
    tu_council_t *council = *state;
    //  Two certificates for one org id
    tu_council_enrol_simple (council, "cert-pk");
    uint8_t **certs = calloc (council->count, sizeof (uint8_t *));
    size_t *sizes = calloc (council->count, sizeof (size_t));
    assert_non_null (certs);
    assert_non_null (sizes);
    for (size_t i = 0; i < council->count; i++) {
        certs [i] = council->members [i]->cert_bytes;
        sizes [i] = council->members [i]->cert_size;
    }
    tu_assert_err (s_build_and_decode (council, 4, certs, sizes, council->count, NULL, NULL, 0),
                   CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "cert-pk"));
    free (certs);
    free (sizes);
}

//  A certificate the Council signs for org_id with these three keys
static uint8_t *
s_cert_with_keys (tu_council_t *council, const char *org_id, uint64_t serial,
                  const uint8_t *sign_key, const uint8_t *box_key, const uint8_t *curve_key,
                  size_t *size_p)
{
    certbus_request_t request = {.org_id = (char *) org_id, .name = (char *) org_id};
    memcpy (request.sign_key, sign_key, CERTBUS_KEY_SIZE);
    memcpy (request.box_key, box_key, CERTBUS_KEY_SIZE);
    memcpy (request.curve_key, curve_key, CERTBUS_KEY_SIZE);
    int64_t now = certbus_now ();
    uint8_t *bytes = NULL;
    assert_int_equal (certbus_cert_issue (council->council, &request, serial,
                                          CERTBUS_TIER_ORGANIZATION, "", "", now - 60, now + 3600,
                                          &bytes, size_p),
                      0);
    return bytes;
}

//  Builds and decodes a directory of the two certificates
static certbus_err_t
s_decode_pair (tu_council_t *council, uint8_t *first, size_t first_size, uint8_t *second,
               size_t second_size)
{
    uint8_t *certs [2] = {first, second};
    size_t sizes [2] = {first_size, second_size};
    return s_build_and_decode (council, 9, certs, sizes, 2, NULL, NULL, 0);
}

//  One key, one member: two certificates that share a key in the same role
//  (each of the three), or in two different roles, are refused
static void
test_shared_key_refused (void **state)
{
    tu_council_t *council = *state;
    certbus_identity_t *a = certbus_identity_new (), *b = certbus_identity_new ();
    const uint8_t *a_keys [3] = {certbus_identity_sign_public (a), certbus_identity_box_public (a),
                                 certbus_identity_curve_public (a)};
    const uint8_t *b_keys [3] = {certbus_identity_sign_public (b), certbus_identity_box_public (b),
                                 certbus_identity_curve_public (b)};
    const char *roles [3] = {"sign", "box", "CURVE"};
    size_t first_size, second_size;
    uint8_t *first = s_cert_with_keys (council, "alpha", 100, a_keys [0], a_keys [1], a_keys [2],
                                       &first_size);
    //  Control: distinct keys pass
    uint8_t *second = s_cert_with_keys (council, "mallory", 101, b_keys [0], b_keys [1], b_keys [2],
                                        &second_size);
    tu_assert_err (s_decode_pair (council, first, first_size, second, second_size), CERTBUS_OK);
    free (second);
    //  Each key of alpha copied into mallory's certificate, same role
    for (int role = 0; role < 3; role++) {
        const uint8_t *keys [3] = {b_keys [0], b_keys [1], b_keys [2]};
        keys [role] = a_keys [role];
        second = s_cert_with_keys (council, "mallory", 101, keys [0], keys [1], keys [2],
                                   &second_size);
        certbus_reason_clear ();
        tu_assert_err (s_decode_pair (council, first, first_size, second, second_size),
                       CERTBUS_E_FIELD);
        char want [128];
        snprintf (want, sizeof want, "the %s key of 'mallory' is the %s key of 'alpha'",
                  roles [role], roles [role]);
        if (!strstr (certbus_reason (), want))
            fail_msg ("reason '%s' does not say '%s'", certbus_reason (), want);
        free (second);
    }
    //  Across roles: alpha's box key as mallory's CURVE key
    second = s_cert_with_keys (council, "mallory", 101, b_keys [0], b_keys [1], a_keys [1],
                               &second_size);
    tu_assert_err (s_decode_pair (council, first, first_size, second, second_size),
                   CERTBUS_E_FIELD);
    assert_non_null (strstr (certbus_reason (), "the CURVE key of 'mallory' is the box key of "
                                                "'alpha'"));
    free (second);
    free (first);
    certbus_identity_destroy (&a);
    certbus_identity_destroy (&b);
}

//  The Council's look-up before it issues: which other current member holds
//  a key, in which role
static void
test_key_holder (void **state)
{
    tu_council_t *council = *state;
    const uint8_t *council_key = certbus_identity_sign_public (council->council);
    tu_member_t *bank = tu_council_member (council, "pk-bank-01");
    tu_member_t *gone = tu_council_member (council, "gone");
    char *holder = NULL;
    const char *role = NULL;
    //  The bank's box key and its CURVE key, asked about by another org
    const uint8_t *held_keys [2] = {certbus_identity_box_public (bank->identity),
                                    certbus_identity_curve_public (bank->identity)};
    const char *roles [2] = {"box", "CURVE"};
    for (int i = 0; i < 2; i++) {
        tu_assert_err (certbus_directory_key_holder (council->dir_bytes, council->dir_size,
                                                     council_key, "mallory", held_keys [i], &holder,
                                                     &role),
                       CERTBUS_OK);
        assert_string_equal (holder, "pk-bank-01");
        assert_string_equal (role, roles [i]);
        free (holder);
    }
    //  The org's own keys, a revoked member's keys, an unknown key: no holder
    const uint8_t *free_keys [3] = {certbus_identity_sign_public (bank->identity),
                                    certbus_identity_sign_public (gone->identity),
                                    (const uint8_t *) "0123456789abcdef0123456789abcdef"};
    const char *asking [3] = {"pk-bank-01", "mallory", "mallory"};
    for (int i = 0; i < 3; i++) {
        tu_assert_err (certbus_directory_key_holder (council->dir_bytes, council->dir_size,
                                                     council_key, asking [i], free_keys [i],
                                                     &holder, &role),
                       CERTBUS_OK);
        assert_null (holder);
    }
    //  A directory of another Council, and garbage, are refused
    certbus_identity_t *other = certbus_identity_new ();
    tu_assert_err (certbus_directory_key_holder (council->dir_bytes, council->dir_size,
                                                 certbus_identity_sign_public (other), "mallory",
                                                 free_keys [0], &holder, &role),
                   CERTBUS_E_DIRECTORY_SIGNATURE);
    assert_null (holder);
    tu_assert_err (certbus_directory_key_holder ((const uint8_t *) "garbage", 7, council_key,
                                                 "mallory", free_keys [0], &holder, &role),
                   CERTBUS_E_DECODE);
    certbus_identity_destroy (&other);
}

static void
test_empty_directory (void **state)
{
    (void) state;
    tu_council_t *council = tu_council_new ();
    certbus_directory_t *dir = tu_council_publish (council);
    assert_int_equal (certbus_directory_count (dir), 0);
    assert_int_equal (certbus_directory_revocation_count (dir), 0);
    assert_null (certbus_directory_at (dir, 0));
    assert_null (certbus_directory_find (dir, "cert-pk"));
    const certbus_cert_t *cert;
    tu_assert_err (certbus_directory_check_origin (dir, "cert-pk", 1, certbus_now (), &cert),
                   CERTBUS_E_UNKNOWN_ORIGIN);
    tu_council_destroy (&council);
}

//  A test that runs on a fresh Council (s_setup, tu_council_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, tu_council_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        s_test (test_decode_lists_and_finds),
        s_test (test_revocations),
        s_test (test_check_origin),
        s_test (test_signed_by_another_key),
        s_test (test_foreign_certificate_inside),
        s_test (test_older_directory_refused),
        s_test (test_tampered_and_malformed),
        s_test (test_duplicate_org_refused),
        s_test (test_shared_key_refused),
        s_test (test_key_holder),
        cmocka_unit_test (test_empty_directory),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
