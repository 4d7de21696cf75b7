/*  cases.h - incident cases: who takes part, and the status and TLP
    rules of the messages that update them
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_CASES_H_INCLUDED
#define BROKER_CASES_H_INCLUDED

#include "context.h"

#define BROKER_RULE_RECEIPT "receipt-to-publisher"
#define BROKER_RULE_FORWARD "forward"
#define BROKER_RULE_CASE "case-participants"

//  The rank of a TLP, from clear (0) to red (4).
int
    broker_tlp_rank (const char *tlp);

//  The id of header's last reference of this relation, or NULL;
//  *count_p (when given) gets how many it has.
const uint8_t *
    broker_reference (const certbus_header_t *header, const char *relation, size_t *count_p);

//  The case rule: a message that references a case, of whatever kind,
//  comes from one of its participants and never lowers its TLP; a report
//  opens a new case. Sets *is_case_p and, for an update, *kase from the
//  store. Returns 0, or -1 with verdict set.
int
    broker_cases_allowed (broker_ctx_t *ctx, const certbus_cert_t *sender,
                          const certbus_header_t *header, broker_case_t *kase, bool *is_case_p,
                          broker_verdict_t *verdict);

//  Stores the case of an accepted message and its participants (the
//  sender and the recipients it was queued for), in the batch's
//  transaction. Returns 0 or -1 (store failed).
int
    broker_cases_store (broker_ctx_t *ctx, const certbus_header_t *header, const char *org,
                        char **queued, size_t queued_count, broker_case_t *kase, int64_t now);

//  The participants of the case a stored envelope belongs to, for its
//  delivery (caller frees with certbus_strv_free); NULL when none.
char **
    broker_cases_participants (broker_ctx_t *ctx, const uint8_t *envelope, size_t size,
                               size_t *count_p);

#endif
