/*  test_header.c - unit tests of the envelope header rules (lib/header.c):
    what a member may sign in a header, enforced by decode and by seal
    SPDX-License-Identifier: MPL-2.0

    Each forged envelope is sealed honestly, then its header is changed and
    signed again with the sender's own key, as a member running its own
    client would: the signature holds, so only the rule can refuse it.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdlib.h>
#include <string.h>

//  One Council for the whole file: the group state, borrowed here
static tu_council_t *s_council;

static int
s_group_setup (void **state)
{
    s_council = tu_council_new ();
    tu_council_enrol_simple (s_council, "sender");
    tu_council_enrol_simple (s_council, "m0001");
    tu_council_enrol_simple (s_council, "m0002");
    tu_council_publish (s_council);
    *state = s_council; //  owned by the group, which tu_council_teardown ends
    return 0;
}

//  What to change in a sealed header before signing it again
typedef struct {
    const char *kind;  //  new kind, or NULL
    const char *field; //  a string field of EnvelopeHeader to set, or NULL
    const char *value;
    bool refs; //  replace the references with these
    const char *relations [3];
    size_t ref_count;
} s_edit_t;

//  Seals an honest advisory (or opts) from "sender" to m0001
static uint8_t *
s_seal (const certbus_seal_opts_t *opts, size_t *size_p)
{
    certbus_seal_opts_t plain = {.kind = "advisory",
                                 .tlp = "amber",
                                 .audience = "org:m0001",
                                 .topic = "CVE-2026-0001",
                                 .content_type = "text/plain"};
    tu_member_t *sender = tu_council_member (s_council, "sender");
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    tu_assert_err (certbus_envelope_seal (sender->identity, sender->cert, s_council->dir,
                                          opts ? opts : &plain, (const uint8_t *) "x", 1, id,
                                          &bytes, size_p),
                   CERTBUS_OK);
    return bytes;
}

//  An honest envelope with edit applied to its header, signed again by
//  the sender
static uint8_t *
s_forge (const s_edit_t *edit, size_t *size_p)
{
    size_t size;
    uint8_t *sealed = s_seal (NULL, &size);
    Certbus__Envelope *wire = certbus__envelope__unpack (NULL, size, sealed);
    assert_non_null (wire);
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, wire->header.len,
                                                                     wire->header.data);
    assert_non_null (hdr);
    Certbus__EnvelopeHeader copy = *hdr;
    if (edit->kind)
        copy.kind = (char *) edit->kind;
    if (edit->field) {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name (
            &certbus__envelope_header__descriptor, edit->field);
        assert_non_null (field);
        assert_int_equal (field->type, PROTOBUF_C_TYPE_STRING);
        *(const char **) ((uint8_t *) &copy + field->offset) = edit->value;
    }
    Certbus__Reference refs [3], *ref_ptrs [3];
    uint8_t ref_id [CERTBUS_ID_SIZE];
    certbus_uuid7 (ref_id);
    if (edit->refs) {
        for (size_t i = 0; i < edit->ref_count; i++) {
            certbus__reference__init (&refs [i]);
            refs [i].relation = (char *) edit->relations [i];
            refs [i].message_id.data = ref_id;
            refs [i].message_id.len = sizeof ref_id;
            ref_ptrs [i] = &refs [i];
        }
        copy.n_references = edit->ref_count;
        copy.references = ref_ptrs;
    }
    size_t header_size;
    uint8_t *header = certbus_codec_encode (&copy, &header_size);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, "certbus-envelope-v1", header, header_size,
                  certbus_identity_sign_secret (tu_council_member (s_council, "sender")->identity));
    Certbus__Envelope env = *wire;
    env.header.data = header;
    env.header.len = header_size;
    env.signature.data = sig;
    env.signature.len = sizeof sig;
    uint8_t *bytes = certbus_codec_encode (&env, size_p);
    free (header);
    certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (wire, NULL);
    free (sealed);
    return bytes;
}

//  Asserts that the forged envelope is refused at decode with
//  CERTBUS_E_FIELD and a reason holding want (when not NULL)
static void
s_assert_refused (const s_edit_t *edit, const char *want)
{
    size_t size;
    uint8_t *bytes = s_forge (edit, &size);
    certbus_envelope_t *env = NULL;
    certbus_reason_clear ();
    certbus_err_t rc = certbus_envelope_decode (bytes, size, &env);
    if (rc != CERTBUS_E_FIELD)
        fail_msg ("%s='%s' kind %s: got %s, expected field (%s)", edit->field ? edit->field : "-",
                  edit->value ? edit->value : "", edit->kind ? edit->kind : "-",
                  certbus_err_name (rc), certbus_reason ());
    assert_null (env);
    if (want && !strstr (certbus_reason (), want))
        fail_msg ("reason '%s' does not say '%s'", certbus_reason (), want);
    //  No raw control character ever reaches the reason
    assert_false (certbus_text_has_control (certbus_reason ()));
    free (bytes);
}

//  Asserts that the forged envelope decodes and verifies (a control case)
static void
s_assert_accepted (const s_edit_t *edit)
{
    size_t size;
    uint8_t *bytes = s_forge (edit, &size);
    certbus_envelope_t *env = NULL;
    certbus_err_t rc = certbus_envelope_decode (bytes, size, &env);
    if (rc != CERTBUS_OK)
        fail_msg ("refused: %s: %s", certbus_err_name (rc), certbus_reason ());
    tu_assert_err (certbus_envelope_verify (env, s_council->dir, certbus_now (), NULL), CERTBUS_OK);
    certbus_envelope_destroy (&env);
    free (bytes);
}

//  ---------------------------------------------------------------------------
//  Control characters

static void
test_control_characters_refused (void **state)
{
    (void) state;
    static const char *fields [] = {"origin",   "kind",         "topic",       "tlp",   "severity",
                                    "audience", "content_type", "case_status", "assign"};
    //  Erase the screen (C0 ESC), a forged log line (newline), DEL, and
    //  the C1 control CSI (U+009B), which many terminals act on too
    static const char *bad [] = {"x\x1b[2J", "x\nbroker: accepted publish org=bank-01", "x\x7f",
                                 "x\xc2\x9b"
                                 "31m"};
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        for (size_t j = 0; j < sizeof bad / sizeof bad [0]; j++) {
            char want [64];
            snprintf (want, sizeof want, "field %s holds a control character", fields [i]);
            s_assert_refused (&(s_edit_t){.field = fields [i], .value = bad [j]}, want);
        }
    //  The reason quotes the value escaped, so a logged reason cannot
    //  forge a line either
    s_assert_refused (&(s_edit_t){.field = "topic", .value = bad [1]},
                      "'x\\x0abroker: accepted publish");
    s_assert_refused (&(s_edit_t){.field = "audience", .value = "org:m0001\xc2\x85"},
                      "'org:m0001\\u0085'");
    //  Text that merely looks unusual passes: U+00A0 and above, and a
    //  backslash spelling an escape
    s_assert_accepted (&(s_edit_t){.field = "topic", .value = "caf\xc3\xa9 \xc2\xa0 \\x1b"});
    s_assert_accepted (&(s_edit_t){0});
}

//  ---------------------------------------------------------------------------
//  Case status and assign

static void
test_case_fields (void **state)
{
    (void) state;
    const char *statuses [] = {"reported", "acknowledged", "investigating", "contained",
                               "resolved", "closed",       "reopened"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses [0]; i++)
        s_assert_accepted (
            &(s_edit_t){.kind = "incident", .field = "case_status", .value = statuses [i]});
    s_assert_refused (&(s_edit_t){.kind = "incident", .field = "case_status", .value = "open"},
                      "case status 'open' is not one of reported, acknowledged");
    s_assert_refused (&(s_edit_t){.kind = "incident", .field = "case_status", .value = "Resolved"},
                      "case status 'Resolved'");
    s_assert_accepted (&(s_edit_t){.kind = "incident", .field = "assign", .value = "m0002"});
    s_assert_refused (&(s_edit_t){.kind = "incident", .field = "assign", .value = "Bank 01"},
                      "assign 'Bank 01' is not a valid org id");
    s_assert_refused (&(s_edit_t){.kind = "incident", .field = "assign", .value = "org:m0002"},
                      "is not a valid org id");
    //  Only on incidents
    s_assert_refused (&(s_edit_t){.field = "case_status", .value = "closed"},
                      "only an incident may carry a case status, not kind 'advisory'");
    s_assert_refused (&(s_edit_t){.kind = "alert", .field = "assign", .value = "m0002"},
                      "only an incident may assign a case, not kind 'alert'");
}

//  ---------------------------------------------------------------------------
//  References

static void
test_references (void **state)
{
    (void) state;
    //  Unknown relations, and a known one in other letters
    s_assert_refused (&(s_edit_t){.refs = true, .relations = {"supersedes"}, .ref_count = 1},
                      "relation 'supersedes', not one of updates, forwards, receipt-for");
    s_assert_refused (&(s_edit_t){.refs = true, .relations = {"Forwards"}, .ref_count = 1},
                      "relation 'Forwards'");
    //  Each relation at most once
    s_assert_refused (&(s_edit_t){.refs = true,
                                  .relations = {"forwards", "forwards"},
                                  .ref_count = 2},
                      "relation 'forwards' appears more than once");
    s_assert_refused (&(s_edit_t){.kind = "incident",
                                  .refs = true,
                                  .relations = {"updates", "forwards", "updates"},
                                  .ref_count = 3},
                      "relation 'updates' appears more than once");
    //  updates only on incidents
    s_assert_accepted (&(s_edit_t){
        .kind = "incident", .refs = true, .relations = {"updates", "forwards"}, .ref_count = 2});
    s_assert_refused (&(s_edit_t){.refs = true, .relations = {"updates"}, .ref_count = 1},
                      "only an incident may update a case (relation 'updates'), not kind "
                      "'advisory'");
    s_assert_refused (
        &(s_edit_t){.kind = "receipt", .refs = true, .relations = {"updates"}, .ref_count = 1},
        "only an incident may update a case");
    //  forwards on any kind but a receipt
    s_assert_accepted (&(s_edit_t){.refs = true, .relations = {"forwards"}, .ref_count = 1});
}

static void
test_receipts (void **state)
{
    (void) state;
    s_assert_accepted (
        &(s_edit_t){.kind = "receipt", .refs = true, .relations = {"receipt-for"}, .ref_count = 1});
    //  receipt-for only on receipts
    s_assert_refused (&(s_edit_t){.refs = true, .relations = {"receipt-for"}, .ref_count = 1},
                      "only a receipt may reference a message as receipt-for, not kind "
                      "'advisory'");
    s_assert_refused (&(s_edit_t){.kind = "incident",
                                  .refs = true,
                                  .relations = {"updates", "receipt-for"},
                                  .ref_count = 2},
                      "only a receipt may reference");
    //  A receipt carries exactly one reference, receipt-for
    const char *want = "a receipt carries exactly one reference, receipt-for";
    s_assert_refused (&(s_edit_t){.kind = "receipt", .refs = true, .ref_count = 0}, want);
    s_assert_refused (
        &(s_edit_t){.kind = "receipt", .refs = true, .relations = {"forwards"}, .ref_count = 1},
        want);
    s_assert_refused (&(s_edit_t){.kind = "receipt",
                                  .refs = true,
                                  .relations = {"receipt-for", "forwards"},
                                  .ref_count = 2},
                      want);
    s_assert_refused (&(s_edit_t){.kind = "receipt",
                                  .field = "case_status",
                                  .value = "closed",
                                  .refs = true,
                                  .relations = {"receipt-for"},
                                  .ref_count = 1},
                      "only an incident may carry a case status");
}

//  ---------------------------------------------------------------------------
//  Seal refuses the same, so the stock tools never make what decode refuses

static void
test_seal_refuses_the_same (void **state)
{
    (void) state;
    tu_member_t *sender = tu_council_member (s_council, "sender");
    certbus_ref_t updates = {.relation = "updates"}, forwards = {.relation = "forwards"};
    certbus_ref_t receipt_for = {.relation = "receipt-for"}, odd = {.relation = "supersedes"};
    certbus_ref_t two_forwards [2] = {{.relation = "forwards"}, {.relation = "forwards"}};
    certbus_ref_t receipt_and_more [2] = {{.relation = "receipt-for"}, {.relation = "forwards"}};
#define s_BASE .tlp = "amber", .audience = "org:m0001"
    struct {
        certbus_seal_opts_t opts;
        const char *want;
    } cases [] = {
        {{.kind = "advisory", s_BASE, .topic = "a\x1b[2Jb"}, "field topic holds a control"},
        {{.kind = "advisory",
          s_BASE,
          .topic = "a\xc2\x9b"
                   "b"},
         "field topic holds a control"},
        {{.kind = "advisory", .tlp = "amber", .audience = "org:m0001\n"},
         "field audience holds a control"},
        {{.kind = "incident", s_BASE, .case_status = "open"}, "case status 'open'"},
        {{.kind = "incident", s_BASE, .case_status = "closed\x7f"}, "holds a control"},
        {{.kind = "incident", s_BASE, .assign = "Not An Org"}, "is not a valid org id"},
        {{.kind = "advisory", s_BASE, .case_status = "reported"},
         "only an incident may carry a case status"},
        {{.kind = "advisory", s_BASE, .assign = "m0002"}, "only an incident may assign"},
        {{.kind = "advisory", s_BASE, .refs = &updates, .ref_count = 1},
         "only an incident may update a case"},
        {{.kind = "advisory", s_BASE, .refs = &receipt_for, .ref_count = 1},
         "only a receipt may reference"},
        {{.kind = "advisory", s_BASE, .refs = &odd, .ref_count = 1}, "relation 'supersedes'"},
        {{.kind = "advisory", s_BASE, .refs = two_forwards, .ref_count = 2},
         "appears more than once"},
        {{.kind = "receipt", s_BASE}, "a receipt carries exactly one reference"},
        {{.kind = "receipt", s_BASE, .refs = &forwards, .ref_count = 1},
         "a receipt carries exactly one reference"},
        {{.kind = "receipt", s_BASE, .refs = receipt_and_more, .ref_count = 2},
         "a receipt carries exactly one reference"},
    };
#undef s_BASE
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
        size_t size;
        certbus_reason_clear ();
        certbus_err_t rc = certbus_envelope_seal (sender->identity, sender->cert, s_council->dir,
                                                  &cases [i].opts, (const uint8_t *) "x", 1, id,
                                                  &bytes, &size);
        if (rc != CERTBUS_E_FIELD || !strstr (certbus_reason (), cases [i].want))
            fail_msg ("case %zu: got %s (%s), expected field: %s", i, certbus_err_name (rc),
                      certbus_reason (), cases [i].want);
        assert_null (bytes);
        //  seal_to applies them too
        char *to [] = {"m0001"};
        rc = certbus_envelope_seal_to (sender->identity, sender->cert, s_council->dir,
                                       &cases [i].opts, to, 1, (const uint8_t *) "x", 1, id, &bytes,
                                       &size);
        assert_int_equal (rc, CERTBUS_E_FIELD);
        assert_null (bytes);
    }
    //  What the stock node makes passes both: an incident report, an
    //  update, an escalation, a forward and a receipt
    certbus_ref_t escalation [2] = {{.relation = "updates"}, {.relation = "forwards"}};
    certbus_seal_opts_t good [] = {
        {.kind = "incident", .tlp = "amber", .audience = "org:m0001", .case_status = "reported"},
        {.kind = "incident",
         .tlp = "amber",
         .audience = "org:m0001",
         .case_status = "contained",
         .assign = "m0002",
         .refs = &updates,
         .ref_count = 1},
        {.kind = "incident",
         .tlp = "amber",
         .audience = "org:m0001",
         .refs = escalation,
         .ref_count = 2},
        {.kind = "advisory",
         .tlp = "green",
         .audience = "org:m0001",
         .refs = &forwards,
         .ref_count = 1},
        {.kind = "receipt",
         .tlp = "green",
         .audience = "org:m0001",
         .refs = &receipt_for,
         .ref_count = 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        size_t size;
        uint8_t *bytes = s_seal (&good [i], &size);
        certbus_envelope_t *env = NULL;
        tu_assert_err (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
        certbus_envelope_destroy (&env);
        free (bytes);
    }
}

//  A reason cut at the length limit stays UTF-8 (it travels in packets)
static void
test_long_reason_stays_utf8 (void **state)
{
    (void) state;
    char text [CERTBUS_REASON_MAX * 2];
    for (size_t offset = 0; offset < 4; offset++) {
        memset (text, 'a', offset);
        size_t at = offset;
        while (at + 4 < sizeof text) {
            memcpy (text + at, "\xe2\x80\x94", 3); //  an em dash, 3 bytes
            at += 3;
        }
        text [at] = 0;
        certbus_fail (CERTBUS_E_FIELD, "%s", text);
        assert_true (certbus_utf8_valid (certbus_reason (), CERTBUS_REASON_MAX));
        assert_true (strlen (certbus_reason ()) >= CERTBUS_REASON_MAX - 4);
    }
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_control_characters_refused),
        cmocka_unit_test (test_case_fields),
        cmocka_unit_test (test_references),
        cmocka_unit_test (test_receipts),
        cmocka_unit_test (test_seal_refuses_the_same),
        cmocka_unit_test (test_long_reason_stays_utf8),
    };
    return cmocka_run_group_tests (tests, s_group_setup, tu_council_teardown);
}
