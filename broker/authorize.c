/*  authorize.c - the authorize stage of the publish path: the Council
    policy, receipts, forwards and case rules, each deciding alone
    SPDX-License-Identifier: MPL-2.0
*/
#include "authorize.h"
#include "admission.h"
#include "auditlog.h"
#include "cases.h"
#include <stdlib.h>
#include <string.h>

//  this TLP, to this audience. Returns 0 to allow; the rule that decided is
//  written to *rule_p.
static int
s_policy_allows (broker_ctx_t *ctx, const certbus_cert_t *sender, const certbus_header_t *header,
                 certbus_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    certbus_audience_t *audience = certbus_audience_parse (header->audience);
    if (!audience) {
        snprintf (decision->rule, sizeof decision->rule, "%s", CERTBUS_POLICY_DEFAULT_DENY);
        snprintf (decision->reason, sizeof decision->reason, "%s", certbus_reason ());
        return -1;
    }
    if (!ctx->admission->policy) {
        snprintf (decision->rule, sizeof decision->rule, "%s", CERTBUS_POLICY_DEFAULT_DENY);
        snprintf (decision->reason, sizeof decision->reason,
                  "the broker has no policy loaded: everything is refused");
    }
    else
        certbus_policy_decide (ctx->admission->policy, sender, header->kind, header->tlp,
                               header->case_status, audience, ctx->admission->directory, decision);
    certbus_audience_destroy (&audience);
    return decision->allowed ? 0 : -1;
}

static bool
s_tlp_travels_no_further (const char *tlp)
{
    return strcmp (tlp, "red") == 0 || strcmp (tlp, "amber+strict") == 0;
}

//  A receipt goes back to the publisher of a message the sender really
//  received, and nowhere else; it is small
static int
s_receipt_allowed (broker_ctx_t *ctx, const certbus_cert_t *sender, const certbus_header_t *header,
                   certbus_envelope_t *env, size_t size, broker_verdict_t *verdict)
{
    size_t count;
    const uint8_t *target = broker_reference (header, "receipt-for", &count);
    if (count != 1 || header->ref_count != 1)
        return broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_RECEIPT,
                              "a receipt must reference exactly one message (receipt-for)");
    if ((int64_t) size > ctx->config->receipt_max)
        return broker_refuse (verdict, CERTBUS_E_TOO_LARGE, BROKER_RULE_RECEIPT,
                              "a receipt may be at most %lld bytes; this one is %zu",
                              (long long) ctx->config->receipt_max, size);
    Certbus__AuditRecord *record = broker_auditlog_delivered_to (ctx, target, sender->org_id, NULL);
    if (!record)
        return broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_RECEIPT,
                              "'%s' was not a recipient of the message it acknowledges",
                              sender->org_id);
    char audience [CERTBUS_MAX_NAME + 8];
    snprintf (audience, sizeof audience, "org:%s", record->org);
    int rc = 0;
    if (strcmp (header->audience, audience) != 0 || certbus_envelope_recipients (env) != 1
        || strcmp (certbus_envelope_recipient (env, 0), record->org) != 0)
        rc = broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_RECEIPT,
                            "a receipt goes only to the original publisher (%s)", audience);
    certbus_codec_free (record);
    return rc;
}

