/*  auditrec.h - the broker's audit records, the leaves of its Merkle log
    SPDX-License-Identifier: MPL-2.0

    An AuditRecord (proto/certbus.proto) says what the broker did and to
    which message. The broker fills one from plain values here; the record's
    index is set where it is appended (broker/tree.c), and its canonical
    bytes are the leaf that proofs cover (PROTOCOL.md, "The audit log").
*/
#ifndef CERTBUS_AUDITREC_H_INCLUDED
#define CERTBUS_AUDITREC_H_INCLUDED

#include "certbus/envelope.h"

//  What one audit record says. Strings are borrowed; NULL decision, rule
//  and reason are recorded empty.
typedef struct {
    int64_t time;                   //  unix milliseconds
    const char *event;              //  publish, receipt, reject, deliver, ...
    const char *org;                //  who acted
    const certbus_header_t *header; //  the message it is about, or NULL
    const char *decision;           //  accept or reject
    const char *rule;               //  the policy rule that decided
    const char *reason;
    uint64_t sequence; //  the message's broker sequence, or 0
    char **recipients; //  whom it was queued for
    size_t recipient_count;
} certbus_audit_entry_t;

//  Fills record (which borrows entry's strings and the header's bytes) from
//  entry: with a header, its id, kind, TLP, audience, ciphertext hash,
//  severity, case status and the case it updates.
void
    certbus_audit_record_fill (Certbus__AuditRecord *record, const certbus_audit_entry_t *entry);

#endif
