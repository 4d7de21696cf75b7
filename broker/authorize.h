/*  authorize.h - the authorize stage of the publish path: the Council
    policy, receipts, forwards and case rules, each deciding alone
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_AUTHORIZE_H_INCLUDED
#define BROKER_AUTHORIZE_H_INCLUDED

#include "context.h"

//  Receipts by their own rule, everything else by the Council policy;
//  then the forward and case rules. Returns 0 with verdict->rule set to
//  the rule that allowed it, or -1 with verdict set. Reads the store in
//  the batch's transaction; *kase and *is_case_p are for the store stage.
int
    broker_authorize (broker_ctx_t *ctx, const certbus_cert_t *sender, certbus_envelope_t *env,
                      size_t size, broker_case_t *kase, bool *is_case_p, broker_verdict_t *verdict);

#endif
