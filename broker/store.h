/*  store.h - the broker's storage: every SQL statement the broker runs
    SPDX-License-Identifier: MPL-2.0

    SQLite in WAL mode with synchronous=FULL. Routing and policy code never
    see SQL, so another backend can replace this one file.
*/
#ifndef BROKER_STORE_H_INCLUDED
#define BROKER_STORE_H_INCLUDED

#include "certbus.h"

typedef struct broker_store_t broker_store_t;

//  One queued delivery, as broker_store_queue_fetch returns it.
typedef struct {
    uint64_t qseq;                   //  per-recipient delivery sequence
    uint64_t msg_seq;                //  the message's broker sequence
    int64_t accepted_at;             //  unix milliseconds
    const uint8_t *envelope;         //  base envelope, no recipients
    size_t envelope_size;
    const uint8_t *wrapped;          //  this recipient's RecipientKey field
    size_t wrapped_size;
} broker_delivery_t;

typedef int (broker_delivery_fn) (void *arg, const broker_delivery_t *delivery);

//  Opens (and with create, makes) the database at path. Returns NULL with
//  the reason set; a database that fails its integrity check is refused.
broker_store_t *
    broker_store_open (const char *path, bool create);

void
    broker_store_destroy (broker_store_t **self_p);

int
    broker_store_begin (broker_store_t *self) CERTBUS_WARN_UNUSED;
int
    broker_store_commit (broker_store_t *self) CERTBUS_WARN_UNUSED;
void
    broker_store_rollback (broker_store_t *self);

//  Changes whenever another connection commits (PRAGMA data_version).
int64_t
    broker_store_data_version (broker_store_t *self);

//  Key-value settings.
int
    broker_store_meta_set (broker_store_t *self, const char *key, const char *value);
char *
    broker_store_meta_get (broker_store_t *self, const char *key);

//  Council: certificates, revocations and the signed directory.
uint64_t
    broker_store_next_serial (broker_store_t *self);
int
    broker_store_cert_insert (broker_store_t *self, const certbus_cert_t *cert, int64_t now);
//  Returns the serial of org's current unrevoked certificate, or 0.
uint64_t
    broker_store_cert_active (broker_store_t *self, const char *org_id);
int
    broker_store_cert_revoke (broker_store_t *self, uint64_t serial, const uint8_t *revocation,
                              size_t size, int64_t at, const char *reason);
//  Signs and stores a new directory of every unrevoked certificate and
//  every revocation, one version above the last. Returns 0 or -1.
int
    broker_store_directory_publish (broker_store_t *self, certbus_identity_t *council,
                                    uint64_t *serial_p) CERTBUS_WARN_UNUSED;
//  The newest directory, as a new buffer. Returns 0, or -1 when none.
int
    broker_store_directory_latest (broker_store_t *self, uint8_t **bytes_p, size_t *size_p)
        CERTBUS_WARN_UNUSED;

//  Messages. lookup returns 1 and fills seq/accepted_at when id is known.
int
    broker_store_message_lookup (broker_store_t *self, const uint8_t *id, uint64_t *seq_p,
                                 int64_t *accepted_at_p);
int
    broker_store_message_insert (broker_store_t *self, const certbus_header_t *header,
                                 const uint8_t *base, size_t base_size, int64_t accepted_at,
                                 int64_t expires_at, uint32_t recipients, uint64_t *seq_p)
        CERTBUS_WARN_UNUSED;
int
    broker_store_queue_insert (broker_store_t *self, const char *recipient, uint64_t msg_seq,
                               int priority, const uint8_t *wrapped, size_t wrapped_size)
        CERTBUS_WARN_UNUSED;
//  Calls fn for up to limit queued deliveries of recipient, highest
//  priority first, then in sequence order. Returns rows seen, or -1.
int
    broker_store_queue_fetch (broker_store_t *self, const char *recipient, int limit,
                              broker_delivery_fn *fn, void *arg);
//  Removes a delivered row. Returns 1 when it was there, 0 when not.
int
    broker_store_queue_ack (broker_store_t *self, const char *recipient, uint64_t qseq,
                            uint64_t *msg_seq_p);
//  Rows still queued for recipient, and the oldest one's accept time.
int64_t
    broker_store_queue_depth (broker_store_t *self, const char *recipient,
                              int64_t *oldest_p);
//  Deletes messages past their expiry with their queue rows. Returns the
//  number of messages removed, or -1.
int
    broker_store_expire (broker_store_t *self, int64_t now_ms);

//  Audit: appends a record (its index is set here) in the caller's
//  transaction. Returns 0 or -1.
int
    broker_store_audit_append (broker_store_t *self, Certbus__AuditRecord *record)
        CERTBUS_WARN_UNUSED;
int64_t
    broker_store_audit_size (broker_store_t *self);

//  Counts for status: messages stored, queue rows, members.
int64_t
    broker_store_count (broker_store_t *self, const char *table);

//  The raw SQLite handle, for tools that read (audit verify, status).
void *
    broker_store_db (broker_store_t *self);

#endif
