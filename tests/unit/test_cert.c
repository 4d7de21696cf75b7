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
#include <sodium.h>

//  A Council, a member identity and its decoded request, shared by a test
typedef struct {
    certbus_identity_t *council;
    certbus_identity_t *member;
    certbus_request_t *request;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = tu_fixture_new (state, sizeof *self);
    self->council = certbus_identity_new ();
    self->member = certbus_identity_new ();
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (self->member, "cert-pk", "CERT Pakistan", &bytes,
                                            &size),
                      0);
    self->request = certbus_request_decode (bytes, size);
    free (bytes);
    assert_non_null (self->request);
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

//  Offset of the self-signature inside a serialised Request
static long
s_request_signature_at (const uint8_t *bytes, size_t size)
{
    Certbus__Request *request = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__request__descriptor, bytes, size, 64 * 1024, 16,
                                         (void **) &request),
                   CERTBUS_OK);
    assert_int_equal (request->signature.len, CERTBUS_SIG_SIZE);
    long at = tu_find (bytes, size, request->signature.data, request->signature.len);
    assert_true (at > 0);
    certbus_codec_free (request);
    return at;
}

//  Asserts that the three keys are the fixture member's
static void
s_assert_member_keys (fixture_t *self, const uint8_t *sign_key, const uint8_t *box_key,
                      const uint8_t *curve_key)
{
    assert_memory_equal (sign_key, certbus_identity_sign_public (self->member), CERTBUS_KEY_SIZE);
    assert_memory_equal (box_key, certbus_identity_box_public (self->member), CERTBUS_KEY_SIZE);
    assert_memory_equal (curve_key, certbus_identity_curve_public (self->member), CERTBUS_KEY_SIZE);
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
    s_assert_member_keys (self, req->sign_key, req->box_key, req->curve_key);

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

    //  A flipped bit in the self-signature is refused (the proofs of
    //  possession follow the signature on the wire: find it)
    long at = s_request_signature_at (bytes, size);
    bytes [at + CERTBUS_SIG_SIZE - 5] ^= 0x10;
    certbus_reason_clear ();
    assert_null (certbus_request_decode (bytes, size));
    assert_non_null (strstr (certbus_reason (), "not signed"));
    bytes [at + CERTBUS_SIG_SIZE - 5] ^= 0x10;
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
    s_assert_member_keys (self, cert->sign_key, cert->box_key, cert->curve_key);
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
    const struct {
        certbus_tier_t tier;
        const char *sector, *region;
        int64_t not_before, not_after;
    } bad [] = {
        {CERTBUS_TIER_NONE, "", "", now, now + 60},
        {(certbus_tier_t) 7, "", "", now, now + 60},
        {CERTBUS_TIER_SECTORAL, "Bad Sector", "", now, now + 60},
        {CERTBUS_TIER_SECTORAL, "", "bad/region", now, now + 60},
        //  Empty and inverted validity windows
        {CERTBUS_TIER_SECTORAL, "", "", now, now},
        {CERTBUS_TIER_SECTORAL, "", "", now, now - 1},
    };
    uint8_t *bytes = NULL;
    size_t size;
    certbus_reason_clear ();
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (certbus_cert_issue (self->council, self->request, 1, bad [i].tier,
                                              bad [i].sector, bad [i].region, bad [i].not_before,
                                              bad [i].not_after, &bytes, &size),
                          -1);
        if (i == 0)
            assert_non_null (strstr (certbus_reason (), "tier"));
    }
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
    bytes [at] ^= 0x02; //  'p' -> 'r'
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_E_CERT_SIGNATURE);
    bytes [at] ^= 0x02;

    //  A bit flipped in the signature (the last bytes)
    bytes [size - 1] ^= 0x80;
    tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_E_CERT_SIGNATURE);
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
    struct {
        int64_t not_before, not_after;
        certbus_err_t want;
    } windows [2] = {{now - 7200, now - 3600, CERTBUS_E_CERT_EXPIRED},
                     {now + 3600, now + 7200, CERTBUS_E_CERT_NOT_YET_VALID}};
    for (int i = 0; i < 2; i++) {
        bytes = s_issue (self, self->council, 4 + (uint64_t) i, windows [i].not_before,
                         windows [i].not_after, &size);
        tu_assert_err (certbus_cert_decode (bytes, size, council_key, &cert), CERTBUS_OK);
        tu_assert_err (certbus_cert_check_time (cert, now), windows [i].want);
        certbus_cert_destroy (&cert);
        free (bytes);
    }
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
    assert_int_equal (certbus_revocation_issue (self->council, 17, "cert-pk", 1, "\xc0\x80", &bytes,
                                                &size),
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

//  ---------------------------------------------------------------------------
//  Proofs of possession of the two X25519 keys

#define s_BOX "certbus-request-box-v1"
#define s_CURVE "certbus-request-curve-v1"

//  The parts of a hand-made request: a member running its own client can
//  put any public key in its body and any bytes in its proofs.
typedef struct {
    certbus_identity_t *signer;     //  sign key of the body, and its signature
    const uint8_t *box_key;         //  box key written in the body
    const uint8_t *curve_key;       //  CURVE key written in the body
    certbus_identity_t *box_prover; //  proves with its own box secret; NULL: no proof
    certbus_identity_t *curve_prover;
    const Certbus__Request *proofs_from; //  copy these proofs instead, when set
} s_forge_t;

//  Proves possession of an X25519 key pair over body under domain into key
//  and sig, and points a request's two proof fields at them
static void
s_prove (uint8_t key [32], uint8_t sig [64], const char *domain, const uint8_t *body,
         size_t body_size, const uint8_t *secret, const uint8_t *public_key,
         ProtobufCBinaryData *key_field, ProtobufCBinaryData *sig_field)
{
    assert_int_equal (certbus_x25519_prove (key, sig, domain, body, body_size, secret, public_key),
                      0);
    *key_field = (ProtobufCBinaryData){32, key};
    *sig_field = (ProtobufCBinaryData){64, sig};
}

static uint8_t *
s_forge (const s_forge_t *f, size_t *size_p)
{
    Certbus__RequestBody body = CERTBUS__REQUEST_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.org_id = "mallory";
    body.name = "Mallory CERT";
    body.sign_key.data = (uint8_t *) certbus_identity_sign_public (f->signer);
    body.sign_key.len = CERTBUS_KEY_SIZE;
    body.box_key.data = (uint8_t *) f->box_key;
    body.box_key.len = CERTBUS_KEY_SIZE;
    body.curve_key.data = (uint8_t *) f->curve_key;
    body.curve_key.len = CERTBUS_KEY_SIZE;
    body.created = certbus_now ();
    size_t body_size;
    uint8_t *body_bytes = certbus_codec_encode (&body, &body_size);
    uint8_t sig [64], box_key [32], box_sig [64], curve_key [32], curve_sig [64];
    certbus_sign (sig, "certbus-request-v1", body_bytes, body_size,
                  certbus_identity_sign_secret (f->signer));
    Certbus__Request request = CERTBUS__REQUEST__INIT;
    request.version = CERTBUS_WIRE_MAJOR;
    request.body = (ProtobufCBinaryData){body_size, body_bytes};
    request.signature = (ProtobufCBinaryData){sizeof sig, sig};
    if (f->box_prover)
        s_prove (box_key, box_sig, s_BOX, body_bytes, body_size,
                 certbus_identity_box_secret (f->box_prover),
                 certbus_identity_box_public (f->box_prover), &request.box_proof_key,
                 &request.box_proof_sig);
    if (f->curve_prover)
        s_prove (curve_key, curve_sig, s_CURVE, body_bytes, body_size,
                 certbus_identity_curve_secret (f->curve_prover),
                 certbus_identity_curve_public (f->curve_prover), &request.curve_proof_key,
                 &request.curve_proof_sig);
    if (f->proofs_from) {
        request.box_proof_key = f->proofs_from->box_proof_key;
        request.box_proof_sig = f->proofs_from->box_proof_sig;
        request.curve_proof_key = f->proofs_from->curve_proof_key;
        request.curve_proof_sig = f->proofs_from->curve_proof_sig;
    }
    uint8_t *bytes = certbus_codec_encode (&request, size_p);
    free (body_bytes);
    return bytes;
}

//  Decodes a request and checks that it is refused for a reason that says
//  want (want NULL: that it is accepted)
static void
s_expect_request (const uint8_t *bytes, size_t size, const char *want)
{
    certbus_reason_clear ();
    certbus_request_t *request = certbus_request_decode (bytes, size);
    if (want && request)
        fail_msg ("a forged request was accepted (expected: %s)", want);
    if (want && !strstr (certbus_reason (), want))
        fail_msg ("reason '%s' does not say '%s'", certbus_reason (), want);
    if (!want && !request)
        fail_msg ("request refused: %s", certbus_reason ());
    certbus_request_destroy (&request);
}

//  The proof is the Ed25519 signature the protocol document describes:
//  A converts to the X25519 key, and crypto_sign_verify_detached holds over
//  domain || 0x00 || data, built here by hand
//  Forges a request as f says and checks that it is refused for a reason
//  that says want (want NULL: that it is accepted)
static void
s_expect_forged (const s_forge_t *f, const char *want)
{
    size_t size;
    uint8_t *bytes = s_forge (f, &size);
    s_expect_request (bytes, size, want);
    free (bytes);
}

static void
test_x25519_proof_construction (void **state)
{
    fixture_t *self = *state;
    const uint8_t data [] = "a request body";
    uint8_t key [32], sig [64];
    assert_int_equal (certbus_x25519_prove (key, sig, s_BOX, data, sizeof data,
                                            certbus_identity_box_secret (self->member),
                                            certbus_identity_box_public (self->member)),
                      0);
    uint8_t curve [32];
    assert_int_equal (crypto_sign_ed25519_pk_to_curve25519 (curve, key), 0);
    assert_memory_equal (curve, certbus_identity_box_public (self->member), 32);
    uint8_t msg [sizeof s_BOX + sizeof data];
    memcpy (msg, s_BOX, sizeof s_BOX); //  the domain and its NUL
    memcpy (msg + sizeof s_BOX, data, sizeof data);
    assert_int_equal (crypto_sign_verify_detached (sig, msg, sizeof msg, key), 0);
    assert_true (certbus_x25519_verify (key, 32, sig, 64, s_BOX, data, sizeof data,
                                        certbus_identity_box_public (self->member)));
    //  Another domain, other data, another X25519 key: refused
    assert_false (certbus_x25519_verify (key, 32, sig, 64, s_CURVE, data, sizeof data,
                                         certbus_identity_box_public (self->member)));
    assert_false (certbus_x25519_verify (key, 32, sig, 64, s_BOX, data, sizeof data - 1,
                                         certbus_identity_box_public (self->member)));
    assert_false (certbus_x25519_verify (key, 32, sig, 64, s_BOX, data, sizeof data,
                                         certbus_identity_curve_public (self->member)));
    assert_false (certbus_x25519_verify (key, 31, sig, 64, s_BOX, data, sizeof data,
                                         certbus_identity_box_public (self->member)));
    assert_false (certbus_x25519_verify (key, 32, sig, 63, s_BOX, data, sizeof data,
                                         certbus_identity_box_public (self->member)));
    //  A secret is never proved for a public key that is not its own
    certbus_reason_clear ();
    assert_int_equal (certbus_x25519_prove (key, sig, s_BOX, data, sizeof data,
                                            certbus_identity_box_secret (self->member),
                                            certbus_identity_curve_public (self->member)),
                      -1);
    assert_non_null (strstr (certbus_reason (), "does not belong"));
}

//  The example of PROTOCOL.md ("Proof of possession of an X25519 key"):
//  the Ed25519 form of a fixed secret, and a proof made with a fixed nonce
static void
test_x25519_proof_known_answer (void **state)
{
    (void) state;
    uint8_t secret [32], public_key [32], key [32], sig [64], want_key [32], want_sig [64];
    for (int i = 0; i < 32; i++)
        secret [i] = (uint8_t) (i + 1);
    assert_int_equal (
        certbus_unhex ("07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c",
                       public_key, 32),
        0);
    assert_int_equal (
        certbus_unhex ("cfe058a4a189ee7230e43a1347ea1a7eef01f3557991a7fd3cec8915fd290aec", want_key,
                       32),
        0);
    assert_int_equal (
        certbus_unhex ("fa5aa4a53cab83df80a445465fbb40e32ea93cab4306e89eaf27ef3dd53b6f9d"
                       "7a5bdd424bc05636c7ca095773b3b5c5abb88b03f8410188bec852142254f80e",
                       want_sig, 64),
        0);
    uint8_t derived [32];
    crypto_scalarmult_base (derived, secret);
    assert_memory_equal (derived, public_key, 32);
    const uint8_t body [] = "example body";
    //  Our prover finds the same A (its R is random, so its signature differs)
    assert_int_equal (certbus_x25519_prove (key, sig, s_BOX, body, sizeof body - 1, secret,
                                            public_key),
                      0);
    assert_memory_equal (key, want_key, 32);
    assert_true (
        certbus_x25519_verify (key, 32, sig, 64, s_BOX, body, sizeof body - 1, public_key));
    //  The document's fixed-nonce signature verifies, and one flipped bit does not
    assert_true (certbus_x25519_verify (want_key, 32, want_sig, 64, s_BOX, body, sizeof body - 1,
                                        public_key));
    want_sig [40] ^= 0x01;
    assert_false (certbus_x25519_verify (want_key, 32, want_sig, 64, s_BOX, body, sizeof body - 1,
                                         public_key));
}

//  The member's genuine request, unpacked (caller frees with
//  certbus_codec_free): its proofs are over the member's own body
static Certbus__Request *
s_victim_request (fixture_t *self)
{
    uint8_t *genuine;
    size_t genuine_size;
    assert_int_equal (certbus_request_make (self->member, "cert-pk", NULL, &genuine, &genuine_size),
                      0);
    Certbus__Request *victim = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__request__descriptor, genuine, genuine_size,
                                         64 * 1024, 16, (void **) &victim),
                   CERTBUS_OK);
    free (genuine);
    return victim;
}

