/*  envelope.c - signed, end-to-end encrypted envelopes: seal and open
    SPDX-License-Identifier: MPL-2.0

    Content keys are wrapped with one ephemeral X25519 key per envelope: for
    each recipient, X25519(ephemeral, recipient) gives a key that encrypts
    the content key with XSalsa20-Poly1305 (crypto_secretbox). This is
    written by hand rather than with crypto_box_seal because a sealed box
    makes a fresh ephemeral key pair per recipient, which doubles the X25519
    work of a fan-out to thousands of members.
*/
#include "certbus.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN_ENVELOPE "certbus-envelope-v1"

struct certbus_envelope_t {
    Certbus__Envelope *wire;      //  decoded Envelope
    Certbus__EnvelopeHeader *hdr; //  decoded from wire->header
    certbus_header_t header;      //  our copy of the header's fields
    bool signature_ok;            //  the signature verified with signature_key
    uint8_t signature_key [CERTBUS_KEY_SIZE];
};

bool
certbus_severity_valid (const char *severity)
{
    static const char *known [] = {"info", "low", "medium", "high", "critical"};
    return certbus_str_index (severity, known, sizeof known / sizeof known [0]) >= 0;
}

static bool
s_kind_valid (const char *kind)
{
    return certbus_name_valid (kind) && strlen (kind) <= 32;
}

