/*  fuzz_treehead.c - libFuzzer harness: hostile signed tree heads
    SPDX-License-Identifier: MPL-2.0

    Every input is verified as a signed tree head against the fixture's
    Council key (standing in for a broker's key). An input that unpacks as
    a TreeHead is also re-signed with that key, so that a mutated body gets
    past the signature to the body's own decoding and checks.
    Properties: a head that verifies signs again to a head that verifies
    with the same size, time and root; a refusal hands back a known code.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_TREE_HEAD "certbus-tree-head-v1" //  lib/treehead.c's domain

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_SMALL)

//  Verifies one input as a signed tree head (an fx_input_fn; arg is unused)
static void
s_verify (const uint8_t *data, size_t size, void *arg)
{
    (void) arg;
    const uint8_t *key = certbus_identity_sign_public (s_fx.council);
    certbus_tree_head_t head;
    certbus_err_t rc = certbus_tree_head_verify (data, size, key, &head);
    if (rc >= CERTBUS_E__COUNT)
        __builtin_trap ();
    if (rc != CERTBUS_OK)
        return;
    size_t again_size;
    uint8_t *again = certbus_tree_head_sign (s_fx.council, &head, &again_size);
    certbus_tree_head_t back;
    if (!again || certbus_tree_head_verify (again, again_size, key, &back) != CERTBUS_OK
        || back.size != head.size || back.timestamp != head.timestamp
        || memcmp (back.root, head.root, sizeof head.root) != 0)
        __builtin_trap ();
    free (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fx_feed_signed (&certbus__tree_head__descriptor, "body", data, size, s_DOMAIN_TREE_HEAD,
                    certbus_identity_sign_secret (s_fx.council), s_verify, NULL);
    return 0;
}