//  A member that writes another member's box key into its request cannot
//  make it valid: no proof, its own box secret, the victim's own proof
static void
test_request_copying_box_key_refused (void **state)
{
    fixture_t *self = *state;
    certbus_identity_t *mallory = certbus_identity_new ();
    const uint8_t *victim_box = certbus_identity_box_public (self->member);
    const uint8_t *own_curve = certbus_identity_curve_public (mallory);
    const char *want = "does not prove possession of its box key: make a new request with "
                       "certbus-node init";
    s_expect_forged (&(s_forge_t){mallory, victim_box, own_curve, NULL, mallory, NULL}, want);
    s_expect_forged (&(s_forge_t){mallory, victim_box, own_curve, mallory, mallory, NULL}, want);
    //  The victim's genuine request carries a proof for this very key, but
    //  over the victim's body
    Certbus__Request *victim = s_victim_request (self);
    s_expect_forged (&(s_forge_t){mallory, victim_box, own_curve, NULL, NULL, victim}, want);
    //  Control: with its own keys and proofs, the same forger passes
    s_expect_forged (&(s_forge_t){mallory, certbus_identity_box_public (mallory), own_curve,
                                  mallory, mallory, NULL},
                     NULL);
    certbus_codec_free (victim);
    certbus_identity_destroy (&mallory);
}