//  A forward is anything of the forward content type or with a forwards
//  reference: exactly one reference, to a message the broker delivered to
//  the forwarder, never the forwarder's own, never TLP red or
//  amber+strict, at the TLP of the original
static int
s_forward_allowed (broker_ctx_t *ctx, const certbus_cert_t *sender, const certbus_header_t *header,
                   certbus_envelope_t *env, broker_verdict_t *verdict)
{
    size_t count;
    const uint8_t *target = broker_reference (header, "forwards", &count);
    bool typed = strcmp (header->content_type, CERTBUS_FORWARD_TYPE) == 0;
    if (!typed && count == 0)
        return 0;
    if (count != 1 || !typed)
        return broker_refuse (verdict, CERTBUS_E_FIELD, BROKER_RULE_FORWARD,
                              "a forward is of type %s and carries exactly one forwards reference",
                              CERTBUS_FORWARD_TYPE);
    if (s_tlp_travels_no_further (header->tlp))
        return broker_refuse (verdict, CERTBUS_E_TLP, "tlp-no-further",
                              "TLP %s may not be forwarded: the originator must send a new message",
                              header->tlp);
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (target, text);
    bool own = false;
    Certbus__AuditRecord *record = broker_auditlog_delivered_to (ctx, target, sender->org_id, &own);
    if (!record)
        return own ? broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_FORWARD,
                                    "a member may not forward its own message %s: publish it anew",
                                    text)
                   : broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_FORWARD,
                                    "message %s was never delivered to '%s'", text, sender->org_id);
    int rc = 0;
    if (strcmp (record->org, sender->org_id) == 0)
        rc = broker_refuse (verdict, CERTBUS_E_POLICY, BROKER_RULE_FORWARD,
                            "a member may not forward its own message %s: publish it anew", text);
    else if (s_tlp_travels_no_further (record->tlp))
        rc = broker_refuse (verdict, CERTBUS_E_TLP, "tlp-no-further",
                            "message %s is TLP %s and may not be forwarded", text, record->tlp);
    else if (strcmp (record->tlp, header->tlp) != 0)
        rc = broker_refuse (verdict, CERTBUS_E_TLP, BROKER_RULE_FORWARD,
                            "forwarded as TLP %s but message %s is TLP %s", header->tlp, text,
                            record->tlp);
    certbus_codec_free (record);
    if (rc || header->encrypted)
        return rc;
    //  A clear forward can be read here: its inner message must be the one
    //  it references
    size_t size;
    const uint8_t *payload = certbus_envelope_ciphertext (env, &size);
    Certbus__Forward *forward = NULL;
    Certbus__EnvelopeHeader *inner = NULL;
    if (certbus_codec_decode (&certbus__forward__descriptor, payload, size, CERTBUS_MAX_PAYLOAD, 16,
                              (void **) &forward)
        || certbus_codec_decode (&certbus__envelope_header__descriptor, forward->header.data,
                                 forward->header.len, CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED,
                                 (void **) &inner)
        || inner->id.len != CERTBUS_ID_SIZE || memcmp (inner->id.data, target, CERTBUS_ID_SIZE))
        rc = broker_refuse (
            verdict, CERTBUS_E_FIELD, BROKER_RULE_FORWARD,
            "the forwarded message is not the one the forwards reference names (%s)", text);
    certbus_codec_free (inner);
    certbus_codec_free (forward);
    return rc;
}

//  Stage 3, authorize (the rules): receipts by their own rule, everything else by the
//  Council policy; then the forward and case rules. Each decides alone.
int
broker_authorize (broker_ctx_t *ctx, const certbus_cert_t *sender, certbus_envelope_t *env,
                  size_t size, broker_case_t *kase, bool *is_case_p, broker_verdict_t *verdict)
{
    const certbus_header_t *header = certbus_envelope_header (env);
    *is_case_p = false;
    if (strcmp (header->kind, "receipt") == 0) {
        if (s_receipt_allowed (ctx, sender, header, env, size, verdict))
            return -1;
        snprintf (verdict->rule, sizeof verdict->rule, "%s", BROKER_RULE_RECEIPT);
    }
    else {
        certbus_decision_t decision;
        if (s_policy_allows (ctx, sender, header, &decision) != 0)
            return broker_refuse (verdict, CERTBUS_E_POLICY, decision.rule, "%s", decision.reason);
        snprintf (verdict->rule, sizeof verdict->rule, "%s", decision.rule);
    }
    char rule [sizeof verdict->rule];
    snprintf (rule, sizeof rule, "%s", verdict->rule);
    if (s_forward_allowed (ctx, sender, header, env, verdict)
        || broker_cases_allowed (ctx, sender, header, kase, is_case_p, verdict))
        return -1;
    snprintf (verdict->rule, sizeof verdict->rule, "%s", rule);
    return 0;
}
