/*  auditrec.c - the broker's audit records, the leaves of its Merkle log
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <string.h>

void
certbus_audit_record_fill (Certbus__AuditRecord *record, const certbus_audit_entry_t *entry)
{
    assert (record);
    assert (entry);
    certbus__audit_record__init (record);
    record->time = entry->time;
    record->event = (char *) entry->event;
    record->org = (char *) entry->org;
    const certbus_header_t *header = entry->header;
    if (header) {
        record->message_id = certbus_codec_bytes (header->id, CERTBUS_ID_SIZE);
        record->kind = header->kind;
        record->tlp = header->tlp;
        record->audience = header->audience;
        record->ciphertext_hash = certbus_codec_bytes (header->ciphertext_hash, CERTBUS_HASH_SIZE);
        record->severity = header->severity;
        record->case_status = header->case_status;
        for (size_t i = 0; i < header->ref_count; i++)
            if (strcmp (header->refs [i].relation, "updates") == 0)
                record->case_id = certbus_codec_bytes (header->refs [i].id, CERTBUS_ID_SIZE);
    }
    record->decision = (char *) (entry->decision ? entry->decision : "");
    record->rule = (char *) (entry->rule ? entry->rule : "");
    record->reason = (char *) (entry->reason ? entry->reason : "");
    record->sequence = entry->sequence;
    record->recipients = entry->recipients;
    record->n_recipients = entry->recipient_count;
}