//  The neighbouring variant: the CURVE key (transport identity) copied
static void
test_request_copying_curve_key_refused (void **state)
{
    fixture_t *self = *state;
    certbus_identity_t *mallory = certbus_identity_new ();
    const uint8_t *own_box = certbus_identity_box_public (mallory);
    const uint8_t *victim_curve = certbus_identity_curve_public (self->member);
    const char *want = "does not prove possession of its CURVE key";
    s_expect_forged (&(s_forge_t){mallory, own_box, victim_curve, mallory, NULL, NULL}, want);
    s_expect_forged (&(s_forge_t){mallory, own_box, victim_curve, mallory, mallory, NULL}, want);
    //  Both of the victim's keys with the victim's own proofs: they sign
    //  the victim's body, not this one
    Certbus__Request *victim = s_victim_request (self);
    s_expect_forged (&(s_forge_t){mallory, certbus_identity_box_public (self->member),
                                  certbus_identity_curve_public (self->member), NULL, NULL, victim},
                     "does not prove possession of its box key");
    certbus_codec_free (victim);
    certbus_identity_destroy (&mallory);
}

//  Every byte of the four proof fields matters: a flipped bit in any of
//  them is refused, and the untouched request passes
static void
test_request_tampered_proofs_refused (void **state)
{
    fixture_t *self = *state;
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (self->member, "cert-pk", NULL, &bytes, &size), 0);
    s_expect_request (bytes, size, NULL);
    Certbus__Request *request = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__request__descriptor, bytes, size, 64 * 1024, 16,
                                         (void **) &request),
                   CERTBUS_OK);
    struct {
        ProtobufCBinaryData field;
        size_t len;
        const char *want;
    } parts [] = {{request->box_proof_key, 32, "box key"},
                  {request->box_proof_sig, 64, "box key"},
                  {request->curve_proof_key, 32, "CURVE key"},
                  {request->curve_proof_sig, 64, "CURVE key"}};
    for (size_t i = 0; i < sizeof parts / sizeof parts [0]; i++) {
        assert_int_equal (parts [i].field.len, parts [i].len);
        long at = tu_find (bytes, size, parts [i].field.data, parts [i].field.len);
        assert_true (at > 0);
        //  First byte, the last byte of R (or of the key), the last of S
        size_t offsets [] = {0, 31, parts [i].len - 1};
        for (size_t j = 0; j < 3; j++) {
            bytes [at + (long) offsets [j]] ^= 0x01;
            s_expect_request (bytes, size, parts [i].want);
            bytes [at + (long) offsets [j]] ^= 0x01;
        }
    }
    s_expect_request (bytes, size, NULL);
    //  The two proofs swapped: each answers the other key and domain
    Certbus__Request swapped = *request;
    swapped.box_proof_key = request->curve_proof_key;
    swapped.box_proof_sig = request->curve_proof_sig;
    swapped.curve_proof_key = request->box_proof_key;
    swapped.curve_proof_sig = request->box_proof_sig;
    size_t swapped_size;
    uint8_t *swapped_bytes = certbus_codec_encode (&swapped, &swapped_size);
    s_expect_request (swapped_bytes, swapped_size, "box key");
    free (swapped_bytes);
    certbus_codec_free (request);
    free (bytes);
}

