/*  fixture.h - the fixed Council, members and directory that the fuzz
    harnesses and the seed generator share
    SPDX-License-Identifier: MPL-2.0

    Keys come from a deterministic random source, installed before
    libsodium starts, so every process that builds the fixture gets the same
    Council and member keys. That is what lets the committed seeds (signed
    and sealed by tests/fuzz/make_seeds.c) verify and decrypt inside the
    harnesses. Times are fixed too: certificates are judged at FX_NOW.
    Never link this into anything but the fuzzers and the seed generator.
*/
#ifndef CERTBUS_FUZZ_FIXTURE_H_INCLUDED
#define CERTBUS_FUZZ_FIXTURE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "certbus.h"

#define FX_NOW 1800000000    //  2027-01-15: "now" for every check
#define FX_MEMBERS_MAX 6     //  members in the full fixture
#define FX_MEMBERS_SMALL 2   //  cert-national and bank-01
#define FX_MEMBERS_FORWARD 3 //  and cert-banking: a two-hop forward chain
#define FX_DIR_SERIAL 7      //  version of the fixture's directory
#define FX_REVS_MAX 2

//  The domains under which lib/cert.c, lib/directory.c and lib/envelope.c
//  sign; the harnesses re-sign mutated bodies with them so that fuzzing
//  reaches the code behind each signature check. Copies of private
//  constants: if the library renames one, re-signing just stops helping.
#define FX_DOMAIN_REQUEST "certbus-request-v1"
#define FX_DOMAIN_CERT "certbus-certificate-v1"
#define FX_DOMAIN_REVOCATION "certbus-revocation-v1"
#define FX_DOMAIN_DIRECTORY "certbus-directory-v1"
#define FX_DOMAIN_ENVELOPE "certbus-envelope-v1"

typedef struct {
    certbus_identity_t *council;              //  the Council root key
    size_t count;                             //  members enrolled
    certbus_identity_t *ids [FX_MEMBERS_MAX]; //  each member's keys
    uint8_t *requests [FX_MEMBERS_MAX];       //  serialised Requests
    size_t request_sizes [FX_MEMBERS_MAX];
    uint8_t *certs [FX_MEMBERS_MAX]; //  serialised Certificates
    size_t cert_sizes [FX_MEMBERS_MAX];
    uint8_t *revs [FX_REVS_MAX]; //  serialised Revocations
    size_t rev_sizes [FX_REVS_MAX];
    size_t rev_count;
    uint8_t *dir_bytes; //  serialised Directory
    size_t dir_size;
    certbus_directory_t *dir; //  dir_bytes, decoded
} fx_t;

//  Replaces libsodium's random source with a deterministic one, for this
//  whole process. Call it once, before fx_init and before anything else
//  initialises libsodium (libsodium asks for that order).
void
    fx_deterministic_random (void);

//  Builds the fixture with the first count members of the table in
//  fixture.c (FX_MEMBERS_SMALL, FX_MEMBERS_FORWARD or FX_MEMBERS_MAX). The
//  forward fixture adds a sectoral CERT, and a revocation of a serial no
//  certificate has; the full fixture then an expired member, a revoked one
//  and one not yet valid, and the revoked one's revocation. Members keep
//  their keys whatever the count. Returns 0, or -1 with the library's
//  reason set.
int
    fx_init (fx_t *fx, size_t count);

void
    fx_destroy (fx_t *fx);

//  The org id of member index.
const char *
    fx_org (size_t index);

//  Index of the member whose org id is org_id, or -1.
int
    fx_find (const fx_t *fx, const char *org_id);

//  Member index's certificate, decoded against the Council key; aborts
//  when it does not decode. Free with certbus_cert_destroy.
certbus_cert_t *
    fx_cert (const fx_t *fx, size_t index);

//  Signs data under domain with the key of the member whose org id is org
//  (the national CERT's, for an org the fixture does not know): how the
//  harnesses re-sign a mutated body to get past its signature check.
void
    fx_sign_as (const fx_t *fx, const char *org, const char *domain, const uint8_t *data,
                size_t size, uint8_t sig [CERTBUS_SIG_SIZE]);

//  The sign secret of the member whose org id is org (the national CERT's,
//  for an org the fixture does not know). Borrowed.
const uint8_t *
    fx_secret_as (const fx_t *fx, const char *org);

//  What a harness feeds an input to; arg is the harness's own
typedef void (fx_input_fn) (const uint8_t *data, size_t size, void *arg);

//  Re-signs an unpacked signed message (msg) as the holder of secret_key
//  could: signs signed_part (its body or header) under domain and, unless
//  the message's signature field (signature) already holds that, feeds fn
//  the message encoded with the new signature. msg is left as it was.
void
    fx_resign (const void *msg, ProtobufCBinaryData *signature,
               const ProtobufCBinaryData *signed_part, const char *domain,
               const uint8_t *secret_key, fx_input_fn *fn, void *arg);

//  Feeds fn data as it is and then, when data unpacks as a message of
//  descriptor whose bytes field signed_field ("body") is signed into its
//  field "signature", data re-signed with fx_resign: how a harness gets a
//  mutated body past its signature check.
void
    fx_feed_signed (const ProtobufCMessageDescriptor *descriptor, const char *signed_field,
                    const uint8_t *data, size_t size, const char *domain, const uint8_t *secret_key,
                    fx_input_fn *fn, void *arg);

//  The envelope in which fuzz_forward.c opens a forward payload that
//  carries an envelope of this id, origin and TLP: content type forward,
//  the inner TLP (amber when tlp is not one), its one `forwards` reference
//  naming inner_id, sealed by the first of bank-01, cert-banking and
//  cert-national that the fixture has and that is not inner_origin. The
//  seed generator opens its seeds under the same envelope. Aborts when
//  sealing fails; free with certbus_envelope_destroy.
certbus_envelope_t *
    fx_forward_outer (const fx_t *fx, const uint8_t inner_id [CERTBUS_ID_SIZE],
                      const char *inner_origin, const char *tlp);

//  Declares the harness's fixture, static fx_t s_fx, and an
//  LLVMFuzzerInitialize that builds it with the first count members
//  (deterministic keys first, as libsodium asks), aborting on failure.
#define FX_FUZZER_FIXTURE(count)                        \
    static fx_t s_fx;                                   \
    int LLVMFuzzerInitialize (int *argc, char ***argv); \
    int LLVMFuzzerInitialize (int *argc, char ***argv)  \
    {                                                   \
        (void) argc;                                    \
        (void) argv;                                    \
        fx_deterministic_random ();                     \
        if (fx_init (&s_fx, (count)) != 0)              \
            abort ();                                   \
        return 0;                                       \
    }

#endif
