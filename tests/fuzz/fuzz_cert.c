/*  fuzz_cert.c - libFuzzer harness: hostile certificates, enrolment requests
    and revocations, decoded and verified
    SPDX-License-Identifier: MPL-2.0

    The three share one outer layout (version, body, signature), so every
    input goes to all three decoders. Then, when the input unpacks as that
    layout, its body is signed as each kind it unpacks as: by the fixed
    Council for a certificate or a revocation, by the member whose key the
    body names for a request. That gets mutated bodies past the signature,
    to the field checks behind it. Properties: a failed decode hands back
    nothing; a certificate that decodes also duplicates, and its validity
    window agrees with certbus_cert_check_time.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_SMALL)

#define s_CERT 1
#define s_REQUEST 2
#define s_REVOCATION 4

//  Decodes data as each kind in the mask of s_CERT, s_REQUEST, s_REVOCATION.
static void
s_decode (const uint8_t *data, size_t size, int kinds)
{
    const uint8_t *council = certbus_identity_sign_public (s_fx.council);
    certbus_err_t rc = CERTBUS_OK;

    certbus_cert_t *cert = NULL;
    if ((kinds & s_CERT) && (rc = certbus_cert_decode (data, size, council, &cert)) == CERTBUS_OK) {
        if (!cert || !cert->org_id || !cert->name || !cert->sector || !cert->region
            || cert->size != size || memcmp (cert->bytes, data, size) != 0
            || cert->not_after <= cert->not_before)
            __builtin_trap ();
        certbus_cert_t *copy = certbus_cert_dup (cert);
        bool inside = cert->not_before <= FX_NOW && FX_NOW < cert->not_after;
        if ((certbus_cert_check_time (copy, FX_NOW) == CERTBUS_OK) != inside
            || certbus_cert_check_time (copy, cert->not_before) != CERTBUS_OK
            || certbus_cert_check_time (copy, cert->not_after) != CERTBUS_E_CERT_EXPIRED)
            __builtin_trap ();
        (void) certbus_tier_name (cert->tier);
        certbus_cert_destroy (&copy);
        certbus_cert_destroy (&cert);
    }
    else if (cert || ((kinds & s_CERT) && rc >= CERTBUS_E__COUNT))
        __builtin_trap ();

    certbus_request_t *request = kinds & s_REQUEST ? certbus_request_decode (data, size) : NULL;
    if (request && (!request->org_id || !request->name || !certbus_name_valid (request->org_id)))
        __builtin_trap ();
    certbus_request_destroy (&request);

    certbus_revocation_t *rev = NULL;
    if ((kinds & s_REVOCATION)
        && (rc = certbus_revocation_decode (data, size, council, &rev)) == CERTBUS_OK) {
        if (!rev || !rev->org_id || !rev->reason || rev->size != size)
            __builtin_trap ();
        certbus_revocation_destroy (&rev);
    }
    else if (rev || ((kinds & s_REVOCATION) && rc >= CERTBUS_E__COUNT))
        __builtin_trap ();
}

//  s_decode as an fx_input_fn: arg points at the kinds
static void
s_decode_input (const uint8_t *data, size_t size, void *arg)
{
    s_decode (data, size, *(const int *) arg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_decode (data, size, s_CERT | s_REQUEST | s_REVOCATION);

    //  Certificate, Request and Revocation are the same layout on the wire
    Certbus__Certificate *outer = certbus__certificate__unpack (NULL, size, data);
    if (!outer)
        return 0;
    const uint8_t *body = outer->body.data;
    size_t body_size = outer->body.len;
    const uint8_t *council = certbus_identity_sign_secret (s_fx.council);
    Certbus__CertificateBody *cert_body = certbus__certificate_body__unpack (NULL, body_size, body);
    if (cert_body) {
        fx_resign (outer, &outer->signature, &outer->body, FX_DOMAIN_CERT, council, s_decode_input,
                   &(int){s_CERT});
        certbus__certificate_body__free_unpacked (cert_body, NULL);
    }
    Certbus__RevocationBody *rev_body = certbus__revocation_body__unpack (NULL, body_size, body);
    if (rev_body) {
        fx_resign (outer, &outer->signature, &outer->body, FX_DOMAIN_REVOCATION, council,
                   s_decode_input, &(int){s_REVOCATION});
        certbus__revocation_body__free_unpacked (rev_body, NULL);
    }
    Certbus__RequestBody *request_body = certbus__request_body__unpack (NULL, body_size, body);
    if (request_body) {
        for (size_t i = 0; i < s_fx.count; i++)
            if (request_body->sign_key.len == CERTBUS_KEY_SIZE
                && memcmp (request_body->sign_key.data, certbus_identity_sign_public (s_fx.ids [i]),
                           CERTBUS_KEY_SIZE)
                       == 0)
                fx_resign (outer, &outer->signature, &outer->body, FX_DOMAIN_REQUEST,
                           certbus_identity_sign_secret (s_fx.ids [i]), s_decode_input,
                           &(int){s_REQUEST});
        certbus__request_body__free_unpacked (request_body, NULL);
    }
    certbus__certificate__free_unpacked (outer, NULL);
    return 0;
}
