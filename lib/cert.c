/*  cert.c - enrolment requests, Council certificates and revocations
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_REQUEST "certbus-request-v1"
#define s_DOMAIN_REQUEST_BOX "certbus-request-box-v1"
#define s_DOMAIN_REQUEST_CURVE "certbus-request-curve-v1"
#define s_REQUEST_AGAIN "make a new request with certbus-node init of this version"
#define s_DOMAIN_CERT "certbus-certificate-v1"
#define s_DOMAIN_REVOCATION "certbus-revocation-v1"

static const certbus_signed_type_t s_cert_type = {&certbus__certificate__descriptor, s_DOMAIN_CERT,
                                                  64 * 1024, CERTBUS_E_CERT_SIGNATURE,
                                                  "certificate is not signed by this Council"};
static const certbus_signed_type_t s_revocation_type
    = {&certbus__revocation__descriptor, s_DOMAIN_REVOCATION, 16 * 1024,
       CERTBUS_E_DIRECTORY_SIGNATURE, "revocation is not signed by this Council"};

static const char *s_tiers [] = {NULL,         "national", "government",  "federal",
                                 "provincial", "sectoral", "organization"};

certbus_tier_t
certbus_tier_parse (const char *text)
{
    //  s_tiers [0] is NULL: no text parses as CERTBUS_TIER_NONE
    int i = certbus_str_index (text, s_tiers, CERTBUS_TIER_ORGANIZATION + 1);
    return i > 0 ? (certbus_tier_t) i : CERTBUS_TIER_NONE;
}

const char *
certbus_tier_name (certbus_tier_t tier)
{
    if (tier < CERTBUS_TIER_NATIONAL || tier > CERTBUS_TIER_ORGANIZATION)
        return "unknown";
    return s_tiers [tier];
}

const char *
certbus_tier_list (void)
{
    return "national, government, federal, provincial, sectoral, organization";
}

bool
certbus_name_valid (const char *s)
{
    if (!s || !*s || strlen (s) > CERTBUS_MAX_NAME)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
            return false;
    return true;
}

static char *
s_strdup (const char *s)
{
    char *copy = strdup (s ? s : "");
    if (!copy)
        abort ();
    return copy;
}

//  A malloc copy of size bytes
static uint8_t *
s_memdup (const uint8_t *bytes, size_t size)
{
    uint8_t *copy = certbus_malloc (size);
    memcpy (copy, bytes, size);
    return copy;
}

static bool
s_key_ok (ProtobufCBinaryData key)
{
    return key.len == CERTBUS_KEY_SIZE;
}

int
certbus_request_make (certbus_identity_t *identity, const char *org_id, const char *name,
                      uint8_t **bytes_p, size_t *size_p)
{
    if (!certbus_name_valid (org_id))
        return certbus_fail (CERTBUS_E_FIELD,
                             "org id '%s' is not valid: use 1 to %d characters of a-z, 0-9, "
                             "'.', '_' and '-'",
                             org_id ? org_id : "", CERTBUS_MAX_NAME),
               -1;
    if (name && (!certbus_utf8_valid (name, 256)))
        return certbus_fail (CERTBUS_E_FIELD, "name is not UTF-8 of at most 256 bytes"), -1;
    if (name && certbus_text_has_control (name))
        return certbus_fail (CERTBUS_E_FIELD, "name holds a control character"), -1;
    Certbus__RequestBody body = CERTBUS__REQUEST_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.org_id = (char *) org_id;
    body.name = (char *) (name ? name : org_id);
    body.sign_key = certbus_codec_bytes (certbus_identity_sign_public (identity), CERTBUS_KEY_SIZE);
    body.box_key = certbus_codec_bytes (certbus_identity_box_public (identity), CERTBUS_KEY_SIZE);
    body.curve_key = certbus_codec_bytes (certbus_identity_curve_public (identity),
                                          CERTBUS_KEY_SIZE);
    body.created = certbus_now ();
    size_t body_size;
    uint8_t *body_bytes = certbus_codec_encode (&body, &body_size);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_REQUEST, body_bytes, body_size,
                  certbus_identity_sign_secret (identity));
    //  The Ed25519 signature proves the sign key; the two X25519 keys get
    //  proofs of their own, so that no one enrols a key it does not hold
    uint8_t box_key [CERTBUS_KEY_SIZE], box_sig [CERTBUS_SIG_SIZE];
    uint8_t curve_key [CERTBUS_KEY_SIZE], curve_sig [CERTBUS_SIG_SIZE];
    if (certbus_x25519_prove (box_key, box_sig, s_DOMAIN_REQUEST_BOX, body_bytes, body_size,
                              certbus_identity_box_secret (identity),
                              certbus_identity_box_public (identity))
        || certbus_x25519_prove (curve_key, curve_sig, s_DOMAIN_REQUEST_CURVE, body_bytes,
                                 body_size, certbus_identity_curve_secret (identity),
                                 certbus_identity_curve_public (identity))) {
        free (body_bytes);
        return -1;
    }
    Certbus__Request request = CERTBUS__REQUEST__INIT;
    request.version = CERTBUS_WIRE_MAJOR;
    request.body = certbus_codec_bytes (body_bytes, body_size);
    request.signature = certbus_codec_bytes (sig, sizeof sig);
    request.box_proof_key = certbus_codec_bytes (box_key, sizeof box_key);
    request.box_proof_sig = certbus_codec_bytes (box_sig, sizeof box_sig);
    request.curve_proof_key = certbus_codec_bytes (curve_key, sizeof curve_key);
    request.curve_proof_sig = certbus_codec_bytes (curve_sig, sizeof curve_sig);
    *bytes_p = certbus_codec_encode (&request, size_p);
    free (body_bytes);
    return 0;
}

//  True when request proves possession of the X25519 secret of x25519_key
static bool
s_request_proves (const Certbus__Request *request, ProtobufCBinaryData key, ProtobufCBinaryData sig,
                  const char *domain, const uint8_t *x25519_key)
{
    return certbus_x25519_verify (key.data, key.len, sig.data, sig.len, domain, request->body.data,
                                  request->body.len, x25519_key);
}

certbus_request_t *
certbus_request_decode (const uint8_t *bytes, size_t size)
{
    Certbus__Request *request = NULL;
    Certbus__RequestBody *body = NULL;
    certbus_request_t *self = NULL;
    if (certbus_codec_decode (&certbus__request__descriptor, bytes, size, 64 * 1024, 16,
                              (void **) &request))
        goto cleanup;
    if (certbus_codec_decode (&certbus__request_body__descriptor, request->body.data,
                              request->body.len, 64 * 1024, 16, (void **) &body))
        goto cleanup;
    if (!certbus_name_valid (body->org_id) || !s_key_ok (body->sign_key)
        || !s_key_ok (body->box_key) || !s_key_ok (body->curve_key)) {
        certbus_fail (CERTBUS_E_FIELD, "request has an invalid org id or key");
        goto cleanup;
    }
    if (strlen (body->name) > 256 || certbus_text_has_control (body->name)) {
        certbus_fail (CERTBUS_E_FIELD,
                      "request for '%s' has a name longer than 256 bytes or with a control "
                      "character",
                      body->org_id);
        goto cleanup;
    }
    if (!certbus_verify (request->signature.data, request->signature.len, s_DOMAIN_REQUEST,
                         request->body.data, request->body.len, body->sign_key.data,
                         body->sign_key.len)) {
        certbus_fail (CERTBUS_E_SIGNATURE, "request for '%s' is not signed by its own key",
                      body->org_id);
        goto cleanup;
    }
    if (!s_request_proves (request, request->box_proof_key, request->box_proof_sig,
                           s_DOMAIN_REQUEST_BOX, body->box_key.data)) {
        certbus_fail (CERTBUS_E_SIGNATURE,
                      "the request for '%s' does not prove possession of its box key: %s",
                      body->org_id, s_REQUEST_AGAIN);
        goto cleanup;
    }
    if (!s_request_proves (request, request->curve_proof_key, request->curve_proof_sig,
                           s_DOMAIN_REQUEST_CURVE, body->curve_key.data)) {
        certbus_fail (CERTBUS_E_SIGNATURE,
                      "the request for '%s' does not prove possession of its CURVE key: %s",
                      body->org_id, s_REQUEST_AGAIN);
        goto cleanup;
    }
    self = certbus_calloc (1, sizeof *self);
    self->org_id = s_strdup (body->org_id);
    self->name = s_strdup (*body->name ? body->name : body->org_id);
    memcpy (self->sign_key, body->sign_key.data, CERTBUS_KEY_SIZE);
    memcpy (self->box_key, body->box_key.data, CERTBUS_KEY_SIZE);
    memcpy (self->curve_key, body->curve_key.data, CERTBUS_KEY_SIZE);
cleanup:
    certbus_codec_free (body);
    certbus_codec_free (request);
    return self;
}

void
certbus_request_destroy (certbus_request_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->org_id);
        free ((*self_p)->name);
        free (*self_p);
        *self_p = NULL;
    }
}

int
certbus_cert_issue (certbus_identity_t *council, const certbus_request_t *request, uint64_t serial,
                    certbus_tier_t tier, const char *sector, const char *region, int64_t not_before,
                    int64_t not_after, uint8_t **bytes_p, size_t *size_p)
{
    if (tier < CERTBUS_TIER_NATIONAL || tier > CERTBUS_TIER_ORGANIZATION)
        return certbus_fail (CERTBUS_E_FIELD, "unknown tier (tiers: %s)", certbus_tier_list ()), -1;
    if (sector && *sector && !certbus_name_valid (sector))
        return certbus_fail (CERTBUS_E_FIELD, "sector '%s' is not a valid name", sector), -1;
    if (region && *region && !certbus_name_valid (region))
        return certbus_fail (CERTBUS_E_FIELD, "region '%s' is not a valid name", region), -1;
    if (not_after <= not_before)
        return certbus_fail (CERTBUS_E_FIELD, "validity window is empty"), -1;
    Certbus__CertificateBody body = CERTBUS__CERTIFICATE_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.serial = serial;
    body.org_id = request->org_id;
    body.name = request->name;
    body.tier = (Certbus__Tier) tier;
    body.sector = (char *) (sector ? sector : "");
    body.region = (char *) (region ? region : "");
    body.sign_key = certbus_codec_bytes (request->sign_key, CERTBUS_KEY_SIZE);
    body.box_key = certbus_codec_bytes (request->box_key, CERTBUS_KEY_SIZE);
    body.curve_key = certbus_codec_bytes (request->curve_key, CERTBUS_KEY_SIZE);
    body.not_before = not_before;
    body.not_after = not_after;
    *bytes_p = certbus_signed_wrap_message (&s_cert_type, &body,
                                            certbus_identity_sign_secret (council), size_p);
    return 0;
}

certbus_err_t
certbus_cert_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                     certbus_cert_t **cert_p)
{
    *cert_p = NULL;
    Certbus__CertificateBody *body = NULL;
    certbus_err_t rc = certbus_signed_open (&s_cert_type, bytes, size, council_key,
                                            &certbus__certificate_body__descriptor, 64 * 1024, 16,
                                            (void **) &body);
    if (rc)
        return rc;
    if (!certbus_name_valid (body->org_id) || body->serial == 0
        || body->tier < CERTBUS__TIER__TIER_NATIONAL
        || body->tier > CERTBUS__TIER__TIER_ORGANIZATION
        || (*body->sector && !certbus_name_valid (body->sector))
        || (*body->region && !certbus_name_valid (body->region)) || strlen (body->name) > 256
        || !s_key_ok (body->sign_key) || !s_key_ok (body->box_key) || !s_key_ok (body->curve_key)
        || body->not_after <= body->not_before) {
        rc = certbus_fail (CERTBUS_E_FIELD, "certificate has an invalid field");
        goto cleanup;
    }
    //  The org id is [a-z0-9._-] already; the display name is free text
    //  that every listing prints
    if (certbus_text_has_control (body->org_id) || certbus_text_has_control (body->name)) {
        rc = certbus_fail (CERTBUS_E_FIELD,
                           "certificate %llu has a control character in its org id or name",
                           (unsigned long long) body->serial);
        goto cleanup;
    }
    certbus_cert_t *self = certbus_calloc (1, sizeof *self);
    self->serial = body->serial;
    self->org_id = s_strdup (body->org_id);
    self->name = s_strdup (body->name);
    self->tier = (certbus_tier_t) body->tier;
    self->sector = s_strdup (body->sector);
    self->region = s_strdup (body->region);
    memcpy (self->sign_key, body->sign_key.data, CERTBUS_KEY_SIZE);
    memcpy (self->box_key, body->box_key.data, CERTBUS_KEY_SIZE);
    memcpy (self->curve_key, body->curve_key.data, CERTBUS_KEY_SIZE);
    self->not_before = body->not_before;
    self->not_after = body->not_after;
    self->bytes = s_memdup (bytes, size);
    self->size = size;
    *cert_p = self;
cleanup:
    certbus_codec_free (body);
    return rc;
}

certbus_err_t
certbus_cert_check_time (const certbus_cert_t *self, int64_t when_s)
{
    if (when_s < self->not_before)
        return certbus_fail (CERTBUS_E_CERT_NOT_YET_VALID,
                             "certificate %llu of '%s' is not valid before %lld",
                             (unsigned long long) self->serial, self->org_id,
                             (long long) self->not_before);
    if (when_s >= self->not_after)
        return certbus_fail (CERTBUS_E_CERT_EXPIRED, "certificate %llu of '%s' expired at %lld",
                             (unsigned long long) self->serial, self->org_id,
                             (long long) self->not_after);
    return CERTBUS_OK;
}

certbus_cert_t *
certbus_cert_dup (const certbus_cert_t *self)
{
    certbus_cert_t *copy = certbus_malloc (sizeof *copy);
    *copy = *self;
    copy->org_id = s_strdup (self->org_id);
    copy->name = s_strdup (self->name);
    copy->sector = s_strdup (self->sector);
    copy->region = s_strdup (self->region);
    copy->bytes = s_memdup (self->bytes, self->size);
    return copy;
}

void
certbus_cert_destroy (certbus_cert_t **self_p)
{
    assert (self_p);
    certbus_cert_t *self = *self_p;
    if (self) {
        free (self->org_id);
        free (self->name);
        free (self->sector);
        free (self->region);
        free (self->bytes);
        free (self);
        *self_p = NULL;
    }
}

int
certbus_revocation_issue (certbus_identity_t *council, uint64_t serial, const char *org_id,
                          int64_t revoked_at, const char *reason, uint8_t **bytes_p, size_t *size_p)
{
    if (reason && !certbus_utf8_valid (reason, 1024))
        return certbus_fail (CERTBUS_E_FIELD, "reason is not UTF-8 of at most 1024 bytes"), -1;
    Certbus__RevocationBody body = CERTBUS__REVOCATION_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.serial = serial;
    body.org_id = (char *) org_id;
    body.revoked_at = revoked_at;
    body.reason = (char *) (reason ? reason : "");
    *bytes_p = certbus_signed_wrap_message (&s_revocation_type, &body,
                                            certbus_identity_sign_secret (council), size_p);
    return 0;
}

certbus_err_t
certbus_revocation_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                           certbus_revocation_t **rev_p)
{
    *rev_p = NULL;
    Certbus__RevocationBody *body = NULL;
    certbus_err_t rc = certbus_signed_open (&s_revocation_type, bytes, size, council_key,
                                            &certbus__revocation_body__descriptor, 16 * 1024, 16,
                                            (void **) &body);
    if (rc)
        return rc;
    certbus_revocation_t *self = certbus_calloc (1, sizeof *self);
    self->serial = body->serial;
    self->org_id = s_strdup (body->org_id);
    self->revoked_at = body->revoked_at;
    self->reason = s_strdup (body->reason);
    self->bytes = s_memdup (bytes, size);
    self->size = size;
    *rev_p = self;
    certbus_codec_free (body);
    return CERTBUS_OK;
}

void
certbus_revocation_destroy (certbus_revocation_t **self_p)
{
    assert (self_p);
    certbus_revocation_t *self = *self_p;
    if (self) {
        free (self->org_id);
        free (self->reason);
        free (self->bytes);
        free (self);
        *self_p = NULL;
    }
}
