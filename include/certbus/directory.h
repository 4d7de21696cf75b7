/*  directory.h - the Council-signed set of certificates and revocations
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_DIRECTORY_H_INCLUDED
#define CERTBUS_DIRECTORY_H_INCLUDED

#include "cert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct certbus_directory_t certbus_directory_t;

//  The Council signs a directory of version serial from serialised
//  certificates and revocations. Returns the serialised Directory in a new
//  buffer, or -1 with the reason set.
int
    certbus_directory_build (certbus_identity_t *council, uint64_t serial, uint8_t *const *certs,
                             const size_t *cert_sizes, size_t cert_count, uint8_t *const *revs,
                             const size_t *rev_sizes, size_t rev_count, uint8_t **bytes_p,
                             size_t *size_p) CERTBUS_WARN_UNUSED;

//  Decodes and verifies a directory: the Council's signature over it and
//  over every certificate and revocation in it. Refuses a directory whose
//  version is below min_serial (CERTBUS_E_DIRECTORY_OLD), and one that
//  lists an org twice or a key (sign, box or CURVE, in any role) in two
//  certificates (CERTBUS_E_FIELD).
certbus_err_t
    certbus_directory_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                              uint64_t min_serial, certbus_directory_t **dir_p) CERTBUS_WARN_UNUSED;

void
    certbus_directory_destroy (certbus_directory_t **self_p);

//  For the Council before it issues a certificate: looks in a serialised
//  directory, whose signature must hold under council_key, for a current
//  (not revoked) certificate of an org other than org_id that holds key as
//  its sign, box or CURVE key. The certificates are covered by the
//  directory's signature, so their own signatures are not checked again: a
//  thousand members cost one verification, not a thousand. Returns
//  CERTBUS_OK with *holder_p a new string (the holder's org id, or NULL
//  when no other org holds key) and *role_p "sign", "box" or "CURVE"; or
//  an error code with the reason set.
certbus_err_t
    certbus_directory_key_holder (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                                  const char *org_id, const uint8_t key [CERTBUS_KEY_SIZE],
                                  char **holder_p, const char **role_p) CERTBUS_WARN_UNUSED;

//  The directory's version and signing time (unix seconds).
uint64_t
    certbus_directory_serial (certbus_directory_t *self);
int64_t
    certbus_directory_issued_at (certbus_directory_t *self);

//  The serialised Directory, borrowed.
const uint8_t *
    certbus_directory_bytes (certbus_directory_t *self, size_t *size_p);

//  Number of certificates, and the one at index (borrowed), in org order.
size_t
    certbus_directory_count (certbus_directory_t *self);
const certbus_cert_t *
    certbus_directory_at (certbus_directory_t *self, size_t index);

//  Look-ups; each returns a borrowed certificate or NULL.
const certbus_cert_t *
    certbus_directory_find (certbus_directory_t *self, const char *org_id);
const certbus_cert_t *
    certbus_directory_find_serial (certbus_directory_t *self, uint64_t serial);
const certbus_cert_t *
    certbus_directory_find_curve (certbus_directory_t *self, const uint8_t *curve_key);

//  Returns the revocation of certificate serial, or NULL when not revoked.
const certbus_revocation_t *
    certbus_directory_revocation (certbus_directory_t *self, uint64_t serial);

//  Number of revocations, and the one at index (borrowed).
size_t
    certbus_directory_revocation_count (certbus_directory_t *self);
const certbus_revocation_t *
    certbus_directory_revocation_at (certbus_directory_t *self, size_t index);

//  Finds the certificate of an envelope's origin and judges it at when_s:
//  CERTBUS_E_REVOKED, CERTBUS_E_UNKNOWN_ORIGIN, CERTBUS_E_CERT_EXPIRED or
//  CERTBUS_E_CERT_NOT_YET_VALID, each with the reason set.
certbus_err_t
    certbus_directory_check_origin (certbus_directory_t *self, const char *org_id, uint64_t serial,
                                    int64_t when_s,
                                    const certbus_cert_t **cert_p) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
