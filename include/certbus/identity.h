/*  identity.h - a member's (or the Council's) keys: Ed25519, X25519, CURVE
    SPDX-License-Identifier: MPL-2.0

    Secret keys live in sodium_malloc memory, are saved with mode 0600 and
    wiped on destroy. A secret file that group or others can read is refused.
*/
#ifndef CERTBUS_IDENTITY_H_INCLUDED
#define CERTBUS_IDENTITY_H_INCLUDED

#include <stdint.h>
#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_KEY_SIZE 32         //  every public key, and X25519 secrets
#define CERTBUS_SIGN_SECRET_SIZE 64 //  Ed25519 secret key (seed + public)
#define CERTBUS_SIG_SIZE 64

typedef struct certbus_identity_t certbus_identity_t;

//  Makes a fresh identity with new random keys.
certbus_identity_t *
    certbus_identity_new (void);

//  Loads an identity from a secret file; NULL with the reason set when the
//  file is missing, malformed, or readable by group or others.
certbus_identity_t *
    certbus_identity_load (const char *path);

//  Saves the secret keys to path with mode 0600. Returns 0 or -1.
int
    certbus_identity_save (certbus_identity_t *self, const char *path) CERTBUS_WARN_UNUSED;

//  Wipes the secrets and frees the identity; nulls the caller's pointer.
void
    certbus_identity_destroy (certbus_identity_t **self_p);

//  Public keys (CERTBUS_KEY_SIZE bytes), borrowed.
const uint8_t *
    certbus_identity_sign_public (certbus_identity_t *self);
const uint8_t *
    certbus_identity_box_public (certbus_identity_t *self);
const uint8_t *
    certbus_identity_curve_public (certbus_identity_t *self);

//  Secret keys, borrowed, in guarded memory: never copy them out.
const uint8_t *
    certbus_identity_sign_secret (certbus_identity_t *self);
const uint8_t *
    certbus_identity_box_secret (certbus_identity_t *self);
const uint8_t *
    certbus_identity_curve_secret (certbus_identity_t *self);

//  16-hex-digit fingerprint of the signing key, for logs.
const char *
    certbus_identity_fingerprint (certbus_identity_t *self);

//  Writes a public key file (ZPL): `name` section with sign and curve keys
//  in hex. Returns 0 or -1.
int
    certbus_pubfile_write (const char *path, const char *name, const uint8_t *sign_key,
                           const uint8_t *curve_key) CERTBUS_WARN_UNUSED;

//  Reads a public key file written by certbus_pubfile_write. Either output
//  may be NULL. Returns 0, or -1 with the reason set.
int
    certbus_pubfile_read (const char *path, uint8_t *sign_key,
                          uint8_t *curve_key) CERTBUS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
