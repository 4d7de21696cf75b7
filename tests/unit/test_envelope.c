/*  test_envelope.c - unit tests of certbus_envelope: seal and open for every
    TLP and fan-out, real CSAF and STIX documents, and every way an envelope
    must be refused, each with its own error code
    SPDX-License-Identifier: MPL-2.0
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

#define s_MEMBERS 1000 //  m0000..m0999; m0000..m0499 are in sector banking
#define s_BANKING 500

//  One Council for the whole file, "sender" and s_MEMBERS members: the
//  group state, borrowed here
static tu_council_t *s_council;

static int
s_group_setup (void **state)
{
    s_council = tu_council_new ();
    int64_t now = certbus_now ();
    tu_council_enrol (s_council, "sender", CERTBUS_TIER_NATIONAL, "", "", now - 3600, now + 86400);
    for (int i = 0; i < s_MEMBERS; i++) {
        char org [16];
        snprintf (org, sizeof org, "m%04d", i);
        tu_council_enrol (s_council, org, CERTBUS_TIER_ORGANIZATION,
                          i < s_BANKING ? "banking" : "energy", i % 2 ? "punjab" : "sindh",
                          now - 3600, now + 86400);
    }
    tu_council_publish (s_council);
    *state = s_council; //  owned by the group, which tu_council_teardown ends
    return 0;
}

static const char *s_tlps [] = {"clear", "green", "amber", "amber+strict", "red"};
#define s_TLP_COUNT 5

//  ---------------------------------------------------------------------------
//  Helpers

static certbus_seal_opts_t
s_opts (const char *tlp, const char *audience)
{
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = tlp,
        .audience = audience,
        .topic = "topic-flip-target",
        .content_type = "application/json",
    };
    return opts;
}

//  Seals from member from of council; fails the test when refused
static uint8_t *
s_seal (tu_council_t *council, const char *from, const certbus_seal_opts_t *opts,
        const uint8_t *payload, size_t size, size_t *size_p, uint8_t id [CERTBUS_ID_SIZE])
{
    tu_member_t *sender = tu_council_member (council, from);
    uint8_t local_id [CERTBUS_ID_SIZE];
    uint8_t *bytes = NULL;
    tu_assert_err (certbus_envelope_seal (sender->identity, sender->cert, council->dir, opts,
                                          payload, size, id ? id : local_id, &bytes, size_p),
                   CERTBUS_OK);
    assert_non_null (bytes);
    return bytes;
}

//  Opens bytes as member org and asserts the payload comes back byte for
//  byte; returns the envelope (caller destroys)
static certbus_envelope_t *
s_open_ok (tu_council_t *council, const uint8_t *bytes, size_t size, const char *org,
           const uint8_t *payload, size_t payload_size)
{
    tu_member_t *member = tu_council_member (council, org);
    certbus_envelope_t *env = NULL;
    uint8_t *out = NULL;
    size_t out_size = 0;
    certbus_err_t rc = certbus_envelope_open (bytes, size, council->dir, member->identity, org,
                                              certbus_now (), &env, &out, &out_size);
    if (rc != CERTBUS_OK)
        fail_msg ("%s cannot open: %s: %s", org, certbus_err_name (rc), certbus_reason ());
    assert_non_null (env);
    assert_non_null (out);
    assert_int_equal (out_size, payload_size);
    if (payload_size)
        assert_memory_equal (out, payload, payload_size);
    free (out);
    return env;
}

//  Opens bytes as member org (with its own keys) and returns the code
static certbus_err_t
s_open_rc (tu_council_t *council, const uint8_t *bytes, size_t size, const char *org)
{
    tu_member_t *member = tu_council_member (council, org);
    certbus_envelope_t *env = (certbus_envelope_t *) 1;
    uint8_t *out = (uint8_t *) 1;
    size_t out_size = 0;
    certbus_err_t rc = certbus_envelope_open (bytes, size, council->dir, member->identity, org,
                                              certbus_now (), &env, &out, &out_size);
    if (rc == CERTBUS_OK) {
        certbus_envelope_destroy (&env);
        free (out);
    }
    else {
        assert_null (env);
        assert_true (out == NULL || out == (uint8_t *) 1);
    }
    return rc;
}

//  Offset of a field's data inside the serialised envelope
typedef enum { s_CIPHERTEXT, s_SIGNATURE, s_WRAPPED_KEY } s_field_t;

static size_t
s_offset_of (const uint8_t *bytes, size_t size, s_field_t field)
{
    Certbus__Envelope *wire = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (wire);
    ProtobufCBinaryData data = field == s_CIPHERTEXT  ? wire->ciphertext
                               : field == s_SIGNATURE ? wire->signature
                                                      : wire->recipients [0]->wrapped_key;
    assert_true (data.len >= 16);
    long at = tu_find (bytes, size, data.data, data.len);
    assert_true (at >= 0);
    certbus__envelope__free_unpacked (wire, NULL);
    return (size_t) at;
}

//  ---------------------------------------------------------------------------
//  Round trips

static bool
s_listed (char *const *orgs, size_t count, const char *org)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (orgs [i], org) == 0)
            return true;
    return false;
}

//  Seals payload at tlp to audience (or, when recipients is set, to that
//  list) and opens it as every recipient, checking the header
static void
s_round_trip (const char *tlp, const char *audience, char *const *recipients, size_t count,
              const char *content_type, const uint8_t *payload, size_t size)
{
    tu_council_t *council = s_council;
    tu_member_t *sender = tu_council_member (council, "sender");
    certbus_seal_opts_t opts = s_opts (tlp, audience);
    if (content_type)
        opts.content_type = content_type;
    uint8_t id [CERTBUS_ID_SIZE];
    uint8_t *bytes = NULL;
    size_t bytes_size;
    if (recipients)
        tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, council->dir,
                                                 &opts, recipients, count, payload, size, id,
                                                 &bytes, &bytes_size),
                       CERTBUS_OK);
    else
        bytes = s_seal (council, "sender", &opts, payload, size, &bytes_size, id);

    bool encrypted = strcmp (tlp, "clear") != 0;
    //  Only clear shows its plaintext on the wire
    if (size >= 32)
        assert_int_equal (tu_find (bytes, bytes_size, payload, 32) >= 0, !encrypted);

    //  Every recipient opens it; check the header once
    certbus_envelope_t *env = NULL;
    char **orgs = NULL;
    size_t orgs_count = 0;
    if (recipients) {
        orgs = (char **) recipients;
        orgs_count = count;
    }
    else
        tu_assert_err (certbus_audience_resolve (audience, tlp, council->dir, "sender",
                                                 certbus_now (), &orgs, &orgs_count),
                       CERTBUS_OK);
    for (size_t i = 0; i < orgs_count; i++) {
        env = s_open_ok (council, bytes, bytes_size, orgs [i], payload, size);
        if (i == 0) {
            const certbus_header_t *h = certbus_envelope_header (env);
            assert_memory_equal (h->id, id, CERTBUS_ID_SIZE);
            assert_string_equal (h->origin, "sender");
            assert_int_equal (h->origin_serial, sender->serial);
            assert_string_equal (h->kind, "advisory");
            assert_string_equal (h->topic, "topic-flip-target");
            assert_string_equal (h->tlp, tlp);
            assert_string_equal (h->severity, "medium");
            assert_string_equal (h->audience, audience);
            assert_string_equal (h->content_type, opts.content_type);
            assert_int_equal (h->recipient_count, orgs_count);
            assert_int_equal (h->encrypted, encrypted);
            assert_true (llabs (h->created - certbus_now_ms ()) < 600000);
            assert_true (certbus_envelope_complete (env));
            assert_int_equal (certbus_envelope_recipients (env), orgs_count);
            assert_int_equal (certbus_envelope_ciphertext_size (env), encrypted ? size + 16 : size);
        }
        certbus_envelope_destroy (&env);
    }
    //  The sender and members outside the audience are not recipients
    tu_assert_err (s_open_rc (council, bytes, bytes_size, "sender"), CERTBUS_E_NOT_RECIPIENT);
    const char *outsiders [] = {"m0999", "m0500", "m0998"};
    for (size_t o = 0; o < 3 && orgs_count < s_MEMBERS; o++)
        if (!s_listed (orgs, orgs_count, outsiders [o])) {
            tu_assert_err (s_open_rc (council, bytes, bytes_size, outsiders [o]),
                           CERTBUS_E_NOT_RECIPIENT);
            break;
        }
    if (!recipients)
        certbus_strv_free (orgs, orgs_count);
    free (bytes);
}

static uint8_t *
s_payload (size_t size, uint32_t seed)
{
    uint8_t *payload = malloc (size ? size : 1);
    assert_non_null (payload);
    tu_fill (payload, size, seed);
    return payload;
}

static void
s_round_trip_one (const char *tlp)
{
    uint8_t *payload = s_payload (3000, 1);
    s_round_trip (tlp, "org:m0001", NULL, 0, NULL, payload, 3000);
    free (payload);
}

static void
s_round_trip_500 (const char *tlp)
{
    uint8_t *payload = s_payload (3000, 2);
    if (strcmp (tlp, "red") != 0)
        s_round_trip (tlp, "sector:banking", NULL, 0, NULL, payload, 3000);
    else {
        //  An audience names at most CERTBUS_MAX_TERMS orgs, so red to 500
        //  goes through the explicit list, given out of order and with
        //  repeats: seal_to sorts and dedups
        char *list [s_BANKING + 10];
        char names [s_BANKING][8];
        for (int i = 0; i < s_BANKING; i++) {
            snprintf (names [i], sizeof names [i], "m%04d", s_BANKING - 1 - i);
            list [i] = names [i];
        }
        for (int i = 0; i < 10; i++)
            list [s_BANKING + i] = names [i * 7];
        //  Round trip checks against the sorted unique list
        char *sorted [s_BANKING];
        for (int i = 0; i < s_BANKING; i++)
            sorted [i] = names [s_BANKING - 1 - i];
        tu_member_t *sender = tu_council_member (s_council, "sender");
        certbus_seal_opts_t opts = s_opts ("red", "org:m0000,org:m0499");
        uint8_t id [CERTBUS_ID_SIZE], *bytes;
        size_t size;
        tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, s_council->dir,
                                                 &opts, list, s_BANKING + 10, payload, 3000, id,
                                                 &bytes, &size),
                       CERTBUS_OK);
        certbus_envelope_t *env = NULL;
        tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
        assert_int_equal (certbus_envelope_recipients (env), s_BANKING);
        for (int i = 0; i < s_BANKING; i++)
            assert_string_equal (certbus_envelope_recipient (env, (size_t) i), sorted [i]);
        certbus_envelope_destroy (&env);
        free (bytes);
        s_round_trip ("red", "org:m0000,org:m0499", sorted, s_BANKING, NULL, payload, 3000);
    }
    free (payload);
}

#define s_ROUND_TRIP_TESTS(name, tlp)                       \
    static void test_round_trip_##name##_1 (void **state)   \
    {                                                       \
        (void) state;                                       \
        s_round_trip_one (tlp);                             \
    }                                                       \
    static void test_round_trip_##name##_500 (void **state) \
    {                                                       \
        (void) state;                                       \
        s_round_trip_500 (tlp);                             \
    }

s_ROUND_TRIP_TESTS (clear, "clear") s_ROUND_TRIP_TESTS (green, "green")
    s_ROUND_TRIP_TESTS (amber, "amber") s_ROUND_TRIP_TESTS (amber_strict, "amber+strict")
        s_ROUND_TRIP_TESTS (red, "red")

            static void test_round_trip_red_max_terms (void **state)
{
    (void) state;
    //  The most orgs one red audience can name
    char text [CERTBUS_MAX_TERMS * 12] = "";
    size_t len = 0;
    for (int i = 0; i < CERTBUS_MAX_TERMS; i++)
        len += (size_t) snprintf (text + len, sizeof text - len, "%sorg:m%04d", i ? "," : "",
                                  i * 15);
    uint8_t *payload = s_payload (1000, 3);
    s_round_trip ("red", text, NULL, 0, NULL, payload, 1000);
    free (payload);
}

static void
test_round_trip_sizes (void **state)
{
    (void) state;
    //  Empty, one byte, and the largest payload allowed
    for (int t = 0; t < s_TLP_COUNT; t++) {
        uint8_t one = 0x5a;
        s_round_trip (s_tlps [t], "org:m0002", NULL, 0, NULL, &one, 0);
        s_round_trip (s_tlps [t], "org:m0002", NULL, 0, NULL, &one, 1);
    }
    uint8_t *big = s_payload (CERTBUS_MAX_PAYLOAD, 4);
    s_round_trip ("amber", "org:m0003", NULL, 0, "application/octet-stream", big,
                  CERTBUS_MAX_PAYLOAD);
    //  One byte more is refused
    tu_member_t *sender = tu_council_member (s_council, "sender");
    certbus_seal_opts_t opts = s_opts ("amber", "org:m0003");
    uint8_t *huge = malloc (CERTBUS_MAX_PAYLOAD + 1);
    assert_non_null (huge);
    memcpy (huge, big, CERTBUS_MAX_PAYLOAD);
    huge [CERTBUS_MAX_PAYLOAD] = 1;
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    size_t size;
    tu_assert_err (certbus_envelope_seal (sender->identity, sender->cert, s_council->dir, &opts,
                                          huge, CERTBUS_MAX_PAYLOAD + 1, id, &bytes, &size),
                   CERTBUS_E_TOO_LARGE);
    assert_null (bytes);
    free (huge);
    free (big);
}

static void
s_corpus (const char *sub, const char *content_type)
{
    size_t count = 0;
    char **files = tu_corpus_list (sub, &count);
    if (!files) {
        print_message ("skipped: ../shared/corpus not present (set CERTBUS_SHARED)\n");
        skip ();
    }
    assert_true (count > 0);
    for (size_t i = 0; i < count; i++) {
        size_t size;
        uint8_t *doc = tu_read_file (files [i], &size);
        for (int t = 0; t < s_TLP_COUNT; t++)
            s_round_trip (s_tlps [t], "org:m0042", NULL, 0, content_type, doc, size);
        //  Amber to 500: the first and last recipients read it byte for byte
        certbus_seal_opts_t opts = s_opts ("amber", "sector:banking");
        opts.content_type = content_type;
        size_t bytes_size;
        uint8_t *bytes = s_seal (s_council, "sender", &opts, doc, size, &bytes_size, NULL);
        certbus_envelope_t *env = s_open_ok (s_council, bytes, bytes_size, "m0000", doc, size);
        assert_string_equal (certbus_envelope_header (env)->content_type, content_type);
        certbus_envelope_destroy (&env);
        env = s_open_ok (s_council, bytes, bytes_size, "m0499", doc, size);
        certbus_envelope_destroy (&env);
        free (bytes);
        print_message ("%s: %zu bytes, byte for byte at every TLP\n", files [i], size);
        free (doc);
    }
    certbus_strv_free (files, count);
}

static void
test_corpus_csaf (void **state)
{
    (void) state;
    s_corpus ("csaf", "application/csaf+json");
}

static void
test_corpus_stix (void **state)
{
    (void) state;
    s_corpus ("stix", "application/stix+json");
}

static void
test_header_fields (void **state)
{
    (void) state;
    certbus_ref_t refs [2] = {{"updates", {0}}, {"forwards", {0}}};
    certbus_uuid7 (refs [0].id);
    certbus_uuid7 (refs [1].id);
    certbus_seal_opts_t opts = {
        .kind = "incident",
        .tlp = "amber",
        .audience = "org:m0007",
        .topic = "Ransomware at a bank \xe2\x80\x94 update",
        .severity = "critical",
        .content_type = "text/plain",
        .refs = refs,
        .ref_count = 2,
        .case_status = "investigating",
        .assign = "m0007",
    };
    const uint8_t payload [] = "case notes";
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal (s_council, "sender", &opts, payload, sizeof payload, &size, id);
    //  A UUIDv7: version 7, RFC 4122 variant
    assert_int_equal (id [6] >> 4, 7);
    assert_int_equal (id [8] >> 6, 2);

    //  Decode, verify and decrypt step by step
    certbus_envelope_t *env;
    tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    const certbus_header_t *h = certbus_envelope_header (env);
    assert_string_equal (h->kind, "incident");
    assert_string_equal (h->topic, opts.topic);
    assert_string_equal (h->severity, "critical");
    assert_string_equal (h->content_type, "text/plain");
    assert_string_equal (h->case_status, "investigating");
    assert_string_equal (h->assign, "m0007");
    assert_int_equal (h->ref_count, 2);
    assert_string_equal (h->refs [0].relation, "updates");
    assert_memory_equal (h->refs [0].id, refs [0].id, CERTBUS_ID_SIZE);
    assert_string_equal (h->refs [1].relation, "forwards");
    assert_memory_equal (h->refs [1].id, refs [1].id, CERTBUS_ID_SIZE);
    size_t header_size;
    const uint8_t *header = certbus_envelope_header_bytes (env, &header_size);
    assert_true (header_size > 0);
    assert_true (tu_find (bytes, size, header, header_size) >= 0);
    const certbus_cert_t *cert = NULL;
    tu_assert_err (certbus_envelope_verify (env, s_council->dir, certbus_now (), &cert),
                   CERTBUS_OK);
    assert_non_null (cert);
    assert_string_equal (cert->org_id, "sender");
    tu_member_t *m = tu_council_member (s_council, "m0007");
    uint8_t *out;
    size_t out_size;
    tu_assert_err (certbus_envelope_decrypt (env, m->identity, "m0007", &out, &out_size),
                   CERTBUS_OK);
    assert_int_equal (out_size, sizeof payload);
    assert_memory_equal (out, payload, sizeof payload);
    free (out);
    certbus_envelope_destroy (&env);
    assert_null (env);
    certbus_envelope_destroy (&env);
    free (bytes);

    //  Defaults: topic "", severity medium, content type octet-stream, no refs
    certbus_seal_opts_t plain = {.kind = "alert", .tlp = "green", .audience = "org:m0007"};
    uint8_t id2 [CERTBUS_ID_SIZE];
    bytes = s_seal (s_council, "sender", &plain, payload, sizeof payload, &size, id2);
    assert_memory_not_equal (id, id2, CERTBUS_ID_SIZE);
    env = s_open_ok (s_council, bytes, size, "m0007", payload, sizeof payload);
    h = certbus_envelope_header (env);
    assert_string_equal (h->topic, "");
    assert_string_equal (h->severity, "medium");
    assert_string_equal (h->content_type, "application/octet-stream");
    assert_string_equal (h->case_status, "");
    assert_int_equal (h->ref_count, 0);
    certbus_envelope_destroy (&env);
    free (bytes);
}

static void
test_seal_refusals (void **state)
{
    (void) state;
    tu_member_t *sender = tu_council_member (s_council, "sender");
    const uint8_t payload [] = "x";
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    size_t size;
    struct {
        certbus_seal_opts_t opts;
        certbus_err_t want;
    } cases [] = {
        {{.kind = "Bad Kind", .tlp = "amber", .audience = "org:m0001"}, CERTBUS_E_FIELD},
        {{.kind = NULL, .tlp = "amber", .audience = "org:m0001"}, CERTBUS_E_FIELD},
        {{.kind = "advisory", .tlp = "white", .audience = "org:m0001"}, CERTBUS_E_TLP},
        {{.kind = "advisory", .tlp = NULL, .audience = "org:m0001"}, CERTBUS_E_TLP},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:m0001", .severity = "urgent"},
         CERTBUS_E_FIELD},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:m0001", .content_type = "json"},
         CERTBUS_E_FIELD},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:m0001", .topic = "bad \xff"},
         CERTBUS_E_FIELD},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:m0001", .ref_count = 17},
         CERTBUS_E_FIELD},
        {{.kind = "advisory", .tlp = "red", .audience = "sector:banking"}, CERTBUS_E_TLP},
        {{.kind = "advisory", .tlp = "red", .audience = "all"}, CERTBUS_E_TLP},
        {{.kind = "advisory", .tlp = "amber", .audience = "sector:telecom"},
         CERTBUS_E_AUDIENCE_EMPTY},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:sender"}, CERTBUS_E_AUDIENCE_EMPTY},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:nobody"}, CERTBUS_E_AUDIENCE_EMPTY},
        {{.kind = "advisory", .tlp = "amber", .audience = "tier:galactic"}, CERTBUS_E_AUDIENCE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        certbus_err_t rc = certbus_envelope_seal (sender->identity, sender->cert, s_council->dir,
                                                  &cases [i].opts, payload, sizeof payload, id,
                                                  &bytes, &size);
        if (rc != cases [i].want)
            fail_msg ("case %zu: got %s, expected %s (%s)", i, certbus_err_name (rc),
                      certbus_err_name (cases [i].want), certbus_reason ());
        assert_null (bytes);
    }

    //  seal_to: nobody, a stranger, more than the limit
    certbus_seal_opts_t opts = s_opts ("amber", "org:m0001");
    char *stranger [] = {"m0001", "nobody"};
    tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, s_council->dir, &opts,
                                             stranger, 0, payload, sizeof payload, id, &bytes,
                                             &size),
                   CERTBUS_E_AUDIENCE_EMPTY);
    tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, s_council->dir, &opts,
                                             stranger, 2, payload, sizeof payload, id, &bytes,
                                             &size),
                   CERTBUS_E_AUDIENCE_EMPTY);
    assert_non_null (strstr (certbus_reason (), "nobody"));
    char **many = malloc ((CERTBUS_MAX_RECIPIENTS + 1) * sizeof (char *));
    assert_non_null (many);
    for (size_t i = 0; i <= CERTBUS_MAX_RECIPIENTS; i++)
        many [i] = "m0001";
    tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, s_council->dir, &opts,
                                             many, CERTBUS_MAX_RECIPIENTS + 1, payload,
                                             sizeof payload, id, &bytes, &size),
                   CERTBUS_E_TOO_LARGE);
    free (many);
    assert_null (bytes);
}

static void
test_seal_to_refuses_non_current (void **state)
{
    (void) state;
    //  Revoked and expired members are not current: seal_to refuses them
    tu_council_t *council = tu_council_new ();
    int64_t now = certbus_now ();
    tu_member_t *sender = tu_council_enrol_simple (council, "sender");
    tu_council_enrol_simple (council, "ok");
    tu_council_enrol_simple (council, "gone");
    tu_council_enrol (council, "old", CERTBUS_TIER_FEDERAL, "", "", now - 7200, now - 3600);
    tu_council_enrol (council, "new", CERTBUS_TIER_FEDERAL, "", "", now + 3600, now + 7200);
    tu_council_revoke (council, "gone", "test");
    tu_council_publish (council);
    certbus_seal_opts_t opts = s_opts ("amber", "org:ok");
    const uint8_t payload [] = "x";
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    size_t size;
    const char *bad [] = {"gone", "old", "new"};
    for (int i = 0; i < 3; i++) {
        char *list [] = {"ok", (char *) bad [i]};
        certbus_reason_clear ();
        tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, council->dir,
                                                 &opts, list, 2, payload, sizeof payload, id,
                                                 &bytes, &size),
                       CERTBUS_E_AUDIENCE_EMPTY);
        assert_non_null (strstr (certbus_reason (), bad [i]));
        assert_null (bytes);
    }
    char *good [] = {"ok"};
    tu_assert_err (certbus_envelope_seal_to (sender->identity, sender->cert, council->dir, &opts,
                                             good, 1, payload, sizeof payload, id, &bytes, &size),
                   CERTBUS_OK);
    certbus_envelope_t *env = s_open_ok (council, bytes, size, "ok", payload, sizeof payload);
    certbus_envelope_destroy (&env);
    free (bytes);
    tu_council_destroy (&council);
}

//  ---------------------------------------------------------------------------
//  Rejections, each with its own code

//  A sealed amber envelope from "sender" to m0001, for tampering
typedef struct {
    uint8_t payload [256];
    uint8_t *bytes;
    size_t size;
} sealed_t;

static int
s_sealed_setup (void **state)
{
    sealed_t *self = tu_fixture_new (state, sizeof *self);
    tu_fill (self->payload, sizeof self->payload, 99);
    certbus_seal_opts_t opts = s_opts ("amber", "org:m0001");
    self->bytes = s_seal (s_council, "sender", &opts, self->payload, sizeof self->payload,
                          &self->size, NULL);
    //  Untouched, it opens
    certbus_envelope_t *env = s_open_ok (s_council, self->bytes, self->size, "m0001", self->payload,
                                         sizeof self->payload);
    certbus_envelope_destroy (&env);
    return 0;
}

static int
s_sealed_teardown (void **state)
{
    sealed_t *self = *state;
    free (self->bytes);
    free (self);
    return 0;
}

//  Flips bit of byte at in a copy of the envelope and opens it as m0001
static certbus_err_t
s_flip_open (sealed_t *self, size_t at, int bit)
{
    uint8_t *copy = tu_dup (self->bytes, self->size);
    copy [at] ^= (uint8_t) (1u << bit);
    certbus_err_t rc = s_open_rc (s_council, copy, self->size, "m0001");
    free (copy);
    return rc;
}

static void
test_flipped_header_bit (void **state)
{
    sealed_t *self = *state;
    //  Inside the topic string: 't' -> 'u' still decodes, but the origin's
    //  signature no longer holds
    long at = tu_find (self->bytes, self->size, "topic-flip-target", 17);
    assert_true (at > 0);
    tu_assert_err (s_flip_open (self, (size_t) at, 0), CERTBUS_E_SIGNATURE);
    //  Inside the audience string: '1' -> '0'
    at = tu_find (self->bytes, self->size, "org:m0001", 9);
    assert_true (at > 0);
    tu_assert_err (s_flip_open (self, (size_t) at + 8, 0), CERTBUS_E_SIGNATURE);
}

static void
test_flipped_ciphertext_bit (void **state)
{
    sealed_t *self = *state;
    size_t at = s_offset_of (self->bytes, self->size, s_CIPHERTEXT);
    tu_assert_err (s_flip_open (self, at, 3), CERTBUS_E_CIPHERTEXT_HASH);
    tu_assert_err (s_flip_open (self, at + 100, 7), CERTBUS_E_CIPHERTEXT_HASH);
    //  The tag at the end of the ciphertext
    tu_assert_err (s_flip_open (self, at + sizeof self->payload + 15, 0),
                   CERTBUS_E_CIPHERTEXT_HASH);
}

static void
test_flipped_signature_bit (void **state)
{
    sealed_t *self = *state;
    size_t at = s_offset_of (self->bytes, self->size, s_SIGNATURE);
    tu_assert_err (s_flip_open (self, at, 0), CERTBUS_E_SIGNATURE);
    tu_assert_err (s_flip_open (self, at + 63, 6), CERTBUS_E_SIGNATURE);
}

static void
test_check_signature (void **state)
{
    sealed_t *self = *state;
    const uint8_t *right = tu_council_member (s_council, "sender")->cert->sign_key;
    const uint8_t *wrong = tu_council_member (s_council, "m0002")->cert->sign_key;
    //  A wrong key: refused, and remembered as nothing
    certbus_envelope_t *env = NULL;
    tu_assert_err (certbus_envelope_decode (self->bytes, self->size, &env), CERTBUS_OK);
    assert_false (certbus_envelope_check_signature (env, wrong));
    tu_assert_err (certbus_envelope_verify (env, s_council->dir, certbus_now (), NULL), CERTBUS_OK);
    certbus_envelope_destroy (&env);
    //  The origin's key: good, and verify agrees
    tu_assert_err (certbus_envelope_decode (self->bytes, self->size, &env), CERTBUS_OK);
    assert_true (certbus_envelope_check_signature (env, right));
    tu_assert_err (certbus_envelope_verify (env, s_council->dir, certbus_now (), NULL), CERTBUS_OK);
    certbus_envelope_destroy (&env);
    //  A flipped signature bit: no key makes it good, and verify refuses it
    uint8_t *copy = tu_dup (self->bytes, self->size);
    copy [s_offset_of (copy, self->size, s_SIGNATURE) + 10] ^= 0x10;
    tu_assert_err (certbus_envelope_decode (copy, self->size, &env), CERTBUS_OK);
    assert_false (certbus_envelope_check_signature (env, right));
    tu_assert_err (certbus_envelope_verify (env, s_council->dir, certbus_now (), NULL),
                   CERTBUS_E_SIGNATURE);
    certbus_envelope_destroy (&env);
    free (copy);
}

static void
test_flipped_wrapped_key_bit (void **state)
{
    sealed_t *self = *state;
    size_t at = s_offset_of (self->bytes, self->size, s_WRAPPED_KEY);
    tu_assert_err (s_flip_open (self, at, 0), CERTBUS_E_WRAPPED_KEY);
    tu_assert_err (s_flip_open (self, at + CERTBUS_WRAPPED_KEY_SIZE - 1, 5), CERTBUS_E_WRAPPED_KEY);
}

static void
test_every_bit_flip_refused (void **state)
{
    sealed_t *self = *state;
    //  No single-bit change anywhere in the envelope opens
    for (size_t at = 0; at < self->size; at++)
        for (int bit = 0; bit < 8; bit++) {
            certbus_err_t rc = s_flip_open (self, at, bit);
            if (rc == CERTBUS_OK)
                fail_msg ("envelope with bit %d of byte %zu flipped opened", bit, at);
        }
}

static void
test_not_for_us (void **state)
{
    sealed_t *self = *state;
    tu_assert_err (s_open_rc (s_council, self->bytes, self->size, "m0002"),
                   CERTBUS_E_NOT_RECIPIENT);
    //  Another member's keys, claiming to be the recipient
    tu_member_t *m2 = tu_council_member (s_council, "m0002");
    uint8_t *out = NULL;
    size_t out_size;
    tu_assert_err (certbus_envelope_open (self->bytes, self->size, s_council->dir, m2->identity,
                                          "m0001", certbus_now (), NULL, &out, &out_size),
                   CERTBUS_E_WRAPPED_KEY);
    assert_null (out);
}

static void
test_truncated (void **state)
{
    sealed_t *self = *state;
    tu_assert_err (s_open_rc (s_council, self->bytes, self->size - 1, "m0001"), CERTBUS_E_DECODE);
    size_t in_ciphertext = s_offset_of (self->bytes, self->size, s_CIPHERTEXT) + 10;
    tu_assert_err (s_open_rc (s_council, self->bytes, in_ciphertext, "m0001"), CERTBUS_E_DECODE);
    tu_assert_err (s_open_rc (s_council, self->bytes, 5, "m0001"), CERTBUS_E_DECODE);
    tu_assert_err (s_open_rc (s_council, self->bytes, 0, "m0001"), CERTBUS_E_DECODE);
    //  No prefix opens
    for (size_t cut = 0; cut < self->size; cut++)
        assert_int_not_equal (s_open_rc (s_council, self->bytes, cut, "m0001"), CERTBUS_OK);
}

static void
test_oversized (void **state)
{
    sealed_t *self = *state;
    size_t big_size = CERTBUS_MAX_ENVELOPE + 1;
    uint8_t *big = calloc (1, big_size);
    assert_non_null (big);
    memcpy (big, self->bytes, self->size);
    tu_assert_err (s_open_rc (s_council, big, big_size, "m0001"), CERTBUS_E_TOO_LARGE);
    free (big);
}

static void
test_garbage (void **state)
{
    (void) state;
    uint8_t noise [512];
    memset (noise, 0xff, sizeof noise);
    tu_assert_err (s_open_rc (s_council, noise, sizeof noise, "m0001"), CERTBUS_E_DECODE);
    const char *text = "not an envelope, just text\n";
    tu_assert_err (s_open_rc (s_council, (const uint8_t *) text, strlen (text), "m0001"),
                   CERTBUS_E_DECODE);
    //  Pseudo-random bytes never open
    for (uint32_t seed = 1; seed <= 200; seed++) {
        tu_fill (noise, sizeof noise, seed);
        assert_int_not_equal (s_open_rc (s_council, noise, 1 + seed * 2, "m0001"), CERTBUS_OK);
    }
}

static void
test_unknown_version (void **state)
{
    sealed_t *self = *state;
    //  The Envelope
    Certbus__Envelope *wire = certbus__envelope__unpack (NULL, self->size, self->bytes);
    assert_non_null (wire);
    wire->version = 2;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (wire, &size);
    tu_assert_err (s_open_rc (s_council, bytes, size, "m0001"), CERTBUS_E_VERSION);
    free (bytes);
    wire->version = 0;
    bytes = certbus_codec_encode (wire, &size);
    tu_assert_err (s_open_rc (s_council, bytes, size, "m0001"), CERTBUS_E_VERSION);
    free (bytes);
    wire->version = CERTBUS_WIRE_MAJOR;

    //  The signed header inside it
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, wire->header.len,
                                                                     wire->header.data);
    assert_non_null (hdr);
    hdr->version = 2;
    size_t header_size;
    uint8_t *header = certbus_codec_encode (hdr, &header_size);
    ProtobufCBinaryData saved = wire->header;
    wire->header.data = header;
    wire->header.len = header_size;
    bytes = certbus_codec_encode (wire, &size);
    tu_assert_err (s_open_rc (s_council, bytes, size, "m0001"), CERTBUS_E_VERSION);
    wire->header = saved;
    free (bytes);
    free (header);
    certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (wire, NULL);
}

static void
test_other_council (void **state)
{
    (void) state;
    //  A member of another Council, whose directory lists our m0001 with the
    //  same keys, seals to m0001: we do not know its origin
    tu_council_t *other = tu_council_new ();
    tu_council_enrol_simple (other, "stranger");
    tu_member_t *ours = tu_council_member (s_council, "m0001");
    int64_t now = certbus_now ();
    tu_council_enrol_identity (other, ours->identity, "m0001", CERTBUS_TIER_ORGANIZATION, "", "",
                               now - 60, now + 3600);
    tu_council_publish (other);
    const uint8_t payload [] = "from elsewhere";
    certbus_seal_opts_t opts = s_opts ("amber", "org:m0001");
    size_t size;
    uint8_t *bytes = s_seal (other, "stranger", &opts, payload, sizeof payload, &size, NULL);
    //  It opens under the other Council's directory ...
    certbus_envelope_t *env = s_open_ok (other, bytes, size, "m0001", payload, sizeof payload);
    certbus_envelope_destroy (&env);
    //  ... but not under ours
    tu_assert_err (s_open_rc (s_council, bytes, size, "m0001"), CERTBUS_E_UNKNOWN_ORIGIN);

    //  The other Council's certificate of "stranger" is refused by our key
    certbus_cert_t *cert = NULL;
    tu_member_t *stranger = tu_council_member (other, "stranger");
    tu_assert_err (certbus_cert_decode (stranger->cert_bytes, stranger->cert_size,
                                        certbus_identity_sign_public (s_council->council), &cert),
                   CERTBUS_E_CERT_SIGNATURE);
    assert_null (cert);
    free (bytes);
    tu_council_destroy (&other);
}

//  A small Council where "origin" has the window [nb, na) and "rcpt" is
//  current; seals from origin to rcpt and returns the code of opening now
static certbus_err_t
s_open_from_window (int64_t nb, int64_t na, bool revoke_after_seal)
{
    tu_council_t *council = tu_council_new ();
    tu_council_enrol (council, "origin", CERTBUS_TIER_SECTORAL, "", "", nb, na);
    tu_council_enrol_simple (council, "rcpt");
    tu_council_publish (council);
    const uint8_t payload [] = "judged by the origin's certificate";
    certbus_seal_opts_t opts = s_opts ("green", "org:rcpt");
    size_t size;
    uint8_t *bytes = s_seal (council, "origin", &opts, payload, sizeof payload, &size, NULL);
    if (revoke_after_seal) {
        tu_council_revoke (council, "origin", "compromised");
        tu_council_publish (council);
    }
    certbus_err_t rc = s_open_rc (council, bytes, size, "rcpt");
    //  Judged at a time inside the window (as the broker accepted it), it
    //  opens unless revoked
    tu_member_t *rcpt = tu_council_member (council, "rcpt");
    uint8_t *out = NULL;
    size_t out_size;
    certbus_err_t at_accept = certbus_envelope_open (bytes, size, council->dir, rcpt->identity,
                                                     "rcpt", nb, NULL, &out, &out_size);
    tu_assert_err (at_accept, revoke_after_seal ? CERTBUS_E_REVOKED : CERTBUS_OK);
    if (out) {
        assert_int_equal (out_size, sizeof payload);
        assert_memory_equal (out, payload, sizeof payload);
    }
    free (out);
    free (bytes);
    tu_council_destroy (&council);
    return rc;
}

static void
test_expired_origin (void **state)
{
    (void) state;
    int64_t now = certbus_now ();
    tu_assert_err (s_open_from_window (now - 7200, now - 3600, false), CERTBUS_E_CERT_EXPIRED);
}

static void
test_not_yet_valid_origin (void **state)
{
    (void) state;
    int64_t now = certbus_now ();
    tu_assert_err (s_open_from_window (now + 3600, now + 7200, false),
                   CERTBUS_E_CERT_NOT_YET_VALID);
}

static void
test_revoked_origin (void **state)
{
    (void) state;
    int64_t now = certbus_now ();
    tu_assert_err (s_open_from_window (now - 60, now + 3600, true), CERTBUS_E_REVOKED);
}

//  Re-encodes bytes with its recipient list replaced by names (keys copied
//  from the entry of the same index, or of index 0)
static uint8_t *
s_with_recipients (const uint8_t *bytes, size_t size, const char *const *names, size_t count,
                   size_t *size_p)
{
    Certbus__Envelope *wire = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (wire);
    Certbus__RecipientKey *keys = calloc (count, sizeof *keys);
    Certbus__RecipientKey **ptrs = calloc (count, sizeof *ptrs);
    assert_non_null (keys);
    assert_non_null (ptrs);
    for (size_t i = 0; i < count; i++) {
        certbus__recipient_key__init (&keys [i]);
        keys [i].org_id = (char *) names [i];
        keys [i].wrapped_key = wire->recipients [i < wire->n_recipients ? i : 0]->wrapped_key;
        ptrs [i] = &keys [i];
    }
    size_t saved_n = wire->n_recipients;
    Certbus__RecipientKey **saved = wire->recipients;
    wire->n_recipients = count;
    wire->recipients = ptrs;
    uint8_t *out = certbus_codec_encode (wire, size_p);
    wire->n_recipients = saved_n;
    wire->recipients = saved;
    certbus__envelope__free_unpacked (wire, NULL);
    free (keys);
    free (ptrs);
    return out;
}

static void
test_recipient_list_tampering (void **state)
{
    (void) state;
    const uint8_t payload [] = "three recipients";
    certbus_seal_opts_t opts = s_opts ("amber", "org:m0001,org:m0002,org:m0003");
    size_t size;
    uint8_t *bytes = s_seal (s_council, "sender", &opts, payload, sizeof payload, &size, NULL);
    struct {
        const char *names [4];
        size_t count;
        certbus_err_t want;
    } cases [] = {
        //  renamed, still sorted: the signed hash differs
        {{"m0001", "m0002x", "m0003"}, 3, CERTBUS_E_RECIPIENTS_HASH},
        //  one dropped and another added in its place
        {{"m0001", "m0003", "m0004"}, 3, CERTBUS_E_RECIPIENTS_HASH},
        //  one dropped, another doubled
        {{"m0001", "m0001", "m0003"}, 3, CERTBUS_E_FIELD},
        //  reordered
        {{"m0003", "m0001", "m0002"}, 3, CERTBUS_E_FIELD},
        //  one added: more than were sealed to
        {{"m0001", "m0002", "m0003", "m0004"}, 4, CERTBUS_E_RECIPIENTS_HASH},
        //  renamed to something that is not an org id
        {{"m0001", "M0002", "m0003"}, 3, CERTBUS_E_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        size_t tampered_size;
        uint8_t *tampered = s_with_recipients (bytes, size, cases [i].names, cases [i].count,
                                               &tampered_size);
        certbus_err_t rc = s_open_rc (s_council, tampered, tampered_size, "m0001");
        if (rc != cases [i].want)
            fail_msg ("case %zu: got %s, expected %s (%s)", i, certbus_err_name (rc),
                      certbus_err_name (cases [i].want), certbus_reason ());
        free (tampered);
    }
    //  The untouched list, rebuilt the same way, still opens (the harness
    //  itself changes nothing)
    const char *same [] = {"m0001", "m0002", "m0003"};
    size_t same_size;
    uint8_t *rebuilt = s_with_recipients (bytes, size, same, 3, &same_size);
    certbus_envelope_t *env = s_open_ok (s_council, rebuilt, same_size, "m0002", payload,
                                         sizeof payload);
    certbus_envelope_destroy (&env);
    free (rebuilt);

    //  A relay may drop other recipients' keys: an incomplete list is not
    //  a complete one with a wrong hash, and the remaining recipient opens
    const char *dropped [] = {"m0001", "m0003"};
    size_t dropped_size;
    uint8_t *partial = s_with_recipients (bytes, size, dropped, 2, &dropped_size);
    env = s_open_ok (s_council, partial, dropped_size, "m0001", payload, sizeof payload);
    assert_false (certbus_envelope_complete (env));
    certbus_envelope_destroy (&env);
    tu_assert_err (s_open_rc (s_council, partial, dropped_size, "m0002"), CERTBUS_E_NOT_RECIPIENT);
    free (partial);
    free (bytes);
}

static void
test_base_plus_recipient_bytes (void **state)
{
    (void) state;
    uint8_t *payload = s_payload (2048, 77);
    certbus_seal_opts_t opts = s_opts ("amber+strict", "sector:banking");
    size_t size;
    uint8_t *bytes = s_seal (s_council, "sender", &opts, payload, 2048, &size, NULL);
    certbus_envelope_t *env;
    tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    assert_int_equal (certbus_envelope_recipients (env), s_BANKING);
    assert_true (certbus_envelope_complete (env));
    assert_string_equal (certbus_envelope_recipient (env, 0), "m0000");
    assert_string_equal (certbus_envelope_recipient (env, s_BANKING - 1), "m0499");
    assert_null (certbus_envelope_recipient (env, s_BANKING));
    size_t base_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    assert_true (base_size < size);

    //  The base alone decodes, carries nobody and opens for nobody
    certbus_envelope_t *bare;
    tu_assert_err (certbus_envelope_decode (base, base_size, &bare), CERTBUS_OK);
    assert_int_equal (certbus_envelope_recipients (bare), 0);
    assert_false (certbus_envelope_complete (bare));
    certbus_envelope_destroy (&bare);
    tu_assert_err (s_open_rc (s_council, base, base_size, "m0000"), CERTBUS_E_NOT_RECIPIENT);

    size_t picks [] = {0, 1, 250, s_BANKING - 1};
    for (size_t p = 0; p < sizeof picks / sizeof picks [0]; p++) {
        size_t index = picks [p];
        size_t one_size;
        uint8_t *one = certbus_envelope_recipient_bytes (env, index, &one_size);
        uint8_t *joined = malloc (base_size + one_size);
        assert_non_null (joined);
        memcpy (joined, base, base_size);
        memcpy (joined + base_size, one, one_size);
        //  A small delivery for one recipient
        assert_true (base_size + one_size < base_size + 100);
        const char *org = certbus_envelope_recipient (env, index);
        certbus_envelope_t *mine = s_open_ok (s_council, joined, base_size + one_size, org, payload,
                                              2048);
        assert_int_equal (certbus_envelope_recipients (mine), 1);
        assert_string_equal (certbus_envelope_recipient (mine, 0), org);
        assert_false (certbus_envelope_complete (mine));
        assert_int_equal (certbus_envelope_header (mine)->recipient_count, s_BANKING);
        certbus_envelope_destroy (&mine);
        //  ... and for nobody else
        const char *neighbour = certbus_envelope_recipient (env, index ? index - 1 : index + 1);
        tu_assert_err (s_open_rc (s_council, joined, base_size + one_size, neighbour),
                       CERTBUS_E_NOT_RECIPIENT);
        free (one);
        free (joined);
    }
    free (base);
    certbus_envelope_destroy (&env);
    free (bytes);
    free (payload);
}

//  ---------------------------------------------------------------------------
//  Fan-out to 1,000

static int
s_double_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void
test_seal_to_1000 (void **state)
{
    (void) state;
    uint8_t *payload = s_payload (4096, 1000);
    certbus_seal_opts_t opts = s_opts ("amber", "all");
    tu_member_t *sender = tu_council_member (s_council, "sender");
    enum { RUNS = 5 };
    double ms [RUNS];
    uint8_t *bytes = NULL;
    size_t size = 0;
    for (int r = 0; r < RUNS; r++) {
        free (bytes);
        bytes = NULL;
        uint8_t id [CERTBUS_ID_SIZE];
        double start = tu_clock_ms ();
        tu_assert_err (certbus_envelope_seal (sender->identity, sender->cert, s_council->dir, &opts,
                                              payload, 4096, id, &bytes, &size),
                       CERTBUS_OK);
        ms [r] = tu_clock_ms () - start;
    }
    qsort (ms, RUNS, sizeof ms [0], s_double_cmp);
    print_message ("seal to 1000 recipients: %.1f ms (median of %d; min %.1f, max %.1f; 4 KiB "
                   "payload, envelope %zu bytes)\n",
                   ms [RUNS / 2], RUNS, ms [0], ms [RUNS - 1], size);

    //  Every one of the 1,000 opens it
    certbus_envelope_t *env;
    tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    assert_int_equal (certbus_envelope_header (env)->recipient_count, s_MEMBERS);
    assert_int_equal (certbus_envelope_recipients (env), s_MEMBERS);
    certbus_envelope_destroy (&env);
    double start = tu_clock_ms ();
    for (int i = 0; i < s_MEMBERS; i++) {
        char org [16];
        snprintf (org, sizeof org, "m%04d", i);
        env = s_open_ok (s_council, bytes, size, org, payload, 4096);
        certbus_envelope_destroy (&env);
    }
    print_message ("open by each of 1000 recipients: %.3f ms per open\n",
                   (tu_clock_ms () - start) / s_MEMBERS);
    free (bytes);
    free (payload);
}

//  A test that runs on a freshly sealed envelope (s_sealed_setup, s_sealed_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_sealed_setup, s_sealed_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_round_trip_clear_1),
        cmocka_unit_test (test_round_trip_clear_500),
        cmocka_unit_test (test_round_trip_green_1),
        cmocka_unit_test (test_round_trip_green_500),
        cmocka_unit_test (test_round_trip_amber_1),
        cmocka_unit_test (test_round_trip_amber_500),
        cmocka_unit_test (test_round_trip_amber_strict_1),
        cmocka_unit_test (test_round_trip_amber_strict_500),
        cmocka_unit_test (test_round_trip_red_1),
        cmocka_unit_test (test_round_trip_red_500),
        cmocka_unit_test (test_round_trip_red_max_terms),
        cmocka_unit_test (test_round_trip_sizes),
        cmocka_unit_test (test_corpus_csaf),
        cmocka_unit_test (test_corpus_stix),
        cmocka_unit_test (test_header_fields),
        cmocka_unit_test (test_seal_refusals),
        cmocka_unit_test (test_seal_to_refuses_non_current),
        s_test (test_flipped_header_bit),
        s_test (test_flipped_ciphertext_bit),
        s_test (test_flipped_signature_bit),
        s_test (test_check_signature),
        s_test (test_flipped_wrapped_key_bit),
        s_test (test_every_bit_flip_refused),
        s_test (test_not_for_us),
        s_test (test_truncated),
        s_test (test_oversized),
        cmocka_unit_test (test_garbage),
        s_test (test_unknown_version),
        cmocka_unit_test (test_other_council),
        cmocka_unit_test (test_expired_origin),
        cmocka_unit_test (test_not_yet_valid_origin),
        cmocka_unit_test (test_revoked_origin),
        cmocka_unit_test (test_recipient_list_tampering),
        cmocka_unit_test (test_base_plus_recipient_bytes),
        cmocka_unit_test (test_seal_to_1000),
    };
    return cmocka_run_group_tests (tests, s_group_setup, tu_council_teardown);
}
