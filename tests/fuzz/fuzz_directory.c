/*  fuzz_directory.c - libFuzzer harness: hostile directories decoded and
    verified against the fixed Council key, with min_serial
    SPDX-License-Identifier: MPL-2.0

    Every input is decoded as a Directory. When it unpacks as one, its body
    is also signed with the Council key and decoded again, so that mutated
    bodies reach the per-certificate and per-revocation checks behind the
    directory's own signature. Properties: a failed decode hands back
    nothing; a directory that decodes answers every look-up for its own
    members consistently, and is refused as CERTBUS_E_DIRECTORY_OLD by a
    holder of any later version.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_MAX)

static void
s_walk (certbus_directory_t *dir, const uint8_t *data, size_t size)
{
    size_t bytes_size;
    const uint8_t *bytes = certbus_directory_bytes (dir, &bytes_size);
    if (bytes_size != size || memcmp (bytes, data, size) != 0)
        __builtin_trap ();
    (void) certbus_directory_issued_at (dir);
    size_t count = certbus_directory_count (dir);
    if (certbus_directory_at (dir, count) != NULL)
        __builtin_trap ();
    for (size_t i = 0; i < count; i++) {
        const certbus_cert_t *cert = certbus_directory_at (dir, i);
        if (!cert || certbus_directory_find (dir, cert->org_id) != cert)
            __builtin_trap ();
        if (i > 0 && strcmp (certbus_directory_at (dir, i - 1)->org_id, cert->org_id) >= 0)
            __builtin_trap ();
        if (!certbus_directory_find_serial (dir, cert->serial)
            || !certbus_directory_find_curve (dir, cert->curve_key))
            __builtin_trap ();
        const certbus_cert_t *origin = NULL;
        certbus_err_t rc = certbus_directory_check_origin (dir, cert->org_id, cert->serial, FX_NOW,
                                                           &origin);
        if ((rc == CERTBUS_OK) != (origin == cert))
            __builtin_trap ();
        if (rc == CERTBUS_OK && certbus_directory_revocation (dir, cert->serial))
            __builtin_trap ();
    }
    size_t revs = certbus_directory_revocation_count (dir);
    if (certbus_directory_revocation_at (dir, revs) != NULL)
        __builtin_trap ();
    for (size_t i = 0; i < revs; i++) {
        const certbus_revocation_t *rev = certbus_directory_revocation_at (dir, i);
        if (!rev || !certbus_directory_revocation (dir, rev->serial))
            __builtin_trap ();
    }
}

//  Decodes one input as a directory (an fx_input_fn; arg is unused)
static void
s_decode (const uint8_t *data, size_t size, void *arg)
{
    (void) arg;
    const uint8_t *council = certbus_identity_sign_public (s_fx.council);
    certbus_directory_t *dir = NULL;
    certbus_err_t rc = certbus_directory_decode (data, size, council, 0, &dir);
    if (rc != CERTBUS_OK) {
        if (dir || rc >= CERTBUS_E__COUNT)
            __builtin_trap ();
        return;
    }
    s_walk (dir, data, size);
    uint64_t serial = certbus_directory_serial (dir);
    certbus_directory_destroy (&dir);
    if (serial < UINT64_MAX) {
        rc = certbus_directory_decode (data, size, council, serial + 1, &dir);
        if (rc != CERTBUS_E_DIRECTORY_OLD || dir)
            __builtin_trap ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fx_feed_signed (&certbus__directory__descriptor, "body", data, size, FX_DOMAIN_DIRECTORY,
                    certbus_identity_sign_secret (s_fx.council), s_decode, NULL);
    return 0;
}
