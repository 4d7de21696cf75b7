/*  envelope.h - signed, end-to-end encrypted envelopes: seal and open
    SPDX-License-Identifier: MPL-2.0

    An envelope is the signed header bytes, the ciphertext, the origin's
    signature, and beside them the recipient list with one wrapped content
    key each. The header signs the hash of the sorted recipient list and the
    hash of the ciphertext, so a relay may drop other recipients' keys (each
    recipient gets only its own) without breaking the signature.
*/
#ifndef CERTBUS_ENVELOPE_H_INCLUDED
#define CERTBUS_ENVELOPE_H_INCLUDED

#include "audience.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_WRAPPED_KEY_SIZE 48 //  32-byte content key + 16-byte MAC
#define CERTBUS_HASH_SIZE 32

//  A reference from one message to another (the incident it updates, the
//  message it forwards).
typedef struct {
    char relation [32];
    uint8_t id [CERTBUS_ID_SIZE];
} certbus_ref_t;

//  What a sender chooses for a message. NULL strings take defaults: topic
//  "", severity "medium", content type "application/octet-stream".
typedef struct {
    const char *kind;     //  incident, advisory, alert, receipt, ...
    const char *tlp;      //  clear, green, amber, amber+strict, red
    const char *audience; //  as written, e.g. "sector:banking"
    const char *topic;
    const char *severity; //  info, low, medium, high, critical
    const char *content_type;
    const certbus_ref_t *refs;
    size_t ref_count;
    const char *case_status; //  incident threads; NULL for none
    const char *assign;      //  incident threads; NULL for none
    bool self_copy;          //  seal: add the sender as a recipient, so
                             //  it can open (and forward) its own message
} certbus_seal_opts_t;

//  The decoded header of an envelope. Strings are owned by the envelope.
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE];
    char *origin;
    uint64_t origin_serial;
    char *kind;
    char *topic;
    char *tlp;
    char *severity;
    int64_t created; //  unix milliseconds
    char *audience;
    uint8_t recipients_hash [CERTBUS_HASH_SIZE];
    uint32_t recipient_count; //  how many recipients the sender sealed to
    uint8_t ciphertext_hash [CERTBUS_HASH_SIZE];
    char *content_type;
    certbus_ref_t *refs;
    size_t ref_count;
    bool encrypted;
    char *case_status;
    char *assign;
} certbus_header_t;

typedef struct certbus_envelope_t certbus_envelope_t;

//  True when severity is one of info, low, medium, high, critical.
bool
    certbus_severity_valid (const char *severity);

//  True when status is "" or a case status: reported, acknowledged,
//  investigating, contained, resolved, closed, reopened.
bool
    certbus_case_status_valid (const char *status);

//  The strings and reference relations of a header, for certbus_header_check.
//  NULL strings count as "".
typedef struct {
    const char *origin;
    const char *kind;
    const char *topic;
    const char *tlp;
    const char *severity;
    const char *audience;
    const char *content_type;
    const char *case_status;
    const char *assign;
    const char *const *relations; //  one per reference, in order
    size_t ref_count;
} certbus_header_text_t;

//  The rules seal and decode both apply to a header: no control character
//  (C0, DEL, C1) in any string; case status empty or a known status;
//  assign empty or a valid org id; relations among updates, forwards and
//  receipt-for, each at most once; updates, case status and assign only on
//  kind incident; receipt-for only on kind receipt, and a receipt carries
//  exactly that one reference. Returns CERTBUS_OK or CERTBUS_E_FIELD with a
//  reason naming the rule (quoted values escaped for a terminal).
certbus_err_t
    certbus_header_check (const certbus_header_text_t *header) CERTBUS_WARN_UNUSED;

//  Seals payload from identity (whose certificate is own) to the audience
//  in opts, resolved against dir. On success *id_out is the new message id
//  and *bytes_p a new serialised Envelope.
certbus_err_t
    certbus_envelope_seal (certbus_identity_t *identity, const certbus_cert_t *own,
                           certbus_directory_t *dir, const certbus_seal_opts_t *opts,
                           const uint8_t *payload, size_t size, uint8_t id_out [CERTBUS_ID_SIZE],
                           uint8_t **bytes_p, size_t *size_p) CERTBUS_WARN_UNUSED;

//  Seals to an explicit list of recipient org ids (each must be a current
//  member of dir); opts->audience is still signed as written.
certbus_err_t
    certbus_envelope_seal_to (certbus_identity_t *identity, const certbus_cert_t *own,
                              certbus_directory_t *dir, const certbus_seal_opts_t *opts,
                              char *const *recipients, size_t recipient_count,
                              const uint8_t *payload, size_t size, uint8_t id_out [CERTBUS_ID_SIZE],
                              uint8_t **bytes_p, size_t *size_p) CERTBUS_WARN_UNUSED;

