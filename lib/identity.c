/*  identity.c - a member's (or the Council's) keys: Ed25519, X25519, CURVE
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <czmq.h>
#include <sodium.h>
#include <string.h>

#define s_MAGIC "CBIDv1\n"

//  The secret file is this struct, byte for byte: it is read straight into
//  guarded memory, so the secrets never pass through a parser's buffers.
typedef struct {
    char magic [8];                                 //  s_MAGIC and a NUL
    uint8_t sign_secret [CERTBUS_SIGN_SECRET_SIZE]; //  Ed25519 seed + public
    uint8_t box_secret [CERTBUS_KEY_SIZE];          //  X25519 for end-to-end
    uint8_t curve_secret [CERTBUS_KEY_SIZE];        //  X25519 for CurveZMQ
} s_secrets_t;

struct certbus_identity_t {
    s_secrets_t *secrets;                    //  sodium_malloc, read-only
    uint8_t sign_public [CERTBUS_KEY_SIZE];  //  Ed25519
    uint8_t box_public [CERTBUS_KEY_SIZE];   //  X25519
    uint8_t curve_public [CERTBUS_KEY_SIZE]; //  CurveZMQ
    char fingerprint [17];                   //  of sign_public
};

static certbus_identity_t *
s_new_empty (void)
{
    certbus_identity_t *self = certbus_calloc (1, sizeof *self);
    self->secrets = sodium_malloc (sizeof (s_secrets_t));
    if (!self->secrets)
        abort ();
    sodium_memzero (self->secrets, sizeof (s_secrets_t));
    return self;
}

static void
s_derive_public (certbus_identity_t *self)
{
    crypto_sign_ed25519_sk_to_pk (self->sign_public, self->secrets->sign_secret);
    crypto_scalarmult_base (self->box_public, self->secrets->box_secret);
    crypto_scalarmult_base (self->curve_public, self->secrets->curve_secret);
    certbus_fingerprint (self->sign_public, CERTBUS_KEY_SIZE, self->fingerprint);
    sodium_mprotect_readonly (self->secrets);
}

certbus_identity_t *
certbus_identity_new (void)
{
    certbus_init ();
    certbus_identity_t *self = s_new_empty ();
    memcpy (self->secrets->magic, s_MAGIC, sizeof self->secrets->magic);
    uint8_t pk [CERTBUS_KEY_SIZE];
    crypto_sign_keypair (pk, self->secrets->sign_secret);
    crypto_box_keypair (pk, self->secrets->box_secret);
    crypto_box_keypair (pk, self->secrets->curve_secret);
    s_derive_public (self);
    return self;
}

certbus_identity_t *
certbus_identity_load (const char *path)
{
    certbus_init ();
    certbus_identity_t *self = s_new_empty ();
    if (certbus_file_read_secret (path, (uint8_t *) self->secrets, sizeof (s_secrets_t)) != 0) {
        certbus_identity_destroy (&self);
        return NULL;
    }
    if (memcmp (self->secrets->magic, s_MAGIC, sizeof self->secrets->magic) != 0) {
        certbus_fail (CERTBUS_E_FIELD, "%s is not a certbus secret key file", path);
        certbus_identity_destroy (&self);
        return NULL;
    }
    s_derive_public (self);
    return self;
}

int
certbus_identity_save (certbus_identity_t *self, const char *path)
{
    assert (self);
    return certbus_file_write (path, self->secrets, sizeof (s_secrets_t), 0600);
}

void
certbus_identity_destroy (certbus_identity_t **self_p)
{
    assert (self_p);
    certbus_identity_t *self = *self_p;
    if (!self)
        return;
    //  sodium_free wipes the guarded pages before releasing them
    sodium_free (self->secrets);
    free (self);
    *self_p = NULL;
}

const uint8_t *
certbus_identity_sign_public (certbus_identity_t *self)
{
    return self->sign_public;
}

const uint8_t *
certbus_identity_box_public (certbus_identity_t *self)
{
    return self->box_public;
}

const uint8_t *
certbus_identity_curve_public (certbus_identity_t *self)
{
    return self->curve_public;
}

const uint8_t *
certbus_identity_sign_secret (certbus_identity_t *self)
{
    return self->secrets->sign_secret;
}

const uint8_t *
certbus_identity_box_secret (certbus_identity_t *self)
{
    return self->secrets->box_secret;
}

const uint8_t *
certbus_identity_curve_secret (certbus_identity_t *self)
{
    return self->secrets->curve_secret;
}

const char *
certbus_identity_fingerprint (certbus_identity_t *self)
{
    return self->fingerprint;
}

int
certbus_pubfile_write (const char *path, const char *name, const uint8_t *sign_key,
                       const uint8_t *curve_key)
{
    char sign_hex [CERTBUS_KEY_SIZE * 2 + 1] = "", curve_hex [CERTBUS_KEY_SIZE * 2 + 1] = "";
    if (sign_key)
        certbus_hex (sign_key, CERTBUS_KEY_SIZE, sign_hex);
    if (curve_key)
        certbus_hex (curve_key, CERTBUS_KEY_SIZE, curve_hex);
    char text [512];
    int n = snprintf (text, sizeof text,
                      "#   certbus public keys: safe to copy to every member\n"
                      "%s\n    sign = \"%s\"\n    curve = \"%s\"\n",
                      name, sign_hex, curve_hex);
    return certbus_file_write (path, text, (size_t) n, 0644);
}

int
certbus_pubfile_read (const char *path, uint8_t *sign_key, uint8_t *curve_key)
{
    zconfig_t *config = zconfig_load (path);
    if (!config)
        return certbus_fail (CERTBUS_E_IO, "cannot read public key file %s", path), -1;
    int rc = 0;
    zconfig_t *section = zconfig_child (config);
    const char *sign = section ? zconfig_get (section, "sign", "") : "";
    const char *curve = section ? zconfig_get (section, "curve", "") : "";
    if (sign_key && certbus_unhex (sign, sign_key, CERTBUS_KEY_SIZE) != 0) {
        certbus_fail (CERTBUS_E_FIELD, "%s has no valid 'sign' key", path);
        rc = -1;
    }
    if (rc == 0 && curve_key && certbus_unhex (curve, curve_key, CERTBUS_KEY_SIZE) != 0) {
        certbus_fail (CERTBUS_E_FIELD, "%s has no valid 'curve' key", path);
        rc = -1;
    }
    zconfig_destroy (&config);
    return rc;
}
