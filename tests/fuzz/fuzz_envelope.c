/*  fuzz_envelope.c - libFuzzer harness: hostile envelopes decoded, verified
    and decrypted against a fixed Council, two members and their directory
    SPDX-License-Identifier: MPL-2.0

    Every input goes through certbus_envelope_open as the bank (the usual
    recipient), then step by step (decode, verify, decrypt) as the national
    CERT. An input that unpacks as an Envelope is also re-signed with its
    origin's key and opened again: a mutated header then gets past the
    signature, to the recipient list hash and the decryption behind it.
    Properties: a failed open hands back nothing; an envelope that opens
    can be cut down to each of its recipients (base bytes plus that
    recipient's bytes) and still decode.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_SMALL)

//  Reads every accessor of an envelope that decoded, and cuts it down to
//  each of its first recipients.
static void
s_walk (certbus_envelope_t *env)
{
    const certbus_header_t *h = certbus_envelope_header (env);
    if (!h || !h->origin || !h->kind || !h->tlp || !h->severity || !h->content_type || !h->topic
        || !h->audience || !h->case_status || !h->assign || (h->ref_count && !h->refs))
        __builtin_trap ();
    size_t header_size;
    if (!certbus_envelope_header_bytes (env, &header_size) || header_size == 0)
        __builtin_trap ();
    size_t sig_size, ct_size;
    if (!certbus_envelope_signature (env, &sig_size) || sig_size != CERTBUS_SIG_SIZE)
        __builtin_trap ();
    const uint8_t *ct = certbus_envelope_ciphertext (env, &ct_size);
    if ((ct_size && !ct) || ct_size != certbus_envelope_ciphertext_size (env))
        __builtin_trap ();
    (void) certbus_envelope_complete (env);
    size_t count = certbus_envelope_recipients (env);
    if (certbus_envelope_recipient (env, count) != NULL)
        __builtin_trap ();
    size_t base_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    for (size_t i = 0; i < count && i < 4; i++) {
        const char *org = certbus_envelope_recipient (env, i);
        size_t one_size;
        uint8_t *one = certbus_envelope_recipient_bytes (env, i, &one_size);
        uint8_t *cut = malloc (base_size + one_size);
        if (!org || !cut)
            __builtin_trap ();
        memcpy (cut, base, base_size);
        memcpy (cut + base_size, one, one_size);
        certbus_envelope_t *single = NULL;
        if (certbus_envelope_decode (cut, base_size + one_size, &single) != CERTBUS_OK
            || certbus_envelope_recipients (single) != 1
            || strcmp (certbus_envelope_recipient (single, 0), org) != 0)
            __builtin_trap ();
        certbus_envelope_destroy (&single);
        free (cut);
        free (one);
    }
    free (base);
}

//  Opens one input as an envelope (an fx_input_fn; arg is unused)
static void
s_open (const uint8_t *data, size_t size, void *arg)
{
    (void) arg;
    //  As a recipient does, in one call
    certbus_envelope_t *env = NULL;
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    certbus_err_t rc = certbus_envelope_open (data, size, s_fx.dir, s_fx.ids [1], fx_org (1),
                                              FX_NOW, &env, &payload, &payload_size);
    if (rc == CERTBUS_OK) {
        if (!env || !payload)
            __builtin_trap ();
        s_walk (env);
        free (payload);
        certbus_envelope_destroy (&env);
    }
    else if (env || payload || rc >= CERTBUS_E__COUNT)
        __builtin_trap ();

    //  Step by step, as the other member
    rc = certbus_envelope_decode (data, size, &env);
    if (rc != CERTBUS_OK) {
        if (env)
            __builtin_trap ();
        return;
    }
    const certbus_cert_t *origin = NULL;
    if (certbus_envelope_verify (env, s_fx.dir, FX_NOW, &origin) == CERTBUS_OK) {
        if (!origin)
            __builtin_trap ();
        rc = certbus_envelope_decrypt (env, s_fx.ids [0], fx_org (0), &payload, &payload_size);
        if ((rc == CERTBUS_OK) != (payload != NULL))
            __builtin_trap ();
        free (payload);
    }
    certbus_envelope_destroy (&env);
}

//  Signs the input's header with its origin's key (the national CERT's for
//  an origin we do not know) and opens the result, when the signature
//  changes.
static void
s_open_resigned (const uint8_t *data, size_t size)
{
    Certbus__Envelope *wire = certbus__envelope__unpack (NULL, size, data);
    if (!wire)
        return;
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, wire->header.len,
                                                                     wire->header.data);
    fx_resign (wire, &wire->signature, &wire->header, FX_DOMAIN_ENVELOPE,
               fx_secret_as (&s_fx, hdr ? hdr->origin : NULL), s_open, NULL);
    if (hdr)
        certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (wire, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_open (data, size, NULL);
    s_open_resigned (data, size);
    return 0;
}
