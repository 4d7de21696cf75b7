/*  directory.c - the Council-signed set of certificates and revocations
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_DIRECTORY "certbus-directory-v1"

static const certbus_signed_type_t s_directory_type
    = {&certbus__directory__descriptor, s_DOMAIN_DIRECTORY, CERTBUS_MAX_DIRECTORY,
       CERTBUS_E_DIRECTORY_SIGNATURE, "directory is not signed by this Council"};

struct certbus_directory_t {
    uint64_t serial;        //  version, only grows
    int64_t issued_at;      //  unix seconds
    certbus_cert_t **certs; //  sorted by org id
    size_t cert_count;
    certbus_revocation_t **revs;
    size_t rev_count;
    zhashx_t *by_org;   //  org id -> certbus_cert_t *
    zhashx_t *by_curve; //  curve key hex -> certbus_cert_t *
    uint8_t *bytes;     //  serialised Directory
    size_t size;
};

int
certbus_directory_build (certbus_identity_t *council, uint64_t serial, uint8_t *const *certs,
                         const size_t *cert_sizes, size_t cert_count, uint8_t *const *revs,
                         const size_t *rev_sizes, size_t rev_count, uint8_t **bytes_p,
                         size_t *size_p)
{
    int rc = -1;
    Certbus__DirectoryBody body = CERTBUS__DIRECTORY_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.serial = serial;
    body.issued_at = certbus_now ();
    body.n_certificates = cert_count;
    body.certificates = certbus_calloc (cert_count + 1, sizeof (Certbus__Certificate *));
    body.n_revocations = rev_count;
    body.revocations = certbus_calloc (rev_count + 1, sizeof (Certbus__Revocation *));
    size_t i;
    for (i = 0; i < cert_count; i++)
        if (certbus_codec_decode (&certbus__certificate__descriptor, certs [i], cert_sizes [i],
                                  64 * 1024, 16, (void **) &body.certificates [i]))
            goto cleanup;
    for (i = 0; i < rev_count; i++)
        if (certbus_codec_decode (&certbus__revocation__descriptor, revs [i], rev_sizes [i],
                                  16 * 1024, 16, (void **) &body.revocations [i]))
            goto cleanup;
    *bytes_p = certbus_signed_wrap_message (&s_directory_type, &body,
                                            certbus_identity_sign_secret (council), size_p);
    rc = 0;
cleanup:
    for (i = 0; i < cert_count; i++)
        certbus_codec_free (body.certificates [i]);
    for (i = 0; i < rev_count; i++)
        certbus_codec_free (body.revocations [i]);
    free (body.certificates);
    free (body.revocations);
    return rc;
}

//  The role in which cert holds key, for the reason text
static const char *
s_key_role (const certbus_cert_t *cert, const uint8_t *key)
{
    if (memcmp (cert->sign_key, key, CERTBUS_KEY_SIZE) == 0)
        return "sign";
    if (memcmp (cert->box_key, key, CERTBUS_KEY_SIZE) == 0)
        return "box";
    return "CURVE";
}

//  One key, one member: a key held by two certificates, in any of the
//  three roles, would let one member read, sign or connect as another.
//  Records cert's keys in by_key (key hex -> cert). Returns CERTBUS_OK or
//  CERTBUS_E_FIELD with the reason set.
static certbus_err_t
s_keys_unique (zhashx_t *by_key, const certbus_cert_t *cert)
{
    const uint8_t *keys [3] = {cert->sign_key, cert->box_key, cert->curve_key};
    const char *roles [3] = {"sign", "box", "CURVE"};
    for (int i = 0; i < 3; i++) {
        char hex [CERTBUS_KEY_SIZE * 2 + 1];
        certbus_hex (keys [i], CERTBUS_KEY_SIZE, hex);
        const certbus_cert_t *holder = zhashx_lookup (by_key, hex);
        if (holder && holder != cert)
            return certbus_fail (CERTBUS_E_FIELD,
                                 "directory lists one key for two members: the %s key of '%s' "
                                 "is the %s key of '%s'",
                                 roles [i], cert->org_id, s_key_role (holder, keys [i]),
                                 holder->org_id);
        if (!holder)
            zhashx_insert (by_key, hex, (void *) cert);
    }
    return CERTBUS_OK;
}

static int
s_cert_compare (const void *a, const void *b)
{
    const certbus_cert_t *x = *(certbus_cert_t *const *) a;
    const certbus_cert_t *y = *(certbus_cert_t *const *) b;
    return strcmp (x->org_id, y->org_id);
}

//  Checks the Council's signature over a Directory and decodes its body:
//  the first steps of every directory reader. On success *body_p is the
//  caller's, to free with certbus_codec_free.
static certbus_err_t
s_signed_body (const uint8_t *bytes, size_t size, const uint8_t *council_key,
               Certbus__DirectoryBody **body_p)
{
    return certbus_signed_open (&s_directory_type, bytes, size, council_key,
                                &certbus__directory_body__descriptor, CERTBUS_MAX_DIRECTORY,
                                CERTBUS_MAX_MEMBERS, (void **) body_p);
}

certbus_err_t
certbus_directory_decode (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                          uint64_t min_serial, certbus_directory_t **dir_p)
{
    *dir_p = NULL;
    Certbus__DirectoryBody *body = NULL;
    certbus_directory_t *self = NULL;
    zhashx_t *by_key = NULL; //  every key of every certificate, hex -> cert
    certbus_err_t rc = s_signed_body (bytes, size, council_key, &body);
    if (rc)
        goto cleanup;
    if (body->serial < min_serial) {
        rc = certbus_fail (CERTBUS_E_DIRECTORY_OLD,
                           "directory version %llu is older than version %llu already held",
                           (unsigned long long) body->serial, (unsigned long long) min_serial);
        goto cleanup;
    }
    self = certbus_calloc (1, sizeof *self);
    self->serial = body->serial;
    self->issued_at = body->issued_at;
    self->by_org = zhashx_new ();
    self->by_curve = zhashx_new ();
    self->certs = certbus_calloc (body->n_certificates + 1, sizeof (certbus_cert_t *));
    self->revs = certbus_calloc (body->n_revocations + 1, sizeof (certbus_revocation_t *));
    for (size_t i = 0; i < body->n_revocations; i++) {
        size_t len;
        uint8_t *one = certbus_codec_encode (body->revocations [i], &len);
        rc = certbus_revocation_decode (one, len, council_key, &self->revs [self->rev_count]);
        free (one);
        if (rc)
            goto cleanup;
        self->rev_count++;
    }
    by_key = zhashx_new ();
    for (size_t i = 0; i < body->n_certificates; i++) {
        size_t len;
        uint8_t *one = certbus_codec_encode (body->certificates [i], &len);
        certbus_cert_t *cert;
        rc = certbus_cert_decode (one, len, council_key, &cert);
        free (one);
        if (rc)
            goto cleanup;
        if (zhashx_lookup (self->by_org, cert->org_id)) {
            rc = certbus_fail (CERTBUS_E_FIELD, "directory lists org '%s' twice", cert->org_id);
            certbus_cert_destroy (&cert);
            goto cleanup;
        }
        self->certs [self->cert_count++] = cert;
        zhashx_insert (self->by_org, cert->org_id, cert);
        if ((rc = s_keys_unique (by_key, cert)))
            goto cleanup;
        char curve_hex [CERTBUS_KEY_SIZE * 2 + 1];
        certbus_hex (cert->curve_key, CERTBUS_KEY_SIZE, curve_hex);
        zhashx_insert (self->by_curve, curve_hex, cert);
    }
    qsort (self->certs, self->cert_count, sizeof (certbus_cert_t *), s_cert_compare);
    self->bytes = certbus_malloc (size);
    memcpy (self->bytes, bytes, size);
    self->size = size;
    *dir_p = self;
    self = NULL;
cleanup:
    zhashx_destroy (&by_key);
    certbus_directory_destroy (&self);
    certbus_codec_free (body);
    return rc;
}

//  True when revs (bodies of the directory's revocations) revoke serial
static bool
s_revoked (Certbus__RevocationBody **revs, size_t count, uint64_t serial)
{
    for (size_t i = 0; i < count; i++)
        if (revs [i] && revs [i]->serial == serial)
            return true;
    return false;
}

certbus_err_t
certbus_directory_key_holder (const uint8_t *bytes, size_t size, const uint8_t *council_key,
                              const char *org_id, const uint8_t key [CERTBUS_KEY_SIZE],
                              char **holder_p, const char **role_p)
{
    *holder_p = NULL;
    *role_p = NULL;
    Certbus__DirectoryBody *body = NULL;
    Certbus__RevocationBody **revs = NULL;
    size_t rev_count = 0;
    certbus_err_t rc = s_signed_body (bytes, size, council_key, &body);
    if (rc)
        goto cleanup;
    revs = certbus_calloc (body->n_revocations + 1, sizeof (Certbus__RevocationBody *));
    for (; rev_count < body->n_revocations; rev_count++) {
        ProtobufCBinaryData one = body->revocations [rev_count]->body;
        if ((rc = certbus_codec_decode (&certbus__revocation_body__descriptor, one.data, one.len,
                                        16 * 1024, 16, (void **) &revs [rev_count])))
            goto cleanup;
    }
    for (size_t i = 0; i < body->n_certificates && !*holder_p; i++) {
        ProtobufCBinaryData one = body->certificates [i]->body;
        Certbus__CertificateBody *cert = NULL;
        if ((rc = certbus_codec_decode (&certbus__certificate_body__descriptor, one.data, one.len,
                                        64 * 1024, 16, (void **) &cert)))
            goto cleanup;
        const ProtobufCBinaryData keys [3] = {cert->sign_key, cert->box_key, cert->curve_key};
        static const char *roles [3] = {"sign", "box", "CURVE"};
        if (strcmp (cert->org_id, org_id) != 0 && !s_revoked (revs, rev_count, cert->serial))
            for (int k = 0; k < 3 && !*holder_p; k++)
                if (keys [k].len == CERTBUS_KEY_SIZE
                    && memcmp (keys [k].data, key, CERTBUS_KEY_SIZE) == 0) {
                    *holder_p = strdup (cert->org_id);
                    if (!*holder_p)
                        abort ();
                    *role_p = roles [k];
                }
        certbus_codec_free (cert);
    }
cleanup:
    for (size_t i = 0; i < rev_count; i++)
        certbus_codec_free (revs [i]);
    free (revs);
    certbus_codec_free (body);
    return rc;
}

void
certbus_directory_destroy (certbus_directory_t **self_p)
{
    assert (self_p);
    certbus_directory_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->cert_count; i++)
        certbus_cert_destroy (&self->certs [i]);
    for (size_t i = 0; i < self->rev_count; i++)
        certbus_revocation_destroy (&self->revs [i]);
    free (self->certs);
    free (self->revs);
    zhashx_destroy (&self->by_org);
    zhashx_destroy (&self->by_curve);
    free (self->bytes);
    free (self);
    *self_p = NULL;
}

uint64_t
certbus_directory_serial (certbus_directory_t *self)
{
    return self->serial;
}

int64_t
certbus_directory_issued_at (certbus_directory_t *self)
{
    return self->issued_at;
}

const uint8_t *
certbus_directory_bytes (certbus_directory_t *self, size_t *size_p)
{
    *size_p = self->size;
    return self->bytes;
}

size_t
certbus_directory_count (certbus_directory_t *self)
{
    return self->cert_count;
}

const certbus_cert_t *
certbus_directory_at (certbus_directory_t *self, size_t index)
{
    return index < self->cert_count ? self->certs [index] : NULL;
}

const certbus_cert_t *
certbus_directory_find (certbus_directory_t *self, const char *org_id)
{
    return org_id ? zhashx_lookup (self->by_org, org_id) : NULL;
}

const certbus_cert_t *
certbus_directory_find_serial (certbus_directory_t *self, uint64_t serial)
{
    for (size_t i = 0; i < self->cert_count; i++)
        if (self->certs [i]->serial == serial)
            return self->certs [i];
    return NULL;
}

const certbus_cert_t *
certbus_directory_find_curve (certbus_directory_t *self, const uint8_t *curve_key)
{
    char curve_hex [CERTBUS_KEY_SIZE * 2 + 1];
    certbus_hex (curve_key, CERTBUS_KEY_SIZE, curve_hex);
    return zhashx_lookup (self->by_curve, curve_hex);
}

const certbus_revocation_t *
certbus_directory_revocation (certbus_directory_t *self, uint64_t serial)
{
    for (size_t i = 0; i < self->rev_count; i++)
        if (self->revs [i]->serial == serial)
            return self->revs [i];
    return NULL;
}

size_t
certbus_directory_revocation_count (certbus_directory_t *self)
{
    return self->rev_count;
}

const certbus_revocation_t *
certbus_directory_revocation_at (certbus_directory_t *self, size_t index)
{
    return index < self->rev_count ? self->revs [index] : NULL;
}

certbus_err_t
certbus_directory_check_origin (certbus_directory_t *self, const char *org_id, uint64_t serial,
                                int64_t when_s, const certbus_cert_t **cert_p)
{
    *cert_p = NULL;
    const certbus_revocation_t *rev = certbus_directory_revocation (self, serial);
    if (rev)
        return certbus_fail (CERTBUS_E_REVOKED, "origin '%s' (certificate %llu) is revoked: %s",
                             org_id, (unsigned long long) serial,
                             *rev->reason ? rev->reason : "no reason given");
    const certbus_cert_t *cert = certbus_directory_find (self, org_id);
    if (!cert || cert->serial != serial)
        return certbus_fail (CERTBUS_E_UNKNOWN_ORIGIN,
                             "origin '%s' with certificate %llu is not in directory version %llu",
                             org_id, (unsigned long long) serial,
                             (unsigned long long) self->serial);
    certbus_err_t rc = certbus_cert_check_time (cert, when_s);
    if (rc)
        return rc;
    *cert_p = cert;
    return CERTBUS_OK;
}
