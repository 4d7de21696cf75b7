/*  cases.c - incident cases: who takes part, and the status and TLP
    rules of the messages that update them
    SPDX-License-Identifier: MPL-2.0

    A case is opened by an incident report (its id is the report's) and
    updated by messages that reference it (`updates`). Who takes part is
    the broker's own record: the senders and the recipients it delivered
    to, never an audience string.
*/
#include "cases.h"
#include <stdlib.h>
#include <string.h>

int
broker_tlp_rank (const char *tlp)
{
    static const char *order [] = {"clear", "green", "amber", "amber+strict", "red"};
    for (int i = 0; i < 5; i++)
        if (strcmp (tlp, order [i]) == 0)
            return i;
    return 5; //  decode admits no other
}

const uint8_t *
broker_reference (const certbus_header_t *header, const char *relation, size_t *count_p)
{
    const uint8_t *id = NULL;
    size_t count = 0;
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, relation) == 0) {
            id = header->refs [i].id;
            count++;
        }
    if (count_p)
        *count_p = count;
    return id;
}

//  A message that references a case, of whatever kind, comes from one of
//  its participants and never lowers its TLP; a report opens a new case
int
broker_cases_allowed (broker_ctx_t *ctx, const certbus_cert_t *sender,
                      const certbus_header_t *header, broker_case_t *kase, bool *is_case_p,
                      broker_verdict_t *verdict)
{
    const uint8_t *updates = broker_reference (header, "updates", NULL);
    *is_case_p = updates || strcmp (header->kind, "incident") == 0;
    if (!*is_case_p)
        return 0;
    const uint8_t *case_id = updates ? updates : header->id;
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (case_id, text);
    int known = broker_store_case_get (ctx->store, case_id, kase);
    if (known < 0)
        return broker_refuse (verdict, CERTBUS_E_IO, NULL, "%s", certbus_reason ());
    if (!updates) {
        if (known)
            //  Another member's message id: it cannot take that case over
            return broker_refuse (verdict, CERTBUS_E_FIELD, BROKER_RULE_CASE,
                                  "a report must open a new case: seal it again with a new id");
        return 0;
    }
    if (!known || broker_store_case_member (ctx->store, case_id, sender->org_id, false) != 1)
        //  One answer for both, so that case ids cannot be probed
        return broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_CASE,
                              "'%s' is not a participant of case %s", sender->org_id, text);
    if (broker_tlp_rank (header->tlp) < broker_tlp_rank (kase->tlp))
        return broker_refuse (verdict, CERTBUS_E_TLP, BROKER_RULE_CASE,
                              "case %s is TLP %s: an update may not be TLP %s", text, kase->tlp,
                              header->tlp);
    return 0;
}

int
broker_cases_store (broker_ctx_t *ctx, const certbus_header_t *header, const char *org,
                    char **queued, size_t queued_count, broker_case_t *kase, int64_t now)
{
    //  The case, from the signed header and the broker's own record: who
    //  takes part (the senders and the recipients it delivered to, never
    //  an audience string), its status, and the report's times
    static const char *acknowledging [] = {"acknowledged", "investigating", "contained", "resolved",
                                           "closed"};
    bool forwarded = broker_reference (header, "forwards", NULL) != NULL;
    if (!broker_reference (header, "updates", NULL)) {
        memset (kase, 0, sizeof *kase);
        memcpy (kase->case_id, header->id, CERTBUS_ID_SIZE);
        snprintf (kase->origin, sizeof kase->origin, "%s", org);
        snprintf (kase->severity, sizeof kase->severity, "%s", header->severity);
        snprintf (kase->tlp, sizeof kase->tlp, "%s", header->tlp);
        snprintf (kase->status, sizeof kase->status, "%s",
                  *header->case_status ? header->case_status : "reported");
        kase->opened_at = kase->updated_at = now;
    }
    else if (!forwarded && *header->case_status) {
        snprintf (kase->status, sizeof kase->status, "%s", header->case_status);
        kase->updated_at = now;
        for (size_t i = 0; i < 5 && !kase->first_ack_at; i++)
            if (strcmp (header->case_status, acknowledging [i]) == 0
                && strcmp (org, kase->origin) != 0)
                kase->first_ack_at = now;
        if (!kase->resolved_at
            && (strcmp (header->case_status, "resolved") == 0
                || strcmp (header->case_status, "closed") == 0))
            kase->resolved_at = now;
    }
    int failed = broker_store_case_put (ctx->store, kase)
                 || broker_store_case_member (ctx->store, kase->case_id, org, true);
    for (size_t i = 0; !failed && i < queued_count; i++)
        failed = broker_store_case_member (ctx->store, kase->case_id, queued [i], true);
    return failed ? -1 : 0;
}

//  The participants of the case a stored envelope belongs to, for its
//  delivery: NULL when it belongs to none.
char **
broker_cases_participants (broker_ctx_t *ctx, const uint8_t *envelope, size_t size, size_t *count_p)
{
    *count_p = 0;
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (envelope, size, &env) != CERTBUS_OK)
        return NULL;
    const certbus_header_t *header = certbus_envelope_header (env);
    const uint8_t *case_id = NULL;
    for (size_t i = 0; i < header->ref_count; i++)
        if (strcmp (header->refs [i].relation, "updates") == 0)
            case_id = header->refs [i].id;
    if (!case_id && strcmp (header->kind, "incident") == 0)
        case_id = header->id;
    char **orgs = NULL;
    if (case_id && broker_store_case_members (ctx->store, case_id, &orgs, count_p) != 0)
        orgs = NULL;
    certbus_envelope_destroy (&env);
    return orgs;
}