//  Bounded decode of an envelope and its header, with every field checked
//  (sizes, names, TLP, recipient order) and the ciphertext hash compared.
//  No signature is checked yet: see certbus_envelope_verify.
certbus_err_t
    certbus_envelope_decode (const uint8_t *bytes, size_t size,
                             certbus_envelope_t **env_p) CERTBUS_WARN_UNUSED;

//  Verifies the origin: its certificate in dir (judged at when_s, unrevoked)
//  and its signature over the received header bytes. When the envelope
//  carries the whole recipient list, its hash is checked too. *cert_p, when
//  not NULL, receives the origin's borrowed certificate.
certbus_err_t
    certbus_envelope_verify (certbus_envelope_t *self, certbus_directory_t *dir, int64_t when_s,
                             const certbus_cert_t **cert_p) CERTBUS_WARN_UNUSED;

//  Checks only the signature over the header, with sign_key: no directory,
//  no clock, so many envelopes can be checked on many threads at once (each
//  envelope by one thread). A signature found good here is remembered with
//  its key: certbus_envelope_verify, which still makes every other check,
//  then skips the cryptography when the origin's key is that same key.
bool
    certbus_envelope_check_signature (certbus_envelope_t *self,
                                      const uint8_t sign_key [CERTBUS_KEY_SIZE]);

//  Decrypts the payload for org_id with identity's X25519 key. Call only
//  after certbus_envelope_verify. *payload_p is a new buffer.
certbus_err_t
    certbus_envelope_decrypt (certbus_envelope_t *self, certbus_identity_t *identity,
                              const char *org_id, uint8_t **payload_p,
                              size_t *size_p) CERTBUS_WARN_UNUSED;

//  Unwraps the content key for org_id into key (32 bytes). Call only after
//  certbus_envelope_verify; fails for an envelope that is not encrypted.
certbus_err_t
    certbus_envelope_content_key (certbus_envelope_t *self, certbus_identity_t *identity,
                                  const char *org_id, uint8_t key [32]) CERTBUS_WARN_UNUSED;

//  Decrypts the payload with a content key given by a forwarder (or copies
//  it when the envelope is not encrypted). *payload_p is a new buffer.
certbus_err_t
    certbus_envelope_decrypt_with_key (certbus_envelope_t *self, const uint8_t *key, size_t key_len,
                                       uint8_t **payload_p, size_t *size_p) CERTBUS_WARN_UNUSED;

//  The signature and ciphertext as received (borrowed).
const uint8_t *
    certbus_envelope_signature (certbus_envelope_t *self, size_t *size_p);
const uint8_t *
    certbus_envelope_ciphertext (certbus_envelope_t *self, size_t *size_p);

//  Decode, verify and decrypt in one call, as a recipient does. On success
//  *env_p (may be NULL) keeps the envelope for its header.
certbus_err_t
    certbus_envelope_open (const uint8_t *bytes, size_t size, certbus_directory_t *dir,
                           certbus_identity_t *identity, const char *org_id, int64_t when_s,
                           certbus_envelope_t **env_p, uint8_t **payload_p,
                           size_t *size_p) CERTBUS_WARN_UNUSED;

void
    certbus_envelope_destroy (certbus_envelope_t **self_p);

//  The decoded header (borrowed).
const certbus_header_t *
    certbus_envelope_header (certbus_envelope_t *self);

//  The signed header bytes, as received (borrowed).
const uint8_t *
    certbus_envelope_header_bytes (certbus_envelope_t *self, size_t *size_p);

//  Recipients carried by this copy of the envelope, in order.
size_t
    certbus_envelope_recipients (certbus_envelope_t *self);
const char *
    certbus_envelope_recipient (certbus_envelope_t *self, size_t index);

//  True when the envelope carries every recipient the sender sealed to.
bool
    certbus_envelope_complete (certbus_envelope_t *self);

//  The envelope without its recipient list, as a new buffer. Appending the
//  bytes of certbus_envelope_recipient_bytes gives a valid envelope for that
//  one recipient: protobuf concatenates repeated fields.
uint8_t *
    certbus_envelope_base_bytes (certbus_envelope_t *self, size_t *size_p);
uint8_t *
    certbus_envelope_recipient_bytes (certbus_envelope_t *self, size_t index, size_t *size_p);

//  The ciphertext size, for listings.
size_t
    certbus_envelope_ciphertext_size (certbus_envelope_t *self);

#ifdef __cplusplus
}
#endif

#endif
