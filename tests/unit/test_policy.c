/*  test_policy.c - known-answer tests of the default policy: for each rule of
    deploy/policy.zpl (as compiled into certbus-broker), a message it allows
    and a neighbouring one the default deny refuses
    SPDX-License-Identifier: MPL-2.0

    The policy text is the one `certbus-broker init` writes into a new broker
    folder (build/gen/default_policy.h, made from deploy/policy.zpl), decided
    by lib/policy.c against a small directory of every tier.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "default_policy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  One decision: sender, kind, TLP, case status and audience, and what the
//  default policy answers (the deciding rule, or the default deny).
typedef struct {
    const char *sender;
    const char *kind;
    const char *tlp;
    const char *status;
    const char *audience;
    const char *rule;
} s_case_t;

#define DENY CERTBUS_POLICY_DEFAULT_DENY

static const s_case_t s_cases [] = {
    //  national-any: anything to anyone; a provincial CERT may not do the same
    {"cert-national", "report", "red", NULL, "all", "national-any"},
    {"cert-national", "alert", "clear", NULL, "tier:organization,org:bank-01", "national-any"},
    {"cert-punjab", "report", "red", NULL, "all", DENY},

    //  government-federal-advisories: advisories, alerts, incidents to all;
    //  other kinds only by name (certs-to-certs), never to "all"
    {"gov-cert", "advisory", "amber", NULL, "all", "government-federal-advisories"},
    {"fed-cert", "incident", "red", "acknowledged", "sector:energy,region:sindh",
     "government-federal-advisories"},
    {"gov-cert", "report", "amber", NULL, "all", DENY},

    //  provincial-own-region: its own region and the tiers above it
    {"cert-punjab", "alert", "amber", NULL, "region:punjab,tier:national,tier:federal",
     "provincial-own-region"},
    {"cert-punjab", "advisory", "green", NULL, "org:bank-01", "provincial-own-region"},
    {"cert-punjab", "alert", "amber", NULL, "region:sindh", DENY},
    {"cert-punjab", "advisory", "green", NULL, "org:power-01", DENY},

    //  sectoral-own-sector: its own sector and the national tier
    {"cert-banking", "advisory", "green", NULL, "sector:banking,tier:national",
     "sectoral-own-sector"},
    {"cert-banking", "incident", "amber", "reported", "org:bank-01", "sectoral-own-sector"},
    {"cert-banking", "advisory", "green", NULL, "sector:energy", DENY},
    {"cert-banking", "advisory", "green", NULL, "tier:federal", DENY},

    //  certs-to-certs: any kind to another CERT by name, never to a member
    {"cert-punjab", "report", "red", NULL, "org:cert-sindh,org:cert-national", "certs-to-certs"},
    {"cert-banking", "report", "amber+strict", NULL, "org:gov-cert", "certs-to-certs"},
    {"cert-punjab", "report", "red", NULL, "org:bank-01", DENY},

    //  incidents-to-national: a member opens or reopens a case with the
    //  national tier; the rest of the case's life is the CERTs'
    {"bank-01", "incident", "red", "reported", "tier:national", "incidents-to-national"},
    {"bank-01", "incident", "amber", "reopened", "org:cert-national", "incidents-to-national"},
    {"bank-01", "incident", "red", "resolved", "tier:national", DENY},
    {"bank-01", "incident", "red", NULL, "tier:national", DENY},
    {"bank-01", "advisory", "clear", NULL, "tier:national", DENY},

    //  incidents-to-own-sectoral: its own sector's CERT only
    {"bank-01", "incident", "amber", "reported", "org:cert-banking", "incidents-to-own-sectoral"},
    {"bank-01", "incident", "amber", "reported", "org:cert-energy", DENY},

    //  incidents-to-own-provincial: its own region's CERT only
    {"bank-01", "incident", "green", "reopened", "org:cert-punjab", "incidents-to-own-provincial"},
    {"bank-01", "incident", "green", "reopened", "org:cert-sindh", DENY},

    //  organisations never address all, a tier, a sector or a region
    {"bank-01", "incident", "amber", "reported", "all", DENY},
    {"bank-01", "advisory", "clear", NULL, "sector:banking", DENY},
    {"power-01", "incident", "amber", "reported", "region:sindh", DENY},
    {"power-01", "incident", "amber", "reported", "org:bank-01", DENY},

    //  every term must be allowed: one refused term refuses the message, and
    //  a message allowed by two rules names both
    {"cert-punjab", "alert", "amber", NULL, "region:punjab,region:sindh", DENY},
    {"bank-01", "incident", "red", "reported", "tier:national,org:cert-banking",
     "incidents-to-national,incidents-to-own-sectoral"},
};

typedef struct {
    tu_council_t *council;
    certbus_policy_t *policy;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *self = tu_fixture_new (state, sizeof *self);
    self->council = tu_council_new ();
    int64_t nb = (int64_t) time (NULL) - 3600, na = nb + 86400;
    tu_council_t *council = self->council;
    tu_council_enrol (council, "cert-national", CERTBUS_TIER_NATIONAL, "", "", nb, na);
    tu_council_enrol (council, "gov-cert", CERTBUS_TIER_GOVERNMENT, "", "", nb, na);
    tu_council_enrol (council, "fed-cert", CERTBUS_TIER_FEDERAL, "", "", nb, na);
    tu_council_enrol (council, "cert-punjab", CERTBUS_TIER_PROVINCIAL, "", "punjab", nb, na);
    tu_council_enrol (council, "cert-sindh", CERTBUS_TIER_PROVINCIAL, "", "sindh", nb, na);
    tu_council_enrol (council, "cert-banking", CERTBUS_TIER_SECTORAL, "banking", "", nb, na);
    tu_council_enrol (council, "cert-energy", CERTBUS_TIER_SECTORAL, "energy", "", nb, na);
    tu_council_enrol (council, "bank-01", CERTBUS_TIER_ORGANIZATION, "banking", "punjab", nb, na);
    tu_council_enrol (council, "power-01", CERTBUS_TIER_ORGANIZATION, "energy", "sindh", nb, na);
    assert_non_null (tu_council_publish (council));
    self->policy = certbus_policy_parse ((const char *) s_default_policy);
    if (!self->policy)
        fail_msg ("the default policy does not parse: %s", certbus_reason ());
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *self = *state;
    certbus_policy_destroy (&self->policy);
    tu_council_destroy (&self->council);
    free (self);
    return 0;
}

//  The rule table has the eight rules this test knows, in file order
static void
test_rule_table (void **state)
{
    s_fixture_t *self = *state;
    static const char *names [] = {"national-any",
                                   "government-federal-advisories",
                                   "provincial-own-region",
                                   "sectoral-own-sector",
                                   "certs-to-certs",
                                   "incidents-to-national",
                                   "incidents-to-own-sectoral",
                                   "incidents-to-own-provincial"};
    size_t count = sizeof names / sizeof names [0];
    assert_int_equal (certbus_policy_rules (self->policy), count);
    for (size_t i = 0; i < count; i++) {
        char *line = certbus_policy_describe (self->policy, i);
        assert_non_null (line);
        if (!strstr (line, names [i]))
            fail_msg ("rule %zu is '%s', wanted %s", i, line, names [i]);
        free (line);
    }
}

//  Every known-answer case decides as the table says
static void
test_known_answers (void **state)
{
    s_fixture_t *self = *state;
    size_t failures = 0;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases [0]; i++) {
        const s_case_t *c = &s_cases [i];
        tu_member_t *sender = tu_council_member (self->council, c->sender);
        certbus_audience_t *audience = certbus_audience_parse (c->audience);
        if (!audience)
            fail_msg ("case %zu: audience '%s' does not parse: %s", i, c->audience,
                      certbus_reason ());
        certbus_decision_t decision;
        certbus_policy_decide (self->policy, sender->cert, c->kind, c->tlp, c->status, audience,
                               self->council->dir, &decision);
        certbus_audience_destroy (&audience);
        bool want_allowed = strcmp (c->rule, DENY) != 0;
        if (decision.allowed != want_allowed || strcmp (decision.rule, c->rule) != 0) {
            print_error ("case %zu: %s sends %s at %s (status %s) to '%s': got %s by %s (%s), "
                         "wanted %s by %s\n",
                         i, c->sender, c->kind, c->tlp, c->status ? c->status : "none", c->audience,
                         decision.allowed ? "allowed" : "refused", decision.rule, decision.reason,
                         want_allowed ? "allowed" : "refused", c->rule);
            failures++;
        }
        if (!decision.allowed)
            assert_true (*decision.reason);
    }
    assert_int_equal (failures, 0);
}

//  An empty audience is never allowed
static void
test_empty_audience_refused (void **state)
{
    s_fixture_t *self = *state;
    certbus_audience_t *audience = certbus_audience_parse ("");
    if (!audience)
        return; //  refused earlier, by the parser
    certbus_decision_t decision;
    certbus_policy_decide (self->policy, tu_council_member (self->council, "cert-national")->cert,
                           "advisory", "clear", NULL, audience, self->council->dir, &decision);
    certbus_audience_destroy (&audience);
    assert_false (decision.allowed);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rule_table),
        cmocka_unit_test (test_known_answers),
        cmocka_unit_test (test_empty_audience_refused),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
