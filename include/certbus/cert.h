/*  cert.h - enrolment requests, Council certificates and revocations
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_CERT_H_INCLUDED
#define CERTBUS_CERT_H_INCLUDED

#include <stdint.h>
#include "identity.h"
#include "signed.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Tiers, as in the Tier enum of certbus.proto.
typedef enum {
    CERTBUS_TIER_NONE = 0,
    CERTBUS_TIER_NATIONAL = 1,
    CERTBUS_TIER_GOVERNMENT = 2,
    CERTBUS_TIER_FEDERAL = 3,
    CERTBUS_TIER_PROVINCIAL = 4,
    CERTBUS_TIER_SECTORAL = 5,
    CERTBUS_TIER_ORGANIZATION = 6,
} certbus_tier_t;

//  Returns the tier named text, or CERTBUS_TIER_NONE.
certbus_tier_t
    certbus_tier_parse (const char *text);

//  Returns the tier's name, or "unknown".
const char *
    certbus_tier_name (certbus_tier_t tier);

//  The list of tier names, comma separated, for error messages.
const char *
    certbus_tier_list (void);

//  True when s is a usable id, sector or region: 1 to CERTBUS_MAX_NAME bytes
//  of [a-z0-9._-], starting with a letter or digit.
bool
    certbus_name_valid (const char *s);

//  A member's certificate, decoded and verified. A plain record: fields are
//  read-only for callers; certbus_cert_destroy frees it.
typedef struct {
    uint64_t serial; //  unique per Council
    char *org_id;    //  e.g. "pk-bank-01"
    char *name;      //  display name
    certbus_tier_t tier;
    char *sector;                         //  "" when none
    char *region;                         //  "" when none
    uint8_t sign_key [CERTBUS_KEY_SIZE];  //  Ed25519
    uint8_t box_key [CERTBUS_KEY_SIZE];   //  X25519, end to end
    uint8_t curve_key [CERTBUS_KEY_SIZE]; //  CurveZMQ transport
    int64_t not_before;                   //  unix seconds
    int64_t not_after;                    //  unix seconds
    uint8_t *bytes;                       //  the serialised Certificate
    size_t size;                          //  its length
} certbus_cert_t;

//  A decoded enrolment request (self-signed by the member).
typedef struct {
    char *org_id;
    char *name;
    uint8_t sign_key [CERTBUS_KEY_SIZE];
    uint8_t box_key [CERTBUS_KEY_SIZE];
    uint8_t curve_key [CERTBUS_KEY_SIZE];
} certbus_request_t;

//  Makes a self-signed enrolment request for identity. Returns a new buffer
//  in *bytes_p, or -1 with the reason set (bad org id or name).
int
    certbus_request_make (certbus_identity_t *identity, const char *org_id, const char *name,
                          uint8_t **bytes_p, size_t *size_p) CERTBUS_WARN_UNUSED;

//  Decodes a request and checks its self-signature. Returns a new request
//  or NULL with the reason set.
certbus_request_t *
    certbus_request_decode (const uint8_t *bytes, size_t size);

void
    certbus_request_destroy (certbus_request_t **self_p);

//  The Council signs a certificate for request. Returns the serialised
//  Certificate in a new buffer, or -1 with the reason set (invalid tier,
//  sector or region, or an empty validity window).
int
    certbus_cert_issue (certbus_identity_t *council, const certbus_request_t *request,
                        uint64_t serial, certbus_tier_t tier, const char *sector,
                        const char *region, int64_t not_before, int64_t not_after,
                        uint8_t **bytes_p, size_t *size_p) CERTBUS_WARN_UNUSED;

//  Decodes a certificate and verifies it against the Council's public key:
//  signature, version, tier and field sizes. The validity window is checked
//  separately (certbus_cert_check_time), because a message is judged at the
//  time the broker accepted it.
certbus_err_t
    certbus_cert_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                         certbus_cert_t **cert_p) CERTBUS_WARN_UNUSED;

//  Returns CERTBUS_OK when when_s (unix seconds) is inside the validity
//  window, else CERTBUS_E_CERT_EXPIRED or CERTBUS_E_CERT_NOT_YET_VALID.
certbus_err_t
    certbus_cert_check_time (const certbus_cert_t *self, int64_t when_s) CERTBUS_WARN_UNUSED;

certbus_cert_t *
    certbus_cert_dup (const certbus_cert_t *self);

void
    certbus_cert_destroy (certbus_cert_t **self_p);

//  A decoded, verified revocation.
typedef struct {
    uint64_t serial;
    char *org_id;
    int64_t revoked_at; //  unix seconds
    char *reason;
    uint8_t *bytes; //  serialised Revocation
    size_t size;
} certbus_revocation_t;

//  The Council revokes certificate serial of org_id. Returns the serialised
//  Revocation in a new buffer.
int
    certbus_revocation_issue (certbus_identity_t *council, uint64_t serial, const char *org_id,
                              int64_t revoked_at, const char *reason, uint8_t **bytes_p,
                              size_t *size_p) CERTBUS_WARN_UNUSED;

certbus_err_t
    certbus_revocation_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                               certbus_revocation_t **rev_p) CERTBUS_WARN_UNUSED;

void
    certbus_revocation_destroy (certbus_revocation_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
