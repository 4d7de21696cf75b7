/*  fuzz_forward.c - libFuzzer harness: hostile forward payloads
    SPDX-License-Identifier: MPL-2.0

    A forwarded message's payload (after the outer envelope verified and
    decrypted) carries the forwarded envelope's signed header, signature,
    ciphertext and content key, and may itself be a forward. Every input is
    opened with certbus_forward_open as that payload, under a fixed outer
    envelope (TLP amber, content type forward) from the fixture's bank.
    An input that unpacks as a Forward is also opened with its embedded
    header re-signed by that header's origin (the national CERT's key for
    an origin the fixture does not know), so that a mutated header gets
    past the signature to the TLP, ciphertext and decryption checks.
    Properties: a refusal hands back nothing and a known code; a chain
    that opens names at least one forwarder and holds the original.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_SMALL)

//  The envelope the payload came in: from the bank, TLP amber, content
//  type forward; made on first use
static certbus_envelope_t *
s_outer (void)
{
    static certbus_envelope_t *outer;
    if (outer)
        return outer;
    certbus_cert_t *bank = fx_cert (&s_fx, 1);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:cert-national",
                                .topic = "forwarded",
                                .severity = "high",
                                .content_type = CERTBUS_FORWARD_TYPE};
    char *to [] = {"cert-national"};
    uint8_t id [CERTBUS_ID_SIZE], *bytes;
    size_t size;
    if (certbus_envelope_seal_to (s_fx.ids [1], bank, s_fx.dir, &opts, to, 1,
                                  (const uint8_t *) "x", 1, id, &bytes, &size)
        || certbus_envelope_decode (bytes, size, &outer))
        abort ();
    free (bytes);
    certbus_cert_destroy (&bank);
    return outer;
}

static void
s_open (const uint8_t *data, size_t size)
{
    certbus_forwarded_t *forwarded = NULL;
    certbus_err_t rc = certbus_forward_open (s_fx.dir, s_outer (), data, size, &forwarded);
    if (rc != CERTBUS_OK) {
        if (forwarded || rc >= CERTBUS_E__COUNT)
            __builtin_trap ();
        return;
    }
    if (!forwarded || !forwarded->origin || !forwarded->forwarders || !*forwarded->forwarders
        || (forwarded->size && !forwarded->payload))
        __builtin_trap ();
    const certbus_header_t *origin = certbus_envelope_header (forwarded->origin);
    if (!origin || strcmp (origin->content_type, CERTBUS_FORWARD_TYPE) == 0)
        __builtin_trap ();
    certbus_forwarded_destroy (&forwarded);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_open (data, size);
    Certbus__Forward *forward = certbus__forward__unpack (NULL, size, data);
    if (!forward)
        return 0;
    Certbus__EnvelopeHeader *hdr
        = certbus__envelope_header__unpack (NULL, forward->header.len, forward->header.data);
    uint8_t sig [CERTBUS_SIG_SIZE];
    fx_sign_as (&s_fx, hdr ? hdr->origin : NULL, FX_DOMAIN_ENVELOPE, forward->header.data,
                forward->header.len, sig);
    if (forward->signature.len != sizeof sig
        || memcmp (forward->signature.data, sig, sizeof sig) != 0) {
        Certbus__Forward copy = *forward;
        copy.signature.data = sig;
        copy.signature.len = sizeof sig;
        size_t resigned_size;
        uint8_t *resigned = certbus_codec_encode (&copy, &resigned_size);
        s_open (resigned, resigned_size);
        free (resigned);
    }
    if (hdr)
        certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__forward__free_unpacked (forward, NULL);
    return 0;
}
