/*  fuzz_audience.c - libFuzzer harness: hostile audience text parsed, then
    resolved against a small directory with each TLP
    SPDX-License-Identifier: MPL-2.0

    The input, up to its first NUL, is the audience as written. The
    directory holds current members of several tiers, sectors and regions,
    an expired one, a revoked one and one not yet valid. Properties of a
    resolve that succeeds: the result is sorted, unique, non-empty, leaves
    out the excluded sender, names only current members, and for TLP red
    comes from org: terms only. A resolve that fails hands back nothing.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_MAX)

//  Every TLP, and two that are not one
static const char *s_tlps [] = {"clear", "green", "amber", "amber+strict", "red", NULL, "RED"};
#define s_TLP_COUNT (sizeof s_tlps / sizeof s_tlps [0])

static bool
s_current (const certbus_cert_t *cert)
{
    return certbus_cert_check_time (cert, FX_NOW) == CERTBUS_OK
           && !certbus_directory_revocation (s_fx.dir, cert->serial);
}

static void
s_parse (const char *text)
{
    certbus_audience_t *audience = certbus_audience_parse (text);
    if (!audience)
        return;
    if (audience->count == 0 || audience->count > CERTBUS_MAX_TERMS)
        __builtin_trap ();
    size_t members = certbus_directory_count (s_fx.dir);
    for (size_t t = 0; t < audience->count; t++) {
        const certbus_term_t *term = &audience->terms [t];
        if (strcmp (certbus_term_type_name (term->type), "unknown") == 0)
            __builtin_trap ();
        if (term->type == CERTBUS_TERM_ALL ? term->value [0] != 0
                                           : !certbus_name_valid (term->value))
            __builtin_trap ();
        if (term->type == CERTBUS_TERM_TIER
            && certbus_tier_parse (term->value) == CERTBUS_TIER_NONE)
            __builtin_trap ();
        for (size_t i = 0; i < members; i++)
            (void) certbus_term_matches (term, certbus_directory_at (s_fx.dir, i));
    }
    (void) certbus_audience_only_orgs (audience);
    certbus_audience_destroy (&audience);
}

static void
s_resolve (const char *text, const char *tlp, const char *exclude)
{
    char **orgs = NULL;
    size_t count = 0;
    certbus_err_t rc = certbus_audience_resolve (text, tlp, s_fx.dir, exclude, FX_NOW, &orgs,
                                                 &count);
    if (rc != CERTBUS_OK) {
        if (orgs || count || rc >= CERTBUS_E__COUNT)
            __builtin_trap ();
        return;
    }
    if (!orgs || count == 0)
        __builtin_trap ();
    for (size_t i = 0; i < count; i++) {
        const certbus_cert_t *cert = certbus_directory_find (s_fx.dir, orgs [i]);
        if (!cert || !s_current (cert) || (exclude && strcmp (orgs [i], exclude) == 0))
            __builtin_trap ();
        if (i > 0 && strcmp (orgs [i - 1], orgs [i]) >= 0)
            __builtin_trap ();
    }
    if (tlp && strcmp (tlp, "red") == 0) {
        certbus_audience_t *audience = certbus_audience_parse (text);
        if (!audience || !certbus_audience_only_orgs (audience))
            __builtin_trap ();
        certbus_audience_destroy (&audience);
    }
    certbus_strv_free (orgs, count);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    if (size)
        memcpy (text, data, size);
    text [size] = 0;
    s_parse (text);
    for (size_t i = 0; i < s_TLP_COUNT; i++) {
        s_resolve (text, s_tlps [i], NULL);
        s_resolve (text, s_tlps [i], fx_org (0));
    }
    free (text);
    return 0;
}
