/*  digest.h - the digests that seal the broker's stored rows
    SPDX-License-Identifier: MPL-2.0

    Each stored row carries a BLAKE2b-256 digest of its columns, so that a
    row altered on disk is caught before it is served (and by audit
    verify), not by a recipient. Pure functions: any store computes the
    same bytes. The layout is part of BROKER_SCHEMA (store.h): changing a
    byte here means a new schema number.
*/
#ifndef BROKER_DIGEST_H_INCLUDED
#define BROKER_DIGEST_H_INCLUDED

#include "certbus.h"

//  The columns of a message row a digest covers: everything but its
//  sequence (the queue rows' digests cover that) and the digest itself.
//  Borrowed pointers; a NULL string is digested as "".
typedef struct {
    const uint8_t *id; //  CERTBUS_ID_SIZE bytes
    const char *origin;
    const char *kind;
    const char *tlp;
    const char *severity;
    const char *audience;
    int64_t recipients;
    int64_t accepted_at;     //  unix ms
    int64_t expires_at;      //  unix ms
    const uint8_t *envelope; //  the stored base envelope
    size_t envelope_size;
} broker_message_row_t;

//  The columns of a cases row (borrowed; NULL strings digest as "").
typedef struct {
    const uint8_t *case_id;
    size_t case_id_size; //  CERTBUS_ID_SIZE in a sound row
    const char *origin;
    const char *severity;
    int64_t opened_at;
    const char *status;
    int64_t updated_at;
    int64_t first_ack_at; //  0 when none
    int64_t resolved_at;  //  0 when none
    const char *tlp;
} broker_case_row_t;

//  Digest of a message row: the stored envelope and every column the
//  broker selects, counts or expires by.
void
    broker_digest_message (uint8_t out [CERTBUS_HASH_SIZE], const broker_message_row_t *row);

//  Digest of a queue row: who, which message, how urgent, which key.
void
    broker_digest_queue (uint8_t out [CERTBUS_HASH_SIZE], const char *recipient, uint64_t msg_seq,
                         int priority, const uint8_t *wrapped, size_t wrapped_size);

//  Digest of a cases row: every column.
void
    broker_digest_case (uint8_t out [CERTBUS_HASH_SIZE], const broker_case_row_t *row);

//  Digest of a case_members row (case, participant).
void
    broker_digest_case_member (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *case_id,
                               size_t id_size, const char *org);

//  Digest of a receipts row (message, its publisher, the org that sent
//  the receipt).
void
    broker_digest_receipt (uint8_t out [CERTBUS_HASH_SIZE], const uint8_t *message_id,
                           size_t id_size, const char *publisher, const char *org);

//  True when digest (digest_size bytes, as read from a row) equals want.
bool
    broker_digest_equal (const uint8_t want [CERTBUS_HASH_SIZE], const void *digest,
                         size_t digest_size);

#endif
