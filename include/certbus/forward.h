/*  forward.h - forwarding with provenance: a forwarded message carries the
    original envelope, origin signature intact, inside a new one signed by
    the forwarder
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_FORWARD_H_INCLUDED
#define CERTBUS_FORWARD_H_INCLUDED

#include "envelope.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_FORWARD_TYPE "application/vnd.certbus.forward"
#define CERTBUS_FORWARD_MAX_DEPTH 8

//  Makes the payload that forwards original (which identity, as org_id,
//  received and verified): its signed header, signature, ciphertext and
//  content key, with an optional note. Refuses TLP red and amber+strict
//  (CERTBUS_E_TLP): they never travel further than their recipients.
certbus_err_t
    certbus_forward_wrap (certbus_envelope_t *original, certbus_identity_t *identity,
                          const char *org_id, const uint8_t *note, size_t note_size,
                          const char *note_type, uint8_t **payload_p,
                          size_t *size_p) CERTBUS_WARN_UNUSED;

//  What a recipient learns from a forwarded message.
typedef struct {
    certbus_envelope_t *origin; //  the original envelope, verified
    char *forwarders;           //  comma list, first forwarder first
    uint8_t *payload;           //  the original payload, decrypted
    size_t size;
    uint8_t *note; //  the last forwarder's note
    size_t note_size;
} certbus_forwarded_t;

//  Opens the forward chain inside outer, whose payload (already verified
//  and decrypted) is given: verifies every embedded envelope against dir
//  (origin certificate and signature, ciphertext hash, the same TLP all the
//  way down) and decrypts the original. Refuses, at every link of the
//  chain: an inner envelope of TLP red or amber+strict (CERTBUS_E_TLP); a
//  forwarding envelope without exactly one `forwards` reference, naming the
//  envelope it carries (CERTBUS_E_FIELD); a forwarder that is the inner
//  envelope's origin, or any forwarder that is the original's origin
//  (CERTBUS_E_POLICY): nobody forwards its own message.
certbus_err_t
    certbus_forward_open (certbus_directory_t *dir, certbus_envelope_t *outer,
                          const uint8_t *payload, size_t size,
                          certbus_forwarded_t **out_p) CERTBUS_WARN_UNUSED;

void
    certbus_forwarded_destroy (certbus_forwarded_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