static bool
s_content_type_valid (const char *type)
{
    if (!type || !*type || strlen (type) > CERTBUS_MAX_NAME || !strchr (type, '/'))
        return false;
    for (const char *p = type; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

static int
s_strcmp_p (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  BLAKE2b-256 over each id followed by a newline, in the order given.
static void
s_recipients_hash (char *const *orgs, size_t count, uint8_t out [CERTBUS_HASH_SIZE])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    for (size_t i = 0; i < count; i++) {
        crypto_generichash_update (&state, (const uint8_t *) orgs [i], strlen (orgs [i]));
        crypto_generichash_update (&state, (const uint8_t *) "\n", 1);
    }
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

static void
s_wrap_nonce (const uint8_t *ephemeral, const uint8_t *recipient,
              uint8_t nonce [crypto_secretbox_NONCEBYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, crypto_secretbox_NONCEBYTES);
    crypto_generichash_update (&state, ephemeral, CERTBUS_KEY_SIZE);
    crypto_generichash_update (&state, recipient, CERTBUS_KEY_SIZE);
    crypto_generichash_final (&state, nonce, crypto_secretbox_NONCEBYTES);
}

//  Fails with code and a reason quoting value (format holds one %s),
//  escaped for a terminal
static certbus_err_t __attribute__ ((format (printf, 2, 0)))
s_fail_quoting (certbus_err_t code, const char *format, const char *value)
{
    char *quoted = certbus_term_escape (value ? value : "");
    certbus_fail (code, format, quoted);
    free (quoted);
    return code;
}

static certbus_err_t
s_check_opts (const certbus_seal_opts_t *opts, size_t size)
{
    if (!s_kind_valid (opts->kind))
        return s_fail_quoting (CERTBUS_E_FIELD, "kind '%s' is not valid (e.g. advisory, incident)",
                               opts->kind);
    if (!certbus_tlp_valid (opts->tlp))
        return s_fail_quoting (CERTBUS_E_TLP,
                               "TLP '%s' is not one of clear, green, amber, amber+strict, red",
                               opts->tlp);
    if (opts->severity && !certbus_severity_valid (opts->severity))
        return s_fail_quoting (CERTBUS_E_FIELD,
                               "severity '%s' is not one of info, low, medium, high, critical",
                               opts->severity);
    if (opts->content_type && !s_content_type_valid (opts->content_type))
        return s_fail_quoting (CERTBUS_E_FIELD, "content type '%s' is not a MIME type",
                               opts->content_type);
    if (opts->topic && !certbus_utf8_valid (opts->topic, 256))
        return certbus_fail (CERTBUS_E_FIELD, "topic is not UTF-8 of at most 256 bytes");
    if (opts->ref_count > 16)
        return certbus_fail (CERTBUS_E_FIELD, "more than 16 references");
    const char *relations [16];
    for (size_t i = 0; i < opts->ref_count; i++)
        relations [i] = opts->refs [i].relation;
    certbus_header_text_t text = {.kind = opts->kind,
                                  .topic = opts->topic,
                                  .tlp = opts->tlp,
                                  .severity = opts->severity,
                                  .audience = opts->audience,
                                  .content_type = opts->content_type,
                                  .case_status = opts->case_status,
                                  .assign = opts->assign,
                                  .relations = relations,
                                  .ref_count = opts->ref_count};
    certbus_err_t rc = certbus_header_check (&text);
    if (rc)
        return rc;
    if (size > CERTBUS_MAX_PAYLOAD)
        return certbus_fail (CERTBUS_E_TOO_LARGE, "payload of %zu bytes exceeds the limit of %u",
                             size, CERTBUS_MAX_PAYLOAD);
    return CERTBUS_OK;
}

certbus_err_t
certbus_envelope_seal (certbus_identity_t *identity, const certbus_cert_t *own,
                       certbus_directory_t *dir, const certbus_seal_opts_t *opts,
                       const uint8_t *payload, size_t size, uint8_t id_out [CERTBUS_ID_SIZE],
                       uint8_t **bytes_p, size_t *size_p)
{
    certbus_err_t rc = s_check_opts (opts, size);
    if (rc)
        return rc;
    char **orgs;
    size_t count;
    rc = certbus_audience_resolve (opts->audience, opts->tlp, dir, own->org_id, certbus_now (),
                                   &orgs, &count);
    if (rc)
        return rc;
    if (opts->self_copy) {
        orgs = certbus_realloc (orgs, count + 1, sizeof (char *));
        orgs [count] = strdup (own->org_id);
        if (!orgs [count++])
            abort ();
    }
    rc = certbus_envelope_seal_to (identity, own, dir, opts, orgs, count, payload, size, id_out,
                                   bytes_p, size_p);
    certbus_strv_free (orgs, count);
    return rc;
}

//  One seal's state, filled by the steps below in order. The encoded header
//  and envelope point into it; s_seal_free frees it and wipes the secrets.
typedef struct {
    char **orgs;                                 //  sorted, unique recipients (strings borrowed)
    size_t count;                                //  entries in orgs
    bool encrypt;                                //  false only for TLP clear
    uint8_t id [CERTBUS_ID_SIZE];                //  the new message id
    uint8_t *content_key;                        //  secret: encrypts the payload
    uint8_t *ephemeral_secret;                   //  secret: one X25519 key for every recipient
    uint8_t *shared;                             //  secret: X25519 result, one recipient at a time
    uint8_t ephemeral_public [CERTBUS_KEY_SIZE]; //  sent in the header
    uint8_t nonce [crypto_aead_xchacha20poly1305_ietf_NPUBBYTES]; //  payload nonce
    uint8_t *ciphertext;                     //  encrypted payload, NULL when clear
    size_t ciphertext_size;                  //  bytes in ciphertext (or the clear payload)
    Certbus__RecipientKey *keys, **key_ptrs; //  one entry per recipient, and pointers to them
    uint8_t *wrapped;                        //  count wrapped content keys, back to back
    uint8_t recipients_hash [CERTBUS_HASH_SIZE], ciphertext_hash [CERTBUS_HASH_SIZE]; //  signed
    Certbus__Reference refs [16], *ref_ptrs [16]; //  the references of opts, and pointers
    Certbus__EnvelopeHeader hdr;                  //  the header to sign
} s_seal_t;

//  Sorts the recipients without repeats, allocates, gives the header a new id
static void
s_seal_start (s_seal_t *seal, const certbus_seal_opts_t *opts, char *const *recipients,
              size_t recipient_count, size_t size)
{
    memset (seal, 0, sizeof *seal);
    seal->encrypt = strcmp (opts->tlp, "clear") != 0;
    seal->orgs = certbus_malloc (recipient_count * sizeof (char *));
    memcpy (seal->orgs, recipients, recipient_count * sizeof (char *));
    qsort (seal->orgs, recipient_count, sizeof (char *), s_strcmp_p);
    for (size_t i = 0; i < recipient_count; i++)
        if (seal->count == 0 || strcmp (seal->orgs [seal->count - 1], seal->orgs [i]) != 0)
            seal->orgs [seal->count++] = seal->orgs [i];
    seal->content_key = certbus_secret_alloc (crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    seal->ephemeral_secret = certbus_secret_alloc (CERTBUS_KEY_SIZE);
    seal->shared = certbus_secret_alloc (crypto_box_BEFORENMBYTES);
    if (!seal->content_key || !seal->ephemeral_secret || !seal->shared)
        abort ();
    seal->ciphertext_size = size;
    seal->keys = certbus_calloc (seal->count, sizeof (Certbus__RecipientKey));
    seal->key_ptrs = certbus_calloc (seal->count, sizeof (Certbus__RecipientKey *));
    seal->wrapped = certbus_calloc (seal->count, CERTBUS_WRAPPED_KEY_SIZE);
    seal->hdr = (Certbus__EnvelopeHeader) CERTBUS__ENVELOPE_HEADER__INIT;
    certbus_uuid7 (seal->id);
    seal->hdr.version = CERTBUS_WIRE_MAJOR;
    seal->hdr.id = certbus_codec_bytes (seal->id, sizeof seal->id);
}

//  Every recipient must be a current, unrevoked member of dir
static certbus_err_t
s_seal_find_members (s_seal_t *seal, certbus_directory_t *dir)
{
    for (size_t i = 0; i < seal->count; i++) {
        const certbus_cert_t *cert = certbus_directory_find (dir, seal->orgs [i]);
        if (!cert || certbus_directory_revocation (dir, cert->serial)
            || certbus_cert_check_time (cert, certbus_now ()) != CERTBUS_OK)
            return certbus_fail (CERTBUS_E_AUDIENCE_EMPTY, "recipient '%s' is not a current member",
                                 seal->orgs [i]);
        certbus__recipient_key__init (&seal->keys [i]);
        seal->keys [i].org_id = seal->orgs [i];
        seal->key_ptrs [i] = &seal->keys [i];
    }
    return CERTBUS_OK;
}

//  A new content key, nonce and ephemeral key pair; the id is associated data
static void
s_seal_encrypt_payload (s_seal_t *seal, const uint8_t *payload, size_t size)
{
    crypto_aead_xchacha20poly1305_ietf_keygen (seal->content_key);
    randombytes_buf (seal->nonce, sizeof seal->nonce);
    crypto_box_keypair (seal->ephemeral_public, seal->ephemeral_secret);
    seal->ciphertext_size = size + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    seal->ciphertext = certbus_malloc (seal->ciphertext_size);
    unsigned long long written;
    crypto_aead_xchacha20poly1305_ietf_encrypt (seal->ciphertext, &written, payload, size, seal->id,
                                                sizeof seal->id, NULL, seal->nonce,
                                                seal->content_key);
}

//  Wraps the content key for each recipient, as the top of this file says
static certbus_err_t
s_seal_wrap_keys (s_seal_t *seal, certbus_directory_t *dir)
{
    for (size_t i = 0; i < seal->count; i++) {
        const certbus_cert_t *cert = certbus_directory_find (dir, seal->orgs [i]);
        uint8_t wrap_nonce [crypto_secretbox_NONCEBYTES];
        if (crypto_box_beforenm (seal->shared, cert->box_key, seal->ephemeral_secret) != 0)
            return certbus_fail (CERTBUS_E_FIELD, "recipient '%s' has an unusable key",
                                 seal->orgs [i]);
        s_wrap_nonce (seal->ephemeral_public, cert->box_key, wrap_nonce);
        uint8_t *out = seal->wrapped + i * CERTBUS_WRAPPED_KEY_SIZE;
        crypto_secretbox_easy (out, seal->content_key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
                               wrap_nonce, seal->shared);
        seal->keys [i].wrapped_key = certbus_codec_bytes (out, CERTBUS_WRAPPED_KEY_SIZE);
    }
    seal->hdr.ephemeral_key = certbus_codec_bytes (seal->ephemeral_public,
                                                   sizeof seal->ephemeral_public);
    seal->hdr.nonce = certbus_codec_bytes (seal->nonce, sizeof seal->nonce);
    return CERTBUS_OK;
}

//  Hashes the recipient list and what the envelope carries (the ciphertext,
//  or the clear payload), and fills the rest of the header from own and opts.
static void
s_seal_fill_header (s_seal_t *seal, const certbus_cert_t *own, const certbus_seal_opts_t *opts,
                    const uint8_t *payload)
{
    s_recipients_hash (seal->orgs, seal->count, seal->recipients_hash);
    crypto_hash_sha256 (seal->ciphertext_hash, seal->encrypt ? seal->ciphertext : payload,
                        seal->ciphertext_size);
    Certbus__EnvelopeHeader *hdr = &seal->hdr;
    hdr->origin = own->org_id;
    hdr->origin_serial = own->serial;
    hdr->kind = (char *) opts->kind;
    hdr->topic = (char *) (opts->topic ? opts->topic : "");
    hdr->tlp = (char *) opts->tlp;
    hdr->severity = (char *) (opts->severity ? opts->severity : "medium");
    hdr->created = certbus_now_ms ();
    hdr->audience = (char *) (opts->audience ? opts->audience : "");
    hdr->recipients_hash = certbus_codec_bytes (seal->recipients_hash,
                                                sizeof seal->recipients_hash);
    hdr->recipient_count = (uint32_t) seal->count;
    hdr->ciphertext_hash = certbus_codec_bytes (seal->ciphertext_hash,
                                                sizeof seal->ciphertext_hash);
    hdr->content_type = (char *) (opts->content_type ? opts->content_type
                                                     : "application/octet-stream");
    hdr->encrypted = seal->encrypt;
    hdr->case_status = (char *) (opts->case_status ? opts->case_status : "");
    hdr->assign = (char *) (opts->assign ? opts->assign : "");
    for (size_t i = 0; i < opts->ref_count; i++) {
        certbus__reference__init (&seal->refs [i]);
        seal->refs [i].relation = (char *) opts->refs [i].relation;
        seal->refs [i].message_id = certbus_codec_bytes (opts->refs [i].id, CERTBUS_ID_SIZE);
        seal->ref_ptrs [i] = &seal->refs [i];
    }
    hdr->n_references = opts->ref_count;
    hdr->references = seal->ref_ptrs;
}

//  Signs the encoded header; returns the encoded Envelope, the caller's
static uint8_t *
s_seal_sign_and_encode (s_seal_t *seal, certbus_identity_t *identity, const uint8_t *payload,
                        size_t *size_p)
{
    size_t header_size;
    uint8_t *header_bytes = certbus_codec_encode (&seal->hdr, &header_size);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_ENVELOPE, header_bytes, header_size,
                  certbus_identity_sign_secret (identity));
    Certbus__Envelope env = CERTBUS__ENVELOPE__INIT;
    env.version = CERTBUS_WIRE_MAJOR;
    env.header = certbus_codec_bytes (header_bytes, header_size);
    env.signature = certbus_codec_bytes (sig, sizeof sig);
    env.ciphertext = certbus_codec_bytes (seal->encrypt ? seal->ciphertext : (uint8_t *) payload,
                                          seal->ciphertext_size);
    env.n_recipients = seal->count;
    env.recipients = seal->key_ptrs;
    uint8_t *bytes = certbus_codec_encode (&env, size_p);
    free (header_bytes);
    return bytes;
}

static void
s_seal_free (s_seal_t *seal)
{
    certbus_secret_free (seal->content_key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    certbus_secret_free (seal->ephemeral_secret, CERTBUS_KEY_SIZE);
    certbus_secret_free (seal->shared, crypto_box_BEFORENMBYTES);
    free (seal->ciphertext);
    free (seal->keys);
    free (seal->key_ptrs);
    free (seal->wrapped);
    free (seal->orgs);
}

certbus_err_t
certbus_envelope_seal_to (certbus_identity_t *identity, const certbus_cert_t *own,
                          certbus_directory_t *dir, const certbus_seal_opts_t *opts,
                          char *const *recipients, size_t recipient_count, const uint8_t *payload,
                          size_t size, uint8_t id_out [CERTBUS_ID_SIZE], uint8_t **bytes_p,
                          size_t *size_p)
{
    certbus_err_t rc = s_check_opts (opts, size);
    if (rc)
        return rc;
    if (recipient_count == 0)
        return certbus_fail (CERTBUS_E_AUDIENCE_EMPTY, "no recipients");
    if (recipient_count > CERTBUS_MAX_RECIPIENTS)
        return certbus_fail (CERTBUS_E_TOO_LARGE, "%zu recipients, more than the limit of %d",
                             recipient_count, CERTBUS_MAX_RECIPIENTS);
    s_seal_t seal;
    s_seal_start (&seal, opts, recipients, recipient_count, size);
    rc = s_seal_find_members (&seal, dir);
    if (rc)
        goto cleanup;
    if (seal.encrypt) {
        s_seal_encrypt_payload (&seal, payload, size);
        rc = s_seal_wrap_keys (&seal, dir);
        if (rc)
            goto cleanup;
    }
    s_seal_fill_header (&seal, own, opts, payload);
    *bytes_p = s_seal_sign_and_encode (&seal, identity, payload, size_p);
    memcpy (id_out, seal.id, CERTBUS_ID_SIZE);
cleanup:
    s_seal_free (&seal);
    return rc;
}

static certbus_err_t
s_bytes_field (ProtobufCBinaryData field, size_t want, const char *name, uint8_t *out)
{
    if (field.len != want)
        return certbus_fail (CERTBUS_E_FIELD, "envelope header field %s has %zu bytes, not %zu",
                             name, field.len, want);
    if (out)
        memcpy (out, field.data, want);
    return CERTBUS_OK;
}

//  Checks every fixed-size field; copies the id and the hashes to our header
static certbus_err_t
s_check_field_sizes (certbus_envelope_t *self)
{
    Certbus__EnvelopeHeader *hdr = self->hdr;
    certbus_header_t *h = &self->header;
    certbus_err_t rc;
    if ((rc = s_bytes_field (hdr->id, CERTBUS_ID_SIZE, "id", h->id))
        || (rc = s_bytes_field (hdr->recipients_hash, CERTBUS_HASH_SIZE, "recipients_hash",
                                h->recipients_hash))
        || (rc = s_bytes_field (hdr->ciphertext_hash, CERTBUS_HASH_SIZE, "ciphertext_hash",
                                h->ciphertext_hash)))
        return rc;
    if (hdr->encrypted
        && ((rc = s_bytes_field (hdr->ephemeral_key, CERTBUS_KEY_SIZE, "ephemeral_key", NULL))
            || (rc = s_bytes_field (hdr->nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                    "nonce", NULL))))
        return rc;
    if (self->wire->signature.len != CERTBUS_SIG_SIZE)
        return certbus_fail (CERTBUS_E_FIELD, "envelope signature has %zu bytes, not 64",
                             self->wire->signature.len);
    if (hdr->n_references > 16)
        return certbus_fail (CERTBUS_E_FIELD, "envelope has more than 16 references");
    return CERTBUS_OK;
}

//  The rules seal applies too: strings without control characters, case
//  fields and references that fit the kind; then names and values (<= 16 refs)
static certbus_err_t
s_check_header_text (const Certbus__EnvelopeHeader *hdr)
{
    const char *relations [16];
    for (size_t i = 0; i < hdr->n_references; i++)
        relations [i] = hdr->references [i]->relation;
    certbus_header_text_t text = {.origin = hdr->origin,
                                  .kind = hdr->kind,
                                  .topic = hdr->topic,
                                  .tlp = hdr->tlp,
                                  .severity = hdr->severity,
                                  .audience = hdr->audience,
                                  .content_type = hdr->content_type,
                                  .case_status = hdr->case_status,
                                  .assign = hdr->assign,
                                  .relations = relations,
                                  .ref_count = hdr->n_references};
    certbus_err_t rc = certbus_header_check (&text);
    if (rc)
        return rc;
    if (!certbus_name_valid (hdr->origin) || !s_kind_valid (hdr->kind)
        || !certbus_tlp_valid (hdr->tlp) || !certbus_severity_valid (hdr->severity)
        || !s_content_type_valid (hdr->content_type) || strlen (hdr->topic) > 256
        || hdr->recipient_count == 0 || hdr->recipient_count > CERTBUS_MAX_RECIPIENTS
        || (!hdr->encrypted && strcmp (hdr->tlp, "clear") != 0))
        return certbus_fail (CERTBUS_E_FIELD,
                             "envelope header has an invalid origin, kind, TLP, severity, "
                             "content type, topic or recipient count");
    return CERTBUS_OK;
}

//  What travels beside the signed header: no more recipients than it was
//  sealed to, each well formed, sorted and unique; and the ciphertext it hashed
static certbus_err_t
s_check_body (const certbus_envelope_t *self)
{
    const Certbus__Envelope *wire = self->wire;
    const Certbus__EnvelopeHeader *hdr = self->hdr;
    if (wire->n_recipients > hdr->recipient_count)
        return certbus_fail (CERTBUS_E_RECIPIENTS_HASH,
                             "envelope carries %zu recipients but was sealed to %u",
                             wire->n_recipients, hdr->recipient_count);
    for (size_t i = 0; i < wire->n_recipients; i++) {
        Certbus__RecipientKey *key = wire->recipients [i];
        if (!certbus_name_valid (key->org_id)
            || (hdr->encrypted && key->wrapped_key.len != CERTBUS_WRAPPED_KEY_SIZE)
            || (!hdr->encrypted && key->wrapped_key.len != 0))
            return certbus_fail (CERTBUS_E_FIELD, "recipient entry %zu is malformed", i);
        if (i > 0 && strcmp (wire->recipients [i - 1]->org_id, key->org_id) >= 0)
            return certbus_fail (CERTBUS_E_FIELD, "recipient list is not sorted and unique");
    }
    uint8_t hash [CERTBUS_HASH_SIZE];
    crypto_hash_sha256 (hash, self->wire->ciphertext.data, self->wire->ciphertext.len);
    if (sodium_memcmp (hash, self->header.ciphertext_hash, sizeof hash) != 0)
        return certbus_fail (CERTBUS_E_CIPHERTEXT_HASH,
                             "ciphertext does not match the hash in the signed header");
    return CERTBUS_OK;
}

//  Fills our header from self->hdr (strings borrowed), checking references
static certbus_err_t
s_copy_header (certbus_envelope_t *self)
{
    const Certbus__EnvelopeHeader *hdr = self->hdr;
    certbus_header_t *h = &self->header;
    h->origin = hdr->origin;
    h->origin_serial = hdr->origin_serial;
    h->kind = hdr->kind;
    h->topic = hdr->topic;
    h->tlp = hdr->tlp;
    h->severity = hdr->severity;
    h->created = hdr->created;
    h->audience = hdr->audience;
    h->recipient_count = hdr->recipient_count;
    h->content_type = hdr->content_type;
    h->encrypted = hdr->encrypted;
    h->case_status = hdr->case_status;
    h->assign = hdr->assign;
    h->ref_count = hdr->n_references;
    h->refs = certbus_calloc (hdr->n_references + 1, sizeof (certbus_ref_t));
    for (size_t i = 0; i < hdr->n_references; i++) {
        Certbus__Reference *ref = hdr->references [i];
        if (ref->message_id.len != CERTBUS_ID_SIZE || strlen (ref->relation) >= 32)
            return certbus_fail (CERTBUS_E_FIELD, "reference %zu is malformed", i);
        snprintf (h->refs [i].relation, sizeof h->refs [i].relation, "%s", ref->relation);
        memcpy (h->refs [i].id, ref->message_id.data, CERTBUS_ID_SIZE);
    }
    return CERTBUS_OK;
}

certbus_err_t
certbus_envelope_decode (const uint8_t *bytes, size_t size, certbus_envelope_t **env_p)
{
    *env_p = NULL;
    certbus_envelope_t *self = certbus_calloc (1, sizeof *self);
    certbus_err_t rc = certbus_codec_decode (&certbus__envelope__descriptor, bytes, size,
                                             CERTBUS_MAX_ENVELOPE, CERTBUS_MAX_RECIPIENTS,
                                             (void **) &self->wire);
    if (rc == CERTBUS_OK)
        rc = certbus_codec_decode (&certbus__envelope_header__descriptor, self->wire->header.data,
                                   self->wire->header.len, 64 * 1024, 16, (void **) &self->hdr);
    if (rc || (rc = s_check_field_sizes (self)) || (rc = s_check_header_text (self->hdr))
        || (rc = s_check_body (self)) || (rc = s_copy_header (self)))
        goto cleanup;
    *env_p = self;
    self = NULL;
cleanup:
    certbus_envelope_destroy (&self);
    return rc;
}

certbus_err_t
certbus_envelope_verify (certbus_envelope_t *self, certbus_directory_t *dir, int64_t when_s,
                         const certbus_cert_t **cert_p)
{
    const certbus_cert_t *cert;
    certbus_err_t rc = certbus_directory_check_origin (dir, self->header.origin,
                                                       self->header.origin_serial, when_s, &cert);
    if (rc)
        return rc;
    bool checked = self->signature_ok
                   && sodium_memcmp (self->signature_key, cert->sign_key, CERTBUS_KEY_SIZE) == 0;
    if (!checked && !certbus_envelope_check_signature (self, cert->sign_key))
        return certbus_fail (CERTBUS_E_SIGNATURE,
                             "envelope signature does not verify with the key of '%s'",
                             self->header.origin);
    if (certbus_envelope_complete (self)) {
        char **orgs = certbus_malloc ((self->wire->n_recipients + 1) * sizeof (char *));
        for (size_t i = 0; i < self->wire->n_recipients; i++)
            orgs [i] = self->wire->recipients [i]->org_id;
        uint8_t hash [CERTBUS_HASH_SIZE];
        s_recipients_hash (orgs, self->wire->n_recipients, hash);
        free (orgs);
        if (sodium_memcmp (hash, self->header.recipients_hash, sizeof hash) != 0)
            return certbus_fail (CERTBUS_E_RECIPIENTS_HASH,
                                 "recipient list does not match the hash in the signed header");
    }
    if (cert_p)
        *cert_p = cert;
    return CERTBUS_OK;
}

bool
certbus_envelope_check_signature (certbus_envelope_t *self,
                                  const uint8_t sign_key [CERTBUS_KEY_SIZE])
{
    if (!certbus_verify (self->wire->signature.data, self->wire->signature.len, s_DOMAIN_ENVELOPE,
                         self->wire->header.data, self->wire->header.len, sign_key,
                         CERTBUS_KEY_SIZE))
        return false;
    memcpy (self->signature_key, sign_key, CERTBUS_KEY_SIZE);
    self->signature_ok = true;
    return true;
}

static Certbus__RecipientKey *
s_find_recipient (certbus_envelope_t *self, const char *org_id)
{
    for (size_t i = 0; i < self->wire->n_recipients; i++)
        if (strcmp (self->wire->recipients [i]->org_id, org_id) == 0)
            return self->wire->recipients [i];
    return NULL;
}

certbus_err_t
certbus_envelope_content_key (certbus_envelope_t *self, certbus_identity_t *identity,
                              const char *org_id, uint8_t key [32])
{
    Certbus__RecipientKey *mine = s_find_recipient (self, org_id);
    if (!mine)
        return certbus_fail (CERTBUS_E_NOT_RECIPIENT, "'%s' is not a recipient of this envelope",
                             org_id);
    if (!self->header.encrypted)
        return certbus_fail (CERTBUS_E_FIELD, "envelope is not encrypted");
    certbus_err_t rc = CERTBUS_OK;
    uint8_t *shared = certbus_secret_alloc (crypto_box_BEFORENMBYTES);
    uint8_t wrap_nonce [crypto_secretbox_NONCEBYTES];
    const uint8_t *ephemeral = self->hdr->ephemeral_key.data;
    if (crypto_box_beforenm (shared, ephemeral, certbus_identity_box_secret (identity)) != 0)
        rc = certbus_fail (CERTBUS_E_WRAPPED_KEY, "envelope's ephemeral key is unusable");
    else {
        s_wrap_nonce (ephemeral, certbus_identity_box_public (identity), wrap_nonce);
        if (crypto_secretbox_open_easy (key, mine->wrapped_key.data, mine->wrapped_key.len,
                                        wrap_nonce, shared)
            != 0)
            rc = certbus_fail (CERTBUS_E_WRAPPED_KEY, "wrapped content key for '%s' does not open",
                               org_id);
    }
    certbus_secret_free (shared, crypto_box_BEFORENMBYTES);
    return rc;
}

certbus_err_t
certbus_envelope_decrypt_with_key (certbus_envelope_t *self, const uint8_t *key, size_t key_len,
                                   uint8_t **payload_p, size_t *size_p)
{
    *payload_p = NULL;
    *size_p = 0;
    ProtobufCBinaryData ct = self->wire->ciphertext;
    if (!self->header.encrypted) {
        *payload_p = certbus_malloc (ct.len ? ct.len : 1);
        if (ct.len)
            memcpy (*payload_p, ct.data, ct.len);
        *size_p = ct.len;
        return CERTBUS_OK;
    }
    if (key_len != crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
        return certbus_fail (CERTBUS_E_DECRYPT, "content key is not 32 bytes");
    if (ct.len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
        return certbus_fail (CERTBUS_E_DECRYPT, "ciphertext is shorter than its tag");
    size_t plain_size = ct.len - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *plain = certbus_malloc (plain_size ? plain_size : 1);
    unsigned long long got;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &got, NULL, ct.data, ct.len,
                                                    self->header.id, CERTBUS_ID_SIZE,
                                                    self->hdr->nonce.data, key)
        != 0) {
        free (plain);
        return certbus_fail (CERTBUS_E_DECRYPT, "payload does not decrypt");
    }
    *payload_p = plain;
    *size_p = (size_t) got;
    return CERTBUS_OK;
}

certbus_err_t
certbus_envelope_decrypt (certbus_envelope_t *self, certbus_identity_t *identity,
                          const char *org_id, uint8_t **payload_p, size_t *size_p)
{
    *payload_p = NULL;
    *size_p = 0;
    if (!s_find_recipient (self, org_id))
        return certbus_fail (CERTBUS_E_NOT_RECIPIENT, "'%s' is not a recipient of this envelope",
                             org_id);
    if (!self->header.encrypted)
        return certbus_envelope_decrypt_with_key (self, NULL, 0, payload_p, size_p);
    uint8_t *key = certbus_secret_alloc (crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    certbus_err_t rc = certbus_envelope_content_key (self, identity, org_id, key);
    if (rc == CERTBUS_OK)
        rc = certbus_envelope_decrypt_with_key (self, key,
                                                crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
                                                payload_p, size_p);
    certbus_secret_free (key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    return rc;
}

const uint8_t *
certbus_envelope_signature (certbus_envelope_t *self, size_t *size_p)
{
    *size_p = self->wire->signature.len;
    return self->wire->signature.data;
}

const uint8_t *
certbus_envelope_ciphertext (certbus_envelope_t *self, size_t *size_p)
{
    *size_p = self->wire->ciphertext.len;
    return self->wire->ciphertext.data;
}

certbus_err_t
certbus_envelope_open (const uint8_t *bytes, size_t size, certbus_directory_t *dir,
                       certbus_identity_t *identity, const char *org_id, int64_t when_s,
                       certbus_envelope_t **env_p, uint8_t **payload_p, size_t *size_p)
{
    if (env_p)
        *env_p = NULL;
    certbus_envelope_t *env;
    certbus_err_t rc = certbus_envelope_decode (bytes, size, &env);
    if (rc)
        return rc;
    rc = certbus_envelope_verify (env, dir, when_s, NULL);
    if (rc == CERTBUS_OK)
        rc = certbus_envelope_decrypt (env, identity, org_id, payload_p, size_p);
    if (rc == CERTBUS_OK && env_p)
        *env_p = env;
    else
        certbus_envelope_destroy (&env);
    return rc;
}

void
certbus_envelope_destroy (certbus_envelope_t **self_p)
{
    assert (self_p);
    certbus_envelope_t *self = *self_p;
    if (!self)
        return;
    free (self->header.refs);
    certbus_codec_free (self->hdr);
    certbus_codec_free (self->wire);
    free (self);
    *self_p = NULL;
}

const certbus_header_t *
certbus_envelope_header (certbus_envelope_t *self)
{
    return &self->header;
}

const uint8_t *
certbus_envelope_header_bytes (certbus_envelope_t *self, size_t *size_p)
{
    *size_p = self->wire->header.len;
    return self->wire->header.data;
}

size_t
certbus_envelope_recipients (certbus_envelope_t *self)
{
    return self->wire->n_recipients;
}

const char *
certbus_envelope_recipient (certbus_envelope_t *self, size_t index)
{
    return index < self->wire->n_recipients ? self->wire->recipients [index]->org_id : NULL;
}

bool
certbus_envelope_complete (certbus_envelope_t *self)
{
    return self->wire->n_recipients == self->header.recipient_count;
}

uint8_t *
certbus_envelope_base_bytes (certbus_envelope_t *self, size_t *size_p)
{
    Certbus__Envelope base = *self->wire;
    base.n_recipients = 0;
    base.recipients = NULL;
    return certbus_codec_encode (&base, size_p);
}

uint8_t *
certbus_envelope_recipient_bytes (certbus_envelope_t *self, size_t index, size_t *size_p)
{
    assert (index < self->wire->n_recipients);
    //  An Envelope holding only this recipient encodes as exactly the bytes
    //  of field 5, which append to the base envelope.
    Certbus__Envelope one = CERTBUS__ENVELOPE__INIT;
    one.n_recipients = 1;
    one.recipients = &self->wire->recipients [index];
    return certbus_codec_encode (&one, size_p);
}

size_t
certbus_envelope_ciphertext_size (certbus_envelope_t *self)
{
    return self->wire->ciphertext.len;
}