//  A display name is printed by every listing: no control characters, in
//  the request and in a certificate the Council signed
static void
test_name_control_characters_refused (void **state)
{
    fixture_t *self = *state;
    const char *bad [] = {"CERT\x1b[2J", "line\nforged", "del\x7f",
                          "c1 \xc2\x9b"
                          "31m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        uint8_t *bytes = NULL;
        size_t size;
        certbus_reason_clear ();
        assert_int_equal (certbus_request_make (self->member, "cert-pk", bad [i], &bytes, &size),
                          -1);
        assert_null (bytes);
        assert_non_null (strstr (certbus_reason (), "control character"));
    }
    //  U+00A0 and above are text, not controls
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (self->member, "cert-pk", "CERT \xc2\xa0\xc3\xa9",
                                            &bytes, &size),
                      0);
    s_expect_request (bytes, size, NULL);
    free (bytes);

    //  A certificate with an escape sequence in its name, signed by the Council
    certbus_request_t forged = *self->request;
    forged.name = "CERT\x1b]0;owned\x07";
    int64_t now = certbus_now ();
    assert_int_equal (certbus_cert_issue (self->council, &forged, 9, CERTBUS_TIER_SECTORAL, "", "",
                                          now - 10, now + 60, &bytes, &size),
                      0);
    certbus_cert_t *cert = NULL;
    tu_assert_err (certbus_cert_decode (bytes, size, certbus_identity_sign_public (self->council),
                                        &cert),
                   CERTBUS_E_FIELD);
    assert_null (cert);
    assert_non_null (strstr (certbus_reason (), "control character"));
    free (bytes);
    //  The C1 variant (CSI as U+009B)
    forged.name = "CERT \xc2\x9b"
                  "2J";
    assert_int_equal (certbus_cert_issue (self->council, &forged, 9, CERTBUS_TIER_SECTORAL, "", "",
                                          now - 10, now + 60, &bytes, &size),
                      0);
    tu_assert_err (certbus_cert_decode (bytes, size, certbus_identity_sign_public (self->council),
                                        &cert),
                   CERTBUS_E_FIELD);
    free (bytes);
}

//  A test that runs on a fresh fixture (s_setup, s_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_tier_names),
        cmocka_unit_test (test_name_valid),
        s_test (test_request_round_trip),
        s_test (test_issue_and_decode),
        s_test (test_issue_refuses_bad_fields),
        s_test (test_decode_refuses_other_council),
        s_test (test_decode_refuses_tampering),
        s_test (test_decode_refuses_unknown_version),
        s_test (test_check_time_window),
        s_test (test_revocation_round_trip),
        s_test (test_x25519_proof_construction),
        cmocka_unit_test (test_x25519_proof_known_answer),
        s_test (test_request_copying_box_key_refused),
        s_test (test_request_copying_curve_key_refused),
        s_test (test_request_tampered_proofs_refused),
        s_test (test_name_control_characters_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
