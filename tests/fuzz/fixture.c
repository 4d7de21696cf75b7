/*  fixture.c - the fixed Council, members and directory that the fuzz
    harnesses and the seed generator share
    SPDX-License-Identifier: MPL-2.0
*/
#include "fixture.h"
#include "../lib/random_source.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *org_id;
    certbus_tier_t tier;
    const char *sector;
    const char *region;
    int64_t not_before; //  unix seconds
    int64_t not_after;
    bool revoked; //  listed in the directory's revocations
} s_member_t;

//  The first FX_MEMBERS_SMALL are the envelope fixture: a national CERT and
//  a bank; the forward fixture adds the sectoral CERT (FX_MEMBERS_FORWARD).
//  Serial of member i is i + 1.
static const s_member_t s_members [FX_MEMBERS_MAX] = {
    {"cert-national", CERTBUS_TIER_NATIONAL, "", "", 1700000000, 2000000000, false},
    {"bank-01", CERTBUS_TIER_ORGANIZATION, "banking", "punjab", 1700000000, 2000000000, false},
    {"cert-banking", CERTBUS_TIER_SECTORAL, "banking", "", 1700000000, 2000000000, false},
    {"telco-01", CERTBUS_TIER_ORGANIZATION, "telecom", "sindh", 1700000000, 1750000000, false},
    {"gov-01", CERTBUS_TIER_GOVERNMENT, "", "islamabad", 1700000000, 2000000000, true},
    {"prov-01", CERTBUS_TIER_PROVINCIAL, "", "punjab", 1900000000, 2000000000, false},
};

//  Deterministic random source: ChaCha20 keyed by a fixed seed with a call
//  counter mixed in. The counter restarts in fx_init, so the fixture's keys
//  do not depend on how much randomness was drawn before it.
static uint64_t s_counter;

static void
s_random_buf (void *const buf, const size_t size)
{
    uint8_t seed [randombytes_SEEDBYTES] = "certbus fuzz fixture, not secret";
    for (int i = 0; i < 8; i++)
        seed [i] ^= (uint8_t) (s_counter >> (8 * i));
    s_counter++;
    randombytes_buf_deterministic (buf, size, seed);
}

void
fx_deterministic_random (void)
{
    rs_install (s_random_buf, "certbus-fuzz-deterministic");
}

const char *
fx_org (size_t index)
{
    return index < FX_MEMBERS_MAX ? s_members [index].org_id : NULL;
}

int
fx_find (const fx_t *fx, const char *org_id)
{
    for (size_t i = 0; org_id && i < fx->count; i++)
        if (strcmp (s_members [i].org_id, org_id) == 0)
            return (int) i;
    return -1;
}

certbus_cert_t *
fx_cert (const fx_t *fx, size_t index)
{
    certbus_cert_t *cert = NULL;
    if (index >= fx->count
        || certbus_cert_decode (fx->certs [index], fx->cert_sizes [index],
                                certbus_identity_sign_public (fx->council), &cert))
        abort ();
    return cert;
}

const uint8_t *
fx_secret_as (const fx_t *fx, const char *org)
{
    int who = fx_find (fx, org);
    return certbus_identity_sign_secret (fx->ids [who < 0 ? 0 : who]);
}

void
fx_sign_as (const fx_t *fx, const char *org, const char *domain, const uint8_t *data, size_t size,
            uint8_t sig [CERTBUS_SIG_SIZE])
{
    certbus_sign (sig, domain, data, size, fx_secret_as (fx, org));
}

void
fx_resign (const void *msg, ProtobufCBinaryData *signature, const ProtobufCBinaryData *signed_part,
           const char *domain, const uint8_t *secret_key, fx_input_fn *fn, void *arg)
{
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, domain, signed_part->data, signed_part->len, secret_key);
    if (signature->len == sizeof sig && memcmp (signature->data, sig, sizeof sig) == 0)
        return;
    ProtobufCBinaryData carried = *signature;
    signature->data = sig;
    signature->len = sizeof sig;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (msg, &size);
    *signature = carried;
    fn (bytes, size, arg);
    free (bytes);
}

