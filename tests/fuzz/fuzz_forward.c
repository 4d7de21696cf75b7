/*  fuzz_forward.c - libFuzzer harness: hostile forward payloads
    SPDX-License-Identifier: MPL-2.0

    A forwarded message's payload (after the outer envelope verified and
    decrypted) carries the forwarded envelope's signed header, signature,
    ciphertext and content key, and may itself be a forward. Every input is
    opened with certbus_forward_open as that payload. An input that unpacks
    as a Forward whose header unpacks with an id is opened under the outer
    envelope a forwarder would have sent it in (fx_forward_outer: content
    type forward, the inner TLP, one `forwards` reference naming the inner
    id, sealed by a fixture member that is not the inner origin), so that
    it gets past the link checks; any other input under a fixed outer
    envelope (TLP amber, content type forward, no reference) from the
    fixture's bank. An input that unpacks as a Forward is also opened with
    its embedded header re-signed by that header's origin (the national
    CERT's key for an origin the fixture does not know): the header, and so
    its outer envelope, stay the same, and a mutated header gets past the
    signature to the TLP, ciphertext and decryption checks.
    Properties: a refusal hands back nothing and a known code; a chain
    that opens names at least one forwarder, none of them the origin, and
    holds the original, whose TLP is neither red nor amber+strict.
*/
#include "certbus.h"
#include "fixture.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FX_FUZZER_FIXTURE (FX_MEMBERS_FORWARD)

//  The envelope for payloads that do not unpack: from the bank, TLP amber,
//  content type forward, no reference; made on first use
static certbus_envelope_t *
s_fixed_outer (void)
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
    if (certbus_envelope_seal_to (s_fx.ids [1], bank, s_fx.dir, &opts, to, 1, (const uint8_t *) "x",
                                  1, id, &bytes, &size)
        || certbus_envelope_decode (bytes, size, &outer))
        abort ();
    free (bytes);
    certbus_cert_destroy (&bank);
    return outer;
}

//  Outer envelopes made for inner headers, by inner id, origin and TLP:
//  sealing costs a signature, and mutations mostly keep the id
#define s_CACHE_SIZE 64
#define s_CACHE_TEXT 48 //  longer origins and TLPs are not cached

typedef struct {
    uint8_t id [CERTBUS_ID_SIZE];
    char origin [s_CACHE_TEXT];
    char tlp [s_CACHE_TEXT];
    certbus_envelope_t *outer;
} s_cached_t;

static s_cached_t s_cache [s_CACHE_SIZE];

//  The outer envelope for a Forward whose header unpacked; NULL when the
//  header has no id of the right size. Owned by the cache, or by the caller
//  when *owned_p is set.
static certbus_envelope_t *
s_outer_for (const Certbus__EnvelopeHeader *hdr, bool *owned_p)
{
    *owned_p = false;
    if (hdr->id.len != CERTBUS_ID_SIZE)
        return NULL;
    if (strlen (hdr->origin) >= s_CACHE_TEXT || strlen (hdr->tlp) >= s_CACHE_TEXT) {
        *owned_p = true;
        return fx_forward_outer (&s_fx, hdr->id.data, hdr->origin, hdr->tlp);
    }
    size_t slot = 0;
    for (size_t i = 0; i < CERTBUS_ID_SIZE; i++)
        slot = slot * 31 + hdr->id.data [i];
    for (const char *c = hdr->origin; *c; c++)
        slot = slot * 31 + (unsigned char) *c;
    for (const char *c = hdr->tlp; *c; c++)
        slot = slot * 31 + (unsigned char) *c;
    s_cached_t *entry = &s_cache [slot % s_CACHE_SIZE];
    if (entry->outer && memcmp (entry->id, hdr->id.data, CERTBUS_ID_SIZE) == 0
        && strcmp (entry->origin, hdr->origin) == 0 && strcmp (entry->tlp, hdr->tlp) == 0)
        return entry->outer;
    certbus_envelope_destroy (&entry->outer);
    memcpy (entry->id, hdr->id.data, CERTBUS_ID_SIZE);
    strcpy (entry->origin, hdr->origin);
    strcpy (entry->tlp, hdr->tlp);
    entry->outer = fx_forward_outer (&s_fx, hdr->id.data, hdr->origin, hdr->tlp);
    return entry->outer;
}

static void
s_open (certbus_envelope_t *outer, const uint8_t *data, size_t size)
{
    certbus_forwarded_t *forwarded = NULL;
    certbus_err_t rc = certbus_forward_open (s_fx.dir, outer, data, size, &forwarded);
    if (rc != CERTBUS_OK) {
        if (forwarded || rc >= CERTBUS_E__COUNT)
            __builtin_trap ();
        return;
    }
    if (!forwarded || !forwarded->origin || !forwarded->forwarders || !*forwarded->forwarders
        || (forwarded->size && !forwarded->payload))
        __builtin_trap ();
    const certbus_header_t *origin = certbus_envelope_header (forwarded->origin);
    if (!origin || strcmp (origin->content_type, CERTBUS_FORWARD_TYPE) == 0
        || strcmp (origin->tlp, "red") == 0 || strcmp (origin->tlp, "amber+strict") == 0)
        __builtin_trap ();
    //  Nobody in the chain forwarded its own message
    size_t origin_len = strlen (origin->origin);
    for (const char *name = forwarded->forwarders; name;) {
        const char *comma = strchr (name, ',');
        size_t len = comma ? (size_t) (comma - name) : strlen (name);
        if (len == 0 || (len == origin_len && memcmp (name, origin->origin, len) == 0))
            __builtin_trap ();
        name = comma ? comma + 1 : NULL;
    }
    certbus_forwarded_destroy (&forwarded);
}

//  s_open as an fx_input_fn: arg is the outer envelope
static void
s_open_input (const uint8_t *data, size_t size, void *arg)
{
    s_open (arg, data, size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    Certbus__Forward *forward = certbus__forward__unpack (NULL, size, data);
    if (!forward) {
        s_open (s_fixed_outer (), data, size);
        return 0;
    }
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, forward->header.len,
                                                                     forward->header.data);
    bool owned = false;
    certbus_envelope_t *outer = hdr ? s_outer_for (hdr, &owned) : NULL;
    if (!outer)
        outer = s_fixed_outer ();
    s_open (outer, data, size);
    fx_resign (forward, &forward->signature, &forward->header, FX_DOMAIN_ENVELOPE,
               fx_secret_as (&s_fx, hdr ? hdr->origin : NULL), s_open_input, outer);
    if (owned)
        certbus_envelope_destroy (&outer);
    if (hdr)
        certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__forward__free_unpacked (forward, NULL);
    return 0;
}
