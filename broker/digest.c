/*  digest.c - the digests that seal the broker's stored rows
    SPDX-License-Identifier: MPL-2.0
*/
#include "digest.h"
#include <sodium.h>
#include <string.h>

static void
s_hash_text (crypto_generichash_state *state, const char *text)
{
    text = text ? text : "";
    crypto_generichash_update (state, (const uint8_t *) text, strlen (text) + 1);
}

static void
s_hash_int (crypto_generichash_state *state, int64_t value)
{
    uint8_t bytes [8];
    for (int i = 0; i < 8; i++)
        bytes [i] = (uint8_t) ((uint64_t) value >> (56 - 8 * i));
    crypto_generichash_update (state, bytes, sizeof bytes);
}

//  The digest of a receipts or case_members row: all of it, so that audit
//  verify sees an altered one
static void
s_mark_digest (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *message_id, size_t id_size,
               const char *publisher, const char *org)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, message_id, id_size);
    s_hash_text (&state, publisher);
    s_hash_text (&state, org);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

void
broker_digest_message (uint8_t out [CERTBUS_HASH_SIZE], const broker_message_row_t *row)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, row->id, CERTBUS_ID_SIZE);
    s_hash_text (&state, row->origin);
    s_hash_text (&state, row->kind);
    s_hash_text (&state, row->tlp);
    s_hash_text (&state, row->severity);
    s_hash_text (&state, row->audience);
    s_hash_int (&state, row->recipients);
    s_hash_int (&state, row->accepted_at);
    s_hash_int (&state, row->expires_at);
    s_hash_int (&state, (int64_t) row->envelope_size);
    if (row->envelope_size)
        crypto_generichash_update (&state, row->envelope, row->envelope_size);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

void
broker_digest_queue (uint8_t out [CERTBUS_HASH_SIZE], const char *recipient, uint64_t msg_seq,
                     int priority, const uint8_t *wrapped, size_t wrapped_size)
{
    crypto_generichash_state state;
    uint8_t fixed [12];
    for (int i = 0; i < 8; i++)
        fixed [i] = (uint8_t) (msg_seq >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        fixed [8 + i] = (uint8_t) ((uint32_t) priority >> (24 - 8 * i));
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, (const uint8_t *) recipient, strlen (recipient) + 1);
    crypto_generichash_update (&state, fixed, sizeof fixed);
    if (wrapped_size)
        crypto_generichash_update (&state, wrapped, wrapped_size);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

void
broker_digest_case (uint8_t out [CERTBUS_HASH_SIZE], const broker_case_row_t *row)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
    crypto_generichash_update (&state, row->case_id, row->case_id_size);
    s_hash_text (&state, row->origin);
    s_hash_text (&state, row->severity);
    s_hash_int (&state, row->opened_at);
    s_hash_text (&state, row->status);
    s_hash_int (&state, row->updated_at);
    s_hash_int (&state, row->first_ack_at);
    s_hash_int (&state, row->resolved_at);
    s_hash_text (&state, row->tlp);
    crypto_generichash_final (&state, out, CERTBUS_HASH_SIZE);
}

void
broker_digest_case_member (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *case_id, size_t id_size,
                           const char *org)
{
    s_mark_digest (out, case_id, id_size, org, "");
}

void
broker_digest_receipt (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *message_id, size_t id_size,
                       const char *publisher, const char *org)
{
    s_mark_digest (out, message_id, id_size, publisher, org);
}

bool
broker_digest_equal (const uint8_t want [CERTBUS_HASH_SIZE], const void *digest, size_t digest_size)
{
    return digest_size == CERTBUS_HASH_SIZE && digest
           && memcmp (want, digest, CERTBUS_HASH_SIZE) == 0;
}