certbus_envelope_t *
fx_forward_outer (const fx_t *fx, const uint8_t inner_id [CERTBUS_ID_SIZE],
                  const char *inner_origin, const char *tlp)
{
    static const size_t forwarders [] = {1, 2, 0};
    size_t from = 0;
    for (size_t i = 0; i < sizeof forwarders / sizeof forwarders [0]; i++)
        if (forwarders [i] < fx->count
            && (!inner_origin || strcmp (fx_org (forwarders [i]), inner_origin) != 0)) {
            from = forwarders [i];
            break;
        }
    //  To one other member: the harness never decrypts the outer envelope
    size_t to = from == 0 ? 1 : 0;
    char audience [64];
    snprintf (audience, sizeof audience, "org:%s", fx_org (to));
    certbus_ref_t ref = {.relation = "forwards"};
    memcpy (ref.id, inner_id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = tlp && certbus_tlp_valid (tlp) ? tlp : "amber",
                                .audience = audience,
                                .topic = "forwarded",
                                .severity = "high",
                                .content_type = CERTBUS_FORWARD_TYPE,
                                .refs = &ref,
                                .ref_count = 1};
    char *orgs [] = {(char *) fx_org (to)};
    certbus_cert_t *own = fx_cert (fx, from);
    uint8_t id [CERTBUS_ID_SIZE], *bytes;
    size_t size;
    certbus_envelope_t *outer = NULL;
    if (certbus_envelope_seal_to (fx->ids [from], own, fx->dir, &opts, orgs, 1,
                                  (const uint8_t *) "x", 1, id, &bytes, &size)
        || certbus_envelope_decode (bytes, size, &outer))
        abort ();
    free (bytes);
    certbus_cert_destroy (&own);
    return outer;
}

int
fx_init (fx_t *fx, size_t count)
{
    assert (count >= 1 && count <= FX_MEMBERS_MAX);
    memset (fx, 0, sizeof *fx);
    certbus_init ();
    s_counter = 0;
    fx->council = certbus_identity_new ();
    for (size_t i = 0; i < count; i++)
        fx->ids [i] = certbus_identity_new ();
    fx->count = count;
    for (size_t i = 0; i < count; i++) {
        const s_member_t *m = &s_members [i];
        if (certbus_request_make (fx->ids [i], m->org_id, NULL, &fx->requests [i],
                                  &fx->request_sizes [i]))
            return -1;
        certbus_request_t *request = certbus_request_decode (fx->requests [i],
                                                             fx->request_sizes [i]);
        if (!request)
            return -1;
        int rc = certbus_cert_issue (fx->council, request, i + 1, m->tier, m->sector, m->region,
                                     m->not_before, m->not_after, &fx->certs [i],
                                     &fx->cert_sizes [i]);
        certbus_request_destroy (&request);
        if (rc)
            return -1;
        if (m->revoked) {
            size_t r = fx->rev_count++;
            if (certbus_revocation_issue (fx->council, i + 1, m->org_id, 1750000000,
                                          "key compromise", &fx->revs [r], &fx->rev_sizes [r]))
                return -1;
        }
    }
    //  A revocation of a serial that no certificate in the directory has
    if (count > FX_MEMBERS_SMALL) {
        size_t r = fx->rev_count++;
        if (certbus_revocation_issue (fx->council, 99, "gone-01", 1600000000, "", &fx->revs [r],
                                      &fx->rev_sizes [r]))
            return -1;
    }
    if (certbus_directory_build (fx->council, FX_DIR_SERIAL, fx->certs, fx->cert_sizes, count,
                                 fx->revs, fx->rev_sizes, fx->rev_count, &fx->dir_bytes,
                                 &fx->dir_size))
        return -1;
    if (certbus_directory_decode (fx->dir_bytes, fx->dir_size,
                                  certbus_identity_sign_public (fx->council), 0, &fx->dir))
        return -1;
    return 0;
}

void
fx_destroy (fx_t *fx)
{
    certbus_directory_destroy (&fx->dir);
    free (fx->dir_bytes);
    for (size_t i = 0; i < fx->rev_count; i++)
        free (fx->revs [i]);
    for (size_t i = 0; i < fx->count; i++) {
        free (fx->certs [i]);
        free (fx->requests [i]);
        certbus_identity_destroy (&fx->ids [i]);
    }
    certbus_identity_destroy (&fx->council);
    memset (fx, 0, sizeof *fx);
}

void
fx_feed_signed (const ProtobufCMessageDescriptor *descriptor, const char *signed_field,
                const uint8_t *data, size_t size, const char *domain, const uint8_t *secret_key,
                fx_input_fn *fn, void *arg)
{
    fn (data, size, arg);
    const ProtobufCFieldDescriptor *body
        = protobuf_c_message_descriptor_get_field_by_name (descriptor, signed_field);
    const ProtobufCFieldDescriptor *signature
        = protobuf_c_message_descriptor_get_field_by_name (descriptor, "signature");
    if (!body || !signature || body->type != PROTOBUF_C_TYPE_BYTES
        || signature->type != PROTOBUF_C_TYPE_BYTES)
        abort (); //  a harness names fields its message does not have
    ProtobufCMessage *msg = protobuf_c_message_unpack (descriptor, NULL, size, data);
    if (!msg)
        return;
    fx_resign (msg, (ProtobufCBinaryData *) ((char *) msg + signature->offset),
               (ProtobufCBinaryData *) ((char *) msg + body->offset), domain, secret_key, fn, arg);
    protobuf_c_message_free_unpacked (msg, NULL);
}
