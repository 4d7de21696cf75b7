/*  forward.c - forwarding with provenance
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

//  TLP red and amber+strict never travel further than their recipients
static bool
s_may_travel (const char *tlp)
{
    return strcmp (tlp, "red") != 0 && strcmp (tlp, "amber+strict") != 0;
}

//  The one check of a link in a forward chain that needs no cryptography:
//  current (the forwarding envelope) must carry exactly one `forwards`
//  reference, naming inner; its origin must not be inner's (a member may
//  not forward its own message, which would launder its kind or status);
//  and inner's TLP must be one that may travel.
static certbus_err_t
s_check_link (const certbus_header_t *current, const certbus_header_t *inner)
{
    size_t forwards = 0;
    bool names_inner = false;
    for (size_t i = 0; i < current->ref_count; i++)
        if (strcmp (current->refs [i].relation, "forwards") == 0) {
            forwards++;
            names_inner = memcmp (current->refs [i].id, inner->id, CERTBUS_ID_SIZE) == 0;
        }
    if (forwards != 1 || !names_inner)
        return certbus_fail (CERTBUS_E_FIELD,
                             "a forward must carry exactly one 'forwards' reference, to the "
                             "message it carries (this one has %zu%s)",
                             forwards, forwards == 1 ? ", to another message" : "");
    if (strcmp (current->origin, inner->origin) == 0)
        return certbus_fail (CERTBUS_E_POLICY, "%s forwarded its own message", current->origin);
    if (!s_may_travel (inner->tlp))
        return certbus_fail (CERTBUS_E_TLP, "a message of TLP %s was forwarded; it may not be",
                             inner->tlp);
    return CERTBUS_OK;
}

certbus_err_t
certbus_forward_wrap (certbus_envelope_t *original, certbus_identity_t *identity,
                      const char *org_id, const uint8_t *note, size_t note_size,
                      const char *note_type, uint8_t **payload_p, size_t *size_p)
{
    const certbus_header_t *header = certbus_envelope_header (original);
    if (!s_may_travel (header->tlp))
        return certbus_fail (CERTBUS_E_TLP,
                             "TLP %s may not be forwarded: it never travels further than the "
                             "recipients its origin chose",
                             header->tlp);
    uint8_t *key = certbus_secret_alloc (32);
    certbus_err_t rc = CERTBUS_OK;
    if (header->encrypted)
        rc = certbus_envelope_content_key (original, identity, org_id, key);
    if (rc == CERTBUS_OK) {
        Certbus__Forward forward = CERTBUS__FORWARD__INIT;
        forward.version = CERTBUS_WIRE_MAJOR;
        forward.header.data = (uint8_t *) certbus_envelope_header_bytes (original,
                                                                         &forward.header.len);
        forward.signature.data = (uint8_t *) certbus_envelope_signature (original,
                                                                         &forward.signature.len);
        forward.ciphertext.data = (uint8_t *) certbus_envelope_ciphertext (original,
                                                                           &forward.ciphertext.len);
        if (header->encrypted) {
            forward.content_key = certbus_codec_bytes (key, 32);
        }
        forward.note = certbus_codec_bytes (note, note ? note_size : 0);
        forward.note_type = (char *) (note_type ? note_type : "");
        *payload_p = certbus_codec_encode (&forward, size_p);
    }
    certbus_secret_free (key, 32);
    return rc;
}

void
certbus_forwarded_destroy (certbus_forwarded_t **self_p)
{
    assert (self_p);
    certbus_forwarded_t *self = *self_p;
    if (!self)
        return;
    certbus_envelope_destroy (&self->origin);
    free (self->forwarders);
    free (self->payload);
    free (self->note);
    free (self);
    *self_p = NULL;
}

//  A walk down a forward chain, from the outer envelope to the original
typedef struct {
    certbus_directory_t *dir;                    //  judges every inner envelope
    char *chain [CERTBUS_FORWARD_MAX_DEPTH + 1]; //  forwarders' org ids, outside in
    size_t depth;                                //  entries in chain
    certbus_envelope_t *current; //  the envelope whose payload is data; borrowed at depth 0
    certbus_envelope_t *owned;   //  the inner envelope we made, or NULL
    uint8_t *current_payload;    //  data when we decrypted it, or NULL
    const uint8_t *data;         //  the payload of current
    size_t data_size;            //  bytes in data
} s_walk_t;

//  Rebuilds the Envelope that forward carries (without its recipient
//  list) and decodes it into *inner_p
static certbus_err_t
s_forward_inner (const Certbus__Forward *forward, certbus_envelope_t **inner_p)
{
    Certbus__Envelope wire = CERTBUS__ENVELOPE__INIT;
    wire.version = CERTBUS_WIRE_MAJOR;
    wire.header = forward->header;
    wire.signature = forward->signature;
    wire.ciphertext = forward->ciphertext;
    size_t inner_size;
    uint8_t *inner_bytes = certbus_codec_encode (&wire, &inner_size);
    certbus_err_t rc = certbus_envelope_decode (inner_bytes, inner_size, inner_p);
    free (inner_bytes);
    return rc;
}

//  Checks inner as the message walk->current forwards: the link, the
//  origin's signature when it was sent, and a TLP that did not change
static certbus_err_t
s_check_inner (s_walk_t *walk, certbus_envelope_t *inner)
{
    const certbus_header_t *current_header = certbus_envelope_header (walk->current);
    const certbus_header_t *inner_header = certbus_envelope_header (inner);
    certbus_err_t rc = s_check_link (current_header, inner_header);
    if (rc == CERTBUS_OK)
        rc = certbus_envelope_verify (inner, walk->dir, inner_header->created / 1000, NULL);
    if (rc == CERTBUS_OK && strcmp (inner_header->tlp, current_header->tlp) != 0)
        rc = certbus_fail (CERTBUS_E_TLP, "forwarded as TLP %s but the original is TLP %s",
                           current_header->tlp, inner_header->tlp);
    return rc;
}

//  Opens one link: decodes the Forward in walk->data, checks and decrypts
//  the envelope it carries, and steps the walk into it. The outermost
//  forward's note goes to out.
static certbus_err_t
s_walk_step (s_walk_t *walk, certbus_forwarded_t *out)
{
    Certbus__Forward *forward = NULL;
    certbus_err_t rc = certbus_codec_decode (&certbus__forward__descriptor, walk->data,
                                             walk->data_size, CERTBUS_MAX_PAYLOAD, 16,
                                             (void **) &forward);
    if (rc)
        return rc;
    certbus_envelope_t *inner = NULL;
    rc = s_forward_inner (forward, &inner);
    if (rc == CERTBUS_OK)
        rc = s_check_inner (walk, inner);
    uint8_t *inner_payload = NULL;
    size_t inner_payload_size = 0;
    if (rc == CERTBUS_OK)
        rc = certbus_envelope_decrypt_with_key (inner, forward->content_key.data,
                                                forward->content_key.len, &inner_payload,
                                                &inner_payload_size);
    if (rc == CERTBUS_OK && walk->depth == 0 && forward->note.len) {
        out->note = certbus_malloc (forward->note.len);
        memcpy (out->note, forward->note.data, forward->note.len);
        out->note_size = forward->note.len;
    }
    certbus_codec_free (forward);
    if (rc) {
        certbus_envelope_destroy (&inner);
        return rc;
    }
    walk->chain [walk->depth++] = strdup (certbus_envelope_header (walk->current)->origin);
    //  current is the previous inner envelope (or outer): done with it
    certbus_envelope_destroy (&walk->owned);
    walk->owned = inner;
    walk->current = inner;
    free (walk->current_payload);
    walk->current_payload = inner_payload;
    walk->data = inner_payload;
    walk->data_size = inner_payload_size;
    return CERTBUS_OK;
}

//  Nor through others: the origin forwarding a forward of its own message
static certbus_err_t
s_check_no_self_forward (const s_walk_t *walk)
{
    const char *origin = certbus_envelope_header (walk->owned)->origin;
    for (size_t i = 0; i < walk->depth; i++)
        if (strcmp (walk->chain [i], origin) == 0)
            return certbus_fail (CERTBUS_E_POLICY,
                                 "%s forwarded its own message through a forward chain", origin);
    return CERTBUS_OK;
}

certbus_err_t
certbus_forward_open (certbus_directory_t *dir, certbus_envelope_t *outer, const uint8_t *payload,
                      size_t size, certbus_forwarded_t **out_p)
{
    *out_p = NULL;
    certbus_forwarded_t *self = certbus_calloc (1, sizeof *self);
    s_walk_t walk = {.dir = dir, .current = outer, .data = payload, .data_size = size};
    certbus_err_t rc = CERTBUS_OK;
    while (strcmp (certbus_envelope_header (walk.current)->content_type, CERTBUS_FORWARD_TYPE)
           == 0) {
        if (walk.depth == CERTBUS_FORWARD_MAX_DEPTH) {
            rc = certbus_fail (CERTBUS_E_TOO_LARGE, "forward chain deeper than %d",
                               CERTBUS_FORWARD_MAX_DEPTH);
            goto cleanup;
        }
        rc = s_walk_step (&walk, self);
        if (rc)
            goto cleanup;
    }
    if (walk.depth == 0) {
        rc = certbus_fail (CERTBUS_E_FIELD, "not a forwarded message");
        goto cleanup;
    }
    rc = s_check_no_self_forward (&walk);
    if (rc)
        goto cleanup;
    //  Forwarders were found from the outside in; the list reads inside out
    certbus_sb_t list = {0};
    for (size_t i = walk.depth; i-- > 0;)
        certbus_sb_printf (&list, "%s%s", list.len ? "," : "", walk.chain [i]);
    self->forwarders = list.data;
    self->origin = walk.owned;
    walk.owned = NULL;
    self->payload = walk.current_payload;
    self->size = walk.data_size;
    walk.current_payload = NULL;
    *out_p = self;
    self = NULL;
cleanup:
    for (size_t i = 0; i < walk.depth; i++)
        free (walk.chain [i]);
    certbus_envelope_destroy (&walk.owned);
    free (walk.current_payload);
    certbus_forwarded_destroy (&self);
    return rc;
}
