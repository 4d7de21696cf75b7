/*  test_audience.c - unit tests of certbus_audience: parsing terms and
    resolving them against a directory
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

//  ---------------------------------------------------------------------------
//  Parsing

static void
test_parse_each_term_type (void **state)
{
    (void) state;
    struct {
        const char *text;
        certbus_term_type_t type;
        const char *value;
    } cases [] = {
        {"all", CERTBUS_TERM_ALL, ""},
        {"org:pk-bank-01", CERTBUS_TERM_ORG, "pk-bank-01"},
        {"tier:national", CERTBUS_TERM_TIER, "national"},
        {"tier:organization", CERTBUS_TERM_TIER, "organization"},
        {"sector:banking", CERTBUS_TERM_SECTOR, "banking"},
        {"region:punjab", CERTBUS_TERM_REGION, "punjab"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        certbus_audience_t *aud = certbus_audience_parse (cases [i].text);
        if (!aud)
            fail_msg ("'%s' does not parse: %s", cases [i].text, certbus_reason ());
        assert_int_equal (aud->count, 1);
        assert_int_equal (aud->terms [0].type, cases [i].type);
        assert_string_equal (aud->terms [0].value, cases [i].value);
        certbus_audience_destroy (&aud);
        assert_null (aud);
    }
    certbus_audience_t *none = NULL;
    certbus_audience_destroy (&none); //  accepts NULL

    assert_string_equal (certbus_term_type_name (CERTBUS_TERM_ALL), "all");
    assert_string_equal (certbus_term_type_name (CERTBUS_TERM_ORG), "org");
    assert_string_equal (certbus_term_type_name (CERTBUS_TERM_TIER), "tier");
    assert_string_equal (certbus_term_type_name (CERTBUS_TERM_SECTOR), "sector");
    assert_string_equal (certbus_term_type_name (CERTBUS_TERM_REGION), "region");
}

static void
test_parse_comma_lists (void **state)
{
    (void) state;
    certbus_audience_t *aud
        = certbus_audience_parse ("org:cert-pk, tier:federal ,sector:banking,region:sindh,all");
    assert_non_null (aud);
    assert_int_equal (aud->count, 5);
    assert_int_equal (aud->terms [0].type, CERTBUS_TERM_ORG);
    assert_string_equal (aud->terms [0].value, "cert-pk");
    assert_int_equal (aud->terms [1].type, CERTBUS_TERM_TIER);
    assert_string_equal (aud->terms [1].value, "federal");
    assert_int_equal (aud->terms [2].type, CERTBUS_TERM_SECTOR);
    assert_string_equal (aud->terms [2].value, "banking");
    assert_int_equal (aud->terms [3].type, CERTBUS_TERM_REGION);
    assert_string_equal (aud->terms [3].value, "sindh");
    assert_int_equal (aud->terms [4].type, CERTBUS_TERM_ALL);
    assert_false (certbus_audience_only_orgs (aud));
    certbus_audience_destroy (&aud);

    aud = certbus_audience_parse ("org:a,org:b,org:c");
    assert_non_null (aud);
    assert_int_equal (aud->count, 3);
    assert_true (certbus_audience_only_orgs (aud));
    certbus_audience_destroy (&aud);

    //  CERTBUS_MAX_TERMS terms parse, one more does not
    char text [CERTBUS_MAX_TERMS * 12 + 16] = "";
    size_t len = 0;
    for (int i = 0; i < CERTBUS_MAX_TERMS; i++)
        len += (size_t) snprintf (text + len, sizeof text - len, "%sorg:o%03d", i ? "," : "", i);
    aud = certbus_audience_parse (text);
    assert_non_null (aud);
    assert_int_equal (aud->count, CERTBUS_MAX_TERMS);
    assert_string_equal (aud->terms [CERTBUS_MAX_TERMS - 1].value, "o063");
    certbus_audience_destroy (&aud);
    snprintf (text + len, sizeof text - len, ",org:o064");
    assert_null (certbus_audience_parse (text));
    assert_non_null (strstr (certbus_reason (), "terms"));
}

//  Asserts that text does not parse and that the reason mentions needle
static void
s_expect_parse_error (const char *text, const char *needle)
{
    certbus_reason_clear ();
    certbus_audience_t *aud = certbus_audience_parse (text);
    if (aud) {
        certbus_audience_destroy (&aud);
        fail_msg ("audience '%s' parsed but should not", text ? text : "(null)");
    }
    if (!strstr (certbus_reason (), needle))
        fail_msg ("reason for '%s' lacks '%s': %s", text ? text : "(null)", needle,
                  certbus_reason ());
}

static void
test_parse_errors (void **state)
{
    (void) state;
    s_expect_parse_error ("tier:galactic", "unknown tier");
    s_expect_parse_error ("tier:National", "invalid value");
    s_expect_parse_error ("planet:mars", "unknown audience term type 'planet'");
    s_expect_parse_error ("org:cert-pk,colour:red", "unknown audience term type 'colour'");
    s_expect_parse_error ("everyone", "everyone");
    s_expect_parse_error ("org:", "invalid value");
    s_expect_parse_error ("org:Bad_Upper", "invalid value");
    s_expect_parse_error ("sector:has space", "invalid value");
    s_expect_parse_error ("", "empty");
    s_expect_parse_error (NULL, "empty");
    s_expect_parse_error (",", "no terms");
    s_expect_parse_error ("all:x", "unknown audience term type 'all'");
    //  An unknown tier makes the whole list fail, wherever it is
    s_expect_parse_error ("org:cert-pk,tier:nope", "unknown tier 'nope'");
}

static void
test_tlp_names (void **state)
{
    (void) state;
    const char *good [] = {"clear", "green", "amber", "amber+strict", "red"};
    for (size_t i = 0; i < 5; i++)
        assert_true (certbus_tlp_valid (good [i]));
    assert_false (certbus_tlp_valid ("white"));
    assert_false (certbus_tlp_valid ("RED"));
    assert_false (certbus_tlp_valid ("amber+"));
    assert_false (certbus_tlp_valid (""));
    assert_false (certbus_tlp_valid (NULL));
}

//  ---------------------------------------------------------------------------
//  Resolving

static int
s_setup (void **state)
{
    tu_council_t *council = tu_council_new ();
    int64_t now = certbus_now ();
    int64_t nb = now - 3600, na = now + 86400;
    //  Enrolled out of order on purpose
    tu_council_enrol (council, "pk-bank-02", CERTBUS_TIER_ORGANIZATION, "banking", "sindh", nb, na);
    tu_council_enrol (council, "sender", CERTBUS_TIER_NATIONAL, "", "", nb, na);
    tu_council_enrol (council, "cert-pk", CERTBUS_TIER_NATIONAL, "", "", nb, na);
    tu_council_enrol (council, "fed-1", CERTBUS_TIER_FEDERAL, "", "punjab", nb, na);
    tu_council_enrol (council, "prov-1", CERTBUS_TIER_PROVINCIAL, "", "punjab", nb, na);
    tu_council_enrol (council, "pk-bank-01", CERTBUS_TIER_ORGANIZATION, "banking", "punjab", nb,
                      na);
    tu_council_enrol (council, "sec-bank", CERTBUS_TIER_SECTORAL, "banking", "", nb, na);
    tu_council_enrol (council, "energy-1", CERTBUS_TIER_ORGANIZATION, "energy", "sindh", nb, na);
    tu_council_enrol (council, "old-bank", CERTBUS_TIER_ORGANIZATION, "banking", "punjab",
                      now - 7200, now - 3600);
    tu_council_enrol (council, "new-bank", CERTBUS_TIER_ORGANIZATION, "banking", "punjab",
                      now + 3600, now + 7200);
    tu_council_enrol (council, "gone-bank", CERTBUS_TIER_ORGANIZATION, "banking", "punjab", nb, na);
    tu_council_revoke (council, "gone-bank", "left the sector");
    tu_council_publish (council);
    *state = council;
    return 0;
}

//  Resolves text as "sender" now and checks the result is exactly want
//  (a comma-separated, sorted list)
//  Resolves text at when, leaving out excluded (NULL: nobody); fails the
//  test unless it resolves. Returns the orgs (free with certbus_strv_free).
static char **
s_resolve_ok (tu_council_t *council, const char *text, const char *tlp, const char *excluded,
              int64_t when, size_t *count_p)
{
    char **orgs = NULL;
    certbus_err_t rc = certbus_audience_resolve (text, tlp, council->dir, excluded, when, &orgs,
                                                 count_p);
    if (rc != CERTBUS_OK)
        fail_msg ("'%s' (%s) does not resolve: %s: %s", text, tlp, certbus_err_name (rc),
                  certbus_reason ());
    return orgs;
}

static void
s_expect_resolve (tu_council_t *council, const char *text, const char *tlp, const char *want)
{
    size_t count = 0;
    char **orgs = s_resolve_ok (council, text, tlp, "sender", certbus_now (), &count);
    char got [1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < count; i++)
        len += (size_t) snprintf (got + len, sizeof got - len, "%s%s", i ? "," : "", orgs [i]);
    //  Sorted and unique, whatever the terms
    for (size_t i = 1; i < count; i++)
        assert_true (strcmp (orgs [i - 1], orgs [i]) < 0);
    certbus_strv_free (orgs, count);
    if (strcmp (got, want) != 0)
        fail_msg ("'%s' resolved to '%s', expected '%s'", text, got, want);
}

static void
s_expect_resolve_err (tu_council_t *council, const char *text, const char *tlp, certbus_err_t want)
{
    char **orgs = (char **) 1;
    size_t count = 99;
    certbus_reason_clear ();
    tu_assert_err (certbus_audience_resolve (text, tlp, council->dir, "sender", certbus_now (),
                                             &orgs, &count),
                   want);
    assert_null (orgs);
    assert_int_equal (count, 0);
}

static void
test_resolve_terms (void **state)
{
    tu_council_t *council = *state;
    //  Each term type; terms that overlap name each member once; a NULL TLP
    //  applies no TLP rule
    static const struct {
        const char *text, *tlp, *want;
    } cases [] = {
        {"org:cert-pk", "amber", "cert-pk"},
        {"tier:national", "amber", "cert-pk"},
        {"tier:organization", "green", "energy-1,pk-bank-01,pk-bank-02"},
        {"sector:banking", "amber", "pk-bank-01,pk-bank-02,sec-bank"},
        {"region:punjab", "amber", "fed-1,pk-bank-01,prov-1"},
        {"all", "clear", "cert-pk,energy-1,fed-1,pk-bank-01,pk-bank-02,prov-1,sec-bank"},
        {"sector:energy,org:cert-pk", "amber+strict", "cert-pk,energy-1"},
        {"sector:banking,region:punjab,org:pk-bank-01,tier:organization", "amber",
         "energy-1,fed-1,pk-bank-01,pk-bank-02,prov-1,sec-bank"},
        {"org:pk-bank-02,org:pk-bank-02,org:cert-pk", "amber", "cert-pk,pk-bank-02"},
        {"tier:federal", NULL, "fed-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_expect_resolve (council, cases [i].text, cases [i].tlp, cases [i].want);
}

static void
test_resolve_excludes (void **state)
{
    tu_council_t *council = *state;
    //  The sender, the revoked, the expired and the not-yet-valid are left
    //  out even where a term matches them
    s_expect_resolve (council, "tier:national", "green", "cert-pk");
    s_expect_resolve (council, "org:sender,org:cert-pk", "amber", "cert-pk");
    s_expect_resolve (council, "sector:banking", "green", "pk-bank-01,pk-bank-02,sec-bank");

    //  Without an excluded org the sender is a member like any other
    size_t count;
    char **orgs = s_resolve_ok (council, "tier:national", "amber", NULL, certbus_now (), &count);
    assert_int_equal (count, 2);
    assert_string_equal (orgs [0], "cert-pk");
    assert_string_equal (orgs [1], "sender");
    certbus_strv_free (orgs, count);

    //  Judged at when_s: in the future "new-bank" is current and the rest expired
    int64_t later = certbus_now () + 5000;
    orgs = s_resolve_ok (council, "sector:banking", "amber", "sender", later, &count);
    assert_int_equal (count, 4);
    assert_string_equal (orgs [0], "new-bank");
    certbus_strv_free (orgs, count);
    int64_t earlier = certbus_now () - 5000;
    orgs = s_resolve_ok (council, "sector:banking", "amber", "sender", earlier, &count);
    assert_int_equal (count, 1);
    assert_string_equal (orgs [0], "old-bank");
    certbus_strv_free (orgs, count);
}

static void
test_resolve_errors (void **state)
{
    tu_council_t *council = *state;
    //  Nobody
    s_expect_resolve_err (council, "sector:telecom", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "region:balochistan", "green", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "tier:government", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "org:sender", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    //  An org: that is not a current member, alone or beside good terms
    s_expect_resolve_err (council, "org:nobody", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "org:old-bank,org:cert-pk", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "org:new-bank", "red", CERTBUS_E_AUDIENCE_EMPTY);
    s_expect_resolve_err (council, "org:gone-bank,org:cert-pk", "amber", CERTBUS_E_AUDIENCE_EMPTY);
    assert_non_null (strstr (certbus_reason (), "gone-bank"));
    //  TLP red is for named organisations only
    s_expect_resolve_err (council, "tier:national", "red", CERTBUS_E_TLP);
    s_expect_resolve_err (council, "sector:banking", "red", CERTBUS_E_TLP);
    s_expect_resolve_err (council, "org:cert-pk,all", "red", CERTBUS_E_TLP);
    s_expect_resolve_err (council, "all", "red", CERTBUS_E_TLP);
    s_expect_resolve (council, "org:cert-pk,org:pk-bank-01", "red", "cert-pk,pk-bank-01");
    //  Unparseable
    s_expect_resolve_err (council, "tier:galactic", "amber", CERTBUS_E_AUDIENCE);
    s_expect_resolve_err (council, "planet:mars", "amber", CERTBUS_E_AUDIENCE);
    s_expect_resolve_err (council, "", "amber", CERTBUS_E_AUDIENCE);
}

static void
test_term_matches (void **state)
{
    tu_council_t *council = *state;
    const certbus_cert_t *bank = certbus_directory_find (council->dir, "pk-bank-01");
    assert_non_null (bank);
    //  Values match whole, never as a prefix ("bank")
    static const struct {
        certbus_term_type_t type;
        const char *value;
        bool matches;
    } cases [] = {
        {CERTBUS_TERM_ALL, "", true},
        {CERTBUS_TERM_ORG, "pk-bank-01", true},
        {CERTBUS_TERM_ORG, "pk-bank-02", false},
        {CERTBUS_TERM_TIER, "organization", true},
        {CERTBUS_TERM_TIER, "national", false},
        {CERTBUS_TERM_SECTOR, "banking", true},
        {CERTBUS_TERM_SECTOR, "energy", false},
        {CERTBUS_TERM_REGION, "punjab", true},
        {CERTBUS_TERM_REGION, "sindh", false},
        {CERTBUS_TERM_SECTOR, "bank", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        certbus_term_t term = {cases [i].type, ""};
        strcpy (term.value, cases [i].value);
        if (certbus_term_matches (&term, bank) != cases [i].matches)
            fail_msg ("%s:%s should %smatch pk-bank-01", certbus_term_type_name (cases [i].type),
                      cases [i].value, cases [i].matches ? "" : "not ");
    }
}

//  A test that runs on a fresh Council (s_setup, tu_council_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, tu_council_teardown)

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_parse_each_term_type),
        cmocka_unit_test (test_parse_comma_lists),
        cmocka_unit_test (test_parse_errors),
        cmocka_unit_test (test_tlp_names),
        s_test (test_resolve_terms),
        s_test (test_resolve_excludes),
        s_test (test_resolve_errors),
        s_test (test_term_matches),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
