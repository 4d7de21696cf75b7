/*  fuzz_policy.c - libFuzzer harness: hostile policy text parsed, then
    every rule described and decisions taken for each member of a small
    directory
    SPDX-License-Identifier: MPL-2.0

    The input, up to its first NUL, is ZPL policy text. A policy that parses
    must describe each of its rules, and decide any sender, kind, TLP and
    audience without crashing; a decision that allows always names a rule,
    one that refuses names the default deny.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerInitialize (int *argc, char ***argv);
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static fx_t s_fx; //  built once, read-only afterwards
static certbus_audience_t *s_audiences [4];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fx_deterministic_random ();
    if (fx_init (&s_fx, FX_MEMBERS_MAX) != 0)
        abort ();
    const char *texts [4] = {"all", "tier:national,sector:banking", "org:bank-01",
                             "region:punjab,org:cert-national"};
    for (int i = 0; i < 4; i++)
        if (!(s_audiences [i] = certbus_audience_parse (texts [i])))
            abort ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text [size] = 0;
    certbus_policy_t *policy = certbus_policy_parse (text);
    free (text);
    if (!policy)
        return 0;
    for (size_t i = 0; i < certbus_policy_rules (policy); i++) {
        char *line = certbus_policy_describe (policy, i);
        if (!line || !*line)
            __builtin_trap ();
        free (line);
    }
    static const char *kinds [] = {"advisory", "incident", "alert"};
    static const char *tlps [] = {"clear", "amber", "red"};
    static const char *statuses [] = {NULL, "", "reported", "resolved"};
    for (size_t m = 0; m < certbus_directory_count (s_fx.dir); m++)
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < 3; k++) {
                certbus_decision_t decision;
                certbus_policy_decide (policy, certbus_directory_at (s_fx.dir, m), kinds [k],
                                       tlps [k], statuses [(m + (size_t) a) % 4], s_audiences [a],
                                       s_fx.dir, &decision);
                if (!*decision.rule)
                    __builtin_trap ();
                if (!decision.allowed && strcmp (decision.rule, CERTBUS_POLICY_DEFAULT_DENY) != 0)
                    __builtin_trap ();
            }
    certbus_policy_destroy (&policy);
    return 0;
}
